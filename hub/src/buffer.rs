//! Where an accepted agent batch goes before the ack.
//!
//! - [`Buffer::Direct`] (embedded default): straight to the history writer; the
//!   ack waits for the commit.
//! - [`Buffer::Redis`]: into a Redis stream (AOF-durable) and acked at once; a
//!   consumer group ([`consumer`]) feeds the history writer and removes entries
//!   only after they are committed. History being slow or down then costs Redis
//!   memory up to `max_backlog` entries, after which ingest refuses batches
//!   (agents keep them) instead of growing without bound.

pub mod consumer;
pub mod redis;

use std::sync::Arc;

use crate::store::{HistoryStore, WriteBatch};
use crate::writer::Writer;
use crate::Result;

pub use self::redis::RedisBuffer;

#[derive(Clone)]
pub enum Buffer {
    Direct(Writer),
    Redis(Arc<RedisBuffer>),
}

impl Buffer {
    /// Returns once the batch is durable (committed, or in the Redis stream).
    pub async fn accept(&self, batch: WriteBatch, site: String) -> Result<()> {
        match self {
            Buffer::Direct(w) => w.write(batch, site).await.map(|_| ()),
            Buffer::Redis(r) => r.accept(&batch, &site).await,
        }
    }

    /// Highest seq of `agent_id` held durably: in history, or in the stream.
    pub async fn stored_seq(&self, store: &dyn HistoryStore, agent_id: &str) -> Result<u64> {
        let in_history = store.stored_seq(agent_id).await?;
        match self {
            Buffer::Direct(_) => Ok(in_history),
            Buffer::Redis(r) => Ok(in_history.max(r.accepted_seq(agent_id).await?)),
        }
    }
}
