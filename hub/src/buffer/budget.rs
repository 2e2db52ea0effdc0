//! The byte budget of batches between "received" and "durable".
//!
//! Every stream handles one batch at a time, so without a budget the hub's
//! memory grows with the number of connected agents times their batch size
//! whenever the database stalls. The budget caps that sum: a batch waits
//! until its share is free, and while it waits its stream reads nothing more
//! (HTTP/2 flow control holds the agent back, the agent spools).

use std::sync::Arc;

use common::metrics::{Counter, Gauge};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::store::WriteBatch;

/// Permits are KiB, so budgets up to terabytes fit a `u32` acquire.
const UNIT: u64 = 1024;
/// Fixed overhead of one batch beside its rows (ids, strings, channel slots).
const BATCH_OVERHEAD: u64 = 256;

/// Approximate heap bytes a batch holds until it is durable. Series keys are
/// shared (`Arc`) with the stream's symbol table, which the series limit
/// already bounds, so only the rows count here.
pub fn cost(batch: &WriteBatch) -> u64 {
    BATCH_OVERHEAD
        + (batch.rows.len() * std::mem::size_of::<common::model::KeyedRow>()) as u64
        + batch.agent_id.len() as u64
        + batch.host.len() as u64
}

#[derive(Clone)]
pub struct Budget {
    inner: Arc<Inner>,
}

struct Inner {
    permits: Semaphore,
    total_units: u32,
    in_use: Gauge,
    waits: Counter,
}

/// Held while a batch is on its way; returns its share when dropped.
pub struct Held<'a> {
    /// `None` only if the semaphore were closed, which nothing does.
    _permit: Option<SemaphorePermit<'a>>,
    bytes: u64,
    in_use: &'a Gauge,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.in_use.add(-(self.bytes as f64));
    }
}

impl Budget {
    /// `bytes` is clamped to at least one unit.
    pub fn new(bytes: u64, in_use: Gauge, waits: Counter) -> Self {
        let total_units = u32::try_from(bytes.div_ceil(UNIT).max(1)).unwrap_or(u32::MAX);
        Self {
            inner: Arc::new(Inner {
                permits: Semaphore::new(total_units as usize),
                total_units,
                in_use,
                waits,
            }),
        }
    }

    /// Waits until `bytes` fit. A batch larger than the whole budget takes all
    /// of it (alone) rather than waiting forever.
    pub async fn reserve(&self, bytes: u64) -> Held<'_> {
        let inner = &*self.inner;
        let units = u32::try_from(bytes.div_ceil(UNIT).max(1))
            .unwrap_or(u32::MAX)
            .min(inner.total_units);
        let permit = match inner.permits.try_acquire_many(units) {
            Ok(p) => Some(p),
            Err(_) => {
                inner.waits.inc();
                inner.permits.acquire_many(units).await.ok()
            }
        };
        inner.in_use.add(bytes as f64);
        Held {
            _permit: permit,
            bytes,
            in_use: &inner.in_use,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn budget(bytes: u64) -> (Budget, Gauge, Counter) {
        let r = common::metrics::Registry::new();
        let g = r.gauge("in_use", "", &[]);
        let c = r.counter("waits", "", &[]);
        (Budget::new(bytes, g.clone(), c.clone()), g, c)
    }

    #[tokio::test]
    async fn a_full_budget_makes_the_next_batch_wait_until_one_is_done() {
        let (b, in_use, waits) = budget(10 * UNIT);
        let first = b.reserve(6 * UNIT).await;
        assert_eq!(in_use.get(), (6 * UNIT) as f64);
        let b2 = b.clone();
        let second = tokio::spawn(async move {
            let _h = b2.reserve(6 * UNIT).await;
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!second.is_finished(), "second batch must wait");
        assert_eq!(waits.get(), 1);
        drop(first);
        tokio::time::timeout(Duration::from_secs(5), second)
            .await
            .expect("second proceeds once the first is done")
            .expect("task");
        assert_eq!(in_use.get(), 0.0);
    }

    #[tokio::test]
    async fn a_batch_larger_than_the_budget_passes_alone() {
        let (b, _, _) = budget(4 * UNIT);
        let big = tokio::time::timeout(Duration::from_secs(5), b.reserve(100 * UNIT))
            .await
            .expect("does not wait forever");
        assert!(
            b.inner.permits.try_acquire().is_err(),
            "it holds everything"
        );
        drop(big);
        assert!(b.inner.permits.try_acquire().is_ok());
    }
}
