//! Thinning a range answer to a point budget, shared by the hub (history) and
//! the edge (hot window) so both draw the same shape for the same data.

use crate::model::{Agg, Point};

/// Running combination of the points of one bucket.
struct Bucket {
    agg: Agg,
    sum_t: f64,
    n: f64,
    acc: f64,
}

impl Bucket {
    fn new(agg: Agg) -> Self {
        Self {
            agg,
            sum_t: 0.0,
            n: 0.0,
            acc: 0.0,
        }
    }

    fn add(&mut self, p: &Point) {
        self.acc = if self.n == 0.0 {
            p.v
        } else {
            match self.agg {
                Agg::Avg => self.acc + p.v,
                Agg::Min => self.acc.min(p.v),
                Agg::Max => self.acc.max(p.v),
                Agg::Last => p.v,
            }
        };
        self.sum_t += p.t as f64;
        self.n += 1.0;
    }

    /// The bucket as one point at its mean time, then emptied.
    fn take(&mut self) -> Option<Point> {
        if self.n == 0.0 {
            return None;
        }
        let v = if self.agg == Agg::Avg {
            self.acc / self.n
        } else {
            self.acc
        };
        let p = Point {
            t: (self.sum_t / self.n) as i64,
            v,
        };
        *self = Self::new(self.agg);
        Some(p)
    }
}

/// Reduces `points` (sorted by time) to at most `cap` by combining equal-width
/// time buckets with `agg`, so a long range keeps its shape instead of aliasing
/// (and `max` keeps every peak).
pub fn thin(points: Vec<Point>, cap: usize, agg: Agg) -> Vec<Point> {
    if points.len() <= cap || cap == 0 {
        return points;
    }
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return points;
    };
    let width = (last.t - first.t).max(1) as f64 / cap as f64;
    let mut out: Vec<Point> = Vec::with_capacity(cap);
    let mut current = 0usize;
    let mut bucket = Bucket::new(agg);
    for p in &points {
        let b = (((p.t - first.t) as f64 / width) as usize).min(cap - 1);
        if b != current {
            out.extend(bucket.take());
            current = b;
        }
        bucket.add(p);
    }
    out.extend(bucket.take());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(values: &[f64]) -> Vec<Point> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| Point { t: i as i64, v: *v })
            .collect()
    }

    /// The only caller of `thin` in tests: values after thinning to `cap`.
    fn check(input: &[f64], cap: usize, agg: Agg, expected: &[f64]) {
        let got: Vec<f64> = thin(pts(input), cap, agg).iter().map(|p| p.v).collect();
        assert_eq!(got, expected, "{agg:?} cap {cap}");
    }

    #[test]
    fn aggregations_as_data() {
        let v = [1.0, 5.0, 2.0, 8.0, 3.0, 4.0];
        check(&v, 10, Agg::Avg, &v);
        check(&v, 2, Agg::Avg, &[8.0 / 3.0, 5.0]);
        check(&v, 2, Agg::Min, &[1.0, 3.0]);
        check(&v, 2, Agg::Max, &[5.0, 8.0]);
        check(&v, 2, Agg::Last, &[2.0, 4.0]);
    }

    #[test]
    fn large_inputs_stay_sorted_and_within_cap() {
        let big: Vec<f64> = (0..1000).map(|_| 1.0).collect();
        let th = thin(pts(&big), 100, Agg::Avg);
        assert!(th.len() <= 100 && th.len() >= 90, "{}", th.len());
        assert!(th.iter().all(|p| p.v == 1.0));
        assert!(th.windows(2).all(|w| w[0].t < w[1].t));
    }
}
