//! History storage behind one trait, [`HistoryStore`]: the embedded SQLite
//! store ([`sqlite::SqliteStore`]) and PostgreSQL/TimescaleDB
//! ([`postgres::PostgresStore`]) pass the same storage test suite
//! (`tests/it/storage.rs`); [`open`] picks one from the config.
//!
//! Invariant: a batch's rows and its ledger entry are committed in one
//! transaction, so `(agent, seq)` is stored at most once and the ack the agent
//! gets means the rows are durable. Series ids are the store's business: rows
//! arrive keyed by `SeriesKey` and the store maps them to its own ids.

pub mod postgres;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use common::model::{
    AnomalyEvent, HostFacts, KeyedRow, Point, RangeQuery, SeriesKey, SeriesPoints,
};

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

use crate::{Config, Result};

/// The history store `config` asks for: PostgreSQL when `database_url` is
/// set, else the embedded SQLite file.
pub async fn open(config: &Config) -> Result<Arc<dyn HistoryStore>> {
    if config.database_url.is_empty() {
        let store = SqliteStore::open(&config.database_path).await?;
        tracing::info!(path = %config.database_path.display(), "embedded SQLite history opened");
        Ok(Arc::new(store))
    } else {
        let store = PostgresStore::open(&config.database_url, &config.postgres).await?;
        tracing::info!(flavor = ?store.flavor(), "PostgreSQL history opened");
        Ok(Arc::new(store))
    }
}

/// One agent batch waiting to be committed.
#[derive(Debug, Clone)]
pub struct WriteBatch {
    pub agent_id: String,
    pub host: String,
    pub seq: u64,
    pub rows: Vec<KeyedRow>,
}

/// What happened to one batch in a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Stored,
    /// `seq` was at or below the agent's stored seq: acked, not stored again.
    Duplicate,
}

/// Per-agent delivery ledger.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerEntry {
    pub agent_id: String,
    pub host: String,
    pub last_seq: u64,
    pub batches: u64,
    pub rows: u64,
    pub duplicates: u64,
}

/// A host row as stored.
#[derive(Debug, Clone)]
pub struct HostRow {
    pub host: String,
    pub site: String,
    pub agent_id: String,
    pub facts: HostFacts,
}

/// The newest point of one series (to rebuild the latest state at start-up).
#[derive(Debug, Clone)]
pub struct LatestPoint {
    pub host: String,
    pub key: SeriesKey,
    pub point: Point,
}

/// One series' detector state, as [`crate::detect::Engine::snapshot`] made it.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSnapshot {
    pub host: String,
    /// The series key as JSON (stable: labels are ordered).
    pub series: String,
    pub model: Vec<u8>,
}

impl From<(String, String, Vec<u8>)> for ModelSnapshot {
    /// A `(host, series, model)` row as both stores select it.
    fn from((host, series, model): (String, String, Vec<u8>)) -> Self {
        Self {
            host,
            series,
            model,
        }
    }
}

#[async_trait]
pub trait HistoryStore: Send + Sync + 'static {
    /// Records or updates who a host is.
    async fn upsert_host(&self, h: &HostRow) -> Result<()>;
    /// Commits `batches` in one transaction (group commit), checking each
    /// against the ledger inside it; outcomes are in input order.
    async fn commit(&self, batches: &[WriteBatch]) -> Result<Vec<Outcome>>;
    /// Registers the store's own timings (the steps of `commit`) in the
    /// hub's `/metrics`; stores without any keep the default.
    fn observe(&self, _registry: &common::metrics::Registry) {}
    async fn ledger(&self) -> Result<Vec<LedgerEntry>>;
    /// Highest seq of `agent_id` stored; 0 if none.
    async fn stored_seq(&self, agent_id: &str) -> Result<u64>;
    async fn hosts(&self) -> Result<Vec<HostRow>>;
    /// Points (oldest first) of every series of `q.host` matching `q`: raw
    /// samples, except that PostgreSQL answers spans over 6 h with 1-minute
    /// and over 7 d with 1-hour bucket averages (`postgres/read.rs`).
    async fn range(&self, q: &RangeQuery) -> Result<Vec<SeriesPoints>>;
    /// Newest point of every series.
    async fn latest(&self) -> Result<Vec<LatestPoint>>;
    /// Rows stored for one host.
    async fn count_rows(&self, host: &str) -> Result<u64>;
    /// Records an anomaly event: inserts it, or updates the one with its id.
    async fn upsert_event(&self, ev: &AnomalyEvent) -> Result<()>;
    /// The most recent events (by start), newest first.
    async fn events(&self, limit: usize) -> Result<Vec<AnomalyEvent>>;
    /// Stores detector model snapshots, replacing those of the same series
    /// (`crate::models`; used when the hub has no Redis).
    async fn save_models(&self, models: &[ModelSnapshot]) -> Result<()>;
    /// Every stored detector model snapshot.
    async fn load_models(&self) -> Result<Vec<ModelSnapshot>>;
    /// Stores expected-band points (`crate::bands`), replacing those of the
    /// same series and minute; points of series not in history are skipped.
    async fn save_bands(&self, bands: &[crate::bands::BandRow]) -> Result<()>;
    /// Band points of every series of `q.host` matching `q` (name, labels),
    /// from the one in force at `q.from_ms` to `q.to_ms`, oldest first.
    async fn bands(&self, q: &RangeQuery) -> Result<Vec<common::model::SeriesBand>>;
    /// Enrolment tokens and agent credentials, kept in the same database
    /// (`crate::auth`).
    fn auth_store(&self) -> Arc<dyn crate::auth::store::AuthStore>;
    /// Cheap liveness check for `/readyz`.
    async fn ping(&self) -> Result<()>;
    async fn close(&self);
}
