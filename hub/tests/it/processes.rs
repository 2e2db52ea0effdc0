//! Top-process lists: the newest per host is kept (not history) and answered
//! by `Query.Processes`; a host that never sent one gets an empty answer.

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
