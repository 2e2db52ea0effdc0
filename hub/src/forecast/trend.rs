//! The fit over a segment's buckets: Theil–Sen slope (the median of every
//! pairwise slope, so a few wild buckets move it little), Sen's rank-based
//! confidence interval for it, and the Mann–Kendall test of a sustained rise
//! or fall, all from the same pass over the pairs.

use std::cell::RefCell;

use super::buckets::Bucket;

/// Two-sided 95 % normal quantile, for Sen's interval and Mann–Kendall.
pub const Z95: f64 = 1.959_964;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Fit {
    /// Units per second.
    pub slope: f64,
    /// 95 % interval of the slope.
    pub slope_low: f64,
    pub slope_high: f64,
    /// Value at the segment's origin.
    pub intercept: f64,
    /// Mann–Kendall's normal score: above [`Z95`] a significant rise,
    /// below −[`Z95`] a significant fall.
    pub z: f64,
    /// Buckets fitted.
    pub n: usize,
}

impl Fit {
    pub fn at(&self, t: f64) -> f64 {
        self.intercept + self.slope * t
    }
}

thread_local! {
    /// The pairwise slopes of one fit. Shared by every series of a thread,
    /// so a series' own state stays small (2016 slopes would be 16 KiB each).
    static SLOPES: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) };
}

/// Fits `buckets` (in time order); `None` below 3 buckets.
pub(crate) fn fit(buckets: &[Bucket]) -> Option<Fit> {
    let n = buckets.len();
    if n < 3 {
        return None;
    }
    SLOPES.with(|cell| {
        let mut slopes = cell.borrow_mut();
        slopes.clear();
        let mut s: i64 = 0;
        for (i, a) in buckets.iter().enumerate() {
            let (ta, va) = (a.t(), a.v());
            for b in &buckets[i + 1..] {
                let (dt, dv) = (b.t() - ta, b.v() - va);
                s += i64::from(dv > 0.0) - i64::from(dv < 0.0);
                if dt > 0.0 {
                    slopes.push(dv / dt);
                }
            }
        }
        if slopes.is_empty() {
            return None;
        }
        let nf = n as f64;
        let var_s = nf * (nf - 1.0) * (2.0 * nf + 5.0) / 18.0;
        let sd = var_s.sqrt();
        let z = if s == 0 {
            0.0
        } else {
            (s as f64 - (s as f64).signum()) / sd
        };
        // Sen's interval: the slopes ranked C/2 either side of the median,
        // C = z·sd(S), over the N pairs.
        let pairs = slopes.len();
        let half = Z95 * sd / 2.0;
        let mid = (pairs - 1) / 2;
        let lo_rank = ((pairs as f64 - 1.0) / 2.0 - half).round().max(0.0) as usize;
        let hi_rank = (((pairs as f64 - 1.0) / 2.0 + half).round() as usize).min(pairs - 1);
        let (left, median, right) = slopes.select_nth_unstable_by(mid, f64::total_cmp);
        let slope = *median;
        let slope_low = if lo_rank < mid {
            *left.select_nth_unstable_by(lo_rank, f64::total_cmp).1
        } else {
            slope
        };
        let slope_high = if hi_rank > mid {
            *right
                .select_nth_unstable_by(hi_rank - mid - 1, f64::total_cmp)
                .1
        } else {
            slope
        };
        let mut offsets: Vec<f64> = buckets.iter().map(|b| b.v() - slope * b.t()).collect();
        let m = offsets.len() / 2;
        let (below, upper, _) = offsets.select_nth_unstable_by(m, f64::total_cmp);
        let upper = *upper;
        // An even count's median is the mean of the middle two.
        let intercept = match below.iter().copied().max_by(f64::total_cmp) {
            Some(lower) if n.is_multiple_of(2) => (lower + upper) / 2.0,
            _ => upper,
        };
        Some(Fit {
            slope,
            slope_low,
            slope_high,
            intercept,
            z,
            n,
        })
    })
}

/// Two-sided p-value of a standard normal score (Abramowitz–Stegun 7.1.26,
/// error below 1.5e-7: plenty for a confidence figure).
pub(crate) fn p_value(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    (poly * (-x * x).exp()).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::super::buckets::Buckets;
    use super::*;

    /// Fits `values` at t = 0, 1, 2 … and compares (slope, intercept, sign
    /// of the trend by Mann–Kendall) rounded to 3 places.
    fn check(values: &[f64], expected: Option<(f64, f64, i8)>) {
        let mut b = Buckets::new(1.0);
        for (i, &v) in values.iter().enumerate() {
            b.push(i as f64, v);
        }
        // One more point so that every value above is in a complete bucket.
        b.push(values.len() as f64, 0.0);
        let got = fit(b.complete()).map(|f| {
            let r = |x: f64| (x * 1000.0).round() / 1000.0;
            let dir = if f.z > Z95 {
                1
            } else if f.z < -Z95 {
                -1
            } else {
                0
            };
            assert!(f.slope_low <= f.slope && f.slope <= f.slope_high, "{f:?}");
            (r(f.slope), r(f.intercept), dir)
        });
        assert_eq!(got, expected);
    }

    #[test]
    fn fits() {
        check(&[1.0, 2.0], None);
        check(&[0.0, 2.0, 4.0, 6.0, 8.0, 10.0], Some((2.0, 0.0, 1)));
        check(&[10.0, 9.0, 8.0, 7.0, 6.0, 5.0], Some((-1.0, 10.0, -1)));
        check(&[5.0; 8], Some((0.0, 5.0, 0)));
        // One wild value does not move the median of the slopes.
        check(
            &[0.0, 1.0, 2.0, 300.0, 4.0, 5.0, 6.0, 7.0, 8.0],
            Some((1.0, 0.0, 1)),
        );
        // A zig-zag with no drift is not a trend.
        check(
            &[0.0, 3.0, 0.0, 3.0, 0.0, 3.0, 0.0, 3.0],
            Some((0.0, 1.5, 0)),
        );
    }

    #[test]
    fn p_values() {
        let r = |x: f64| (x * 1000.0).round() / 1000.0;
        let got: Vec<f64> = [0.0, 1.0, Z95, -Z95, 3.0].map(|z| r(p_value(z))).to_vec();
        assert_eq!(got, [1.0, 0.317, 0.05, 0.05, 0.003]);
    }
}
