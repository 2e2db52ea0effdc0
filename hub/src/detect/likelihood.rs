//! Anomaly likelihood: how unusual the *recent* surprise of a series is,
//! compared with the surprise it usually shows.
//!
//! A raw score (how far a point is from what was expected) means different
//! things on different series: on a noisy one, large errors are daily life.
//! Following the idea Numenta published for their HTM detector, the average
//! raw score over a short window is compared with the long-run distribution
//! of that same average, and the Gaussian tail probability of the difference
//! is reported. A burst of surprise on a quiet series gives a tiny tail
//! probability; the same burst on a noisy one does not.

use super::ring::Ring;

/// Points in the fast window: a sudden shift that lasts a few points is
/// judged on those points alone, rather than waiting for it to fill the
/// short window (at one point a minute, a 20-point mean needs a quarter of
/// an hour to notice what a 3-point mean sees in a minute or two).
pub(crate) const FAST_POINTS: usize = 3;
/// Floor of the fast window's long-run deviation: high, so it only speaks
/// when the raw surprise stays near its maximum for all of its points (a
/// shift of about ten deviations on a quiet series), never for the
/// ordinary bursts of a noisy one.
pub(crate) const FAST_MIN_SD: f64 = 0.175;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Likelihood {
    /// The mean over the configured short window: patient, for slow drifts.
    slow: Window,
    /// The mean over the last [`FAST_POINTS`]: quick, for sudden shifts.
    /// Its own long-run spread is wider, so it only speaks for a surprise
    /// that is large and sustained for a few points.
    fast: Window,
    warmup: u64,
    seen: u64,
}

/// The running mean of the raw score over a window, and the exponentially
/// weighted long-run mean and variance of that running mean.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Window {
    ring: Ring,
    sum: f64,
    /// Horizon of the long-run mean and variance.
    long: f64,
    min_sd: f64,
    mean: f64,
    var: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LikelihoodScore {
    /// Probability of a short-window mean at least this high: small = anomalous.
    pub tail: f64,
    pub z: f64,
}

impl Window {
    fn new(points: usize, long: usize, min_sd: f64) -> Self {
        Self {
            ring: Ring::new(points),
            sum: 0.0,
            long: long.max(1) as f64,
            min_sd,
            mean: 0.0,
            var: 0.0,
        }
    }

    /// Adds `raw`; returns the z of the new mean against the past, then
    /// learns from it (`seen`: points before this one).
    fn update(&mut self, raw: f64, seen: u64) -> f64 {
        if let Some(old) = self.ring.push(raw) {
            self.sum -= old;
        }
        self.sum += raw;
        let avg = (self.sum / self.ring.len() as f64).max(0.0);
        let sd = self.var.sqrt().max(self.min_sd);
        let z = (avg - self.mean) / sd;
        // Learn after scoring, so a burst is judged against the past only.
        let alpha = 1.0 / ((seen + 1) as f64).min(self.long);
        let d = avg - self.mean;
        self.mean += alpha * d;
        self.var = (1.0 - alpha) * (self.var + alpha * d * d);
        z
    }
}

impl Likelihood {
    pub(crate) fn new(short: usize, long: usize, min_sd: f64, warmup: u64) -> Self {
        Self {
            slow: Window::new(short, long, min_sd),
            fast: Window::new(FAST_POINTS.min(short), long, min_sd.max(FAST_MIN_SD)),
            warmup,
            seen: 0,
        }
    }

    /// Adds a raw score in [0, 1] and returns the likelihood of the recent
    /// average: the smaller of the slow and the fast window's tails, times
    /// two (either may fire). During warm-up the tail is 0.5 (no opinion).
    pub(crate) fn update(&mut self, raw: f64) -> LikelihoodScore {
        let slow = self.slow.update(raw, self.seen);
        let fast = self.fast.update(raw, self.seen);
        let warm = self.seen >= self.warmup;
        self.seen += 1;
        if !warm {
            return LikelihoodScore { tail: 0.5, z: 0.0 };
        }
        let (ts, tf) = (upper_tail(slow), upper_tail(fast));
        if tf < ts {
            LikelihoodScore {
                tail: (2.0 * tf).min(1.0),
                z: fast,
            }
        } else {
            LikelihoodScore {
                tail: (2.0 * ts).min(1.0),
                z: slow,
            }
        }
    }
}

/// P(Z ≥ z) for a standard normal Z.
pub(crate) fn upper_tail(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// Complementary error function (Chebyshev fit from Numerical Recipes,
/// relative error below 1.2e-7 everywhere: plenty for a score).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` raw scores (short window 3, long 100, no warm-up) and
    /// compares -log10 of the tail of each point, rounded.
    fn check(input: &[f64], expected: &[f64]) {
        let mut l = Likelihood::new(3, 100, 0.01, 0);
        let got: Vec<f64> = input
            .iter()
            .map(|&r| (-l.update(r).tail.log10()).round())
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn a_burst_on_a_quiet_series_is_unlikely() {
        // A steady 0.1 teaches "0.1 is normal"; the first point, judged
        // against nothing yet, is as surprising as it gets.
        let mut input = vec![0.1; 30];
        input.extend([0.9, 0.1]);
        let mut expected = vec![0.0; 32];
        expected[0] = 23.0;
        // The burst lifts the 3-point average from 0.1 to 0.37: 27 floor
        // deviations, one in 10^156. The next point is still above normal,
        // but the burst has already widened the learnt variance. (The fast
        // window is the short one here: it only doubles the tail.)
        expected[30] = 156.0;
        expected[31] = 7.0;
        check(&input, &expected);
    }

    /// A series whose surprise wanders slowly between 0 and 0.5 (a model
    /// that lags a daily wave), then jumps to the maximum and stays there:
    /// -log10 of the tail at the 1st … 6th point of the jump, short window
    /// 20 (the fast window is 3).
    fn jump(expected: &[f64]) {
        let mut l = Likelihood::new(20, 2000, 0.03, 0);
        for i in 0..1000 {
            l.update(0.25 + 0.25 * (i as f64 / 50.0).sin());
        }
        let got: Vec<f64> = (0..expected.len())
            .map(|_| (-l.update(1.0).tail.log10()).round())
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn a_sustained_jump_is_seen_in_a_few_points_not_a_whole_window() {
        // The wander makes the 20-point mean's usual spread wide, and the
        // jump moves that mean by 0.04 a point: alone it would take most
        // of the window to call this unusual (one in 10^1.3 at the third
        // point, 10^1.8 at the sixth). The 3-point mean is at its maximum
        // by the third point: one in 10^5 (the fast window then learns
        // the new level, and its tail eases).
        jump(&[2.0, 3.0, 5.0, 5.0, 4.0, 4.0]);
    }

    #[test]
    fn warmup_has_no_opinion() {
        let mut l = Likelihood::new(3, 100, 0.01, 5);
        let tails: Vec<f64> = [0.9; 5].iter().map(|&r| l.update(r).tail).collect();
        assert_eq!(tails, [0.5; 5]);
    }

    #[test]
    fn tail_matches_the_normal_distribution() {
        for (z, p) in [
            (0.0, 0.5),
            (1.0, 0.158_655),
            (3.0, 0.001_349_9),
            (-2.0, 0.977_25),
        ] {
            assert!((upper_tail(z) - p).abs() < 1e-5, "z={z}");
        }
    }
}
