//! Anomaly events in `hostwatch.events`: one row per incident, upserted as
//! it opens, worsens and closes.

use common::model::AnomalyEvent;
use sqlx::Row;

use super::copy::PgTime;
use super::PostgresStore;
use crate::Result;

pub(super) async fn upsert(store: &PostgresStore, ev: &AnomalyEvent) -> Result<()> {
    let labels = serde_json::to_string(&ev.labels).unwrap_or_else(|_| "{}".into());
    let evidence = serde_json::to_string(&ev.evidence).unwrap_or_else(|_| "[]".into());
    let processes = serde_json::to_string(&ev.top_processes).unwrap_or_else(|_| "[]".into());
    sqlx::query(
        "INSERT INTO hostwatch.events (id, host, site, name, labels, start_time, last_time,
             end_time, severity, score, actual, expected, evidence, top_processes)
         VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10, $11, $12, $13::jsonb,
                 $14::jsonb)
         ON CONFLICT (id) DO UPDATE SET last_time = excluded.last_time,
             end_time = excluded.end_time, severity = excluded.severity,
             score = excluded.score, actual = excluded.actual,
             expected = excluded.expected, evidence = excluded.evidence",
    )
    .bind(i64::try_from(ev.id).unwrap_or(i64::MAX))
    .bind(&ev.host)
    .bind(&ev.site)
    .bind(&ev.name)
    .bind(labels)
    .bind(PgTime(ev.start_ms))
    .bind(PgTime(ev.last_ms))
    .bind(ev.end_ms.map(PgTime))
    .bind(&ev.severity)
    .bind(ev.score)
    .bind(ev.actual)
    .bind(ev.expected)
    .bind(evidence)
    .bind(processes)
    .execute(&store.pool)
    .await?;
    Ok(())
}

pub(super) async fn recent(store: &PostgresStore, limit: usize) -> Result<Vec<AnomalyEvent>> {
    let rows = sqlx::query(
        "SELECT id, host, site, name, labels::text, start_time, last_time, end_time,
                severity, score, actual, expected, evidence::text, top_processes::text
         FROM hostwatch.events ORDER BY start_time DESC, id DESC LIMIT $1",
    )
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(&store.pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| AnomalyEvent {
            id: r.get::<i64, _>(0).max(0) as u64,
            host: r.get(1),
            site: r.get(2),
            name: r.get(3),
            labels: serde_json::from_str(r.get::<&str, _>(4)).unwrap_or_default(),
            start_ms: r.get::<PgTime, _>(5).0,
            last_ms: r.get::<PgTime, _>(6).0,
            end_ms: r.get::<Option<PgTime>, _>(7).map(|t| t.0),
            severity: r.get(8),
            score: r.get(9),
            actual: r.get(10),
            expected: r.get(11),
            evidence: serde_json::from_str(r.get::<&str, _>(12)).unwrap_or_default(),
            top_processes: serde_json::from_str(r.get::<&str, _>(13)).unwrap_or_default(),
        })
        .collect())
}
