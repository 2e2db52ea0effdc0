//! The Redis side of the buffer: one stream of [`proto::BufferedBatch`]
//! entries plus, per agent, the highest seq accepted. A Lua script does the
//! seq check, the backlog check, the XADD and the seq update atomically, so a
//! resent batch is never queued twice.
//!
//! Durability of the ack is Redis's: run it with `appendonly yes`;
//! `appendfsync always` makes an acked batch survive a power cut,
//! `everysec` (Redis's default) may lose the last second of acked batches on a
//! machine crash (not on a Redis or hub crash).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::model::{KeyedRow, SeriesKey};
use prost::Message as _;
use redis::aio::ConnectionManager;

use crate::store::WriteBatch;
use crate::{Error, Result};

pub const STREAM_KEY: &str = "hostwatch:ingest";
pub const GROUP: &str = "history";
const SEQ_KEY_PREFIX: &str = "hostwatch:seq:";
/// Hash per host: field = series key (JSON), value = "<unix ms> <value>" of
/// the newest row in history, for tools that read Redis directly.
pub const LATEST_KEY_PREFIX: &str = "hostwatch:latest:";

const ACCEPT_LUA: &str = r"
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local seq = tonumber(ARGV[1])
if seq <= cur then return 0 end
if redis.call('XLEN', KEYS[2]) >= tonumber(ARGV[3]) then return -1 end
redis.call('XADD', KEYS[2], '*', 'b', ARGV[2])
redis.call('SET', KEYS[1], ARGV[1])
return 1
";

pub struct RedisBuffer {
    client: redis::Client,
    conn: ConnectionManager,
    accept: redis::Script,
    max_backlog: usize,
}

/// How long one command may take before the caller sees an error (and, on
/// ingest, the agent keeps its batch and retries).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

impl RedisBuffer {
    /// Connects (and keeps reconnecting in the background) to `url`.
    pub async fn connect(url: &str, max_backlog: usize) -> Result<Self> {
        let client =
            redis::Client::open(url).map_err(|e| Error::Invalid(format!("redis url: {e}")))?;
        let conn = manager(&client, RESPONSE_TIMEOUT).await?;
        Ok(Self {
            client,
            conn,
            accept: redis::Script::new(ACCEPT_LUA),
            max_backlog: max_backlog.max(1),
        })
    }

    /// The shared (multiplexed, reconnecting) connection, for other short
    /// commands such as the uplink outbox's.
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// A connection of its own for blocking reads: a blocked XREADGROUP on the
    /// shared connection would stall every ingest command queued behind it.
    pub async fn dedicated_connection(&self, block: Duration) -> Result<ConnectionManager> {
        manager(&self.client, block + RESPONSE_TIMEOUT).await
    }

    /// Queues a batch durably; a resend of an accepted seq is a no-op.
    pub async fn accept(&self, batch: &WriteBatch, site: &str) -> Result<()> {
        let payload = encode(batch, site).encode_to_vec();
        let mut conn = self.conn.clone();
        let added: i64 = self
            .accept
            .key(format!("{SEQ_KEY_PREFIX}{}", batch.agent_id))
            .key(STREAM_KEY)
            .arg(batch.seq)
            .arg(payload)
            .arg(self.max_backlog)
            .invoke_async(&mut conn)
            .await
            .map_err(redis_err)?;
        if added < 0 {
            return Err(Error::Backlog(format!(
                "the hub's buffer holds {} batches not yet in history; retry later",
                self.max_backlog
            )));
        }
        Ok(())
    }

    pub async fn accepted_seq(&self, agent_id: &str) -> Result<u64> {
        let mut conn = self.conn.clone();
        let v: Option<u64> = redis::cmd("GET")
            .arg(format!("{SEQ_KEY_PREFIX}{agent_id}"))
            .query_async(&mut conn)
            .await
            .map_err(redis_err)?;
        Ok(v.unwrap_or(0))
    }

    pub async fn backlog(&self) -> Result<u64> {
        let mut conn = self.conn.clone();
        redis::cmd("XLEN")
            .arg(STREAM_KEY)
            .query_async(&mut conn)
            .await
            .map_err(redis_err)
    }
}

async fn manager(client: &redis::Client, response_timeout: Duration) -> Result<ConnectionManager> {
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_response_timeout(Some(response_timeout))
        .set_connection_timeout(Some(CONNECT_TIMEOUT));
    ConnectionManager::new_with_config(client.clone(), config)
        .await
        .map_err(redis_err)
}

pub fn redis_err(e: redis::RedisError) -> Error {
    Error::Buffer(e.to_string())
}

/// A batch as a self-contained stream entry (series defined inside).
pub fn encode(batch: &WriteBatch, site: &str) -> proto::BufferedBatch {
    encode_rows(&batch.agent_id, &batch.host, site, batch.seq, &batch.rows)
}

/// [`encode`] from the parts, for callers that hold rows but no `WriteBatch`.
pub fn encode_rows(
    agent_id: &str,
    host: &str,
    site: &str,
    seq: u64,
    rows: &[KeyedRow],
) -> proto::BufferedBatch {
    let mut ids: HashMap<&SeriesKey, u32> = HashMap::new();
    let mut out = proto::BufferedBatch {
        agent_id: agent_id.to_owned(),
        host: host.to_owned(),
        site: site.to_owned(),
        seq,
        ..Default::default()
    };
    for (key, ts, v) in rows {
        let next = ids.len() as u32 + 1;
        let id = *ids.entry(key.as_ref()).or_insert_with(|| {
            out.series.push(proto::SeriesDef {
                id: next,
                name: key.name.clone(),
                labels: common::convert::labels_to_proto(&key.labels),
                host: String::new(),
            });
            next
        });
        out.rows.push(proto::Row {
            series_id: id,
            timestamp_ms: *ts,
            value: *v,
        });
    }
    out
}

/// Inverse of [`encode`]; `None` for an entry that does not decode or refers to
/// an undefined series (it could only come from a bug or a foreign writer).
pub fn decode(bytes: &[u8]) -> Option<(WriteBatch, String)> {
    from_proto(proto::BufferedBatch::decode(bytes).ok()?)
}

/// [`decode`] of an already parsed entry.
pub fn from_proto(b: proto::BufferedBatch) -> Option<(WriteBatch, String)> {
    let keys: HashMap<u32, Arc<SeriesKey>> = b
        .series
        .iter()
        .map(|d| {
            let key = SeriesKey {
                name: d.name.clone(),
                labels: common::convert::labels_from_proto(&d.labels),
            };
            (d.id, Arc::new(key))
        })
        .collect();
    let mut rows: Vec<KeyedRow> = Vec::with_capacity(b.rows.len());
    for r in &b.rows {
        rows.push((keys.get(&r.series_id)?.clone(), r.timestamp_ms, r.value));
    }
    Some((
        WriteBatch {
            agent_id: b.agent_id,
            host: b.host,
            seq: b.seq,
            rows,
        },
        b.site,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_share_series_definitions() {
        let k = Arc::new(SeriesKey::new("system.cpu.utilization").label("cpu", "cpu0"));
        let batch = WriteBatch {
            agent_id: "a".into(),
            host: "h".into(),
            seq: 7,
            rows: vec![(k.clone(), 1, 0.5), (k.clone(), 2, 0.6)],
        };
        let wire = encode(&batch, "eu");
        assert_eq!(wire.series.len(), 1);
        let (back, site) = decode(&wire.encode_to_vec()).expect("decodes");
        assert_eq!(site, "eu");
        assert_eq!(back.seq, 7);
        assert_eq!(back.rows, batch.rows);
        assert!(decode(b"\xff\xff garbage").is_none());
    }
}
