//! Where an accepted agent batch goes before the ack.
//!
//! - [`Buffer::Direct`] (embedded default): straight to the history writer; the
//!   ack waits for the commit.
//! - [`Buffer::Redis`]: into a Redis stream (AOF-durable) and acked at once; a
//!   consumer group ([`consumer`]) feeds the history writer and removes entries
//!   only after they are committed. History being slow or down then costs Redis
//!   memory up to `max_backlog` entries, after which ingest refuses batches
//!   (agents keep them) instead of growing without bound.
//!
//! Either way, batches on their way to durability hold a share of one byte
//! budget ([`Budget`], `limits.max_buffered_bytes`). When it is spent, ingest
//! streams wait before handing over the next batch: HTTP/2 flow control stops
//! reading from those agents, their acks stop, and they keep (spool) what they
//! have. So a slow or absent database costs a bounded amount of hub memory,
//! however many agents are connected.
//!
//! Series keys are interned hub-wide ([`series::Interner`]): each ingest
//! stream resolves its agent's definitions once, and the rows share one
//! `Arc<SeriesKey>` per series from there on (Redis entries carry its id).

pub mod consumer;
pub mod redis;
pub mod series;

pub mod budget;

use std::sync::Arc;

use common::model::SeriesKey;

use crate::store::{HistoryStore, WriteBatch};
use crate::writer::Writer;
use crate::Result;

pub use self::budget::Budget;
pub use self::redis::RedisBuffer;

#[derive(Clone)]
pub enum Sink {
    Direct(Writer),
    Redis(Arc<RedisBuffer>),
}

#[derive(Clone)]
pub struct Buffer {
    sink: Sink,
    budget: Budget,
    series: Arc<series::Interner>,
}

impl Buffer {
    pub fn new(sink: Sink, budget: Budget) -> Self {
        let series = match &sink {
            Sink::Direct(_) => Arc::default(),
            Sink::Redis(r) => r.series().clone(),
        };
        Self {
            sink,
            budget,
            series,
        }
    }

    /// The hub-wide series table.
    pub fn series(&self) -> &Arc<series::Interner> {
        &self.series
    }

    /// Interns the series an agent defines (once per stream); the shared
    /// `Arc`s, in input order.
    pub async fn intern(&self, host: &str, keys: Vec<SeriesKey>) -> Result<Vec<Arc<SeriesKey>>> {
        match &self.sink {
            Sink::Direct(_) => Ok(self.series.insert_local(host, keys)),
            Sink::Redis(r) => r.intern(host, keys).await,
        }
    }

    /// Returns once the batch is durable (committed, or in the Redis stream).
    /// Waits first for room in the byte budget.
    pub async fn accept(&self, batch: WriteBatch, site: String) -> Result<()> {
        let _held = self.budget.reserve(budget::cost(&batch)).await;
        match &self.sink {
            Sink::Direct(w) => w.write(batch, site).await.map(|_| ()),
            Sink::Redis(r) => r.accept(&batch, &site).await,
        }
    }

    /// Highest seq of `agent_id` held durably: in history, or in the stream.
    pub async fn stored_seq(&self, store: &dyn HistoryStore, agent_id: &str) -> Result<u64> {
        let in_history = store.stored_seq(agent_id).await?;
        match &self.sink {
            Sink::Direct(_) => Ok(in_history),
            Sink::Redis(r) => Ok(in_history.max(r.accepted_seq(agent_id).await?)),
        }
    }
}
