//! Frames stored by the hub but not yet acknowledged by the edge.
//!
//! In memory for now, bounded: while the edge is away the newest
//! `capacity` frames are kept and older ones are dropped and counted
//! (`hostwatch_hub_uplink_outbox_dropped_total`); history itself is unaffected.
//! Because it does not survive a hub restart, each outbox has an `epoch` that
//! tells the edge its numbering started over.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use common::model::StoredRows;
use tokio::sync::Notify;

use crate::metrics::HubMetrics;

pub type Frame = Arc<Vec<StoredRows>>;

pub struct Outbox {
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

impl Outbox {
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
        let o = Outbox::new(3, m.clone());
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
