//! `wire-bytes`: bytes on the wire per sample between a real agent and a real
//! hub, for each batch compression (none, gzip, zstd), in steady state (series
//! already defined on the stream).
//!
//! An in-process hub (embedded SQLite in a temporary directory) sits behind a
//! TCP proxy that counts bytes each way; an agent with simulated hosts streams
//! through it. After a warm-up the counts over a window are divided by the
//! rows the agent produced in it. Everything is counted: HTTP/2 frames, gRPC
//! headers, acks.
//!
//!     cargo run --release -p bench --bin wire-bytes [-- HOSTS SECONDS]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use agent::config::Compression;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

const INTERVAL: Duration = Duration::from_millis(200);
const WARM_UP: Duration = Duration::from_secs(3);

#[derive(Default)]
struct Counts {
    up: AtomicU64,
    down: AtomicU64,
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let hosts: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(5);
    let secs: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(10);
    println!(
        "wire-bytes: {hosts} simulated hosts, interval {INTERVAL:?}, {secs} s measured after {WARM_UP:?} warm-up"
    );
    println!("| compression | rows | agent→hub bytes/row | hub→agent bytes/row |");
    println!("|---|---|---|---|");
    for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let (rows, up, down) = measure(c, hosts, Duration::from_secs(secs)).await;
        println!(
            "| {c:?} | {rows} | {:.2} | {:.2} |",
            up as f64 / rows.max(1) as f64,
            down as f64 / rows.max(1) as f64
        );
    }
}

async fn measure(compression: Compression, hosts: usize, window: Duration) -> (u64, u64, u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let listeners = hub::Listeners {
        grpc: TcpListener::bind("127.0.0.1:0").await.expect("bind"),
        http: TcpListener::bind("127.0.0.1:0").await.expect("bind"),
    };
    let grpc = listeners.grpc.local_addr().expect("addr");
    let hub_token = CancellationToken::new();
    let hub_config = hub::Config {
        database_path: dir.path().join("hub.db"),
        detect_anomalies: false,
        ..Default::default()
    };
    let hub_task = tokio::spawn(hub::run(hub_config, listeners, hub_token.clone()));
    let counts = Arc::new(Counts::default());
    let proxy = proxy(grpc, counts.clone()).await;

    let agent_token = CancellationToken::new();
    let agent = agent::Agent::start(
        agent::Config {
            hub_url: format!("http://{proxy}"),
            interval: INTERVAL,
            collect_local: false,
            simulate: hosts,
            compression,
            ..Default::default()
        },
        agent_token.clone(),
    )
    .expect("agent");
    tokio::time::sleep(WARM_UP).await;
    let rows = |a: &agent::Agent| -> u64 { a.stats().iter().map(|(_, s)| s.produced_rows).sum() };
    let (r0, u0, d0) = (
        rows(&agent),
        counts.up.load(Ordering::Relaxed),
        counts.down.load(Ordering::Relaxed),
    );
    tokio::time::sleep(window).await;
    let (r1, u1, d1) = (
        rows(&agent),
        counts.up.load(Ordering::Relaxed),
        counts.down.load(Ordering::Relaxed),
    );
    agent_token.cancel();
    let _ = agent.join().await;
    hub_token.cancel();
    let _ = hub_task.await;
    (r1 - r0, u1 - u0, d1 - d0)
}

/// Forwards TCP to `target`, counting bytes each way.
async fn proxy(target: SocketAddr, counts: Arc<Counts>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let Ok(outbound) = TcpStream::connect(target).await else {
                continue;
            };
            let (ri, wi) = inbound.into_split();
            let (ro, wo) = outbound.into_split();
            tokio::spawn(pump(ri, wo, counts.clone(), true));
            tokio::spawn(pump(ro, wi, counts.clone(), false));
        }
    });
    addr
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    counts: Arc<Counts>,
    up: bool,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let c = if up { &counts.up } else { &counts.down };
        c.fetch_add(n as u64, Ordering::Relaxed);
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
