//! Moves batches from the Redis stream into history: read with a consumer
//! group, hand to the writer (which groups them into one transaction), and
//! XACK + XDEL only what was committed — in the same atomic step as updating
//! the per-host hashes of latest values (`hostwatch:latest:<host>`). After a crash, entries delivered but
//! not acked are read again first; the ledger makes the replay harmless.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::backoff::Backoff;
use common::model::SeriesKey;
use redis::aio::ConnectionManager;
use redis::streams::{StreamReadOptions, StreamReadReply};
use tokio_util::sync::CancellationToken;

use super::redis::{decode, redis_err, RedisBuffer, GROUP, LATEST_KEY_PREFIX, STREAM_KEY};
use crate::metrics::HubMetrics;
use crate::store::WriteBatch;
use crate::writer::Writer;
use crate::Result;

/// Entries read per round; the writer commits them together.
const READ_COUNT: usize = 1024;
const BLOCK: Duration = Duration::from_secs(1);
const CONSUMER: &str = "hub";

pub async fn run(
    buffer: Arc<RedisBuffer>,
    writer: Writer,
    metrics: HubMetrics,
    token: CancellationToken,
) {
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    let mut conn = loop {
        match buffer.dedicated_connection(BLOCK).await {
            Ok(c) => break c,
            Err(e) => {
                metrics.buffer_errors.inc();
                tracing::warn!(error = %e, "cannot connect to Redis; retrying");
                tokio::select! {
                    _ = token.cancelled() => return,
                    _ = tokio::time::sleep(backoff.next_delay()) => {}
                }
            }
        }
    };
    while !token.is_cancelled() {
        if let Ok(n) = buffer.backlog().await {
            metrics.buffer_backlog.set(n as f64);
        }
        let round = tokio::select! {
            _ = token.cancelled() => break,
            r = round(&mut conn, &writer, &metrics) => r,
        };
        match round {
            Ok(_) => backoff.reset(),
            Err(e) => {
                metrics.buffer_errors.inc();
                tracing::warn!(error = %e, "moving batches from Redis to history failed; retrying");
                tokio::select! {
                    _ = token.cancelled() => break,
                    _ = tokio::time::sleep(backoff.next_delay()) => {}
                }
            }
        }
    }
}

/// One read–commit–ack round; returns how many entries were committed.
async fn round(
    conn: &mut ConnectionManager,
    writer: &Writer,
    metrics: &HubMetrics,
) -> Result<usize> {
    ensure_group(conn).await?;
    // Our own pending entries first (delivered before a crash, never acked).
    let mut reply = read(conn, "0", false).await?;
    if reply_is_empty(&reply) {
        reply = read(conn, ">", true).await?;
    }
    let mut ids = Vec::new();
    let mut writes = Vec::new();
    for key in reply.keys {
        for entry in key.ids {
            let payload = match entry.map.get("b") {
                Some(redis::Value::BulkString(b)) => Some(b.as_slice()),
                _ => None,
            };
            match payload.and_then(decode) {
                Some(decoded) => writes.push(decoded),
                None => {
                    // Keeping it would block the stream forever; it cannot be stored.
                    metrics.rejected("corrupt_buffer_entry");
                    tracing::error!(id = %entry.id, "undecodable entry in the ingest stream; dropped");
                }
            }
            ids.push(entry.id);
        }
    }
    if ids.is_empty() {
        return Ok(0);
    }
    let n = writes.len();
    let latest = latest_of(&writes);
    // In stream order, which is each agent's seq order.
    for result in writer.write_all(writes).await {
        // One failed commit fails the round; nothing is acked and all is re-read.
        result?;
    }
    let mut pipe = redis::pipe();
    pipe.atomic();
    for (host, fields) in &latest {
        pipe.cmd("HSET").arg(format!("{LATEST_KEY_PREFIX}{host}"));
        for (key, value) in fields {
            pipe.arg(key).arg(value);
        }
        pipe.ignore();
    }
    pipe.cmd("XACK")
        .arg(STREAM_KEY)
        .arg(GROUP)
        .arg(&ids)
        .ignore()
        .cmd("XDEL")
        .arg(STREAM_KEY)
        .arg(&ids)
        .ignore()
        .query_async::<()>(conn)
        .await
        .map_err(redis_err)?;
    Ok(n)
}

/// Newest value per series of each host in a round, as Redis hash fields:
/// field = the series key as JSON, value = "<unix ms> <value>".
fn latest_of(writes: &[(WriteBatch, String)]) -> HashMap<String, Vec<(String, String)>> {
    let mut newest: HashMap<(&str, &SeriesKey), (i64, f64)> = HashMap::new();
    for (batch, _) in writes {
        for (key, t, v) in &batch.rows {
            let e = newest
                .entry((batch.host.as_str(), key.as_ref()))
                .or_insert((*t, *v));
            if *t >= e.0 {
                *e = (*t, *v);
            }
        }
    }
    let mut out: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for ((host, key), (t, v)) in newest {
        let field = serde_json::to_string(key).unwrap_or_default();
        out.entry(host.to_owned())
            .or_default()
            .push((field, format!("{t} {v}")));
    }
    out
}

async fn read(conn: &mut ConnectionManager, from: &str, block: bool) -> Result<StreamReadReply> {
    let mut opts = StreamReadOptions::default()
        .group(GROUP, CONSUMER)
        .count(READ_COUNT);
    if block {
        opts = opts.block(BLOCK.as_millis() as usize);
    }
    let reply: Option<StreamReadReply> = redis::cmd("XREADGROUP")
        .arg(&opts)
        .arg("STREAMS")
        .arg(STREAM_KEY)
        .arg(from)
        .query_async(conn)
        .await
        .map_err(redis_err)?;
    Ok(reply.unwrap_or_default())
}

fn reply_is_empty(r: &StreamReadReply) -> bool {
    r.keys.iter().all(|k| k.ids.is_empty())
}

/// Creates the stream and group if missing (idempotent: BUSYGROUP is fine).
/// Starting at 0 means entries written before the group existed are consumed too.
async fn ensure_group(conn: &mut ConnectionManager) -> Result<()> {
    let res: redis::RedisResult<()> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(STREAM_KEY)
        .arg(GROUP)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(conn)
        .await;
    match res {
        Ok(()) => Ok(()),
        Err(e) if e.to_string().contains("BUSYGROUP") => Ok(()),
        Err(e) => Err(redis_err(e)),
    }
}
