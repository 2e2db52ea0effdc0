//! Frames stored by the hub but not yet acknowledged by the edge.
//!
//! Bounded either way: while the edge is away the newest `capacity` frames are
//! kept and older ones are dropped and counted
//! (`hostwatch_hub_uplink_outbox_dropped_total`); history itself is unaffected.
//!
//! - [`MemoryOutbox`] (embedded hub): lost on a hub restart, so each one has a
//!   fresh `epoch` that tells the edge the numbering started over.
//! - [`redis::RedisOutbox`] (hub with `REDIS_URL`): a Redis stream per hub, so
//!   frames waiting for the edge survive a hub restart and keep their seqs and
//!   epoch; the edge then misses nothing across a hub crash either.

pub mod redis;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use common::model::StoredRows;
use tokio::sync::Notify;

use crate::metrics::HubMetrics;
use crate::Result;

pub use self::redis::RedisOutbox;

pub type Frame = Arc<Vec<StoredRows>>;

pub enum Outbox {
    Memory(MemoryOutbox),
    Redis(RedisOutbox),
}

impl Outbox {
    pub fn epoch(&self) -> u64 {
        match self {
            Outbox::Memory(m) => m.epoch(),
            Outbox::Redis(r) => r.epoch(),
        }
    }

    /// Appends one frame and wakes the uplink.
    pub async fn push(&self, frame: Frame) {
        match self {
            Outbox::Memory(m) => {
                m.push(frame);
            }
            Outbox::Redis(r) => r.push(&frame).await,
        }
    }

    /// Forgets every frame up to and including `seq`.
    pub async fn ack(&self, seq: u64) -> Result<()> {
        match self {
            Outbox::Memory(m) => {
                m.ack(seq);
                Ok(())
            }
            Outbox::Redis(r) => r.ack(seq).await,
        }
    }

    /// Up to `limit` frames with seq greater than `after`, oldest first.
    pub async fn after(&self, after: u64, limit: usize) -> Result<Vec<(u64, Frame)>> {
        match self {
            Outbox::Memory(m) => Ok(m.after(after, limit)),
            Outbox::Redis(r) => r.after(after, limit).await,
        }
    }

    pub async fn len(&self) -> Result<usize> {
        match self {
            Outbox::Memory(m) => Ok(m.len()),
            Outbox::Redis(r) => r.len().await,
        }
    }

    /// Resolves after the next `push` (or at once if one happened unobserved).
    pub async fn notified(&self) {
        match self {
            Outbox::Memory(m) => m.notified().await,
            Outbox::Redis(r) => r.notified().await,
        }
    }
}

pub struct MemoryOutbox {
    inner: Mutex<Inner>,
    notify: Notify,
    capacity: usize,
    epoch: u64,
    metrics: HubMetrics,
}

struct Inner {
    next_seq: u64,
    frames: VecDeque<(u64, Frame)>,
}

impl MemoryOutbox {
    pub fn new(capacity: usize, metrics: HubMetrics) -> Self {
        Self {
            inner: Mutex::new(Inner {
                next_seq: 1,
                frames: VecDeque::new(),
            }),
            notify: Notify::new(),
            capacity: capacity.max(1),
            epoch: common::now_ms().max(1) as u64,
            metrics,
        }
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Appends one frame and wakes the uplink.
    pub fn push(&self, frame: Frame) -> u64 {
        let seq = {
            let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            let seq = inner.next_seq;
            inner.next_seq += 1;
            inner.frames.push_back((seq, frame));
            while inner.frames.len() > self.capacity {
                inner.frames.pop_front();
                self.metrics.uplink_outbox_dropped.inc();
            }
            seq
        };
        self.notify.notify_one();
        seq
    }

    /// Forgets every frame up to and including `seq`.
    pub fn ack(&self, seq: u64) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        while inner.frames.front().is_some_and(|(s, _)| *s <= seq) {
            inner.frames.pop_front();
            self.metrics.uplink_frames_acked.inc();
        }
    }

    /// Up to `limit` frames with seq greater than `after`, oldest first.
    pub fn after(&self, after: u64, limit: usize) -> Vec<(u64, Frame)> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner
            .frames
            .iter()
            .filter(|(s, _)| *s > after)
            .take(limit)
            .cloned()
            .collect()
    }

    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .frames
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Resolves after the next `push` (or at once if one happened unobserved).
    pub async fn notified(&self) {
        self.notify.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_after_and_capacity() {
        let m = HubMetrics::new();
        let o = MemoryOutbox::new(3, m.clone());
        for _ in 0..5 {
            o.push(Arc::new(Vec::new()));
        }
        assert_eq!(o.len(), 3);
        assert_eq!(m.uplink_outbox_dropped.get(), 2);
        let seqs: Vec<u64> = o.after(0, 10).iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, vec![3, 4, 5]);
        o.ack(4);
        let seqs: Vec<u64> = o.after(0, 10).iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, vec![5]);
        assert!(o.after(5, 10).is_empty());
    }
}
