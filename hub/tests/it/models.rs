//! Detector models survive a hub restart: saved at shutdown (and every
//! `model_snapshot_interval`) to Redis when the hub has one, else to the
//! history database, and picked up by each series when it is next seen.

use std::time::Duration;

use crate::support::{def, RawAgent, TestHub};

/// Streams `points` rows of three series at 1 s steps ending now, in batches,
/// and waits until detection has seen all of them.
async fn stream(hub: &TestHub, seq0: u64, points: i64) {
    let (mut a, _) = RawAgent::connect(hub, "warm").await;
    let now = common::now_ms();
    let per_batch = 50;
    let mut seq = seq0;
    for start in (0..points).step_by(per_batch as usize) {
        seq += 1;
        let mut rows = Vec::new();
        for i in start..(start + per_batch).min(points) {
            let t = now - (points - i) * 1000;
            for id in 1..=3u32 {
                rows.push(proto::Row {
                    series_id: id,
                    timestamp_ms: t,
                    value: id as f64 + ((i % 9) as f64) * 0.1,
                });
            }
        }
        a.send(proto::Batch {
            seq,
            // Series are defined once per stream, on its first batch.
            new_series: if seq == seq0 + 1 {
                vec![def(1, "app.a"), def(2, "app.b"), def(3, "app.c")]
            } else {
                Vec::new()
            },
            rows,
            top_processes: Vec::new(),
        })
        .await;
        assert_eq!(a.reply().await.expect("ack"), seq);
    }
    let want = (points * 3) as f64;
    for _ in 0..200 {
        if hub.metric("hostwatch_hub_detection_rows_total ").await >= want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("detection did not see {want} rows");
}

/// Runs a hub, stops it, runs a second one with `second` and returns how many
/// series the second one restored and discarded.
async fn restart(
    first: impl FnOnce(&mut hub::Config),
    second: impl FnOnce(&mut hub::Config),
) -> (f64, f64) {
    let hub = TestHub::start_with(first).await;
    stream(&hub, 0, 300).await;
    assert_eq!(
        hub.metric("hostwatch_hub_detection_models_restored_total ")
            .await,
        0.0,
        "a fresh hub has nothing to restore"
    );
    hub.stop().await;
    let hub = TestHub::start_with(second).await;
    stream(&hub, 1000, 100).await;
    let got = (
        hub.metric("hostwatch_hub_detection_models_restored_total ")
            .await,
        hub.metric("hostwatch_hub_detection_models_discarded_total ")
            .await,
    );
    assert_eq!(
        hub.metric("hostwatch_hub_detection_model_errors_total ")
            .await,
        0.0
    );
    hub.stop().await;
    got
}

#[tokio::test]
async fn embedded_sqlite_keeps_models_across_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("hub.db");
    let same = |c: &mut hub::Config| c.database_path = db.clone();
    assert_eq!(restart(same, same).await, (3.0, 0.0));
}

#[tokio::test]
async fn redis_keeps_models_across_a_restart_with_a_new_database() {
    let redis = testkit::Redis::start().await;
    let url = redis.url().to_owned();
    // Each TestHub gets a database of its own: only Redis carries the models.
    let with_redis = |c: &mut hub::Config| c.redis.url = url.clone();
    assert_eq!(restart(with_redis, with_redis).await, (3.0, 0.0));
}

#[tokio::test]
async fn postgres_keeps_models_across_a_restart() {
    let pg = testkit::Postgres::start().await;
    let url = pg.url().to_owned();
    let with_pg = |c: &mut hub::Config| c.database_url = url.clone();
    assert_eq!(restart(with_pg, with_pg).await, (3.0, 0.0));
}

#[tokio::test]
async fn models_learned_under_another_config_start_cold() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("hub.db");
    let before = |c: &mut hub::Config| c.database_path = db.clone();
    let after = |c: &mut hub::Config| {
        c.database_path = db.clone();
        // Another alarm level: a model learned with the old parameters
        // would carry them on, so it is dropped.
        c.detection.alarm_level = 0.75;
    };
    assert_eq!(restart(before, after).await, (0.0, 3.0));
}

#[tokio::test]
async fn models_are_also_saved_while_the_hub_runs() {
    // What a kill -9 keeps: the last periodic snapshot.
    let hub = TestHub::start_with(|c| c.model_snapshot_interval = Duration::from_millis(200)).await;
    stream(&hub, 0, 100).await;
    for _ in 0..100 {
        if hub
            .metric("hostwatch_hub_detection_models_saved_total ")
            .await
            >= 3.0
        {
            hub.stop().await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no periodic snapshot within 5 s");
}
