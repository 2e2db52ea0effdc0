//! The Redis side of the buffer: one stream of [`proto::BufferedBatch`]
//! entries plus, per agent, the highest seq accepted. A Lua script does the
//! seq check, the backlog check, the XADD and the seq update atomically, so a
//! resent batch is never queued twice.
//!
//! Entries refer to series by hub-wide id ([`super::series`]); the id table
//! (`hostwatch:series`, id → encoded `SeriesDef` with its host) is written by
//! the same script as the first entry that uses an id, so every entry in the
//! stream decodes, after a crash too. Entries that define their own series
//! (written by hubs before ids) are still read.
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

use super::series::{self, Interner};
use crate::store::WriteBatch;
use crate::{Error, Result};

pub const STREAM_KEY: &str = "hostwatch:ingest";
pub const GROUP: &str = "history";
const SEQ_KEY_PREFIX: &str = "hostwatch:seq:";
/// Hash per host: field = series key (JSON), value = "<unix ms> <value>" of
/// the newest row in history, for tools that read Redis directly.
pub const LATEST_KEY_PREFIX: &str = "hostwatch:latest:";
/// Hash: field = hub-wide series id, value = encoded `SeriesDef` (with host).
pub const SERIES_KEY: &str = "hostwatch:series";
/// Counter the series ids are handed out from.
const SERIES_NEXT_KEY: &str = "hostwatch:series:next";

/// KEYS: seq key, stream, id table. ARGV: seq, entry, max backlog, whether
/// the entry has rows, how many definitions the hub believes the table
/// holds, then (id, definition) pairs for the ids it uses that may not be in
/// the table yet. Returns 1 added, 0 a resend, -1 backlog full, -2 the table
/// holds fewer definitions than the hub wrote (Redis lost the table or its
/// newest writes, e.g. a crash under `appendfsync everysec` while the hub
/// ran on): resend with every definition. Checked before the definitions
/// are written, so a batch that brings some cannot hide the loss of others.
const ACCEPT_LUA: &str = r"
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local seq = tonumber(ARGV[1])
if seq <= cur then return 0 end
if redis.call('XLEN', KEYS[2]) >= tonumber(ARGV[3]) then return -1 end
if ARGV[4] == '1' and redis.call('HLEN', KEYS[3]) < tonumber(ARGV[5]) then return -2 end
for i = 6, #ARGV, 2 do
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
end
redis.call('XADD', KEYS[2], '*', 'b', ARGV[2])
redis.call('SET', KEYS[1], ARGV[1])
return 1
";

pub struct RedisBuffer {
    client: redis::Client,
    conn: ConnectionManager,
    accept: redis::Script,
    max_backlog: usize,
    series: Arc<Interner>,
}

/// How long one command may take before the caller sees an error (and, on
/// ingest, the agent keeps its batch and retries).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

impl RedisBuffer {
    /// Connects (and keeps reconnecting in the background) to `url`, and
    /// loads the series id table.
    pub async fn connect(url: &str, max_backlog: usize) -> Result<Self> {
        let client =
            redis::Client::open(url).map_err(|e| Error::Invalid(format!("redis url: {e}")))?;
        let conn = manager(&client, RESPONSE_TIMEOUT).await?;
        let buffer = Self {
            client,
            conn,
            accept: redis::Script::new(ACCEPT_LUA),
            max_backlog: max_backlog.max(1),
            series: Arc::new(Interner::default()),
        };
        buffer.load_series().await?;
        tracing::debug!(series = buffer.series.len(), "series id table loaded");
        Ok(buffer)
    }

    /// The hub-wide series table this buffer's entries refer to.
    pub fn series(&self) -> &Arc<Interner> {
        &self.series
    }

    /// Reads the whole id table into the interner.
    async fn load_series(&self) -> Result<()> {
        let mut conn = self.conn.clone();
        let table: HashMap<u32, Vec<u8>> = redis::cmd("HGETALL")
            .arg(SERIES_KEY)
            .query_async(&mut conn)
            .await
            .map_err(redis_err)?;
        for (id, def) in table {
            self.define(id, &def);
        }
        Ok(())
    }

    /// Reads the definitions of `ids` (entries written by another process
    /// since we loaded the table).
    pub async fn load_ids(&self, ids: &[u32]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn.clone();
        let defs: Vec<Option<Vec<u8>>> = redis::cmd("HMGET")
            .arg(SERIES_KEY)
            .arg(ids)
            .query_async(&mut conn)
            .await
            .map_err(redis_err)?;
        for (id, def) in ids.iter().zip(defs) {
            if let Some(def) = def {
                self.define(*id, &def);
            }
        }
        Ok(())
    }

    fn define(&self, id: u32, def: &[u8]) {
        match series::parse_definition(def) {
            Some((_, host, key)) => {
                self.series.insert(id, &host, key, true);
            }
            None => tracing::warn!(id, "undecodable series definition in Redis; ignored"),
        }
    }

    /// Interns `keys` of `host`, taking ids from Redis for new ones; the
    /// shared `Arc`s, in input order.
    pub async fn intern(&self, host: &str, keys: Vec<SeriesKey>) -> Result<Vec<Arc<SeriesKey>>> {
        let known = self.series.lookup(host, &keys);
        let new = known.iter().filter(|k| k.is_none()).count();
        if new == 0 {
            return Ok(known.into_iter().flatten().collect());
        }
        let mut conn = self.conn.clone();
        let last: u32 = redis::cmd("INCRBY")
            .arg(SERIES_NEXT_KEY)
            .arg(new)
            .query_async(&mut conn)
            .await
            .map_err(redis_err)?;
        let mut id = last.saturating_sub(new as u32);
        Ok(keys
            .into_iter()
            .zip(known)
            .map(|(key, known)| {
                known.unwrap_or_else(|| {
                    id += 1;
                    self.series.insert(id, host, key, false)
                })
            })
            .collect())
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
        let mut retried = false;
        loop {
            // Read before the encoding: a definition published meanwhile only
            // raises the count, and a lower one is still a sound check.
            let known = self.series.published_count();
            let (rows, defs) = match self.series.to_ids(&batch.host, &batch.rows) {
                Ok(encoded) => encoded,
                Err(missing) => {
                    // Rows whose keys no ingest stream interned (tools, tests).
                    self.intern(&batch.host, missing).await?;
                    continue;
                }
            };
            let has_rows = !rows.is_empty();
            let payload = proto::BufferedBatch {
                agent_id: batch.agent_id.clone(),
                host: batch.host.clone(),
                site: site.to_owned(),
                seq: batch.seq,
                series: Vec::new(),
                rows,
            }
            .encode_to_vec();
            let mut invocation = self
                .accept
                .key(format!("{SEQ_KEY_PREFIX}{}", batch.agent_id));
            invocation
                .key(STREAM_KEY)
                .key(SERIES_KEY)
                .arg(batch.seq)
                .arg(payload)
                .arg(self.max_backlog)
                .arg(if has_rows { "1" } else { "0" })
                .arg(known);
            for (id, def) in &defs {
                invocation.arg(*id).arg(def.as_slice());
            }
            let mut conn = self.conn.clone();
            let added: i64 = invocation
                .invoke_async(&mut conn)
                .await
                .map_err(redis_err)?;
            match added {
                -1 => {
                    return Err(Error::Backlog(format!(
                        "the hub's buffer holds {} batches not yet in history; retry later",
                        self.max_backlog
                    )))
                }
                -2 if !retried => {
                    tracing::warn!(
                        known,
                        "the series id table in Redis lacks definitions this hub wrote; writing them again"
                    );
                    self.series.unpublish_all();
                    retried = true;
                }
                -2 => {
                    return Err(Error::Buffer(
                        "the series id table cannot be written".into(),
                    ))
                }
                1 => {
                    self.series.mark_published(defs.iter().map(|d| d.0));
                    return Ok(());
                }
                _ => return Ok(()),
            }
        }
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

/// A batch as a self-contained entry (series defined inside): what the
/// uplink outbox stores, and what ingest entries were before series ids.
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
    Some(with_rows(b, rows))
}

/// The batch an entry holds, with its rows resolved to `rows`, and its site.
pub fn with_rows(b: proto::BufferedBatch, rows: Vec<KeyedRow>) -> (WriteBatch, String) {
    (
        WriteBatch {
            agent_id: b.agent_id,
            host: b.host,
            seq: b.seq,
            rows,
        },
        b.site,
    )
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

    /// The raw entries of the ingest stream, oldest first.
    async fn entries(url: &str) -> Vec<proto::BufferedBatch> {
        let mut conn = redis::Client::open(url)
            .expect("url")
            .get_multiplexed_async_connection()
            .await
            .expect("connect");
        let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(STREAM_KEY)
            .arg("-")
            .arg("+")
            .query_async(&mut conn)
            .await
            .expect("xrange");
        reply
            .ids
            .iter()
            .map(|e| match e.map.get("b") {
                Some(redis::Value::BulkString(b)) => {
                    proto::BufferedBatch::decode(b.as_slice()).expect("entry")
                }
                other => panic!("no payload: {other:?}"),
            })
            .collect()
    }

    /// A buffer on `url` with `keys` interned for host "h".
    async fn hub_with(url: &str, keys: Vec<SeriesKey>) -> (RedisBuffer, Vec<Arc<SeriesKey>>) {
        let hub = RedisBuffer::connect(url, 100).await.expect("connect");
        let keys = hub.intern("h", keys).await.expect("intern");
        (hub, keys)
    }

    /// Agent "a"'s batch `seq` of host "h".
    fn batch(seq: u64, rows: Vec<KeyedRow>) -> WriteBatch {
        WriteBatch {
            agent_id: "a".into(),
            host: "h".into(),
            seq,
            rows,
        }
    }

    #[tokio::test]
    async fn entries_carry_ids_that_a_restarted_hub_resolves_from_redis() {
        let redis = testkit::Redis::start().await;
        let cpu = SeriesKey::new("system.cpu.utilization").label("cpu", "cpu0");
        let mem = SeriesKey::new("system.memory.utilization");
        let (first, keys) = hub_with(redis.url(), vec![cpu.clone(), mem.clone()]).await;
        let one = batch(
            1,
            vec![(keys[0].clone(), 1, 0.5), (keys[1].clone(), 1, 0.7)],
        );
        first.accept(&one, "eu").await.expect("accepted");
        // Not interned by a stream: accept interns it by its labels.
        let two = batch(2, vec![(Arc::new(cpu.clone()), 2, 0.6)]);
        first.accept(&two, "eu").await.expect("accepted");
        first.accept(&two, "eu").await.expect("a resend is a no-op");
        let other = WriteBatch {
            host: "h2".into(),
            agent_id: "b".into(),
            ..batch(1, vec![(Arc::new(cpu.clone()), 3, 0.1)])
        };
        first.accept(&other, "eu").await.expect("accepted");

        let stream = entries(redis.url()).await;
        assert_eq!(stream.len(), 3);
        assert!(
            stream.iter().all(|e| e.series.is_empty()),
            "no definitions in entries"
        );
        assert_eq!(stream[0].rows[0].series_id, stream[1].rows[0].series_id);
        assert_ne!(stream[0].rows[0].series_id, stream[2].rows[0].series_id);

        // A hub started afresh (after a crash) decodes every entry.
        let again = RedisBuffer::connect(redis.url(), 100)
            .await
            .expect("connect");
        assert_eq!(again.series().len(), 3);
        let rows = |e: &proto::BufferedBatch| again.series().to_keyed(&e.rows).expect("known");
        assert_eq!(rows(&stream[0]), one.rows);
        assert_eq!(rows(&stream[1]), two.rows);
        assert_eq!(rows(&stream[2]), other.rows);
        let h2 = again.series().series_of([stream[2].rows[0].series_id]);
        assert_eq!(&*h2[0].1.host, "h2");
        // Ids keep coming from Redis: a new series does not reuse one.
        let disk = again
            .intern("h", vec![SeriesKey::new("system.disk.utilization")])
            .await
            .expect("intern");
        let (ids, _) = again
            .series()
            .to_ids("h", &[(disk[0].clone(), 1, 1.0)])
            .expect("ids");
        assert_eq!(ids[0].series_id, 4);
    }

    /// Redis lost the newest writes of its id table (a crash under
    /// `appendfsync everysec`) while this hub ran on, believing them stored:
    /// the next batch using a lost id writes its definition again, so a hub
    /// started later still decodes it.
    #[tokio::test]
    async fn definitions_redis_lost_are_written_again() {
        let redis = testkit::Redis::start().await;
        let cpu = SeriesKey::new("system.cpu.utilization");
        let mem = SeriesKey::new("system.memory.utilization");
        let (hub, keys) = hub_with(redis.url(), vec![cpu, mem]).await;
        hub.accept(&batch(1, vec![(keys[0].clone(), 1, 0.5)]), "eu")
            .await
            .expect("accepted");
        hub.accept(&batch(2, vec![(keys[1].clone(), 1, 0.7)]), "eu")
            .await
            .expect("accepted");
        let (ids, _) = hub
            .series()
            .to_ids("h", &[(keys[1].clone(), 1, 0.7)])
            .expect("ids");
        let mem_id = ids[0].series_id;
        // The newest definition is lost; the table itself is still there.
        let mut conn = redis::Client::open(redis.url())
            .expect("url")
            .get_multiplexed_async_connection()
            .await
            .expect("connect");
        let removed: i64 = redis::cmd("HDEL")
            .arg(SERIES_KEY)
            .arg(mem_id)
            .query_async(&mut conn)
            .await
            .expect("hdel");
        assert_eq!(removed, 1);

        // The same series again: its definition must be written back.
        hub.accept(&batch(3, vec![(keys[1].clone(), 2, 0.8)]), "eu")
            .await
            .expect("accepted");
        let back: bool = redis::cmd("HEXISTS")
            .arg(SERIES_KEY)
            .arg(mem_id)
            .query_async(&mut conn)
            .await
            .expect("hexists");
        assert!(back, "the lost definition is in the table again");
        let fresh = RedisBuffer::connect(redis.url(), 100)
            .await
            .expect("connect");
        let stream = entries(redis.url()).await;
        let last = stream.last().expect("entries");
        assert_eq!(
            fresh
                .series()
                .to_keyed(&last.rows)
                .expect("decodes after a restart"),
            vec![(keys[1].clone(), 2, 0.8)]
        );
    }
}
