//! `edge-fanout`: many dashboard clients on the edge's live WebSocket while
//! hosts stream through a hub and its uplink. Measures the delay from hub
//! ingest to a client receiving the host update, with the edge's CPU and
//! memory.
//!
//!     cargo build --release -p hostwatch -p bench
//!     $CARGO_TARGET_DIR/release/edge-fanout [--clients 1000] [--hosts 100] [--series 50] [--seconds 20]
//!
//! The services run as their own processes on loopback: `hostwatch edge` (demo
//! mode, so no login) and `hostwatch hub` (embedded SQLite, uplink to the
//! edge). The hosts are raw agent streams in this process, one batch a second
//! each, spread over the second, every row stamped with the instant its batch
//! is sent: on loopback that is the instant the hub receives it, so
//! "receipt − row time" is hub ingest → store → uplink → edge → client. The
//! peer, in the same run and against the same processes, is one client alone:
//! the ratio of the two is what fan-out costs, whatever the machine's load.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bench::process::{
    cpu_seconds, free_port, http_get, peak_rss_kib, sibling, status_kib, terminate, wait_ok,
};
use futures::{SinkExt, StreamExt};
use proto::ingest_client::IngestClient;
use proto::{agent_message, hub_message, AgentMessage};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_tungstenite::tungstenite::Message;

const WARMUP: Duration = Duration::from_secs(3);
/// Clients connect this many at a time, as a crowd opening the page would.
const CONNECT_BATCH: usize = 50;

struct Args {
    clients: usize,
    hosts: usize,
    series: usize,
    seconds: u64,
}

fn args() -> Args {
    let mut a = Args {
        clients: 1000,
        hosts: 100,
        series: 50,
        seconds: 20,
    };
    let v: Vec<String> = std::env::args().collect();
    for w in v.windows(2) {
        match w[0].as_str() {
            "--clients" => a.clients = w[1].parse().unwrap_or(a.clients),
            "--hosts" => a.hosts = w[1].parse().unwrap_or(a.hosts),
            "--series" => a.series = w[1].parse().unwrap_or(a.series),
            "--seconds" => a.seconds = w[1].parse().unwrap_or(a.seconds),
            _ => {}
        }
    }
    a
}

/// What every client records; shared so the phase can be read at its end.
#[derive(Default)]
struct Recorder {
    /// Only delays seen while this is set are kept (after the warm-up).
    recording: AtomicBool,
    delays_ms: Mutex<Vec<u32>>,
    messages: AtomicU64,
    /// Host updates that did not advance the host's time for that client.
    repeats: AtomicU64,
    ready: AtomicU64,
    errors: AtomicU64,
}

/// The processes under test; stopped on drop so a failed run leaves nothing.
struct System {
    edge: Child,
    hub: Child,
    grpc: String,
    _dir: tempfile::TempDir,
}

impl Drop for System {
    fn drop(&mut self) {
        terminate(&mut self.hub);
        terminate(&mut self.edge);
    }
}

fn start(edge_http: &str) -> Result<System, String> {
    let hostwatch = sibling("hostwatch")?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let config = dir.path().join("edge.toml");
    std::fs::write(
        &config,
        format!("http_addr = \"{edge_http}\"\ndemo = true\n"),
    )
    .map_err(|e| e.to_string())?;
    let spawn = |cmd: &mut Command, what: &str| {
        cmd.env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting {what}: {e}"))
    };
    let edge = spawn(
        Command::new(&hostwatch)
            .args(["edge", "--config"])
            .arg(&config),
        "the edge",
    )?;
    let (grpc, hub_http) = (free_port(), free_port());
    let hub = spawn(
        Command::new(&hostwatch)
            .args([
                "hub", "--grpc", &grpc, "--http", &hub_http, "--site", "bench",
            ])
            .args(["--edge", &format!("ws://{edge_http}/uplink")])
            .arg("--database-path")
            .arg(dir.path().join("hub.db")),
        "the hub",
    )?;
    Ok(System {
        edge,
        hub,
        grpc,
        _dir: dir,
    })
}

/// One host: a raw agent stream sending a batch of `series` rows every
/// second at its own offset in the second, each row stamped with the send
/// instant. Counts batches the hub did not ack.
async fn host(
    grpc: String,
    i: usize,
    hosts: usize,
    series: usize,
    stop: Arc<AtomicBool>,
    lost: Arc<AtomicU64>,
) {
    let id = format!("fanout-{i:03}");
    let Ok(mut client) = IngestClient::connect(format!("http://{grpc}")).await else {
        lost.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let (tx, rx) = mpsc::channel::<AgentMessage>(8);
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
    let send = |m| AgentMessage { msg: Some(m) };
    if tx
        .send(send(agent_message::Msg::Hello(hello)))
        .await
        .is_err()
    {
        return;
    }
    let Ok(resp) = client.stream(ReceiverStream::new(rx)).await else {
        lost.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let mut inbound = resp.into_inner();
    if !matches!(inbound.message().await, Ok(Some(_))) {
        lost.fetch_add(1, Ordering::Relaxed);
        return;
    }
    // Acks are read beside the sends so a slow ack never delays a batch.
    let acks = tokio::spawn(async move {
        let mut acked = 0u64;
        while let Ok(Some(m)) = inbound.message().await {
            if let Some(hub_message::Msg::Ack(a)) = m.msg {
                acked = a.seq;
            }
        }
        acked
    });
    let offset = Duration::from_millis((1000 * i / hosts.max(1)) as u64);
    let mut tick =
        tokio::time::interval_at(tokio::time::Instant::now() + offset, Duration::from_secs(1));
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        seq += 1;
        let new_series = if seq == 1 {
            (1..=series as u32)
                .map(|s| proto::SeriesDef {
                    id: s,
                    name: if s == 1 {
                        "system.cpu.utilization".into()
                    } else {
                        "bench.metric".into()
                    },
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
        let now = common::now_ms();
        let rows = (1..=series as u32)
            .map(|s| proto::Row {
                series_id: s,
                timestamp_ms: now,
                value: if s == 1 {
                    0.2 + 0.01 * (seq % 10) as f64
                } else {
                    s as f64
                },
            })
            .collect();
        let batch = proto::Batch {
            seq,
            new_series,
            rows,
            top_processes: Vec::new(),
        };
        if tx
            .send(send(agent_message::Msg::Batch(batch)))
            .await
            .is_err()
        {
            break;
        }
    }
    drop(tx);
    let acked = tokio::time::timeout(Duration::from_secs(5), acks)
        .await
        .ok()
        .and_then(|r| r.ok())
        .unwrap_or(0);
    lost.fetch_add(seq.saturating_sub(acked), Ordering::Relaxed);
}

/// The `host` and `last_seen_ms` of a live `host` message, read without a
/// JSON parser: a thousand clients parsing every update would measure the
/// bench's own CPU, not the edge's.
fn host_update(text: &str) -> Option<(&str, i64)> {
    let rest = text.strip_prefix(r#"{"type":"host","host":{"host":""#)?;
    let name = &rest[..rest.find('"')?];
    let at = rest.find(r#""last_seen_ms":"#)? + r#""last_seen_ms":"#.len();
    let digits = &rest[at..];
    let end = digits
        .find(|c: char| !c.is_ascii_digit() && c != '-')
        .unwrap_or(digits.len());
    Some((name, digits[..end].parse().ok()?))
}

async fn client(url: String, rec: Arc<Recorder>, stop: Arc<AtomicBool>) {
    let Ok((mut ws, _)) = tokio_tungstenite::connect_async(&url).await else {
        rec.errors.fetch_add(1, Ordering::Relaxed);
        return;
    };
    // Everything: every host of the fleet, as the fleet overview asks.
    let subscribe = r#"{"type":"subscribe","hosts":[],"sites":[]}"#;
    if ws.send(Message::text(subscribe)).await.is_err() {
        rec.errors.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let mut seen: HashMap<String, i64> = HashMap::new();
    let mut ready = false;
    let mut mine: Vec<u32> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let msg = match tokio::time::timeout(Duration::from_millis(500), ws.next()).await {
            Err(_) => continue,
            Ok(Some(Ok(m))) => m,
            Ok(_) => {
                rec.errors.fetch_add(1, Ordering::Relaxed);
                break;
            }
        };
        let Message::Text(text) = msg else { continue };
        let now = common::now_ms();
        if !ready {
            ready = true;
            rec.ready.fetch_add(1, Ordering::Relaxed);
        }
        let Some((host, t)) = host_update(&text) else {
            continue;
        };
        rec.messages.fetch_add(1, Ordering::Relaxed);
        let newer = match seen.get_mut(host) {
            Some(prev) if *prev >= t => false,
            Some(prev) => {
                *prev = t;
                true
            }
            None => {
                seen.insert(host.to_owned(), t);
                true
            }
        };
        if !newer {
            rec.repeats.fetch_add(1, Ordering::Relaxed);
        } else if rec.recording.load(Ordering::Relaxed) {
            mine.push((now - t).clamp(0, u32::MAX as i64) as u32);
        }
    }
    if let Ok(mut all) = rec.delays_ms.lock() {
        all.extend(mine);
    }
}

struct Phase {
    clients: usize,
    connected: u64,
    errors: u64,
    delays: Vec<u32>,
    messages_per_s: f64,
    repeats: u64,
    edge_cores: f64,
    edge_rss_kib: u64,
}

async fn phase(n: usize, edge_http: &str, edge_pid: u32, seconds: u64) -> Phase {
    let rec = Arc::new(Recorder::default());
    let stop = Arc::new(AtomicBool::new(false));
    let url = format!("ws://{edge_http}/api/v1/live");
    let mut tasks = Vec::with_capacity(n);
    for chunk in 0..n.div_ceil(CONNECT_BATCH) {
        let start = chunk * CONNECT_BATCH;
        for _ in start..n.min(start + CONNECT_BATCH) {
            tasks.push(tokio::spawn(client(url.clone(), rec.clone(), stop.clone())));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while rec.ready.load(Ordering::Relaxed) + rec.errors.load(Ordering::Relaxed) < n as u64
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(WARMUP).await;
    let (cpu0, msgs0, t0) = (
        cpu_seconds(edge_pid),
        rec.messages.load(Ordering::Relaxed),
        Instant::now(),
    );
    rec.recording.store(true, Ordering::Relaxed);
    for s in 0..seconds {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if (s + 1) % 5 == 0 {
            eprintln!(
                "edge-fanout: {n} clients, {}/{seconds} s, {} updates received",
                s + 1,
                rec.messages.load(Ordering::Relaxed) - msgs0
            );
        }
    }
    rec.recording.store(false, Ordering::Relaxed);
    let window = t0.elapsed().as_secs_f64();
    let edge_cores = (cpu_seconds(edge_pid) - cpu0) / window;
    let messages_per_s = (rec.messages.load(Ordering::Relaxed) - msgs0) as f64 / window;
    let edge_rss_kib = status_kib(edge_pid, "VmRSS");
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let mut delays = std::mem::take(&mut *rec.delays_ms.lock().unwrap_or_else(|p| p.into_inner()));
    delays.sort_unstable();
    Phase {
        clients: n,
        connected: rec.ready.load(Ordering::Relaxed),
        errors: rec.errors.load(Ordering::Relaxed),
        delays,
        messages_per_s,
        repeats: rec.repeats.load(Ordering::Relaxed),
        edge_cores,
        edge_rss_kib,
    }
}

fn pct(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn row(p: &Phase) -> String {
    format!(
        "| {} | {}/{} | {} | {} ms | {} ms | {} ms | {:.0} | {:.2} | {} MiB |",
        p.clients,
        p.connected,
        p.clients,
        p.delays.len(),
        pct(&p.delays, 0.5),
        pct(&p.delays, 0.99),
        p.delays.last().copied().unwrap_or(0),
        p.messages_per_s,
        p.edge_cores,
        p.edge_rss_kib / 1024,
    )
}

async fn hosts_on_edge(edge_http: &str) -> usize {
    let Ok(r) = http_get(edge_http, "/api/v1/hosts").await else {
        return 0;
    };
    r.matches(r#""agent_id":"#).count()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = args();
    let edge_http = free_port();
    let system = start(&edge_http)?;
    wait_ok(&edge_http, "/healthz", "the edge").await?;
    let stop_hosts = Arc::new(AtomicBool::new(false));
    let unacked = Arc::new(AtomicU64::new(0));
    let hosts: Vec<_> = (0..args.hosts)
        .map(|i| {
            tokio::spawn(host(
                system.grpc.clone(),
                i,
                args.hosts,
                args.series,
                stop_hosts.clone(),
                unacked.clone(),
            ))
        })
        .collect();
    eprintln!("edge-fanout: waiting for {} hosts on the edge", args.hosts);
    let deadline = Instant::now() + Duration::from_secs(60);
    while hosts_on_edge(&edge_http).await < args.hosts {
        if Instant::now() > deadline {
            return Err(format!(
                "only {} of {} hosts reached the edge in 60 s",
                hosts_on_edge(&edge_http).await,
                args.hosts
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let edge_pid = system.edge.id();
    let started = Instant::now();
    let cpu_before = cpu_seconds(std::process::id());
    eprintln!("edge-fanout: peer, 1 client, {} s", args.seconds);
    let alone = phase(1, &edge_http, edge_pid, args.seconds).await;
    eprintln!("edge-fanout: {} clients, {} s", args.clients, args.seconds);
    let crowd = phase(args.clients, &edge_http, edge_pid, args.seconds).await;
    let peak = peak_rss_kib(edge_pid);
    let bench_cores =
        (cpu_seconds(std::process::id()) - cpu_before) / started.elapsed().as_secs_f64();
    stop_hosts.store(true, Ordering::Relaxed);
    for h in hosts {
        let _ = h.await;
    }
    drop(system);

    println!(
        "\n{} simulated hosts at 1 s, delay = client receipt − sample timestamp\n",
        args.hosts
    );
    println!("| clients | connected | delays | p50 | p99 | max | updates/s received | edge CPU (cores) | edge RSS |");
    println!("|---|---|---|---|---|---|---|---|---|");
    println!("{}", row(&alone));
    println!("{}", row(&crowd));
    let ratio = |a: u32, b: u32| a as f64 / (b.max(1)) as f64;
    println!(
        "\np99 ratio crowd / alone: {:.2}; p50 ratio {:.2}; edge peak RSS {} MiB; \
         connect errors {} + {}; repeated updates {} + {}; batches the hub did not ack {}; \
         this bench process (hosts + clients) used {:.2} cores",
        ratio(pct(&crowd.delays, 0.99), pct(&alone.delays, 0.99)),
        ratio(pct(&crowd.delays, 0.5), pct(&alone.delays, 0.5)),
        peak / 1024,
        alone.errors,
        crowd.errors,
        alone.repeats,
        crowd.repeats,
        unacked.load(Ordering::Relaxed),
        bench_cores,
    );
    let expected = (args.clients * args.hosts) as f64;
    if crowd.messages_per_s < 0.9 * expected {
        println!(
            "note: the crowd received {:.0} updates/s of the {expected:.0}/s the fleet produces",
            crowd.messages_per_s
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::host_update;

    #[test]
    fn reads_host_and_time_from_a_live_update() {
        let cases = [
            (
                r#"{"type":"host","host":{"host":"web-1","site":"eu","last_seen_ms":1700000000123,"cpu_percent":1.0}}"#,
                Some(("web-1", 1_700_000_000_123)),
            ),
            (r#"{"type":"snapshot","hosts":[]}"#, None),
            (r#"{"type":"host","host":{"host":"x","site":"eu"}}"#, None),
        ];
        for (text, want) in cases {
            assert_eq!(host_update(text), want, "{text}");
        }
    }
}
