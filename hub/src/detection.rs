//! Detection on ingest: every stored row goes through its series' streaming
//! [`Engine`](crate::detect::Engine), each instant of a host through the
//! host's [`HostModel`] (multivariate), and alarms become host-level
//! incidents ([`crate::detect::incident`]) — one [`AnomalyEvent`] per
//! incident and host, led by the first alarm, listing every contributing
//! series, published once corroborated, closed after a quiet spell.
//!
//! A host's instant ends when a row of another timestamp arrives or its batch
//! ends (an agent's batch holds whole collections), so the actor and
//! [`Offline`] cut instants at the same rows.
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

use crate::bands::{BandRow, BandTrack};
use crate::detect::incident::{Incident, Slot, Step};
use crate::detect::multivariate::{Feature, Features, HostConfig, HostModel};
use crate::detect::power::PowerGivenCpu;
use crate::detect::{Config, Engine, Severity};
use crate::metrics::HubMetrics;
use crate::models::ModelStore;
use crate::state::State;
use crate::store::{HistoryStore, ModelSnapshot};

/// Committed frames waiting for detection before new ones are skipped.
pub const QUEUE_CAPACITY: usize = 256;
/// Series analysed at most; more are counted and left alone, so one noisy
/// agent cannot make the hub's memory grow without bound.
pub const MAX_SERIES: usize = 100_000;
/// The snapshot field of a host's multivariate model (series fields are
/// series key JSON, so they never look like this).
const HOST_MODEL: &str = "@multivariate";
/// The series detection derives for every host that reports both its total
/// CPU utilization and its power: watts beyond what the CPU load explains
/// ([`PowerGivenCpu`]). A family of its own (`hw.power_beyond_cpu`, not
/// `hw.power`): it says power and CPU parted ways, which a power sensor's
/// alarm alone does not, so the two together corroborate a power problem the
/// way CPU and heat together corroborate a runaway process.
pub const POWER_BEYOND_CPU: &str = "hw.power_beyond_cpu";

/// The agent sends every cumulative counter `X` with its per-second rate
/// `X.rate` (the same contract for real and simulated hosts).
const RATE_SUFFIX: &str = ".rate";
/// Cumulative counters sent without a `.rate` twin, by name (OpenTelemetry's
/// system conventions): seconds per cpu and state, whose rate is what
/// `system.cpu.utilization` reports; seconds a disk spent on operations and
/// busy, whose rate `system.disk.utilization` reports; seconds since boot,
/// always at a new high, whose one piece of news (a reboot) `system.boot_time`
/// carries.
const CUMULATIVE: &[&str] = &[
    "system.cpu.time",
    "system.disk.operation_time",
    "system.disk.io_time",
    "system.uptime",
];

/// Band points gathered before they are saved in one go (a few seconds'
/// worth on a busy hub; at a minute per point a small one saves less often).
const BAND_BATCH: usize = 1_000;
/// ... or gathered for at most this long (a small hub's few points).
const BAND_FLUSH: std::time::Duration = std::time::Duration::from_secs(5);
/// Band points held while the store is slow, at most.
const MAX_PENDING_BANDS: usize = 200_000;

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
            host_config: HostConfig::default(),
            hosts: HashMap::new(),
            tracked: 0,
            state,
            store,
            warm: HashMap::new(),
            metrics: metrics.clone(),
            // Ids start at "now" in microseconds, so a restarted hub never
            // reuses an id already in history (unless it opens more than a
            // thousand incidents a millisecond).
            next_id: (common::now_ms().max(0) as u64) * 1000,
            bands: Vec::new(),
            saving_bands: None,
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
                host_config: HostConfig::default(),
                hosts: HashMap::new(),
                tracked: 0,
                state: Arc::new(State::new()),
                store: None,
                warm: HashMap::new(),
                metrics: HubMetrics::new(),
                next_id: 1,
                bands: Vec::new(),
                saving_bands: None,
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
    /// Its expected band this minute, and the last point stored.
    band: BandTrack,
    /// Its place in the host's open incident, while it contributes.
    slot: Option<Slot>,
    /// When it last alarmed (unix ms).
    last_alarm: Option<i64>,
}

/// Everything detection keeps about one host.
struct Host {
    series: HashMap<Arc<SeriesKey>, Tracked>,
    /// Names of cumulative counters (those sent with a `.rate` twin).
    counters: HashSet<String>,
    model: HostModel,
    /// The instant whose rows are being folded into `features`.
    instant: Option<i64>,
    features: Features,
    incident: Option<Incident>,
    /// The fit behind [`POWER_BEYOND_CPU`]; not snapshotted, so that
    /// series' engine is not either (both start cold together).
    power: PowerGivenCpu,
    power_key: Arc<SeriesKey>,
}

struct Runner {
    config: Config,
    host_config: HostConfig,
    hosts: HashMap<String, Host>,
    tracked: usize,
    state: Arc<State>,
    store: Option<Arc<dyn HistoryStore>>,
    /// Snapshots loaded at start, by host and series key JSON (or
    /// [`HOST_MODEL`]), waiting for their series' first row.
    warm: HashMap<String, HashMap<String, Vec<u8>>>,
    metrics: HubMetrics,
    next_id: u64,
    /// Band points waiting to be stored ([`crate::bands`]), and the save
    /// in progress.
    bands: Vec<BandRow>,
    saving_bands: Option<tokio::task::JoinHandle<()>>,
}
impl Runner {
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Frame>,
        snapshots: Option<(ModelStore, std::time::Duration)>,
    ) {
        if let Some((models, _)) = &snapshots {
            self.load(models).await;
        }
        // Without snapshots this tick is disabled in the select below.
        let every = snapshots
            .as_ref()
            .map_or(std::time::Duration::from_secs(3600), |s| s.1);
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut band_tick = tokio::time::interval(BAND_FLUSH);
        band_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut saving: Option<tokio::task::JoinHandle<()>> = None;
        loop {
            tokio::select! {
                frame = rx.recv() => match frame {
                    Some(frame) => self.handle(frame).await,
                    None => break,
                },
                _ = band_tick.tick() => {
                    self.flush_bands(1, false);
                }
                _ = tick.tick(), if snapshots.is_some() => {
                    // One save at a time: a slow store skips a round rather
                    // than piling snapshots up in memory.
                    if saving.as_ref().is_some_and(|h| !h.is_finished()) {
                        continue;
                    }
                    let Some((models, _)) = &snapshots else { continue };
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
        if let Some((models, _)) = &snapshots {
            if let Some(h) = saving {
                let _ = h.await;
            }
            save(models, self.snapshots(), &self.metrics).await;
        }
        if let Some(last) = self.flush_bands(0, true) {
            let _ = last.await;
        }
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

    /// Every tracked series' model, and every host's multivariate model.
    fn snapshots(&self) -> Vec<ModelSnapshot> {
        let mut out = Vec::with_capacity(self.tracked + self.hosts.len());
        for (name, host) in &self.hosts {
            for (key, tracked) in &host.series {
                if key.name == POWER_BEYOND_CPU {
                    continue;
                }
                out.push(ModelSnapshot {
                    host: name.clone(),
                    series: serde_json::to_string(key.as_ref()).unwrap_or_default(),
                    model: tracked.engine.snapshot(),
                });
            }
            out.push(ModelSnapshot {
                host: name.clone(),
                series: HOST_MODEL.to_owned(),
                model: host.model.snapshot(),
            });
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
        self.flush_bands(BAND_BATCH, false);
    }

    /// Hands the band points gathered so far, if there are `at_least`, to a
    /// background save, one save at a time (a slow store lets them gather;
    /// past [`MAX_PENDING_BANDS`] the oldest are dropped and counted).
    /// `wait`: at shutdown, store what is left and return the save to wait
    /// for.
    fn flush_bands(&mut self, at_least: usize, wait: bool) -> Option<tokio::task::JoinHandle<()>> {
        let store = self.store.clone()?;
        if self.saving_bands.as_ref().is_some_and(|h| !h.is_finished()) && !wait {
            if self.bands.len() > MAX_PENDING_BANDS {
                let extra = self.bands.len() - MAX_PENDING_BANDS;
                self.bands.drain(..extra);
                self.metrics.bands_dropped.add(extra as u64);
            }
            return None;
        }
        if self.bands.len() < at_least.max(1) && !wait {
            return None;
        }
        let previous = self.saving_bands.take();
        let batch = std::mem::take(&mut self.bands);
        let metrics = self.metrics.clone();
        let task = tokio::spawn(async move {
            if let Some(p) = previous {
                let _ = p.await;
            }
            if batch.is_empty() {
                return;
            }
            match store.save_bands(&batch).await {
                Ok(()) => metrics.bands_stored.add(batch.len() as u64),
                Err(e) => {
                    metrics.bands_dropped.add(batch.len() as u64);
                    tracing::warn!(error = %e, points = batch.len(), "storing expected bands failed");
                }
            }
        });
        if wait {
            return Some(task);
        }
        self.saving_bands = Some(task);
        None
    }

    fn process(&mut self, sr: &StoredRows, changed: &mut Vec<AnomalyEvent>) {
        // Taken out for the loop (and put back with its key) so that a row
        // costs no host lookup and no allocation.
        let (name, mut host) = match self.hosts.remove_entry(&sr.host) {
            Some(entry) => entry,
            None => {
                let model =
                    host_model_for(&mut self.warm, &self.host_config, &self.metrics, &sr.host);
                (
                    sr.host.clone(),
                    Host {
                        series: HashMap::new(),
                        counters: HashSet::new(),
                        model,
                        instant: None,
                        features: Features::default(),
                        incident: None,
                        power: PowerGivenCpu::default(),
                        power_key: Arc::new(SeriesKey::new(POWER_BEYOND_CPU)),
                    },
                )
            }
        };
        for (key, _, _) in &sr.rows {
            if let Some(stem) = key.name.strip_suffix(RATE_SUFFIX) {
                if !host.counters.contains(stem) {
                    host.counters.insert(stem.to_owned());
                }
            }
        }
        self.process_rows(sr, &mut host, changed);
        // A batch ends with a whole collection: its last instant is complete.
        if let Some(t) = host.instant.take() {
            self.end_instant((&sr.host, &sr.site), &mut host, t, changed);
        }
        self.hosts.insert(name, host);
    }

    fn process_rows(&mut self, sr: &StoredRows, host: &mut Host, changed: &mut Vec<AnomalyEvent>) {
        for (key, t, v) in &sr.rows {
            if host.instant.is_some_and(|i| i != *t) {
                if let Some(done) = host.instant.take() {
                    self.end_instant((&sr.host, &sr.site), host, done, changed);
                }
            }
            host.instant = Some(*t);
            if let Some(f) = Feature::of(
                &key.name,
                !key.labels.is_empty(),
                key.labels.contains_key("cpu"),
            ) {
                host.features.observe(f, *v);
            }
            if host.counters.contains(&key.name) || CUMULATIVE.contains(&key.name.as_str()) {
                // A cumulative total: always at a new high, so every model
                // of "unusual" misreads it; its `.rate` twin carries the
                // same information and is what gets scored. (A first batch
                // has no rates yet: a model made then is dropped here.)
                if host.series.remove(key).is_some() {
                    self.tracked -= 1;
                }
                continue;
            }
            if !host.series.contains_key(key) {
                if self.tracked >= MAX_SERIES {
                    self.metrics.detection_skipped.inc();
                    continue;
                }
                self.tracked += 1;
                let engine = engine_for(&mut self.warm, &self.config, &self.metrics, &sr.host, key);
                host.series.insert(
                    key.clone(),
                    Tracked {
                        engine,
                        band: BandTrack::default(),
                        slot: None,
                        last_alarm: None,
                    },
                );
            }
            self.score_row((&sr.host, &sr.site), host, key, *t, *v, changed);
        }
    }

    /// Scores one row of a tracked series and lets the host's incident hear
    /// about it: the per-row step of [`Runner::process_rows`], also taken by
    /// the rows detection derives itself ([`POWER_BEYOND_CPU`]).
    fn score_row(
        &mut self,
        (name, site): (&str, &str),
        host: &mut Host,
        key: &Arc<SeriesKey>,
        t: i64,
        v: f64,
        changed: &mut Vec<AnomalyEvent>,
    ) {
        let Some(tracked) = host.series.get_mut(key) else {
            return;
        };
        self.metrics.detection_rows.inc();
        // Rows carry unix ms; the engine's clock is seconds (its
        // seasonal model learns points per day from the step).
        let out = tracked.engine.update(t.div_euclid(1000), v);
        // The derived series has no stored rows for a band to be drawn behind.
        if self.store.is_some() && key.name != POWER_BEYOND_CPU {
            if let Some(point) = tracked.band.observe(t, tracked.engine.band()) {
                self.bands.push(BandRow {
                    host: name.to_owned(),
                    key: key.clone(),
                    point,
                });
            }
        }
        let alarm = out.alarm && out.severity != Severity::None;
        if alarm && host.incident.as_ref().is_some_and(|inc| !inc.accepts()) {
            if let Some(mut old) = host.incident.take() {
                changed.extend(old.supersede());
            }
        }
        match (&mut host.incident, tracked.slot) {
            (Some(inc), Some((id, slot))) if inc.id() == id => inc.point(slot, t, &out),
            (Some(inc), _) if alarm => {
                tracked.slot = Some(inc.join(key, t, &out, tracked.last_alarm))
            }
            (None, _) if alarm => {
                // What was running when it started: the answer people
                // look for first, and gone by the time anyone asks the
                // host.
                let top = self
                    .state
                    .processes(name)
                    .map(|(_, list)| list.as_ref().clone())
                    .unwrap_or_default();
                let (inc, slot) = Incident::open(
                    self.next_id,
                    (name, site),
                    key,
                    t,
                    &out,
                    tracked.last_alarm,
                    top,
                );
                self.next_id += 1;
                host.incident = Some(inc);
                tracked.slot = Some(slot);
            }
            _ => {}
        }
        if alarm {
            tracked.last_alarm = Some(t);
        }
    }

    /// Every row of instant `t` is in: the host's derived power series and
    /// multivariate model score the instant, and the open incident hears
    /// about it.
    fn end_instant(
        &mut self,
        names: (&str, &str),
        host: &mut Host,
        t: i64,
        changed: &mut Vec<AnomalyEvent>,
    ) {
        let features = std::mem::take(&mut host.features);
        let residual = match (features.get(Feature::Cpu), features.get(Feature::Power)) {
            (Some(cpu), Some(power)) => host.power.update(cpu, power),
            _ => None,
        };
        if let Some(r) = residual {
            let key = host.power_key.clone();
            if !host.series.contains_key(&key) && self.tracked < MAX_SERIES {
                self.tracked += 1;
                host.series.insert(
                    key.clone(),
                    Tracked {
                        engine: Engine::new(self.config.clone()),
                        band: BandTrack::default(),
                        slot: None,
                        last_alarm: None,
                    },
                );
            }
            self.score_row(names, host, &key, t, r, changed);
        }
        let mv = if features.is_empty() {
            None
        } else {
            host.model.update(&features)
        };
        let Some(inc) = host.incident.as_mut() else {
            return;
        };
        if let Some(mv) = &mv {
            inc.multivariate(mv);
        }
        match inc.end_instant(t) {
            Step::Nothing => {}
            Step::Opened(ev) => {
                self.metrics.detection_events.inc();
                changed.push(ev);
            }
            Step::Publish(ev) => changed.push(ev),
            Step::Closed(ev) => {
                changed.extend(ev);
                host.incident = None;
            }
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

/// A new host's multivariate model: its snapshot when one was loaded and
/// still fits, else a cold one.
fn host_model_for(
    warm: &mut HashMap<String, HashMap<String, Vec<u8>>>,
    config: &HostConfig,
    metrics: &HubMetrics,
    host: &str,
) -> HostModel {
    let snapshot = warm
        .get_mut(host)
        .and_then(|per_host| per_host.remove(HOST_MODEL));
    match snapshot.map(|bytes| HostModel::restore(&bytes, config)) {
        Some(Some(model)) => {
            metrics.host_models_restored.inc();
            model
        }
        Some(None) => {
            metrics.models_discarded.inc();
            HostModel::new(config.clone())
        }
        None => HostModel::new(config.clone()),
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

    /// A series' value at minute `i`.
    type Curve = fn(i64) -> f64;

    /// Runs one host's series, one row each per minute, through `Offline`
    /// and returns the final version of each event: (leading series,
    /// evidence lines naming a series, closed).
    fn check(series: &[(&str, Curve)], expected: &[(&str, usize, bool)]) {
        let keys: Vec<_> = series
            .iter()
            .map(|(n, _)| Arc::new(SeriesKey::new(*n)))
            .collect();
        let mut offline = Offline::new();
        let mut last: std::collections::BTreeMap<u64, AnomalyEvent> = Default::default();
        for i in 0..1200i64 {
            let rows = keys
                .iter()
                .zip(series)
                .map(|(k, (_, f))| (k.clone(), i * 60_000, f(i)))
                .collect();
            let frame = [StoredRows {
                host: "h".into(),
                site: "s".into(),
                rows,
            }];
            for ev in offline.process(&frame) {
                last.insert(ev.id, ev);
            }
        }
        let got: Vec<(&str, usize, bool)> = last
            .values()
            .map(|e| {
                let named = e
                    .evidence
                    .iter()
                    .filter(|l| !l.starts_with("multivariate"))
                    .count();
                (e.name.as_str(), named, e.end_ms.is_some())
            })
            .collect();
        assert_eq!(got, expected, "{last:?}");
    }

    fn wave(i: i64) -> f64 {
        0.3 + 0.01 * ((i % 7) as f64)
    }

    #[test]
    fn one_problem_on_several_series_of_a_host_is_one_event() {
        // CPU and temperature jump together at minute 900: one incident,
        // led by the first series, with both in its evidence.
        check(
            &[
                ("system.cpu.utilization", |i| {
                    if (900..903).contains(&i) {
                        0.95
                    } else {
                        wave(i)
                    }
                }),
                ("hw.temperature", |i| {
                    50.0 + 100.0
                        * if (900..903).contains(&i) {
                            0.35
                        } else {
                            wave(i) - 0.3
                        }
                }),
                ("system.memory.utilization", wave),
            ],
            &[("system.cpu.utilization", 2, true)],
        );
    }

    #[test]
    fn power_the_cpu_does_not_explain_is_an_event_of_its_own() {
        // Power follows a load that swings between 0.1 and 0.9; at minute 900,
        // at a low load, it draws 80 W more for 3 minutes: still inside the
        // power series' own range (160..280 W), far off what the load explains.
        fn cpu(i: i64) -> f64 {
            0.5 + 0.4 * (i as f64 / 40.0).sin()
        }
        check(
            &[
                ("system.cpu.utilization", cpu),
                ("hw.power", |i| {
                    let surge = if (900..903).contains(&i) { 80.0 } else { 0.0 };
                    100.0 + 200.0 * cpu(i) + [0.0, 1.0, -1.0, 0.5, -0.5][i as usize % 5] + surge
                }),
            ],
            &[(POWER_BEYOND_CPU, 1, true)],
        );
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
