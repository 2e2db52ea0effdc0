//! Range reads over the history store, shared by the gRPC `Query.Range` and the
//! edge's requests down the uplink.

use common::model::{Point, RangeQuery, SeriesPoints};

use crate::store::HistoryStore;
use crate::Result;

/// Points per series when the caller gives no cap (a chart's width, roughly).
pub const DEFAULT_MAX_POINTS: usize = 1_000;
/// Hard cap, whatever the caller asks.
pub const MAX_POINTS: usize = 20_000;

pub async fn range(store: &dyn HistoryStore, q: &RangeQuery) -> Result<Vec<SeriesPoints>> {
    let cap = match q.max_points {
        0 => DEFAULT_MAX_POINTS,
        n => n.min(MAX_POINTS),
    };
    let mut out = store.range(q).await?;
    for s in &mut out {
        s.points = thin(std::mem::take(&mut s.points), cap);
    }
    out.sort_by(|a, b| (&a.name, &a.labels).cmp(&(&b.name, &b.labels)));
    Ok(out)
}

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
