//! Range novelty: a value outside everything this series has shown so far.
//!
//! Many incidents are simply a level the series has never reached: a CPU
//! pinned higher than ever, a traffic count below any quiet night. Distance
//! from the recent median misses these when the series is noisy (the MAD is
//! wide) and the likelihood layer dulls them when the series often jumps;
//! "beyond the envelope of all history" needs neither. The excess is measured
//! in units of the envelope's width, so it is free of the series' units.
//!
//! [`LevelNovelty`] watches the moving average of the last few points the
//! same way: a sustained shift to a level never held before, even when no
//! single point is an outlier on a noisy series (bursty counts, occupancy).
//!
//! The envelope shrinks very slowly towards the middle (`decay` of its width
//! per point), so a long-running series forgets an extreme from months ago
//! instead of being blind below it forever.

use super::ring::Ring;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Novelty {
    lo: f64,
    hi: f64,
    seen: u64,
    warmup: u64,
    decay: f64,
}

impl Novelty {
    pub(crate) fn new(warmup: u64, decay: f64) -> Self {
        Self {
            lo: f64::INFINITY,
            hi: f64::NEG_INFINITY,
            seen: 0,
            warmup,
            decay,
        }
    }

    /// How far `x` lies outside the envelope of earlier points, in envelope
    /// widths (0 inside it); `None` during warm-up or while the series has
    /// been constant. Learns `x` after scoring it.
    pub(crate) fn update(&mut self, x: f64) -> Option<f64> {
        let width = self.hi - self.lo;
        let out = (self.seen >= self.warmup && width > 0.0)
            .then(|| (x - self.hi).max(self.lo - x).max(0.0) / width);
        self.seen += 1;
        if width > 0.0 {
            let shrink = self.decay * width;
            self.hi -= shrink;
            self.lo += shrink;
        }
        self.hi = self.hi.max(x);
        self.lo = self.lo.min(x);
        out
    }
}

/// [`Novelty`] of the mean of the last `points` values.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct LevelNovelty {
    recent: Ring,
    sum: f64,
    envelope: Novelty,
}

impl LevelNovelty {
    pub(crate) fn new(points: usize, warmup: u64, decay: f64) -> Self {
        Self {
            recent: Ring::new(points),
            sum: 0.0,
            envelope: Novelty::new(warmup, decay),
        }
    }

    /// Excess of the moving average ending at `x`, as [`Novelty::update`];
    /// `None` until the average spans a full window.
    pub(crate) fn update(&mut self, x: f64) -> Option<f64> {
        if let Some(old) = self.recent.push(x) {
            self.sum -= old;
        }
        self.sum += x;
        if !self.recent.is_full() {
            return None;
        }
        self.envelope
            .update(self.sum / self.recent.len() as f64)
            .map(|e| e.max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` with a warm-up of 3 and no decay; compares each excess
    /// rounded to 2 places.
    fn check(input: &[f64], expected: &[Option<f64>]) {
        let mut n = Novelty::new(3, 0.0);
        let got: Vec<Option<f64>> = input
            .iter()
            .map(|&x| n.update(x).map(|e| (e * 100.0).round() / 100.0))
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn only_values_beyond_history_are_novel() {
        check(
            &[1.0, 3.0, 2.0, 2.5, 4.0, 0.0, 0.0, 8.0],
            &[
                None,
                None,
                None,
                Some(0.0),
                // 1 above a range of width 2.
                Some(0.5),
                // 1 below a range of width 3.
                Some(0.33),
                Some(0.0),
                Some(1.0),
            ],
        );
    }

    #[test]
    fn a_constant_series_has_no_envelope_yet() {
        check(&[5.0; 5], &[None; 5]);
    }

    #[test]
    fn a_sustained_shift_is_novel_where_its_points_are_not() {
        // No point leaves [0, 10], but two 8s in a row average higher than
        // any earlier pair. Window 2, warm-up 3, no decay.
        let mut n = LevelNovelty::new(2, 3, 0.0);
        let input = [0.0, 10.0, 0.0, 10.0, 0.0, 6.0, 0.0, 10.0, 8.0, 8.0];
        let got: Vec<Option<f64>> = input
            .iter()
            .map(|&x| n.update(x).map(|e| (e * 100.0).round() / 100.0))
            .collect();
        // Averages: -, 5, 5, 5, 5, 3, 3, 5, 9, 8. While they are all 5 the
        // envelope has no width (no opinion); it opens to [3, 5], and 9 is
        // then 2 widths beyond it.
        assert_eq!(
            got,
            [
                None,
                None,
                None,
                None,
                None,
                None,
                Some(0.0),
                Some(0.0),
                Some(2.0),
                Some(0.0)
            ]
        );
    }
}
