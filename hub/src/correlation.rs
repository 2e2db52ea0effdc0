//! Periodic correlation of anomalies with load: every `correlation.every`
//! (10 min), over the last `correlation.window` (1 h), how each host's rate
//! of anomaly events moves with its mean load, across the fleet, within each
//! site and across sites — Pearson (linear) and Spearman (rank, ties
//! averaged) — and the hosts with the most anomalies per unit of load.
//!
//! Load is the host's headline CPU utilization (`system.cpu.utilization`,
//! as the dashboard shows it) sampled from the state every
//! `correlation.sample_every`; anomalies are the events detection opened in
//! the window (host-down events are left out: a silent host has no load).
//! A statistic that cannot be computed — fewer than 3 hosts, or a constant
//! series — is `null`, never NaN.
//!
//! Results: `GET /api/v1/correlations` on the hub's HTTP port (JSON, with
//! the window and sample sizes), `Query.Correlations` and the uplink's
//! correlations request ([`correlations_response`], which the gateway and
//! the edge serve as their own `GET /api/v1/correlations`), and gauges on
//! `/metrics`. The statistics run on the blocking pool,
//! away from ingest and from the async workers.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::State as AxumState;
use axum::Json;
use common::model::AnomalyEvent;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::freshness::{gauge, header, EVENT_NAME as HOST_DOWN};
use crate::state::State;
use crate::store::HistoryStore;
use crate::Ctx;

pub const DEFAULT_EVERY: Duration = Duration::from_secs(600);
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(3600);
pub const DEFAULT_SAMPLE_EVERY: Duration = Duration::from_secs(30);
pub const DEFAULT_TOP: usize = 10;
/// Load below which a host counts as this loaded when dividing by load, so
/// one anomaly on an idle host does not top the list by dividing by ~0.
pub const LOAD_FLOOR: f64 = 0.05;
/// Events read from history when the state's recent events do not reach
/// back to the window's start.
const MAX_STORED_EVENTS: usize = 100_000;
/// A host without data for this long is not sampled (its last value is
/// not its load now).
const STALE_MS: i64 = 5 * 60_000;
pub const LOAD_METRIC: &str = "system.cpu.utilization (headline, 0..1)";

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorrelationConfig {
    /// How often the analysis runs; 0 turns it off.
    #[serde(with = "common::config::duration_str")]
    pub every: Duration,
    /// When the first analysis runs after start; 0 (the default) = one
    /// `every` after start. The demo runs its first soon after start.
    #[serde(with = "common::config::duration_str")]
    pub first: Duration,
    /// The span each analysis looks back over.
    #[serde(with = "common::config::duration_str")]
    pub window: Duration,
    /// How often each host's load is sampled.
    #[serde(with = "common::config::duration_str")]
    pub sample_every: Duration,
    /// Hosts listed by anomalies per unit of load.
    pub top: usize,
}

impl Default for CorrelationConfig {
    fn default() -> Self {
        Self {
            every: DEFAULT_EVERY,
            first: Duration::ZERO,
            window: DEFAULT_WINDOW,
            sample_every: DEFAULT_SAMPLE_EVERY,
            top: DEFAULT_TOP,
        }
    }
}

impl CorrelationConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.every.is_zero() {
            return Ok(());
        }
        if self.sample_every.is_zero() || self.sample_every > self.every {
            return Err(
                "correlation.sample_every must be above 0 and at most correlation.every".into(),
            );
        }
        if self.window < self.every {
            return Err("correlation.window must be at least correlation.every".into());
        }
        Ok(())
    }
}

/// Pearson's r; `None` below 3 pairs or when either side is constant.
pub fn pearson(xs: &[f64], ys: &[f64]) -> Option<f64> {
    let n = xs.len();
    if n < 3 || ys.len() != n || xs.iter().chain(ys).any(|v| !v.is_finite()) {
        return None;
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / n as f64;
    let (mx, my) = (mean(xs), mean(ys));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in xs.iter().zip(ys) {
        let (dx, dy) = (x - mx, y - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    // Relative test: the deviations of a "constant" series of non-integers
    // are rounding noise, not variance.
    let tiny = |s: f64, m: f64| s <= 1e-24 * (1.0 + m * m) * n as f64;
    if tiny(sxx, mx) || tiny(syy, my) {
        return None;
    }
    Some((sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0))
}

/// Ranks from 1, tied values sharing the mean of their ranks.
pub fn ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut out = vec![0.0; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && v[order[j + 1]] == v[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            out[k] = rank;
        }
        i = j + 1;
    }
    out
}

/// Spearman's rho: Pearson's r of the ranks.
pub fn spearman(xs: &[f64], ys: &[f64]) -> Option<f64> {
    if xs.len() != ys.len() || xs.iter().chain(ys).any(|v| !v.is_finite()) {
        return None;
    }
    pearson(&ranks(xs), &ranks(ys))
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stat {
    /// Pairs the statistics were computed from.
    pub n: usize,
    pub pearson: Option<f64>,
    pub spearman: Option<f64>,
}

impl Stat {
    fn of(loads: &[f64], rates: &[f64]) -> Self {
        Self {
            n: loads.len(),
            pearson: pearson(loads, rates),
            spearman: spearman(loads, rates),
        }
    }
}

/// A host's load over the window and its anomalies in it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostRate {
    pub host: String,
    pub site: String,
    pub events: usize,
    pub anomalies_per_hour: f64,
    pub mean_load: f64,
    pub load_samples: u32,
    /// anomalies_per_hour / max(mean_load, LOAD_FLOOR).
    pub per_unit_load: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SiteStat {
    pub site: String,
    #[serde(flatten)]
    pub stat: Stat,
    pub events: usize,
    pub mean_load: f64,
    pub anomalies_per_host_hour: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub computed_ms: i64,
    pub window_start_ms: i64,
    pub window_end_ms: i64,
    pub load_metric: &'static str,
    /// Anomaly events in the window on hosts with load samples.
    pub events: usize,
    /// Events in the window on hosts never sampled (left out).
    pub events_without_load: usize,
    /// The events read did not reach back to the window's start: rates
    /// are lower bounds.
    pub events_truncated: bool,
    /// Across hosts of the whole fleet.
    pub fleet: Stat,
    /// Across sites (each site's mean load against its anomalies per host-hour).
    pub across_sites: Stat,
    /// Across hosts within each site.
    pub sites: Vec<SiteStat>,
    /// Hosts with events, most anomalies per unit of load first.
    pub top_per_load: Vec<HostRate>,
    pub hosts: Vec<HostRate>,
}

/// One host's mean load over the window: (host, site, mean, samples).
pub type LoadMean = (String, String, f64, u32);

/// The analysis itself, pure: loads and events in, report out.
pub fn analyse(
    window: (i64, i64),
    loads: &[LoadMean],
    events: &[AnomalyEvent],
    events_truncated: bool,
    top: usize,
) -> Report {
    let (start, end) = window;
    let hours = ((end - start) as f64 / 3_600_000.0).max(f64::MIN_POSITIVE);
    let mut per_host: HashMap<&str, usize> = HashMap::new();
    for ev in events {
        if ev.name != HOST_DOWN && (start..end).contains(&ev.start_ms) {
            *per_host.entry(ev.host.as_str()).or_default() += 1;
        }
    }
    let mut hosts: Vec<HostRate> = loads
        .iter()
        .map(|(host, site, load, samples)| {
            let events = per_host.remove(host.as_str()).unwrap_or(0);
            let rate = events as f64 / hours;
            HostRate {
                host: host.clone(),
                site: site.clone(),
                events,
                anomalies_per_hour: rate,
                mean_load: *load,
                load_samples: *samples,
                per_unit_load: rate / load.max(LOAD_FLOOR),
            }
        })
        .collect();
    hosts.sort_by(|a, b| {
        b.per_unit_load
            .total_cmp(&a.per_unit_load)
            .then_with(|| a.host.cmp(&b.host))
    });
    let pairs = |hs: &[&HostRate]| -> (Vec<f64>, Vec<f64>) {
        hs.iter()
            .map(|h| (h.mean_load, h.anomalies_per_hour))
            .unzip()
    };
    let all: Vec<&HostRate> = hosts.iter().collect();
    let (l, r) = pairs(&all);
    let fleet = Stat::of(&l, &r);
    let mut by_site: BTreeMap<&str, Vec<&HostRate>> = BTreeMap::new();
    for h in &hosts {
        by_site.entry(&h.site).or_default().push(h);
    }
    let sites: Vec<SiteStat> = by_site
        .iter()
        .map(|(site, hs)| {
            let (l, r) = pairs(hs);
            let events: usize = hs.iter().map(|h| h.events).sum();
            SiteStat {
                site: (*site).to_owned(),
                stat: Stat::of(&l, &r),
                events,
                mean_load: l.iter().sum::<f64>() / l.len() as f64,
                anomalies_per_host_hour: events as f64 / hs.len() as f64 / hours,
            }
        })
        .collect();
    let (sl, sr): (Vec<f64>, Vec<f64>) = sites
        .iter()
        .map(|s| (s.mean_load, s.anomalies_per_host_hour))
        .unzip();
    Report {
        computed_ms: end,
        window_start_ms: start,
        window_end_ms: end,
        load_metric: LOAD_METRIC,
        events: hosts.iter().map(|h| h.events).sum(),
        events_without_load: per_host.values().sum(),
        events_truncated,
        fleet,
        across_sites: Stat::of(&sl, &sr),
        sites,
        top_per_load: hosts
            .iter()
            .filter(|h| h.events > 0)
            .take(top)
            .cloned()
            .collect(),
        hosts,
    }
}

/// Per bucket start: sum of the samples and their count.
type Buckets = VecDeque<(i64, f64, u32)>;

/// Load samples per host, summed per `bucket_ms`, for the last window.
#[derive(Debug, Default)]
pub struct Loads {
    bucket_ms: i64,
    /// host → (site, buckets).
    hosts: HashMap<String, (String, Buckets)>,
}

impl Loads {
    pub fn new(bucket: Duration) -> Self {
        Self {
            bucket_ms: i64::try_from(bucket.as_millis()).unwrap_or(i64::MAX).max(1),
            hosts: HashMap::new(),
        }
    }

    pub fn sample(&mut self, now_ms: i64, host: &str, site: &str, load: f64) {
        if !load.is_finite() {
            return;
        }
        let bucket = now_ms.div_euclid(self.bucket_ms) * self.bucket_ms;
        let (s, buckets) = self
            .hosts
            .entry(host.to_owned())
            .or_insert_with(|| (site.to_owned(), VecDeque::new()));
        if s != site {
            site.clone_into(s);
        }
        match buckets.back_mut() {
            Some((b, sum, n)) if *b == bucket => {
                *sum += load;
                *n += 1;
            }
            _ => buckets.push_back((bucket, load, 1)),
        }
    }

    /// Mean load of every host sampled since `from_ms`; older samples are
    /// forgotten.
    pub fn means(&mut self, from_ms: i64) -> Vec<LoadMean> {
        let mut out = Vec::with_capacity(self.hosts.len());
        self.hosts.retain(|host, (site, buckets)| {
            while buckets.front().is_some_and(|(b, _, _)| *b < from_ms) {
                buckets.pop_front();
            }
            let (sum, n) = buckets
                .iter()
                .fold((0.0, 0u32), |(s, c), (_, sum, n)| (s + sum, c + n));
            if n > 0 {
                out.push((host.clone(), site.clone(), sum / f64::from(n), n));
            }
            !buckets.is_empty()
        });
        out
    }
}

/// The newest report, shared with the HTTP port.
#[derive(Debug)]
pub struct Board {
    config: CorrelationConfig,
    latest: RwLock<Option<Report>>,
}

impl Board {
    pub fn new(config: CorrelationConfig) -> Self {
        Self {
            config,
            latest: RwLock::new(None),
        }
    }

    pub fn latest(&self) -> Option<Report> {
        self.latest
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set(&self, r: Report) {
        *self.latest.write().unwrap_or_else(|p| p.into_inner()) = Some(r);
    }
}

/// `GET /api/v1/correlations`.
#[derive(Debug, Serialize)]
pub struct Answer {
    pub every_s: f64,
    pub window_s: f64,
    /// `null` until the first analysis (`first` after the hub starts, one
    /// `every` by default).
    pub report: Option<Report>,
}

pub async fn api(AxumState(ctx): AxumState<Arc<Ctx>>) -> Json<Answer> {
    let b = &ctx.correlations;
    Json(Answer {
        every_s: b.config.every.as_secs_f64(),
        window_s: b.config.window.as_secs_f64(),
        report: b.latest(),
    })
}

fn stat_to_proto(s: &Stat) -> proto::CorrelationStat {
    proto::CorrelationStat {
        n: u32::try_from(s.n).unwrap_or(u32::MAX),
        pearson: s.pearson,
        spearman: s.spearman,
    }
}

fn host_to_proto(h: &HostRate) -> proto::HostAnomalyRate {
    proto::HostAnomalyRate {
        host: h.host.clone(),
        site: h.site.clone(),
        events: u32::try_from(h.events).unwrap_or(u32::MAX),
        anomalies_per_hour: h.anomalies_per_hour,
        mean_load: h.mean_load,
        load_samples: h.load_samples,
        per_unit_load: h.per_unit_load,
    }
}

pub fn report_to_proto(r: &Report) -> proto::CorrelationReport {
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    proto::CorrelationReport {
        computed_ms: r.computed_ms,
        window_start_ms: r.window_start_ms,
        window_end_ms: r.window_end_ms,
        load_metric: r.load_metric.to_owned(),
        events: count(r.events),
        events_without_load: count(r.events_without_load),
        events_truncated: r.events_truncated,
        fleet: Some(stat_to_proto(&r.fleet)),
        across_sites: Some(stat_to_proto(&r.across_sites)),
        sites: r
            .sites
            .iter()
            .map(|s| proto::SiteCorrelation {
                site: s.site.clone(),
                stat: Some(stat_to_proto(&s.stat)),
                events: count(s.events),
                mean_load: s.mean_load,
                anomalies_per_host_hour: s.anomalies_per_host_hour,
            })
            .collect(),
        top_per_load: r.top_per_load.iter().map(host_to_proto).collect(),
        hosts: r.hosts.iter().map(host_to_proto).collect(),
    }
}

/// `Query.Correlations` and the uplink's correlations request: the newest
/// report with the hub's identity, so a caller asking many hubs can label
/// each answer.
pub fn correlations_response(ctx: &Ctx) -> proto::CorrelationsResponse {
    let b = &ctx.correlations;
    proto::CorrelationsResponse {
        hub_id: ctx.config.hub_id().to_owned(),
        site: ctx.config.site.clone(),
        every_s: b.config.every.as_secs_f64(),
        window_s: b.config.window.as_secs_f64(),
        report: b.latest().as_ref().map(report_to_proto),
    }
}

/// Appends the newest report's statistics to a `/metrics` page; a `null`
/// statistic has no sample rather than a NaN one.
pub fn render_metrics(board: &Board, out: &mut String) {
    let Some(r) = board.latest() else {
        return;
    };
    let mut scopes: Vec<(Vec<(&str, &str)>, &Stat)> = vec![
        (vec![("scope", "fleet")], &r.fleet),
        (vec![("scope", "sites")], &r.across_sites),
    ];
    for s in &r.sites {
        scopes.push((vec![("scope", "site"), ("site", &s.site)], &s.stat));
    }
    let name = "hostwatch_hub_anomaly_load_correlation";
    header(out, name, "Correlation between hosts' anomaly rate and mean load over the correlation window (method: pearson, spearman).");
    for (labels, stat) in &scopes {
        for (method, v) in [("pearson", stat.pearson), ("spearman", stat.spearman)] {
            if let Some(v) = v {
                let mut l = vec![("method", method)];
                l.extend(labels.iter().copied());
                gauge(out, name, &l, v);
            }
        }
    }
    let name = "hostwatch_hub_anomaly_load_sample_size";
    header(
        out,
        name,
        "Pairs (hosts, or sites for scope=sites) behind each correlation.",
    );
    for (labels, stat) in &scopes {
        gauge(out, name, labels, stat.n as f64);
    }
    let name = "hostwatch_hub_anomaly_load_computed_timestamp_seconds";
    header(out, name, "When the correlation analysis last ran.");
    gauge(out, name, &[], r.computed_ms as f64 / 1000.0);
}

/// Starts the actor when `every` is not zero.
pub fn spawn(
    board: Arc<Board>,
    state: Arc<State>,
    store: Arc<dyn HistoryStore>,
    shutdown: CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    let cfg = board.config.clone();
    if cfg.every.is_zero() {
        return None;
    }
    let actor = Actor {
        loads: Loads::new(cfg.every),
        cfg,
        board,
        state,
        store,
    };
    Some(tokio::spawn(
        actor
            .run(shutdown)
            .instrument(tracing::info_span!("correlation")),
    ))
}

struct Actor {
    cfg: CorrelationConfig,
    loads: Loads,
    board: Arc<Board>,
    state: Arc<State>,
    store: Arc<dyn HistoryStore>,
}

impl Actor {
    async fn run(mut self, shutdown: CancellationToken) {
        let mut sample = tokio::time::interval(self.cfg.sample_every);
        sample.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let first = if self.cfg.first.is_zero() {
            self.cfg.every
        } else {
            self.cfg.first
        };
        let start = tokio::time::Instant::now() + first;
        let mut analyse_tick = tokio::time::interval_at(start, self.cfg.every);
        analyse_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = sample.tick() => self.sample(),
                _ = analyse_tick.tick() => self.analyse().await,
            }
        }
    }

    fn sample(&mut self) {
        let now = common::now_ms();
        for h in self.state.hosts() {
            if let Some(cpu) = h.cpu_percent.filter(|_| now - h.last_seen_ms <= STALE_MS) {
                self.loads.sample(now, &h.host, &h.site, cpu / 100.0);
            }
        }
    }

    async fn analyse(&mut self) {
        let end = common::now_ms();
        let window_ms = i64::try_from(self.cfg.window.as_millis()).unwrap_or(i64::MAX);
        let start = end.saturating_sub(window_ms);
        let loads = self.loads.means(start);
        let (events, truncated) = self.events(start).await;
        let top = self.cfg.top;
        let report = tokio::task::spawn_blocking(move || {
            analyse((start, end), &loads, &events, truncated, top)
        })
        .await;
        match report {
            Ok(r) => {
                tracing::debug!(hosts = r.fleet.n, events = r.events, pearson = ?r.fleet.pearson, "anomaly/load correlation computed");
                self.board.set(r);
            }
            Err(e) => tracing::warn!(error = %e, "correlation analysis failed"),
        }
    }

    /// Events that may have started in the window, and whether they may be
    /// incomplete: the state's recent ones, else history's newest.
    async fn events(&self, start: i64) -> (Vec<AnomalyEvent>, bool) {
        let covers = |evs: &[AnomalyEvent], limit: usize| {
            evs.len() < limit || evs.iter().any(|e| e.start_ms < start)
        };
        let recent = self.state.events(None, crate::state::EVENTS_KEPT);
        if covers(&recent, crate::state::EVENTS_KEPT) {
            return (recent, false);
        }
        match self.store.events(MAX_STORED_EVENTS).await {
            Ok(stored) => {
                let full = covers(&stored, MAX_STORED_EVENTS);
                (stored, !full)
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading events for the correlation failed; using the recent ones");
                (recent, true)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(v: Option<f64>) -> Option<f64> {
        v.map(|v| (v * 1e4).round() / 1e4)
    }

    /// (x, y) → (pearson, spearman), to 4 decimals.
    fn check(xs: &[f64], ys: &[f64], expected: (Option<f64>, Option<f64>)) {
        let got = (round(pearson(xs, ys)), round(spearman(xs, ys)));
        assert_eq!(got, expected, "{xs:?} {ys:?}");
    }

    #[test]
    fn correlations_as_data() {
        check(
            &[1.0, 2.0, 3.0, 4.0],
            &[2.0, 4.0, 6.0, 8.0],
            (Some(1.0), Some(1.0)),
        );
        check(
            &[1.0, 2.0, 3.0, 4.0],
            &[8.0, 6.0, 4.0, 2.0],
            (Some(-1.0), Some(-1.0)),
        );
        // Monotone but not linear: Spearman sees it whole, Pearson not.
        check(
            &[1.0, 2.0, 3.0, 4.0, 5.0],
            &[1.0, 4.0, 9.0, 16.0, 100.0],
            (Some(0.7952), Some(1.0)),
        );
        // By hand: sxy 8, sxx 10, syy 10.
        check(
            &[1.0, 2.0, 3.0, 4.0, 5.0],
            &[2.0, 1.0, 4.0, 3.0, 5.0],
            (Some(0.8), Some(0.8)),
        );
        // Ties share their mean rank.
        check(
            &[1.0, 2.0, 2.0, 3.0],
            &[1.0, 2.0, 3.0, 4.0],
            (Some(0.9487), Some(0.9487)),
        );
        // Fewer than 3 pairs, a constant side, a NaN: no statistic.
        check(&[1.0, 2.0], &[1.0, 2.0], (None, None));
        check(&[1.0, 2.0, 3.0], &[5.0, 5.0, 5.0], (None, None));
        check(&[0.1, 0.1, 0.1], &[1.0, 2.0, 3.0], (None, None));
        check(&[1.0, f64::NAN, 3.0], &[1.0, 2.0, 3.0], (None, None));
        check(&[1.0, 2.0, 3.0], &[1.0, 2.0], (None, None));
    }

    #[test]
    fn ranks_average_ties() {
        assert_eq!(ranks(&[10.0, 20.0, 10.0, 30.0]), [1.5, 3.0, 1.5, 4.0]);
        assert_eq!(ranks(&[]), Vec::<f64>::new());
    }

    fn event(host: &str, name: &str, start_ms: i64) -> AnomalyEvent {
        AnomalyEvent {
            id: 1,
            host: host.into(),
            site: String::new(),
            name: name.into(),
            labels: Default::default(),
            start_ms,
            last_ms: start_ms,
            end_ms: None,
            severity: "low".into(),
            score: 0.9,
            actual: 1.0,
            expected: None,
            evidence: Vec::new(),
            top_processes: Vec::new(),
        }
    }

    #[test]
    fn the_report_counts_events_in_the_window_by_host_and_site() {
        const H: i64 = 3_600_000;
        let load = |h: &str, s: &str, l| (h.to_owned(), s.to_owned(), l, 10);
        let loads = [
            load("a", "eu", 0.2),
            load("b", "eu", 0.5),
            load("c", "eu", 0.9),
            load("d", "us", 0.01),
        ];
        let mut events = vec![
            event("c", "system.cpu.utilization", H + 10),
            event("c", "system.cpu.utilization", H + 20),
            event("c", "x", 2 * H - 1),
            event("b", "x", H + 5),
            // Outside the window, host-down, and a host never sampled.
            event("a", "x", H - 1),
            event("a", "x", 2 * H),
            event("a", HOST_DOWN, H + 1),
            event("zz", "x", H + 1),
        ];
        events.push(event("d", "x", H + 1));
        let r = analyse((H, 2 * H), &loads, &events, false, 2);
        let per: Vec<(&str, usize)> = r
            .hosts
            .iter()
            .map(|h| (h.host.as_str(), h.events))
            .collect();
        // d: 1 event / max(0.01, floor 0.05) = 20 per unit; c: 3 / 0.9; b: 1 / 0.5.
        assert_eq!(per, [("d", 1), ("c", 3), ("b", 1), ("a", 0)]);
        assert_eq!((r.events, r.events_without_load), (5, 1));
        let top: Vec<&str> = r.top_per_load.iter().map(|h| h.host.as_str()).collect();
        assert_eq!(top, ["d", "c"]);
        assert_eq!(r.fleet.n, 4);
        let eu = &r.sites[0];
        assert_eq!((eu.site.as_str(), eu.stat.n, eu.events), ("eu", 3, 4));
        // In eu, more load, more anomalies: ranks agree perfectly.
        assert_eq!(round(eu.stat.spearman), Some(1.0));
        // One host in us, and two sites: too few pairs.
        assert_eq!(
            (r.sites[1].stat.pearson, r.across_sites.pearson),
            (None, None)
        );
        let json = serde_json::to_value(&r).expect("json");
        assert!(json["across_sites"]["pearson"].is_null(), "null, not NaN");
    }

    #[test]
    fn loads_are_averaged_over_the_window_and_forgotten_after() {
        let mut l = Loads::new(Duration::from_secs(60));
        l.sample(0, "a", "eu", 0.2);
        l.sample(30_000, "a", "eu", 0.4);
        l.sample(90_000, "a", "eu", 0.9);
        l.sample(90_000, "b", "eu", f64::NAN);
        let round = |v: Vec<LoadMean>| -> Vec<(String, f64, u32)> {
            v.into_iter()
                .map(|(h, _, m, n)| (h, (m * 1e6).round() / 1e6, n))
                .collect()
        };
        assert_eq!(round(l.means(0)), [("a".to_owned(), 0.5, 3)]);
        assert_eq!(round(l.means(60_000)), [("a".to_owned(), 0.9, 1)]);
        assert!(l.means(120_000).is_empty());
    }

    #[test]
    fn bad_configs_are_refused() {
        CorrelationConfig::default().validate().expect("defaults");
        let c = CorrelationConfig {
            window: Duration::from_secs(60),
            ..Default::default()
        };
        assert!(c.validate().is_err());
        let off = CorrelationConfig {
            every: Duration::ZERO,
            ..Default::default()
        };
        off.validate().expect("off needs nothing else");
    }
}
