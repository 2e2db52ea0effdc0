//! Anomaly kinds, incidents and their schedule.
//!
//! Whether an incident happens is decided in advance, per kind, per fixed window
//! of wall-clock time aligned to the unix epoch: the window's incident (at most
//! one) is drawn from a generator keyed by (seed, scenario, host index, kind,
//! window number) alone. So the schedule is a pure function of those and of
//! time: a host collected every second and its twin collected every five
//! minutes, or started a day later, meet the same incidents at the same
//! instants. A window is at least twice the kind's longest incident, and an
//! incident lies inside its window, so incidents of one kind never overlap.

use super::profile::Role;
use super::rng::{hash_name, Rng};
use super::scenario::{Plan, Scenario};

const DAY_MS: f64 = 86_400_000.0;
const MIN_WINDOW_MS: i64 = 3_600_000;

/// The eight injectable anomaly kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    CpuSpike = 0,
    MemoryLeak = 1,
    TemperatureRise = 2,
    NetworkSaturation = 3,
    PowerSpike = 4,
    LatencySpike = 5,
    ErrorRateSpike = 6,
    HostCrash = 7,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::CpuSpike,
        Kind::MemoryLeak,
        Kind::TemperatureRise,
        Kind::NetworkSaturation,
        Kind::PowerSpike,
        Kind::LatencySpike,
        Kind::ErrorRateSpike,
        Kind::HostCrash,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::CpuSpike => "cpu_spike",
            Kind::MemoryLeak => "memory_leak",
            Kind::TemperatureRise => "temperature_rise",
            Kind::NetworkSaturation => "network_saturation",
            Kind::PowerSpike => "power_spike",
            Kind::LatencySpike => "latency_spike",
            Kind::ErrorRateSpike => "error_rate_spike",
            Kind::HostCrash => "host_crash",
        }
    }

    /// The kind named `name` (`cpu_spike`, or `cpu-spike`).
    pub fn parse(name: &str) -> Result<Kind, String> {
        let name = name.trim().replace('-', "_");
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
                format!("unknown anomaly kind {name:?}: one of {}", names.join(", "))
            })
    }

    /// Typical duration range in production, seconds.
    pub(crate) fn typical_duration_secs(self) -> (f64, f64) {
        let minutes = match self {
            Kind::CpuSpike => (5.0, 45.0),
            Kind::MemoryLeak => (120.0, 480.0),
            // Includes the cool-down after the cause is gone.
            Kind::TemperatureRise => (30.0, 120.0),
            Kind::NetworkSaturation => (5.0, 40.0),
            Kind::PowerSpike => (2.0, 10.0),
            Kind::LatencySpike => (5.0, 30.0),
            Kind::ErrorRateSpike => (5.0, 30.0),
            Kind::HostCrash => (5.0, 40.0),
        };
        (minutes.0 * 60.0, minutes.1 * 60.0)
    }

    /// Request latency and errors exist only on hosts that serve requests.
    pub(crate) fn applies_to(self, role: Role) -> bool {
        match self {
            Kind::LatencySpike | Kind::ErrorRateSpike => role.serves_requests(),
            _ => true,
        }
    }
}

/// One injected anomaly on one host.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub kind: Kind,
    /// Unix ms, whole seconds; the incident covers `[start_ms, end_ms)`.
    pub start_ms: i64,
    pub end_ms: i64,
    /// Strength in [0, 1], mapped by each kind onto its own scale.
    pub severity: f64,
    /// The incident's own draw, for choices such as the culprit process.
    pub pick: u64,
}

impl Incident {
    pub fn contains(&self, now_ms: i64) -> bool {
        (self.start_ms..self.end_ms).contains(&now_ms)
    }

    /// How far the anomaly has developed at `now_ms`, in [0, 1]; 0 outside.
    pub fn level(&self, now_ms: i64) -> f64 {
        if !self.contains(now_ms) {
            return 0.0;
        }
        let since = (now_ms - self.start_ms) as f64;
        let until = (self.end_ms - now_ms) as f64;
        let ramp = |ms: f64| (since / ms).min(until / ms).clamp(0.0, 1.0);
        match self.kind {
            Kind::CpuSpike => ramp(15_000.0),
            // Grows steadily until the process is killed (OOM or a restart).
            Kind::MemoryLeak => since / (self.end_ms - self.start_ms) as f64,
            Kind::TemperatureRise => {
                let (tau, cause_end) = self.thermal();
                let heated = |ms: f64| 1.0 - (-ms / tau).exp();
                if since < cause_end {
                    heated(since)
                } else {
                    heated(cause_end) * (-(since - cause_end) / tau).exp()
                }
            }
            Kind::NetworkSaturation => ramp(30_000.0),
            Kind::PowerSpike => ramp(5_000.0),
            Kind::LatencySpike => ramp(20_000.0),
            Kind::ErrorRateSpike => ramp(10_000.0),
            Kind::HostCrash => 1.0,
        }
    }

    /// A temperature rise: the cause (a failed fan) lasts the first half, then
    /// the host cools with the same time constant; by the end it is within 5 %
    /// of normal. Returns (time constant, end of the cause), ms since start.
    fn thermal(&self) -> (f64, f64) {
        let duration = (self.end_ms - self.start_ms) as f64;
        (duration / 6.0, duration / 2.0)
    }

    /// Whether the cause of a temperature rise (the failed fan) is still there.
    pub(crate) fn cause_active(&self, now_ms: i64) -> bool {
        self.contains(now_ms)
            && (self.kind != Kind::TemperatureRise
                || ((now_ms - self.start_ms) as f64) < self.thermal().1)
    }
}

/// Length of the windows a kind's incidents are drawn in.
fn window_ms(plan: &Plan) -> i64 {
    ((plan.duration_secs.1 * 2000.0).ceil() as i64).max(MIN_WINDOW_MS)
}

/// Everything that decides one host's incidents.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    pub seed: u64,
    pub scenario: Scenario,
    pub host_index: usize,
    pub role: Role,
}

impl Schedule {
    /// The incident of `kind` active at `now_ms`, if any.
    pub(crate) fn active(&self, kind: Kind, now_ms: i64) -> Option<Incident> {
        let plan = self.plan(kind)?;
        let window = now_ms.div_euclid(window_ms(&plan));
        self.in_window(kind, &plan, window)
            .filter(|i| i.contains(now_ms))
    }

    /// Every incident that overlaps `[from_ms, to_ms)`, by start time.
    pub(crate) fn between(&self, from_ms: i64, to_ms: i64) -> Vec<Incident> {
        let mut out = Vec::new();
        for kind in Kind::ALL {
            let Some(plan) = self.plan(kind) else {
                continue;
            };
            let w = window_ms(&plan);
            for window in from_ms.div_euclid(w)..=to_ms.div_euclid(w) {
                out.extend(
                    self.in_window(kind, &plan, window)
                        .filter(|i| i.start_ms < to_ms && i.end_ms > from_ms),
                );
            }
        }
        out.sort_by_key(|i| (i.start_ms, i.kind));
        out
    }

    fn plan(&self, kind: Kind) -> Option<Plan> {
        let plan = self.scenario.plan(kind);
        (plan.per_day > 0.0 && kind.applies_to(self.role)).then_some(plan)
    }

    fn in_window(&self, kind: Kind, plan: &Plan, window: i64) -> Option<Incident> {
        let w = window_ms(plan);
        let mut rng = Rng::keyed(&[
            self.seed,
            hash_name(self.scenario.name()),
            self.host_index as u64,
            kind as u64,
            window as u64,
        ]);
        // Poisson arrivals at `per_day`, of which the window keeps the first.
        let chance = 1.0 - (-plan.per_day * w as f64 / DAY_MS).exp();
        // Every draw happens whatever the outcome, so adding a field later
        // does not reshuffle the others.
        let (happens, length, offset, severity, pick) = (
            rng.unit() < chance,
            rng.range(plan.duration_secs.0, plan.duration_secs.1),
            rng.unit(),
            rng.range(plan.severity.0, plan.severity.1),
            rng.next_u64(),
        );
        if !happens {
            return None;
        }
        let duration_ms = length.round() as i64 * 1000;
        let start = window * w + (offset * (w - duration_ms) as f64) as i64;
        let start_ms = start - start.rem_euclid(1000);
        Some(Incident {
            kind,
            start_ms,
            end_ms: start_ms + duration_ms,
            severity,
            pick,
        })
    }
}
