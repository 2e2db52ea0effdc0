//! Every batch the agent produced is stored exactly once, also when the link
//! to the hub is cut mid-stream (acks lost, batches resent).

use std::time::Duration;

use hub::store::HistoryStore;
use tokio_util::sync::CancellationToken;

use crate::support::{eventually, Proxy, TestHub};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_batches_stored_exactly_once_across_reconnects() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = TestHub::start(dir.path()).await;
    let proxy = Proxy::start(hub.grpc).await;
    let token = CancellationToken::new();
    let config = agent::Config {
        hub_url: format!("http://{}", proxy.addr),
        interval: Duration::from_millis(100),
        collect_local: false,
        simulate: 3,
        drain_timeout: Duration::from_secs(60),
        ..Default::default()
    };
    let agent = agent::Agent::start(config, token.clone()).expect("agent starts");
    let acked_at_least = |n: u64| {
        let stats = agent.stats();
        async move { stats.iter().all(|(_, s)| s.acked_seq >= n).then_some(()) }
    };
    eventually(Duration::from_secs(20), "first acks", || acked_at_least(5)).await;

    // Two outages: cut live streams and refuse new ones for a while.
    for _ in 0..2 {
        proxy.set_refusing(true);
        proxy.cut();
        tokio::time::sleep(Duration::from_millis(700)).await;
        proxy.set_refusing(false);
        let target = agent
            .stats()
            .iter()
            .map(|(_, s)| s.last_seq)
            .max()
            .unwrap_or(0);
        eventually(Duration::from_secs(30), "catch-up after the outage", || {
            acked_at_least(target)
        })
        .await;
    }

    token.cancel();
    let stats = agent.join().await;
    hub.stop().await;
    drop(proxy);

    // Count straight from the history file: the truth, not the hub's counters.
    let store = hub::store::SqliteStore::open(&dir.path().join("hub.db"))
        .await
        .expect("reopen history");
    let ledger = store.ledger().await.expect("ledger");
    assert_eq!(stats.len(), 3);
    for (id, s) in stats {
        let l = ledger
            .iter()
            .find(|l| l.agent_id == id)
            .expect("ledger entry");
        let rows = store.count_rows(&id).await.expect("count");
        assert!(s.produced_batches >= 5, "{id}: {s:?}");
        assert_eq!(s.pending, 0, "{id}: shutdown drained the queue: {s:?}");
        assert_eq!(s.dropped_batches + s.rejected_batches, 0, "{id}: {s:?}");
        assert_eq!(
            l.last_seq, s.last_seq,
            "{id}: highest seq stored is the highest produced"
        );
        assert_eq!(
            l.batches, s.produced_batches,
            "{id}: every batch stored once"
        );
        assert_eq!(
            rows, s.produced_rows,
            "{id}: rows in history equal rows produced"
        );
    }
}
