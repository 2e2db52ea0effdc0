//! Capacity forecasts through the real hub: agents send a filling filesystem
//! and rising file descriptors over the ingest stream, and the ranked
//! forecasts come back from `Query.Forecasts` and `/metrics`.

use std::time::Duration;

use crate::support::{RawAgent, TestHub};

/// Readings per host, one a minute over the last six hours.
const READINGS: i64 = 360;
const STEP_MS: i64 = 60_000;

fn series(id: u32, name: &str, labels: &[(&str, &str)]) -> proto::SeriesDef {
    proto::SeriesDef {
        id,
        name: name.into(),
        labels: labels
            .iter()
            .map(|(k, v)| proto::Label {
                key: (*k).into(),
                value: (*v).into(),
            })
            .collect(),
        host: String::new(),
    }
}

/// Sends `values(i)` for i in 0..READINGS, ten readings a batch, each
/// `(series id, value)`, ending a minute ago.
async fn send(
    agent: &mut RawAgent,
    defs: Vec<proto::SeriesDef>,
    values: impl Fn(i64) -> Vec<(u32, f64)>,
) -> i64 {
    let last_ms = common::now_ms() - STEP_MS;
    let first_ms = last_ms - (READINGS - 1) * STEP_MS;
    let mut defs = Some(defs);
    for (seq, chunk) in (0..READINGS).collect::<Vec<_>>().chunks(10).enumerate() {
        let rows = chunk
            .iter()
            .flat_map(|&i| {
                values(i).into_iter().map(move |(id, v)| proto::Row {
                    series_id: id,
                    timestamp_ms: first_ms + i * STEP_MS,
                    value: v,
                })
            })
            .collect();
        let seq = seq as u64 + 1;
        agent
            .send(proto::Batch {
                seq,
                new_series: defs.take().unwrap_or_default(),
                rows,
                top_processes: vec![],
            })
            .await;
        assert_eq!(agent.reply().await.expect("ack"), seq);
    }
    last_ms
}

#[tokio::test]
async fn a_filling_filesystem_is_ranked_first_fleet_wide() {
    let hub = TestHub::start(Default::default()).await;
    let fs = |state| {
        [
            ("device", "sda1"),
            ("mountpoint", "/var"),
            ("state", state),
            ("type", "ext4"),
        ]
    };
    // /var: 1 GB for an unprivileged writer, 20 kB/s written with a
    // ±1 MB wobble; memory flat.
    let (mut filler, _) = RawAgent::connect(&hub, "filler").await;
    let last_ms = send(
        &mut filler,
        vec![
            series(1, "system.filesystem.usage", &fs("used")),
            series(2, "system.filesystem.usage", &fs("free")),
            series(3, "system.memory.usage", &[("state", "used")]),
            series(4, "system.memory.limit", &[]),
        ],
        |i| {
            let used = 1e8 + 20_000.0 * (i * 60) as f64 + if i % 2 == 0 { 1e6 } else { -1e6 };
            vec![(1, used), (2, 1e9 - used), (3, 4e9), (4, 8e9)]
        },
    )
    .await;
    // File descriptors: 2 a second more, towards 100 000.
    let (mut fds, _) = RawAgent::connect(&hub, "fds").await;
    let fds_last_ms = send(
        &mut fds,
        vec![
            series(1, "system.file_descriptors.usage", &[]),
            series(2, "system.file_descriptors.limit", &[]),
        ],
        |i| vec![(1, 1000.0 + 2.0 * (i * 60) as f64), (2, 100_000.0)],
    )
    .await;

    let mut q = hub.query().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let got = loop {
        let got = q
            .forecasts(proto::ForecastsRequest {
                host: String::new(),
                limit: 10,
            })
            .await
            .expect("forecasts")
            .into_inner()
            .forecasts;
        // The actor runs beside the writer: acked is not yet forecast.
        let caught_up = |f: &proto::Forecast| {
            f.updated_ms
                == if f.host == "fds" {
                    fds_last_ms
                } else {
                    last_ms
                }
        };
        if got.len() == 3 && got.iter().all(caught_up) {
            break got;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "forecasts never caught up: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let order: Vec<(&str, &str, &str)> = got
        .iter()
        .map(|f| (f.host.as_str(), f.resource.as_str(), f.trend.as_str()))
        .collect();
    assert_eq!(
        order,
        [
            ("filler", "filesystem", "rising"),
            ("fds", "file_descriptors", "rising"),
            ("filler", "memory", "flat"),
        ]
    );
    let var = &got[0];
    let labels: Vec<(&str, &str)> = var
        .labels
        .iter()
        .map(|l| (l.key.as_str(), l.value.as_str()))
        .collect();
    assert_eq!(labels, [("device", "sda1"), ("mountpoint", "/var")]);
    // Used at the last reading: 1e8 + 20 kB/s × 359 min (the wobble aside):
    // the rest of the gigabyte at 20 kB/s.
    let truth = (1e9 - (1e8 + 20_000.0 * 359.0 * 60.0)) / 20_000.0;
    let eta = var.seconds_to_exhaustion.expect("a filling disk runs out");
    assert!((eta - truth).abs() < 0.02 * truth, "{eta} s vs {truth} s");
    let (low, high) = (
        var.low_seconds.expect("low"),
        var.high_seconds.expect("high"),
    );
    assert!(low <= eta && eta <= high, "{low} {eta} {high}");
    assert!(var.confidence > 0.5, "{var:?}");
    assert!((var.capacity - 1e9).abs() < 1.0, "{var:?}");
    let fd_truth = (100_000.0 - (1000.0 + 2.0 * 359.0 * 60.0)) / 2.0;
    let fd_eta = got[1].seconds_to_exhaustion.expect("fds run out");
    assert!(
        (fd_eta - fd_truth).abs() < 0.02 * fd_truth,
        "{fd_eta} vs {fd_truth}"
    );
    assert_eq!(got[2].seconds_to_exhaustion, None);

    // One host's alone, and the soonest on /metrics with their labels.
    let only = q
        .forecasts(proto::ForecastsRequest {
            host: "fds".into(),
            limit: 0,
        })
        .await
        .expect("forecasts")
        .into_inner()
        .forecasts;
    assert_eq!(only.len(), 1);
    let metrics = hub.get("/metrics").await;
    let line = metrics
        .lines()
        .find(|l| l.starts_with("hostwatch_hub_forecast_seconds_to_exhaustion{host=\"filler\""))
        .unwrap_or_else(|| panic!("no forecast gauge in {metrics}"));
    assert!(line.contains("mountpoint=\"/var\""), "{line}");
    assert!(
        !metrics.contains("resource=\"memory\""),
        "a flat resource has no exhaustion to export"
    );
    assert!(hub.metric("hostwatch_hub_forecast_readings_total").await >= 3.0 * READINGS as f64);
    hub.stop().await;
}
