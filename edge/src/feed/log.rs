//! The feed's change log: every piece of event news (a new event, or a new
//! state of a known one) numbered 1, 2, 3, … within the edge's epoch, the
//! newest `kept` of them held for clients that reconnect, and each told to
//! live subscribers as it is appended.

use std::collections::VecDeque;
use std::sync::Arc;

use common::model::AnomalyEvent;
use tokio::sync::broadcast;

/// News items a live subscriber may fall behind by before it lags and has to
/// read from the log instead.
pub const FEED_LIVE_CAPACITY: usize = 4096;

/// One numbered piece of event news.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedEntry {
    pub seq: u64,
    pub hub: String,
    pub event: AnomalyEvent,
}

/// The seqs the log holds: `first_seq..=last_seq`. Empty (nothing appended
/// yet) is `first_seq = last_seq + 1`; `last_seq` is 0 until the first entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub first_seq: u64,
    pub last_seq: u64,
}

pub struct FeedLog {
    entries: VecDeque<Arc<FeedEntry>>,
    next_seq: u64,
    kept: usize,
    live: broadcast::Sender<Arc<FeedEntry>>,
}

impl FeedLog {
    pub fn new(kept: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            next_seq: 1,
            kept: kept.max(1),
            live: broadcast::channel(FEED_LIVE_CAPACITY).0,
        }
    }

    /// Numbers `event`, keeps it (dropping the oldest beyond `kept`) and tells
    /// live subscribers. The caller holds the lock that guards the log, so
    /// subscribers see entries in seq order.
    pub fn push(&mut self, hub: &str, event: AnomalyEvent) {
        let entry = Arc::new(FeedEntry {
            seq: self.next_seq,
            hub: hub.to_owned(),
            event,
        });
        self.next_seq += 1;
        self.entries.push_back(entry.clone());
        while self.entries.len() > self.kept {
            self.entries.pop_front();
        }
        // No subscriber is not an error: the log still has the entry.
        let _ = self.live.send(entry);
    }

    pub fn bounds(&self) -> Bounds {
        Bounds {
            first_seq: self.entries.front().map_or(self.next_seq, |e| e.seq),
            last_seq: self.next_seq - 1,
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<FeedEntry>> {
        self.live.subscribe()
    }

    /// Up to `max` entries from seq `from` on (from the oldest held when
    /// `from` has left the log), in order.
    pub fn read(&self, from: u64, max: usize) -> Vec<Arc<FeedEntry>> {
        let first = self.bounds().first_seq;
        // Seqs in the log are consecutive, so a seq's place is its distance
        // from the oldest.
        let skip = usize::try_from(from.saturating_sub(first)).unwrap_or(usize::MAX);
        self.entries.iter().skip(skip).take(max).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: u64) -> AnomalyEvent {
        AnomalyEvent {
            id,
            host: "h".into(),
            site: "s".into(),
            name: "m".into(),
            labels: Default::default(),
            start_ms: 0,
            last_ms: 0,
            end_ms: None,
            severity: "low".into(),
            score: 0.5,
            actual: 1.0,
            expected: None,
            evidence: Vec::new(),
            top_processes: Vec::new(),
        }
    }

    fn seqs(entries: &[Arc<FeedEntry>]) -> Vec<u64> {
        entries.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn empty_log_bounds_say_what_comes_next() {
        let log = FeedLog::new(3);
        assert_eq!(
            log.bounds(),
            Bounds {
                first_seq: 1,
                last_seq: 0
            }
        );
        assert!(log.read(1, 10).is_empty());
    }

    #[test]
    fn seqs_count_up_and_the_oldest_leave_beyond_kept() {
        let mut log = FeedLog::new(3);
        let mut rx = log.subscribe();
        for id in 1..=5 {
            log.push("hub-a", event(id));
        }
        assert_eq!(
            log.bounds(),
            Bounds {
                first_seq: 3,
                last_seq: 5
            }
        );
        assert_eq!(seqs(&log.read(0, 10)), vec![3, 4, 5], "from before the log");
        assert_eq!(seqs(&log.read(4, 10)), vec![4, 5]);
        assert_eq!(seqs(&log.read(3, 2)), vec![3, 4], "at most max");
        assert!(log.read(6, 10).is_empty(), "past the newest");
        let live: Vec<u64> = std::iter::from_fn(|| rx.try_recv().ok().map(|e| e.seq)).collect();
        assert_eq!(live, vec![1, 2, 3, 4, 5], "subscribers hear every entry");
        assert_eq!(log.read(5, 1)[0].event.id, 5);
        assert_eq!(log.read(5, 1)[0].hub, "hub-a");
    }
}
