//! Reads of the PostgreSQL store: ranges at a resolution chosen by span,
//! the newest point of every series, row counts.
//!
//! A range longer than [`RAW_SPAN_MS`] is answered from `samples_1m`, longer
//! than [`MINUTE_SPAN_MS`] from `samples_1h` (bucket averages, at each bucket's
//! start). On the plain path the rollups lag: buckets still open, or touched by
//! a commit the maintenance has not rolled up yet, are averaged from raw
//! samples at query time, so a chart never misses its newest minutes.
//! TimescaleDB's real-time aggregates do the same by themselves.

use common::model::{Agg, Labels, Point, RangeQuery, SeriesKey, SeriesPoints};
use sqlx::Row;

use super::copy::PgTime;
use super::schema::Flavor;
use super::PostgresStore;
use crate::store::LatestPoint;
use crate::Result;

/// Spans up to 6 h read raw samples.
pub const RAW_SPAN_MS: i64 = 6 * 3_600_000;
/// Spans up to 7 d read 1-minute rollups; longer ones 1-hour rollups.
pub const MINUTE_SPAN_MS: i64 = 7 * 86_400_000;
/// Query bounds are clamped into `timestamptz`'s range (4713 BC … 294276 AD).
pub(super) const MIN_QUERY_MS: i64 = -200_000_000_000_000;
pub(super) const MAX_QUERY_MS: i64 = 9_000_000_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Raw,
    Minute,
    Hour,
}

impl Resolution {
    /// By the span actually covered: an open end (`to` = far future, `from` =
    /// 0) counts only up to now and back to the start of raw retention.
    pub fn for_span(from_ms: i64, to_ms: i64, now_ms: i64, retention_ms: i64) -> Self {
        let span = to_ms
            .min(now_ms)
            .saturating_sub(from_ms.max(now_ms - retention_ms));
        if span > MINUTE_SPAN_MS {
            Resolution::Hour
        } else if span > RAW_SPAN_MS {
            Resolution::Minute
        } else {
            Resolution::Raw
        }
    }

    /// (rollup table, `date_trunc` unit) of a rollup resolution.
    fn rollup(self) -> Option<(&'static str, &'static str, &'static str)> {
        match self {
            Resolution::Raw => None,
            Resolution::Minute => Some(("hostwatch.samples_1m", "minute", "1m")),
            Resolution::Hour => Some(("hostwatch.samples_1h", "hour", "1h")),
        }
    }
}

pub(super) async fn range(store: &PostgresStore, q: &RangeQuery) -> Result<Vec<SeriesPoints>> {
    let selector = serde_json::to_string(&q.labels).unwrap_or_else(|_| "{}".into());
    let series: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT id, name, labels::text FROM hostwatch.series
         WHERE host = $1 AND ($2 = '' OR name = $2) AND labels @> $3::jsonb
         ORDER BY id",
    )
    .bind(&q.host)
    .bind(&q.name)
    .bind(selector)
    .fetch_all(&store.pool)
    .await?;
    if series.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = series.iter().map(|s| s.0).collect();
    let from = PgTime(q.from_ms.clamp(MIN_QUERY_MS, MAX_QUERY_MS));
    let to = PgTime(q.to_ms.clamp(MIN_QUERY_MS, MAX_QUERY_MS));
    let retention_ms = i64::try_from(store.config.retention.as_millis()).unwrap_or(i64::MAX);
    let resolution = Resolution::for_span(from.0, to.0, common::now_ms(), retention_ms);
    // Rollups keep avg, min, max and last per bucket; the raw tail is
    // combined the same way at query time.
    let col = q.agg.as_str();
    let raw_agg = match q.agg {
        Agg::Avg => "avg(value)",
        Agg::Min => "min(value)",
        Agg::Max => "max(value)",
        Agg::Last => "(array_agg(value ORDER BY time DESC))[1]",
    };
    let sql = match (resolution.rollup(), store.flavor) {
        (None, _) => RAW.to_owned(),
        (Some((table, unit, _)), Flavor::Timescale) => format!(
            "SELECT series_id, bucket, {col} FROM {table}
             WHERE series_id = ANY($1) AND bucket >= date_trunc('{unit}', $2) AND bucket <= $3
             ORDER BY 1, 2"
        ),
        (Some((table, unit, tier)), Flavor::Plain) => format!(
            "WITH tail AS (
                SELECT date_trunc('{unit}', least(now(), min(from_time))) AS t
                FROM hostwatch.rollup_pending WHERE tier = '{tier}')
             SELECT series_id, bucket, {col} FROM {table}, tail
             WHERE series_id = ANY($1) AND bucket >= date_trunc('{unit}', $2)
               AND bucket <= $3 AND bucket < tail.t
             UNION ALL
             SELECT series_id, date_trunc('{unit}', time), {raw_agg} FROM hostwatch.samples, tail
             WHERE series_id = ANY($1) AND time >= greatest(tail.t, date_trunc('{unit}', $2))
               AND time <= $3
             GROUP BY 1, 2
             ORDER BY 1, 2"
        ),
    };
    let rows: Vec<(i64, PgTime, f64)> = sqlx::query_as(&sql)
        .bind(&ids)
        .bind(from)
        .bind(to)
        .fetch_all(&store.pool)
        .await?;

    let mut out: Vec<SeriesPoints> = series
        .into_iter()
        .map(|(_, name, labels)| SeriesPoints {
            host: q.host.clone(),
            name,
            labels: parse_labels(&labels),
            points: Vec::new(),
        })
        .collect();
    let index: std::collections::HashMap<i64, usize> =
        ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    for (id, t, v) in rows {
        if let Some(&i) = index.get(&id) {
            out[i].points.push(Point { t: t.0, v });
        }
    }
    Ok(out)
}

const RAW: &str = "SELECT series_id, time, value FROM hostwatch.samples
    WHERE series_id = ANY($1) AND time >= $2 AND time <= $3
    ORDER BY series_id, time";

pub(super) async fn latest(store: &PostgresStore) -> Result<Vec<LatestPoint>> {
    // One backward index probe per series (and partition), not a scan.
    let rows = sqlx::query(
        "SELECT r.host, r.name, r.labels::text, l.time, l.value
         FROM hostwatch.series r
         CROSS JOIN LATERAL (
            SELECT time, value FROM hostwatch.samples s
            WHERE s.series_id = r.id ORDER BY time DESC LIMIT 1) l",
    )
    .fetch_all(&store.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(LatestPoint {
                host: r.try_get(0)?,
                key: SeriesKey {
                    name: r.try_get(1)?,
                    labels: parse_labels(r.try_get(2)?),
                },
                point: Point {
                    t: r.try_get::<PgTime, _>(3)?.0,
                    v: r.try_get(4)?,
                },
            })
        })
        .collect()
}

pub(super) async fn count_rows(store: &PostgresStore, host: &str) -> Result<u64> {
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM hostwatch.samples s
         JOIN hostwatch.series r ON r.id = s.series_id WHERE r.host = $1",
    )
    .bind(host)
    .fetch_one(&store.pool)
    .await?;
    Ok(n.max(0) as u64)
}

pub(super) fn parse_labels(json: &str) -> Labels {
    serde_json::from_str(json).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_follows_the_covered_span() {
        let (h, d) = (3_600_000, 86_400_000);
        let now = 1_000 * d;
        let r = |from, to| Resolution::for_span(from, to, now, 30 * d);
        assert_eq!(r(now - h, now), Resolution::Raw);
        assert_eq!(r(now - 6 * h, now), Resolution::Raw);
        assert_eq!(r(now - 7 * h, now), Resolution::Minute);
        assert_eq!(r(now - 8 * d, now), Resolution::Hour);
        // Open ends count only what can exist: the future is empty, and
        // nothing raw is older than retention.
        assert_eq!(r(now - h, i64::MAX), Resolution::Raw);
        assert_eq!(r(0, i64::MAX), Resolution::Hour);
        assert_eq!(
            Resolution::for_span(0, i64::MAX, now, 5 * h),
            Resolution::Raw
        );
    }
}
