//! History in PostgreSQL: TimescaleDB when the extension is there, else plain
//! PostgreSQL with native daily partitions and rollups maintained by the hub.
//!
//! - `schema`: picking the flavour, migrations (`migrations/postgres/`).
//! - `commit`: the write path — ledger check and binary `COPY` in one transaction.
//! - `copy`: the binary COPY format and `timestamptz` ⇄ unix ms.
//! - `partitions`: daily partitions ahead, on demand, and past retention.
//! - `maintenance`: the background task (partitions, retention, rollups).
//! - `read`: ranges (raw, 1 m or 1 h by span), latest points, counts.
//!
//! Users query history through the stable view `hostwatch.samples_v(time,
//! host, site, name, labels, value)`; the tables behind it may change.

mod bands;
mod commit;
pub mod copy;
mod events;
mod maintenance;
mod models;
mod partitions;
mod read;
mod schema;

use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use common::model::{AnomalyEvent, RangeQuery, SeriesPoints};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Row};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use maintenance::Report as MaintenanceReport;
pub use read::Resolution;
pub use schema::{Flavor, PLAIN_WARNING};

use super::{HistoryStore, HostRow, LatestPoint, LedgerEntry, ModelSnapshot, Outcome, WriteBatch};
use crate::config::PostgresConfig;
use crate::Result;

/// How long a query waits for a free pooled connection before failing (the
/// writer then reports the commit failed and agents keep their batches).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct PostgresStore {
    pool: PgPool,
    flavor: Flavor,
    config: PostgresConfig,
    partitions: Option<Arc<partitions::Partitions>>,
    /// host → key → series id; series are immutable once created, so the
    /// cache never goes stale. New ids enter only after their commit.
    series_ids: Mutex<commit::SeriesIds>,
    /// Each agent's `last_seq` as this store's last commit left it: its
    /// ledger row exists (rows are never deleted), and the next commit can
    /// check the value instead of reading it under lock (`commit.rs`).
    last_seqs: Mutex<rustc_hash::FxHashMap<String, i64>>,
    maintenance: Arc<maintenance::Maintenance>,
    /// Set once by [`HistoryStore::observe`]; commits are untimed before.
    timers: OnceLock<commit::Timers>,
    stop: CancellationToken,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl PostgresStore {
    /// Connects, migrates, creates today's partitions and starts the
    /// maintenance task. Logs a warning when it takes the plain path.
    pub async fn open(url: &str, config: &PostgresConfig) -> Result<Self> {
        // UTC sessions: day partitions and rollup buckets are UTC. NOTICEs
        // ("already exists, skipping" from idempotent DDL) are not worth a log line.
        let options = PgConnectOptions::from_str(url)?
            .options([("timezone", "UTC"), ("client_min_messages", "warning")])
            .application_name("hostwatch-hub");
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        let flavor = schema::migrate(&pool).await?;
        let partitions = match flavor {
            Flavor::Plain => {
                tracing::warn!("{PLAIN_WARNING}");
                let p = partitions::Partitions::load(&pool, config.retention).await?;
                p.create_ahead(&pool).await;
                Some(Arc::new(p))
            }
            Flavor::Timescale => {
                schema::timescale_retention(
                    &pool,
                    [
                        ("hostwatch.samples", config.retention),
                        ("hostwatch.samples_1m", config.retention_1m),
                        ("hostwatch.samples_1h", config.retention_1h),
                    ],
                )
                .await?;
                tracing::info!("TimescaleDB history: hypertable, continuous aggregates, policies");
                None
            }
        };
        let maintenance = Arc::new(maintenance::Maintenance {
            pool: pool.clone(),
            flavor,
            partitions: partitions.clone(),
            config: config.clone(),
        });
        let stop = CancellationToken::new();
        let task = tokio::spawn({
            let (m, token) = (maintenance.clone(), stop.child_token());
            async move { m.run(token).await }.instrument(tracing::info_span!("history_maintenance"))
        });
        Ok(Self {
            pool,
            flavor,
            config: config.clone(),
            partitions,
            series_ids: Mutex::default(),
            last_seqs: Mutex::default(),
            maintenance,
            timers: OnceLock::new(),
            stop,
            task: Mutex::new(Some(task)),
        })
    }

    /// A small pool on a migrated schema and nothing else (no partitions,
    /// no maintenance task): for admin commands such as `hostwatch hub token
    /// create`, which may run beside a live hub.
    pub async fn open_admin(url: &str) -> Result<PgPool> {
        let options = PgConnectOptions::from_str(url)?
            .options([("timezone", "UTC"), ("client_min_messages", "warning")])
            .application_name("hostwatch-admin");
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        schema::migrate(&pool).await?;
        Ok(pool)
    }

    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    /// The warning logged at start-up, if any (the plain path's).
    pub fn startup_warning(&self) -> Option<&'static str> {
        (self.flavor == Flavor::Plain).then_some(PLAIN_WARNING)
    }

    /// Runs one maintenance pass now (the background task does this every
    /// `postgres.maintenance_interval`).
    pub async fn maintain(&self) -> MaintenanceReport {
        self.maintenance.run_once().await
    }

    /// The connection pool, for tests and tools that look at the tables.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

impl Drop for PostgresStore {
    /// A store dropped without `close()` still stops its task.
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[async_trait]
impl HistoryStore for PostgresStore {
    async fn upsert_host(&self, h: &HostRow) -> Result<()> {
        let facts = serde_json::to_string(&h.facts).unwrap_or_else(|_| "{}".into());
        sqlx::query(
            "INSERT INTO hostwatch.hosts (host, site, agent_id, facts, updated)
             VALUES ($1, $2, $3, $4::jsonb, now())
             ON CONFLICT (host) DO UPDATE SET site = excluded.site, agent_id = excluded.agent_id,
               facts = excluded.facts, updated = excluded.updated",
        )
        .bind(&h.host)
        .bind(&h.site)
        .bind(&h.agent_id)
        .bind(facts)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn commit(&self, batches: &[WriteBatch]) -> Result<Vec<Outcome>> {
        commit::commit(self, batches).await
    }

    fn observe(&self, registry: &common::metrics::Registry) {
        let _ = self.timers.set(commit::Timers::new(registry));
    }

    async fn ledger(&self) -> Result<Vec<LedgerEntry>> {
        let rows = sqlx::query(
            "SELECT agent_id, host, last_seq, batches, rows, duplicates
             FROM hostwatch.ledger ORDER BY agent_id",
        )
        .fetch_all(&self.pool)
        .await?;
        let n = |r: &sqlx::postgres::PgRow, i| r.try_get::<i64, _>(i).map(|v| v.max(0) as u64);
        rows.iter()
            .map(|r| {
                Ok(LedgerEntry {
                    agent_id: r.try_get(0)?,
                    host: r.try_get(1)?,
                    last_seq: n(r, 2)?,
                    batches: n(r, 3)?,
                    rows: n(r, 4)?,
                    duplicates: n(r, 5)?,
                })
            })
            .collect()
    }

    async fn stored_seq(&self, agent_id: &str) -> Result<u64> {
        let last: Option<i64> =
            sqlx::query_scalar("SELECT last_seq FROM hostwatch.ledger WHERE agent_id = $1")
                .bind(agent_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(last.unwrap_or(0).max(0) as u64)
    }

    async fn hosts(&self) -> Result<Vec<HostRow>> {
        let rows = sqlx::query(
            "SELECT host, site, agent_id, facts::text FROM hostwatch.hosts ORDER BY host",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(HostRow {
                    host: r.try_get(0)?,
                    site: r.try_get(1)?,
                    agent_id: r.try_get(2)?,
                    facts: serde_json::from_str(r.try_get(3)?).unwrap_or_default(),
                })
            })
            .collect()
    }

    async fn range(&self, q: &RangeQuery) -> Result<Vec<SeriesPoints>> {
        read::range(self, q).await
    }

    async fn latest(&self) -> Result<Vec<LatestPoint>> {
        read::latest(self).await
    }

    async fn count_rows(&self, host: &str) -> Result<u64> {
        read::count_rows(self, host).await
    }

    async fn upsert_event(&self, ev: &AnomalyEvent) -> Result<()> {
        events::upsert(self, ev).await
    }

    async fn save_models(&self, models: &[ModelSnapshot]) -> Result<()> {
        models::save(self, models).await
    }

    async fn load_models(&self) -> Result<Vec<ModelSnapshot>> {
        models::load(self).await
    }

    async fn events(&self, limit: usize) -> Result<Vec<AnomalyEvent>> {
        events::recent(self, limit).await
    }

    async fn save_bands(&self, bands: &[crate::bands::BandRow]) -> Result<()> {
        bands::save(self, bands).await
    }

    async fn bands(&self, q: &RangeQuery) -> Result<Vec<common::model::SeriesBand>> {
        bands::read(self, q).await
    }

    fn auth_store(&self) -> Arc<dyn crate::auth::store::AuthStore> {
        Arc::new(crate::auth::store::PostgresAuth::new(self.pool.clone()))
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Stops the maintenance task (a pass in progress is abandoned; its
    /// transaction rolls back and every step is idempotent), then the pool.
    async fn close(&self) {
        self.stop.cancel();
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
        self.pool.close().await;
    }
}
