//! Hub → edge: the link cut while hubs keep storing, and a hub `kill -9`
//! while the edge is unreachable. Afterwards the edge has applied exactly the
//! rows that are in the hub's history: none missing, none twice (the edge
//! counts only rows of frames it applied, `hostwatch_edge_rows_total`).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::hub_process::HubProcess;
use crate::support::{eventually, metric, Proxy};

const HOSTS: usize = 5;

struct TestEdge {
    addr: SocketAddr,
    token: CancellationToken,
    task: tokio::task::JoinHandle<edge::Result<()>>,
}

impl TestEdge {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind edge");
        let addr = listener.local_addr().expect("addr");
        let token = CancellationToken::new();
        let config = edge::Config {
            demo: true,
            ..Default::default()
        };
        let task = tokio::spawn(edge::run(config, listener, token.clone()));
        Self { addr, token, task }
    }

    async fn stop(self) {
        self.token.cancel();
        let _ = self.task.await;
    }

    async fn metric(&self, name: &str) -> u64 {
        metric(self.addr, name).await as u64
    }
}

/// Rows in the hub's history, all agents, from its ledger.
async fn hub_rows(hub: &HubProcess) -> u64 {
    let mut q = proto::query_client::QueryClient::connect(format!("http://{}", hub.grpc))
        .await
        .expect("query client");
    let ledger = q
        .ledger(proto::LedgerRequest::default())
        .await
        .expect("ledger")
        .into_inner();
    ledger.agents.iter().map(|a| a.rows).sum()
}

async fn hub_metric(hub: &HubProcess, name: &str) -> f64 {
    metric(hub.http, name).await
}

fn agents(hub: SocketAddr) -> agent::Config {
    agent::Config {
        hub_url: format!("http://{hub}"),
        interval: Duration::from_millis(250),
        collect_local: false,
        simulate: HOSTS,
        drain_timeout: Duration::from_secs(60),
        ..Default::default()
    }
}

/// Everything the hub stored reaches the edge once: waits until the edge has
/// applied as many rows as history holds (history may still be committing
/// what the agents sent last, so both sides are read each time), then checks
/// that a while later neither has moved.
async fn edge_matches_history(edge: &TestEdge, hub: &HubProcess) {
    let settled = eventually(Duration::from_secs(180), "the edge catching up", || async {
        let want = hub_rows(hub).await;
        let have = edge.metric("hostwatch_edge_rows_total").await;
        (want > 0 && have == want).then_some(want)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(hub_rows(hub).await, settled, "history moved after settling");
    assert_eq!(
        edge.metric("hostwatch_edge_rows_total").await,
        settled,
        "the edge applied a row twice"
    );
}

/// The link to the edge is cut for a minute while agents stream; once it is
/// back, the backlog is sent in order and the edge ends with exactly the rows
/// history has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minute_without_the_edge_is_backfilled_completely() {
    let dir = tempfile::tempdir().expect("tempdir");
    let edge = TestEdge::start().await;
    let link = Proxy::start(edge.addr).await;
    let hub = HubProcess::start(
        dir.path(),
        vec![(
            "HOSTWATCH_HUB_EDGE".into(),
            format!("ws://{}/uplink", link.addr),
        )],
    )
    .await;
    let token = CancellationToken::new();
    let running = agent::Agent::start(agents(hub.grpc), token.clone()).expect("agents");
    eventually(Duration::from_secs(30), "rows at the edge", || async {
        (edge.metric("hostwatch_edge_rows_total").await > 0).then_some(())
    })
    .await;

    link.set_refusing(true);
    link.cut();
    tokio::time::sleep(Duration::from_secs(60)).await;
    let waiting = hub_metric(&hub, "hostwatch_hub_uplink_outbox_frames").await;
    assert!(
        waiting > 50.0,
        "a minute of frames waits in the outbox: {waiting}"
    );
    link.set_refusing(false);

    // Agents stop first so that history stops moving; then compare.
    token.cancel();
    running.join().await;
    edge_matches_history(&edge, &hub).await;
    assert_eq!(
        hub_metric(&hub, "hostwatch_hub_uplink_outbox_dropped_total").await,
        0.0
    );
    drop(link);
    drop(hub);
    edge.stop().await;
}

/// With Redis the outbox is a Redis stream: frames waiting for an unreachable
/// edge survive a `kill -9` of the hub and are delivered by the next hub.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_the_outbox_survives_a_hub_kill9() {
    let redis = testkit::Redis::throwaway().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let edge = TestEdge::start().await;
    let link = Proxy::start(edge.addr).await;
    let mut hub = HubProcess::start(
        dir.path(),
        vec![
            ("REDIS_URL".into(), redis.url().to_owned()),
            (
                "HOSTWATCH_HUB_EDGE".into(),
                format!("ws://{}/uplink", link.addr),
            ),
        ],
    )
    .await;
    let token = CancellationToken::new();
    let running = agent::Agent::start(agents(hub.grpc), token.clone()).expect("agents");
    eventually(Duration::from_secs(30), "rows at the edge", || async {
        (edge.metric("hostwatch_edge_rows_total").await > 0).then_some(())
    })
    .await;

    link.set_refusing(true);
    link.cut();
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Stop producing and let history catch up with the Redis stream, so every
    // stored frame is in the outbox before the crash.
    token.cancel();
    running.join().await;
    eventually(Duration::from_secs(30), "history caught up", || async {
        let backlog = hub_metric(&hub, "hostwatch_hub_buffer_backlog").await;
        let waiting = hub_metric(&hub, "hostwatch_hub_uplink_outbox_frames").await;
        (backlog == 0.0 && waiting > 0.0).then_some(())
    })
    .await;
    let before = edge.metric("hostwatch_edge_rows_total").await;

    hub.kill9();
    hub.spawn().await;
    link.set_refusing(false);
    edge_matches_history(&edge, &hub).await;
    assert!(edge.metric("hostwatch_edge_rows_total").await > before);
    drop(link);
    drop(hub);
    edge.stop().await;
}
