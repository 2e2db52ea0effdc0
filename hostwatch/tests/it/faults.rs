//! Crash tests: `kill -9` of the hub, and of Redis behind it, while simulated
//! agents stream. Every batch an agent produced ends up in history exactly
//! once — counted in the history file against the agents' own counts.

use std::time::Duration;

use hub::store::HistoryStore;
use tokio_util::sync::CancellationToken;

use crate::hub_process::HubProcess;
use crate::support::eventually;

const AGENTS: usize = 50;

/// What can go wrong while agents stream.
#[derive(Debug, Clone, Copy)]
enum Fault {
    KillHub,
    KillRedis,
}

/// The hub process and the real servers behind it.
struct Rig {
    hub: HubProcess,
    redis: Option<testkit::Redis>,
}

impl Rig {
    async fn inject(&mut self, fault: Fault) {
        match fault {
            Fault::KillHub => {
                self.hub.kill9();
                tokio::time::sleep(Duration::from_millis(300)).await;
                self.hub.spawn().await;
            }
            Fault::KillRedis => {
                let redis = self.redis.as_mut().expect("a Redis to kill");
                redis.kill9().await;
                tokio::time::sleep(Duration::from_millis(700)).await;
                redis.start_again().await;
            }
        }
    }
}

/// Streams `agents` simulated hosts into the rig's hub, injects `faults` one by
/// one while they stream, then checks history against the agents' own counts.
async fn stream_through_faults(rig: &mut Rig, agents: usize, faults: &[Fault]) {
    let token = CancellationToken::new();
    let config = agent::Config {
        hub_url: format!("http://{}", rig.hub.grpc),
        interval: Duration::from_millis(250),
        collect_local: false,
        simulate: agents,
        sites: 3,
        ..Default::default()
    };
    let agent = agent::Agent::start(config, token.clone()).expect("agent starts");
    let acked = |stats: Vec<(String, agent::transport::queue::QueueStats)>, n: u64| async move {
        stats.iter().all(|(_, s)| s.acked_seq >= n).then_some(())
    };
    eventually(Duration::from_secs(60), "first acks", || {
        acked(agent.stats(), 2)
    })
    .await;
    for fault in faults {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        rig.inject(*fault).await;
        let target = agent
            .stats()
            .iter()
            .map(|(_, s)| s.last_seq)
            .min()
            .unwrap_or(0);
        eventually(
            Duration::from_secs(90),
            &format!("catch-up after {fault:?}"),
            || acked(agent.stats(), target),
        )
        .await;
    }
    token.cancel();
    let stats = agent.join().await;
    // With Redis, acked means "in the stream": wait until history has it all.
    let metrics_url = format!("http://{}/metrics", rig.hub.http);
    eventually(Duration::from_secs(60), "history caught up", || async {
        let m = reqwest::get(&metrics_url).await.ok()?.text().await.ok()?;
        m.lines()
            .any(|l| l == "hostwatch_hub_buffer_backlog 0")
            .then_some(())
    })
    .await;
    rig.hub.stop().await;

    let store = hub::store::SqliteStore::open(rig.hub.db())
        .await
        .expect("reopen history");
    let ledger = store.ledger().await.expect("ledger");
    assert_eq!(stats.len(), agents);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_kill9_loses_nothing_acked_and_stores_nothing_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = HubProcess::start(dir.path(), Vec::new()).await;
    let mut rig = Rig { hub, redis: None };
    stream_through_faults(&mut rig, AGENTS, &[Fault::KillHub; 3]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_kill9_of_redis_or_hub_loses_nothing() {
    let redis = testkit::Redis::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let env = vec![("REDIS_URL".to_owned(), redis.url().to_owned())];
    let hub = HubProcess::start(dir.path(), env).await;
    let mut rig = Rig {
        hub,
        redis: Some(redis),
    };
    let faults = [Fault::KillRedis, Fault::KillHub, Fault::KillRedis];
    stream_through_faults(&mut rig, 20, &faults).await;
}
