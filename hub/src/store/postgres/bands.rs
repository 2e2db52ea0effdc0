//! Expected bands in `hostwatch.bands` (`crate::bands`): upserted in chunks,
//! one statement over arrays that finds each point's series by its key; read
//! per range from the point in force at its start.

use common::model::{BandPoint, RangeQuery, SeriesBand};

use super::copy::PgTime;
use super::read::{parse_labels, MAX_QUERY_MS, MIN_QUERY_MS};
use super::PostgresStore;
use crate::bands::BandRow;
use crate::Result;

/// Points per statement.
const CHUNK: usize = 2_000;

pub(super) async fn save(store: &PostgresStore, bands: &[BandRow]) -> Result<()> {
    for chunk in bands.chunks(CHUNK) {
        let hosts: Vec<&str> = chunk.iter().map(|b| b.host.as_str()).collect();
        let names: Vec<&str> = chunk.iter().map(|b| b.key.name.as_str()).collect();
        let labels: Vec<String> = chunk.iter().map(|b| b.key.labels_json()).collect();
        let times: Vec<PgTime> = chunk.iter().map(|b| PgTime(b.point.t)).collect();
        let expected: Vec<f64> = chunk.iter().map(|b| b.point.expected).collect();
        let lo: Vec<f64> = chunk.iter().map(|b| b.point.lo).collect();
        let hi: Vec<f64> = chunk.iter().map(|b| b.point.hi).collect();
        // `series_host_name_labels` is on md5(labels::text): the same
        // expression finds the series through that index.
        sqlx::query(
            "INSERT INTO hostwatch.bands (series_id, time, expected, lo, hi)
             SELECT s.id, b.time, b.expected, b.lo, b.hi
             FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::timestamptz[],
                         $5::float8[], $6::float8[], $7::float8[])
                  AS b(host, name, labels, time, expected, lo, hi)
             JOIN hostwatch.series s ON s.host = b.host AND s.name = b.name
                  AND md5(s.labels::text) = md5(b.labels::text)
             ON CONFLICT (series_id, time) DO UPDATE SET expected = excluded.expected,
                 lo = excluded.lo, hi = excluded.hi",
        )
        .bind(&hosts)
        .bind(&names)
        .bind(&labels)
        .bind(&times)
        .bind(&expected)
        .bind(&lo)
        .bind(&hi)
        .execute(&store.pool)
        .await?;
    }
    Ok(())
}

pub(super) async fn read(store: &PostgresStore, q: &RangeQuery) -> Result<Vec<SeriesBand>> {
    let selector = serde_json::to_string(&q.labels).unwrap_or_else(|_| "{}".into());
    let from = PgTime(q.from_ms.clamp(MIN_QUERY_MS, MAX_QUERY_MS));
    let to = PgTime(q.to_ms.clamp(MIN_QUERY_MS, MAX_QUERY_MS));
    // Per series, from the newest point at or before `from` (a band holds
    // until the next point), through `to`.
    let rows: Vec<(i64, String, String, PgTime, f64, f64, f64)> = sqlx::query_as(
        "SELECT s.id, s.name, s.labels::text, b.time, b.expected, b.lo, b.hi
         FROM hostwatch.series s
         CROSS JOIN LATERAL (
            SELECT coalesce(max(time), $4) AS start FROM hostwatch.bands
            WHERE series_id = s.id AND time <= $4) f
         JOIN hostwatch.bands b ON b.series_id = s.id AND b.time >= f.start AND b.time <= $5
         WHERE s.host = $1 AND ($2 = '' OR s.name = $2) AND s.labels @> $3::jsonb
         ORDER BY s.id, b.time",
    )
    .bind(&q.host)
    .bind(&q.name)
    .bind(selector)
    .bind(from)
    .bind(to)
    .fetch_all(&store.pool)
    .await?;
    let mut out: Vec<SeriesBand> = Vec::new();
    let mut last_id = None;
    for (id, name, labels, t, expected, lo, hi) in rows {
        if last_id != Some(id) {
            last_id = Some(id);
            out.push(SeriesBand {
                host: q.host.clone(),
                name,
                labels: parse_labels(&labels),
                band: Vec::new(),
            });
        }
        if let Some(s) = out.last_mut() {
            s.band.push(BandPoint {
                t: t.0,
                expected,
                lo,
                hi,
            });
        }
    }
    Ok(out)
}
