//! Expected bands end to end in one hub: rows streamed by an agent go through
//! detection, the band of each series is stored per minute it moved, and
//! `Query.Bands` returns it from the point in force at the range's start;
//! the band holds the quiet series it was learned from.

use std::time::Duration;

use crate::support::{def, RawAgent, TestHub};

/// A quiet wander between about 11 and 19, different per series.
fn value(series: u32, i: i64) -> f64 {
    15.0 + f64::from(series)
        + 4.0 * (i as f64 / 37.0).sin()
        + [0.0, 0.7, -0.5, 0.3, -0.6][(i % 5) as usize]
}

#[tokio::test]
async fn bands_of_streamed_series_are_stored_and_queried() {
    let hub = TestHub::start_with(|_| {}).await;
    let (mut a, _) = RawAgent::connect(&hub, "banded").await;
    // 30 minutes at 1 s, ending now: the level model is warm after a
    // quarter of its window, so most minutes have a band.
    let points: i64 = 1800;
    let now = common::now_ms() / 1000 * 1000;
    let t = |i: i64| now - (points - i) * 1000;
    let per_batch = 60;
    for (n, start) in (0..points).step_by(per_batch as usize).enumerate() {
        let seq = n as u64 + 1;
        let rows = (start..(start + per_batch).min(points))
            .flat_map(|i| {
                (1..=2u32).map(move |id| proto::Row {
                    series_id: id,
                    timestamp_ms: t(i),
                    value: value(id, i),
                })
            })
            .collect();
        a.send(proto::Batch {
            seq,
            new_series: if seq == 1 {
                vec![def(1, "app.a"), def(2, "app.b")]
            } else {
                Vec::new()
            },
            rows,
            top_processes: Vec::new(),
        })
        .await;
        assert_eq!(a.reply().await.expect("ack"), seq);
    }
    // Stored within the flush interval (5 s) of the last rows.
    let mut stored = 0.0;
    for _ in 0..200 {
        stored = hub
            .metric("hostwatch_hub_detection_band_points_stored_total ")
            .await;
        if stored >= 2.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(stored >= 2.0, "band points stored: {stored}");

    let mut query = hub.query().await;
    let ask = |from: i64, to: i64| proto::RangeRequest {
        host: "banded".into(),
        name: "app.a".into(),
        from_ms: from,
        to_ms: to,
        ..Default::default()
    };
    let got = query
        .bands(ask(t(0), now))
        .await
        .expect("bands")
        .into_inner()
        .series;
    assert_eq!(got.len(), 1, "app.a only: {got:?}");
    let band = &got[0].band;
    assert!(!band.is_empty());
    assert!(
        band.windows(2)
            .all(|w| w[0].timestamp_ms < w[1].timestamp_ms),
        "oldest first"
    );
    assert!(
        band.iter().all(|b| b.timestamp_ms % 60_000 == 0),
        "minute starts"
    );
    // The streamed values of app.a lie in the band in force at their time
    // (where they raise no evidence; the series is quiet). Not every one: a
    // stored band is a minute's average of a band that moves while the level
    // model refits, kept only when it moved by 5 % of its width.
    let (mut inside, mut seen) = (0, 0);
    for i in 0..points {
        if let Some(b) = band.iter().rev().find(|b| b.timestamp_ms <= t(i)) {
            seen += 1;
            let v = value(1, i);
            inside += usize::from(b.lo <= v && v <= b.hi);
        }
    }
    assert!(seen >= 1500, "most points have a band: {seen}");
    assert!(
        inside * 100 >= seen * 99,
        "{inside} of {seen} inside: {band:?}"
    );

    // A range starting after the last point still gets the band in force.
    let late = query
        .bands(ask(now + 1, now + 2))
        .await
        .expect("bands")
        .into_inner()
        .series;
    assert_eq!(late[0].band.len(), 1);
    assert_eq!(late[0].band[0], *band.last().expect("a point"));

    let bad = query
        .bands(ask(now, now - 1))
        .await
        .expect_err("from after to");
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    hub.stop().await;
}
