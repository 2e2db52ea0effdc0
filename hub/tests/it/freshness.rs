//! Freshness with a real hub: an agent that stops is reported down after
//! `freshness.missed_intervals`, the event survives a hub restart without a
//! second one being opened, and it closes when the agent comes back. The
//! cost and correlation pages answer for the same host.

use std::time::Duration;

use crate::support::{def, row, RawAgent, TestHub};

const HOST: &str = "quiet-1";
const INTERVAL: Duration = Duration::from_millis(200);

fn configure(db: std::path::PathBuf) -> impl FnOnce(&mut hub::Config) {
    move |c| {
        c.database_path = db;
        c.agent_interval = INTERVAL;
        c.freshness.check_every = Duration::from_millis(50);
        c.correlation.every = Duration::from_millis(500);
        c.correlation.sample_every = Duration::from_millis(100);
        c.correlation.window = Duration::from_secs(60);
    }
}

/// Sends batches `seqs` one interval apart on a new stream.
async fn report(hub: &TestHub, seqs: std::ops::RangeInclusive<u64>) {
    let (mut a, _) = RawAgent::connect(hub, HOST).await;
    let first = *seqs.start();
    for seq in seqs {
        a.send(proto::Batch {
            seq,
            new_series: if seq == first {
                vec![def(1, "system.cpu.utilization")]
            } else {
                Vec::new()
            },
            rows: vec![row(1, 0.25)],
            top_processes: Vec::new(),
        })
        .await;
        assert_eq!(a.reply().await.expect("ack"), seq);
        tokio::time::sleep(INTERVAL).await;
    }
    // Dropping the stream is the agent stopping.
}

async fn host_down_events(hub: &TestHub) -> Vec<proto::AnomalyEvent> {
    let mut q = hub.query().await;
    let all = q
        .events(proto::EventsRequest {
            host: HOST.into(),
            limit: 0,
        })
        .await
        .expect("events")
        .into_inner()
        .events;
    all.into_iter().filter(|e| e.name == "host.down").collect()
}

/// Polls until `done` holds for the host's host-down events.
async fn wait_for(
    hub: &TestHub,
    what: &str,
    done: impl Fn(&[proto::AnomalyEvent]) -> bool,
) -> Vec<proto::AnomalyEvent> {
    for _ in 0..200 {
        let evs = host_down_events(hub).await;
        if done(&evs) {
            return evs;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: {:?}", host_down_events(hub).await);
}

fn body(response: &str) -> serde_json::Value {
    let (_, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    serde_json::from_str(body).expect("JSON")
}

#[tokio::test]
async fn a_silent_agent_is_down_once_across_a_restart_and_back_when_it_reports() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("hub.db");
    let hub = TestHub::start_with(configure(db.clone())).await;
    report(&hub, 1..=5).await;
    let stopped = common::now_ms();

    let open = wait_for(&hub, "a host.down event opens", |e| !e.is_empty()).await;
    let ev = &open[0];
    let after_ms = ev.last_ms - ev.start_ms;
    assert!(after_ms > 3 * 200, "three missed intervals first: {ev:?}");
    assert!(ev.last_ms - stopped < 5_000, "and not much later: {ev:?}");
    assert_eq!((ev.end_ms, ev.severity.as_str()), (0, "high"));
    assert!(ev.id & (1 << 52) != 0, "host-down id space: {}", ev.id);
    assert!(
        ev.evidence[0].contains("(3 intervals of 0."),
        "{:?}",
        ev.evidence
    );
    assert!(ev.actual >= 0.6, "seconds silent: {}", ev.actual);
    assert_eq!(hub.metric("hostwatch_hub_hosts_down ").await, 1.0);
    let age = hub
        .metric(&format!(
            "hostwatch_hub_host_freshness_seconds{{host=\"{HOST}\",site=\"test\"}} "
        ))
        .await;
    assert!(age >= 0.6, "freshness gauge: {age}");
    assert!(
        hub.metric("hostwatch_hub_site_freshness_seconds{site=\"test\"} ")
            .await
            >= 0.6
    );

    // The cost page knows the host, without facts to price it by.
    let costs = body(&hub.get("/api/v1/costs").await);
    assert_eq!(costs["hosts"][0]["host"], HOST);
    assert!(costs["hosts"][0]["cost_per_hour"].is_null(), "{costs}");
    assert_eq!(costs["hosts_without_facts"], 1);
    // The correlation ran on the sampled load: one host, too few for a statistic.
    let corr = body(&hub.get("/api/v1/correlations").await);
    assert_eq!(
        (corr["every_s"].as_f64(), corr["window_s"].as_f64()),
        (Some(0.5), Some(60.0))
    );
    assert_eq!(corr["report"]["fleet"]["n"], 1, "{corr}");
    assert!(corr["report"]["fleet"]["pearson"].is_null(), "{corr}");
    hub.stop().await;

    // A restart while the host is still silent: the open event is taken
    // over, not opened again (its last_ms would move) and not duplicated.
    let hub = TestHub::start_with(configure(db.clone())).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let still = host_down_events(&hub).await;
    assert_eq!(still, open, "the same single open event");
    assert_eq!(hub.metric("hostwatch_hub_hosts_down ").await, 1.0);

    report(&hub, 6..=6).await;
    let closed = wait_for(&hub, "the event closes", |e| e.iter().all(|e| e.end_ms > 0)).await;
    assert_eq!(closed.len(), 1, "{closed:?}");
    let ev = &closed[0];
    assert_eq!((ev.id, ev.start_ms), (open[0].id, open[0].start_ms));
    assert!(ev.end_ms > ev.start_ms + 1500, "{ev:?}");
    assert!(ev.actual >= 1.5, "the whole silence: {}", ev.actual);
    assert_eq!(hub.metric("hostwatch_hub_hosts_down ").await, 0.0);
    hub.stop().await;
}
