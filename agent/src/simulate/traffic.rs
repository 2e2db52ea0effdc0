//! Simulated network interface: monotonic counters driven by a varying rate.

use common::model::Sample;

use super::counter::Counter;
use super::effects::Effects;
use super::names;
use super::profile::Profile;
use super::rng::{Drift, Rng};
use crate::collect::network;

const DEVICE: &str = "eth0";
const DIRECTIONS: [&str; 2] = ["receive", "transmit"];
/// An interface error shows up about once per this many seconds per direction.
const SECS_PER_ERROR: f64 = 6.0 * 3600.0;
/// A packet is dropped now and then even on a quiet link.
const SECS_PER_DROP: f64 = 3600.0;
/// Share of packets dropped when the link is pushed to its line rate.
const SATURATED_DROP_SHARE: f64 = 0.01;

pub(crate) struct Traffic {
    /// Mean bytes per second at average demand, per direction.
    base_bps: [f64; 2],
    packet_bytes: f64,
    link_bps: f64,
    /// The direction a saturation fills: the one this role mostly sends in.
    busy_direction: usize,
    bytes: [Counter; 2],
    packets: [Counter; 2],
    errors: [Counter; 2],
    dropped: [Counter; 2],
    noise: Drift,
}

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TrafficReading {
    pub packets_per_sec: [f64; 2],
}

impl Traffic {
    pub(crate) fn new(profile: &Profile, rng: &mut Rng) -> Self {
        let scale = rng.range(0.5, 1.5);
        Self {
            base_bps: [profile.receive_bps * scale, profile.transmit_bps * scale],
            packet_bytes: profile.packet_bytes,
            link_bps: profile.link_bps,
            busy_direction: usize::from(profile.transmit_bps >= profile.receive_bps),
            bytes: Default::default(),
            packets: Default::default(),
            errors: Default::default(),
            dropped: Default::default(),
            // Traffic varies more than CPU: ±25 % in the log domain, over ~10 min.
            noise: Drift::new(0.25, 600.0, rng),
        }
    }

    /// `direction` label of the link a saturation fills.
    pub(crate) fn busy_direction(&self) -> &'static str {
        DIRECTIONS[self.busy_direction]
    }

    pub(crate) fn device(&self) -> &'static str {
        DEVICE
    }

    /// Counters of a host that has been up for `uptime_secs`, so the first values
    /// look like those of a real machine rather than zero.
    pub(crate) fn restart(&mut self, uptime_secs: f64, rng: &mut Rng) {
        for i in 0..2 {
            let bytes = self.base_bps[i] * uptime_secs * rng.range(0.6, 1.0);
            self.bytes[i].restart(bytes);
            self.packets[i].restart(bytes / self.packet_bytes);
            self.errors[i].restart(uptime_secs / SECS_PER_ERROR * rng.range(0.5, 1.5));
            self.dropped[i].restart(uptime_secs / SECS_PER_DROP * rng.range(0.5, 1.5));
        }
    }

    /// Advances the counters by `dt_secs` at the current rate and emits them with
    /// their rates (skipped on the first reading, as the real collector does).
    pub(crate) fn step(
        &mut self,
        dt: f64,
        demand: f64,
        fx: &Effects,
        rng: &mut Rng,
        out: &mut Vec<Sample>,
    ) -> TrafficReading {
        let level = demand.max(0.05) * self.noise.step(dt, rng).exp();
        let mut reading = TrafficReading::default();
        let mut bps = [self.base_bps[0] * level, self.base_bps[1] * level];
        let busy = self.busy_direction;
        // A saturated link plateaus just under its line rate; the other direction
        // carries the acknowledgements.
        let full = self.link_bps * fx.plateau;
        bps[busy] = (bps[busy] * (1.0 - fx.saturation) + full * fx.saturation).max(bps[busy]);
        bps[1 - busy] += 0.02 * full * fx.saturation;
        for (i, direction) in DIRECTIONS.into_iter().enumerate() {
            let pps = bps[i] / self.packet_bytes;
            reading.packets_per_sec[i] = pps;
            self.bytes[i].advance(bps[i], dt);
            self.packets[i].advance(pps, dt);
            if rng.unit() < dt / SECS_PER_ERROR {
                self.errors[i].add(1.0);
            }
            if rng.unit() < dt / SECS_PER_DROP {
                self.dropped[i].add(1.0);
            }
            if i == busy {
                self.dropped[i].advance(pps * SATURATED_DROP_SHARE * fx.saturation, dt);
            }
            let labels = [("device", DEVICE), ("direction", direction)];
            self.bytes[i].emit(network::IO, network::IO_RATE, &labels, dt, out);
            self.packets[i].emit(
                network::PACKETS,
                names::NETWORK_PACKETS_RATE,
                &labels,
                dt,
                out,
            );
            self.errors[i].emit(
                network::ERRORS,
                names::NETWORK_ERRORS_RATE,
                &labels,
                dt,
                out,
            );
            self.dropped[i].emit(
                names::NETWORK_DROPPED,
                names::NETWORK_DROPPED_RATE,
                &labels,
                dt,
                out,
            );
        }
        reading
    }
}
