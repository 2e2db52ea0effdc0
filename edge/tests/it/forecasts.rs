//! `GET /api/v1/forecasts` on the edge: asked of every connected hub down
//! its uplink and merged into one ranking, soonest exhaustion first.

use proto::uplink_request::Query;
use serde_json::Value;

use crate::support::{FakeHub, TestEdge};

/// A forecast of `host`'s root filesystem: full `secs` after `updated_ms`
/// (`None`: flat at `used` of 100).
fn forecast(host: &str, secs: Option<f64>, used: f64, updated_ms: i64) -> proto::Forecast {
    proto::Forecast {
        host: host.into(),
        site: "eu".into(),
        resource: "filesystem".into(),
        labels: vec![proto::Label {
            key: "mountpoint".into(),
            value: "/".into(),
        }],
        trend: if secs.is_some() { "rising" } else { "flat" }.into(),
        rate_per_second: 1.0,
        seconds_to_exhaustion: secs,
        low_seconds: secs.map(|s| s * 0.9),
        high_seconds: secs.map(|s| s * 1.2),
        confidence: 0.8,
        used,
        capacity: 100.0,
        updated_ms,
        span_seconds: 600.0,
    }
}

/// What a hub answers: its own forecasts, or an error.
fn answer(
    list: Vec<proto::Forecast>,
    error: &str,
) -> impl FnOnce(&proto::UplinkRequest) -> proto::UplinkResponse {
    let error = error.to_owned();
    move |req| {
        let Some(Query::Forecasts(f)) = &req.query else {
            panic!("expected a forecasts request, got {req:?}");
        };
        assert_eq!(f.host, "", "a fleet-wide question asks for every host");
        proto::UplinkResponse {
            request_id: 0,
            error,
            result: Some(proto::uplink_response::Result::Forecasts(
                proto::ForecastsResponse { forecasts: list },
            )),
        }
    }
}

async fn get(edge: &TestEdge, query: &str) -> (u16, Value) {
    let res = reqwest::get(format!("http://{}/api/v1/forecasts{query}", edge.addr))
        .await
        .expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.expect("JSON body"))
}

fn hosts(body: &Value) -> Vec<&str> {
    body.as_array()
        .expect("a list")
        .iter()
        .map(|f| f["host"].as_str().expect("host"))
        .collect()
}

#[tokio::test]
async fn every_hub_is_asked_and_the_answers_make_one_ranking() {
    let edge = TestEdge::start(edge::Config {
        demo: true,
        ..Default::default()
    })
    .await;
    let mut a = FakeHub::connect(edge.addr, "hub-a").await;
    let mut b = FakeHub::connect(edge.addr, "hub-b").await;

    // hub-a's disk fills in an hour, hub-b's in ten minutes but read a
    // minute later; a flat one on each, the fuller first.
    let t0 = 1_800_000_000_000;
    let (res, (), ()) = tokio::join!(
        get(&edge, "?limit=3"),
        a.answer(answer(
            vec![
                forecast("a1", Some(3600.0), 10.0, t0),
                forecast("a2", None, 30.0, t0),
            ],
            "",
        )),
        b.answer(answer(
            vec![
                forecast("b1", Some(600.0), 10.0, t0 + 60_000),
                forecast("b2", None, 90.0, t0),
            ],
            "",
        )),
    );
    assert_eq!(res.0, 200, "{}", res.1);
    assert_eq!(
        hosts(&res.1),
        ["b1", "a1", "b2"],
        "limit 3 of the merged four"
    );
    let first = &res.1[0];
    assert_eq!(first["exhaustion_ms"], t0 + 60_000 + 600_000);
    assert_eq!(first["labels"]["mountpoint"], "/");
    assert_eq!(first["high_seconds"], 720.0);

    // A hub that fails is left out; the other's forecasts still come.
    let (res, (), ()) = tokio::join!(
        get(&edge, ""),
        a.answer(answer(vec![forecast("a1", Some(3600.0), 10.0, t0)], "")),
        b.answer(answer(vec![], "history store unavailable")),
    );
    assert_eq!((res.0, hosts(&res.1)), (200, vec!["a1"]));

    // Only when every hub fails is it an error.
    let (res, (), ()) = tokio::join!(
        get(&edge, ""),
        a.answer(answer(vec![], "down")),
        b.answer(answer(vec![], "down too")),
    );
    assert_eq!(res.0, 503, "{}", res.1);

    let (status, body) = get(&edge, "?limit=0").await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = get(&edge, "?host=nowhere").await;
    assert_eq!(status, 404, "{body}");
    assert!(edge.metric("hostwatch_edge_remote_queries_total").await >= 6.0);
    edge.stop().await;
}
