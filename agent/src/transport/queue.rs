//! Batches of one host waiting for the hub's ack. Collection pushes, the
//! stream sends and acks pop. Bounded: when the hub is away longer than the
//! queue holds, the oldest batches are dropped and counted.
//!
//! Without a spool every pending batch lives in memory (`capacity` batches).
//! With a [`Spool`] the disk holds them all (within its byte budget) and
//! memory keeps only the newest few as a cache, so a caught-up stream never
//! reads the disk; a replay after an outage or a restart does.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};

use common::model::{KeyedRow, ProcessInfo};
use tokio::sync::Notify;

use super::spool::Spool;

/// Newest batches kept in memory beside the spool: two send windows.
const SPOOL_CACHE_BATCHES: usize = 2 * super::WINDOW;

/// (key, unix ms, value)
pub type Rows = Vec<KeyedRow>;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct QueueStats {
    pub produced_batches: u64,
    pub produced_rows: u64,
    pub acked_seq: u64,
    pub acked_batches: u64,
    pub dropped_batches: u64,
    pub rejected_batches: u64,
    pub pending: usize,
    pub last_seq: u64,
}

pub struct Queue {
    inner: Mutex<Inner>,
    notify: Notify,
    /// Wakes a producer waiting in [`Queue::wait_for_room`] when batches leave.
    room: Notify,
    capacity: usize,
    /// Beside the batches, the host's newest top-process list with a version
    /// number. Not queued and not spooled: only the newest list is worth
    /// sending, so the sender attaches it to its next batch when it changed.
    top: Mutex<(u64, Arc<Vec<ProcessInfo>>)>,
}

/// The sender attaches the top list at most this often per stream.
pub const TOP_EVERY_MS: i64 = 10_000;

struct Inner {
    /// Set when the collector stopped: nothing more will be pushed.
    closed: bool,
    next_seq: u64,
    /// Every pending batch, or with a spool the newest ones (a contiguous
    /// tail of what the spool holds).
    pending: VecDeque<(u64, Arc<Rows>)>,
    spool: Option<Spool>,
    stats: QueueStats,
    /// Highest seq handed to the sender since the last `welcome` (this stream).
    handed_out: u64,
    /// Batches dropped for room after they were handed out: they may still
    /// arrive. The hub handles one stream in order, so an ack at or above one
    /// of them, or a `welcome` whose stored seq reaches it, proves it stored;
    /// a `welcome` below it proves it lost. Only then is it counted, so the
    /// dropped count equals exactly what is missing downstream.
    dropped_in_flight: VecDeque<u64>,
}

impl Queue {
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                closed: false,
                next_seq: 1,
                pending: VecDeque::new(),
                spool: None,
                stats: QueueStats::default(),
                handed_out: 0,
                dropped_in_flight: VecDeque::new(),
            }),
            notify: Notify::new(),
            room: Notify::new(),
            capacity: capacity.max(1),
            top: Mutex::new((0, Arc::new(Vec::new()))),
        }
    }

    /// A queue backed by the spool in `dir` (at most `max_bytes`): reloads
    /// every unacked batch and continues numbering after the highest seq found.
    pub fn with_spool(dir: &Path, max_bytes: u64) -> std::io::Result<Self> {
        let (spool, last_seq) = Spool::open(dir, max_bytes)?;
        if spool.pending() > 0 {
            tracing::info!(dir = %dir.display(), pending = spool.pending(), last_seq, "reloaded unacked batches from the spool");
        }
        let q = Self::new(SPOOL_CACHE_BATCHES);
        {
            let mut inner = q.lock();
            inner.next_seq = last_seq + 1;
            inner.stats.last_seq = last_seq;
            inner.stats.acked_seq = spool.first_seq().map_or(last_seq, |s| s - 1);
            inner.spool = Some(spool);
        }
        Ok(q)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends a batch under the next seq and wakes the sender. With a spool
    /// this writes and fsyncs: call it off the async worker threads.
    pub fn push(&self, rows: Rows) -> u64 {
        let seq = {
            let mut guard = self.lock();
            let q = &mut *guard;
            let seq = q.next_seq;
            q.next_seq += 1;
            q.stats.produced_batches += 1;
            q.stats.produced_rows += rows.len() as u64;
            q.stats.last_seq = seq;
            if let Some(spool) = q.spool.as_mut() {
                match spool.append(seq, &rows) {
                    Ok(dropped) => {
                        for d in dropped {
                            Self::drop_seq(q, d);
                        }
                        q.pending.push_back((seq, Arc::new(rows)));
                    }
                    Err(e) => {
                        // Counted like an overflow: what is missing downstream
                        // still equals the dropped count.
                        tracing::error!(seq, error = %e, "could not write the batch to the spool; dropped");
                        q.stats.dropped_batches += 1;
                    }
                }
                Self::trim_cache(q);
            } else {
                q.pending.push_back((seq, Arc::new(rows)));
                while q.pending.len() > self.capacity {
                    if let Some((d, _)) = q.pending.pop_front() {
                        Self::drop_seq(q, d);
                    }
                }
            }
            seq
        };
        self.notify.notify_one();
        seq
    }

    /// Counts a batch dropped for room now, or once its fate is known if the
    /// sender already has it.
    fn drop_seq(q: &mut Inner, seq: u64) {
        if seq <= q.handed_out {
            q.dropped_in_flight.push_back(seq);
        } else {
            q.stats.dropped_batches += 1;
        }
    }

    /// Replaces the host's top-process list (an empty list is ignored).
    pub fn set_top(&self, list: Vec<ProcessInfo>) {
        if list.is_empty() {
            return;
        }
        let mut top = self.top.lock().unwrap_or_else(|p| p.into_inner());
        *top = (top.0 + 1, Arc::new(list));
    }

    /// The top list if it is newer than version `seen` (0 = never sent).
    pub fn top_since(&self, seen: u64) -> Option<(u64, Arc<Vec<ProcessInfo>>)> {
        let top = self.top.lock().unwrap_or_else(|p| p.into_inner());
        (top.0 > seen).then(|| (top.0, top.1.clone()))
    }

    /// The producer is done (shutdown); wakes the sender so it can finish.
    pub fn close(&self) {
        self.lock().closed = true;
        self.notify.notify_one();
    }

    /// Keeps the cache a contiguous, bounded tail of what the spool holds.
    fn trim_cache(q: &mut Inner) {
        let Some(spool) = &q.spool else { return };
        let first = spool.first_seq().unwrap_or(u64::MAX);
        while q.pending.len() > SPOOL_CACHE_BATCHES
            || q.pending.front().is_some_and(|(s, _)| *s < first)
        {
            q.pending.pop_front();
        }
    }

    fn pending_len(q: &Inner) -> usize {
        q.spool.as_ref().map_or(q.pending.len(), Spool::pending)
    }

    /// Closed and everything acked: a stopping stream may end.
    pub fn finished(&self) -> bool {
        let q = self.lock();
        q.closed && Self::pending_len(&q) == 0
    }

    /// Highest seq this agent holds (sent or not); 0 if none.
    pub fn last_seq(&self) -> u64 {
        self.lock().next_seq - 1
    }

    /// The hub stored everything up to `stored`: forget it, and never reuse
    /// those numbers (after an agent restart the hub's count is the truth).
    pub fn welcome(&self, stored: u64) {
        let mut q = self.lock();
        if q.next_seq <= stored {
            q.next_seq = stored + 1;
        }
        Self::ack_locked(&mut q, stored);
        // What the last stream carried beyond `stored` never arrived.
        let lost = q.dropped_in_flight.len() as u64;
        q.dropped_in_flight.clear();
        q.stats.dropped_batches += lost;
        q.handed_out = stored;
        drop(q);
        self.room.notify_waiters();
    }

    pub fn ack(&self, seq: u64) {
        let mut q = self.lock();
        Self::ack_locked(&mut q, seq);
        drop(q);
        self.room.notify_waiters();
    }

    fn ack_locked(q: &mut Inner, seq: u64) {
        while q.dropped_in_flight.front().is_some_and(|d| *d <= seq) {
            q.dropped_in_flight.pop_front();
            q.stats.acked_batches += 1;
        }
        let spooled = q.spool.is_some();
        while q.pending.front().is_some_and(|(s, _)| *s <= seq) {
            q.pending.pop_front();
            if !spooled {
                q.stats.acked_batches += 1;
            }
        }
        if let Some(spool) = q.spool.as_mut() {
            q.stats.acked_batches += spool.ack(seq) as u64;
        }
        q.stats.acked_seq = q.stats.acked_seq.max(seq);
    }

    /// Drops the oldest pending batch: the hub refused it as invalid, and
    /// resending it forever would block everything behind it.
    pub fn reject_head(&self) -> Option<u64> {
        let mut guard = self.lock();
        let q = &mut *guard;
        let seq = match q.spool.as_mut() {
            Some(spool) => {
                let seq = spool.skip_head()?;
                Self::trim_cache(q);
                seq
            }
            None => q.pending.pop_front()?.0,
        };
        q.stats.rejected_batches += 1;
        drop(guard);
        self.room.notify_waiters();
        Some(seq)
    }

    /// Up to `limit` batches with seq greater than `after`, oldest first.
    pub fn after(&self, after: u64, limit: usize) -> Vec<(u64, Arc<Rows>)> {
        let mut guard = self.lock();
        let out = Self::after_locked(&mut guard, after, limit);
        if let Some((last, _)) = out.last() {
            guard.handed_out = guard.handed_out.max(*last);
        }
        out
    }

    fn after_locked(q: &mut Inner, after: u64, limit: usize) -> Vec<(u64, Arc<Rows>)> {
        if let Some(spool) = q.spool.as_mut() {
            let Some(next) = spool.next_after(after) else {
                return Vec::new();
            };
            if q.pending.front().is_none_or(|(s, _)| *s > next) {
                // Older than the cache: replay from disk.
                let (read, lost) = spool.read_after(after, limit);
                q.stats.dropped_batches += lost as u64;
                Self::trim_cache(q);
                return read.into_iter().map(|(s, r)| (s, Arc::new(r))).collect();
            }
        }
        q.pending
            .iter()
            .filter(|(s, _)| *s > after)
            .take(limit)
            .cloned()
            .collect()
    }

    pub fn stats(&self) -> QueueStats {
        let q = self.lock();
        QueueStats {
            pending: Self::pending_len(&q),
            ..q.stats.clone()
        }
    }

    pub async fn notified(&self) {
        self.notify.notified().await;
    }

    /// Waits until at most `bound` batches are pending (or the queue is
    /// closed). A producer that can outrun the hub — a backfill — calls this
    /// before each push, so the bounded queue never drops its oldest batches.
    pub async fn wait_for_room(&self, bound: usize) {
        loop {
            // Registered before the check, so an ack in between is not missed.
            let notified = self.room.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let q = self.lock();
                if q.closed || Self::pending_len(&q) <= bound {
                    return;
                }
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn welcome_skips_stored_seqs_and_acks() {
        let q = Queue::new(10);
        assert_eq!(q.push(Vec::new()), 1);
        assert_eq!(q.push(Vec::new()), 2);
        q.welcome(1);
        assert_eq!(q.after(0, 10).len(), 1);
        // A restarted agent (empty queue) continues after the hub's count.
        let fresh = Queue::new(10);
        fresh.welcome(41);
        assert_eq!(fresh.push(Vec::new()), 42);
    }

    #[test]
    fn finished_only_when_closed_and_drained() {
        let q = Queue::new(10);
        q.push(Vec::new());
        q.close();
        assert!(
            !q.finished(),
            "a closed queue with a pending batch is not finished"
        );
        q.ack(1);
        assert!(q.finished());
        assert!(!Queue::new(1).finished(), "an open queue is never finished");
    }

    #[tokio::test]
    async fn wait_for_room_returns_once_acks_make_room() {
        let q = Arc::new(Queue::new(10));
        for _ in 0..4 {
            q.push(Vec::new());
        }
        q.wait_for_room(4).await;
        let waiter = tokio::spawn({
            let q = q.clone();
            async move { q.wait_for_room(2).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "4 pending is more than 2");
        q.ack(1);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "3 pending is still more than 2");
        q.ack(2);
        waiter.await.expect("woken by the ack");
    }

    #[test]
    fn overflow_drops_oldest_and_counts() {
        let q = Queue::new(2);
        for _ in 0..5 {
            q.push(Vec::new());
        }
        let seqs: Vec<u64> = q.after(0, 10).iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, vec![4, 5]);
        assert_eq!(q.stats().dropped_batches, 3);
        assert_eq!(q.reject_head(), Some(4));
        assert_eq!(q.stats().rejected_batches, 1);
    }

    #[test]
    fn a_batch_dropped_in_flight_counts_by_what_the_hub_says() {
        // Proven stored by a later ack on the same stream.
        let q = Queue::new(2);
        q.push(Vec::new());
        q.push(Vec::new());
        assert_eq!(q.after(0, 10).len(), 2, "1 and 2 handed out");
        q.push(Vec::new()); // drops 1, which is in flight
        assert_eq!(q.stats().dropped_batches, 0, "fate of 1 unknown yet");
        q.ack(2);
        let s = q.stats();
        assert_eq!((s.dropped_batches, s.acked_batches), (0, 2));

        // Proven lost by a welcome below it.
        let q = Queue::new(2);
        q.push(Vec::new());
        q.push(Vec::new());
        q.after(0, 10);
        q.push(Vec::new()); // drops 1 in flight
        q.push(Vec::new()); // drops 2 in flight
        q.welcome(1);
        let s = q.stats();
        assert_eq!(s.acked_batches, 1, "1 reached the hub");
        assert_eq!(s.dropped_batches, 1, "2 did not");
        // Not yet handed out on the new stream: counted at once.
        q.push(Vec::new()); // drops 3
        assert_eq!(q.stats().dropped_batches, 2);
    }
}
