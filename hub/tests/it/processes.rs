//! What the hub tells or keeps per agent beside its rows: top-process lists
//! (the newest per host, not history, answered by `Query.Processes`) and the
//! collection interval it asks each agent for in `Welcome`.

use crate::support::{def, row, RawAgent, TestHub};

fn process(pid: u32, name: &str, cpu: f64) -> proto::ProcessInfo {
    proto::ProcessInfo {
        pid,
        name: name.into(),
        user: "root".into(),
        cpu_utilization: cpu,
        memory_bytes: 1 << 20,
    }
}

#[tokio::test]
async fn the_newest_list_is_kept_and_an_empty_one_is_no_news() {
    let hub = TestHub::start(Default::default()).await;
    let (mut a, _) = RawAgent::connect(&hub, "procs").await;
    a.send(proto::Batch {
        seq: 1,
        new_series: vec![def(1, "system.cpu.utilization")],
        rows: vec![row(1, 0.5)],
        top_processes: vec![process(1, "init", 0.0), process(77, "postgres", 1.5)],
    })
    .await;
    assert_eq!(a.reply().await.expect("ack"), 1);
    a.send(proto::Batch {
        seq: 2,
        new_series: vec![],
        rows: vec![row(1, 0.6)],
        top_processes: vec![],
    })
    .await;
    assert_eq!(a.reply().await.expect("ack"), 2);

    let mut q = hub.query().await;
    let got = q
        .processes(proto::ProcessesRequest {
            host: "procs".into(),
        })
        .await
        .expect("processes")
        .into_inner();
    assert!(got.timestamp_ms > 0);
    let names: Vec<&str> = got.processes.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["init", "postgres"], "an empty list is no news");

    let none = q
        .processes(proto::ProcessesRequest {
            host: "never-heard-of".into(),
        })
        .await
        .expect("processes")
        .into_inner();
    assert_eq!(none, proto::ProcessesResponse::default());
}

#[tokio::test]
async fn welcome_asks_each_agent_for_its_configured_interval() {
    let hub = TestHub::start_with(|c| {
        c.agent_interval = std::time::Duration::from_secs(2);
        c.agent_intervals = [("db-*", "10s"), ("db-7", "1m")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
    })
    .await;
    for (agent, want_ms) in [("db-1", 10_000), ("db-7", 60_000), ("web-1", 2_000)] {
        let (_, welcome) = RawAgent::connect_welcome(&hub, agent).await;
        assert_eq!(welcome.interval_ms, want_ms, "{agent}");
    }
}
