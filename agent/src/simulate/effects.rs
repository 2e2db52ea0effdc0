//! What the active incidents do to a host at one instant. Each kind pushes its
//! own metric; the families then carry the consequences to related ones (a
//! busy CPU draws power and heats up, a full link drops packets and slows
//! requests), so an anomaly looks coherent across metrics.

use super::anomaly::{Incident, Kind};

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Effects {
    /// Share of the otherwise idle CPU a runaway process takes, in [0, 1].
    pub cpu: f64,
    /// The runaway process (the incident's pick).
    pub cpu_culprit: Option<u64>,
    /// Share of memory the leaking process holds on top of normal use.
    pub memory: f64,
    pub memory_culprit: Option<u64>,
    /// °C added by a cooling failure.
    pub heat: f64,
    /// A fan stopped (the cause of a temperature rise).
    pub fan_failed: bool,
    /// How far the link is pushed to its line rate, in [0, 1].
    pub saturation: f64,
    /// Share of the line rate a saturated link plateaus at.
    pub plateau: f64,
    /// Extra draw as a share of the host's idle watts.
    pub power: f64,
    /// Request latency multiplier minus one.
    pub latency: f64,
    /// Share of requests failing on top of normal.
    pub errors: f64,
}

impl Effects {
    pub(crate) fn of(incidents: &[Incident], now_ms: i64) -> Self {
        let mut fx = Effects::default();
        for i in incidents {
            let level = i.level(now_ms);
            let s = i.severity;
            match i.kind {
                Kind::CpuSpike => {
                    fx.cpu = fx.cpu.max((0.35 + 0.6 * s) * level);
                    fx.cpu_culprit = Some(i.pick);
                }
                Kind::MemoryLeak => {
                    fx.memory += (0.15 + 0.35 * s) * level;
                    fx.memory_culprit = Some(i.pick);
                }
                Kind::TemperatureRise => {
                    fx.heat += (12.0 + 25.0 * s) * level;
                    fx.fan_failed |= i.cause_active(now_ms);
                }
                Kind::NetworkSaturation => {
                    fx.saturation = fx.saturation.max(level);
                    fx.plateau = 0.92 + 0.07 * s;
                }
                Kind::PowerSpike => fx.power += (0.25 + 0.6 * s) * level,
                Kind::LatencySpike => fx.latency += (2.0 + 18.0 * s) * level,
                Kind::ErrorRateSpike => fx.errors += (0.03 + 0.4 * s) * level,
                // A crashed host reports nothing; handled before any family runs.
                Kind::HostCrash => {}
            }
        }
        fx
    }
}
