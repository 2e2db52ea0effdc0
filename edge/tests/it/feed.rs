//! `/api/v1/events/feed`: a client that comes back after acking part of what
//! it got receives exactly the rest and what came meanwhile, in order and
//! once; the token is checked before the upgrade; no more than `FEED_WINDOW`
//! entries wait unacked, and a client behind the live channel is served from
//! the log without losing any; protocol violations close with 1008.

use std::time::Duration;

use edge::feed::log::FEED_LIVE_CAPACITY;
use edge::feed::FEED_WINDOW;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::support::{events, FakeHub, TestEdge, Ws, WAIT};

/// Long enough for an edge that would send too much to have done so.
const QUIET: Duration = Duration::from_millis(300);

async fn connect(edge: &TestEdge, token: Option<&str>) -> Result<Ws, tungstenite::Error> {
    let mut req = format!("ws://{}/api/v1/events/feed", edge.addr)
        .into_client_request()
        .expect("request");
    if let Some(t) = token {
        let v = format!("Bearer {t}").parse().expect("header");
        req.headers_mut().insert("authorization", v);
    }
    tokio_tungstenite::connect_async(req)
        .await
        .map(|(ws, _)| ws)
}

async fn send(ws: &mut Ws, msg: Value) {
    ws.send(Message::Text(msg.to_string().into()))
        .await
        .expect("send");
}

/// The next text message, as JSON; panics on anything else.
async fn next(ws: &mut Ws) -> Value {
    loop {
        let m = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a feed message in time")
            .expect("feed open")
            .expect("feed message");
        match m {
            Message::Text(t) => return serde_json::from_str(&t).expect("json"),
            Message::Close(c) => panic!("feed closed: {c:?}"),
            _ => {}
        }
    }
}

/// Hello, and the welcome it gets.
async fn hello(ws: &mut Ws, epoch: Option<&str>, after: u64) -> Value {
    send(ws, json!({"type": "hello", "epoch": epoch, "after": after})).await;
    let w = next(ws).await;
    assert_eq!(w["type"], "welcome", "{w}");
    w
}

/// The next `n` entries as (seq, event id), checking each one's shape.
async fn entries(ws: &mut Ws, n: usize) -> Vec<(u64, u64)> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let m = next(ws).await;
        assert_eq!(
            (&m["type"], &m["hub"]),
            (&json!("event"), &json!("hub-a")),
            "{m}"
        );
        let id = m["event"]["id"].as_u64().expect("event id");
        assert_eq!(m["event"]["host"], format!("h{id}"), "{m}");
        out.push((m["seq"].as_u64().expect("seq"), id));
    }
    out
}

/// Seqs `seqs` carrying events `ids`, pairwise.
fn numbered(
    seqs: std::ops::RangeInclusive<u64>,
    ids: std::ops::RangeInclusive<u64>,
) -> Vec<(u64, u64)> {
    seqs.zip(ids).collect()
}

/// True when nothing arrives within `QUIET`.
async fn quiet(ws: &mut Ws) -> bool {
    tokio::time::timeout(QUIET, ws.next()).await.is_err()
}

/// The close frame the edge ends with.
async fn closed_with(ws: &mut Ws) -> (u16, String) {
    loop {
        let m = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a close in time")
            .expect("a close frame before the end")
            .expect("feed message");
        if let Message::Close(c) = m {
            let c = c.expect("a close frame with a code");
            return (u16::from(c.code), c.reason.to_string());
        }
    }
}

#[tokio::test]
async fn a_returning_client_gets_exactly_what_it_had_not_acked_and_what_came_meanwhile() {
    let edge = TestEdge::start(edge::Config::default()).await;
    let mut hub = FakeHub::connect(edge.addr, "hub-a").await;
    hub.send_events(events(1..=10)).await;

    // A client holding nothing gets the whole log, then live entries.
    let mut ws = connect(&edge, None).await.expect("feed");
    let w = hello(&mut ws, None, 0).await;
    assert_eq!(
        (&w["first_seq"], &w["last_seq"], &w["gap"]),
        (&json!(1), &json!(10), &json!(false)),
        "{w}"
    );
    let epoch = w["epoch"].as_str().expect("epoch").to_owned();
    assert_eq!(epoch.len(), 16, "{w}");
    assert_eq!(entries(&mut ws, 10).await, numbered(1..=10, 1..=10));
    hub.send_events(events(11..=15)).await;
    assert_eq!(entries(&mut ws, 5).await, numbered(11..=15, 11..=15));
    // It makes 1..=7 durable and goes away before 8..=15.
    send(&mut ws, json!({"type": "ack", "seq": 7})).await;
    ws.close(None).await.expect("close");
    drop(ws);

    hub.send_events(events(16..=20)).await;
    let mut ws = connect(&edge, None).await.expect("feed again");
    let w = hello(&mut ws, Some(&epoch), 7).await;
    assert_eq!(
        (&w["epoch"], &w["first_seq"], &w["last_seq"], &w["gap"]),
        (&json!(epoch), &json!(1), &json!(20), &json!(false)),
        "{w}"
    );
    assert_eq!(entries(&mut ws, 13).await, numbered(8..=20, 8..=20));
    // The next live entry follows at once: nothing was repeated in between.
    hub.send_events(events(21..=21)).await;
    assert_eq!(entries(&mut ws, 1).await, vec![(21, 21)]);
    // A news item is a change: a repeat of a known event is not one, an
    // update is.
    let mut closed = crate::support::event(21);
    hub.send_events([closed.clone()]).await;
    closed.end_ms = Some(99_000);
    hub.send_events([closed]).await;
    let m = next(&mut ws).await;
    assert_eq!(
        (&m["seq"], &m["event"]["end_ms"]),
        (&json!(22), &json!(99_000)),
        "{m}"
    );
    drop(ws);

    // A position of another epoch (an edge that restarted) means nothing
    // here: the whole log, and not a gap.
    let mut ws = connect(&edge, None).await.expect("feed, stale epoch");
    let w = hello(&mut ws, Some("0000000000000000"), 20).await;
    assert_eq!(
        (&w["first_seq"], &w["last_seq"], &w["gap"]),
        (&json!(1), &json!(22), &json!(false))
    );
    let all = entries(&mut ws, 22).await;
    assert_eq!(
        all.iter().map(|e| e.0).collect::<Vec<_>>(),
        (1..=22).collect::<Vec<_>>()
    );
    drop(ws);

    assert_eq!(edge.metric("hostwatch_edge_feed_gaps_total ").await, 0.0);
    assert_eq!(
        edge.metric("hostwatch_edge_feed_sent_total ").await,
        (10 + 5 + 13 + 1 + 1 + 22) as f64
    );
    edge.stop().await;
}

#[tokio::test]
async fn with_a_feed_token_only_its_bearer_is_let_in() {
    let edge = TestEdge::start(edge::Config {
        feed_token: Some("s3cret".into()),
        ..Default::default()
    })
    .await;
    for token in [None, Some("wrong")] {
        match connect(&edge, token).await {
            Err(tungstenite::Error::Http(r)) => assert_eq!(r.status(), 401, "token {token:?}"),
            Err(e) => panic!("token {token:?}: expected 401, got {e}"),
            Ok(_) => panic!("token {token:?}: let in"),
        }
    }
    assert_eq!(
        edge.metric("hostwatch_edge_feed_errors_total{reason=\"unauthorized\"} ")
            .await,
        2.0
    );
    let mut ws = connect(&edge, Some("s3cret"))
        .await
        .expect("the right token");
    let w = hello(&mut ws, None, 0).await;
    assert_eq!(
        (&w["first_seq"], &w["last_seq"]),
        (&json!(1), &json!(0)),
        "{w}"
    );
    drop(ws);
    edge.stop().await;
}

#[tokio::test]
async fn no_more_than_the_window_waits_unacked_and_a_lagging_client_loses_nothing() {
    let edge = TestEdge::start(edge::Config::default()).await;
    let mut hub = FakeHub::connect(edge.addr, "hub-a").await;
    let mut ws = connect(&edge, None).await.expect("feed");
    hello(&mut ws, None, 0).await;
    // All live: a window's worth goes out, and more than the live channel
    // holds piles up behind it, so the edge must fall back to its log.
    let n = (FEED_WINDOW + FEED_LIVE_CAPACITY + 500) as u64;
    hub.send_events(events(1..=n)).await;

    let first = entries(&mut ws, FEED_WINDOW).await;
    assert_eq!(
        first,
        numbered(1..=FEED_WINDOW as u64, 1..=FEED_WINDOW as u64)
    );
    assert!(
        quiet(&mut ws).await,
        "nothing beyond the window before an ack"
    );
    assert_eq!(
        edge.metric("hostwatch_edge_feed_sent_total ").await,
        FEED_WINDOW as f64
    );

    // Acking 10 lets exactly 10 more out.
    send(&mut ws, json!({"type": "ack", "seq": 10})).await;
    let w = FEED_WINDOW as u64;
    assert_eq!(
        entries(&mut ws, 10).await,
        numbered(w + 1..=w + 10, w + 1..=w + 10)
    );
    assert!(quiet(&mut ws).await, "again nothing beyond the window");

    // Then the rest, acked as it comes, every seq once and in order.
    let mut seq = w + 10;
    while seq < n {
        let step = 250.min(n - seq) as usize;
        send(&mut ws, json!({"type": "ack", "seq": seq})).await;
        let got = entries(&mut ws, step).await;
        let want = numbered(seq + 1..=seq + step as u64, seq + 1..=seq + step as u64);
        assert_eq!(got, want);
        seq += step as u64;
    }
    send(&mut ws, json!({"type": "ack", "seq": n})).await;
    assert!(quiet(&mut ws).await, "nothing after the last entry");
    assert_eq!(edge.metric("hostwatch_edge_feed_gaps_total ").await, 0.0);
    drop(ws);
    edge.stop().await;
}

#[tokio::test]
async fn protocol_violations_close_with_1008_and_say_why() {
    let edge = TestEdge::start(edge::Config::default()).await;
    let mut hub = FakeHub::connect(edge.addr, "hub-a").await;
    hub.send_events(events(1..=3)).await;

    let mut ws = connect(&edge, None).await.expect("feed");
    send(&mut ws, json!({"type": "subscribe"})).await;
    let (code, reason) = closed_with(&mut ws).await;
    assert_eq!(code, u16::from(CloseCode::Policy));
    assert!(
        reason.starts_with("malformed message: unknown variant `subscribe`"),
        "{reason}"
    );

    let mut ws = connect(&edge, None).await.expect("feed");
    send(&mut ws, json!({"type": "ack", "seq": 1})).await;
    assert_eq!(
        closed_with(&mut ws).await,
        (1008, "expected a hello first, got an ack".into())
    );

    let mut ws = connect(&edge, None).await.expect("feed");
    hello(&mut ws, None, 0).await;
    assert_eq!(entries(&mut ws, 3).await, numbered(1..=3, 1..=3));
    send(&mut ws, json!({"type": "ack", "seq": 4})).await;
    assert_eq!(
        closed_with(&mut ws).await,
        (1008, "ack of seq 4, which was not sent".into())
    );

    let mut ws = connect(&edge, None).await.expect("feed");
    hello(&mut ws, None, 0).await;
    send(&mut ws, json!({"type": "hello", "epoch": null, "after": 0})).await;
    assert_eq!(closed_with(&mut ws).await, (1008, "a second hello".into()));

    for (reason, count) in [("malformed", 1.0), ("unexpected", 2.0), ("bad_ack", 1.0)] {
        let line = format!("hostwatch_edge_feed_errors_total{{reason=\"{reason}\"}} ");
        assert_eq!(edge.metric(&line).await, count, "{reason}");
    }
    edge.stop().await;
}
