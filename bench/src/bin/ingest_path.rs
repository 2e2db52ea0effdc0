//! `ingest-path`: the hub's per-batch CPU work alone — protobuf decode of an
//! agent message, validation against the stream's symbol table, and encoding
//! the Redis stream entry (rows by hub-wide series id) — on one core, with no
//! network or storage.
//!
//! The peer in the same run is a bare `prost` decode of the same bytes, so the
//! ratio says how much our own work adds on top of what any gRPC server pays.
//!
//!     cargo run --release -p bench --bin ingest-path [-- SECONDS]

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::model::SeriesKey;
use hub::buffer::series::Interner;
use hub::config::Limits;
use hub::ingest::validate::{check_rows, SymbolTable};
use prost::Message as _;

/// Rows per batch: about what one real host sends per second.
const ROWS: usize = 64;

fn main() {
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let budget = Duration::from_secs_f64(secs);
    let now = common::now_ms();
    // As an ingest stream resolves them: interned hub-wide, once.
    let series = Interner::default();
    let keys = (1..=ROWS as u32)
        .map(|id| SeriesKey::new("system.cpu.utilization").label("cpu", format!("cpu{id}")))
        .collect();
    let mut table = SymbolTable::default();
    for (id, key) in (1..).zip(series.insert_local("bench", keys)) {
        table.insert(id, key);
    }
    series.mark_published(1..=ROWS as u32);
    let msg = proto::AgentMessage {
        msg: Some(proto::agent_message::Msg::Batch(proto::Batch {
            seq: 1,
            new_series: Vec::new(),
            top_processes: Vec::new(),
            rows: (1..=ROWS as u32)
                .map(|id| proto::Row {
                    series_id: id,
                    timestamp_ms: now,
                    value: 0.25 + id as f64 / 1000.0,
                })
                .collect(),
        })),
    };
    let bytes = msg.encode_to_vec();
    let limits = Limits::default();

    eprintln!(
        "ingest-path: {ROWS} rows per batch, {} bytes per batch, {secs} s per measurement",
        bytes.len()
    );
    let peer = measure(budget, || {
        let m = proto::AgentMessage::decode(bytes.as_slice())
            .map(|m| m.msg.is_some())
            .unwrap_or(false);
        black_box(m);
    });
    let ours = measure(budget, || {
        let Ok(proto::AgentMessage {
            msg: Some(proto::agent_message::Msg::Batch(b)),
        }) = proto::AgentMessage::decode(bytes.as_slice())
        else {
            return;
        };
        let Ok(rows) = check_rows(b.seq, &b.rows, &table, &limits, now) else {
            return;
        };
        let Ok((rows, _)) = series.to_ids("bench", &rows) else {
            return;
        };
        let entry = proto::BufferedBatch {
            agent_id: "bench".into(),
            host: "bench".into(),
            site: "site".into(),
            seq: b.seq,
            series: Vec::new(),
            rows,
        }
        .encode_to_vec();
        black_box(entry);
    });
    let per_sec = |batches_per_s: f64| batches_per_s * ROWS as f64;
    println!("| path | samples/s (1 core) |");
    println!("|---|---|");
    println!("| prost decode only (peer) | {:.0} |", per_sec(peer));
    println!(
        "| decode + validate + Redis entry encode (ours) | {:.0} |",
        per_sec(ours)
    );
    println!("ratio ours/peer: {:.2}", ours / peer);
}

/// Runs `f` repeatedly for `budget` after a short warm-up; returns calls/s.
fn measure(budget: Duration, mut f: impl FnMut()) -> f64 {
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_millis(200) {
        f();
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for _ in 0..1000 {
            f();
        }
        n += 1000;
    }
    n as f64 / start.elapsed().as_secs_f64()
}
