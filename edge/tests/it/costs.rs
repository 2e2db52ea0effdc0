//! `GET /api/v1/costs` on the edge: every connected hub is asked down its
//! uplink, the rows are concatenated and summed per site and for the fleet.

use proto::uplink_request::Query;
use serde_json::Value;

use crate::support::{FakeHub, TestEdge};

/// A row as a hub prices it (`None`: facts unknown).
fn row(host: &str, site: &str, cost: Option<f64>, idle: Option<f64>) -> proto::HostCost {
    proto::HostCost {
        host: host.into(),
        site: site.into(),
        class: "default".into(),
        vcpus: 4,
        memory_gib: 16.0,
        cost_per_hour: cost,
        cpu_cost_per_hour: cost.map(|c| c * 0.75),
        memory_cost_per_hour: cost.map(|c| c * 0.25),
        cpu_utilization: idle.map(|_| 0.5),
        memory_utilization: idle.map(|_| 0.5),
        idle_cost_per_hour: idle,
        currency: "USD".into(),
    }
}

/// What a hub answers: its own rows, or an error.
fn answer(
    hosts: Vec<proto::HostCost>,
    error: &str,
) -> impl FnOnce(&proto::UplinkRequest) -> proto::UplinkResponse {
    let error = error.to_owned();
    move |req| {
        let Some(Query::Costs(c)) = &req.query else {
            panic!("expected a costs request, got {req:?}");
        };
        assert_eq!(c.host, "", "a fleet-wide question asks for every host");
        proto::UplinkResponse {
            request_id: 0,
            error,
            result: Some(proto::uplink_response::Result::Costs(
                proto::CostsResponse {
                    hosts,
                    computed_ms: 1,
                },
            )),
        }
    }
}

async fn get(edge: &TestEdge, query: &str) -> (u16, Value) {
    let res = reqwest::get(format!("http://{}/api/v1/costs{query}", edge.addr))
        .await
        .expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.expect("JSON body"))
}

fn hosts(body: &Value) -> Vec<&str> {
    body["hosts"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|h| h["host"].as_str().expect("host"))
        .collect()
}

/// (site, hosts, cost per hour, idle cost per hour) of each site total.
fn sites(body: &Value) -> Vec<(&str, u64, f64, f64)> {
    body["sites"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|s| {
            (
                s["site"].as_str().expect("site"),
                s["hosts"].as_u64().expect("hosts"),
                s["cost_per_hour"].as_f64().expect("cost"),
                s["idle_cost_per_hour"].as_f64().expect("idle"),
            )
        })
        .collect()
}

#[tokio::test]
async fn every_hub_is_asked_and_the_rows_are_summed_per_site_and_fleet() {
    let edge = TestEdge::start(edge::Config {
        demo: true,
        ..Default::default()
    })
    .await;
    let mut a = FakeHub::connect(edge.addr, "hub-a").await;
    let mut b = FakeHub::connect(edge.addr, "hub-b").await;

    // hub-a has two eu hosts, one without facts; hub-b one us host and one
    // eu host (a site may span hubs).
    let a_rows = || {
        vec![
            row("a2", "eu", None, None),
            row("a1", "eu", Some(0.5), Some(0.25)),
        ]
    };
    let b_rows = || {
        vec![
            row("b1", "us", Some(2.0), Some(1.5)),
            row("b2", "eu", Some(0.25), None),
        ]
    };
    let (res, (), ()) = tokio::join!(
        get(&edge, ""),
        a.answer(answer(a_rows(), "")),
        b.answer(answer(b_rows(), "")),
    );
    assert_eq!(res.0, 200, "{}", res.1);
    let body = &res.1;
    assert_eq!(hosts(body), ["a1", "a2", "b2", "b1"], "by site, then host");
    assert_eq!(sites(body), [("eu", 3, 0.75, 0.25), ("us", 1, 2.0, 1.5)]);
    let fleet = &body["fleet"];
    assert_eq!(fleet.as_array().map(Vec::len), Some(1), "{fleet}");
    assert_eq!(fleet[0]["currency"], "USD");
    assert_eq!(fleet[0]["hosts"], 4);
    assert_eq!(fleet[0]["hosts_without_facts"], 1);
    assert_eq!(fleet[0]["cost_per_hour"], 2.75);
    assert_eq!(fleet[0]["idle_cost_per_hour"], 1.75);
    assert_eq!(body["hosts"][0]["cpu_cost_per_hour"], 0.375);
    assert!(body["hosts"][1]["cost_per_hour"].is_null());

    // One site: both hubs are still asked (a site may span hubs).
    let (res, (), ()) = tokio::join!(
        get(&edge, "?site=us"),
        a.answer(answer(a_rows(), "")),
        b.answer(answer(b_rows(), "")),
    );
    assert_eq!((res.0, hosts(&res.1)), (200, vec!["b1"]));
    assert_eq!(res.1["fleet"][0]["cost_per_hour"], 2.0);

    // A hub that fails is left out; the other's rows still come.
    let (res, (), ()) = tokio::join!(
        get(&edge, ""),
        a.answer(answer(a_rows(), "")),
        b.answer(answer(vec![], "history store unavailable")),
    );
    assert_eq!((res.0, hosts(&res.1)), (200, vec!["a1", "a2"]));

    // Only when every hub fails is it an error.
    let (res, (), ()) = tokio::join!(
        get(&edge, ""),
        a.answer(answer(vec![], "down")),
        b.answer(answer(vec![], "down too")),
    );
    assert_eq!(res.0, 503, "{}", res.1);

    let (status, body) = get(&edge, "?host=nowhere").await;
    assert_eq!(status, 404, "{body}");
    assert!(edge.metric("hostwatch_edge_remote_queries_total").await >= 8.0);
    edge.stop().await;
}
