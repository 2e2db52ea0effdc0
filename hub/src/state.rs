//! Latest state of every host, in memory: the newest value of each series and
//! the delivery counters. Fed by the writer after each commit; read by the query
//! API. Live watchers get a `HostStatus` per stored batch over a broadcast channel
//! (a slow watcher lags and skips, it never slows ingest).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, RwLock};

use common::headline::Headline;
use common::model::{
    sort_series, AnomalyEvent, HostFacts, HostStatus, KeyedRow, Point, ProcessInfo, SeriesInfo,
    SeriesKey,
};
use rustc_hash::FxHashMap;
use tokio::sync::broadcast;

/// Updates buffered per live watcher before it starts skipping.
pub const LIVE_CAPACITY: usize = 4096;

#[derive(Debug, Default)]
struct HostEntry {
    site: String,
    agent_id: String,
    facts: HostFacts,
    last_seen_ms: i64,
    stored_seq: u64,
    rows_stored: u64,
    batches_stored: u64,
    /// FxHash: updated for every stored row.
    latest: FxHashMap<Arc<SeriesKey>, Point>,
    /// The newest top-process list and when the agent read it (not history).
    processes: Option<(i64, Arc<Vec<ProcessInfo>>)>,
}

impl HostEntry {
    fn status(&self, host: &str) -> HostStatus {
        let h = Headline::from_latest(self.latest.iter().map(|(k, p)| (k.as_ref(), p.v)));
        HostStatus {
            host: host.to_owned(),
            site: self.site.clone(),
            agent_id: self.agent_id.clone(),
            last_seen_ms: self.last_seen_ms,
            cpu_percent: h.cpu,
            memory_percent: h.memory,
            disk_percent: h.disk,
            stored_seq: self.stored_seq,
            rows_stored: self.rows_stored,
            batches_stored: self.batches_stored,
            facts: self.facts.clone(),
        }
    }
}

/// Recent anomaly events kept for the query API.
pub const EVENTS_KEPT: usize = 1000;

pub struct State {
    // std RwLock: critical sections are short map updates and never await.
    hosts: RwLock<HashMap<String, HostEntry>>,
    live: broadcast::Sender<HostStatus>,
    events: RwLock<VecDeque<AnomalyEvent>>,
    event_live: broadcast::Sender<AnomalyEvent>,
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}

impl State {
    pub fn new() -> Self {
        Self {
            hosts: RwLock::new(HashMap::new()),
            live: broadcast::channel(LIVE_CAPACITY).0,
            events: RwLock::new(VecDeque::new()),
            event_live: broadcast::channel(LIVE_CAPACITY).0,
        }
    }

    /// Keeps the host's newest top-process list (an agent sends one now and then).
    pub fn set_processes(&self, host: &str, at_ms: i64, list: Vec<ProcessInfo>) {
        let mut hosts = self.hosts.write().unwrap_or_else(|p| p.into_inner());
        hosts.entry(host.to_owned()).or_default().processes = Some((at_ms, Arc::new(list)));
    }

    /// The host's newest top-process list, if it ever sent one.
    pub fn processes(&self, host: &str) -> Option<(i64, Arc<Vec<ProcessInfo>>)> {
        let hosts = self.hosts.read().unwrap_or_else(|p| p.into_inner());
        hosts.get(host)?.processes.clone()
    }

    /// Records who a host is (on Hello, and when reloading from history).
    pub fn register(&self, host: &str, site: &str, agent_id: &str, facts: HostFacts) {
        let mut hosts = self.hosts.write().unwrap_or_else(|p| p.into_inner());
        let e = hosts.entry(host.to_owned()).or_default();
        e.site = site.to_owned();
        e.agent_id = agent_id.to_owned();
        e.facts = facts;
    }

    /// Restores ledger counters (seq, batches, rows) after a restart.
    pub fn restore_ledger(&self, host: &str, stored_seq: u64, batches: u64, rows: u64) {
        let mut hosts = self.hosts.write().unwrap_or_else(|p| p.into_inner());
        let e = hosts.entry(host.to_owned()).or_default();
        e.stored_seq = e.stored_seq.max(stored_seq);
        e.batches_stored = e.batches_stored.max(batches);
        e.rows_stored = e.rows_stored.max(rows);
    }

    /// Restores the newest values after a restart.
    pub fn restore_latest(&self, host: &str, latest: Vec<(SeriesKey, Point)>) {
        let mut hosts = self.hosts.write().unwrap_or_else(|p| p.into_inner());
        let e = hosts.entry(host.to_owned()).or_default();
        for (k, p) in latest {
            e.last_seen_ms = e.last_seen_ms.max(p.t);
            e.latest.insert(Arc::new(k), p);
        }
    }

    /// Applies rows that were just committed and tells live watchers.
    pub fn apply(&self, host: &str, seq: u64, rows: &[KeyedRow]) {
        let status = {
            let mut hosts = self.hosts.write().unwrap_or_else(|p| p.into_inner());
            let e = hosts.entry(host.to_owned()).or_default();
            e.stored_seq = e.stored_seq.max(seq);
            e.rows_stored += rows.len() as u64;
            e.batches_stored += 1;
            for (k, t, v) in rows {
                let point = Point { t: *t, v: *v };
                // One hash per row when the series is known (the usual case).
                match e.latest.get_mut(k) {
                    Some(p) if p.t <= *t => *p = point,
                    Some(_) => {}
                    None => {
                        e.latest.insert(k.clone(), point);
                    }
                }
                e.last_seen_ms = e.last_seen_ms.max(*t);
            }
            e.status(host)
        };
        // No receivers is normal (nobody watching).
        let _ = self.live.send(status);
    }

    pub fn hosts(&self) -> Vec<HostStatus> {
        let hosts = self.hosts.read().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<_> = hosts.iter().map(|(h, e)| e.status(h)).collect();
        out.sort_by(|a, b| (&a.site, &a.host).cmp(&(&b.site, &b.host)));
        out
    }

    pub fn host(&self, host: &str) -> Option<HostStatus> {
        let hosts = self.hosts.read().unwrap_or_else(|p| p.into_inner());
        hosts.get(host).map(|e| e.status(host))
    }

    pub fn site_of(&self, host: &str) -> Option<String> {
        let hosts = self.hosts.read().unwrap_or_else(|p| p.into_inner());
        hosts.get(host).map(|e| e.site.clone())
    }

    /// Series of a host with their newest values, sorted by key.
    pub fn series(&self, host: &str) -> Vec<SeriesInfo> {
        let hosts = self.hosts.read().unwrap_or_else(|p| p.into_inner());
        let Some(e) = hosts.get(host) else {
            return Vec::new();
        };
        let mut out: Vec<_> = e
            .latest
            .iter()
            .map(|(k, p)| SeriesInfo::latest(host, k, *p))
            .collect();
        sort_series(&mut out, |s| (&s.name, &s.labels));
        out
    }

    pub fn subscribe(&self) -> broadcast::Receiver<HostStatus> {
        self.live.subscribe()
    }

    /// Records an opened, worsened or closed incident and tells watchers.
    pub fn publish_event(&self, ev: AnomalyEvent) {
        {
            let mut events = self.events.write().unwrap_or_else(|p| p.into_inner());
            match events.iter_mut().find(|e| e.id == ev.id) {
                Some(e) => *e = ev.clone(),
                None => {
                    events.push_back(ev.clone());
                    while events.len() > EVENTS_KEPT {
                        events.pop_front();
                    }
                }
            }
        }
        let _ = self.event_live.send(ev);
    }

    /// Recent events, newest first, optionally of one host.
    pub fn events(&self, host: Option<&str>, limit: usize) -> Vec<AnomalyEvent> {
        let events = self.events.read().unwrap_or_else(|p| p.into_inner());
        events
            .iter()
            .rev()
            .filter(|e| host.is_none_or(|h| e.host == h))
            .take(limit)
            .cloned()
            .collect()
    }

    pub fn subscribe_events(&self) -> broadcast::Receiver<AnomalyEvent> {
        self.event_live.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_keeps_newest_value_and_counts_rows() {
        let s = State::new();
        s.register("h1", "eu", "a1", HostFacts::default());
        let cpu = Arc::new(SeriesKey::new("system.cpu.utilization"));
        let mut rx = s.subscribe();
        s.apply(
            "h1",
            1,
            &[(cpu.clone(), 2000, 0.5), (cpu.clone(), 1000, 0.9)],
        );
        let st = s.host("h1").expect("host known");
        assert_eq!(st.cpu_percent, Some(50.0));
        assert_eq!(st.rows_stored, 2);
        assert_eq!(st.stored_seq, 1);
        assert_eq!(st.last_seen_ms, 2000);
        assert_eq!(rx.try_recv().expect("live update").host, "h1");
    }
}
