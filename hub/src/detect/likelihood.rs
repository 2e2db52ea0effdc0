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

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Likelihood {
    short: Ring,
    short_sum: f64,
    /// Horizon of the exponentially weighted long-run mean and variance.
    long: f64,
    min_sd: f64,
    warmup: u64,
    mean: f64,
    var: f64,
    seen: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LikelihoodScore {
    /// Probability of a short-window mean at least this high: small = anomalous.
    pub tail: f64,
    pub z: f64,
}

impl Likelihood {
    pub(crate) fn new(short: usize, long: usize, min_sd: f64, warmup: u64) -> Self {
        Self {
            short: Ring::new(short),
            short_sum: 0.0,
            long: long.max(1) as f64,
            min_sd,
            warmup,
            mean: 0.0,
            var: 0.0,
            seen: 0,
        }
    }

    /// Adds a raw score in [0, 1] and returns the likelihood of the recent
    /// average. During warm-up the tail is 0.5 (no opinion).
    pub(crate) fn update(&mut self, raw: f64) -> LikelihoodScore {
        if let Some(old) = self.short.push(raw) {
            self.short_sum -= old;
        }
        self.short_sum += raw;
        let avg = (self.short_sum / self.short.len() as f64).max(0.0);

        let sd = self.var.sqrt().max(self.min_sd);
        let z = (avg - self.mean) / sd;
        let out = if self.seen >= self.warmup {
            LikelihoodScore {
                tail: upper_tail(z),
                z,
            }
        } else {
            LikelihoodScore { tail: 0.5, z: 0.0 }
        };

        // Learn after scoring, so a burst is judged against the past only.
        self.seen += 1;
        let alpha = 1.0 / (self.seen as f64).min(self.long);
        let d = avg - self.mean;
        self.mean += alpha * d;
        self.var = (1.0 - alpha) * (self.var + alpha * d * d);
        out
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
        // but the burst has already widened the learnt variance.
        expected[30] = 156.0;
        expected[31] = 8.0;
        check(&input, &expected);
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
