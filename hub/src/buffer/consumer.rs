//! Moves batches from the Redis stream into history: read with a consumer
//! group, hand to the writer (which groups them into one transaction), and
//! XACK + XDEL only what was committed — in the same atomic step as updating
//! the per-host hashes of latest values (`hostwatch:latest:<host>`). After a crash, entries delivered but
//! not acked are read again first; the ledger makes the replay harmless.
//!
//! Entries name their series by hub-wide id; they are decoded into the
//! interned keys of [`super::series`] (one shared `Arc` per series, no
//! per-entry key building), and the latest-value hashes use each series'
//! cached JSON field.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::backoff::Backoff;
use prost::Message as _;
use redis::aio::ConnectionManager;
use redis::streams::{StreamReadOptions, StreamReadReply};
use rustc_hash::FxHashMap;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::redis::{from_proto, redis_err, RedisBuffer, GROUP, LATEST_KEY_PREFIX, STREAM_KEY};
use super::series::Interner;
use crate::metrics::HubMetrics;
use crate::store::WriteBatch;
use crate::writer::{Chain, Pending, Writer};
use crate::Result;

/// Entries read per round; the writer commits them together.
const READ_COUNT: usize = 1024;
const BLOCK: Duration = Duration::from_secs(1);
const CONSUMER: &str = "hub";

/// Rounds read and decoded ahead of the one being committed.
const ROUNDS_AHEAD: usize = 1;
/// Rounds queued to the writer ahead of the one being acked: enough that the
/// writer always has the next round while a slow ack (about 50 k latest-value
/// fields, an fsync under `appendfsync always`) runs. With the read-ahead it
/// bounds the rounds held in memory (each up to `READ_COUNT` entries).
const ROUNDS_COMMITTING: usize = 3;

pub async fn run(
    buffer: Arc<RedisBuffer>,
    writer: Writer,
    metrics: HubMetrics,
    token: CancellationToken,
) {
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    while !token.is_cancelled() {
        // One connection blocks in XREADGROUP, the other acks: neither waits
        // behind the other, nor behind ingest on the shared connection.
        let conns = async {
            let read = buffer.dedicated_connection(BLOCK).await?;
            let ack = buffer.dedicated_connection(BLOCK).await?;
            Ok::<_, crate::Error>((read, ack))
        };
        let result = tokio::select! {
            _ = token.cancelled() => break,
            r = async {
                let (mut read, mut ack) = conns.await?;
                ensure_group(&mut read).await?;
                // Three stages, each a round apart: reading and decoding the
                // next round, committing this one (queued to the writer as
                // soon as the previous one is queued, so PostgreSQL commits
                // back to back), and acking the one before. Each round is
                // acked only after its own commit, in stream order.
                let (tx, rx) = mpsc::channel(ROUNDS_AHEAD);
                let (queued_tx, queued_rx) = mpsc::channel(ROUNDS_COMMITTING);
                let (read_end, (), ack_end) = tokio::join!(
                    read_rounds(&buffer, &mut read, tx, &metrics),
                    submit_rounds(rx, &writer, queued_tx),
                    ack_rounds(queued_rx, &mut ack, &mut backoff, &metrics),
                );
                ack_end.and(read_end)
            } => r,
        };
        if let Err(e) = result {
            // Nothing after the failed round was committed: everything not
            // acked is read again, from our pending entries on.
            metrics.buffer_errors.inc();
            tracing::warn!(error = %e, "moving batches from Redis to history failed; retrying");
            tokio::select! {
                _ = token.cancelled() => break,
                _ = tokio::time::sleep(backoff.next_delay()) => {}
            }
        }
    }
}

/// One round: the stream ids read, the batches decoded from them, and the
/// newest value per series for the latest-value hashes.
struct Round {
    ids: Vec<String>,
    writes: Vec<(WriteBatch, String)>,
    latest: FxHashMap<Arc<str>, Vec<Field>>,
}

/// Reads rounds (our pending entries first, page by page, then new ones)
/// until the committer stops taking them or a read fails.
async fn read_rounds(
    buffer: &RedisBuffer,
    conn: &mut ConnectionManager,
    tx: mpsc::Sender<Round>,
    metrics: &HubMetrics,
) -> Result<()> {
    // Entries delivered before a crash or a failed round, never acked.
    let mut pending = Some("0".to_owned());
    loop {
        if let Ok(n) = buffer.backlog().await {
            metrics.buffer_backlog.set(n as f64);
        }
        let reply = match &pending {
            Some(from) => {
                let reply = read(conn, from, false).await?;
                if reply_is_empty(&reply) {
                    pending = None;
                    continue;
                }
                pending = reply
                    .keys
                    .iter()
                    .rev()
                    .find_map(|k| k.ids.last())
                    .map(|e| e.id.clone());
                reply
            }
            None => read(conn, ">", true).await?,
        };
        let started = Instant::now();
        let Some(round) = decode_round(buffer, reply, metrics).await? else {
            continue;
        };
        metrics.history_decode.since(started);
        if tx.send(round).await.is_err() {
            return Ok(());
        }
    }
}

/// Queues rounds to the writer in order, all under one chain: once a round
/// fails to commit, every round queued after it is refused, so no agent's
/// later batch can commit past an earlier one that did not.
async fn submit_rounds(
    mut rx: mpsc::Receiver<Round>,
    writer: &Writer,
    queued: mpsc::Sender<Queued>,
) {
    let chain = Chain::default();
    while let Some(round) = rx.recv().await {
        let Round {
            ids,
            writes,
            latest,
        } = round;
        // In stream order, which is each agent's seq order.
        let pending = writer.submit(writes, &chain).await;
        let q = Queued {
            ids,
            latest,
            pending,
        };
        if queued.send(q).await.is_err() {
            return;
        }
    }
}

/// A round queued to the writer, waiting for its commit before its ack.
struct Queued {
    ids: Vec<String>,
    latest: FxHashMap<Arc<str>, Vec<Field>>,
    pending: Pending,
}

/// Acks rounds in order once each has committed; stops at the first
/// failure, after waiting out the rounds already queued (so a retry never
/// runs beside commits of this attempt).
async fn ack_rounds(
    mut rx: mpsc::Receiver<Queued>,
    conn: &mut ConnectionManager,
    backoff: &mut Backoff,
    metrics: &HubMetrics,
) -> Result<()> {
    while let Some(q) = rx.recv().await {
        if let Err(e) = ack_round(q, conn, metrics).await {
            rx.close();
            while let Some(q) = rx.recv().await {
                let _ = q.pending.outcomes().await;
            }
            return Err(e);
        }
        backoff.reset();
    }
    Ok(())
}

/// Decodes a reply into a round; `None` when it held no entries.
async fn decode_round(
    buffer: &RedisBuffer,
    reply: StreamReadReply,
    metrics: &HubMetrics,
) -> Result<Option<Round>> {
    let mut ids = Vec::new();
    let mut parsed: Vec<(String, proto::BufferedBatch)> = Vec::new();
    for key in reply.keys {
        for entry in key.ids {
            let payload = match entry.map.get("b") {
                Some(redis::Value::BulkString(b)) => Some(b.as_slice()),
                _ => None,
            };
            match payload.and_then(|b| proto::BufferedBatch::decode(b).ok()) {
                Some(b) if !b.series.is_empty() => match with_ids(buffer, b).await? {
                    Some(b) => parsed.push((entry.id.clone(), b)),
                    None => corrupt(metrics, &entry.id),
                },
                Some(b) => parsed.push((entry.id.clone(), b)),
                None => corrupt(metrics, &entry.id),
            }
            ids.push(entry.id);
        }
    }
    if ids.is_empty() {
        return Ok(None);
    }
    let series = buffer.series();
    let ids_used = || {
        parsed
            .iter()
            .flat_map(|(_, b)| &b.rows)
            .map(|r| r.series_id)
    };
    if !series.knows_all(ids_used()) {
        // Defined by another process since the table was loaded.
        let mut unknown: Vec<u32> = ids_used().filter(|id| !series.knows_all([*id])).collect();
        unknown.sort_unstable();
        unknown.dedup();
        buffer.load_ids(&unknown).await?;
    }
    let latest = latest_of(series, &parsed);
    let mut writes = Vec::with_capacity(parsed.len());
    for (id, b) in parsed {
        match series.to_keyed(&b.rows) {
            Ok(rows) => writes.push(super::redis::with_rows(b, rows)),
            Err(_) => corrupt(metrics, &id),
        }
    }
    Ok(Some(Round {
        ids,
        writes,
        latest,
    }))
}

/// Waits for a round's commit, then acks it (XACK + XDEL) in one atomic
/// step with the latest-value hashes.
async fn ack_round(q: Queued, conn: &mut ConnectionManager, metrics: &HubMetrics) -> Result<()> {
    let Queued {
        ids,
        latest,
        pending,
    } = q;
    let started = Instant::now();
    for result in pending.outcomes().await {
        // One failed commit fails the round; nothing is acked and all is re-read.
        result?;
    }
    metrics.history_commit_wait.since(started);
    let started = Instant::now();
    let mut pipe = redis::pipe();
    pipe.atomic();
    let mut value = String::new();
    for (host, fields) in &latest {
        pipe.cmd("HSET").arg(format!("{LATEST_KEY_PREFIX}{host}"));
        for (field, t, v) in fields {
            value.clear();
            // Writing into a String cannot fail.
            let _ = write!(value, "{t} {v}");
            pipe.arg(&**field).arg(value.as_str());
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
    metrics.history_ack.since(started);
    Ok(())
}

/// Keeping an entry that cannot be stored would block the stream forever.
fn corrupt(metrics: &HubMetrics, id: &str) {
    metrics.rejected("corrupt_buffer_entry");
    tracing::error!(%id, "undecodable entry in the ingest stream; dropped");
}

/// An entry that defines its own series (written before hub-wide ids),
/// rewritten to refer to interned ids; `None` if it does not decode.
async fn with_ids(
    buffer: &RedisBuffer,
    b: proto::BufferedBatch,
) -> Result<Option<proto::BufferedBatch>> {
    let Some((batch, site)) = from_proto(b) else {
        return Ok(None);
    };
    let rows = loop {
        match buffer.series().to_ids(&batch.host, &batch.rows) {
            Ok((rows, _)) => break rows,
            Err(missing) => {
                buffer.intern(&batch.host, missing).await?;
            }
        }
    };
    Ok(Some(proto::BufferedBatch {
        agent_id: batch.agent_id,
        host: batch.host,
        site,
        seq: batch.seq,
        series: Vec::new(),
        rows,
    }))
}

/// A field of a `hostwatch:latest:<host>` hash: the series key as JSON, the
/// row's time and value.
type Field = (Arc<str>, i64, f64);

/// Newest value per series of each host in a round, as Redis hash fields:
/// field = the series key as JSON (cached per series), value = "<unix ms> <value>".
fn latest_of(
    series: &Interner,
    entries: &[(String, proto::BufferedBatch)],
) -> FxHashMap<Arc<str>, Vec<Field>> {
    let mut newest: FxHashMap<u32, (i64, f64)> = FxHashMap::default();
    for r in entries.iter().flat_map(|(_, b)| &b.rows) {
        let e = newest
            .entry(r.series_id)
            .or_insert((r.timestamp_ms, r.value));
        if r.timestamp_ms >= e.0 {
            *e = (r.timestamp_ms, r.value);
        }
    }
    let mut out: FxHashMap<Arc<str>, Vec<Field>> = FxHashMap::default();
    for (id, s) in series.series_of(newest.keys().copied()) {
        let (t, v) = newest[&id];
        out.entry(s.host).or_default().push((s.field, t, v));
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use common::model::SeriesKey;
    use prost::Message as _;

    use super::*;
    use crate::state::State;
    use crate::store::{HistoryStore, SqliteStore};

    #[tokio::test]
    async fn entries_of_older_hubs_and_by_id_both_reach_history_and_the_latest_hashes() {
        let redis = testkit::Redis::start().await;
        let buffer = Arc::new(
            RedisBuffer::connect(redis.url(), 100)
                .await
                .expect("connect"),
        );
        let cpu = Arc::new(SeriesKey::new("system.cpu.utilization"));
        let batch = |seq, t, v| WriteBatch {
            agent_id: "a".into(),
            host: "h".into(),
            seq,
            rows: vec![(cpu.clone(), t, v)],
        };
        // Written by a hub before series ids: self-contained.
        let legacy = super::super::redis::encode(&batch(1, 1_000, 0.5), "eu").encode_to_vec();
        let mut conn = buffer.connection();
        let _: String = redis::cmd("XADD")
            .arg(STREAM_KEY)
            .arg("*")
            .arg("b")
            .arg(legacy)
            .query_async(&mut conn)
            .await
            .expect("xadd");
        buffer
            .accept(&batch(2, 2_000, 0.7), "eu")
            .await
            .expect("accept");

        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(
            SqliteStore::open(&dir.path().join("history.db"))
                .await
                .expect("open"),
        );
        let metrics = HubMetrics::new();
        let (writer, _task) = Writer::spawn(
            store.clone(),
            Arc::new(State::new()),
            None,
            None,
            None,
            metrics.clone(),
        );
        let token = CancellationToken::new();
        let consumer = tokio::spawn(run(buffer.clone(), writer, metrics, token.clone()));
        while store.stored_seq("a").await.expect("ledger") < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(store.count_rows("h").await.expect("count"), 2);
        // Acked (and deleted) only after the commit, with the latest value.
        while buffer.backlog().await.expect("xlen") > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let latest: Vec<(String, String)> = redis::cmd("HGETALL")
            .arg(format!("{LATEST_KEY_PREFIX}h"))
            .query_async(&mut conn)
            .await
            .expect("hgetall");
        assert_eq!(
            latest,
            vec![(
                r#"{"name":"system.cpu.utilization","labels":{}}"#.to_owned(),
                "2000 0.7".to_owned()
            )]
        );
        token.cancel();
        consumer.await.expect("consumer stops");
    }
}
