//! The edge's live view of every site: host status and a hot window of every
//! series in memory, plus the acked uplink seq per hub. Browsers are told of
//! each change over a broadcast channel; event news is also numbered in the
//! feed's log (`feed/log.rs`) for the alert service.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use common::headline::Headline;
use common::model::{
    sort_series, AnomalyEvent, HostStatus, KeyedRow, Point, RangeQuery, SeriesInfo, SeriesKey,
    SeriesPoints,
};
use tokio::sync::broadcast;

use crate::feed::log::{Bounds, FeedEntry, FeedLog};
use crate::feed::FEED_LOG_KEPT;

const LIVE_CAPACITY: usize = 4096;

#[derive(Default)]
struct HostEntry {
    status: HostStatus,
    hub_id: String,
    series: HashMap<Arc<SeriesKey>, VecDeque<Point>>,
}

impl HostEntry {
    fn refresh_headline(&mut self) {
        let h = Headline::from_latest(
            self.series
                .iter()
                .filter_map(|(k, pts)| pts.back().map(|p| (k.as_ref(), p.v))),
        );
        self.status.cpu_percent = h.cpu;
        self.status.memory_percent = h.memory;
        self.status.disk_percent = h.disk;
    }
}

/// Acked position of one hub's outbox.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HubCursor {
    pub epoch: u64,
    pub acked: u64,
}

pub struct Fleet {
    hot_window: Duration,
    max_points: usize,
    // std RwLock: short map updates, never held across an await.
    hosts: RwLock<HashMap<String, HostEntry>>,
    cursors: RwLock<HashMap<String, HubCursor>>,
    live: broadcast::Sender<HostStatus>,
    events: RwLock<Events>,
    event_live: broadcast::Sender<AnomalyEvent>,
    /// Names this run of the edge: feed seqs are only meaningful within it.
    feed_epoch: String,
}

/// Recent events and the numbered log of their news, under one lock so the
/// log's order is the order in which news was decided.
struct Events {
    /// Recent anomaly events of every hub, keyed by (hub, event id).
    recent: VecDeque<(String, AnomalyEvent)>,
    feed: FeedLog,
}

/// Anomaly events kept for `GET /api/v1/events`.
pub const EVENTS_KEPT: usize = 5000;

impl Fleet {
    pub fn new(hot_window: Duration, max_points: usize) -> Self {
        Self {
            hot_window,
            max_points,
            hosts: RwLock::new(HashMap::new()),
            cursors: RwLock::new(HashMap::new()),
            live: broadcast::channel(LIVE_CAPACITY).0,
            events: RwLock::new(Events {
                recent: VecDeque::new(),
                feed: FeedLog::new(FEED_LOG_KEPT),
            }),
            event_live: broadcast::channel(LIVE_CAPACITY).0,
            feed_epoch: format!("{:016x}", rand::random::<u64>()),
        }
    }

    /// The acked seq to welcome a hub with. A new epoch means the hub's outbox
    /// numbering started over, so the old position no longer applies.
    pub fn cursor_for(&self, hub_id: &str, epoch: u64) -> u64 {
        let mut cursors = self.cursors.write().unwrap_or_else(|p| p.into_inner());
        let c = cursors.entry(hub_id.to_owned()).or_default();
        if c.epoch != epoch {
            *c = HubCursor { epoch, acked: 0 };
        }
        c.acked
    }

    /// Records that `seq` of `hub_id` was applied. Returns false for a resend
    /// (seq at or below the acked one), which must not be applied twice.
    pub fn advance(&self, hub_id: &str, seq: u64) -> bool {
        let mut cursors = self.cursors.write().unwrap_or_else(|p| p.into_inner());
        let c = cursors.entry(hub_id.to_owned()).or_default();
        if seq <= c.acked {
            return false;
        }
        c.acked = seq;
        true
    }

    /// Host status from a hub (site, facts, counters); latest values stay ours.
    pub fn set_status(&self, hub_id: &str, st: HostStatus) {
        let mut hosts = self.hosts.write().unwrap_or_else(|p| p.into_inner());
        let e = hosts.entry(st.host.clone()).or_default();
        e.hub_id = hub_id.to_owned();
        let last_seen = e.status.last_seen_ms.max(st.last_seen_ms);
        e.status = HostStatus {
            last_seen_ms: last_seen,
            ..st
        };
        e.refresh_headline();
    }

    /// Applies rows of one host and tells browsers.
    pub fn apply(&self, hub_id: &str, host: &str, rows: &[KeyedRow]) {
        let status = {
            let mut hosts = self.hosts.write().unwrap_or_else(|p| p.into_inner());
            let e = hosts.entry(host.to_owned()).or_default();
            if e.status.host.is_empty() {
                e.status.host = host.to_owned();
            }
            e.hub_id = hub_id.to_owned();
            let mut newest = e.status.last_seen_ms;
            for (k, t, v) in rows {
                let pts = e.series.entry(k.clone()).or_default();
                // Rows arrive in order per series; an older one (a resend after a
                // cut) is placed where it belongs so ranges stay sorted.
                match pts.back() {
                    Some(last) if last.t > *t => {
                        let at = pts.partition_point(|p| p.t <= *t);
                        pts.insert(at, Point { t: *t, v: *v });
                    }
                    _ => pts.push_back(Point { t: *t, v: *v }),
                }
                newest = newest.max(*t);
            }
            let horizon = newest - self.hot_window.as_millis() as i64;
            for pts in e.series.values_mut() {
                while pts.len() > self.max_points || pts.front().is_some_and(|p| p.t < horizon) {
                    pts.pop_front();
                }
            }
            e.status.last_seen_ms = newest;
            e.status.rows_stored += rows.len() as u64;
            e.refresh_headline();
            e.status.clone()
        };
        let _ = self.live.send(status);
    }

    pub fn hosts(&self) -> Vec<HostStatus> {
        let hosts = self.hosts.read().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<_> = hosts.values().map(|e| e.status.clone()).collect();
        out.sort_by(|a, b| (&a.site, &a.host).cmp(&(&b.site, &b.host)));
        out
    }

    pub fn hub_of(&self, host: &str) -> Option<String> {
        let hosts = self.hosts.read().unwrap_or_else(|p| p.into_inner());
        hosts.get(host).map(|e| e.hub_id.clone())
    }

    /// None when the host is unknown.
    pub fn series(&self, host: &str) -> Option<Vec<SeriesInfo>> {
        let hosts = self.hosts.read().unwrap_or_else(|p| p.into_inner());
        let e = hosts.get(host)?;
        let mut out: Vec<_> = e
            .series
            .iter()
            .filter_map(|(k, pts)| pts.back().map(|p| SeriesInfo::latest(host, k, *p)))
            .collect();
        sort_series(&mut out, |s| (&s.name, &s.labels));
        Some(out)
    }

    /// Oldest time held in memory for a host (the hot window's start).
    pub fn oldest_ms(&self, host: &str) -> Option<i64> {
        let hosts = self.hosts.read().unwrap_or_else(|p| p.into_inner());
        hosts
            .get(host)?
            .series
            .values()
            .filter_map(|p| p.front().map(|p| p.t))
            .min()
    }

    /// Answers a range from memory.
    pub fn range(&self, q: &RangeQuery) -> Vec<SeriesPoints> {
        let hosts = self.hosts.read().unwrap_or_else(|p| p.into_inner());
        let Some(e) = hosts.get(&q.host) else {
            return Vec::new();
        };
        let mut out: Vec<SeriesPoints> = e
            .series
            .iter()
            .filter(|(k, _)| k.matches(&q.name, &q.labels))
            .map(|(k, pts)| SeriesPoints {
                host: q.host.clone(),
                name: k.name.clone(),
                labels: k.labels.clone(),
                points: pts
                    .iter()
                    .filter(|p| p.t >= q.from_ms && p.t <= q.to_ms)
                    .copied()
                    .collect(),
            })
            .collect();
        sort_series(&mut out, |s| (&s.name, &s.labels));
        out
    }

    pub fn subscribe(&self) -> broadcast::Receiver<HostStatus> {
        self.live.subscribe()
    }

    /// Records an event from `hub_id` (new, or a newer state of a known one).
    pub fn apply_event(&self, hub_id: &str, ev: AnomalyEvent) {
        let changed = {
            let mut events = self.events.write().unwrap_or_else(|p| p.into_inner());
            let changed = match events
                .recent
                .iter_mut()
                .find(|(h, e)| h == hub_id && e.id == ev.id)
            {
                Some((_, e)) if *e == ev => false,
                Some((_, e)) => {
                    *e = ev.clone();
                    true
                }
                None => {
                    events.recent.push_back((hub_id.to_owned(), ev.clone()));
                    while events.recent.len() > EVENTS_KEPT {
                        events.recent.pop_front();
                    }
                    true
                }
            };
            if changed {
                events.feed.push(hub_id, ev.clone());
            }
            changed
        };
        // A replay after a reconnect repeats known events; browsers hear only news.
        if changed {
            let _ = self.event_live.send(ev);
        }
    }

    /// Recent events, newest first, filtered by host and site when given.
    pub fn events(
        &self,
        host: Option<&str>,
        site: Option<&str>,
        limit: usize,
    ) -> Vec<AnomalyEvent> {
        let events = self.events.read().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<AnomalyEvent> = events
            .recent
            .iter()
            .map(|(_, e)| e)
            .filter(|e| host.is_none_or(|h| e.host == h) && site.is_none_or(|s| e.site == s))
            .cloned()
            .collect();
        out.sort_by_key(|e| std::cmp::Reverse(e.start_ms));
        out.truncate(limit);
        out
    }

    pub fn subscribe_events(&self) -> broadcast::Receiver<AnomalyEvent> {
        self.event_live.subscribe()
    }

    pub fn feed_epoch(&self) -> &str {
        &self.feed_epoch
    }

    /// Subscribes to new feed entries and reads the log's bounds at one
    /// instant: every entry after `last_seq` reaches the receiver, every one
    /// up to it is in the log (unless it has aged out since).
    pub fn feed_subscribe(&self) -> (broadcast::Receiver<Arc<FeedEntry>>, Bounds) {
        let events = self.events.read().unwrap_or_else(|p| p.into_inner());
        (events.feed.subscribe(), events.feed.bounds())
    }

    /// Up to `max` feed entries from seq `from` on, and the oldest seq held
    /// (above `from` when entries have left the log).
    pub fn feed_read(&self, from: u64, max: usize) -> (u64, Vec<Arc<FeedEntry>>) {
        let events = self.events.read().unwrap_or_else(|p| p.into_inner());
        (events.feed.bounds().first_seq, events.feed.read(from, max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resends_are_refused_and_new_epoch_resets() {
        let f = Fleet::new(Duration::from_secs(60), 100);
        assert_eq!(f.cursor_for("hub", 7), 0);
        assert!(f.advance("hub", 1));
        assert!(f.advance("hub", 2));
        assert!(!f.advance("hub", 2));
        assert_eq!(f.cursor_for("hub", 7), 2);
        assert_eq!(f.cursor_for("hub", 8), 0);
    }

    #[test]
    fn events_are_kept_by_hub_and_id_and_repeats_are_not_news() {
        let f = Fleet::new(Duration::from_secs(60), 100);
        let mut rx = f.subscribe_events();
        let ev = |id, host: &str, start, end| AnomalyEvent {
            id,
            host: host.into(),
            site: "s".into(),
            name: "m".into(),
            labels: Default::default(),
            start_ms: start,
            last_ms: start,
            end_ms: end,
            severity: "high".into(),
            score: 0.9,
            actual: 1.0,
            expected: None,
            evidence: Vec::new(),
            top_processes: Vec::new(),
        };
        f.apply_event("hub-a", ev(1, "h1", 10, None));
        f.apply_event("hub-b", ev(1, "h2", 20, None));
        f.apply_event("hub-a", ev(1, "h1", 10, None));
        f.apply_event("hub-a", ev(1, "h1", 10, Some(30)));
        let all = f.events(None, None, 10);
        assert_eq!(all.len(), 2, "same id from two hubs are two events");
        assert_eq!(all[0].host, "h2", "newest first");
        assert_eq!(f.events(Some("h1"), None, 10)[0].end_ms, Some(30));
        let mut news = 0;
        while rx.try_recv().is_ok() {
            news += 1;
        }
        assert_eq!(news, 3, "the unchanged repeat is not sent to browsers");
        let (_, logged) = f.feed_read(0, 10);
        let logged: Vec<(u64, &str, u64, Option<i64>)> = logged
            .iter()
            .map(|e| (e.seq, e.hub.as_str(), e.event.id, e.event.end_ms))
            .collect();
        assert_eq!(
            logged,
            vec![
                (1, "hub-a", 1, None),
                (2, "hub-b", 1, None),
                (3, "hub-a", 1, Some(30))
            ],
            "the feed numbers the same news, nothing else"
        );
        assert_eq!(f.feed_epoch().len(), 16);
    }

    #[test]
    fn window_trims_and_out_of_order_rows_stay_sorted() {
        let f = Fleet::new(Duration::from_secs(10), 100);
        let k = Arc::new(SeriesKey::new("system.cpu.utilization"));
        f.apply(
            "hub",
            "h",
            &[(k.clone(), 1_000, 0.1), (k.clone(), 5_000, 0.2)],
        );
        f.apply("hub", "h", &[(k.clone(), 3_000, 0.3)]);
        let q = RangeQuery {
            host: "h".into(),
            to_ms: i64::MAX,
            ..Default::default()
        };
        let ts: Vec<i64> = f.range(&q)[0].points.iter().map(|p| p.t).collect();
        assert_eq!(ts, vec![1_000, 3_000, 5_000]);
        f.apply("hub", "h", &[(k.clone(), 12_000, 0.4)]);
        let ts: Vec<i64> = f.range(&q)[0].points.iter().map(|p| p.t).collect();
        assert_eq!(ts, vec![3_000, 5_000, 12_000]);
        assert_eq!(f.hosts()[0].cpu_percent, Some(40.0));
    }
}
