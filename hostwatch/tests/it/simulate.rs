//! Backfill into a real hub: every simulated batch of two hours of history
//! lands in the history exactly once, paced by acks (a small queue drops
//! nothing), and the stored rows are the ones the simulator produces for the
//! same seed, scenario and start.

use std::collections::BTreeMap;
use std::time::Duration;

use agent::simulate::{fleet_with, FleetConfig, Scenario};
use common::model::RangeQuery;
use hub::store::HistoryStore;
use tokio_util::sync::CancellationToken;

use crate::support::{eventually, TestHub};

const HOSTS: usize = 3;
const SEED: u64 = 11;
const MINUTE: i64 = 60_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_lands_in_history_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = TestHub::start(dir.path()).await;
    // A pinned start a little in the past: live batches come after it.
    let start = common::now_ms() / MINUTE * MINUTE - 5 * MINUTE;
    let plan =
        agent::backfill::Plan::new(start, Duration::from_secs(7200), Duration::from_secs(60))
            .expect("a plan");
    assert_eq!(plan.steps, 120);

    // What the simulator produces for these steps, computed here on its own.
    let mut expected: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut fleet = fleet_with(&FleetConfig {
        hosts: HOSTS,
        sites: agent::config::DEFAULT_SITES,
        seed: SEED,
        scenario: Scenario::Chaos,
    });
    for step in 0..plan.steps {
        for host in &mut fleet {
            let rows = host.collect(plan.at(step)).len() as u64;
            let e = expected.entry(host.host().to_owned()).or_default();
            if rows > 0 {
                e.0 += 1;
                e.1 += rows;
            }
        }
    }

    let token = CancellationToken::new();
    let config = agent::Config {
        hub_url: format!("http://{}", hub.grpc),
        interval: Duration::from_secs(60),
        collect_local: false,
        simulate: HOSTS,
        seed: SEED,
        scenario: "chaos".into(),
        backfill: Duration::from_secs(7200),
        start: start.to_string(),
        ground_truth: Some(dir.path().join("truth.jsonl")),
        // Far fewer than the 120 steps: without backpressure the queue would
        // drop most of them.
        queue_batches: 20,
        ..Default::default()
    };
    let agent = agent::Agent::start(config, token.clone()).expect("agent starts");
    // Every backfill batch produced and acked. Not "a live batch too": under
    // chaos a host can be down right now and stay silent past any timeout.
    let done = |stats: Vec<(String, agent::transport::queue::QueueStats)>| {
        stats.iter().all(|(id, s)| {
            s.produced_batches >= expected[id].0 && s.acked_seq == s.last_seq && s.pending == 0
        })
    };
    eventually(Duration::from_secs(120), "backfill acked", || {
        let ready = done(agent.stats());
        async move { ready.then_some(()) }
    })
    .await;
    token.cancel();
    let stats = agent.join().await;
    hub.stop().await;

    let store = hub::store::SqliteStore::open(&dir.path().join("hub.db"))
        .await
        .expect("reopen history");
    for (id, s) in &stats {
        assert_eq!(s.dropped_batches + s.rejected_batches, 0, "{id}: {s:?}");
        let stored = store.count_rows(id).await.expect("count");
        assert_eq!(
            stored, s.produced_rows,
            "{id}: every row produced is stored once"
        );
        let backfilled = store
            .range(&RangeQuery {
                host: id.clone(),
                from_ms: plan.first_ms,
                to_ms: plan.last_ms(),
                ..Default::default()
            })
            .await
            .expect("range");
        let rows: u64 = backfilled.iter().map(|s| s.points.len() as u64).sum();
        let batches = backfilled
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.t))
            .collect::<std::collections::BTreeSet<_>>()
            .len() as u64;
        assert_eq!(
            (batches, rows),
            expected[id],
            "{id}: history is what the simulator makes"
        );
    }
    let truth = std::fs::read_to_string(dir.path().join("truth.jsonl")).expect("ground truth");
    assert!(
        truth.lines().count() > 0,
        "two hours of chaos inject something"
    );
}
