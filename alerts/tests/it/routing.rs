//! Grouping, silences and inhibition, end to end through the HTTP API to a
//! real webhook receiver.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::json;

use crate::support::{self, alert, resolved, Receiver, Service, ALICE};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn alerts_of_one_group_arrive_in_one_notification_then_resolve() {
    let db = support::sqlite();
    let s = Service::start(support::config(&db.url)).await;
    let rx = Receiver::start().await;
    let (st, _) = s
        .subscribe(ALICE, support::webhook_sub("ops", "site=eu", &rx.url))
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let a = [
        ("alertname", "DiskFull"),
        ("site", "eu"),
        ("host", "db1"),
        ("device", "sda"),
    ];
    let b = [
        ("alertname", "DiskFull"),
        ("site", "eu"),
        ("host", "db1"),
        ("device", "sdb"),
    ];
    let other_site = [("alertname", "DiskFull"), ("site", "us"), ("host", "db9")];
    s.post_alerts(json!([alert(&a), alert(&b), alert(&other_site)]))
        .await;
    let calls = rx.wait_delivered(1, WAIT).await;
    let body = calls[0].json();
    assert_eq!(body["version"], "4");
    assert_eq!(body["status"], "firing");
    assert_eq!(body["receiver"], "ops");
    assert_eq!(body["alerts"].as_array().map(Vec::len), Some(2), "{body}");
    assert_eq!(
        body["groupLabels"],
        json!({"alertname": "DiskFull", "host": "db1", "site": "eu"})
    );
    assert_eq!(body["commonLabels"]["host"], "db1");

    s.post_alerts(json!([resolved(&a), resolved(&b)])).await;
    let calls = rx.wait_delivered(2, WAIT).await;
    let body = calls[1].json();
    assert_eq!(body["status"], "resolved", "{body}");
    assert!(body["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .all(|x| x["status"] == "resolved"));
    rx.stays_at(2, Duration::from_millis(1500)).await;
    s.stop().await;
}

#[tokio::test]
async fn a_silence_holds_matching_alerts_until_it_is_expired() {
    let db = support::sqlite();
    let s = Service::start(support::config(&db.url)).await;
    let rx = Receiver::start().await;
    s.subscribe(ALICE, support::webhook_sub("ops", "", &rx.url))
        .await;
    let now = time::OffsetDateTime::now_utc();
    let fmt = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .expect("format")
    };
    let r = s
        .http
        .post(format!("{}/api/v2/silences", s.url))
        .json(&json!({
            "matchers": [{"name": "host", "value": "db.*", "isRegex": true, "isEqual": true}],
            "startsAt": fmt(now),
            "endsAt": fmt(now + time::Duration::hours(1)),
            "createdBy": "test",
            "comment": "maintenance",
        }))
        .send()
        .await
        .expect("post silence");
    assert_eq!(r.status().as_u16(), 200);
    let id = r.json::<serde_json::Value>().await.expect("json")["silenceID"]
        .as_str()
        .expect("id")
        .to_owned();
    s.post_alerts(json!([
        alert(&[("alertname", "Cpu"), ("host", "db1")]),
        alert(&[("alertname", "Cpu"), ("host", "web1")]),
    ]))
    .await;
    let calls = rx.wait_delivered(1, WAIT).await;
    assert_eq!(calls[0].json()["alerts"][0]["labels"]["host"], "web1");
    let (_, list) = s.get("/api/v2/alerts?silenced=false", None).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    let (_, list) = s.get("/api/v2/alerts", None).await;
    let db1 = list
        .as_array()
        .expect("array")
        .iter()
        .find(|a| a["labels"]["host"] == "db1")
        .expect("db1 listed")
        .clone();
    assert_eq!(db1["status"]["state"], "suppressed");
    assert_eq!(db1["status"]["silencedBy"][0], id.as_str());
    rx.stays_at(1, Duration::from_millis(1500)).await;

    let r = s
        .http
        .delete(format!("{}/api/v2/silence/{id}", s.url))
        .send()
        .await
        .expect("expire");
    assert_eq!(r.status().as_u16(), 200);
    let calls = rx.wait_delivered(2, WAIT).await;
    assert_eq!(calls[1].json()["alerts"][0]["labels"]["host"], "db1");
    let (_, sil) = s.get(&format!("/api/v2/silence/{id}"), None).await;
    assert_eq!(sil["status"]["state"], "expired");
    s.stop().await;
}

#[tokio::test]
async fn a_host_that_is_down_inhibits_its_other_alerts() {
    let db = support::sqlite();
    let s = Service::start(support::config(&db.url)).await;
    let rx = Receiver::start().await;
    let mut sub = support::webhook_sub("ops", "", &rx.url);
    sub["group_by"] = json!(["host"]);
    s.subscribe(ALICE, sub).await;
    s.post_alerts(json!([
        alert(&[("alertname", "HostDown"), ("host", "h1")]),
        alert(&[("alertname", "DiskFull"), ("host", "h1")]),
        alert(&[("alertname", "DiskFull"), ("host", "h2")]),
    ]))
    .await;
    let calls = rx.wait_delivered(2, WAIT).await;
    rx.stays_at(2, Duration::from_millis(1500)).await;
    let mut seen: Vec<String> = calls
        .iter()
        .flat_map(|c| {
            c.json()["alerts"]
                .as_array()
                .expect("alerts")
                .iter()
                .map(|a| {
                    format!(
                        "{}@{}",
                        a["labels"]["alertname"].as_str().unwrap_or(""),
                        a["labels"]["host"].as_str().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect();
    seen.sort();
    assert_eq!(seen, ["DiskFull@h2", "HostDown@h1"]);
    let (_, list) = s.get("/api/v2/alerts?inhibited=false", None).await;
    assert_eq!(list.as_array().map(Vec::len), Some(2));
    s.stop().await;
}

#[tokio::test]
async fn severity_matchers_route_to_the_right_people() {
    let db = support::sqlite();
    let s = Service::start(support::config(&db.url)).await;
    let (pager, chat) = (Receiver::start().await, Receiver::start().await);
    s.subscribe(
        ALICE,
        support::webhook_sub("pager", "site=eu,severity>=high", &pager.url),
    )
    .await;
    s.subscribe(
        support::BOB,
        support::webhook_sub("chat", "site=eu", &chat.url),
    )
    .await;
    s.post_alerts(json!([
        alert(&[("alertname", "A"), ("site", "eu"), ("severity", "critical")]),
        alert(&[("alertname", "B"), ("site", "eu"), ("severity", "warning")]),
        alert(&[("alertname", "C"), ("site", "us"), ("severity", "critical")]),
    ]))
    .await;
    let p = pager.wait_delivered(1, WAIT).await;
    chat.wait_delivered(2, WAIT).await;
    pager.stays_at(1, Duration::from_millis(1000)).await;
    assert_eq!(p[0].json()["alerts"][0]["labels"]["alertname"], "A");
    chat.stays_at(2, Duration::ZERO).await;
    s.stop().await;
}
