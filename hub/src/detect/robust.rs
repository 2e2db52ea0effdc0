//! Robust level detector: how far a point sits from the median of a window,
//! in units of the window's median absolute deviation (MAD).
//!
//! Median and MAD ignore the spikes they are meant to find, where a mean and
//! standard deviation are dragged by them; so one incident does not blind the
//! detector to the next. (The scale's floor, a share of the window's range,
//! is not robust: see the regression test below.) Both are re-estimated every `refresh` points rather
//! than every point: they move slowly, and this keeps the cost O(window /
//! refresh) per point.

use std::cell::RefCell;

use super::ring::Ring;

thread_local! {
    /// Scratch space for selection, one per thread rather than one per
    /// series: a refit copies the window in and is done with it, and a
    /// window's worth per series (3.2 KB at 400 points) was most of the
    /// series' memory beyond the window itself.
    static SCRATCH: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) };
}

/// MAD × this estimates the standard deviation of normally distributed data.
const MAD_TO_SD: f64 = 1.4826;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Robust {
    ring: Ring,
    refresh: usize,
    since_refresh: usize,
    median: f64,
    scale: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RobustScore {
    /// Signed distance from the median in robust standard deviations.
    pub z: f64,
    pub median: f64,
}

impl Robust {
    pub(crate) fn new(window: usize, refresh: usize) -> Self {
        Self {
            ring: Ring::new(window.max(4)),
            refresh: refresh.max(1),
            since_refresh: usize::MAX,
            median: 0.0,
            scale: 0.0,
        }
    }

    /// Scores `x` against the window before it, then adds it. `None` until a
    /// quarter of the window has been seen.
    pub(crate) fn update(&mut self, x: f64) -> Option<RobustScore> {
        let ready = self.ring.len() >= self.ring.capacity() / 4;
        if ready && self.since_refresh >= self.refresh {
            self.refit();
        }
        let out = ready.then(|| RobustScore {
            z: ((x - self.median) / self.scale).clamp(-1e6, 1e6),
            median: self.median,
        });
        self.ring.push(x);
        self.since_refresh = self.since_refresh.saturating_add(1);
        out
    }

    /// The values `z` robust deviations either side of the median, as they
    /// stand for the next point: `(median, lo, hi)`; `None` while warming up.
    pub(crate) fn band(&self, z: f64) -> Option<(f64, f64, f64)> {
        let ready = self.ring.len() >= self.ring.capacity() / 4 && self.scale > 0.0;
        ready.then(|| {
            let half = z * self.scale;
            (self.median, self.median - half, self.median + half)
        })
    }

    /// The scale `band` spreads by (one robust standard deviation).
    pub(crate) fn scale(&self) -> f64 {
        self.scale
    }

    fn refit(&mut self) {
        self.since_refresh = 0;
        let (median, scale) = SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => Self::estimate(&self.ring, &mut scratch),
            // Only reachable if a refit ever ran inside another on one
            // thread; a fresh buffer keeps that correct, just slower.
            Err(_) => Self::estimate(&self.ring, &mut Vec::new()),
        });
        self.median = median;
        self.scale = scale;
    }

    /// Median and scale of the window, using `scratch` for the selection.
    fn estimate(ring: &Ring, scratch: &mut Vec<f64>) -> (f64, f64) {
        scratch.clear();
        scratch.extend(ring.iter());
        let median = median_in_place(scratch);
        let (lo, hi) = scratch
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        for v in scratch.iter_mut() {
            *v = (*v - median).abs();
        }
        let mad = median_in_place(scratch);
        // Series that sit on one value most of the time (idle CPU, counters
        // at zero) have a MAD of zero; fall back to a share of the window's
        // range, then to a tiny share of the level, so z stays finite and a
        // step out of a flat line still scores very high.
        let scale = (MAD_TO_SD * mad)
            .max(0.05 * (hi - lo))
            .max(1e-6 * (1.0 + median.abs()));
        (median, scale)
    }
}

/// The median of `v` (reorders `v`). `v` is never empty here: callers only
/// refit once the window holds points.
fn median_in_place(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mid = v.len() / 2;
    let (_, m, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
    let m = *m;
    if v.len() % 2 == 1 {
        return m;
    }
    // Even length: average with the largest value of the lower half.
    let lower = v[..mid].iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (lower + m) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` to a window-8, refresh-1 detector; compares the rounded
    /// z of each point (`None` while warming up).
    fn check(input: &[f64], expected: &[Option<f64>]) {
        let mut d = Robust::new(8, 1);
        let got: Vec<Option<f64>> = input
            .iter()
            .map(|&x| d.update(x).map(|s| (s.z * 10.0).round() / 10.0))
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn mad_measures_the_spread() {
        // Window [10, 11, 9, 10, 10, 11, 9, 10]: median 10, MAD 0.5 (× 1.4826
        // = 0.74), so 14 is 5.4 robust deviations away.
        check(
            &[10.0, 11.0, 9.0, 10.0, 10.0, 11.0, 9.0, 10.0, 14.0],
            &[
                None,
                None,
                Some(-2.0),
                Some(0.0),
                Some(0.0),
                // MAD is still 0 here; the range floor (0.1) scales it.
                Some(10.0),
                Some(-1.3),
                Some(0.0),
                Some(5.4),
            ],
        );
    }

    #[test]
    fn median_ignores_a_spike_but_the_range_floor_does_not() {
        // Regression guard for a known trade-off: with 100 in the window the
        // median stays 10 (a mean would be 21), but the scale floor of 5 % of
        // the window's range (4.55 here, above the MAD's 1.48) shrinks z
        // until the spike leaves the window. The floor is what keeps z finite
        // on near-flat series, where MAD is 0.
        check(
            &[10.0, 11.0, 9.0, 10.0, 100.0, 10.0, 11.0, 9.0, 14.0],
            &[
                None,
                None,
                Some(-2.0),
                Some(0.0),
                Some(121.4),
                Some(0.0),
                Some(0.2),
                Some(-0.2),
                Some(0.9),
            ],
        );
    }

    #[test]
    fn flat_series_step_scores_high_but_finite() {
        let mut input = vec![0.0; 8];
        input.push(1.0);
        let mut d = Robust::new(8, 1);
        let last = input.iter().filter_map(|&x| d.update(x)).last();
        let z = last.map(|s| s.z).unwrap_or_default();
        assert!(z > 1e5 && z.is_finite(), "{z}");
    }

    #[test]
    fn median_of_even_and_odd() {
        assert_eq!(median_in_place(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median_in_place(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median_in_place(&mut []), 0.0);
    }
}
