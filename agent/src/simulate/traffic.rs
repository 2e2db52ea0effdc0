//! Simulated network interface: monotonic counters driven by a varying rate.

use common::model::Sample;

use super::rng::{Drift, Rng};
use crate::collect::{network, sample};

const DEVICE: &str = "eth0";
const DIRECTIONS: [&str; 2] = ["receive", "transmit"];
/// An interface error shows up about once per this many seconds per direction.
const SECS_PER_ERROR: f64 = 6.0 * 3600.0;

pub(crate) struct Traffic {
    /// Mean bytes per second at the daily average, per direction.
    base_bps: [f64; 2],
    packet_bytes: f64,
    /// Counters as fractional values so they advance smoothly; emitted rounded down,
    /// which keeps them monotonic.
    bytes: [f64; 2],
    packets: [f64; 2],
    errors: [f64; 2],
    noise: Drift,
}

impl Traffic {
    pub(crate) fn new(
        receive_bps: f64,
        transmit_bps: f64,
        packet_bytes: f64,
        rng: &mut Rng,
    ) -> Self {
        let scale = rng.range(0.5, 1.5);
        Self {
            base_bps: [receive_bps * scale, transmit_bps * scale],
            packet_bytes,
            bytes: [0.0; 2],
            packets: [0.0; 2],
            errors: [0.0; 2],
            // Traffic varies more than CPU: ±25 % in the log domain, over ~10 min.
            noise: Drift::new(0.25, 600.0, rng),
        }
    }

    /// Counters of a host that has been up for `uptime_secs`, so the first values
    /// look like those of a real machine rather than zero.
    pub(crate) fn start(&mut self, uptime_secs: f64, rng: &mut Rng) {
        for i in 0..2 {
            self.bytes[i] = (self.base_bps[i] * uptime_secs * rng.range(0.6, 1.0)).floor();
            self.packets[i] = (self.bytes[i] / self.packet_bytes).floor();
            self.errors[i] = (uptime_secs / SECS_PER_ERROR * rng.range(0.5, 1.5)).floor();
        }
    }

    /// Advances the counters by `dt_secs` at the current rate and emits them; the
    /// rate is emitted only when time passed since the previous call, as the real
    /// collector does; it equals the counter difference over the interval, up to rounding.
    pub(crate) fn advance(
        &mut self,
        dt_secs: f64,
        daily: f64,
        rng: &mut Rng,
        out: &mut Vec<Sample>,
    ) {
        let level = (1.0 + 0.5 * daily).max(0.05) * self.noise.step(dt_secs, rng).exp();
        for (i, direction) in DIRECTIONS.into_iter().enumerate() {
            let rate = self.base_bps[i] * level;
            self.bytes[i] += rate * dt_secs;
            self.packets[i] += rate * dt_secs / self.packet_bytes;
            if rng.unit() < dt_secs / SECS_PER_ERROR {
                self.errors[i] += 1.0;
            }
            let labels = [("device", DEVICE), ("direction", direction)];
            out.push(sample(network::IO, &labels, self.bytes[i].floor()));
            out.push(sample(network::PACKETS, &labels, self.packets[i].floor()));
            out.push(sample(network::ERRORS, &labels, self.errors[i]));
            if dt_secs > 0.0 {
                out.push(sample(network::IO_RATE, &labels, rate));
            }
        }
    }
}
