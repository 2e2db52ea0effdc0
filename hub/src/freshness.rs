//! Freshness: seconds since the newest data of every host and site, and a
//! `host.down` event when a host misses `freshness.missed_intervals` of its
//! collection intervals.
//!
//! A host's interval is what it actually does when that is known (the median
//! of the last gaps between its stored batches, learned from the state's live
//! updates), else what the hub asks it for (`agent_interval(s)`), else
//! `freshness.assumed_interval`. The gauges give the age of the newest
//! sample (`last_seen_ms`, what the state already tracks); a host is silent
//! when its data stops *arriving* — a backfill of hour-old samples is a host
//! that is up — and, right after a restart (nothing arrived yet), from its
//! newest sample in history.
//!
//! A host-down event is an [`AnomalyEvent`] stored and published like
//! detection's (it reaches the uplink, the edge and alerts the same way) and
//! closed, with the whole silence as `actual`, when data newer than the
//! silence arrives.
//!
//! Restarts: the open events are in history and reloaded into the state
//! before this actor starts, so it adopts them instead of opening new ones;
//! and an event's id is a function of (host, start of the silence), so even
//! one that fell out of the reloaded window is re-opened under the id it
//! already has (an update, never a duplicate). Silence is counted from the
//! hub's own start at the earliest: a hub that was down for an hour gives
//! its agents `missed_intervals` to reconnect before calling them down.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use common::metrics::{Counter, Gauge};
use common::model::{AnomalyEvent, HostStatus};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::metrics::HubMetrics;
use crate::state::State;
use crate::store::HistoryStore;

pub const DEFAULT_MISSED_INTERVALS: u32 = 3;
pub const DEFAULT_CHECK_EVERY: Duration = Duration::from_secs(5);
/// The agent's own default is 1 s, but a host nobody configured and that
/// has not reported since the hub started could be on any interval: a
/// minute errs on the side of no false alarms.
pub const DEFAULT_ASSUMED_INTERVAL: Duration = Duration::from_secs(60);

pub const EVENT_NAME: &str = "host.down";
/// Host-down ids have this bit set. Detection numbers its events from
/// `now_ms * 1000` upwards, which stays below 2^52 until the year 2112;
/// keeping ours below 2^53 as well keeps every id exact in the dashboard's
/// JavaScript numbers. The other 52 bits hash (host, silence start).
pub const ID_FLAG: u64 = 1 << 52;
/// Gaps between batches whose median is a host's learned interval.
const GAPS_KEPT: usize = 5;
/// Gaps needed before the learned interval is trusted over the configured one.
const GAPS_NEEDED: usize = 3;
/// Hosts given their own freshness gauge at most (the hub has no agent
/// limit of its own); sites are always complete.
pub const MAX_HOST_GAUGES: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FreshnessConfig {
    /// Intervals without data after which a host is reported down; 0 turns
    /// host-down events off (the gauges stay).
    pub missed_intervals: u32,
    /// How often hosts are checked.
    #[serde(with = "common::config::duration_str")]
    pub check_every: Duration,
    /// Interval of a host whose interval is neither configured nor learned yet.
    #[serde(with = "common::config::duration_str")]
    pub assumed_interval: Duration,
}

impl Default for FreshnessConfig {
    fn default() -> Self {
        Self {
            missed_intervals: DEFAULT_MISSED_INTERVALS,
            check_every: DEFAULT_CHECK_EVERY,
            assumed_interval: DEFAULT_ASSUMED_INTERVAL,
        }
    }
}

impl FreshnessConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.check_every.is_zero() || self.assumed_interval.is_zero() {
            return Err(
                "freshness.check_every and freshness.assumed_interval must be above 0".into(),
            );
        }
        Ok(())
    }
}

/// What the tracker needs of one host at a check.
#[derive(Debug, Clone)]
pub struct HostView {
    pub host: String,
    pub site: String,
    /// Newest sample time, 0 if the host never sent data.
    pub last_seen_ms: i64,
    /// The interval the hub asks this agent for; zero when it keeps its own.
    pub configured: Duration,
}

#[derive(Debug, Default)]
struct Track {
    prev_seen: i64,
    gaps: VecDeque<i64>,
    /// When this hub last saw the host's data move forward (wall clock):
    /// a backfill sends old samples, but the host is up.
    arrived_ms: Option<i64>,
    open: Option<Open>,
}

#[derive(Debug)]
struct Open {
    ev: AnomalyEvent,
    /// `last_seen_ms` when it opened: newer data closes it.
    since: i64,
    /// The last sign of life before the silence (arrival, else sample time).
    quiet_from: i64,
}

/// The pure part: no clock, no I/O; time comes in as data.
#[derive(Debug)]
pub struct Tracker {
    cfg: FreshnessConfig,
    started_ms: i64,
    hosts: HashMap<String, Track>,
}

impl Tracker {
    pub fn new(cfg: FreshnessConfig, started_ms: i64) -> Self {
        Self {
            cfg,
            started_ms,
            hosts: HashMap::new(),
        }
    }

    /// Takes over open host-down events found in history (newest first, as
    /// the state lists them; an older open one of the same host is left).
    pub fn adopt(&mut self, events: impl IntoIterator<Item = AnomalyEvent>) {
        for ev in events {
            if ev.name != EVENT_NAME || ev.id & ID_FLAG == 0 || ev.end_ms.is_some() {
                continue;
            }
            let track = self.hosts.entry(ev.host.clone()).or_default();
            if track.open.is_none() {
                track.open = Some(Open {
                    since: ev.start_ms,
                    quiet_from: ev.start_ms,
                    ev,
                });
            }
        }
    }

    /// A host's stored data reached `last_seen_ms` (one call per batch),
    /// seen at `now_ms`.
    pub fn observe(&mut self, host: &str, last_seen_ms: i64, now_ms: i64) {
        let track = match self.hosts.get_mut(host) {
            Some(t) => t,
            None => self.hosts.entry(host.to_owned()).or_default(),
        };
        // Only forward steps say something about the interval: a replayed
        // or duplicate batch does not move last_seen.
        if last_seen_ms <= track.prev_seen {
            return;
        }
        if track.prev_seen > 0 {
            if track.gaps.len() == GAPS_KEPT {
                track.gaps.pop_front();
            }
            track.gaps.push_back(last_seen_ms - track.prev_seen);
        }
        track.prev_seen = last_seen_ms;
        track.arrived_ms = Some(now_ms);
    }

    /// The interval a host is judged by, in ms.
    pub fn interval_ms(&self, host: &str, configured: Duration) -> i64 {
        let learned = self.hosts.get(host).and_then(|t| {
            (t.gaps.len() >= GAPS_NEEDED).then(|| {
                let mut g: Vec<i64> = t.gaps.iter().copied().collect();
                g.sort_unstable();
                g[g.len() / 2]
            })
        });
        let fallback = if configured.is_zero() {
            self.cfg.assumed_interval
        } else {
            configured
        };
        learned.unwrap_or_else(|| ms(fallback)).max(1)
    }

    /// Open host-down events.
    pub fn down(&self) -> usize {
        self.hosts.values().filter(|t| t.open.is_some()).count()
    }

    /// Events opened or closed at `now_ms`.
    pub fn check(&mut self, now_ms: i64, hosts: &[HostView]) -> Vec<AnomalyEvent> {
        let mut changed = Vec::new();
        for h in hosts {
            let interval = self.interval_ms(&h.host, h.configured);
            let missed = self.cfg.missed_intervals;
            let started = self.started_ms;
            let track = self.hosts.entry(h.host.clone()).or_default();
            if let Some(open) = &mut track.open {
                let arrived = track.arrived_ms.filter(|&a| a > open.quiet_from);
                if arrived.is_some() || h.last_seen_ms > open.since {
                    let back = arrived.unwrap_or(h.last_seen_ms);
                    let silent_ms = back - open.quiet_from;
                    let ev = &mut open.ev;
                    ev.end_ms = Some(back);
                    ev.last_ms = back;
                    ev.actual = secs(silent_ms);
                    ev.evidence = vec![
                        silence(silent_ms, missed, interval),
                        format!("data again after {}", fmt_secs(silent_ms)),
                    ];
                    changed.push(ev.clone());
                    track.open = None;
                }
                continue;
            }
            if missed == 0 {
                continue;
            }
            // The newest sign of life: data arriving, else (right after a
            // restart) the newest sample in history, else nothing at all.
            let alive = track
                .arrived_ms
                .unwrap_or(h.last_seen_ms)
                .max(h.last_seen_ms.min(now_ms));
            let quiet_from = if alive > 0 { alive } else { started };
            // The hub's own downtime is not the host's: count from our start.
            if now_ms - quiet_from.max(started) <= i64::from(missed) * interval {
                continue;
            }
            let since = if h.last_seen_ms > 0 {
                h.last_seen_ms
            } else {
                started
            };
            let silent_ms = now_ms - quiet_from;
            let ev = AnomalyEvent {
                id: event_id(&h.host, since),
                host: h.host.clone(),
                site: h.site.clone(),
                name: EVENT_NAME.to_owned(),
                labels: Default::default(),
                start_ms: since,
                last_ms: now_ms,
                end_ms: None,
                severity: "high".to_owned(),
                score: 1.0,
                actual: secs(silent_ms),
                expected: Some(secs(interval)),
                evidence: vec![silence(silent_ms, missed, interval)],
                top_processes: Vec::new(),
            };
            changed.push(ev.clone());
            track.open = Some(Open {
                ev,
                since,
                quiet_from,
            });
        }
        changed
    }
}

/// Deterministic, so the same silence has the same id after a restart.
pub fn event_id(host: &str, since_ms: i64) -> u64 {
    let mut h = Sha256::new();
    h.update(host.as_bytes());
    h.update([0]);
    h.update(since_ms.to_be_bytes());
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    ID_FLAG | (u64::from_be_bytes(b) & (ID_FLAG - 1))
}

fn silence(silent_ms: i64, missed: u32, interval_ms: i64) -> String {
    format!(
        "no data for {} ({missed} intervals of {})",
        fmt_secs(silent_ms),
        fmt_secs(interval_ms)
    )
}

fn fmt_secs(ms: i64) -> String {
    if ms % 1000 == 0 || ms >= 10_000 {
        format!("{} s", (ms as f64 / 1000.0).round())
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

fn secs(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The tracker's view of the state's hosts.
fn views(config: &crate::Config, hosts: &[HostStatus]) -> Vec<HostView> {
    hosts
        .iter()
        .map(|h| HostView {
            host: h.host.clone(),
            site: h.site.clone(),
            last_seen_ms: h.last_seen_ms,
            configured: config.interval_for(&h.agent_id),
        })
        .collect()
}

/// Starts the actor; it stops when `shutdown` is cancelled.
pub fn spawn(
    config: &crate::Config,
    state: Arc<State>,
    store: Arc<dyn HistoryStore>,
    metrics: &HubMetrics,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let actor = Actor {
        config: config.clone(),
        // Subscribed before the first check so that no batch between the
        // two goes unobserved.
        live: state.subscribe(),
        tracker: Tracker::new(config.freshness.clone(), common::now_ms()),
        state,
        store,
        down: metrics.registry.gauge(
            "hostwatch_hub_hosts_down",
            "Hosts with an open host.down event (silent for freshness.missed_intervals).",
            &[],
        ),
        opened: metrics.registry.counter(
            "hostwatch_hub_host_down_events_total",
            "host.down events opened.",
            &[],
        ),
        storage_errors: metrics.storage_errors.clone(),
    };
    tokio::spawn(
        actor
            .run(shutdown)
            .instrument(tracing::info_span!("freshness")),
    )
}

struct Actor {
    config: crate::Config,
    live: tokio::sync::broadcast::Receiver<HostStatus>,
    tracker: Tracker,
    state: Arc<State>,
    store: Arc<dyn HistoryStore>,
    down: Gauge,
    opened: Counter,
    storage_errors: Counter,
}

impl Actor {
    async fn run(mut self, shutdown: CancellationToken) {
        self.tracker
            .adopt(self.state.events(None, crate::state::EVENTS_KEPT));
        self.down.set(self.tracker.down() as f64);
        let mut tick = tokio::time::interval(self.config.freshness.check_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                st = self.live.recv() => match st {
                    Ok(st) => self.tracker.observe(&st.host, st.last_seen_ms, common::now_ms()),
                    // Skipped updates make one long gap; the median of the
                    // last few gaps shrugs it off.
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => break,
                },
                _ = tick.tick() => self.check().await,
            }
        }
    }

    async fn check(&mut self) {
        let hosts = views(&self.config, &self.state.hosts());
        for ev in self.tracker.check(common::now_ms(), &hosts) {
            if ev.end_ms.is_none() {
                self.opened.inc();
                tracing::warn!(host = %ev.host, evidence = %ev.evidence.join("; "), "host down");
            } else {
                tracing::info!(host = %ev.host, evidence = %ev.evidence.join("; "), "host back");
            }
            // As detection does it: history first, then watchers and the uplink.
            if let Err(e) = self.store.upsert_event(&ev).await {
                self.storage_errors.inc();
                tracing::warn!(error = %e, id = ev.id, "storing a host-down event failed");
            }
            self.state.publish_event(ev);
        }
        self.down.set(self.tracker.down() as f64);
    }
}

/// Appends the per-host and per-site freshness gauges to a `/metrics` page.
pub fn render_metrics(hosts: &[HostStatus], now_ms: i64, out: &mut String) {
    let mut sites: std::collections::BTreeMap<&str, i64> = Default::default();
    header(
        out,
        "hostwatch_hub_host_freshness_seconds",
        "Seconds since the newest sample of the host (hosts that sent data).",
    );
    for (i, h) in hosts.iter().filter(|h| h.last_seen_ms > 0).enumerate() {
        let newest = sites.entry(&h.site).or_insert(h.last_seen_ms);
        *newest = (*newest).max(h.last_seen_ms);
        if i < MAX_HOST_GAUGES {
            gauge(
                out,
                "hostwatch_hub_host_freshness_seconds",
                &[("host", &h.host), ("site", &h.site)],
                secs((now_ms - h.last_seen_ms).max(0)),
            );
        }
    }
    header(
        out,
        "hostwatch_hub_site_freshness_seconds",
        "Seconds since the newest sample of any host of the site.",
    );
    for (site, newest) in sites {
        gauge(
            out,
            "hostwatch_hub_site_freshness_seconds",
            &[("site", site)],
            secs((now_ms - newest).max(0)),
        );
    }
}

/// `# HELP` and `# TYPE … gauge` of a family rendered outside the registry.
pub(crate) fn header(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
}

/// One gauge sample, label values escaped as the text format wants.
pub(crate) fn gauge(out: &mut String, name: &str, labels: &[(&str, &str)], v: f64) {
    let _ = write!(out, "{name}{{");
    for (i, (k, val)) in labels.iter().enumerate() {
        let val = val
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        let _ = write!(out, "{}{k}=\"{val}\"", if i > 0 { "," } else { "" });
    }
    let _ = writeln!(out, "}} {v}");
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    /// What happens at a check: (now, last_seen) → events as
    /// (start, end, actual seconds), with the hub started at 0.
    #[derive(Debug, PartialEq)]
    struct Seen {
        start_ms: i64,
        end_ms: Option<i64>,
        actual: f64,
    }

    /// Feeds each step as a check (with `observe` of every new last_seen
    /// first), for one host configured at `configured`, and returns the
    /// changed events of every step.
    fn check(configured: Duration, steps: &[(i64, i64)], expected: Vec<Vec<Seen>>) {
        let mut t = Tracker::new(FreshnessConfig::default(), 0);
        let got: Vec<Vec<Seen>> = steps
            .iter()
            .map(|&(now, seen)| {
                t.observe("h", seen, now);
                let view = HostView {
                    host: "h".into(),
                    site: "s".into(),
                    last_seen_ms: seen,
                    configured,
                };
                t.check(now, &[view])
                    .into_iter()
                    .map(|e| Seen {
                        start_ms: e.start_ms,
                        end_ms: e.end_ms,
                        actual: e.actual,
                    })
                    .collect()
            })
            .collect();
        assert_eq!(got, expected);
    }

    fn open(start_ms: i64, actual: f64) -> Seen {
        Seen {
            start_ms,
            end_ms: None,
            actual,
        }
    }

    fn closed(start_ms: i64, end_ms: i64, actual: f64) -> Seen {
        Seen {
            start_ms,
            end_ms: Some(end_ms),
            actual,
        }
    }

    #[test]
    fn down_after_three_missed_intervals_and_closed_when_data_returns() {
        // Configured 1 min, reporting every minute up to 10 min, then quiet.
        let mut steps: Vec<(i64, i64)> = (1..=10).map(|m| (m * MIN, m * MIN)).collect();
        steps.extend([
            (13 * MIN, 10 * MIN),        // exactly 3 intervals: not yet
            (13 * MIN + 5000, 10 * MIN), // past 3: down, 185 s silent
            (14 * MIN, 10 * MIN),        // still down: no news
            (17 * MIN, 17 * MIN),        // back: closed, 7 min silent
            (18 * MIN, 18 * MIN),        // nothing more
        ]);
        let mut want: Vec<Vec<Seen>> = (0..11).map(|_| vec![]).collect();
        want.extend([
            vec![open(10 * MIN, 185.0)],
            vec![],
            vec![closed(10 * MIN, 17 * MIN, 420.0)],
            vec![],
        ]);
        check(Duration::from_secs(60), &steps, want);
    }

    #[test]
    fn the_learned_interval_wins_over_the_configured_one() {
        // Configured 1 min but actually reporting every 10 s: down after 30 s.
        let mut steps: Vec<(i64, i64)> = (1..=6).map(|i| (i * 10_000, i * 10_000)).collect();
        steps.push((95_000, 60_000));
        let mut want: Vec<Vec<Seen>> = (0..6).map(|_| vec![]).collect();
        want.push(vec![open(60_000, 35.0)]);
        check(Duration::from_secs(60), &steps, want);
    }

    #[test]
    fn a_backfill_is_a_host_that_is_up() {
        // Data an hour old, arriving every minute: stale samples, live host.
        let steps: Vec<(i64, i64)> = (61..=70).map(|m| (m * MIN, (m - 60) * MIN)).collect();
        check(
            Duration::from_secs(60),
            &steps,
            (0..10).map(|_| vec![]).collect(),
        );
    }

    #[test]
    fn unknown_interval_uses_the_assumed_one_and_hub_downtime_is_forgiven() {
        // Last data at 10 min, long before the hub started (at 60 min):
        // silence counts from the start, with the assumed minute as interval.
        let mut t = Tracker::new(FreshnessConfig::default(), 60 * MIN);
        // No observe here: the host was only restored from history.
        let got: Vec<Vec<f64>> = [60 * MIN, 63 * MIN, 63 * MIN + 1]
            .into_iter()
            .map(|now| {
                let view = HostView {
                    host: "h".into(),
                    site: "s".into(),
                    last_seen_ms: 10 * MIN,
                    configured: Duration::ZERO,
                };
                t.check(now, &[view]).iter().map(|e| e.actual).collect()
            })
            .collect();
        let want: [&[f64]; 3] = [&[], &[], &[(53 * MIN + 1) as f64 / 1000.0]];
        assert_eq!(got, want);
    }

    #[test]
    fn adopted_events_are_not_opened_again_and_ids_are_stable_and_disjoint() {
        let mut first = Tracker::new(FreshnessConfig::default(), 0);
        let view = HostView {
            host: "h".into(),
            site: "s".into(),
            last_seen_ms: MIN,
            configured: Duration::from_secs(60),
        };
        let opened = first.check(10 * MIN, std::slice::from_ref(&view));
        assert_eq!(opened.len(), 1);
        // A restart: the open event comes back from history.
        let mut second = Tracker::new(FreshnessConfig::default(), 11 * MIN);
        second.adopt(opened.clone());
        assert_eq!(second.down(), 1);
        assert!(second
            .check(20 * MIN, std::slice::from_ref(&view))
            .is_empty());
        // Had it fallen out of the reloaded events, it re-opens under its id.
        let mut third = Tracker::new(FreshnessConfig::default(), 11 * MIN);
        let again = third.check(20 * MIN, std::slice::from_ref(&view));
        assert_eq!(again[0].id, opened[0].id);
        // Detection's ids (now_ms * 1000 + n) never have the flag bit until 2112.
        let detection_id = 4_102_444_800_000u64 * 1000; // 2100-01-01
        assert_eq!(detection_id & ID_FLAG, 0);
        assert_ne!(opened[0].id & ID_FLAG, 0);
        assert!(opened[0].id < 1 << 53, "exact in JavaScript");
        assert_ne!(event_id("h", MIN), event_id("h", 2 * MIN));
        assert_ne!(event_id("h", MIN), event_id("g", MIN));
    }

    #[test]
    fn evidence_names_the_silence_and_the_rule() {
        let mut t = Tracker::new(FreshnessConfig::default(), 0);
        let view = HostView {
            host: "h".into(),
            site: "s".into(),
            last_seen_ms: MIN,
            configured: Duration::from_secs(60),
        };
        let ev = t.check(MIN + 185_000, &[view]).remove(0);
        assert_eq!(ev.evidence, ["no data for 185 s (3 intervals of 60 s)"]);
        assert_eq!((ev.severity.as_str(), ev.expected), ("high", Some(60.0)));
    }

    #[test]
    fn metrics_give_hosts_and_the_newest_host_of_each_site() {
        let host = |host: &str, site: &str, last_seen_ms| HostStatus {
            host: host.into(),
            site: site.into(),
            last_seen_ms,
            ..Default::default()
        };
        let hosts = [
            host("a", "eu", 7_000),
            host("b", "eu", 9_000),
            host("c", "us", 0),
        ];
        let mut out = String::new();
        render_metrics(&hosts, 10_000, &mut out);
        assert!(out.contains("hostwatch_hub_host_freshness_seconds{host=\"a\",site=\"eu\"} 3\n"));
        assert!(out.contains("hostwatch_hub_site_freshness_seconds{site=\"eu\"} 1\n"));
        assert!(
            !out.contains("\"us\""),
            "a host that never sent data has no age"
        );
    }
}
