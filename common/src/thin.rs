//! Thinning a range answer to a point budget, shared by the hub (history) and
//! the edge (hot window) so both draw the same shape for the same data.

use crate::model::Point;

/// Reduces `points` (sorted by time) to at most `cap` by averaging equal-width
/// time buckets, so a long range keeps its shape instead of aliasing.
pub fn thin(points: Vec<Point>, cap: usize) -> Vec<Point> {
    if points.len() <= cap || cap == 0 {
        return points;
    }
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return points;
    };
    let span = (last.t - first.t).max(1) as f64;
    let width = span / cap as f64;
    let mut out: Vec<Point> = Vec::with_capacity(cap);
    let (mut bucket, mut sum_t, mut sum_v, mut n) = (0usize, 0f64, 0f64, 0f64);
    for p in &points {
        let b = (((p.t - first.t) as f64 / width) as usize).min(cap - 1);
        if b != bucket && n > 0.0 {
            out.push(Point {
                t: (sum_t / n) as i64,
                v: sum_v / n,
            });
            (sum_t, sum_v, n) = (0.0, 0.0, 0.0);
        }
        bucket = b;
        sum_t += p.t as f64;
        sum_v += p.v;
        n += 1.0;
    }
    if n > 0.0 {
        out.push(Point {
            t: (sum_t / n) as i64,
            v: sum_v / n,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thin_keeps_small_inputs_and_averages_large_ones() {
        let pts: Vec<Point> = (0..10).map(|i| Point { t: i, v: i as f64 }).collect();
        assert_eq!(thin(pts.clone(), 20), pts);
        let big: Vec<Point> = (0..1000).map(|i| Point { t: i, v: 1.0 }).collect();
        let th = thin(big, 100);
        assert!(th.len() <= 100 && th.len() >= 90, "{}", th.len());
        assert!(th.iter().all(|p| p.v == 1.0));
        assert!(th.windows(2).all(|w| w[0].t < w[1].t));
    }
}
