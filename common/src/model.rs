//! Domain types shared by every component. Labels are a `BTreeMap` so a series
//! key has one canonical order (and one canonical JSON text, used as a storage key).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub type Labels = BTreeMap<String, String>;

/// Identity of a series within one host: metric name plus labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SeriesKey {
    pub name: String,
    #[serde(default)]
    pub labels: Labels,
}

impl SeriesKey {
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            labels: Labels::new(),
        }
    }

    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// Canonical JSON text of the labels (`{}` when empty); stable because the map is sorted.
    pub fn labels_json(&self) -> String {
        serde_json::to_string(&self.labels).unwrap_or_else(|_| "{}".to_owned())
    }

    /// True when every label in `selector` is present here with the same value.
    pub fn matches(&self, name: &str, selector: &Labels) -> bool {
        (name.is_empty() || self.name == name)
            && selector.iter().all(|(k, v)| self.labels.get(k) == Some(v))
    }
}

/// One collected value, in the shape of `hostwatch-agent --once --format json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub name: String,
    #[serde(default)]
    pub labels: Labels,
    pub value: f64,
}

impl Sample {
    pub fn key(&self) -> SeriesKey {
        SeriesKey {
            name: self.name.clone(),
            labels: self.labels.clone(),
        }
    }
}

/// Everything one host produced at one instant.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub host: String,
    pub timestamp_ms: i64,
    pub samples: Vec<Sample>,
    /// The host's top processes at that instant (by CPU and by memory); absent
    /// for sources without a process table.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub processes: Vec<ProcessInfo>,
}

/// One process in a host's top list (by CPU or by memory). Not history: the
/// agent ships the current list beside its samples, the hub keeps the newest per
/// host and attaches it to anomaly events, so "what was running" is answered at
/// the moment it matters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessInfo {
    pub pid: u32,
    pub name: String,
    pub user: String,
    /// Share of one CPU over the last interval, like psutil's
    /// `Process.cpu_percent()`/100: 2.0 is two cores busy.
    pub cpu_utilization: f64,
    /// Resident set size (psutil `memory_info().rss`).
    pub memory_bytes: u64,
}

/// Facts about a host that change rarely.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostFacts {
    pub hostname: String,
    pub os: String,
    pub kernel: String,
    pub arch: String,
    pub cpu_count: u32,
    pub memory_bytes: u64,
    pub boot_time: u64,
    pub agent_version: String,
    pub simulated: bool,
}

/// A host as the dashboard lists it (`GET /api/v1/hosts`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostStatus {
    pub host: String,
    pub site: String,
    pub agent_id: String,
    pub last_seen_ms: i64,
    pub cpu_percent: Option<f64>,
    pub memory_percent: Option<f64>,
    pub disk_percent: Option<f64>,
    pub stored_seq: u64,
    pub rows_stored: u64,
    /// Batches stored; `stored_seq - batches_stored` never arrived.
    pub batches_stored: u64,
    pub facts: HostFacts,
}

impl HostStatus {
    /// Share of the agent's batches (by seq) that are in history, in [0, 1].
    pub fn completeness(&self) -> Option<f64> {
        (self.stored_seq > 0)
            .then(|| (self.batches_stored as f64 / self.stored_seq as f64).min(1.0))
    }
}

/// A series of a host with its newest value (`GET /api/v1/hosts/{host}/series`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesInfo {
    pub host: String,
    pub name: String,
    pub labels: Labels,
    pub last_ms: i64,
    pub last_value: f64,
}

impl SeriesInfo {
    /// A series of `host` with its newest point.
    pub fn latest(host: &str, key: &SeriesKey, p: Point) -> Self {
        Self {
            host: host.to_owned(),
            name: key.name.clone(),
            labels: key.labels.clone(),
            last_ms: p.t,
            last_value: p.v,
        }
    }
}

/// Sorts series by name, then labels: the order every listing uses.
pub fn sort_series<T>(items: &mut [T], key: impl Fn(&T) -> (&str, &Labels)) {
    items.sort_by(|a, b| key(a).cmp(&key(b)));
}

/// An incident found by detection on one series (`GET /api/v1/events`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnomalyEvent {
    pub id: u64,
    pub host: String,
    pub site: String,
    pub name: String,
    pub labels: Labels,
    pub start_ms: i64,
    pub last_ms: i64,
    /// None while the incident is open.
    pub end_ms: Option<i64>,
    /// low, medium, high or critical: the worst during the incident.
    pub severity: String,
    /// Highest score seen, in [0, 1].
    pub score: f64,
    pub actual: f64,
    pub expected: Option<f64>,
    pub evidence: Vec<String>,
    /// The host's top processes when the incident opened (empty when the
    /// agent sent none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top_processes: Vec<ProcessInfo>,
}

/// One (time, value) pair of a range answer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub t: i64,
    pub v: f64,
}

/// Points of one series in a time range (`GET /api/v1/series`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesPoints {
    pub host: String,
    pub name: String,
    pub labels: Labels,
    pub points: Vec<Point>,
}

/// The expected band of a series from one minute on, until the next point
/// (`GET /api/v1/bands`): where its values raise no evidence from the
/// hub's detector (`hub/src/bands.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BandPoint {
    /// Start of the minute it was averaged over (unix ms).
    pub t: i64,
    pub expected: f64,
    pub lo: f64,
    pub hi: f64,
}

/// The band points of one series in a time range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesBand {
    pub host: String,
    pub name: String,
    pub labels: Labels,
    pub band: Vec<BandPoint>,
}

/// How points are combined when a range is thinned or read from rollups.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Agg {
    #[default]
    Avg,
    Min,
    Max,
    Last,
}

impl Agg {
    pub fn as_str(self) -> &'static str {
        match self {
            Agg::Avg => "avg",
            Agg::Min => "min",
            Agg::Max => "max",
            Agg::Last => "last",
        }
    }

    /// Parses `avg`, `min`, `max` or `last`; empty means `avg`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "" | "avg" => Some(Agg::Avg),
            "min" => Some(Agg::Min),
            "max" => Some(Agg::Max),
            "last" => Some(Agg::Last),
            _ => None,
        }
    }
}

/// Which series a range query wants.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RangeQuery {
    pub host: String,
    /// Empty matches every name.
    pub name: String,
    pub labels: Labels,
    pub from_ms: i64,
    pub to_ms: i64,
    /// Cap on points per series; larger ranges are thinned evenly.
    pub max_points: usize,
    /// How points of one bucket are combined.
    #[serde(default)]
    pub agg: Agg,
}

/// One value of a series at a time: (series key, unix ms, value). The key is
/// shared (`Arc`) with the symbol table it came from.
pub type KeyedRow = (std::sync::Arc<SeriesKey>, i64, f64);

/// Rows of one host that were just stored, as they travel hub → edge → browsers.
/// Keys are shared (`Arc`) with the stream's symbol table, so a row costs no
/// string copies.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRows {
    pub host: String,
    pub site: String,
    pub rows: Vec<KeyedRow>,
}
