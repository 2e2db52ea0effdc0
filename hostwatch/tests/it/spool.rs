//! The agent's on-disk spool: batches that pile up while the hub is down
//! survive the agent stopping (and a torn last write), and a new agent on the
//! same spool delivers every one of them exactly once to a new hub on the same
//! history.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use agent::transport::queue::QueueStats;
use hub::store::HistoryStore;
use tokio_util::sync::CancellationToken;

use crate::support::{eventually, Proxy, TestHub};

const HOSTS: usize = 3;

fn config(hub: std::net::SocketAddr, spool: &Path) -> agent::Config {
    agent::Config {
        hub_url: format!("http://{hub}"),
        interval: Duration::from_millis(100),
        collect_local: false,
        simulate: HOSTS,
        spool_dir: Some(spool.to_owned()),
        // Checks want everything acked at stop: give a loaded debug hub time.
        drain_timeout: Duration::from_secs(60),
        ..Default::default()
    }
}

async fn all(stats: Vec<(String, QueueStats)>, ok: impl Fn(&QueueStats) -> bool) -> Option<()> {
    stats.iter().all(|(_, s)| ok(s)).then_some(())
}

/// Appends half a record to a host's newest segment, as a crash mid-write would.
fn tear_newest_segment(host_dir: &Path) {
    let mut segs: Vec<_> = std::fs::read_dir(host_dir)
        .expect("host spool dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    segs.sort();
    let newest = segs.pop().expect("a segment with unacked batches");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(newest)
        .expect("open segment");
    f.write_all(&[200, 0, 0, 0, 1, 2, 3]).expect("tear");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spooled_batches_survive_a_restart_and_arrive_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = dir.path().join("spool");

    // Run 1: stream, then lose the hub while batches keep coming.
    let hub = TestHub::start(dir.path()).await;
    let proxy = Proxy::start(hub.grpc).await;
    let token = CancellationToken::new();
    let first =
        agent::Agent::start(config(proxy.addr, &spool), token.clone()).expect("agent starts");
    eventually(Duration::from_secs(20), "first acks", || {
        all(first.stats(), |s| s.acked_seq >= 3)
    })
    .await;
    proxy.set_refusing(true);
    proxy.cut();
    hub.stop().await;
    eventually(Duration::from_secs(20), "batches piling up", || {
        all(first.stats(), |s| s.pending >= 5)
    })
    .await;
    // The hub is gone, so nothing drains: what is pending stays on disk only.
    token.cancel();
    let before = first.join().await;
    drop(proxy);
    for (id, s) in &before {
        assert!(s.pending >= 5, "{id}: {s:?}");
        tear_newest_segment(&agent::transport::spool::host_dir(&spool, id));
    }

    // Run 2: a new agent on the same spool and a new hub on the same history.
    let hub = TestHub::start(dir.path()).await;
    let token = CancellationToken::new();
    let second =
        agent::Agent::start(config(hub.grpc, &spool), token.clone()).expect("agent restarts");
    for (id, s) in second.stats() {
        // The new tasks may already be running: compare through the counters.
        let old = &before.iter().find(|(i, _)| *i == id).expect("same hosts").1;
        assert_eq!(
            s.last_seq,
            old.last_seq + s.produced_batches,
            "{id}: numbering continues"
        );
        assert_eq!(
            s.pending as u64 + s.acked_batches,
            old.pending as u64 + s.produced_batches,
            "{id}: every unacked batch reloaded"
        );
    }
    let target: u64 = before.iter().map(|(_, s)| s.last_seq).max().unwrap_or(0) + 3;
    eventually(
        Duration::from_secs(30),
        "replay and new batches acked",
        || all(second.stats(), |s| s.acked_seq >= target),
    )
    .await;
    token.cancel();
    let after = second.join().await;
    hub.stop().await;

    let store = hub::store::SqliteStore::open(&dir.path().join("hub.db"))
        .await
        .expect("reopen history");
    let ledger = store.ledger().await.expect("ledger");
    assert_eq!(after.len(), HOSTS);
    for (id, s) in after {
        let old = &before.iter().find(|(i, _)| *i == id).expect("same hosts").1;
        let l = ledger
            .iter()
            .find(|l| l.agent_id == id)
            .expect("ledger entry");
        let rows = store.count_rows(&id).await.expect("count");
        assert_eq!(s.pending, 0, "{id}: drained: {s:?}");
        assert_eq!(old.dropped_batches + s.dropped_batches, 0, "{id}: {s:?}");
        assert_eq!(s.last_seq, old.last_seq + s.produced_batches, "{id}: {s:?}");
        assert_eq!(l.last_seq, s.last_seq, "{id}: highest seq stored");
        assert_eq!(
            l.batches, s.last_seq,
            "{id}: every batch of both runs stored once"
        );
        assert_eq!(
            rows,
            old.produced_rows + s.produced_rows,
            "{id}: rows in history equal rows produced by both runs"
        );
    }
}

/// The highest seq a host's spool has recorded as acked (0 before any ack).
fn acked(spool: &Path, host: &str) -> u64 {
    std::fs::read_to_string(spool.join(host).join("acked"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// The hosts that have a spool directory.
fn spooled_hosts(spool: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(spool)
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// A `hostwatch agent` child, SIGKILLed when dropped (also when a test fails).
struct AgentProcess(std::process::Child);

impl AgentProcess {
    fn spawn(hub: std::net::SocketAddr, spool: &Path) -> Self {
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_hostwatch"))
            .args([
                "agent",
                "--no-local",
                "--simulate",
                "2",
                "--interval",
                "100ms",
            ])
            .arg("--hub")
            .arg(format!("http://{hub}"))
            .arg("--spool-dir")
            .arg(spool)
            .env("RUST_LOG", "error")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn hostwatch agent");
        Self(child)
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        // SIGKILL: no drain, no flush; whatever was in flight stays unacked.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_of_the_agent_leaves_no_gap_and_no_duplicate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = dir.path().join("spool");
    let hub = TestHub::start(dir.path()).await;
    let mut progress = 0;
    let mut hosts = Vec::new();
    for round in 0..3 {
        let child = AgentProcess::spawn(hub.grpc, &spool);
        let want = progress + 5;
        hosts = eventually(
            Duration::from_secs(30),
            &format!("acks in round {round}"),
            || {
                let hosts = spooled_hosts(&spool);
                let ok = hosts.len() == 2 && hosts.iter().all(|h| acked(&spool, h) >= want);
                async move { ok.then_some(hosts) }
            },
        )
        .await;
        drop(child);
        progress = hosts.iter().map(|h| acked(&spool, h)).min().unwrap_or(0);
    }
    hub.stop().await;

    let store = hub::store::SqliteStore::open(&dir.path().join("hub.db"))
        .await
        .expect("reopen history");
    let ledger = store.ledger().await.expect("ledger");
    for host in &hosts {
        let l = ledger
            .iter()
            .find(|l| &l.agent_id == host)
            .expect("ledger entry");
        assert!(l.last_seq >= acked(&spool, host), "{host}: {l:?}");
        assert_eq!(
            l.batches, l.last_seq,
            "{host}: seqs 1..=last stored once each: {l:?}"
        );
    }
}

/// The history's ledger entry and row count of every host, after the hub stopped.
async fn stored(dir: &Path) -> (Vec<hub::store::LedgerEntry>, hub::store::SqliteStore) {
    let store = hub::store::SqliteStore::open(&dir.join("hub.db"))
        .await
        .expect("reopen history");
    (store.ledger().await.expect("ledger"), store)
}

/// A spool far too small for the outage: the oldest batches are dropped, and
/// the agent's count of dropped batches is exactly the number of seqs missing
/// from history — nothing more is lost, nothing is stored twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spool_overflow_drops_exactly_what_is_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = dir.path().join("spool");
    let hub = TestHub::start(dir.path()).await;
    let proxy = Proxy::start(hub.grpc).await;
    // The hub is unreachable from the first moment.
    proxy.set_refusing(true);
    let token = CancellationToken::new();
    let config = agent::Config {
        spool_bytes: agent::config::MIN_SPOOL_BYTES,
        ..config(proxy.addr, &spool)
    };
    let running = agent::Agent::start(config, token.clone()).expect("agent starts");
    eventually(Duration::from_secs(60), "the spools overflowing", || {
        all(running.stats(), |s| s.dropped_batches >= 3)
    })
    .await;
    proxy.set_refusing(false);
    eventually(Duration::from_secs(60), "everything left delivered", || {
        all(running.stats(), |s| s.pending == 0 && s.acked_seq >= 10)
    })
    .await;
    token.cancel();
    let after = running.join().await;
    drop(proxy);
    hub.stop().await;

    let (ledger, store) = stored(dir.path()).await;
    for (id, s) in after {
        let l = ledger
            .iter()
            .find(|l| l.agent_id == id)
            .expect("ledger entry");
        assert!(s.dropped_batches >= 3, "{id}: {s:?}");
        assert_eq!(l.last_seq, s.last_seq, "{id}: newest batch stored");
        assert_eq!(
            l.batches + s.dropped_batches,
            s.last_seq,
            "{id}: missing seqs == dropped count ({l:?}, {s:?})"
        );
        assert!(store.count_rows(&id).await.expect("count") > 0, "{id}");
    }
}

/// The hub gone for a whole minute while agents keep collecting: after it
/// comes back the backlog replays by itself, in order, and history holds every
/// batch exactly once. The replay rate is printed (speed is measured in
/// bench/, not asserted here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minute_without_the_hub_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = dir.path().join("spool");
    let hub = TestHub::start(dir.path()).await;
    let proxy = Proxy::start(hub.grpc).await;
    let token = CancellationToken::new();
    // A batch every 250 ms: a minute is 240 batches (~70k rows) per host.
    let config = agent::Config {
        interval: Duration::from_millis(250),
        ..config(proxy.addr, &spool)
    };
    let running = agent::Agent::start(config, token.clone()).expect("agent starts");
    eventually(Duration::from_secs(20), "first acks", || {
        all(running.stats(), |s| s.acked_seq >= 3)
    })
    .await;
    proxy.set_refusing(true);
    proxy.cut();
    tokio::time::sleep(Duration::from_secs(60)).await;
    let stats = running.stats();
    let backlog: usize = stats.iter().map(|(_, s)| s.pending).sum();
    let acked_before: u64 = stats.iter().map(|(_, s)| s.acked_batches).sum();
    let back = std::time::Instant::now();
    proxy.set_refusing(false);
    // Reconnecting waits for each agent's backoff (up to 30 s after a long
    // outage); the replay itself starts with the first new ack.
    eventually(Duration::from_secs(60), "a reconnect", || async {
        let acked: u64 = running.stats().iter().map(|(_, s)| s.acked_batches).sum();
        (acked > acked_before).then_some(())
    })
    .await;
    let reconnected = back.elapsed();
    eventually(Duration::from_secs(180), "the backlog replayed", || {
        all(running.stats(), |s| s.pending <= 2)
    })
    .await;
    let replay = back.elapsed() - reconnected;
    // Batches are collected every 250 ms.
    let covered = Duration::from_millis(250 * (backlog / HOSTS) as u64);
    eprintln!(
        "first reconnect after {reconnected:?}; replayed {backlog} batches ({covered:?} of data per host) in {replay:?} after it: {:.0}x real time",
        covered.as_secs_f64() / replay.as_secs_f64().max(1e-3)
    );
    assert!(
        backlog >= HOSTS * 200,
        "a minute of batches piled up: {backlog}"
    );
    token.cancel();
    let after = running.join().await;
    drop(proxy);
    hub.stop().await;

    let (ledger, store) = stored(dir.path()).await;
    for (id, s) in after {
        let l = ledger
            .iter()
            .find(|l| l.agent_id == id)
            .expect("ledger entry");
        assert_eq!(s.dropped_batches, 0, "{id}: {s:?}");
        assert_eq!(s.pending, 0, "{id}: drained at shutdown: {s:?}");
        assert_eq!(l.last_seq, s.last_seq, "{id}: {l:?}");
        assert_eq!(l.batches, s.last_seq, "{id}: every batch once: {l:?}");
        assert_eq!(
            store.count_rows(&id).await.expect("count"),
            s.produced_rows,
            "{id}: rows in history equal rows produced"
        );
    }
}
