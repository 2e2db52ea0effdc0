//! `hub-ingest`: many agents streaming into one hub backed by Redis and
//! PostgreSQL, measured as samples/s that reach history, with hub CPU and RSS;
//! and, in the same run against the same database, a raw binary `COPY` of the
//! same number of rows into the same table — the peer the history path is
//! compared with.
//!
//!     cargo build --release -p hostwatch -p bench
//!     target/release/hub-ingest [--agents 1000] [--series 50] [--seconds 30] [--paced BATCHES]
//!
//! `--paced N`: agents hold back while the hub's Redis backlog
//! (`hostwatch_hub_buffer_backlog`) is above N batches, so ingest runs only as
//! fast as history drains — the steady state of a fleet whose offered load the
//! hub can sustain. Unpaced, agents send as fast as Redis acks and the backlog
//! grows for the whole run, with ingest taking CPU that history then lacks.
//!
//! Servers: throwaway `redis-server` and `postgres` (testkit) unless
//! HOSTWATCH_TEST_REDIS_URL / HOSTWATCH_TEST_DATABASE_URL are set. The hub runs
//! as its own process (`hostwatch hub`, found next to this binary) so its CPU
//! and memory are its own.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bench::process::{cpu_seconds, free_port, http_get, metric, peak_rss_kib, wait_ok};
use hub::store::postgres::copy::CopyBuffer;
use proto::ingest_client::IngestClient;
use proto::{agent_message, hub_message, AgentMessage};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

/// Agents share this many HTTP/2 connections (as a NAT or proxy would).
const CONNECTIONS: usize = 20;
/// Batches in flight per agent.
const WINDOW: u64 = 4;
const WARMUP: Duration = Duration::from_secs(5);

struct Args {
    agents: usize,
    series: usize,
    seconds: u64,
    /// Backlog (batches) above which agents pause; `None` = unpaced.
    paced: Option<u64>,
}

fn args() -> Args {
    let mut a = Args {
        agents: 1000,
        series: 50,
        seconds: 30,
        paced: None,
    };
    let v: Vec<String> = std::env::args().collect();
    for w in v.windows(2) {
        match w[0].as_str() {
            "--agents" => a.agents = w[1].parse().unwrap_or(a.agents),
            "--series" => a.series = w[1].parse().unwrap_or(a.series),
            "--seconds" => a.seconds = w[1].parse().unwrap_or(a.seconds),
            "--paced" => a.paced = w[1].parse().ok(),
            _ => {}
        }
    }
    a
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = args();
    eprintln!("hub-ingest: starting Redis and PostgreSQL");
    let redis = testkit::Redis::start().await;
    let pg = testkit::Postgres::start().await;
    let grpc = free_port();
    let http = free_port();
    let exe = std::env::current_exe()?.with_file_name("hostwatch");
    let dir = tempfile::tempdir()?;
    let mut hub: Child = Command::new(&exe)
        .args(["hub", "--grpc", &grpc, "--http", &http, "--site", "bench"])
        .arg("--database-path")
        .arg(dir.path().join("unused.db"))
        .env("REDIS_URL", redis.url())
        .env("DATABASE_URL", pg.url())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| {
            format!(
                "starting {}: {e} (build it: cargo build --release -p hostwatch)",
                exe.display()
            )
        })?;
    wait_ok(&http, "/readyz", "hub").await?;

    eprintln!(
        "hub-ingest: {} agents × {} series, {} s (first {} s warm-up)",
        args.agents,
        args.series,
        args.seconds,
        WARMUP.as_secs()
    );
    let stop = Arc::new(AtomicBool::new(false));
    let acked_rows = Arc::new(AtomicU64::new(0));
    let hold = Arc::new(AtomicBool::new(false));
    if let Some(limit) = args.paced {
        let (hold, stop, http) = (hold.clone(), stop.clone(), http.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(m) = http_get(&http, "/metrics").await {
                    let backlog = metric(&m, "hostwatch_hub_buffer_backlog ") as u64;
                    hold.store(backlog > limit, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
    }
    let mut channels = Vec::new();
    for _ in 0..CONNECTIONS {
        channels.push(
            Channel::from_shared(format!("http://{grpc}"))?
                .connect()
                .await?,
        );
    }
    let mut tasks = Vec::new();
    for i in 0..args.agents {
        let ch = channels[i % CONNECTIONS].clone();
        tasks.push(tokio::spawn(agent(
            ch,
            i,
            args.series,
            stop.clone(),
            hold.clone(),
            acked_rows.clone(),
        )));
    }

    let started = Instant::now();
    tokio::time::sleep(WARMUP).await;
    let (rows0, cpu0) = (stored_rows(&http).await?, cpu_seconds(hub.id()));
    let t0 = Instant::now();
    let acked0 = acked_rows.load(Ordering::Relaxed);
    let mut last_report = Instant::now();
    while started.elapsed() < Duration::from_secs(args.seconds) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if last_report.elapsed() >= Duration::from_secs(5) {
            let done = started.elapsed().as_secs();
            eprintln!(
                "hub-ingest: {done}/{} s, {} rows in history",
                args.seconds,
                stored_rows(&http).await?
            );
            last_report = Instant::now();
        }
    }
    let window = t0.elapsed().as_secs_f64();
    let (rows1, cpu1) = (stored_rows(&http).await?, cpu_seconds(hub.id()));
    let acked1 = acked_rows.load(Ordering::Relaxed);
    let rss_peak_kib = peak_rss_kib(hub.id());
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let _ = Command::new("kill")
        .args(["-TERM", &hub.id().to_string()])
        .status();
    let _ = hub.wait();

    let history_rate = (rows1 - rows0) as f64 / window;
    let ingest_rate = (acked1 - acked0) as f64 / window;
    let hub_cpu = (cpu1 - cpu0) / window;

    eprintln!("hub-ingest: raw COPY peer of {} rows", rows1 - rows0);
    let copy_rate = raw_copy(pg.url(), (rows1 - rows0).max(100_000)).await?;

    println!("| measure | value |");
    println!("|---|---|");
    println!("| agents × series | {} × {} |", args.agents, args.series);
    match args.paced {
        Some(n) => println!("| paced | agents wait while the Redis backlog > {n} batches |"),
        None => println!("| paced | no (agents send as fast as acks come) |"),
    }
    println!("| acked by the hub (into Redis) | {ingest_rate:.0} samples/s |");
    println!("| into history (PostgreSQL) | {history_rate:.0} samples/s |");
    println!("| raw binary COPY, same table (peer) | {copy_rate:.0} rows/s |");
    println!("| history / raw COPY | {:.2} |", history_rate / copy_rate);
    println!("| hub CPU | {hub_cpu:.2} cores |");
    println!("| hub peak RSS | {:.1} MiB |", rss_peak_kib as f64 / 1024.0);
    drop(redis);
    drop(pg);
    Ok(())
}

/// One agent: hello, then batches of `series` rows as fast as acks allow.
async fn agent(
    ch: Channel,
    i: usize,
    series: usize,
    stop: Arc<AtomicBool>,
    hold: Arc<AtomicBool>,
    acked_rows: Arc<AtomicU64>,
) {
    let id = format!("bench-{i:04}");
    let mut client = IngestClient::new(ch);
    let (tx, rx) = mpsc::channel::<AgentMessage>(WINDOW as usize + 2);
    let hello = proto::Hello {
        agent_id: id.clone(),
        host: Some(proto::HostFacts {
            hostname: id.clone(),
            ..Default::default()
        }),
        site: "bench".into(),
        credentials: String::new(),
        last_seq: 0,
    };
    if tx
        .send(AgentMessage {
            msg: Some(agent_message::Msg::Hello(hello)),
        })
        .await
        .is_err()
    {
        return;
    }
    let Ok(resp) = client.stream(ReceiverStream::new(rx)).await else {
        return;
    };
    let mut inbound = resp.into_inner();
    let Ok(Some(_welcome)) = inbound.message().await else {
        return;
    };
    let (mut sent, mut acked) = (0u64, 0u64);
    let mut ts = common::now_ms() - 3_600_000;
    while !stop.load(Ordering::Relaxed) {
        while hold.load(Ordering::Relaxed) && sent == acked && !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        while sent - acked < WINDOW && !(hold.load(Ordering::Relaxed) && sent > acked) {
            sent += 1;
            ts += 1000;
            let new_series = if sent == 1 {
                (1..=series as u32)
                    .map(|s| proto::SeriesDef {
                        id: s,
                        name: "bench.metric".into(),
                        labels: vec![proto::Label {
                            key: "n".into(),
                            value: s.to_string(),
                        }],
                        host: String::new(),
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let rows = (1..=series as u32)
                .map(|s| proto::Row {
                    series_id: s,
                    timestamp_ms: ts,
                    value: s as f64 + (sent % 60) as f64,
                })
                .collect();
            let batch = proto::Batch {
                seq: sent,
                new_series,
                rows,
                top_processes: Vec::new(),
            };
            if tx
                .send(AgentMessage {
                    msg: Some(agent_message::Msg::Batch(batch)),
                })
                .await
                .is_err()
            {
                return;
            }
        }
        match inbound.message().await {
            Ok(Some(proto::HubMessage {
                msg: Some(hub_message::Msg::Ack(a)),
            })) => {
                acked_rows.fetch_add(series as u64 * (a.seq - acked), Ordering::Relaxed);
                acked = a.seq;
            }
            // Backlog full or a fault: this simple generator stops; the
            // figures count only what was acked.
            _ => return,
        }
    }
}

async fn raw_copy(url: &str, rows: u64) -> Result<f64, Box<dyn std::error::Error>> {
    let pool = sqlx::PgPool::connect(url).await?;
    let ids: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM hostwatch.series ORDER BY id LIMIT 1000")
            .fetch_all(&pool)
            .await?;
    if ids.is_empty() {
        return Err("no series in history: the load did not reach PostgreSQL".into());
    }
    const CHUNK: u64 = 50_000;
    let mut done = 0u64;
    let mut ts = common::now_ms() - 7_200_000;
    let start = Instant::now();
    while done < rows {
        let n = CHUNK.min(rows - done);
        let mut buf = CopyBuffer::with_capacity(n as usize);
        for k in 0..n {
            let id = ids[(k as usize) % ids.len()];
            if (k as usize).is_multiple_of(ids.len()) {
                ts += 1000;
            }
            buf.push(id, ts, k as f64);
        }
        let mut tx = pool.begin().await?;
        let mut copy = tx
            .copy_in_raw(
                "COPY hostwatch.samples (series_id, time, value) FROM STDIN (FORMAT binary)",
            )
            .await?;
        copy.send(buf.finish()).await?;
        copy.finish().await?;
        tx.commit().await?;
        done += n;
    }
    let rate = rows as f64 / start.elapsed().as_secs_f64();
    pool.close().await;
    Ok(rate)
}

async fn stored_rows(http: &str) -> Result<u64, Box<dyn std::error::Error>> {
    let m = http_get(http, "/metrics").await?;
    Ok(metric(&m, "hostwatch_hub_rows_stored_total ") as u64)
}
