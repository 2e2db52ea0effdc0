//! With Redis, the hub publishes host updates and anomaly events on Redis
//! pub/sub (`hub::live`), for subscribers outside the hub.

use std::time::Duration;

use futures::StreamExt;

use crate::support::{def, RawAgent, TestHub};

#[tokio::test]
async fn host_updates_and_events_reach_a_redis_subscriber() {
    let redis = testkit::Redis::start().await;
    let url = redis.url().to_owned();
    let hub = TestHub::start_with(|c| c.redis.url = url.clone()).await;
    let client = redis::Client::open(redis.url()).expect("redis url");
    let mut pubsub = client.get_async_pubsub().await.expect("pubsub");
    pubsub
        .psubscribe("hostwatch:live:test:*")
        .await
        .expect("psubscribe");
    pubsub
        .subscribe("hostwatch:events:test")
        .await
        .expect("subscribe");
    let mut messages = pubsub.on_message();

    // A steady series with one value far beyond anything before it: one
    // incident (the detection unit test's shape, at 1 s steps).
    let (mut a, _) = RawAgent::connect(&hub, "pubsub").await;
    let start = common::now_ms() - 1_300_000;
    let rows = (0..1200i64)
        .map(|i| proto::Row {
            series_id: 1,
            timestamp_ms: start + i * 1000,
            value: if i == 900 {
                5.0
            } else {
                0.3 + 0.01 * ((i % 7) as f64)
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

    let (mut host_update, mut event) = (None, None);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while host_update.is_none() || event.is_none() {
        let msg = tokio::time::timeout_at(deadline, messages.next())
            .await
            .expect("both messages in time")
            .expect("pubsub open");
        let channel = msg.get_channel_name().to_owned();
        let body: serde_json::Value =
            serde_json::from_str(&msg.get_payload::<String>().expect("text")).expect("json");
        if channel == "hostwatch:live:test:pubsub" {
            host_update = Some(body);
        } else if channel == "hostwatch:events:test" {
            event = Some(body);
        }
    }
    let h = host_update.expect("host update");
    assert_eq!(h["host"], "pubsub");
    assert_eq!(h["stored_seq"], 1);
    assert_eq!(h["rows_stored"], 1200);
    let e = event.expect("event");
    assert_eq!(e["host"], "pubsub");
    assert_eq!(e["name"], "system.cpu.utilization");
    assert_eq!(e["actual"], 5.0);
    assert!(hub.metric("hostwatch_hub_live_published_total ").await >= 2.0);
    drop(messages);
    hub.stop().await;
}
