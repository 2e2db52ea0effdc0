//! The hourly cost estimate through the real hub: agents say what they are
//! (CPUs and memory in Hello's HostFacts) and send their utilization, and
//! `Query.Costs` prices them with the configured model.

use std::time::Duration;

use proto::ingest_client::IngestClient;
use proto::{agent_message, AgentMessage};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::support::{def, row, RawAgent, TestHub};

const GIB: u64 = 1 << 30;

/// An agent stream whose Hello carries `cpus` and `gib` of memory.
async fn connect(hub: &TestHub, host: &str, cpus: u32, gib: u64) -> RawAgent {
    let mut client = IngestClient::connect(format!("http://{}", hub.grpc))
        .await
        .expect("connect");
    let (tx, rx) = mpsc::channel(16);
    tx.send(AgentMessage {
        msg: Some(agent_message::Msg::Hello(proto::Hello {
            agent_id: host.into(),
            host: Some(proto::HostFacts {
                hostname: host.into(),
                cpu_count: cpus,
                memory_bytes: gib * GIB,
                ..Default::default()
            }),
            site: "eu".into(),
            credentials: String::new(),
            last_seq: 0,
        })),
    })
    .await
    .expect("send hello");
    let mut rx = client
        .stream(ReceiverStream::new(rx))
        .await
        .expect("open stream")
        .into_inner();
    rx.message().await.expect("welcome").expect("a message");
    RawAgent { tx, rx }
}

fn round(v: Option<f64>) -> Option<f64> {
    v.map(|v| (v * 1e9).round() / 1e9)
}

#[tokio::test]
async fn hosts_are_priced_from_their_facts_and_utilization() {
    let hub = TestHub::start_with(|c| {
        c.cost = common::config::parse(
            r#"
            currency = "EUR"
            vcpu_hour = 0.05
            gib_hour = 0.01
            [[classes]]
            name = "gpu"
            host = "gpu-*"
            vcpu_hour = 0.5
            gib_hour = 0.02
            "#,
            "cost.toml".as_ref(),
        )
        .expect("price model");
    })
    .await;
    // web-1 uses a quarter of its CPUs and half its memory; gpu-1 has sent
    // nothing yet, so its idle cost is unknown.
    let mut web = connect(&hub, "web-1", 4, 16).await;
    let _gpu = connect(&hub, "gpu-1", 8, 32).await;
    web.send(proto::Batch {
        seq: 1,
        new_series: vec![
            def(1, "system.cpu.utilization"),
            def(2, "system.memory.utilization"),
        ],
        rows: vec![row(1, 0.25), row(2, 0.5)],
        top_processes: vec![],
    })
    .await;
    assert_eq!(web.reply().await.expect("ack"), 1);

    let mut q = hub.query().await;
    let ask = |host: &str| proto::CostsRequest { host: host.into() };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let got = loop {
        let got = q.costs(ask("")).await.expect("costs").into_inner();
        if got.hosts.iter().any(|h| h.idle_cost_per_hour.is_some()) {
            break got;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "utilization never reached the estimate: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(got.computed_ms > 0);
    let rows: Vec<_> = got
        .hosts
        .iter()
        .map(|h| {
            (
                h.host.as_str(),
                h.site.as_str(),
                h.class.as_str(),
                h.vcpus,
                h.memory_gib,
                h.currency.as_str(),
                round(h.cost_per_hour),
                round(h.idle_cost_per_hour),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            // 8 × 0.5 + 32 × 0.02.
            ("gpu-1", "eu", "gpu", 8, 32.0, "EUR", Some(4.64), None),
            // 4 × 0.05 + 16 × 0.01 = 0.36; idle 0.2 × 0.75 + 0.16 × 0.5.
            (
                "web-1",
                "eu",
                "default",
                4,
                16.0,
                "EUR",
                Some(0.36),
                Some(0.23)
            ),
        ]
    );
    let web = &got.hosts[1];
    assert_eq!(round(web.cpu_cost_per_hour), Some(0.2));
    assert_eq!(round(web.memory_cost_per_hour), Some(0.16));
    assert_eq!(web.cpu_utilization, Some(0.25));
    assert_eq!(web.memory_utilization, Some(0.5));

    // One host alone; an unknown one is NOT_FOUND, not an empty answer.
    let one = q.costs(ask("gpu-1")).await.expect("costs").into_inner();
    assert_eq!(one.hosts.len(), 1);
    let err = q.costs(ask("nowhere")).await.expect_err("unknown host");
    assert_eq!(err.code(), tonic::Code::NotFound, "{err}");
    hub.stop().await;
}
