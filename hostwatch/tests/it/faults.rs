//! Crash tests: `kill -9` of the hub while 50 simulated agents stream. Every
//! batch an agent produced ends up in history exactly once — counted in the
//! history file against the agents' own counts.

use std::time::Duration;

use hub::store::HistoryStore;
use tokio_util::sync::CancellationToken;

use crate::hub_process::HubProcess;
use crate::support::eventually;

const AGENTS: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_kill9_loses_nothing_acked_and_stores_nothing_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut hub = HubProcess::start(dir.path(), Vec::new()).await;
    let token = CancellationToken::new();
    let config = agent::Config {
        hub_url: format!("http://{}", hub.grpc),
        interval: Duration::from_millis(250),
        collect_local: false,
        simulate: AGENTS,
        sites: 5,
        ..Default::default()
    };
    let agent = agent::Agent::start(config, token.clone()).expect("agent starts");
    let all_acked = |stats: Vec<(String, agent::transport::queue::QueueStats)>, at_least: u64| async move {
        stats
            .iter()
            .all(|(_, s)| s.acked_seq >= at_least)
            .then_some(())
    };
    eventually(
        Duration::from_secs(60),
        "first acks from every agent",
        || all_acked(agent.stats(), 2),
    )
    .await;

    for round in 0..3 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        hub.kill9();
        tokio::time::sleep(Duration::from_millis(300)).await;
        hub.spawn().await;
        let target = agent
            .stats()
            .iter()
            .map(|(_, s)| s.last_seq)
            .min()
            .unwrap_or(0);
        eventually(
            Duration::from_secs(90),
            &format!("catch-up after kill {round}"),
            || all_acked(agent.stats(), target),
        )
        .await;
    }

    token.cancel();
    let stats = agent.join().await;
    hub.stop().await;

    let store = hub::store::SqliteStore::open(hub.db())
        .await
        .expect("reopen history");
    let ledger = store.ledger().await.expect("ledger");
    assert_eq!(stats.len(), AGENTS);
    for (id, s) in stats {
        assert_eq!(
            s.pending, 0,
            "{id}: everything acked before stopping: {s:?}"
        );
        assert_eq!(s.dropped_batches + s.rejected_batches, 0, "{id}: {s:?}");
        let l = ledger
            .iter()
            .find(|l| l.agent_id == id)
            .expect("ledger entry");
        assert_eq!(l.last_seq, s.last_seq, "{id}");
        assert_eq!(
            l.batches, s.produced_batches,
            "{id}: each batch stored once"
        );
        assert_eq!(
            store.count_rows(&id).await.expect("count"),
            s.produced_rows,
            "{id}: no gap, no duplicate"
        );
    }
}
