//! Backfill: history for the simulated hosts from `start − backfill` up to
//! `start`, one batch per step, generated as fast as the hub acks it; then the
//! hosts go live. A backfill that ends now (no `start` in the past) also fills
//! in the time it took itself, up to a step ago, so the history has no hole
//! where the backfill ran ([`caught_up_steps`]).
//!
//! The agent's queue drops its oldest batch when full — right for a hub that
//! is away, wrong for a producer that can outrun any hub. So a backfilling host
//! waits while more than [`MAX_PENDING`] of its batches are unacked: memory stays
//! bounded and nothing is dropped. Every step's timestamp comes from the
//! [`Plan`], never from the clock, so the same seed, scenario and start give the
//! same history.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::source::Source;
use crate::transport::Queue;
use crate::{Config, Error, Result, RowBuilder};

/// Unacked batches a backfilling host may have before it waits: two send windows.
pub const MAX_PENDING: usize = 2 * crate::transport::WINDOW;
/// How often progress is logged.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// Steps collected per trip to the blocking pool.
pub(crate) const CHUNK: usize = 16;
/// A plan ending this close to the clock when the host starts it "ends now",
/// and catches up with the time it takes.
const CATCH_UP_WITHIN_MS: i64 = 5 * 60_000;

/// Steps of `plan`, extended past its end through the last instant at least
/// one step before `now_ms` (never fewer than the plan's own): the catch-up
/// after a backfill that ended at the clock. The live collection takes over
/// from there, so no instant is collected twice.
pub(crate) fn caught_up_steps(plan: &Plan, now_ms: i64) -> u64 {
    let last = (now_ms - plan.step_ms).div_euclid(plan.step_ms) * plan.step_ms;
    let steps = (last - plan.first_ms).div_euclid(plan.step_ms) + 1;
    u64::try_from(steps).unwrap_or(0).max(plan.steps)
}

/// The instants a backfill collects at: every multiple of the step in
/// `[end − span, end]`. Aligned to the step (not to `end`) so runs that start at
/// different moments share their instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub first_ms: i64,
    pub step_ms: i64,
    pub steps: u64,
}

impl Plan {
    /// `None` when there is nothing to backfill.
    pub fn new(end_ms: i64, span: Duration, step: Duration) -> Option<Self> {
        let step_ms = i64::try_from(step.as_millis()).ok()?.max(1);
        let span_ms = i64::try_from(span.as_millis()).ok()?;
        if span_ms <= 0 {
            return None;
        }
        let first_ms = (end_ms - span_ms).div_euclid(step_ms) * step_ms + step_ms;
        let last_ms = end_ms.div_euclid(step_ms) * step_ms;
        let steps = u64::try_from((last_ms - first_ms) / step_ms + 1).ok()?;
        Some(Self {
            first_ms,
            step_ms,
            steps,
        })
    }

    pub fn at(&self, step: u64) -> i64 {
        self.first_ms + step as i64 * self.step_ms
    }

    pub fn last_ms(&self) -> i64 {
        self.at(self.steps.saturating_sub(1))
    }
}

/// Shared by every host of one backfill.
pub struct Progress {
    /// Host-steps to do.
    total: u64,
    steps: AtomicU64,
    batches: AtomicU64,
    rows: AtomicU64,
    started: Instant,
    /// Notified when the last step is added.
    done: Notify,
}

/// What a finished (or stopped) backfill did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub steps: u64,
    pub total: u64,
    pub batches: u64,
    pub rows: u64,
    pub elapsed: Duration,
}

impl Progress {
    pub fn new(hosts: usize, plan: &Plan) -> Arc<Self> {
        Arc::new(Self {
            total: hosts as u64 * plan.steps,
            steps: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            rows: AtomicU64::new(0),
            started: Instant::now(),
            done: Notify::new(),
        })
    }

    /// `steps` collected, of which `batches` had samples (a crashed host's
    /// steps have none), holding `rows` rows.
    pub fn add(&self, steps: u64, batches: u64, rows: u64) {
        self.batches.fetch_add(batches, Ordering::Relaxed);
        self.rows.fetch_add(rows, Ordering::Relaxed);
        let before = self.steps.fetch_add(steps, Ordering::Relaxed);
        if before < self.total && before + steps >= self.total {
            // A stored permit: the reporter wakes even if it is not waiting yet.
            self.done.notify_one();
        }
    }

    pub fn summary(&self) -> Summary {
        Summary {
            steps: self.steps.load(Ordering::Relaxed),
            total: self.total,
            batches: self.batches.load(Ordering::Relaxed),
            rows: self.rows.load(Ordering::Relaxed),
            elapsed: self.started.elapsed(),
        }
    }

    pub fn finished(&self) -> bool {
        self.steps.load(Ordering::Relaxed) >= self.total
    }
}

/// Logs progress every [`PROGRESS_EVERY`] and a summary at the end (or when
/// `token` stops the backfill).
pub async fn report(progress: Arc<Progress>, token: CancellationToken) {
    let mut ticker = tokio::time::interval(PROGRESS_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    // (when, steps, batches) at the previous line.
    let mut previous = (Instant::now(), 0u64, 0u64);
    loop {
        tokio::select! {
            _ = token.cancelled() => {
                let s = progress.summary();
                tracing::warn!(percent = %percent(&s), batches = s.batches, rows = s.rows, "backfill stopped before the end");
                return;
            }
            _ = ticker.tick() => {}
            _ = progress.done.notified() => {}
        }
        let s = progress.summary();
        if s.steps >= s.total {
            let secs = s.elapsed.as_secs_f64().max(1e-3);
            tracing::info!(
                batches = s.batches,
                rows = s.rows,
                seconds = format!("{secs:.1}"),
                batches_per_s = format!("{:.0}", s.batches as f64 / secs),
                rows_per_s = format!("{:.0}", s.rows as f64 / secs),
                "backfill done"
            );
            return;
        }
        let now = Instant::now();
        let window = now.duration_since(previous.0).as_secs_f64().max(1e-3);
        let steps_per_s = (s.steps - previous.1) as f64 / window;
        let batches_per_s = (s.batches - previous.2) as f64 / window;
        previous = (now, s.steps, s.batches);
        let eta = if steps_per_s > 0.0 {
            format!("{:.0}s", (s.total - s.steps) as f64 / steps_per_s)
        } else {
            "unknown".to_owned()
        };
        tracing::info!(
            percent = %percent(&s),
            batches = s.batches,
            batches_per_s = format!("{batches_per_s:.0}"),
            eta = %eta,
            "backfill"
        );
    }
}

fn percent(s: &Summary) -> String {
    format!("{:.1}", 100.0 * s.steps as f64 / s.total.max(1) as f64)
}

/// The backfill `config` asks for, ending at its pinned start or now.
pub(crate) fn plan(config: &Config) -> Result<Option<Plan>> {
    let end = config.start_ms().map_err(Error::Config)?;
    Ok(Plan::new(
        end.unwrap_or_else(common::now_ms),
        config.backfill,
        config.interval,
    ))
}

/// One host's part of a backfill.
#[derive(Clone)]
pub(crate) struct Backfill {
    pub plan: Plan,
    pub progress: Arc<Progress>,
    /// Pending batches above which the host waits for acks.
    pub bound: usize,
}

/// Collects the backfill's steps into the queue, waiting for acks whenever
/// `bound` batches are pending. Returns the source to go live with, or `None`
/// when cancelled (or when the collector panicked).
pub(crate) async fn host(
    mut source: Source,
    queue: &Arc<Queue>,
    b: &Backfill,
    rows: &mut RowBuilder,
    token: &CancellationToken,
) -> Option<Source> {
    let mut builder = std::mem::take(rows);
    let mut next = 0;
    let mut steps = b.plan.steps;
    let catch_up = common::now_ms() - b.plan.last_ms() <= CATCH_UP_WITHIN_MS;
    loop {
        if next >= steps {
            let more = if catch_up {
                caught_up_steps(&b.plan, common::now_ms())
            } else {
                steps
            };
            if more <= steps {
                break;
            }
            tracing::debug!(
                steps = more - steps,
                "backfill catching up with the time it took"
            );
            steps = more;
        }
        tokio::select! {
            _ = token.cancelled() => return None,
            _ = queue.wait_for_room(b.bound) => {}
        }
        let room = b.bound.saturating_sub(queue.stats().pending).max(1);
        let count = (room.min(CHUNK) as u64).min(steps - next);
        let (plan, q) = (b.plan, queue.clone());
        let joined = tokio::task::spawn_blocking(move || {
            let (mut batches, mut total_rows) = (0, 0);
            for step in next..next + count {
                let at = plan.at(step);
                let batch = builder.rows(source.collect(at), at);
                if !batch.is_empty() {
                    batches += 1;
                    total_rows += batch.len() as u64;
                    q.push(batch);
                }
            }
            (source, builder, batches, total_rows)
        })
        .await;
        let (src, bld, batches, total_rows) = match joined {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "backfill collector panicked; this host stops reporting");
                return None;
            }
        };
        (source, builder) = (src, bld);
        // Progress counts the plan's steps; the catch-up is extra.
        b.progress.add(
            count.min(b.plan.steps.saturating_sub(next)),
            batches,
            total_rows,
        );
        next += count;
    }
    *rows = builder;
    Some(source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backfill_ending_now_catches_up_to_a_step_before_the_clock() {
        let minute = Duration::from_secs(60);
        let end = 1_740_830_400_000; // 12:00:00, the plan's last instant
        let p = Plan::new(end, 10 * minute, minute).expect("a plan");
        assert_eq!(p.steps, 10);
        // (now, steps): nothing more until a whole step has passed since the
        // next instant; then every instant up to a step before now.
        for (now, steps) in [
            (end, 10),
            (end + 60_000, 10),
            (end + 119_999, 10),
            (end + 120_000, 11),
            (end + 185_000, 12),
            (end - 3_600_000, 10),
        ] {
            assert_eq!(
                caught_up_steps(&p, now),
                steps,
                "now = end + {} ms",
                now - end
            );
        }
    }

    #[test]
    fn plan_is_aligned_to_the_step_and_ends_at_or_before_the_end() {
        let minute = Duration::from_secs(60);
        // 12:00:30 back 2 h at 1 m: 10:01 … 12:00, 120 steps.
        let end = 1_740_830_430_000;
        let p = Plan::new(end, 120 * minute, minute).expect("a plan");
        assert_eq!(p.steps, 120);
        assert_eq!(p.at(0) % 60_000, 0);
        assert_eq!(p.last_ms(), 1_740_830_400_000);
        assert!(p.at(0) > end - 7_200_000);
        // On a boundary the end itself is included.
        let p = Plan::new(1_740_830_400_000, 120 * minute, minute).expect("a plan");
        assert_eq!((p.steps, p.last_ms()), (120, 1_740_830_400_000));
        assert_eq!(Plan::new(end, Duration::ZERO, minute), None);
    }
}
