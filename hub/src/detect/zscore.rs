//! Rolling z-score over the last `window` points: the simplest detector, and
//! the one operators can check by hand. Each point is compared with the
//! window *before* it, so a spike cannot hide itself by inflating the mean and
//! deviation it is measured against.

use serde::{Deserialize, Serialize};

use super::ring::Ring;

pub const DEFAULT_WINDOW: usize = 50;
pub const DEFAULT_WARMUP: usize = 10;
pub const DEFAULT_WARNING: f64 = 2.5;
pub const DEFAULT_CRITICAL: f64 = 3.5;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ZScoreConfig {
    /// Points the mean and deviation are taken over.
    pub window: usize,
    /// Points seen before the detector says anything.
    pub warmup: usize,
    /// |z| at or above this is a warning.
    pub warning: f64,
    /// |z| above this is critical.
    pub critical: f64,
}

impl Default for ZScoreConfig {
    fn default() -> Self {
        Self {
            window: DEFAULT_WINDOW,
            warmup: DEFAULT_WARMUP,
            warning: DEFAULT_WARNING,
            critical: DEFAULT_CRITICAL,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZLevel {
    Normal,
    Warning,
    Critical,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZScore {
    pub z: f64,
    /// Mean of the window the point was compared with: the expected value.
    pub mean: f64,
    pub level: ZLevel,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RollingZScore {
    cfg: ZScoreConfig,
    ring: Ring,
    sum: f64,
    sum_sq: f64,
    seen: usize,
    /// Pushes since the sums were last recomputed from the ring.
    since_exact: usize,
}

impl RollingZScore {
    pub fn new(cfg: ZScoreConfig) -> Self {
        Self {
            ring: Ring::new(cfg.window.max(2)),
            cfg,
            sum: 0.0,
            sum_sq: 0.0,
            seen: 0,
            since_exact: 0,
        }
    }

    /// Scores `x` against the window before it, then adds it to the window.
    /// `None` while warming up.
    pub fn update(&mut self, x: f64) -> Option<ZScore> {
        let out = (self.seen >= self.cfg.warmup.max(2)).then(|| self.score(x));
        self.push(x);
        out
    }

    fn score(&self, x: f64) -> ZScore {
        let n = self.ring.len() as f64;
        let mean = self.sum / n;
        let var = (self.sum_sq / n - mean * mean).max(0.0);
        // A flat window has no deviation; any change from it is then as
        // surprising as it gets, but z must stay finite for the callers.
        let sd = var.sqrt().max(1e-9 * (1.0 + mean.abs()));
        let z = ((x - mean) / sd).clamp(-1e6, 1e6);
        let level = if z.abs() > self.cfg.critical {
            ZLevel::Critical
        } else if z.abs() >= self.cfg.warning {
            ZLevel::Warning
        } else {
            ZLevel::Normal
        };
        ZScore { z, mean, level }
    }

    fn push(&mut self, x: f64) {
        self.seen += 1;
        if let Some(old) = self.ring.push(x) {
            self.sum -= old;
            self.sum_sq -= old * old;
        }
        self.sum += x;
        self.sum_sq += x * x;
        // Adding and subtracting drifts in floating point; recomputing once
        // per window keeps the sums exact at O(1) amortised cost.
        self.since_exact += 1;
        if self.since_exact >= self.ring.capacity() {
            self.since_exact = 0;
            self.sum = self.ring.iter().sum();
            self.sum_sq = self.ring.iter().map(|v| v * v).sum();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` through a default detector and compares the level of
    /// every point (`-` = warming up, `.` normal, `w` warning, `C` critical).
    fn check(input: &[f64], expected: &str) {
        let mut d = RollingZScore::new(ZScoreConfig::default());
        let got: String = input
            .iter()
            .map(|&x| match d.update(x).map(|s| s.level) {
                None => '-',
                Some(ZLevel::Normal) => '.',
                Some(ZLevel::Warning) => 'w',
                Some(ZLevel::Critical) => 'C',
            })
            .collect();
        assert_eq!(got, expected);
    }

    /// An alternating 9/11 signal: mean 10, deviation 1.
    fn base(n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| if i % 2 == 0 { 9.0 } else { 11.0 })
            .collect()
    }

    #[test]
    fn silent_for_the_first_ten_points() {
        check(&[5.0; 10], "----------");
        let mut v = vec![5.0; 10];
        v.push(500.0);
        check(&v, "----------C");
    }

    #[test]
    fn warning_between_2_5_and_3_5_critical_above() {
        for (x, level) in [
            (12.0, '.'),
            (13.0, 'w'),
            (13.5, 'w'),
            (13.6, 'C'),
            (6.4, 'C'),
        ] {
            let mut v = base(20);
            v.push(x);
            let expected = format!("{}{}{level}", "-".repeat(10), ".".repeat(10));
            check(&v, &expected);
        }
    }

    #[test]
    fn window_forgets_old_points() {
        // After 50 points at a new level the old level is out of the window,
        // so the new level is normal again.
        let mut v = base(20);
        v.extend(std::iter::repeat_n(100.0, 60));
        let mut d = RollingZScore::new(ZScoreConfig::default());
        let last = v.iter().filter_map(|&x| d.update(x)).last();
        assert_eq!(last.map(|s| s.level), Some(ZLevel::Normal));
    }
}
