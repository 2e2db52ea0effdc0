//! `GET /api/v1/correlations` on the edge: every connected hub is asked down
//! its uplink; each answer comes back labelled with its hub, unmerged, and
//! the hosts of all hubs are ranked together by anomalies per unit of load.

use proto::uplink_request::Query;
use serde_json::Value;

use crate::support::{FakeHub, TestEdge};

fn host(name: &str, site: &str, events: u32, load: f64) -> proto::HostAnomalyRate {
    let per_hour = f64::from(events);
    proto::HostAnomalyRate {
        host: name.into(),
        site: site.into(),
        events,
        anomalies_per_hour: per_hour,
        mean_load: load,
        load_samples: 120,
        per_unit_load: per_hour / load.max(0.05),
    }
}

/// A hub's report over `hosts`, with a fleet Pearson `r`.
fn report(hosts: Vec<proto::HostAnomalyRate>, r: Option<f64>) -> proto::CorrelationReport {
    proto::CorrelationReport {
        computed_ms: 3_600_000,
        window_start_ms: 0,
        window_end_ms: 3_600_000,
        load_metric: "system.cpu.utilization (headline, 0..1)".into(),
        events: hosts.iter().map(|h| h.events).sum(),
        fleet: Some(proto::CorrelationStat {
            n: u32::try_from(hosts.len()).expect("few hosts"),
            pearson: r,
            spearman: r,
        }),
        across_sites: Some(proto::CorrelationStat::default()),
        top_per_load: hosts.iter().filter(|h| h.events > 0).cloned().collect(),
        hosts,
        ..Default::default()
    }
}

/// What a hub answers: `report` (None: not analysed yet), or an error.
fn answer(
    report: Option<proto::CorrelationReport>,
    error: &str,
) -> impl FnOnce(&proto::UplinkRequest) -> proto::UplinkResponse {
    let error = error.to_owned();
    move |req| {
        let Some(Query::Correlations(_)) = &req.query else {
            panic!("expected a correlations request, got {req:?}");
        };
        proto::UplinkResponse {
            request_id: 0,
            error,
            result: Some(proto::uplink_response::Result::Correlations(
                proto::CorrelationsResponse {
                    // What the hub calls itself; the edge labels by the id
                    // the hub connected with.
                    hub_id: "self-named".into(),
                    site: "eu".into(),
                    every_s: 600.0,
                    window_s: 3600.0,
                    report,
                },
            )),
        }
    }
}

async fn get(edge: &TestEdge, query: &str) -> (u16, Value) {
    let res = reqwest::get(format!("http://{}/api/v1/correlations{query}", edge.addr))
        .await
        .expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.expect("JSON body"))
}

fn hubs(body: &Value) -> Vec<(&str, Option<f64>)> {
    body["hubs"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|h| {
            (
                h["hub"].as_str().expect("hub"),
                h["report"]["fleet"]["pearson"].as_f64(),
            )
        })
        .collect()
}

fn top(body: &Value) -> Vec<(&str, &str)> {
    body["top_per_load"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|h| {
            (
                h["hub"].as_str().expect("hub"),
                h["host"].as_str().expect("host"),
            )
        })
        .collect()
}

#[tokio::test]
async fn each_hub_answers_for_itself_and_hosts_rank_across_hubs() {
    let edge = TestEdge::start(edge::Config {
        demo: true,
        ..Default::default()
    })
    .await;

    // No hub yet: nothing to show, and no error.
    let (status, body) = get(&edge, "").await;
    assert_eq!((status, hubs(&body).len()), (200, 0), "{body}");

    let mut a = FakeHub::connect(edge.addr, "hub-a").await;
    let mut b = FakeHub::connect(edge.addr, "hub-b").await;
    // hub-a: a1 busy with 2 anomalies, a2 idle with one (one per 0.05 of
    // floor load = 20 per unit); hub-b: b1 with 3 at half load, b2 none.
    let a_report = || {
        report(
            vec![
                host("a1", "eu", 2, 0.8),
                host("a2", "eu", 1, 0.01),
                host("a3", "eu", 0, 0.3),
            ],
            Some(0.5),
        )
    };
    let b_report = || {
        report(
            vec![host("b1", "us", 3, 0.5), host("b2", "us", 0, 0.2)],
            Some(-0.25),
        )
    };
    let (res, (), ()) = tokio::join!(
        get(&edge, ""),
        a.answer(answer(Some(a_report()), "")),
        b.answer(answer(Some(b_report()), "")),
    );
    assert_eq!(res.0, 200, "{}", res.1);
    let body = &res.1;
    assert_eq!(
        hubs(body),
        [("hub-a", Some(0.5)), ("hub-b", Some(-0.25))],
        "one entry per hub, its statistics as it computed them"
    );
    // 20 (a2), 6 (b1), 2.5 (a1); hosts without anomalies are not ranked.
    assert_eq!(
        top(body),
        [("hub-a", "a2"), ("hub-b", "b1"), ("hub-a", "a1")]
    );
    assert_eq!(body["top_per_load"][1]["site"], "us");
    assert_eq!(body["top_per_load"][1]["per_unit_load"], 6.0);
    assert_eq!(body["hubs"][0]["site"], "eu");
    assert_eq!(body["hubs"][0]["every_s"], 600.0);
    assert_eq!(body["hubs"][1]["report"]["hosts"][0]["host"], "b1");
    assert_eq!(body["hubs"][0]["report"]["fleet"]["n"], 3);

    // `top` caps the merged ranking; a hub not analysed yet has a null report.
    let (res, (), ()) = tokio::join!(
        get(&edge, "?top=1"),
        a.answer(answer(Some(a_report()), "")),
        b.answer(answer(None, "")),
    );
    assert_eq!(top(&res.1), [("hub-a", "a2")]);
    assert!(res.1["hubs"][1]["report"].is_null(), "{}", res.1);

    // A hub that fails is left out; the other still answers.
    let (res, (), ()) = tokio::join!(
        get(&edge, ""),
        a.answer(answer(None, "shutting down")),
        b.answer(answer(Some(b_report()), "")),
    );
    assert_eq!(res.0, 200, "{}", res.1);
    assert_eq!(hubs(&res.1), [("hub-b", Some(-0.25))]);

    // Only when every hub fails is it an error.
    let (res, (), ()) = tokio::join!(
        get(&edge, ""),
        a.answer(answer(None, "down")),
        b.answer(answer(None, "down too")),
    );
    assert_eq!(res.0, 503, "{}", res.1);

    let (status, body) = get(&edge, "?top=5000").await;
    assert_eq!(status, 400, "{body}");
    edge.stop().await;
}
