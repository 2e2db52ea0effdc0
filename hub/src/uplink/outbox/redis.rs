//! The uplink outbox as a Redis stream, `hostwatch:uplink:<hub id>`.
//!
//! Entry ids are `0-<seq>`: Redis hands out the seq itself (`XADD … 0-*`), so
//! numbering continues across hub restarts with no counter of ours to lose,
//! and "everything after seq N" is one `XRANGE (0-N +`. An ack trims with
//! `XTRIM MINID`. The epoch lives beside the stream and is created once; it
//! only changes if Redis loses the stream (no AOF), which is exactly when the
//! edge must be told the numbering started over.

use std::sync::Arc;
use std::time::Duration;

use common::model::StoredRows;
use prost::Message as _;
use redis::aio::ConnectionManager;
use tokio::sync::Notify;

use super::Frame;
use crate::buffer::redis::{encode_rows, from_proto, redis_err};
use crate::metrics::HubMetrics;
use crate::{Error, Result};

/// Appends, trims to the bound and reports how many old frames that dropped;
/// one script so the count is exact.
const PUSH_LUA: &str = r"
local id = redis.call('XADD', KEYS[1], '0-*', 'f', ARGV[1])
local cap = tonumber(ARGV[2])
local len = redis.call('XLEN', KEYS[1])
local dropped = 0
if len > cap then
  dropped = redis.call('XTRIM', KEYS[1], 'MAXLEN', cap)
end
return {id, dropped}
";

/// A frame that cannot be written is retried this long (Redis restarting),
/// then dropped and counted: history has its rows, only the edge misses them.
const PUSH_RETRY_FOR: Duration = Duration::from_secs(30);

pub struct RedisOutbox {
    conn: ConnectionManager,
    stream: String,
    push: redis::Script,
    capacity: usize,
    epoch: u64,
    notify: Notify,
    metrics: HubMetrics,
}

impl RedisOutbox {
    /// Opens (or continues) the outbox of `hub_id` on an existing connection.
    pub async fn open(
        mut conn: ConnectionManager,
        hub_id: &str,
        capacity: usize,
        metrics: HubMetrics,
    ) -> Result<Self> {
        let stream = format!("hostwatch:uplink:{hub_id}");
        let epoch_key = format!("{stream}:epoch");
        // A new epoch only when there is no stream to continue.
        let exists: bool = redis::cmd("EXISTS")
            .arg(&stream)
            .query_async(&mut conn)
            .await
            .map_err(redis_err)?;
        let mut set = redis::cmd("SET");
        set.arg(&epoch_key).arg(common::now_ms().max(1));
        if exists {
            set.arg("NX");
        }
        let _: Option<String> = set.query_async(&mut conn).await.map_err(redis_err)?;
        let epoch: u64 = redis::cmd("GET")
            .arg(&epoch_key)
            .query_async(&mut conn)
            .await
            .map_err(redis_err)?;
        Ok(Self {
            conn,
            stream,
            push: redis::Script::new(PUSH_LUA),
            capacity: capacity.max(1),
            epoch,
            notify: Notify::new(),
            metrics,
        })
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Writes the frame, retrying while Redis is away (the writer waits: with
    /// Redis down its input, the Redis ingest stream, is stalled anyway).
    pub async fn push(&self, frame: &[StoredRows]) {
        let payload = encode_frame(frame);
        let deadline = tokio::time::Instant::now() + PUSH_RETRY_FOR;
        let mut delay = Duration::from_millis(100);
        loop {
            let mut conn = self.conn.clone();
            let r: redis::RedisResult<(String, u64)> = self
                .push
                .key(&self.stream)
                .arg(&payload)
                .arg(self.capacity)
                .invoke_async(&mut conn)
                .await;
            match r {
                Ok((_, dropped)) => {
                    self.metrics.uplink_outbox_dropped.add(dropped);
                    self.notify.notify_one();
                    return;
                }
                Err(e) if tokio::time::Instant::now() + delay < deadline => {
                    tracing::warn!(error = %e, "uplink outbox: Redis write failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(e) => {
                    self.metrics.uplink_outbox_dropped.inc();
                    tracing::error!(error = %e, "uplink outbox: frame dropped after {PUSH_RETRY_FOR:?} of Redis errors (history keeps its rows)");
                    return;
                }
            }
        }
    }

    pub async fn ack(&self, seq: u64) -> Result<()> {
        let mut conn = self.conn.clone();
        let removed: u64 = redis::cmd("XTRIM")
            .arg(&self.stream)
            .arg("MINID")
            .arg(format!("0-{}", seq.saturating_add(1)))
            .query_async(&mut conn)
            .await
            .map_err(redis_err)?;
        self.metrics.uplink_frames_acked.add(removed);
        Ok(())
    }

    pub async fn after(&self, after: u64, limit: usize) -> Result<Vec<(u64, Frame)>> {
        let mut conn = self.conn.clone();
        let entries: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(&self.stream)
            .arg(format!("(0-{after}"))
            .arg("+")
            .arg("COUNT")
            .arg(limit.max(1))
            .query_async(&mut conn)
            .await
            .map_err(redis_err)?;
        let mut out = Vec::with_capacity(entries.ids.len());
        for entry in entries.ids {
            let seq = entry
                .id
                .strip_prefix("0-")
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| Error::Buffer(format!("unexpected outbox entry id {}", entry.id)))?;
            let bytes: Vec<u8> = entry.get("f").unwrap_or_default();
            match decode_frame(&bytes) {
                Some(frame) => out.push((seq, Arc::new(frame))),
                None => {
                    // Skipping keeps the uplink moving; the seq gap shows on
                    // the edge and the rows are still in history.
                    self.metrics.uplink_outbox_dropped.inc();
                    tracing::error!(seq, "uplink outbox: undecodable entry skipped");
                }
            }
        }
        Ok(out)
    }

    pub async fn len(&self) -> Result<usize> {
        let mut conn = self.conn.clone();
        redis::cmd("XLEN")
            .arg(&self.stream)
            .query_async(&mut conn)
            .await
            .map_err(redis_err)
    }

    pub async fn notified(&self) {
        self.notify.notified().await;
    }
}

/// Each host's rows as a self-contained part (the buffer's own encoding).
fn encode_frame(frame: &[StoredRows]) -> Vec<u8> {
    proto::OutboxFrame {
        parts: frame
            .iter()
            .map(|part| encode_rows("", &part.host, &part.site, 0, &part.rows))
            .collect(),
    }
    .encode_to_vec()
}

fn decode_frame(bytes: &[u8]) -> Option<Vec<StoredRows>> {
    let frame = proto::OutboxFrame::decode(bytes).ok()?;
    frame
        .parts
        .into_iter()
        .map(|part| {
            let (batch, site) = from_proto(part)?;
            Some(StoredRows {
                host: batch.host,
                site,
                rows: batch.rows,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::model::SeriesKey;

    #[test]
    fn frames_round_trip() {
        let key = Arc::new(SeriesKey {
            name: "m".into(),
            labels: [("cpu".to_owned(), "cpu0".to_owned())]
                .into_iter()
                .collect(),
        });
        let frame = vec![
            StoredRows {
                host: "a".into(),
                site: "s1".into(),
                rows: vec![(key.clone(), 1, 0.5), (key.clone(), 2, 0.75)],
            },
            StoredRows {
                host: "b".into(),
                site: "s2".into(),
                rows: vec![(key, 3, 1.0)],
            },
        ];
        let back = decode_frame(&encode_frame(&frame)).expect("decodes");
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].host, "a");
        assert_eq!(back[0].site, "s1");
        assert_eq!(back[0].rows.len(), 2);
        assert_eq!(back[0].rows[1].1, 2);
        assert_eq!(back[1].rows[0].2, 1.0);
        assert_eq!(*back[1].rows[0].0, *back[0].rows[0].0);
        assert!(decode_frame(b"\xff\xff").is_none());
    }
}
