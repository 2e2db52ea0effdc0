//! `GET /api/v1/ledger` on the edge: every connected hub is asked down its
//! uplink, the agents' rows are concatenated and named by their hosts' sites.

use common::model::HostStatus;
use proto::uplink_request::Query;
use serde_json::Value;

use crate::support::{FakeHub, TestEdge};

/// A hub's ledger row: (agent, host, highest seq stored, batches stored).
fn row(agent: &str, host: &str, last_seq: u64, batches: u64) -> proto::AgentLedger {
    proto::AgentLedger {
        agent_id: agent.into(),
        host: host.into(),
        last_seq,
        batches,
        rows: batches * 100,
        duplicates: 1,
        missing: last_seq.saturating_sub(batches),
        completeness: if last_seq == 0 {
            1.0
        } else {
            batches as f64 / last_seq as f64
        },
    }
}

fn status(host: &str, site: &str, agent: &str) -> HostStatus {
    HostStatus {
        host: host.into(),
        site: site.into(),
        agent_id: agent.into(),
        last_seen_ms: 42_000,
        ..Default::default()
    }
}

/// What a hub answers: its own agents' rows, or an error.
fn answer(
    agents: Vec<proto::AgentLedger>,
    error: &str,
) -> impl FnOnce(&proto::UplinkRequest) -> proto::UplinkResponse {
    let error = error.to_owned();
    move |req| {
        assert!(
            matches!(req.query, Some(Query::Ledger(_))),
            "expected a ledger request, got {req:?}"
        );
        proto::UplinkResponse {
            request_id: 0,
            error,
            result: Some(proto::uplink_response::Result::Ledger(
                proto::LedgerResponse { agents },
            )),
        }
    }
}

async fn get(edge: &TestEdge, query: &str) -> (u16, Value) {
    let res = reqwest::get(format!("http://{}/api/v1/ledger{query}", edge.addr))
        .await
        .expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.expect("JSON body"))
}

fn agents(body: &Value) -> Vec<&str> {
    body.as_array()
        .expect("a list")
        .iter()
        .map(|r| r["agent_id"].as_str().expect("agent_id"))
        .collect()
}

#[tokio::test]
async fn every_hub_is_asked_and_the_agents_rows_are_concatenated() {
    let edge = TestEdge::start(edge::Config {
        demo: true,
        ..Default::default()
    })
    .await;
    let mut a = FakeHub::connect(edge.addr, "hub-a").await;
    let mut b = FakeHub::connect(edge.addr, "hub-b").await;
    a.send_statuses([status("a1", "eu", "ag-a1"), status("a2", "eu", "ag-a2")])
        .await;
    b.send_statuses([status("b1", "us", "ag-b1")]).await;

    // a2 has sent nothing stored yet; b1 lost one batch of four.
    let a_rows = || vec![row("ag-a2", "a2", 0, 0), row("ag-a1", "a1", 10, 10)];
    let b_rows = || vec![row("ag-b1", "b1", 4, 3)];
    let (res, (), ()) = tokio::join!(
        get(&edge, ""),
        a.answer(answer(a_rows(), "")),
        b.answer(answer(b_rows(), "")),
    );
    assert_eq!(res.0, 200, "{}", res.1);
    let body = &res.1;
    assert_eq!(
        agents(body),
        ["ag-a1", "ag-a2", "ag-b1"],
        "by site, then host"
    );
    let b1 = &body[2];
    assert_eq!(
        (
            &b1["host"],
            &b1["site"],
            &b1["stored_seq"],
            &b1["batches_stored"]
        ),
        (&"b1".into(), &"us".into(), &4.into(), &3.into())
    );
    assert_eq!(b1["missing_batches"], 1);
    assert_eq!(b1["rows_stored"], 300);
    assert_eq!(b1["duplicates"], 1);
    assert_eq!(b1["completeness"], 0.75);
    assert_eq!(b1["last_seen_ms"], 42_000);
    assert!(body[1]["completeness"].is_null(), "no batch yet: {body}");
    assert_eq!(body[0]["completeness"], 1.0);

    // One site: both hubs are still asked (a site may span hubs).
    let (res, (), ()) = tokio::join!(
        get(&edge, "?site=us"),
        a.answer(answer(a_rows(), "")),
        b.answer(answer(b_rows(), "")),
    );
    assert_eq!((res.0, agents(&res.1)), (200, vec!["ag-b1"]));

    // One host: only its hub is asked.
    let (res, ()) = tokio::join!(get(&edge, "?host=a1"), a.answer(answer(a_rows(), "")));
    assert_eq!((res.0, agents(&res.1)), (200, vec!["ag-a1"]));

    // A hub that fails is left out; the other's rows still come.
    let (res, (), ()) = tokio::join!(
        get(&edge, ""),
        a.answer(answer(vec![], "history store unavailable")),
        b.answer(answer(b_rows(), "")),
    );
    assert_eq!((res.0, agents(&res.1)), (200, vec!["ag-b1"]));

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
