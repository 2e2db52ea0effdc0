//! The HTTP API: Alertmanager's alert endpoints, bad input, who sees what.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::{self, alert, metric, Service, ALICE, BOB};

#[tokio::test]
async fn posted_alerts_are_listed_with_fingerprint_and_status() {
    let db = support::sqlite();
    let s = Service::start(support::config(&db.url)).await;
    let st = s
        .post_alerts(json!([
            alert(&[
                ("alertname", "DiskFull"),
                ("host", "db1"),
                ("severity", "high")
            ]),
            alert(&[
                ("alertname", "DiskFull"),
                ("host", "db2"),
                ("severity", "low")
            ]),
        ]))
        .await;
    assert_eq!(st, StatusCode::OK);
    // A resend is the same alert, not a third one.
    s.post_alerts(json!([alert(&[
        ("alertname", "DiskFull"),
        ("host", "db1"),
        ("severity", "high")
    ])]))
    .await;
    let (st, list) = s.get("/api/v2/alerts", None).await;
    assert_eq!(st, StatusCode::OK);
    let list = list.as_array().expect("array").clone();
    assert_eq!(list.len(), 2, "{list:?}");
    for a in &list {
        assert_eq!(a["status"]["state"], "active");
        assert_eq!(a["fingerprint"].as_str().map(str::len), Some(16));
    }
    let (_, filtered) = s.get("/api/v2/alerts?filter=host%3Ddb1", None).await;
    assert_eq!(filtered.as_array().map(Vec::len), Some(1));
    let m = s.metrics().await;
    assert_eq!(
        metric(&m, "hostwatch_alerts_received_total{origin=\"api\"}"),
        3.0
    );
    assert_eq!(metric(&m, "hostwatch_alerts_firing"), 2.0);
    s.stop().await;
}

#[tokio::test]
async fn bad_alerts_get_a_clear_error_and_a_counter_and_good_ones_in_the_batch_are_kept() {
    let db = support::sqlite();
    let s = Service::start(support::config(&db.url)).await;
    let r = s
        .http
        .post(format!("{}/api/v2/alerts", s.url))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 400);
    let body: serde_json::Value = r.json().await.expect("json error");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or("")
            .contains("not a list of alerts"),
        "{body}"
    );

    let st = s
        .post_alerts(json!([
            alert(&[("alertname", "Good")]),
            { "labels": { "bad name": "x" } },
            { "labels": { "alertname": "Future" }, "startsAt": "2999-01-01T00:00:00Z" },
        ]))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (_, list) = s.get("/api/v2/alerts", None).await;
    assert_eq!(
        list.as_array().map(Vec::len),
        Some(1),
        "the valid alert is kept: {list}"
    );
    // Over the body limit.
    let big = vec![alert(&[("alertname", "Big"), ("pad", &"x".repeat(4000))]); 1200];
    assert_eq!(
        s.post_alerts(json!(big)).await,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let m = s.metrics().await;
    assert_eq!(
        metric(&m, "hostwatch_alerts_rejected_total{reason=\"malformed\"}"),
        1.0
    );
    assert_eq!(
        metric(
            &m,
            "hostwatch_alerts_rejected_total{reason=\"invalid_alert\"}"
        ),
        2.0
    );
    s.stop().await;
}

#[tokio::test]
async fn each_person_sees_and_deletes_only_their_own_subscriptions() {
    let db = support::sqlite();
    let s = Service::start(support::config(&db.url)).await;
    let hook = "http://127.0.0.1:9/hook";
    let (st, a) = s
        .subscribe(ALICE, support::webhook_sub("mine", "site=eu", hook))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{a}");
    assert_eq!(
        a["channels"][0]["secret"], "<set>",
        "secrets never come back"
    );
    let (st, _) = s
        .subscribe(BOB, support::webhook_sub("bobs", "", hook))
        .await;
    assert_eq!(st, StatusCode::CREATED);

    let (_, list) = s.get("/api/v1/subscriptions", Some(ALICE)).await;
    let names: Vec<&str> = list
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|x| x["name"].as_str())
        .collect();
    assert_eq!(names, ["mine"]);
    let (st, _) = s.get("/api/v1/subscriptions", None).await;
    assert_eq!(
        st,
        StatusCode::UNAUTHORIZED,
        "no token, no list outside demo"
    );
    let (st, _) = s.get("/api/v1/subscriptions", Some("wrong")).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);

    let id = a["id"].as_str().expect("id");
    let del = |token: &'static str| {
        let url = format!("{}/api/v1/subscriptions/{id}", s.url);
        let http = s.http.clone();
        async move {
            http.delete(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("delete")
                .status()
                .as_u16()
        }
    };
    assert_eq!(del(BOB).await, 404, "bob cannot delete alice's");
    assert_eq!(del(ALICE).await, 204);
    let (_, list) = s.get("/api/v1/subscriptions", Some(ALICE)).await;
    assert_eq!(list.as_array().map(Vec::len), Some(0));
    s.stop().await;
}

#[tokio::test]
async fn subscriptions_that_cannot_work_are_refused_with_the_reason() {
    let db = support::sqlite();
    let mut c = support::config(&db.url);
    c.allow_private_targets = false;
    let s = Service::start(c).await;
    for (body, want) in [
        (
            support::webhook_sub("x", "severity>=urgent", "https://example.com/h"),
            "not a severity",
        ),
        (
            support::webhook_sub("x", "", "ftp://example.com/h"),
            "http or https",
        ),
        (
            support::webhook_sub("x", "", "http://127.0.0.1:8080/h"),
            "internal address",
        ),
        (
            support::webhook_sub("x", "", "http://169.254.169.254/latest"),
            "internal address",
        ),
        (
            support::webhook_sub("x", "", "http://localhost/h"),
            "internal address",
        ),
        (json!({"name": "x", "channels": []}), "at least one channel"),
        (
            json!({"name": "x", "channels": [{"type": "email", "to": "a@example.com"}]}),
            "[smtp]",
        ),
        (
            json!({"name": "x", "channels": [{"type": "email", "to": "not an address"}]}),
            "email address",
        ),
        (
            json!({"name": "x", "channels": [{"type": "pager"}]}),
            "not a subscription",
        ),
    ] {
        let (st, err) = s.subscribe(ALICE, body.clone()).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
        let msg = err["error"].as_str().unwrap_or_default();
        assert!(msg.contains(want), "{body}: {msg}");
    }
    assert!(metric(&s.metrics().await, "hostwatch_alerts_refused_targets_total") >= 3.0);
    s.stop().await;
}

#[tokio::test]
async fn demo_mode_needs_no_token() {
    let db = support::sqlite();
    let mut c = support::config(&db.url);
    c.demo = true;
    let s = Service::start(c).await;
    let (st, _) = s.get("/api/v1/subscriptions", None).await;
    assert_eq!(st, StatusCode::OK);
    let (st, info) = s.get("/api/v2/status", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(info["cluster"]["status"], "disabled");
    s.stop().await;
}

#[tokio::test]
async fn an_ingest_token_guards_the_alertmanager_endpoints() {
    let db = support::sqlite();
    let mut c = support::config(&db.url);
    c.ingest_token = Some("prom-secret".into());
    let s = Service::start(c).await;
    assert_eq!(
        s.post_alerts(json!([alert(&[("alertname", "X")])])).await,
        StatusCode::UNAUTHORIZED
    );
    let r = s
        .http
        .post(format!("{}/api/v2/alerts", s.url))
        .bearer_auth("prom-secret")
        .json(&json!([alert(&[("alertname", "X")])]))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 200);
    let m = s.metrics().await;
    assert_eq!(
        metric(
            &m,
            "hostwatch_alerts_rejected_total{reason=\"bad_ingest_token\"}"
        ),
        1.0
    );
    s.stop().await;
}
