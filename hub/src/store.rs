//! History storage. Today the embedded SQLite store ([`sqlite::SqliteStore`]);
//! the Redis + PostgreSQL/TimescaleDB path lands beside it with the same types.
//!
//! Invariant: a batch's rows and its ledger entry are committed in one
//! transaction, so `(agent, seq)` is stored at most once and the ack the agent
//! gets means the rows are on disk.

pub mod sqlite;

use common::model::{HostFacts, SeriesKey};

pub use sqlite::SqliteStore;

/// One agent batch, resolved to storage series ids, waiting to be committed.
#[derive(Debug, Clone)]
pub struct WriteBatch {
    pub agent_id: String,
    pub host: String,
    pub seq: u64,
    /// (series id, unix ms, value)
    pub rows: Vec<(i64, i64, f64)>,
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

/// A stored series with its storage id.
#[derive(Debug, Clone)]
pub struct StoredSeries {
    pub id: i64,
    pub host: String,
    pub key: SeriesKey,
}
