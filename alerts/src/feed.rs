//! The edge's anomaly-event feed (`/api/v1/events/feed`) turned into alerts.
//! Our position (the edge's epoch and the last seq stored) is written in the
//! transaction that stores the alerts, and only then acked, so a restart of
//! this service resumes exactly after what it holds: nothing lost, nothing
//! applied twice (a replayed event only re-states what it already said).

use std::time::Duration;

use common::backoff::Backoff;
use common::model::AnomalyEvent;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::engine::EngineHandle;
use crate::error::{Error, Result};
use crate::metrics::AlertMetrics;
use crate::model::{Alert, LabelSet, Origin, ALERTNAME, SEVERITY};
use crate::store::{Cursor, Store};

/// The feed cursor's key in `feed_cursor`.
pub const SOURCE: &str = "edge";
/// The alert name of detection events.
pub const ANOMALY: &str = "Anomaly";
/// Events stored per transaction while catching up.
const BATCH: usize = 500;
/// The edge must say welcome within this.
const WELCOME_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum FromEdge {
    Welcome {
        epoch: String,
        #[serde(default)]
        gap: bool,
        #[serde(default)]
        first_seq: u64,
        #[serde(default)]
        last_seq: u64,
    },
    Event {
        seq: u64,
        #[serde(default)]
        hub: String,
        event: Box<AnomalyEvent>,
    },
}

/// The feed URL of an edge given as `http(s)://host:port` or `ws(s)://…`.
pub fn feed_url(edge_url: &str) -> String {
    let base = edge_url.trim_end_matches('/');
    let base = if let Some(r) = base.strip_prefix("http://") {
        format!("ws://{r}")
    } else if let Some(r) = base.strip_prefix("https://") {
        format!("wss://{r}")
    } else {
        base.to_owned()
    };
    if base.ends_with("/api/v1/events/feed") {
        base
    } else {
        format!("{base}/api/v1/events/feed")
    }
}

/// Labels that an event's own series labels may not overwrite.
const RESERVED: [&str; 5] = [ALERTNAME, SEVERITY, "host", "site", "metric"];

/// One detection event as an alert: `alertname="Anomaly"`, host, site,
/// `metric` (the series name), the series' labels, and its severity; the
/// evidence goes in annotations.
pub fn to_alert(hub: &str, ev: &AnomalyEvent) -> Alert {
    let mut labels = LabelSet::new();
    labels.insert(ALERTNAME.into(), ANOMALY.into());
    labels.insert("host".into(), ev.host.clone());
    labels.insert("site".into(), ev.site.clone());
    labels.insert("metric".into(), ev.name.clone());
    for (k, v) in ev.labels.iter() {
        let key = if RESERVED.contains(&k.as_str()) {
            format!("series_{k}")
        } else {
            k.clone()
        };
        labels.insert(key, v.clone());
    }
    labels.insert(SEVERITY.into(), ev.severity.clone());
    labels.retain(|_, v| !v.is_empty());
    let mut a = Alert::new(labels, Origin::Detection, ev.last_ms.max(ev.start_ms));
    let expected = ev
        .expected
        .map(|e| format!(" (expected {})", fmt_value(e)))
        .unwrap_or_default();
    a.annotations.insert(
        "summary".into(),
        format!(
            "{} on {} is {}{expected}",
            ev.name,
            ev.host,
            fmt_value(ev.actual)
        ),
    );
    if !ev.evidence.is_empty() {
        a.annotations
            .insert("description".into(), ev.evidence.join("; "));
    }
    a.annotations
        .insert("score".into(), format!("{:.2}", ev.score));
    a.annotations
        .insert("event_id".into(), format!("{hub}/{}", ev.id));
    if !ev.top_processes.is_empty() {
        let top: Vec<String> = ev
            .top_processes
            .iter()
            .take(5)
            .map(|p| {
                format!(
                    "{} (pid {}, cpu {:.0}%)",
                    p.name,
                    p.pid,
                    p.cpu_utilization * 100.0
                )
            })
            .collect();
        a.annotations.insert("top_processes".into(), top.join(", "));
    }
    a.starts_at_ms = ev.start_ms;
    a.ends_at_ms = ev.end_ms;
    a
}

fn fmt_value(v: f64) -> String {
    if v.abs() >= 1000.0 || v == v.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

/// Follows the feed until `shutdown`, reconnecting with backoff.
pub async fn run(
    edge_url: String,
    token: Option<String>,
    engine: EngineHandle,
    store: Store,
    metrics: AlertMetrics,
    shutdown: CancellationToken,
) {
    let url = feed_url(&edge_url);
    let mut backoff = Backoff::new(Backoff::DEFAULT_BASE, Backoff::DEFAULT_CAP);
    loop {
        let session = follow(
            &url,
            token.as_deref(),
            &engine,
            &store,
            &metrics,
            &mut backoff,
        );
        let r = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = session => r,
        };
        metrics.feed_connected.set(0.0);
        if let Err(e) = r {
            tracing::warn!(%url, error = %e, "edge event feed lost; reconnecting");
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(backoff.next_delay()) => {}
        }
    }
    tracing::info!("event feed stopped");
}

async fn follow(
    url: &str,
    token: Option<&str>,
    engine: &EngineHandle,
    store: &Store,
    metrics: &AlertMetrics,
    backoff: &mut Backoff,
) -> Result<()> {
    let feed_err = |what: &str, e: &dyn std::fmt::Display| Error::Server(format!("{what}: {e}"));
    let mut request = url
        .into_client_request()
        .map_err(|e| feed_err("feed url", &e))?;
    if let Some(t) = token {
        let v = format!("Bearer {t}")
            .parse()
            .map_err(|e| feed_err("edge_token", &e))?;
        request.headers_mut().insert("authorization", v);
    }
    let (ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| feed_err("connecting", &e))?;
    let (mut tx, mut rx) = ws.split();
    let cursor = store.cursor(SOURCE).await?;
    let hello = serde_json::json!({
        "type": "hello",
        "epoch": cursor.as_ref().map(|c| c.epoch.clone()),
        "after": cursor.as_ref().map_or(0, |c| c.seq),
    });
    tx.send(Message::Text(hello.to_string().into()))
        .await
        .map_err(|e| feed_err("sending hello", &e))?;
    let epoch = match tokio::time::timeout(WELCOME_TIMEOUT, next_message(&mut rx)).await {
        Err(_) => return Err(Error::Server("no welcome from the edge".into())),
        Ok(Some(FromEdge::Welcome {
            epoch,
            gap,
            first_seq,
            last_seq,
        })) => {
            if gap {
                metrics.feed_gaps.inc();
                tracing::warn!(
                    first_seq,
                    "the edge no longer holds every event since our position; some may be missing"
                );
            }
            tracing::info!(%epoch, first_seq, last_seq, after = ?cursor.map(|c| c.seq), "edge event feed connected");
            epoch
        }
        Ok(Some(other)) => return Err(Error::Server(format!("expected welcome, got {other:?}"))),
        Ok(None) => return Err(Error::Server("feed closed before welcome".into())),
    };
    metrics.feed_connected.set(1.0);
    backoff.reset();
    loop {
        let Some(first) = next_message(&mut rx).await else {
            return Err(Error::Server("feed closed".into()));
        };
        // Take whatever else is already here, to store it in one transaction.
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match futures::FutureExt::now_or_never(next_message(&mut rx)) {
                Some(Some(m)) => batch.push(m),
                Some(None) => break,
                None => break,
            }
        }
        let mut alerts = Vec::with_capacity(batch.len());
        let mut last = None;
        for m in batch {
            match m {
                FromEdge::Event { seq, hub, event } => {
                    alerts.push(to_alert(&hub, &event));
                    last = Some(seq);
                }
                FromEdge::Welcome { .. } => {
                    return Err(Error::Server("a second welcome".into()));
                }
            }
        }
        let Some(seq) = last else { continue };
        let n = alerts.len();
        engine
            .ingest(
                alerts,
                Some((
                    SOURCE.to_owned(),
                    Cursor {
                        epoch: epoch.clone(),
                        seq,
                    },
                )),
            )
            .await?;
        metrics.feed_events.add(n as u64);
        let ack = serde_json::json!({ "type": "ack", "seq": seq });
        tx.send(Message::Text(ack.to_string().into()))
            .await
            .map_err(|e| feed_err("sending ack", &e))?;
    }
}

/// The next protocol message; `None` when the socket ended. Pings are
/// answered by tungstenite itself; malformed text ends the session.
async fn next_message<S>(rx: &mut S) -> Option<FromEdge>
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match rx.next().await? {
            Ok(Message::Text(t)) => match serde_json::from_str::<FromEdge>(&t) {
                Ok(m) => return Some(m),
                Err(e) => {
                    tracing::warn!(error = %e, "unreadable message on the event feed");
                    return None;
                }
            },
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_urls() {
        assert_eq!(feed_url("http://e:8080"), "ws://e:8080/api/v1/events/feed");
        assert_eq!(feed_url("https://e/"), "wss://e/api/v1/events/feed");
        assert_eq!(
            feed_url("ws://e/api/v1/events/feed"),
            "ws://e/api/v1/events/feed"
        );
    }

    #[test]
    fn an_event_becomes_one_alert_whatever_its_severity() {
        let mut ev = AnomalyEvent {
            id: 7,
            host: "db1".into(),
            site: "eu".into(),
            name: "system.cpu.utilization".into(),
            labels: Default::default(),
            start_ms: 1_000,
            last_ms: 2_000,
            end_ms: None,
            severity: "medium".into(),
            score: 0.91,
            actual: 0.97,
            expected: Some(0.35),
            evidence: vec!["level 3.1σ above".into()],
            top_processes: Vec::new(),
        };
        let a = to_alert("hub-a", &ev);
        assert_eq!(
            a.labels.get("alertname").map(String::as_str),
            Some("Anomaly")
        );
        assert_eq!(a.labels.get("severity").map(String::as_str), Some("medium"));
        assert_eq!(
            a.annotations.get("summary").map(String::as_str),
            Some("system.cpu.utilization on db1 is 0.970 (expected 0.350)")
        );
        ev.severity = "critical".into();
        ev.last_ms = 3_000;
        ev.end_ms = Some(3_000);
        let b = to_alert("hub-a", &ev);
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_eq!((b.starts_at_ms, b.ends_at_ms), (1_000, Some(3_000)));
    }
}
