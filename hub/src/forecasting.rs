//! Capacity forecasts on ingest: the readings of every finite resource of
//! every host go through a [`forecast::Estimator`](crate::forecast), and the
//! newest [`Forecast`] per (host, resource) is kept on a [`Board`] that the
//! Query API, the uplink and `/metrics` read.
//!
//! Like detection it runs beside the write path: the writer offers each
//! committed frame with `try_send`; when this actor falls behind, frames are
//! skipped and counted (`hostwatch_hub_forecast_skipped_rows_total`) rather
//! than slowing acks. A skipped frame costs a forecast a few readings, which
//! its fit does not miss. Estimators live in memory only: after a restart
//! forecasts take [`forecast::MIN_BUCKETS`](crate::forecast::MIN_BUCKETS)
//! buckets (about a minute at 1 s) to come back, and their trend restarts.
//!
//! How `used` and `capacity` come from what an agent sends:
//!
//! | resource | used | capacity |
//! | --- | --- | --- |
//! | `filesystem` | `system.filesystem.usage{state=used}` | used + `{state=free}` (what an unprivileged writer has: ENOSPC at 100 %) |
//! | `inodes` | `system.filesystem.inodes.usage{state=used}` | used + `{state=free}` |
//! | `memory` | `system.memory.usage{state=used}` (total − available) | `system.memory.limit` |
//! | `swap` | `system.paging.usage{state=used}` | used + `{state=free}` |
//! | `file_descriptors` | `system.file_descriptors.usage` | `system.file_descriptors.limit` |
//!
//! Filesystems and inodes are one resource per (`device`, `mountpoint`).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use common::metrics::{Counter, Registry};
use common::model::{Labels, SeriesKey, StoredRows};
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::forecast::{Estimator, Forecast, Rejected};

/// Committed frames waiting before new ones are skipped.
pub const QUEUE_CAPACITY: usize = 256;
/// Resources tracked at most (over all hosts); more are counted and left
/// alone, so one odd agent cannot make the hub's memory grow without bound.
pub const MAX_RESOURCES: usize = 50_000;
/// Forecasts exported on `/metrics`: the soonest to run out, so the label
/// sets stay bounded however large the fleet.
pub const METRICS_TOP: usize = 20;
/// Forecasts one query returns when it names no limit, and at most.
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 1_000;

pub type Frame = Arc<Vec<StoredRows>>;

/// The kinds of finite resource forecast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    Filesystem,
    Inodes,
    Memory,
    Swap,
    FileDescriptors,
}

impl Resource {
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Filesystem => "filesystem",
            Resource::Inodes => "inodes",
            Resource::Memory => "memory",
            Resource::Swap => "swap",
            Resource::FileDescriptors => "file_descriptors",
        }
    }
}

/// What one series contributes to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Used,
    /// Capacity is used + free (read at the same time as used).
    Free,
    /// Capacity itself.
    Limit,
}

/// Which resource, and which part of it, a series is; `None` for the rest.
fn classify(key: &SeriesKey) -> Option<(Resource, Role)> {
    let state = key.labels.get("state").map(String::as_str);
    let used_or_free = |r| match state {
        Some("used") => Some((r, Role::Used)),
        Some("free") => Some((r, Role::Free)),
        _ => None,
    };
    match key.name.as_str() {
        "system.filesystem.usage" => used_or_free(Resource::Filesystem),
        "system.filesystem.inodes.usage" => used_or_free(Resource::Inodes),
        "system.paging.usage" => used_or_free(Resource::Swap),
        "system.memory.usage" => (state == Some("used")).then_some((Resource::Memory, Role::Used)),
        "system.memory.limit" => Some((Resource::Memory, Role::Limit)),
        "system.file_descriptors.usage" => Some((Resource::FileDescriptors, Role::Used)),
        "system.file_descriptors.limit" => Some((Resource::FileDescriptors, Role::Limit)),
        _ => None,
    }
}

/// The labels that tell resources of one kind on one host apart.
fn identity(resource: Resource, key: &SeriesKey) -> Labels {
    let mut out = Labels::new();
    if matches!(resource, Resource::Filesystem | Resource::Inodes) {
        for k in ["device", "mountpoint"] {
            if let Some(v) = key.labels.get(k) {
                out.insert(k.to_owned(), v.clone());
            }
        }
    }
    out
}

/// The newest forecast of one resource of one host.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub host: String,
    pub site: String,
    pub resource: Resource,
    pub labels: Labels,
    pub forecast: Forecast,
    /// Unix ms of the newest reading.
    pub updated_ms: i64,
}

impl Entry {
    /// Unix ms at which the resource runs out, if it does.
    pub fn exhaustion_ms(&self) -> Option<f64> {
        self.forecast
            .seconds_to_exhaustion
            .map(|s| self.updated_ms as f64 + s * 1000.0)
    }

    pub fn to_proto(&self) -> proto::Forecast {
        let f = &self.forecast;
        proto::Forecast {
            host: self.host.clone(),
            site: self.site.clone(),
            resource: self.resource.as_str().to_owned(),
            labels: common::convert::labels_to_proto(&self.labels),
            trend: f.trend.as_str().to_owned(),
            rate_per_second: f.rate_per_sec,
            seconds_to_exhaustion: f.seconds_to_exhaustion,
            low_seconds: f.low_secs,
            high_seconds: f.high_secs,
            confidence: f.confidence,
            used: f.used,
            capacity: f.capacity,
            updated_ms: self.updated_ms,
            span_seconds: f.span_secs,
        }
    }
}

type BoardKey = (String, Resource, Labels);

/// The newest forecast per (host, resource), shared with readers. Written
/// once per batch of a host, read per query: a std mutex held for
/// microseconds, never across an await.
#[derive(Default)]
pub struct Board {
    entries: Mutex<HashMap<BoardKey, Entry>>,
}

impl Board {
    pub fn new() -> Self {
        Self::default()
    }

    fn put(&self, entry: Entry) {
        let key = (entry.host.clone(), entry.resource, entry.labels.clone());
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, entry);
    }

    /// Forecasts of `host` (or every host), soonest exhaustion first; those
    /// that do not run out follow, fullest first.
    pub fn ranked(&self, host: Option<&str>, limit: usize) -> Vec<Entry> {
        let mut list: Vec<Entry> = self
            .entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|e| host.is_none_or(|h| e.host == h))
            .cloned()
            .collect();
        rank(&mut list);
        list.truncate(limit);
        list
    }

    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The [`METRICS_TOP`] soonest exhaustions as Prometheus text, appended
    /// to the registry's. Rendered from the board each scrape instead of
    /// registered gauges, so a resource that leaves the top leaves `/metrics`.
    pub fn render_metrics(&self, out: &mut String) {
        let top: Vec<Entry> = self
            .ranked(None, METRICS_TOP)
            .into_iter()
            .filter(|e| e.forecast.seconds_to_exhaustion.is_some())
            .collect();
        let families: [Family; 4] = [
            (
                "hostwatch_hub_forecast_seconds_to_exhaustion",
                "Seconds until the resource is full on its fitted trend (the soonest few of the site).",
                |f| f.seconds_to_exhaustion,
            ),
            (
                "hostwatch_hub_forecast_seconds_to_exhaustion_low",
                "Lower end of the band of the same (steepest likely rate).",
                |f| f.low_secs,
            ),
            (
                "hostwatch_hub_forecast_seconds_to_exhaustion_high",
                "Upper end of the band of the same (gentlest likely rate); absent when it may never fill.",
                |f| f.high_secs,
            ),
            (
                "hostwatch_hub_forecast_confidence",
                "Confidence in [0, 1] of the forecast.",
                |f| Some(f.confidence),
            ),
        ];
        for (name, help, value) in families {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} gauge");
            for e in &top {
                if let Some(v) = value(&e.forecast) {
                    let _ = writeln!(out, "{name}{} {v}", metric_labels(e));
                }
            }
        }
    }
}

/// One gauge family of `/metrics`: name, help, and its value of a forecast.
type Family = (&'static str, &'static str, fn(&Forecast) -> Option<f64>);

fn rank(list: &mut [Entry]) {
    list.sort_by(|a, b| match (a.exhaustion_ms(), b.exhaustion_ms()) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => {
            let share = |e: &Entry| e.forecast.used / e.forecast.capacity;
            share(b).total_cmp(&share(a))
        }
    });
}

fn metric_labels(e: &Entry) -> String {
    let escape = |v: &str| {
        v.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    };
    let mut s = format!(
        "{{host=\"{}\",site=\"{}\",resource=\"{}\"",
        escape(&e.host),
        escape(&e.site),
        e.resource.as_str()
    );
    for (k, v) in &e.labels {
        let _ = write!(s, ",{k}=\"{}\"", escape(v));
    }
    s.push('}');
    s
}

/// The Query API's and the uplink's answer.
pub fn forecasts_response(board: &Board, host: &str, limit: u32) -> proto::ForecastsResponse {
    let limit = match limit {
        0 => DEFAULT_LIMIT,
        n => (n as usize).min(MAX_LIMIT),
    };
    let host = (!host.is_empty()).then_some(host);
    proto::ForecastsResponse {
        forecasts: board
            .ranked(host, limit)
            .iter()
            .map(Entry::to_proto)
            .collect(),
    }
}

#[derive(Clone)]
struct Counters {
    readings: Counter,
    skipped: Counter,
    registry: Registry,
}

impl Counters {
    fn new(registry: &Registry) -> Self {
        Self {
            readings: registry.counter(
                "hostwatch_hub_forecast_readings_total",
                "Resource readings taken by the capacity forecasts.",
                &[],
            ),
            skipped: registry.counter(
                "hostwatch_hub_forecast_skipped_rows_total",
                "Rows not forecast: the forecaster fell behind, or the resource cap was reached.",
                &[],
            ),
            registry: registry.clone(),
        }
    }

    fn rejected(&self, r: Rejected) {
        self.registry
            .counter(
                "hostwatch_hub_forecast_rejected_total",
                "Resource readings the forecaster refused, by reason (not finite, not newer).",
                &[("reason", r.reason())],
            )
            .inc();
    }
}

/// The writer's handle.
#[derive(Clone)]
pub struct Forecasting {
    tx: mpsc::Sender<Frame>,
    counters: Counters,
}

impl Forecasting {
    /// Starts the actor; it stops when every handle is dropped.
    pub fn spawn(board: Arc<Board>, registry: &Registry) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<Frame>(QUEUE_CAPACITY);
        let counters = Counters::new(registry);
        let mut runner = Runner {
            hosts: HashMap::new(),
            tracked: 0,
            board,
            counters: counters.clone(),
        };
        let task = tokio::spawn(
            async move {
                while let Some(frame) = rx.recv().await {
                    for sr in frame.iter() {
                        runner.process(sr);
                    }
                }
            }
            .instrument(tracing::info_span!("forecasting")),
        );
        (Self { tx, counters }, task)
    }

    /// Hands a committed frame over without waiting.
    pub fn offer(&self, frame: Frame) {
        if let Err(mpsc::error::TrySendError::Full(f)) = self.tx.try_send(frame) {
            let rows: usize = f.iter().map(|s| s.rows.len()).sum();
            self.counters.skipped.add(rows as u64);
        }
    }
}

/// One resource of one host: its estimator and the newest value of each
/// part, as (unix ms, value).
struct Tracked {
    estimator: Estimator,
    used: Option<(i64, f64)>,
    free: Option<(i64, f64)>,
    limit: Option<(i64, f64)>,
    fed_ms: i64,
}

struct Runner {
    hosts: HashMap<String, HashMap<(Resource, Labels), Tracked>>,
    tracked: usize,
    board: Arc<Board>,
    counters: Counters,
}

impl Runner {
    fn process(&mut self, sr: &StoredRows) {
        // A batch may hold many readings of a series (a backfill, a replay
        // after an outage): take them a timestamp at a time, in time order,
        // so every reading counts and used meets the free of its own time.
        let mut rows: Vec<(i64, Resource, Role, &SeriesKey, f64)> = sr
            .rows
            .iter()
            .filter_map(|(key, t, v)| {
                classify(key).map(|(r, role)| (*t, r, role, key.as_ref(), *v))
            })
            .collect();
        if rows.is_empty() {
            return;
        }
        rows.sort_by_key(|r| r.0);
        if !self.hosts.contains_key(&sr.host) {
            self.hosts.insert(sr.host.clone(), HashMap::new());
        }
        let mut touched: Vec<(Resource, Labels)> = Vec::new();
        for (i, &(t, resource, role, key, v)) in rows.iter().enumerate() {
            let id = (resource, identity(resource, key));
            if self.take(&sr.host, &id, role, t, v) && !touched.contains(&id) {
                touched.push(id);
            }
            let time_ends = rows.get(i + 1).is_none_or(|next| next.0 != t);
            if time_ends {
                for id in touched.drain(..) {
                    self.feed(sr, &id);
                }
            }
        }
    }

    /// Keeps one part of a resource's reading; false when the resource cap
    /// leaves it untracked.
    fn take(&mut self, host: &str, id: &(Resource, Labels), role: Role, t: i64, v: f64) -> bool {
        let Some(per_host) = self.hosts.get_mut(host) else {
            return false;
        };
        if !per_host.contains_key(id) {
            if self.tracked >= MAX_RESOURCES {
                self.counters.skipped.inc();
                return false;
            }
            self.tracked += 1;
            per_host.insert(
                id.clone(),
                Tracked {
                    estimator: Estimator::new(),
                    used: None,
                    free: None,
                    limit: None,
                    fed_ms: i64::MIN,
                },
            );
        }
        let Some(tr) = per_host.get_mut(id) else {
            return false;
        };
        let slot = match role {
            Role::Used => &mut tr.used,
            Role::Free => &mut tr.free,
            Role::Limit => &mut tr.limit,
        };
        *slot = Some((t, v));
        true
    }

    /// Feeds the resource's newest reading, once it has a used and a
    /// capacity, and puts its forecast on the board.
    fn feed(&mut self, sr: &StoredRows, id: &(Resource, Labels)) {
        let Some(tr) = self.hosts.get_mut(&sr.host).and_then(|h| h.get_mut(id)) else {
            return;
        };
        let Some((t, used)) = tr.used else { return };
        if t <= tr.fed_ms {
            return;
        }
        let capacity = match (tr.free, tr.limit) {
            // Free must be read with used: their sum is the capacity.
            (Some((tf, free)), _) if tf == t => used + free,
            (_, Some((_, limit))) => limit,
            _ => return,
        };
        if capacity <= 0.0 {
            // No such resource on this host (no swap configured).
            return;
        }
        tr.fed_ms = t;
        if let Err(r) = tr.estimator.update(t as f64 / 1000.0, used, capacity) {
            self.counters.rejected(r);
            return;
        }
        self.counters.readings.inc();
        if let Some(forecast) = tr.estimator.forecast() {
            self.board.put(Entry {
                host: sr.host.clone(),
                site: sr.site.clone(),
                resource: id.0,
                labels: id.1.clone(),
                forecast,
                updated_ms: t,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, labels: &[(&str, &str)]) -> Arc<SeriesKey> {
        let mut k = SeriesKey::new(name);
        for (a, b) in labels {
            k = k.label(*a, *b);
        }
        Arc::new(k)
    }

    /// Runs batches of `(name, labels, value)` rows, one batch per second
    /// starting at t = 0, through the runner and compares the board as
    /// (resource, labels as `k=v` joined, used, capacity).
    /// A row of a test batch: name, labels, value.
    type TestRow = (&'static str, Vec<(&'static str, &'static str)>, f64);

    fn check(
        batches: usize,
        rows: &dyn Fn(usize) -> Vec<TestRow>,
        expected: &[(&str, &str, f64, f64)],
    ) {
        let board = Arc::new(Board::new());
        let registry = Registry::new();
        let mut runner = Runner {
            hosts: HashMap::new(),
            tracked: 0,
            board: board.clone(),
            counters: Counters::new(&registry),
        };
        for i in 0..batches {
            let t = i as i64 * 1000;
            let sr = StoredRows {
                host: "h".into(),
                site: "s".into(),
                rows: rows(i)
                    .into_iter()
                    .map(|(n, l, v)| (key(n, &l), t, v))
                    .collect(),
            };
            runner.process(&sr);
        }
        let mut got: Vec<(String, String, f64, f64)> = board
            .ranked(None, 100)
            .into_iter()
            .map(|e| {
                let labels: Vec<String> =
                    e.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                (
                    e.resource.as_str().to_owned(),
                    labels.join(","),
                    e.forecast.used,
                    e.forecast.capacity,
                )
            })
            .collect();
        got.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
        let expected: Vec<(String, String, f64, f64)> = expected
            .iter()
            .map(|(r, l, u, c)| (r.to_string(), l.to_string(), *u, *c))
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn used_and_capacity_come_from_the_series_a_host_sends() {
        let fs = |state| {
            vec![
                ("device", "sda1"),
                ("mountpoint", "/"),
                ("state", state),
                ("type", "ext4"),
            ]
        };
        check(
            200,
            &|i| {
                let i = i as f64;
                vec![
                    ("system.filesystem.usage", fs("used"), 100.0 + i),
                    ("system.filesystem.usage", fs("free"), 900.0 - i),
                    // The root reserve is not the unprivileged writer's.
                    ("system.filesystem.usage", fs("reserved"), 50.0),
                    (
                        "system.filesystem.limit",
                        vec![("device", "sda1"), ("mountpoint", "/")],
                        1050.0,
                    ),
                    ("system.filesystem.inodes.usage", fs("used"), 10.0),
                    ("system.filesystem.inodes.usage", fs("free"), 90.0),
                    ("system.memory.usage", vec![("state", "used")], 400.0 + i),
                    ("system.memory.usage", vec![("state", "cached")], 7.0),
                    ("system.memory.limit", vec![], 1000.0),
                    // No swap on this host: nothing to forecast.
                    ("system.paging.usage", vec![("state", "used")], 0.0),
                    ("system.paging.usage", vec![("state", "free")], 0.0),
                    ("system.file_descriptors.usage", vec![], 1000.0 + i),
                    ("system.file_descriptors.limit", vec![], 100_000.0),
                    ("system.cpu.utilization", vec![], 0.5),
                ]
            },
            &[
                ("file_descriptors", "", 1199.0, 100_000.0),
                ("filesystem", "device=sda1,mountpoint=/", 299.0, 1000.0),
                ("inodes", "device=sda1,mountpoint=/", 10.0, 100.0),
                ("memory", "", 599.0, 1000.0),
            ],
        );
    }

    #[test]
    fn a_limit_sent_once_stands_until_it_changes() {
        check(
            200,
            &|i| {
                let mut rows = vec![("system.file_descriptors.usage", vec![], 10.0 + i as f64)];
                if i == 0 {
                    rows.push(("system.file_descriptors.limit", vec![], 500.0));
                }
                rows
            },
            &[("file_descriptors", "", 209.0, 500.0)],
        );
    }

    #[test]
    fn every_reading_of_a_batch_counts() {
        // One batch holding 200 readings a second apart, as a backfill sends.
        let board = Arc::new(Board::new());
        let registry = Registry::new();
        let mut runner = Runner {
            hosts: HashMap::new(),
            tracked: 0,
            board: board.clone(),
            counters: Counters::new(&registry),
        };
        let (used, limit) = (
            key("system.file_descriptors.usage", &[]),
            key("system.file_descriptors.limit", &[]),
        );
        let mut rows = Vec::new();
        for i in 0..200i64 {
            rows.push((used.clone(), i * 1000, 10.0 + i as f64));
            rows.push((limit.clone(), i * 1000, 500.0));
        }
        // Out of time order within the batch: still taken in time order.
        rows.swap(0, 398);
        runner.process(&StoredRows {
            host: "h".into(),
            site: "s".into(),
            rows,
        });
        assert_eq!(runner.counters.readings.get(), 200);
        let e = &board.ranked(None, 1)[0];
        assert_eq!((e.forecast.used, e.forecast.span_secs), (209.0, 199.0));
    }

    #[test]
    fn used_without_any_capacity_is_not_forecast() {
        check(
            200,
            &|i| vec![("system.memory.usage", vec![("state", "used")], i as f64)],
            &[],
        );
    }

    fn entry(host: &str, secs: Option<f64>, used: f64, updated_ms: i64) -> Entry {
        Entry {
            host: host.into(),
            site: "s".into(),
            resource: Resource::Filesystem,
            labels: Labels::new(),
            forecast: Forecast {
                trend: crate::forecast::Trend::Rising,
                rate_per_sec: 1.0,
                seconds_to_exhaustion: secs,
                low_secs: secs,
                high_secs: None,
                confidence: 0.9,
                used,
                capacity: 100.0,
                span_secs: 60.0,
            },
            updated_ms,
        }
    }

    #[test]
    fn ranking_is_by_when_it_runs_out_then_by_how_full() {
        let mut list = vec![
            entry("flat-half", None, 50.0, 0),
            entry("late", Some(100.0), 1.0, 0),
            entry("flat-full", None, 90.0, 0),
            // Read 85 s after the others, 10 s left: out at 95 s, before "late".
            entry("soon", Some(10.0), 1.0, 85_000),
            entry("sooner", Some(10.0), 1.0, 0),
        ];
        rank(&mut list);
        let got: Vec<&str> = list.iter().map(|e| e.host.as_str()).collect();
        assert_eq!(got, ["sooner", "soon", "late", "flat-full", "flat-half"]);
    }

    #[test]
    fn metrics_show_only_the_soonest_with_their_labels() {
        let board = Board::new();
        for i in 0..(METRICS_TOP + 5) {
            board.put(entry(&format!("h{i:02}"), Some(i as f64), 1.0, 0));
        }
        board.put(entry("flat", None, 1.0, 0));
        let mut out = String::new();
        board.render_metrics(&mut out);
        let lines: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with("hostwatch_hub_forecast_seconds_to_exhaustion{"))
            .collect();
        assert_eq!(lines.len(), METRICS_TOP);
        assert_eq!(
            lines[1],
            "hostwatch_hub_forecast_seconds_to_exhaustion{host=\"h01\",site=\"s\",resource=\"filesystem\"} 1"
        );
        assert!(!out.contains("host=\"flat\""));
    }
}
