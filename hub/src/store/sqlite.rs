//! Embedded history in SQLite (WAL, `synchronous=FULL` so an ack survives power
//! loss). The default when no `DATABASE_URL` is set: `hostwatch demo` needs no
//! services.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::Mutex;

use async_trait::async_trait;
use common::model::{
    AnomalyEvent, BandPoint, Point, RangeQuery, SeriesBand, SeriesKey, SeriesPoints,
};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};

use super::{HistoryStore, HostRow, LatestPoint, LedgerEntry, ModelSnapshot, Outcome, WriteBatch};
use crate::Result;

/// Model snapshots or band points written per transaction.
const ROWS_PER_TX: usize = 2_000;

/// Rows per INSERT statement: 3 binds each stays under SQLite's 32766 limit.
const ROWS_PER_INSERT: usize = 10_000;

pub struct SqliteStore {
    pool: SqlitePool,
    /// (host, key) → series id; series are immutable once created, so the
    /// cache never goes stale.
    series_ids: Mutex<HashMap<(String, SeriesKey), i64>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and runs migrations.
    pub async fn open(path: &Path) -> Result<Self> {
        let in_memory = path.as_os_str() == ":memory:";
        let opts = if in_memory {
            SqliteConnectOptions::from_str("sqlite::memory:")?
        } else {
            SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
        }
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(std::time::Duration::from_secs(10));
        // An in-memory database exists per connection: keep exactly one.
        let max = if in_memory { 1 } else { 4 };
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(opts)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Self {
            pool,
            series_ids: Mutex::new(HashMap::new()),
        })
    }

    fn cached(&self, host: &str, key: &SeriesKey) -> Option<i64> {
        self.series_ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(host.to_owned(), key.clone()))
            .copied()
    }

    /// The id of (host, key), creating the series inside the caller's
    /// transaction. New ids go to `fresh` and reach the cache only after commit,
    /// so a rolled-back insert never leaves a dangling id behind.
    async fn resolve(
        &self,
        conn: &mut SqliteConnection,
        host: &str,
        key: &SeriesKey,
        fresh: &mut HashMap<(String, SeriesKey), i64>,
    ) -> Result<i64> {
        if let Some(id) = self.cached(host, key) {
            return Ok(id);
        }
        let cache_key = (host.to_owned(), key.clone());
        if let Some(id) = fresh.get(&cache_key) {
            return Ok(*id);
        }
        let labels = key.labels_json();
        sqlx::query("INSERT OR IGNORE INTO series (host, name, labels) VALUES (?, ?, ?)")
            .bind(host)
            .bind(&key.name)
            .bind(&labels)
            .execute(&mut *conn)
            .await?;
        let id: i64 =
            sqlx::query_scalar("SELECT id FROM series WHERE host = ? AND name = ? AND labels = ?")
                .bind(host)
                .bind(&key.name)
                .bind(&labels)
                .fetch_one(&mut *conn)
                .await?;
        fresh.insert(cache_key, id);
        Ok(id)
    }

    /// Every series of one host with its storage id.
    async fn series_of(&self, host: &str) -> Result<Vec<(i64, SeriesKey)>> {
        let rows = sqlx::query("SELECT id, name, labels FROM series WHERE host = ? ORDER BY id")
            .bind(host)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let key = SeriesKey {
                    name: r.get(1),
                    labels: serde_json::from_str(r.get::<&str, _>(2)).unwrap_or_default(),
                };
                (r.get(0), key)
            })
            .collect())
    }
}

#[async_trait]
impl HistoryStore for SqliteStore {
    async fn upsert_host(&self, h: &HostRow) -> Result<()> {
        let facts = serde_json::to_string(&h.facts).unwrap_or_else(|_| "{}".into());
        sqlx::query(
            "INSERT INTO hosts (host, site, agent_id, facts, updated_ms) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (host) DO UPDATE SET site = excluded.site, agent_id = excluded.agent_id,
               facts = excluded.facts, updated_ms = excluded.updated_ms",
        )
        .bind(&h.host)
        .bind(&h.site)
        .bind(&h.agent_id)
        .bind(facts)
        .bind(common::now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Commits `batches` in one transaction (group commit). Each batch is
    /// checked against the ledger inside the transaction, so a resent batch is
    /// reported as a duplicate and not stored twice.
    async fn commit(&self, batches: &[WriteBatch]) -> Result<Vec<Outcome>> {
        let now = common::now_ms();
        let mut fresh = HashMap::new();
        // IMMEDIATE takes the write lock up front: a deferred transaction that reads
        // the ledger first fails with SQLITE_BUSY if another connection wrote since.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut outcomes = Vec::with_capacity(batches.len());
        for b in batches {
            let last: Option<i64> =
                sqlx::query_scalar("SELECT last_seq FROM ledger WHERE agent_id = ?")
                    .bind(&b.agent_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let seq = i64::try_from(b.seq).unwrap_or(i64::MAX);
            if last.is_some_and(|l| seq <= l) {
                sqlx::query("UPDATE ledger SET duplicates = duplicates + 1 WHERE agent_id = ?")
                    .bind(&b.agent_id)
                    .execute(&mut *tx)
                    .await?;
                outcomes.push(Outcome::Duplicate);
                continue;
            }
            let mut rows = Vec::with_capacity(b.rows.len());
            for (key, ts, v) in &b.rows {
                let id = self.resolve(&mut tx, &b.host, key, &mut fresh).await?;
                rows.push((id, *ts, *v));
            }
            for chunk in rows.chunks(ROWS_PER_INSERT) {
                let mut qb: QueryBuilder<Sqlite> =
                    QueryBuilder::new("INSERT INTO samples (series_id, ts_ms, value) ");
                qb.push_values(chunk, |mut row, (id, ts, v)| {
                    row.push_bind(*id).push_bind(*ts).push_bind(*v);
                });
                qb.build().execute(&mut *tx).await?;
            }
            sqlx::query(
                "INSERT INTO ledger (agent_id, host, last_seq, batches, rows, updated_ms)
                 VALUES (?, ?, ?, 1, ?, ?)
                 ON CONFLICT (agent_id) DO UPDATE SET host = excluded.host,
                   last_seq = excluded.last_seq, batches = batches + 1,
                   rows = rows + excluded.rows, updated_ms = excluded.updated_ms",
            )
            .bind(&b.agent_id)
            .bind(&b.host)
            .bind(seq)
            .bind(b.rows.len() as i64)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            outcomes.push(Outcome::Stored);
        }
        tx.commit().await?;
        self.series_ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(fresh);
        Ok(outcomes)
    }

    async fn ledger(&self) -> Result<Vec<LedgerEntry>> {
        let rows = sqlx::query(
            "SELECT agent_id, host, last_seq, batches, rows, duplicates FROM ledger ORDER BY agent_id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| LedgerEntry {
                agent_id: r.get(0),
                host: r.get(1),
                last_seq: r.get::<i64, _>(2).max(0) as u64,
                batches: r.get::<i64, _>(3).max(0) as u64,
                rows: r.get::<i64, _>(4).max(0) as u64,
                duplicates: r.get::<i64, _>(5).max(0) as u64,
            })
            .collect())
    }

    async fn stored_seq(&self, agent_id: &str) -> Result<u64> {
        let last: Option<i64> =
            sqlx::query_scalar("SELECT last_seq FROM ledger WHERE agent_id = ?")
                .bind(agent_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(last.unwrap_or(0).max(0) as u64)
    }

    async fn hosts(&self) -> Result<Vec<HostRow>> {
        let rows = sqlx::query("SELECT host, site, agent_id, facts FROM hosts ORDER BY host")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| HostRow {
                host: r.get(0),
                site: r.get(1),
                agent_id: r.get(2),
                facts: serde_json::from_str(r.get::<&str, _>(3)).unwrap_or_default(),
            })
            .collect())
    }

    async fn range(&self, q: &RangeQuery) -> Result<Vec<SeriesPoints>> {
        let mut out = Vec::new();
        for (id, key) in self.series_of(&q.host).await? {
            if !key.matches(&q.name, &q.labels) {
                continue;
            }
            let rows = sqlx::query(
                "SELECT ts_ms, value FROM samples WHERE series_id = ? AND ts_ms >= ? AND ts_ms <= ?
                 ORDER BY ts_ms",
            )
            .bind(id)
            .bind(q.from_ms)
            .bind(q.to_ms)
            .fetch_all(&self.pool)
            .await?;
            out.push(SeriesPoints {
                host: q.host.clone(),
                name: key.name,
                labels: key.labels,
                points: rows
                    .iter()
                    .map(|r| Point {
                        t: r.get(0),
                        v: r.get(1),
                    })
                    .collect(),
            });
        }
        Ok(out)
    }

    async fn latest(&self) -> Result<Vec<LatestPoint>> {
        // The (series_id, ts_ms) index makes each MAX a short index walk.
        let rows = sqlx::query(
            "SELECT r.host, r.name, r.labels, s.ts_ms, s.value
             FROM series r
             JOIN samples s ON s.series_id = r.id
             WHERE s.ts_ms = (SELECT MAX(ts_ms) FROM samples WHERE series_id = r.id)
             GROUP BY r.id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| LatestPoint {
                host: r.get(0),
                key: SeriesKey {
                    name: r.get(1),
                    labels: serde_json::from_str(r.get::<&str, _>(2)).unwrap_or_default(),
                },
                point: Point {
                    t: r.get(3),
                    v: r.get(4),
                },
            })
            .collect())
    }

    /// Rows stored for one host (tests and the ledger view).
    async fn count_rows(&self, host: &str) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM samples s JOIN series r ON r.id = s.series_id WHERE r.host = ?",
        )
        .bind(host)
        .fetch_one(&self.pool)
        .await?;
        Ok(n.max(0) as u64)
    }

    async fn upsert_event(&self, ev: &AnomalyEvent) -> Result<()> {
        sqlx::query(
            "INSERT INTO events (id, host, site, name, labels, start_ms, last_ms, end_ms,
                 severity, score, actual, expected, evidence, top_processes)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET last_ms = excluded.last_ms,
                 end_ms = excluded.end_ms, severity = excluded.severity, score = excluded.score,
                 actual = excluded.actual, expected = excluded.expected,
                 evidence = excluded.evidence",
        )
        .bind(i64::try_from(ev.id).unwrap_or(i64::MAX))
        .bind(&ev.host)
        .bind(&ev.site)
        .bind(&ev.name)
        .bind(serde_json::to_string(&ev.labels).unwrap_or_else(|_| "{}".into()))
        .bind(ev.start_ms)
        .bind(ev.last_ms)
        .bind(ev.end_ms)
        .bind(&ev.severity)
        .bind(ev.score)
        .bind(ev.actual)
        .bind(ev.expected)
        .bind(serde_json::to_string(&ev.evidence).unwrap_or_else(|_| "[]".into()))
        .bind(serde_json::to_string(&ev.top_processes).unwrap_or_else(|_| "[]".into()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn save_models(&self, models: &[ModelSnapshot]) -> Result<()> {
        let now = common::now_ms();
        // One transaction per chunk: one fsync for thousands of models, and
        // no single transaction holding the write lock for long.
        for chunk in models.chunks(ROWS_PER_TX) {
            let mut tx = self.pool.begin().await?;
            for m in chunk {
                sqlx::query(
                    "INSERT INTO detector_models (host, series, model, saved_ms) VALUES (?, ?, ?, ?)
                     ON CONFLICT (host, series) DO UPDATE SET model = excluded.model,
                         saved_ms = excluded.saved_ms",
                )
                .bind(&m.host)
                .bind(&m.series)
                .bind(&m.model)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    async fn load_models(&self) -> Result<Vec<ModelSnapshot>> {
        let rows: Vec<(String, String, Vec<u8>)> =
            sqlx::query_as("SELECT host, series, model FROM detector_models")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(ModelSnapshot::from).collect())
    }

    async fn save_bands(&self, bands: &[crate::bands::BandRow]) -> Result<()> {
        for chunk in bands.chunks(ROWS_PER_TX) {
            let mut tx = self.pool.begin().await?;
            for b in chunk {
                sqlx::query(
                    "INSERT INTO bands (series_id, t_ms, expected, lo, hi)
                     SELECT id, ?, ?, ?, ? FROM series WHERE host = ? AND name = ? AND labels = ?
                     ON CONFLICT (series_id, t_ms) DO UPDATE SET expected = excluded.expected,
                         lo = excluded.lo, hi = excluded.hi",
                )
                .bind(b.point.t)
                .bind(b.point.expected)
                .bind(b.point.lo)
                .bind(b.point.hi)
                .bind(&b.host)
                .bind(&b.key.name)
                .bind(b.key.labels_json())
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    async fn bands(&self, q: &RangeQuery) -> Result<Vec<SeriesBand>> {
        let mut out = Vec::new();
        for (id, key) in self.series_of(&q.host).await? {
            if !key.matches(&q.name, &q.labels) {
                continue;
            }
            // From the row in force at `from` (the newest at or before it).
            let rows: Vec<(i64, f64, f64, f64)> = sqlx::query_as(
                "SELECT t_ms, expected, lo, hi FROM bands WHERE series_id = ?1
                   AND t_ms >= COALESCE((SELECT MAX(t_ms) FROM bands
                                         WHERE series_id = ?1 AND t_ms <= ?2), ?2)
                   AND t_ms <= ?3
                 ORDER BY t_ms",
            )
            .bind(id)
            .bind(q.from_ms)
            .bind(q.to_ms)
            .fetch_all(&self.pool)
            .await?;
            if rows.is_empty() {
                continue;
            }
            out.push(SeriesBand {
                host: q.host.clone(),
                name: key.name,
                labels: key.labels,
                band: rows
                    .into_iter()
                    .map(|(t, expected, lo, hi)| BandPoint {
                        t,
                        expected,
                        lo,
                        hi,
                    })
                    .collect(),
            });
        }
        Ok(out)
    }

    async fn events(&self, limit: usize) -> Result<Vec<AnomalyEvent>> {
        let rows = sqlx::query(
            "SELECT id, host, site, name, labels, start_ms, last_ms, end_ms, severity, score,
                    actual, expected, evidence, top_processes
             FROM events ORDER BY start_ms DESC, id DESC LIMIT ?",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| AnomalyEvent {
                id: r.get::<i64, _>(0).max(0) as u64,
                host: r.get(1),
                site: r.get(2),
                name: r.get(3),
                labels: serde_json::from_str(r.get::<&str, _>(4)).unwrap_or_default(),
                start_ms: r.get(5),
                last_ms: r.get(6),
                end_ms: r.get(7),
                severity: r.get(8),
                score: r.get(9),
                actual: r.get(10),
                expected: r.get(11),
                evidence: serde_json::from_str(r.get::<&str, _>(12)).unwrap_or_default(),
                top_processes: serde_json::from_str(r.get::<&str, _>(13)).unwrap_or_default(),
            })
            .collect())
    }

    fn auth_store(&self) -> std::sync::Arc<dyn crate::auth::store::AuthStore> {
        std::sync::Arc::new(crate::auth::store::SqliteAuth::new(self.pool.clone()))
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
