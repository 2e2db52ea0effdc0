//! Bad input gets a clear status and a counter; a well-behaved agent next to
//! it is unaffected; a resent batch is stored once.

use crate::support::{def, row, RawAgent, TestHub};

fn small_limits() -> hub::config::Limits {
    hub::config::Limits {
        max_message_bytes: 64 * 1024,
        ..Default::default()
    }
}

async fn stored_points(hub: &TestHub, host: &str) -> usize {
    let mut q = hub.query().await;
    let resp = q
        .range(proto::RangeRequest {
            host: host.into(),
            from_ms: 0,
            to_ms: i64::MAX,
            max_points: 20_000,
            ..Default::default()
        })
        .await
        .expect("range")
        .into_inner();
    resp.series.iter().map(|s| s.points.len()).sum()
}

#[tokio::test]
async fn bad_batches_are_refused_with_status_and_counter_while_good_agent_continues() {
    let hub = TestHub::start(small_limits()).await;
    let (good, stored) = RawAgent::connect(&hub, "good").await;
    assert_eq!(stored, 0);
    let mut good = good;
    good.send(proto::Batch {
        seq: 1,
        new_series: vec![def(1, "system.cpu.utilization")],
        rows: vec![row(1, 0.5)],
        top_processes: Vec::new(),
    })
    .await;
    assert_eq!(good.reply().await.expect("ack"), 1);

    // Undefined series id.
    let (mut a, _) = RawAgent::connect(&hub, "undefined").await;
    a.send(proto::Batch {
        seq: 1,
        new_series: vec![],
        rows: vec![row(9, 1.0)],
        top_processes: Vec::new(),
    })
    .await;
    let st = a.reply().await.expect_err("refused");
    assert_eq!(st.code(), tonic::Code::InvalidArgument);
    assert!(st.message().contains("never defined"), "{}", st.message());

    // NaN value.
    let (mut b, _) = RawAgent::connect(&hub, "nan").await;
    b.send(proto::Batch {
        seq: 1,
        new_series: vec![def(1, "m")],
        rows: vec![row(1, f64::NAN)],
        top_processes: Vec::new(),
    })
    .await;
    let st = b.reply().await.expect_err("refused");
    assert_eq!(st.code(), tonic::Code::InvalidArgument);
    assert!(
        st.message().contains("not a finite number"),
        "{}",
        st.message()
    );

    // A message over the 64 KiB limit.
    let (mut c, _) = RawAgent::connect(&hub, "huge").await;
    let rows: Vec<proto::Row> = (0..10_000).map(|_| row(1, 1.0)).collect();
    c.send(proto::Batch {
        seq: 1,
        new_series: vec![def(1, "m")],
        rows,
        top_processes: Vec::new(),
    })
    .await;
    let st = c.reply().await.expect_err("refused");
    assert_eq!(st.code(), tonic::Code::ResourceExhausted, "{st:?}");
    assert!(st.message().contains("limit"), "{}", st.message());

    // The good agent's stream still works, and nothing of the bad ones was stored.
    good.send(proto::Batch {
        seq: 2,
        new_series: vec![],
        rows: vec![row(1, 0.6)],
        top_processes: Vec::new(),
    })
    .await;
    assert_eq!(good.reply().await.expect("ack"), 2);
    assert_eq!(stored_points(&hub, "good").await, 2);
    assert_eq!(stored_points(&hub, "nan").await, 0);

    assert_eq!(
        hub.metric("hostwatch_hub_rejected_total{reason=\"undefined_series\"}")
            .await,
        1.0
    );
    assert_eq!(
        hub.metric("hostwatch_hub_rejected_total{reason=\"non_finite\"}")
            .await,
        1.0
    );
    assert_eq!(
        hub.metric("hostwatch_hub_rejected_total{reason=\"too_large\"}")
            .await,
        1.0
    );
    assert_eq!(
        hub.metric("hostwatch_hub_batches_total{outcome=\"stored\"}")
            .await,
        2.0
    );
    hub.stop().await;
}

#[tokio::test]
async fn resent_batch_is_acked_but_stored_once_and_welcome_reports_stored_seq() {
    let hub = TestHub::start(Default::default()).await;
    let (mut a, _) = RawAgent::connect(&hub, "resender").await;
    let batch = proto::Batch {
        seq: 1,
        new_series: vec![def(1, "m"), def(2, "n")],
        rows: vec![row(1, 1.0), row(2, 2.0)],
        top_processes: Vec::new(),
    };
    a.send(batch.clone()).await;
    assert_eq!(a.reply().await.expect("ack"), 1);
    drop(a);

    // A new stream (as after a reconnect) learns the stored seq and may resend.
    let (mut b, stored) = RawAgent::connect(&hub, "resender").await;
    assert_eq!(stored, 1);
    b.send(batch).await;
    assert_eq!(b.reply().await.expect("duplicate is acked"), 1);
    assert_eq!(stored_points(&hub, "resender").await, 2);
    assert_eq!(
        hub.metric("hostwatch_hub_batches_total{outcome=\"duplicate\"}")
            .await,
        1.0
    );
    hub.stop().await;
}

#[tokio::test]
async fn health_endpoints_answer() {
    let hub = TestHub::start(Default::default()).await;
    assert!(hub.get("/healthz").await.starts_with("HTTP/1.0 200"));
    assert!(hub.get("/readyz").await.starts_with("HTTP/1.0 200"));
    assert!(hub
        .get("/metrics")
        .await
        .contains("# TYPE hostwatch_hub_ingest_streams gauge"));
    hub.stop().await;
}

#[tokio::test]
async fn ledger_reports_resends_and_batches_that_never_arrived() {
    let hub = TestHub::start(Default::default()).await;
    let (mut a, _) = RawAgent::connect(&hub, "gappy").await;
    a.send(proto::Batch {
        seq: 1,
        new_series: vec![def(1, "m")],
        rows: vec![row(1, 1.0)],
        top_processes: Vec::new(),
    })
    .await;
    assert_eq!(a.reply().await.expect("ack"), 1);
    // Seqs 2 and 3 were dropped by the agent (its queue overflowed, say).
    a.send(proto::Batch {
        seq: 4,
        new_series: vec![],
        rows: vec![row(1, 2.0)],
        top_processes: Vec::new(),
    })
    .await;
    assert_eq!(a.reply().await.expect("ack"), 4);
    a.send(proto::Batch {
        seq: 4,
        new_series: vec![],
        rows: vec![row(1, 2.0)],
        top_processes: Vec::new(),
    })
    .await;
    assert_eq!(a.reply().await.expect("resend acked"), 4);

    let mut q = hub.query().await;
    let ledger = q
        .ledger(proto::LedgerRequest {})
        .await
        .expect("ledger")
        .into_inner();
    let e = ledger
        .agents
        .iter()
        .find(|e| e.agent_id == "gappy")
        .expect("entry");
    assert_eq!(
        (e.last_seq, e.batches, e.rows, e.duplicates, e.missing),
        (4, 2, 2, 1, 2)
    );
    assert!((e.completeness - 0.5).abs() < 1e-9, "{}", e.completeness);
    assert_eq!(
        hub.metric("hostwatch_hub_ledger_missing_batches").await,
        2.0
    );
    hub.stop().await;
}

#[tokio::test]
async fn detection_turns_a_spike_into_one_event_in_the_query_api() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("history.db");
    let db2 = db.clone();
    let hub = TestHub::start_with(move |c| c.database_path = db2).await;
    let (mut a, _) = RawAgent::connect(&hub, "spiky").await;
    // 20 minutes of a steady series at 1 s, one value far outside it.
    let start = common::now_ms() - 1_200_000;
    let rows: Vec<proto::Row> = (0..1200i64)
        .map(|i| proto::Row {
            series_id: 1,
            timestamp_ms: start + i * 1000,
            value: if i == 1000 {
                0.99
            } else {
                0.2 + 0.01 * ((i % 5) as f64)
            },
        })
        .collect();
    a.send(proto::Batch {
        seq: 1,
        new_series: vec![def(1, "system.cpu.utilization")],
        rows,
        top_processes: Vec::new(),
    })
    .await;
    assert_eq!(a.reply().await.expect("ack"), 1);

    let mut q = hub.query().await;
    let mut events = Vec::new();
    for _ in 0..100 {
        events = q
            .events(proto::EventsRequest {
                host: "spiky".into(),
                limit: 10,
            })
            .await
            .expect("events")
            .into_inner()
            .events;
        if events.iter().any(|e| e.end_ms > 0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(
        (e.name.as_str(), e.start_ms, e.actual),
        ("system.cpu.utilization", start + 1_000_000, 0.99)
    );
    assert!(
        e.end_ms > e.start_ms,
        "closed once the series was quiet again"
    );
    assert!(!e.evidence.is_empty());
    assert_eq!(hub.metric("hostwatch_hub_anomaly_events_total").await, 1.0);
    let id = e.id;
    hub.stop().await;

    // The event is in history: a restarted hub serves it again.
    let hub = TestHub::start_with(move |c| c.database_path = db).await;
    let mut q = hub.query().await;
    let again = q
        .events(proto::EventsRequest {
            host: String::new(),
            limit: 10,
        })
        .await
        .expect("events")
        .into_inner()
        .events;
    assert_eq!(again.iter().map(|e| e.id).collect::<Vec<_>>(), vec![id]);
    hub.stop().await;
}

#[tokio::test]
async fn with_redis_the_latest_values_are_kept_in_per_host_hashes() {
    let redis = testkit::Redis::start().await;
    let url = redis.url().to_owned();
    let hub = TestHub::start_with(|c| c.redis.url = url.clone()).await;
    let (mut a, _) = RawAgent::connect(&hub, "cached").await;
    let t = common::now_ms();
    let rows = vec![
        proto::Row {
            series_id: 1,
            timestamp_ms: t - 1000,
            value: 1.0,
        },
        proto::Row {
            series_id: 1,
            timestamp_ms: t,
            value: 2.0,
        },
    ];
    a.send(proto::Batch {
        seq: 1,
        new_series: vec![def(1, "m")],
        rows,
        top_processes: Vec::new(),
    })
    .await;
    assert_eq!(a.reply().await.expect("ack"), 1);

    let client = redis::Client::open(url.as_str()).expect("client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let mut latest: std::collections::HashMap<String, String> = Default::default();
    for _ in 0..100 {
        latest = redis::cmd("HGETALL")
            .arg("hostwatch:latest:cached")
            .query_async(&mut conn)
            .await
            .expect("hgetall");
        if !latest.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        latest.get(r#"{"name":"m","labels":{}}"#),
        Some(&format!("{t} 2"))
    );
    hub.stop().await;
}

/// A budget smaller than one batch: batches take turns, none is lost or
/// refused, and the wait shows on `/metrics`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_memory_budget_serialises_batches_without_losing_any() {
    const AGENTS: usize = 4;
    const BATCHES: u64 = 20;
    const ROWS: u32 = 100;
    let hub = TestHub::start(hub::config::Limits {
        max_buffered_bytes: 1,
        ..Default::default()
    })
    .await;
    let mut agents = Vec::new();
    for a in 0..AGENTS {
        let (agent, _) = RawAgent::connect(&hub, &format!("budget-{a}")).await;
        agents.push(agent);
    }
    // Everything is sent before any ack is read, so streams compete.
    for agent in &agents {
        for seq in 1..=BATCHES {
            let new_series = if seq == 1 {
                (1..=ROWS).map(|id| def(id, &format!("m{id}"))).collect()
            } else {
                Vec::new()
            };
            agent
                .send(proto::Batch {
                    seq,
                    new_series,
                    rows: (1..=ROWS).map(|id| row(id, f64::from(id))).collect(),
                    top_processes: Vec::new(),
                })
                .await;
        }
    }
    for agent in &mut agents {
        for seq in 1..=BATCHES {
            assert_eq!(agent.reply().await.expect("ack"), seq);
        }
    }
    for a in 0..AGENTS {
        assert_eq!(
            stored_points(&hub, &format!("budget-{a}")).await,
            (BATCHES * u64::from(ROWS)) as usize
        );
    }
    assert!(hub.metric("hostwatch_hub_buffer_waits_total").await > 0.0);
    assert_eq!(hub.metric("hostwatch_hub_buffered_bytes").await, 0.0);
}
