//! How often the two expensive families are read.
//!
//! Measured on the development VM (2 vCPUs, kernel 6.18, ~120 processes,
//! `prometheus-node-exporter` 1.5 scraped every second for comparison at
//! ~11.7 ms of CPU per scrape):
//! - `/proc/net/tcp` and `tcp6` cost ~5 ms of CPU *each*, whatever the
//!   number of sockets: the kernel walks its whole established-socket hash
//!   table (262 144 buckets here, sized from RAM) for every read, and both
//!   files walk the same table. Reading them every second would alone cost
//!   more than node_exporter's whole scrape.
//! - One pass over `/proc/PID/stat` costs ~25 µs per process (~3 ms here).
//!
//! Every other family together costs ~1.5 ms per tick. So sockets are counted
//! at most every 15 s and processes read at most every 10 s — the pace at
//! which the transport ships the top list anyway
//! (`transport::queue::TOP_EVERY_MS`), so a faster read would mostly be
//! thrown away; their samples are
//! sent on the ticks that read them (no stale repeats in between), and the top
//! list's CPU shares cover the time since the previous process read.
//! `hostwatch-agent --once` reads everything on both of its ticks.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence {
    pub processes: Duration,
    pub connections: Duration,
}

impl Cadence {
    /// For the agent's loop (ticks of 1 s by default).
    pub const DEFAULT: Cadence = Cadence {
        processes: Duration::from_secs(10),
        connections: Duration::from_secs(15),
    };
    /// Everything on every tick, for `--once` and tests.
    pub const EVERY_TICK: Cadence = Cadence {
        processes: Duration::ZERO,
        connections: Duration::ZERO,
    };
}

impl Default for Cadence {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// When a family last ran.
#[derive(Debug, Default)]
pub(crate) struct Due {
    last: Option<Instant>,
}

impl Due {
    /// True (and remembered) when `period` has passed since the last run, give
    /// or take a tenth: ticks arrive a few milliseconds early or late, and a
    /// 5 s period at 1 s ticks should mean every 5th tick, not every 6th.
    pub(crate) fn check(&mut self, period: Duration, now: Instant) -> bool {
        let due = self
            .last
            .is_none_or(|last| now.saturating_duration_since(last) >= period.mul_f64(0.9));
        if due {
            self.last = Some(now);
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which of `ticks` (milliseconds since start) run with `period_ms`.
    fn runs(period_ms: u64, ticks: &[u64]) -> Vec<u64> {
        let start = Instant::now();
        let mut due = Due::default();
        ticks
            .iter()
            .copied()
            .filter(|&t| {
                due.check(
                    Duration::from_millis(period_ms),
                    start + Duration::from_millis(t),
                )
            })
            .collect()
    }

    #[test]
    fn every_fifth_one_second_tick_despite_jitter() {
        let ticks = [
            0, 1_003, 1_998, 3_001, 4_000, 4_997, 6_002, 7_000, 8_001, 9_000, 9_996, 11_000,
        ];
        assert_eq!(runs(5_000, &ticks), [0, 4_997, 9_996]);
    }

    #[test]
    fn zero_period_runs_every_tick_and_long_ticks_run_every_time() {
        assert_eq!(runs(0, &[0, 0, 1, 2]), [0, 0, 1, 2]);
        assert_eq!(runs(5_000, &[0, 10_000, 20_000]), [0, 10_000, 20_000]);
    }
}
