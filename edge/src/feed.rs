//! `GET /api/v1/events/feed`: anomaly-event news for the alert service,
//! numbered so that none is lost when the service restarts. A WebSocket of
//! JSON text messages:
//!
//! - client → edge, first: `{"type":"hello","epoch":"<epoch>"|null,"after":N}`
//! - edge → client: `{"type":"welcome","epoch":"<edge epoch>","first_seq":F,"last_seq":L,"gap":bool}`
//! - edge → client, per entry: `{"type":"event","seq":N,"hub":"<hub id>","event":{…}}`:
//!   first the replay (entries after the client's position, or the whole log
//!   when the position is of another epoch — see [`replay`]), then live ones
//! - client → edge: `{"type":"ack","seq":N}` once everything up to N is
//!   durable; at most [`FEED_WINDOW`] entries are sent and not yet acked.
//!
//! Anything else from the client closes the socket (code 1008, the reason
//! in the close frame). The log is `feed/log.rs` (owned by the `Fleet`); one
//! connection is `feed/session.rs`.

pub mod log;
mod session;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use common::model::AnomalyEvent;
use serde::{Deserialize, Serialize};
use tracing::Instrument;

use crate::Edge;
use log::Bounds;

/// News items the edge keeps for clients that come back.
pub const FEED_LOG_KEPT: usize = 20_000;
/// Entries sent and not yet acknowledged, per connection; beyond it the edge
/// waits for acks.
pub const FEED_WINDOW: usize = 1000;
/// The hello must arrive within this.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Client messages are a few dozen bytes; anything far larger is refused.
const MAX_CLIENT_MESSAGE: usize = 64 * 1024;

/// A message from the client.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum FromClient {
    /// Where the client stands: the epoch and last seq it made durable, or a
    /// null epoch when it holds nothing yet.
    Hello {
        #[serde(default)]
        epoch: Option<String>,
        #[serde(default)]
        after: u64,
    },
    /// Everything up to `seq` is durable at the client.
    Ack { seq: u64 },
}

/// A message to the client.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ToClient<'a> {
    Welcome {
        epoch: &'a str,
        first_seq: u64,
        last_seq: u64,
        gap: bool,
    },
    Event {
        seq: u64,
        hub: &'a str,
        event: &'a AnomalyEvent,
    },
}

/// Reads one client message; the error is what to tell the client.
pub fn parse(text: &str) -> Result<FromClient, String> {
    serde_json::from_str(text).map_err(|e| format!("malformed message: {e}"))
}

/// What a hello gets: every entry of the log from `from` on, and whether
/// entries the client has not seen were lost (`gap`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replay {
    pub from: u64,
    pub gap: bool,
}

/// Where a client that says it holds `after` of `epoch` resumes, given the
/// log's bounds. Its own epoch, with nothing missing from the log: just after
/// its position. Another epoch or none (the edge restarted, or the client is
/// new): the whole log, which is not a gap — the seqs it holds mean nothing
/// here. Its own epoch but entries after its position gone from the log: the
/// whole log, a gap. A position beyond the newest seq cannot be of this epoch,
/// so it is treated like another epoch rather than skipping news.
pub fn replay(edge_epoch: &str, log: Bounds, epoch: Option<&str>, after: u64) -> Replay {
    let whole = Replay {
        from: log.first_seq,
        gap: false,
    };
    if epoch != Some(edge_epoch) || after > log.last_seq {
        return whole;
    }
    if after.saturating_add(1) >= log.first_seq {
        Replay {
            from: after + 1,
            gap: false,
        }
    } else {
        Replay { gap: true, ..whole }
    }
}

/// Whether `authorization` is `Bearer <expected>`. With no token configured
/// anyone may connect (warned about at start-up).
pub fn authorized(expected: Option<&str>, authorization: Option<&HeaderValue>) -> bool {
    let Some(expected) = expected else {
        return true;
    };
    let Some((scheme, token)) = authorization
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
    else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer")
        && crate::constant_time_eq(token.trim_start().as_bytes(), expected.as_bytes())
}

pub async fn upgrade(
    State(edge): State<Arc<Edge>>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    // Checked before the upgrade, so a refused client gets a plain 401.
    if !authorized(
        edge.config.feed_token.as_deref(),
        headers.get(header::AUTHORIZATION),
    ) {
        edge.metrics.feed_error("unauthorized");
        tracing::warn!("event feed refused: missing or wrong bearer token");
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a valid feed token is required\n",
        )
            .into_response();
    }
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    ws.max_message_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| {
            let span = tracing::info_span!("feed_session");
            session::session(socket, edge).instrument(span)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPOCH: &str = "00c0ffee00c0ffee";

    /// The seqs a hello is sent from a log holding `first..=last`, and
    /// whether that is a gap.
    fn check(log: (u64, u64), epoch: Option<&str>, after: u64, seqs: &[u64], gap: bool) {
        let bounds = Bounds {
            first_seq: log.0,
            last_seq: log.1,
        };
        let r = replay(EPOCH, bounds, epoch, after);
        let sent: Vec<u64> = (r.from..=bounds.last_seq).collect();
        assert_eq!(
            (sent.as_slice(), r.gap),
            (seqs, gap),
            "log {log:?}, epoch {epoch:?}, after {after}"
        );
    }

    #[test]
    fn replay_decisions() {
        let ours = Some(EPOCH);
        let other = Some("another");
        // A new client, or one of another epoch: the whole log, no gap.
        check((1, 5), None, 0, &[1, 2, 3, 4, 5], false);
        check((3, 5), None, 4, &[3, 4, 5], false);
        check((3, 5), other, 4, &[3, 4, 5], false);
        check((1, 0), None, 0, &[], false);
        // Our epoch: just what came after the client's position.
        check((1, 5), ours, 2, &[3, 4, 5], false);
        check((1, 5), ours, 5, &[], false);
        check((1, 5), ours, 0, &[1, 2, 3, 4, 5], false);
        check((1, 0), ours, 0, &[], false);
        check((3, 5), ours, 2, &[3, 4, 5], false);
        // Our epoch, but what followed the position has left the log.
        check((3, 5), ours, 1, &[3, 4, 5], true);
        check((4, 5), ours, 0, &[4, 5], true);
        // Ahead of the newest seq: not a position of this epoch.
        check((1, 5), ours, 9, &[1, 2, 3, 4, 5], false);
        check((1, 5), ours, u64::MAX, &[1, 2, 3, 4, 5], false);
    }

    #[test]
    fn client_messages() {
        assert_eq!(
            parse(r#"{"type":"hello","epoch":null,"after":0}"#),
            Ok(FromClient::Hello {
                epoch: None,
                after: 0
            })
        );
        assert_eq!(
            parse(r#"{"type":"hello","epoch":"ab","after":7}"#),
            Ok(FromClient::Hello {
                epoch: Some("ab".into()),
                after: 7
            })
        );
        assert_eq!(
            parse(r#"{"type":"ack","seq":12}"#),
            Ok(FromClient::Ack { seq: 12 })
        );
        for bad in [
            r#"{"type":"subscribe"}"#,
            r#"{"type":"ack"}"#,
            r#"{"type":"ack","seq":-1}"#,
            r#"{"seq":1}"#,
            "ack 1",
        ] {
            let e = parse(bad).expect_err(bad);
            assert!(e.starts_with("malformed message: "), "{bad}: {e}");
        }
    }

    #[test]
    fn edge_messages_are_the_documented_json() {
        let welcome = ToClient::Welcome {
            epoch: EPOCH,
            first_seq: 3,
            last_seq: 9,
            gap: true,
        };
        assert_eq!(
            serde_json::to_value(&welcome).expect("json"),
            serde_json::json!({"type":"welcome","epoch":EPOCH,"first_seq":3,"last_seq":9,"gap":true})
        );
        let event = AnomalyEvent {
            id: 4,
            host: "db1".into(),
            site: "eu".into(),
            name: "system.cpu.utilization".into(),
            labels: Default::default(),
            start_ms: 1,
            last_ms: 2,
            end_ms: None,
            severity: "high".into(),
            score: 0.5,
            actual: 0.9,
            expected: Some(0.2),
            evidence: vec!["level".into()],
            top_processes: Vec::new(),
        };
        let msg = ToClient::Event {
            seq: 10,
            hub: "hub-a",
            event: &event,
        };
        assert_eq!(
            serde_json::to_value(&msg).expect("json"),
            serde_json::json!({
                "type": "event",
                "seq": 10,
                "hub": "hub-a",
                "event": serde_json::to_value(&event).expect("json"),
            })
        );
    }

    #[test]
    fn bearer_tokens() {
        let h = |v: &str| HeaderValue::from_str(v).expect("header");
        assert!(authorized(None, None), "no token configured: open");
        assert!(authorized(Some("s3cret"), Some(&h("Bearer s3cret"))));
        assert!(authorized(Some("s3cret"), Some(&h("bearer s3cret"))));
        assert!(!authorized(Some("s3cret"), None));
        assert!(!authorized(Some("s3cret"), Some(&h("Bearer s3cre"))));
        assert!(!authorized(Some("s3cret"), Some(&h("Bearer s3cretX"))));
        assert!(!authorized(Some("s3cret"), Some(&h("Basic s3cret"))));
        assert!(!authorized(Some("s3cret"), Some(&h("s3cret"))));
    }
}
