//! `hub-ingest`: many agents streaming into one hub backed by Redis and
//! PostgreSQL, measured as samples/s that reach history, with hub CPU and RSS;
//! and, in the same run against the same database, a raw binary `COPY` of the
//! same number of rows into the same table — the peer the history path is
//! compared with.
//!
//!     cargo build --release -p hostwatch -p bench
//!     target/release/hub-ingest [--agents 1000] [--series 50] [--seconds 30] [--paced BATCHES]
//!         [--test-sized-pg]
//!
//! `--paced N`: agents hold back while the hub's Redis backlog
//! (`hostwatch_hub_buffer_backlog`) is above N batches, so ingest runs only as
//! fast as history drains — the steady state of a fleet whose offered load the
//! hub can sustain. Unpaced, agents send as fast as Redis acks and the backlog
//! grows for the whole run, with ingest taking CPU that history then lacks.
//!
//! Servers: throwaway `redis-server` and `postgres` (testkit) unless
//! HOSTWATCH_TEST_REDIS_URL / HOSTWATCH_TEST_DATABASE_URL are set. The
//! throwaway PostgreSQL gets a hub's sizing ([`HUB_SIZED_PG`]);
//! `--test-sized-pg` keeps the tests' 16 MB of buffers (the runs before
//! 2026-12-04 (2) in bench/README used that). The hub runs
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
/// The throwaway server sized like a hub's own (README, "PostgreSQL for
/// the hub"), not a test's: 50,000 series' index pages fit in its buffers,
/// and checkpoints (each followed by full-page images in the WAL) are
/// spaced by time, not forced by WAL volume every few seconds.
const HUB_SIZED_PG: &str = "shared_buffers = 2GB\nmax_wal_size = 8GB\ncheckpoint_timeout = 15min\n";

struct Args {
    agents: usize,
    series: usize,
    seconds: u64,
    /// Backlog (batches) above which agents pause; `None` = unpaced.
    paced: Option<u64>,
    /// The throwaway PostgreSQL keeps the test sizing (16 MB of buffers).
    test_sized_pg: bool,
}

fn args() -> Args {
    let mut a = Args {
        agents: 1000,
        series: 50,
        seconds: 30,
        paced: None,
        test_sized_pg: false,
    };
    let v: Vec<String> = std::env::args().collect();
    a.test_sized_pg = v.iter().any(|x| x == "--test-sized-pg");
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
    let external = std::env::var_os("HOSTWATCH_TEST_DATABASE_URL").is_some();
    let pg = if args.test_sized_pg || external {
        testkit::Postgres::start().await
    } else {
        testkit::Postgres::throwaway_with(HUB_SIZED_PG).await
    };
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
    let phases0 = phases(&http).await?;
    let commits0 = commits(&http).await?;
    let admin = sqlx::PgPool::connect(pg.url()).await?;
    let wal0 = wal_lsn(&admin).await?;
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
    let phases1 = phases(&http).await?;
    let commits1 = commits(&http).await?;
    let history_wal = wal_since(&admin, &wal0).await? / (rows1 - rows0).max(1) as f64;
    admin.close().await;
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

    let rows = (rows1 - rows0).max(100_000);
    eprintln!("hub-ingest: raw COPY peers of {rows} rows");
    // The peer: the same rows as the agents sent (every series, each agent's
    // series together, one timestamp per round of all agents).
    // Transactions as large as the hub's, so both pay the same commits.
    let chunk = ((rows1 - rows0) / (commits1 - commits0).max(1)).max(1);
    let (copy_rate, copy_wal) = raw_copy(pg.url(), rows, None, chunk).await?;
    // The peer of earlier runs (bench/README before 2026-12-04 (2)): 1,000
    // series only, so the index is written in 1,000 places, not 50,000.
    let (narrow_rate, narrow_wal) = raw_copy(pg.url(), rows, Some(1000), 50_000).await?;

    println!("| measure | value |");
    println!("|---|---|");
    println!("| agents × series | {} × {} |", args.agents, args.series);
    match args.paced {
        Some(n) => println!("| paced | agents wait while the Redis backlog > {n} batches |"),
        None => println!("| paced | no (agents send as fast as acks come) |"),
    }
    println!("| acked by the hub (into Redis) | {ingest_rate:.0} samples/s |");
    println!("| into history (PostgreSQL) | {history_rate:.0} samples/s |");
    println!("| raw binary COPY of the same rows, same table (peer) | {copy_rate:.0} rows/s |");
    println!("| history / raw COPY | {:.2} |", history_rate / copy_rate);
    println!("| rows per transaction (hub, and so the peer) | {chunk} |");
    println!("| WAL per row: history / peer | {history_wal:.0} B / {copy_wal:.0} B |");
    println!("| raw COPY over 1,000 series only (earlier peer) | {narrow_rate:.0} rows/s |");
    println!(
        "| history / earlier peer | {:.2} |",
        history_rate / narrow_rate
    );
    println!("| WAL per row, earlier peer | {narrow_wal:.0} B |");
    println!("| hub CPU | {hub_cpu:.2} cores |");
    println!("| hub peak RSS | {:.1} MiB |", rss_peak_kib as f64 / 1024.0);
    for (phase, t1) in &phases1 {
        let t0 = phases0.iter().find(|p| p.0 == *phase).map_or(0.0, |p| p.1);
        println!(
            "| time in {phase} | {:.0} % of the window |",
            100.0 * (t1 - t0) / window
        );
    }
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

/// `rows` rows by binary COPY in `chunk`-row transactions, over the first
/// `limit` series (all when `None`) in id order — the order the hub created
/// them, so each agent's series sit together as in its batches.
async fn raw_copy(
    url: &str,
    rows: u64,
    limit: Option<i64>,
    chunk: u64,
) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let pool = sqlx::PgPool::connect(url).await?;
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM hostwatch.series ORDER BY id LIMIT $1")
        .bind(limit.unwrap_or(i64::MAX))
        .fetch_all(&pool)
        .await?;
    if ids.is_empty() {
        return Err("no series in history: the load did not reach PostgreSQL".into());
    }
    let mut done = 0u64;
    // Before the agents' times (they start an hour back), and apart per peer.
    let mut ts = common::now_ms()
        - if limit.is_some() {
            7_200_000
        } else {
            10_800_000
        };
    let wal0 = wal_lsn(&pool).await?;
    let start = Instant::now();
    while done < rows {
        let n = chunk.min(rows - done);
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
    let wal = wal_since(&pool, &wal0).await? / rows as f64;
    pool.close().await;
    Ok((rate, wal))
}

/// PostgreSQL's current WAL position.
async fn wal_lsn(pool: &sqlx::PgPool) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_current_wal_lsn()::text")
        .fetch_one(pool)
        .await
}

/// WAL bytes written since `from`: with full-page images after each
/// checkpoint, it shows how many index pages a load touches.
async fn wal_since(pool: &sqlx::PgPool, from: &str) -> Result<f64, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::float8")
        .bind(from)
        .fetch_one(pool)
        .await
}

/// Every `hostwatch_hub_history_seconds_total{phase}`: (phase, seconds).
async fn phases(http: &str) -> Result<Vec<(String, f64)>, Box<dyn std::error::Error>> {
    let m = http_get(http, "/metrics").await?;
    Ok(m.lines()
        .filter_map(|l| l.strip_prefix("hostwatch_hub_history_seconds_total{phase=\""))
        .filter_map(|l| {
            let (phase, rest) = l.split_once("\"}")?;
            Some((phase.to_owned(), rest.trim().parse().ok()?))
        })
        .collect())
}

async fn commits(http: &str) -> Result<u64, Box<dyn std::error::Error>> {
    let m = http_get(http, "/metrics").await?;
    Ok(metric(&m, "hostwatch_hub_commits_total ") as u64)
}

async fn stored_rows(http: &str) -> Result<u64, Box<dyn std::error::Error>> {
    let m = http_get(http, "/metrics").await?;
    Ok(metric(&m, "hostwatch_hub_rows_stored_total ") as u64)
}
