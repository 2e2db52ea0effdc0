//! Scenarios: how often each anomaly kind strikes, how long it lasts and how
//! strong it is.

use std::fmt;

use super::anomaly::Kind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Scenario {
    /// No anomalies at all.
    #[default]
    Normal,
    /// Rare, realistic mix: a host sees about one incident every two days.
    Production,
    /// Every kind, often and strong.
    Chaos,
    /// Cooling failures (and the odd power spike).
    Temperature,
    /// Saturated links.
    Network,
    /// Every kind, frequent, short and small.
    Dev,
    /// What `hostwatch demo` runs: about six incidents per host and day, so
    /// ten hosts show two or three an hour, each over in minutes.
    Demo,
}

/// How one anomaly kind behaves in one scenario.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Plan {
    /// Expected incidents per host and day (the schedule holds at most one per
    /// window, so very high rates saturate).
    pub per_day: f64,
    /// Duration range, seconds.
    pub duration_secs: (f64, f64),
    /// Strength range in [0, 1], mapped by each kind onto its own scale.
    pub severity: (f64, f64),
}

/// Shortest incident: below a minute most collection intervals would miss it.
const MIN_DURATION_SECS: f64 = 60.0;

impl Scenario {
    pub const ALL: [Scenario; 7] = [
        Scenario::Normal,
        Scenario::Production,
        Scenario::Chaos,
        Scenario::Temperature,
        Scenario::Network,
        Scenario::Dev,
        Scenario::Demo,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Normal => "normal",
            Scenario::Production => "production",
            Scenario::Chaos => "chaos",
            Scenario::Temperature => "temperature",
            Scenario::Network => "network",
            Scenario::Dev => "dev",
            Scenario::Demo => "demo",
        }
    }

    pub fn parse(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|s| s.name() == name.trim())
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|s| s.name()).collect();
                format!("unknown scenario {name:?} (one of {})", known.join(", "))
            })
    }

    /// Rates per day in [`Kind::ALL`] order, a scale on the kinds' typical
    /// durations, and the severity range.
    fn shape(self) -> ([f64; 8], f64, (f64, f64)) {
        match self {
            Scenario::Normal => ([0.0; 8], 1.0, (0.0, 0.0)),
            Scenario::Production => (
                [0.15, 0.04, 0.03, 0.06, 0.03, 0.15, 0.10, 0.02],
                1.0,
                (0.4, 1.0),
            ),
            Scenario::Chaos => ([8.0; 8], 0.35, (0.6, 1.0)),
            Scenario::Temperature => ([0.0, 0.0, 4.0, 0.0, 0.5, 0.0, 0.0, 0.0], 1.0, (0.5, 1.0)),
            Scenario::Network => ([0.0, 0.0, 0.0, 4.0, 0.0, 0.0, 0.0, 0.0], 1.0, (0.5, 1.0)),
            Scenario::Dev => ([2.0; 8], 0.15, (0.15, 0.45)),
            Scenario::Demo => ([2.0, 0.5, 0.6, 1.0, 0.6, 2.0, 1.2, 0.3], 0.4, (0.5, 1.0)),
        }
    }

    pub(crate) fn plan(self, kind: Kind) -> Plan {
        let (rates, scale, severity) = self.shape();
        let (low, high) = kind.typical_duration_secs();
        Plan {
            per_day: rates[kind as usize],
            duration_secs: (
                (low * scale).max(MIN_DURATION_SECS),
                (high * scale).max(MIN_DURATION_SECS),
            ),
            severity,
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
