//! Seasonal residual: compares a point with the same time of day on the
//! previous days. Host load follows the working day, so "higher than the last
//! hour" is often normal while "higher than this hour yesterday" is not; and a
//! daily peak that fails to appear (a flat line where a wave should be) is
//! invisible to level detectors but obvious here.
//!
//! The period is learned from the sampling interval (one day of points);
//! series sampled too finely for a day to fit in `max_period` points, or
//! too coarsely for a day to hold 8, skip this detector.

use super::ring::Ring;

/// Seconds in the season this detector models.
const DAY_SECS: f64 = 86_400.0;
/// Intervals averaged (by median) to learn the sampling step.
const STEP_SAMPLES: usize = 16;
/// Days of history compared with; the closest one wins, so an incident on
/// one earlier day does not make today's normal value look anomalous.
const DAYS: usize = 2;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Seasonal {
    max_period: usize,
    last_t: Option<i64>,
    steps: Vec<i64>,
    /// Points per day, once known; `Some(0)` means this series is skipped.
    period: Option<usize>,
    history: Ring,
    /// Exponentially weighted mean of the residual: its typical size.
    scale: f64,
    scored: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SeasonalScore {
    /// Residual in units of its typical size (never negative).
    pub z: f64,
    /// The value at this time of day on the closest earlier day.
    pub expected: f64,
}

impl Seasonal {
    pub(crate) fn new(max_period: usize) -> Self {
        Self {
            max_period,
            last_t: None,
            steps: Vec::with_capacity(STEP_SAMPLES),
            period: None,
            history: Ring::new(1),
            scale: 0.0,
            scored: 0,
        }
    }

    pub(crate) fn update(&mut self, t: i64, x: f64) -> Option<SeasonalScore> {
        self.learn_period(t);
        let p = self.period.filter(|&p| p > 0)?;
        let out = self.score(p, x);
        self.history.push(x);
        out
    }

    /// Replaces the value just learned by `x`: the engine keeps an
    /// incident's values out of the days to come, so that tomorrow's
    /// normal value at the same time is not taken for a missing peak.
    pub(crate) fn amend_last(&mut self, x: f64) {
        if self.period.is_some_and(|p| p > 0) {
            self.history.set_newest(x);
        }
    }

    fn learn_period(&mut self, t: i64) {
        let last = self.last_t.replace(t);
        if self.period.is_some() {
            return;
        }
        // Repeated or backwards timestamps happen (clock steps, replays);
        // they carry no information about the step.
        if let Some(step) = last.map(|l| t - l).filter(|&s| s > 0) {
            self.steps.push(step);
        }
        if self.steps.len() < STEP_SAMPLES {
            return;
        }
        self.steps.sort_unstable();
        let step = self.steps[STEP_SAMPLES / 2] as f64;
        let p = (DAY_SECS / step).round() as usize;
        let p = if (8..=self.max_period).contains(&p) {
            p
        } else {
            0
        };
        self.period = Some(p);
        self.history = Ring::new(DAYS * p + 1);
        self.steps = Vec::new();
    }

    /// Where the point just scored would have raised no more than `z`
    /// typical residuals: the span of its comparison values (the same time
    /// on earlier days, a step either side) widened by `z` residuals, as
    /// `(middle, lo, hi)`; `None` until the model is scoring.
    pub(crate) fn band_of_last(&self, z: f64) -> Option<(f64, f64, f64)> {
        let p = self.period.filter(|&p| p > 0)?;
        if self.scored < p as u64 / 2 + 1 || self.history.len() < p + 2 {
            return None;
        }
        // `score` compared against `ago(back - 1)` before the point was
        // pushed; the same values sit one further back now.
        let (lo, hi) = (1..=DAYS)
            .flat_map(|d| [d * p - 1, d * p, d * p + 1])
            .filter_map(|back| self.history.ago(back))
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            });
        if lo > hi {
            return None;
        }
        let half = z * self.spread();
        Some(((lo + hi) / 2.0, lo - half, hi + half))
    }

    /// One typical residual: what a z of 1 means.
    pub(crate) fn spread(&self) -> f64 {
        1.25 * self.scale
    }

    fn score(&mut self, p: usize, x: f64) -> Option<SeasonalScore> {
        // Neighbours one step either side absorb small phase jitter.
        let (residual, expected) = (1..=DAYS)
            .flat_map(|d| [d * p - 1, d * p, d * p + 1])
            .filter_map(|back| self.history.ago(back - 1))
            .map(|v| ((x - v).abs(), v))
            .min_by(|a, b| a.0.total_cmp(&b.0))?;
        // Less than one full day seen: the comparison is not there yet.
        if self.history.len() < p + 1 {
            return None;
        }
        let ready = self.scored >= p as u64 / 2;
        let z = residual / (1.25 * self.scale).max(1e-9 * (1.0 + x.abs()));
        // Clip what feeds the scale, so one incident does not teach the
        // detector that incidents are normal.
        let fed = if ready {
            residual.min(5.0 * self.scale)
        } else {
            residual
        };
        let alpha = 1.0 / (self.scored as f64 + 1.0).min(p as f64);
        self.scale += alpha * (fed - self.scale);
        self.scored += 1;
        ready.then_some(SeasonalScore {
            z: z.min(1e6),
            expected,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds a daily wave sampled hourly (24 points a day) with `edit`
    /// applied, and returns the highest z seen on day `day`.
    fn max_z_on_day(days: usize, edit: impl Fn(usize, f64) -> f64, day: usize) -> f64 {
        let mut d = Seasonal::new(1440);
        let mut best = 0.0_f64;
        for i in 0..days * 24 {
            let wave = 10.0 + 5.0 * (i as f64 * std::f64::consts::TAU / 24.0).sin();
            let noise = if i % 3 == 0 { 0.3 } else { -0.15 };
            let z = d
                .update(i as i64 * 3600, edit(i, wave + noise))
                .map_or(0.0, |s| s.z);
            if i / 24 == day {
                best = best.max(z);
            }
        }
        best
    }

    fn check(edit: impl Fn(usize, f64) -> f64, expect_anomaly: bool) {
        let z = max_z_on_day(8, edit, 6);
        assert_eq!(z > 6.0, expect_anomaly, "max z on day 6 = {z}");
    }

    #[test]
    fn a_repeating_day_is_normal() {
        check(|_, v| v, false);
    }

    #[test]
    fn a_missing_daily_peak_is_anomalous() {
        // Day 6 stays flat at the mean where the wave should peak.
        check(
            |i, v| if i / 24 == 6 && i % 24 < 12 { 10.0 } else { v },
            true,
        );
    }

    #[test]
    fn too_fine_sampling_is_skipped() {
        let mut d = Seasonal::new(1440);
        let got = (0..2000).filter_map(|i| d.update(i, 1.0)).count();
        assert_eq!(got, 0);
    }
}
