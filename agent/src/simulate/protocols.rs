//! TCP and UDP: protocol counters (`/proc/net/snmp`) and sockets by state.

use common::model::Sample;

use super::counter::Counter;
use super::effects::Effects;
use super::names::{self, TCP_STATES};
use super::profile::Profile;
use super::rng::Rng;
use super::traffic::TrafficReading;
use crate::collect::sample;

/// Seconds a closed connection lingers in TIME_WAIT on Linux.
const TIME_WAIT_SECS: f64 = 60.0;
const TCP_ERRORS: [&str; 3] = ["attempt_fails", "in_errs", "estab_resets"];
const UDP_ERRORS: [&str; 3] = ["in_errors", "no_ports", "rcvbuf_errors"];

pub(crate) struct Protocols {
    established: f64,
    listening: u32,
    /// New connections per second at average demand: passive (accepted), active.
    opens_per_sec: (f64, f64),
    /// UDP datagrams per second at average demand (DNS, NTP, metrics).
    udp_per_sec: f64,
    retransmits: Counter,
    resets: Counter,
    /// Active, passive.
    opens: [Counter; 2],
    errors: [Counter; 3],
    /// Receive, transmit.
    datagrams: [Counter; 2],
    udp_errors: [Counter; 3],
}

impl Protocols {
    pub(crate) fn new(profile: &Profile, rng: &mut Rng) -> Self {
        let scale = rng.range(0.6, 1.4);
        Self {
            established: profile.established * scale,
            listening: profile.listening,
            opens_per_sec: (
                profile.opens_per_sec.0 * scale,
                profile.opens_per_sec.1 * scale,
            ),
            udp_per_sec: rng.range(5.0, 40.0),
            retransmits: Counter::default(),
            resets: Counter::default(),
            opens: Default::default(),
            errors: Default::default(),
            datagrams: Default::default(),
            udp_errors: Default::default(),
        }
    }

    pub(crate) fn restart(&mut self, uptime_secs: f64, packets_per_sec: f64) {
        let (passive, active) = self.opens_per_sec;
        self.retransmits
            .restart(uptime_secs * packets_per_sec * 0.000_5);
        self.resets
            .restart(uptime_secs * ((passive + active) * 0.01 + 0.2));
        self.opens[0].restart(uptime_secs * active);
        self.opens[1].restart(uptime_secs * passive);
        self.errors[0].restart(uptime_secs * active * 0.002);
        self.errors[1].restart(uptime_secs * packets_per_sec * 1e-6);
        self.errors[2].restart(uptime_secs * ((passive + active) * 0.004 + 0.08));
        self.datagrams[0].restart(uptime_secs * self.udp_per_sec);
        self.datagrams[1].restart(uptime_secs * self.udp_per_sec * 0.9);
        self.udp_errors[0].restart(uptime_secs * 0.001);
        self.udp_errors[1].restart(uptime_secs * 0.05);
        self.udp_errors[2].restart(0.0);
    }

    /// One reading; returns the number of sockets processes hold open.
    pub(crate) fn step(
        &mut self,
        dt: f64,
        demand: f64,
        traffic: &TrafficReading,
        fx: &Effects,
        rng: &mut Rng,
        out: &mut Vec<Sample>,
    ) -> f64 {
        let sat = fx.saturation;
        let [rx_pps, tx_pps] = traffic.packets_per_sec;
        let passive = self.opens_per_sec.0 * demand;
        let active = self.opens_per_sec.1 * demand;
        let resets = (passive + active) * (0.01 + 0.5 * fx.errors) + 0.2;
        self.retransmits
            .advance(tx_pps * (0.000_5 + 0.03 * sat), dt);
        self.resets.advance(resets, dt);
        self.opens[0].advance(active, dt);
        self.opens[1].advance(passive, dt);
        self.errors[0].advance(active * (0.002 + 0.05 * sat), dt);
        self.errors[1].advance(rx_pps * (1e-6 + 0.000_5 * sat), dt);
        self.errors[2].advance(resets * 0.4, dt);
        let udp = self.udp_per_sec * demand.sqrt();
        self.datagrams[0].advance(udp, dt);
        self.datagrams[1].advance(udp * 0.9, dt);
        self.udp_errors[0].advance(0.001 + udp * 0.05 * sat, dt);
        self.udp_errors[1].advance(0.05, dt);
        self.udp_errors[2].advance(udp * 0.02 * sat, dt);

        self.retransmits.emit(
            names::TCP_RETRANSMITS,
            names::TCP_RETRANSMITS_RATE,
            &[],
            dt,
            out,
        );
        self.resets
            .emit(names::TCP_RESETS, names::TCP_RESETS_RATE, &[], dt, out);
        for (counter, kind) in self.opens.iter_mut().zip(["active", "passive"]) {
            counter.emit(
                names::TCP_OPENS,
                names::TCP_OPENS_RATE,
                &[("type", kind)],
                dt,
                out,
            );
        }
        for (counter, kind) in self.errors.iter_mut().zip(TCP_ERRORS) {
            counter.emit(
                names::TCP_ERRORS,
                names::TCP_ERRORS_RATE,
                &[("type", kind)],
                dt,
                out,
            );
        }
        for (counter, direction) in self.datagrams.iter_mut().zip(["receive", "transmit"]) {
            counter.emit(
                names::UDP_DATAGRAMS,
                names::UDP_DATAGRAMS_RATE,
                &[("direction", direction)],
                dt,
                out,
            );
        }
        for (counter, kind) in self.udp_errors.iter_mut().zip(UDP_ERRORS) {
            counter.emit(
                names::UDP_ERRORS,
                names::UDP_ERRORS_RATE,
                &[("type", kind)],
                dt,
                out,
            );
        }

        // Little's law: slow requests hold their connections longer.
        let established =
            (self.established * demand * (1.0 + 0.5 * fx.latency) * (1.0 + 0.05 * rng.normal()))
                .max(1.0)
                .round();
        let time_wait = ((passive + active) * TIME_WAIT_SECS * (1.0 + 0.1 * rng.normal()))
            .max(0.0)
            .round();
        let opens = passive + active;
        let mut sockets = 0.0;
        for state in TCP_STATES {
            let count: f64 = match state {
                "ESTABLISHED" => established,
                "SYN_SENT" => (active * 0.01 + 5.0 * sat).round(),
                "SYN_RECV" => (passive * 0.01 + 20.0 * sat).round(),
                "FIN_WAIT1" => (opens * 0.005).round(),
                "FIN_WAIT2" => (opens * 0.02).round(),
                "TIME_WAIT" => time_wait,
                "CLOSE_WAIT" => (established * 0.005).round(),
                "LAST_ACK" => (opens * 0.002).round(),
                "LISTEN" => f64::from(self.listening),
                _ => 0.0,
            };
            // Connections in TIME_WAIT belong to the kernel, not to a process.
            if state != "TIME_WAIT" {
                sockets += count;
            }
            out.push(sample(
                names::NETWORK_CONNECTIONS,
                &[("protocol", "tcp"), ("state", state)],
                count,
            ));
        }
        let udp_sockets = f64::from(4 + self.listening);
        out.push(sample(
            names::NETWORK_CONNECTIONS,
            &[("protocol", "udp"), ("state", "NONE")],
            udp_sockets,
        ));
        sockets + udp_sockets
    }
}
