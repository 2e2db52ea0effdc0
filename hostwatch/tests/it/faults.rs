//! Crash tests: `kill -9` of the hub and of Redis, restarts of PostgreSQL,
//! while 50 simulated agents stream. Every batch an agent produced ends up in
//! history exactly once — counted in history (and in `samples_v` on
//! PostgreSQL) against the agents' own counts.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use agent::transport::queue::QueueStats;
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
    RestartPostgres,
}

/// The hub process and the real servers behind it.
struct Rig {
    hub: HubProcess,
    redis: Option<testkit::Redis>,
    pg: Option<testkit::Postgres>,
}

impl Rig {
    /// Starts the hub on SQLite, or on whichever real servers are given.
    async fn start(
        dir: &Path,
        redis: Option<testkit::Redis>,
        pg: Option<testkit::Postgres>,
    ) -> Self {
        let mut env = Vec::new();
        if let Some(r) = &redis {
            env.push(("REDIS_URL".to_owned(), r.url().to_owned()));
        }
        if let Some(p) = &pg {
            env.push(("DATABASE_URL".to_owned(), p.url().to_owned()));
        }
        let hub = HubProcess::start(dir, env).await;
        Self { hub, redis, pg }
    }

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
            Fault::RestartPostgres => {
                self.pg
                    .as_mut()
                    .expect("a PostgreSQL to restart")
                    .restart()
                    .await;
            }
        }
    }

    /// The hub's history, opened the way the hub opens it.
    async fn history(&self) -> Arc<dyn HistoryStore> {
        let config = hub::Config {
            database_path: self.hub.db().to_owned(),
            database_url: self
                .pg
                .as_ref()
                .map(|p| p.url().to_owned())
                .unwrap_or_default(),
            ..Default::default()
        };
        hub::store::open(&config).await.expect("open history")
    }

    /// Rows of `host` in the `samples_v` view people query (PostgreSQL only).
    async fn rows_in_view(&self, host: &str) -> Option<u64> {
        let pg = self.pg.as_ref()?;
        let pool = sqlx::PgPool::connect(pg.url()).await.expect("connect");
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM hostwatch.samples_v WHERE host = $1")
            .bind(host)
            .fetch_one(&pool)
            .await
            .expect("count samples_v");
        pool.close().await;
        Some(n as u64)
    }
}

async fn all_acked(stats: Vec<(String, QueueStats)>, at_least: u64) -> Option<()> {
    stats
        .iter()
        .all(|(_, s)| s.acked_seq >= at_least)
        .then_some(())
}

/// Streams `agents` simulated hosts into the rig's hub, injects `faults` one by
/// one while they stream, then checks history against the agents' own counts.
async fn stream_through_faults(rig: &mut Rig, agents: usize, faults: &[Fault]) {
    let token = CancellationToken::new();
    let config = agent::Config {
        hub_url: format!("http://{}", rig.hub.grpc),
        // A simulated host sends ~300 rows a batch (every family of a real
        // host); at 1 s, 50 of them are 15k rows/s, which a debug hub on a
        // small CI machine keeps up with.
        interval: Duration::from_secs(1),
        collect_local: false,
        simulate: agents,
        sites: 3,
        // The checks below want everything acked at stop: give a loaded debug
        // hub time to answer (production keeps 5 s and the spool).
        drain_timeout: Duration::from_secs(60),
        ..Default::default()
    };
    let agent = agent::Agent::start(config, token.clone()).expect("agent starts");
    eventually(Duration::from_secs(60), "first acks", || {
        all_acked(agent.stats(), 2)
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
            || all_acked(agent.stats(), target),
        )
        .await;
    }
    // Stop while every agent is connected and caught up: an agent still in its
    // reconnect backoff stops at once and keeps (spools) what it holds, which
    // is right for an agent but would leave the counts below incomplete.
    eventually(Duration::from_secs(90), "every agent caught up", || async {
        agent
            .stats()
            .iter()
            .all(|(_, s)| s.pending == 0)
            .then_some(())
    })
    .await;
    token.cancel();
    let stats = agent.join().await;
    // With Redis, acked means "in the stream": give history time to catch up
    // (the assertions below say what is missing if it never does).
    let store = rig.history().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let ledger = store.ledger().await.expect("ledger");
        let stored: u64 = ledger.iter().map(|l| l.batches).sum();
        let produced: u64 = stats.iter().map(|(_, s)| s.produced_batches).sum();
        if stored >= produced || tokio::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    rig.hub.stop().await;

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
            "{id}: each batch stored once: {l:?} {s:?}"
        );
        let rows = store.count_rows(&id).await.expect("count");
        assert_eq!(rows, s.produced_rows, "{id}: no gap, no duplicate");
        if let Some(n) = rig.rows_in_view(&id).await {
            assert_eq!(n, s.produced_rows, "{id}: samples_v shows every row once");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_kill9_loses_nothing_acked_and_stores_nothing_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rig = Rig::start(dir.path(), None, None).await;
    stream_through_faults(&mut rig, AGENTS, &[Fault::KillHub; 3]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_kill9_of_redis_or_hub_loses_nothing() {
    let redis = testkit::Redis::throwaway().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rig = Rig::start(dir.path(), Some(redis), None).await;
    let faults = [Fault::KillRedis, Fault::KillHub, Fault::KillRedis];
    stream_through_faults(&mut rig, AGENTS, &faults).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_postgres_restarts_and_hub_kill9_lose_nothing() {
    let pg = testkit::Postgres::throwaway().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rig = Rig::start(dir.path(), None, Some(pg)).await;
    let faults = [
        Fault::RestartPostgres,
        Fault::KillHub,
        Fault::RestartPostgres,
    ];
    stream_through_faults(&mut rig, AGENTS, &faults).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_and_postgres_every_fault_loses_nothing() {
    let redis = testkit::Redis::throwaway().await;
    let pg = testkit::Postgres::throwaway().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rig = Rig::start(dir.path(), Some(redis), Some(pg)).await;
    let faults = [
        Fault::RestartPostgres,
        Fault::KillRedis,
        Fault::KillHub,
        Fault::RestartPostgres,
    ];
    stream_through_faults(&mut rig, AGENTS, &faults).await;
}
