//! Delivery: signatures, retries on 5xx without duplicates, Retry-After,
//! no retries on 4xx, and the dashboard's live feed.

use std::time::{Duration, Instant};

use futures::StreamExt;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use crate::support::{self, alert, metric, Receiver, Service, ALICE};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn webhooks_are_signed_and_carry_a_stable_delivery_id() {
    let db = support::sqlite();
    let s = Service::start(support::config(&db.url)).await;
    // First answer 500, then 200: the retry must carry the same id.
    let rx = Receiver::scripted(|n| (if n == 0 { 500 } else { 200 }, None)).await;
    s.subscribe(ALICE, support::webhook_sub("ops", "", &rx.url))
        .await;
    s.post_alerts(json!([alert(&[("alertname", "X")])])).await;
    let ok = rx.wait_delivered(1, WAIT).await;
    let calls = rx.calls();
    assert_eq!(calls.len(), 2);
    let id = |c: &support::Call| {
        c.headers["x-hostwatch-delivery"]
            .to_str()
            .expect("ascii")
            .to_owned()
    };
    assert_eq!(id(&calls[0]), id(&calls[1]), "a retry is the same delivery");
    let c = &ok[0];
    let ts = c.headers["x-hostwatch-timestamp"].to_str().expect("ascii");
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"s3cret").expect("key");
    mac.update(format!("{ts}.{}", c.body).as_bytes());
    let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(
        c.headers["x-hostwatch-signature"].to_str().expect("ascii"),
        want
    );
    assert_eq!(c.headers["content-type"], "application/json");
    s.stop().await;
}

/// The case: a receiver failing with 500 for a minute, while
/// Prometheus-style resends and group intervals keep coming, gets exactly
/// one notification per group once it recovers.
#[tokio::test]
async fn a_receiver_down_for_a_minute_gets_exactly_one_delivery_per_group() {
    let db = support::sqlite();
    let s = Service::start(support::config(&db.url)).await;
    let down_until = Instant::now() + Duration::from_secs(60);
    let rx = Receiver::scripted(move |_| {
        (
            if Instant::now() < down_until {
                500
            } else {
                200
            },
            None,
        )
    })
    .await;
    let mut sub = support::webhook_sub("ops", "", &rx.url);
    sub["group_by"] = json!(["host"]);
    s.subscribe(ALICE, sub).await;
    let alerts = json!([
        alert(&[("alertname", "Cpu"), ("host", "h1")]),
        alert(&[("alertname", "Mem"), ("host", "h1")]),
        alert(&[("alertname", "Cpu"), ("host", "h2")]),
    ]);
    // Resend every second for the whole outage, as Prometheus does.
    while Instant::now() < down_until {
        s.post_alerts(alerts.clone()).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let d = rx.wait_delivered(2, Duration::from_secs(15)).await;
    rx.stays_at(2, Duration::from_secs(3)).await;
    let mut hosts: Vec<String> = d
        .iter()
        .map(|c| {
            c.json()["groupLabels"]["host"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    hosts.sort();
    assert_eq!(hosts, ["h1", "h2"], "one delivery per group");
    let failed = rx.calls().iter().filter(|c| c.status == 500).count();
    assert!(
        failed >= 4,
        "it was retried during the outage ({failed} attempts)"
    );
    let m = s.metrics().await;
    assert_eq!(
        metric(
            &m,
            "hostwatch_alerts_deliveries_total{channel=\"webhook\",outcome=\"delivered\"}"
        ),
        2.0
    );
    assert_eq!(metric(&m, "hostwatch_alerts_outbox_pending"), 0.0);
    s.stop().await;
}

#[tokio::test]
async fn retry_after_is_honoured_and_4xx_is_not_retried() {
    let db = support::sqlite();
    let s = Service::start(support::config(&db.url)).await;
    let slow = Receiver::scripted(|n| {
        if n == 0 {
            (429, Some("2".into()))
        } else {
            (200, None)
        }
    })
    .await;
    let gone = Receiver::scripted(|_| (404, None)).await;
    s.subscribe(
        ALICE,
        support::webhook_sub("slow", "alertname=A", &slow.url),
    )
    .await;
    s.subscribe(
        ALICE,
        support::webhook_sub("gone", "alertname=A", &gone.url),
    )
    .await;
    s.post_alerts(json!([alert(&[("alertname", "A")])])).await;
    slow.wait_delivered(1, WAIT).await;
    let calls = slow.calls();
    let gap = calls[1].at - calls[0].at;
    assert!(
        gap >= Duration::from_millis(1900),
        "waited {gap:?} after Retry-After: 2"
    );
    assert_eq!(gone.calls().len(), 1, "a 404 is not retried");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(gone.calls().len(), 1);
    let (_, list) = s.get("/api/v1/deliveries", Some(ALICE)).await;
    let states: Vec<(String, String)> = list
        .as_array()
        .expect("array")
        .iter()
        .map(|d| {
            (
                d["state"].as_str().unwrap_or("").to_owned(),
                d["last_error"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert!(
        states
            .iter()
            .any(|(s, e)| s == "failed" && e.contains("404")),
        "{states:?}"
    );
    assert!(states.iter().any(|(s, _)| s == "delivered"), "{states:?}");
    s.stop().await;
}

#[tokio::test]
async fn the_live_channel_reaches_its_owner_only() {
    let db = support::sqlite();
    let s = Service::start(support::config(&db.url)).await;
    let (st, _) = s
        .subscribe(
            ALICE,
            json!({"name": "screen", "channels": [{"type": "live"}]}),
        )
        .await;
    assert_eq!(st, axum::http::StatusCode::CREATED);
    let connect = |token: &str| {
        let mut req =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                s.url.replace("http://", "ws://") + "/api/v1/alerts/live",
            )
            .expect("request");
        req.headers_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("header"),
        );
        tokio_tungstenite::connect_async(req)
    };
    let (mut alice, _) = connect(ALICE).await.expect("alice connects");
    let (mut bob, _) = connect(support::BOB).await.expect("bob connects");
    s.post_alerts(json!([alert(&[("alertname", "Live")])]))
        .await;
    let msg = tokio::time::timeout(WAIT, alice.next())
        .await
        .expect("a notice in time")
        .expect("open")
        .expect("message");
    let v: serde_json::Value = serde_json::from_str(msg.to_text().expect("text")).expect("json");
    assert_eq!(v["type"], "notification");
    assert_eq!(
        v["notification"]["alerts"][0]["labels"]["alertname"],
        "Live"
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(800), bob.next())
            .await
            .is_err(),
        "bob hears nothing of alice's subscription"
    );
    s.stop().await;
}

#[tokio::test]
async fn slack_and_ntfy_get_their_own_formats() {
    let db = support::sqlite();
    let s = Service::start(support::config(&db.url)).await;
    let (slack, ntfy) = (Receiver::start().await, Receiver::start().await);
    let (st, body) = s
        .subscribe(
            ALICE,
            json!({
                "name": "chat",
                "match": "alertname=DiskFull",
                "channels": [
                    {"type": "slack", "url": slack.url},
                    {"type": "ntfy", "url": ntfy.url, "token": "tk_1"},
                ],
            }),
        )
        .await;
    assert_eq!(st, axum::http::StatusCode::CREATED, "{body}");
    assert_eq!(body["channels"][1]["token"], "<set>");
    s.post_alerts(json!([alert(&[
        ("alertname", "DiskFull"),
        ("host", "db1"),
        ("severity", "critical")
    ])]))
    .await;
    let sl = slack.wait_delivered(1, WAIT).await;
    let text = sl[0].json()["text"]
        .as_str()
        .expect("slack text")
        .to_owned();
    assert!(
        text.contains("[FIRING:1]") && text.contains("DiskFull"),
        "{text}"
    );
    let nt = ntfy.wait_delivered(1, WAIT).await;
    let h = &nt[0].headers;
    assert_eq!(h["priority"], "5", "critical is ntfy's top priority");
    assert_eq!(h["authorization"], "Bearer tk_1");
    assert!(h["title"]
        .to_str()
        .expect("ascii")
        .starts_with("[FIRING:1]"));
    assert!(
        nt[0].body.contains("FIRING DiskFull critical"),
        "{}",
        nt[0].body
    );
    s.stop().await;
}
