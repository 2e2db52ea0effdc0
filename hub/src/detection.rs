//! Detection on ingest: every stored row goes through its series' streaming
//! [`Engine`](crate::detect::Engine), and alarms become incidents — one
//! [`AnomalyEvent`] per incident, opened by the first alarm, updated when it
//! gets worse, closed after a quiet spell.
//!
//! It runs beside the write path, not on it: the writer offers each committed
//! frame with `try_send`, and when this actor falls behind, frames are skipped
//! and counted (`hostwatch_hub_detection_skipped_rows_total`) rather than slowing
//! acks. Engine state lives in memory and is snapshotted every
//! `model_snapshot_interval` and at shutdown ([`crate::models`]); a restarted
//! hub loads the snapshots and each series resumes warm when it is next seen.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use common::model::{AnomalyEvent, SeriesKey, StoredRows};
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::detect::{Config, Engine, Output, Severity};
use crate::metrics::HubMetrics;
use crate::models::ModelStore;
use crate::state::State;
use crate::store::{HistoryStore, ModelSnapshot};

/// Committed frames waiting for detection before new ones are skipped.
pub const QUEUE_CAPACITY: usize = 256;
/// Series analysed at most; more are counted and left alone, so one noisy
/// agent cannot make the hub's memory grow without bound.
pub const MAX_SERIES: usize = 100_000;
/// Points below [`QUIET_SCORE`] in a row that close an incident.
const QUIET_POINTS: u32 = 10;
const QUIET_SCORE: f64 = 0.5;

/// The agent sends every cumulative counter `X` with its per-second rate
/// `X.rate` (the same contract for real and simulated hosts).
const RATE_SUFFIX: &str = ".rate";
/// Cumulative counters sent without a `.rate` twin, by name (OpenTelemetry's
/// system conventions): seconds per cpu and state, whose rate is what
/// `system.cpu.utilization` reports; seconds a disk spent on operations and
/// busy, whose rate `system.disk.utilization` reports.
const CUMULATIVE: &[&str] = &[
    "system.cpu.time",
    "system.disk.operation_time",
    "system.disk.io_time",
];

pub type Frame = Arc<Vec<StoredRows>>;

#[derive(Clone)]
pub struct Detection {
    tx: mpsc::Sender<Frame>,
    metrics: HubMetrics,
}

impl Detection {
    /// `snapshots`: where models are kept between runs and how often they
    /// are saved; `None` keeps them in memory only.
    pub fn spawn(
        config: Config,
        state: Arc<State>,
        store: Option<Arc<dyn HistoryStore>>,
        snapshots: Option<(ModelStore, std::time::Duration)>,
        metrics: HubMetrics,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let runner = Runner {
            config,
            series: HashMap::new(),
            counters: HashMap::new(),
            tracked: 0,
            state,
            store,
            warm: HashMap::new(),
            metrics: metrics.clone(),
            // Ids start at "now" in microseconds, so a restarted hub never
            // reuses an id already in history (unless it opens more than a
            // thousand incidents a millisecond).
            next_id: (common::now_ms().max(0) as u64) * 1000,
        };
        let task = tokio::spawn(
            runner
                .run(rx, snapshots)
                .instrument(tracing::info_span!("detection")),
        );
        (Self { tx, metrics }, task)
    }

    /// Hands a committed frame over without waiting.
    pub fn offer(&self, frame: Frame) {
        if let Err(mpsc::error::TrySendError::Full(f)) = self.tx.try_send(frame) {
            let rows: usize = f.iter().map(|s| s.rows.len()).sum();
            self.metrics.detection_skipped.add(rows as u64);
        }
    }
}

/// The actor's detection without the actor: the same per-row logic, driven
/// synchronously, for replaying history offline (`bench`'s `sim-f1` scores it
/// against the simulator's ground truth). Nothing is stored or published.
pub struct Offline {
    runner: Runner,
}

impl Default for Offline {
    fn default() -> Self {
        Self::new()
    }
}

impl Offline {
    pub fn new() -> Self {
        Self {
            runner: Runner {
                config: Config::default(),
                series: HashMap::new(),
                counters: HashMap::new(),
                tracked: 0,
                state: Arc::new(State::new()),
                store: None,
                warm: HashMap::new(),
                metrics: HubMetrics::new(),
                next_id: 1,
            },
        }
    }

    /// Runs a committed frame through detection, as the actor does, and
    /// returns every event it opened, worsened or closed (the same event, by
    /// id, may appear several times: keep the last).
    pub fn process(&mut self, frame: &[StoredRows]) -> Vec<AnomalyEvent> {
        let mut changed = Vec::new();
        for sr in frame {
            self.runner.process(sr, &mut changed);
        }
        changed
    }
}

struct Tracked {
    engine: Engine,
    open: Option<AnomalyEvent>,
    quiet: u32,
}

struct Runner {
    config: Config,
    /// host → series → state; nested so a row is looked up without
    /// allocating a (host, key) pair.
    series: HashMap<String, HashMap<Arc<SeriesKey>, Tracked>>,
    /// host → names of cumulative counters (those sent with a `.rate` twin).
    counters: HashMap<String, HashSet<String>>,
    tracked: usize,
    state: Arc<State>,
    store: Option<Arc<dyn HistoryStore>>,
    /// Snapshots loaded at start, by host and series key JSON, waiting for
    /// their series' first row.
    warm: HashMap<String, HashMap<String, Vec<u8>>>,
    metrics: HubMetrics,
    next_id: u64,
}

impl Runner {
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Frame>,
        snapshots: Option<(ModelStore, std::time::Duration)>,
    ) {
        let Some((models, every)) = snapshots else {
            while let Some(frame) = rx.recv().await {
                self.handle(frame).await;
            }
            return;
        };
        self.load(&models).await;
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut saving: Option<tokio::task::JoinHandle<()>> = None;
        loop {
            tokio::select! {
                frame = rx.recv() => match frame {
                    Some(frame) => self.handle(frame).await,
                    None => break,
                },
                _ = tick.tick() => {
                    // One save at a time: a slow store skips a round rather
                    // than piling snapshots up in memory.
                    if saving.as_ref().is_some_and(|h| !h.is_finished()) {
                        continue;
                    }
                    // Snapshots no series claimed within one interval belong
                    // to series that are gone or away; they stay in the store
                    // for the next start, but not in this hub's memory.
                    self.warm.clear();
                    let snaps = self.snapshots();
                    let (models, metrics) = (models.clone(), self.metrics.clone());
                    saving = Some(tokio::spawn(async move { save(&models, snaps, &metrics).await }));
                }
            }
        }
        // Every frame is handled (the writer has stopped): the final save
        // holds everything learned.
        if let Some(h) = saving {
            let _ = h.await;
        }
        save(&models, self.snapshots(), &self.metrics).await;
    }

    /// Loads stored snapshots; each is used when its series is next seen.
    async fn load(&mut self, models: &ModelStore) {
        match models.load().await {
            Ok(list) => {
                let n = list.len();
                for m in list {
                    self.warm
                        .entry(m.host)
                        .or_default()
                        .insert(m.series, m.model);
                }
                tracing::info!(models = n, "detector model snapshots loaded");
            }
            Err(e) => {
                self.metrics.model_errors.inc();
                tracing::warn!(error = %e, "loading detector model snapshots failed; models start cold");
            }
        }
    }

    /// Every tracked series' model.
    fn snapshots(&self) -> Vec<ModelSnapshot> {
        let mut out = Vec::with_capacity(self.tracked);
        for (host, per_host) in &self.series {
            for (key, tracked) in per_host {
                out.push(ModelSnapshot {
                    host: host.clone(),
                    series: serde_json::to_string(key.as_ref()).unwrap_or_default(),
                    model: tracked.engine.snapshot(),
                });
            }
        }
        out
    }

    async fn handle(&mut self, frame: Frame) {
        // Pure CPU work, about a microsecond per row: small enough to run
        // here rather than on the blocking pool.
        let mut changed = Vec::new();
        for sr in frame.iter() {
            self.process(sr, &mut changed);
        }
        for ev in changed {
            if let Some(store) = &self.store {
                // Events are rare; writing them one by one keeps this simple.
                if let Err(e) = store.upsert_event(&ev).await {
                    self.metrics.storage_errors.inc();
                    tracing::warn!(error = %e, id = ev.id, "storing an anomaly event failed");
                }
            }
            self.state.publish_event(ev);
        }
    }

    fn process(&mut self, sr: &StoredRows, changed_events: &mut Vec<AnomalyEvent>) {
        // Taken out for the loop (and put back with its key) so that looking
        // a row's name up costs no host lookup and no allocation.
        let (host, mut totals) = self
            .counters
            .remove_entry(&sr.host)
            .unwrap_or_else(|| (sr.host.clone(), HashSet::new()));
        for (key, _, _) in &sr.rows {
            if let Some(stem) = key.name.strip_suffix(RATE_SUFFIX) {
                if !totals.contains(stem) {
                    totals.insert(stem.to_owned());
                }
            }
        }
        self.process_rows(sr, &totals, changed_events);
        self.counters.insert(host, totals);
    }

    fn process_rows(
        &mut self,
        sr: &StoredRows,
        totals: &HashSet<String>,
        changed_events: &mut Vec<AnomalyEvent>,
    ) {
        for (key, t, v) in &sr.rows {
            if totals.contains(&key.name) || CUMULATIVE.contains(&key.name.as_str()) {
                // A cumulative total: always at a new high, so every model
                // of "unusual" misreads it; its `.rate` twin carries the
                // same information and is what gets scored. (A first batch
                // has no rates yet: a model made then is dropped here.)
                if let Some(per_host) = self.series.get_mut(&sr.host) {
                    if per_host.remove(key).is_some() {
                        self.tracked -= 1;
                    }
                }
                continue;
            }
            if !self.series.contains_key(&sr.host) {
                self.series.insert(sr.host.clone(), HashMap::new());
            }
            let Some(per_host) = self.series.get_mut(&sr.host) else {
                continue;
            };
            if !per_host.contains_key(key) {
                if self.tracked >= MAX_SERIES {
                    self.metrics.detection_skipped.inc();
                    continue;
                }
                self.tracked += 1;
                let engine = engine_for(&mut self.warm, &self.config, &self.metrics, &sr.host, key);
                per_host.insert(
                    key.clone(),
                    Tracked {
                        engine,
                        open: None,
                        quiet: 0,
                    },
                );
            }
            let Some(tracked) = per_host.get_mut(key) else {
                continue;
            };
            self.metrics.detection_rows.inc();
            // Rows carry unix ms; the engine's clock is seconds (its
            // seasonal model learns points per day from the step).
            let out = tracked.engine.update(t.div_euclid(1000), *v);
            let changed = match tracked.open.as_mut() {
                None if out.alarm && out.severity != Severity::None => {
                    let mut ev = open_event(self.next_id, sr, key, *t, &out);
                    // What was running when it started: the answer people look
                    // for first, and gone by the time anyone asks the host.
                    if let Some((_, list)) = self.state.processes(&sr.host) {
                        ev.top_processes = list.as_ref().clone();
                    }
                    self.next_id += 1;
                    tracked.quiet = 0;
                    tracked.open = Some(ev.clone());
                    self.metrics.detection_events.inc();
                    Some(ev)
                }
                None => None,
                Some(ev) => {
                    ev.last_ms = *t;
                    let worse = out.score > ev.score;
                    if worse {
                        ev.score = out.score;
                        ev.actual = out.actual;
                        ev.expected = out.expected;
                        ev.evidence = evidence(&out);
                        ev.severity = worst(&ev.severity, out.severity);
                    }
                    tracked.quiet = if out.score < QUIET_SCORE {
                        tracked.quiet + 1
                    } else {
                        0
                    };
                    if tracked.quiet >= QUIET_POINTS {
                        ev.end_ms = Some(*t);
                        let closed = ev.clone();
                        tracked.open = None;
                        Some(closed)
                    } else if worse {
                        Some(ev.clone())
                    } else {
                        None
                    }
                }
            };
            changed_events.extend(changed);
        }
    }
}

/// A new series' engine: its snapshot when one was loaded and still fits
/// the config, else a cold one.
fn engine_for(
    warm: &mut HashMap<String, HashMap<String, Vec<u8>>>,
    config: &Config,
    metrics: &HubMetrics,
    host: &str,
    key: &SeriesKey,
) -> Engine {
    let snapshot = warm.get_mut(host).and_then(|per_host| {
        let field = serde_json::to_string(key).ok()?;
        per_host.remove(&field)
    });
    match snapshot.map(|bytes| Engine::restore(&bytes, config)) {
        Some(Some(engine)) => {
            metrics.models_restored.inc();
            engine
        }
        Some(None) => {
            metrics.models_discarded.inc();
            Engine::new(config.clone())
        }
        None => Engine::new(config.clone()),
    }
}

/// Writes snapshots, counting what was saved or failed.
async fn save(models: &ModelStore, snaps: Vec<ModelSnapshot>, metrics: &HubMetrics) {
    if snaps.is_empty() {
        return;
    }
    let bytes: usize = snaps.iter().map(|m| m.model.len()).sum();
    match models.save(&snaps).await {
        Ok(()) => {
            metrics.models_saved.add(snaps.len() as u64);
            tracing::debug!(models = snaps.len(), bytes, "detector models saved");
        }
        Err(e) => {
            metrics.model_errors.inc();
            tracing::warn!(error = %e, models = snaps.len(), "saving detector models failed");
        }
    }
}

fn open_event(id: u64, sr: &StoredRows, key: &SeriesKey, t: i64, out: &Output) -> AnomalyEvent {
    AnomalyEvent {
        id,
        host: sr.host.clone(),
        site: sr.site.clone(),
        name: key.name.clone(),
        labels: key.labels.clone(),
        start_ms: t,
        last_ms: t,
        end_ms: None,
        severity: severity_name(out.severity).to_owned(),
        score: out.score,
        actual: out.actual,
        expected: out.expected,
        evidence: evidence(out),
        top_processes: Vec::new(),
    }
}

fn evidence(out: &Output) -> Vec<String> {
    out.evidence
        .iter()
        .map(|e| match e.expected {
            Some(x) => format!("{:?}: {:.2} (expected {x:.4})", e.detector, e.statistic),
            None => format!("{:?}: {:.2}", e.detector, e.statistic),
        })
        .collect()
}

fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::None | Severity::Low => "low",
        Severity::Medium => "medium",
        Severity::High => "high",
        Severity::Critical => "critical",
    }
}

fn rank(name: &str) -> u8 {
    match name {
        "critical" => 4,
        "high" => 3,
        "medium" => 2,
        _ => 1,
    }
}

/// The worse of a recorded severity and a new one.
fn worst(current: &str, new: Severity) -> String {
    let new = severity_name(new);
    if rank(new) > rank(current) {
        new
    } else {
        current
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_spike_opens_one_incident_which_closes_when_quiet() {
        let state = Arc::new(State::new());
        let (d, task) = Detection::spawn(
            Config::default(),
            state.clone(),
            None,
            None,
            HubMetrics::new(),
        );
        let key = Arc::new(SeriesKey::new("system.cpu.utilization"));
        let mut rows = Vec::new();
        // A steady wave, one spike far outside anything seen, then steady again.
        for i in 0..1200i64 {
            let v = if i == 900 {
                5.0
            } else {
                0.3 + 0.01 * ((i % 7) as f64)
            };
            rows.push((key.clone(), i * 1000, v));
        }
        let frame = vec![StoredRows {
            host: "h".into(),
            site: "s".into(),
            rows,
        }];
        d.offer(Arc::new(frame.clone()));
        drop(d);
        task.await.expect("detection task");
        let events = state.events(None, 100);
        assert_eq!(events.len(), 1, "{events:?}");
        let e = &events[0];
        // The offline hook sees the same incident from the same rows.
        let mut offline = Offline::new();
        let replayed = offline.process(&frame);
        assert_eq!(
            replayed.last().map(|r| (r.start_ms, r.end_ms)),
            Some((e.start_ms, e.end_ms))
        );
        assert_eq!((e.host.as_str(), e.start_ms), ("h", 900_000));
        assert!(e.id > 1_000_000_000_000_000, "time-based id: {}", e.id);
        assert!(e.end_ms.is_some(), "closed after the quiet spell");
        assert!(e.score > 0.5 && !e.evidence.is_empty(), "{e:?}");
        assert_eq!(e.actual, 5.0);
    }

    /// Rows of one host, one per minute: a counter `x` with its `.rate` twin
    /// and `system.cpu.time`, all with a burst at minute 900.
    fn counter_frames() -> Vec<Vec<StoredRows>> {
        let keys = ["x", "x.rate", "system.cpu.time"].map(|n| Arc::new(SeriesKey::new(n)));
        let mut total = 0.0;
        (0..1200i64)
            .map(|i| {
                let step = if i == 900 {
                    5000.0
                } else {
                    10.0 + (i % 7) as f64
                };
                total += step;
                let t = i * 60_000;
                let mut rows = vec![(keys[0].clone(), t, total), (keys[2].clone(), t, total)];
                // The first reading has no rate yet, as with the real agent.
                if i > 0 {
                    rows.push((keys[1].clone(), t, step / 60.0));
                }
                vec![StoredRows {
                    host: "h".into(),
                    site: "s".into(),
                    rows,
                }]
            })
            .collect()
    }

    #[test]
    fn cumulative_totals_are_left_to_their_rates() {
        let mut offline = Offline::new();
        let names: Vec<String> = counter_frames()
            .iter()
            .flat_map(|f| offline.process(f))
            .map(|e| e.name)
            .collect();
        assert!(names.iter().any(|n| n == "x.rate"), "{names:?}");
        assert!(names.iter().all(|n| n == "x.rate"), "{names:?}");
        // Only the rate is modelled: the total's model from the first batch
        // (before the rate existed) was dropped.
        assert_eq!(offline.runner.tracked, 1);
    }
}
