//! `GET /api/v1/live`: WebSocket of JSON messages. First a snapshot of every
//! host, then one `host` message each time a host's new data is stored, and an
//! `event` message each time an anomaly event opens, worsens or closes. A
//! client may narrow it with `{"type":"subscribe","hosts":[..],"sites":[..]}`
//! (empty lists = everything). No polling anywhere.
//!
//! Each update is serialized once, by one [`Fanout`] task, and the same bytes
//! go to every client that wants it: with a thousand dashboards open, per-client
//! serialization would be a thousand times the work for identical text.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use common::model::{AnomalyEvent, HostStatus};
use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};

use crate::AppState;

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Outgoing<'a> {
    Snapshot { hosts: &'a [HostStatus] },
    Host { host: &'a HostStatus },
    Event { event: &'a AnomalyEvent },
}

/// Updates kept for clients that fall behind before they skip some (each
/// host update carries the host's full state, so skipping loses nothing lasting).
const FANOUT_CAPACITY: usize = 4096;

/// One update, serialized, with what clients filter it by.
#[derive(Debug)]
pub struct Encoded {
    host: String,
    site: String,
    text: Utf8Bytes,
}

/// The one task that turns the source's updates into [`Encoded`] messages,
/// started by the first live client (inside the runtime, whoever built the
/// router) and shared by all.
#[derive(Default)]
pub struct Fanout {
    tx: OnceLock<broadcast::Sender<Arc<Encoded>>>,
}

impl Fanout {
    fn subscribe(&self, source: &Arc<dyn crate::DataSource>) -> broadcast::Receiver<Arc<Encoded>> {
        self.tx
            .get_or_init(|| {
                let (tx, _) = broadcast::channel(FANOUT_CAPACITY);
                tokio::spawn(encode(
                    source.subscribe(),
                    source.subscribe_events(),
                    tx.clone(),
                ));
                tx
            })
            .subscribe()
    }
}

async fn encode(
    mut hosts: broadcast::Receiver<HostStatus>,
    mut events: broadcast::Receiver<AnomalyEvent>,
    tx: broadcast::Sender<Arc<Encoded>>,
) {
    loop {
        let encoded = tokio::select! {
            h = hosts.recv() => match h {
                Ok(h) => Encoded {
                    text: to_text(&Outgoing::Host { host: &h }),
                    host: h.host,
                    site: h.site,
                },
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::debug!(skipped = n, "live fan-out lagging behind host updates");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            e = events.recv() => match e {
                Ok(e) => Encoded {
                    text: to_text(&Outgoing::Event { event: &e }),
                    host: e.host,
                    site: e.site,
                },
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            },
        };
        // No receiver right now is fine: the next client subscribes anew.
        let _ = tx.send(Arc::new(encoded));
    }
}

fn to_text(m: &Outgoing<'_>) -> Utf8Bytes {
    serde_json::to_string(m).unwrap_or_default().into()
}

#[derive(Deserialize, Default, Debug, Clone)]
struct Filter {
    #[serde(default)]
    hosts: HashSet<String>,
    #[serde(default)]
    sites: HashSet<String>,
}

impl Filter {
    fn wants(&self, host: &str, site: &str) -> bool {
        (self.hosts.is_empty() || self.hosts.contains(host))
            && (self.sites.is_empty() || self.sites.contains(site))
    }
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Incoming {
    Subscribe(Filter),
}

pub async fn upgrade(ws: WebSocketUpgrade, State(app): State<Arc<AppState>>) -> Response {
    ws.on_upgrade(move |socket| session(socket, app))
}

async fn session(socket: WebSocket, app: Arc<AppState>) {
    app.metrics.live_clients.add(1.0);
    // Subscribe before the snapshot so no update falls between the two.
    let mut rx = app.live.subscribe(&app.source);
    let (mut sink, mut stream) = socket.split();
    let (filter_tx, filter_rx) = watch::channel(Filter::default());

    let snapshot = match app.source.hosts().await {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(error = %e, "live: cannot load snapshot");
            Vec::new()
        }
    };
    let mut send_task = tokio::spawn(async move {
        if sink
            .send(Message::Text(to_text(&Outgoing::Snapshot {
                hosts: &snapshot,
            })))
            .await
            .is_err()
        {
            return;
        }
        loop {
            let update = match rx.recv().await {
                Ok(u) => u,
                // A slow browser skips updates; each carries the host's full state.
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::debug!(skipped = n, "live client lagging");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            if !filter_rx.borrow().wants(&update.host, &update.site) {
                continue;
            }
            // Queue what is already waiting and flush once: one write for a
            // burst of updates instead of one per update.
            if sink.feed(Message::Text(update.text.clone())).await.is_err() {
                return;
            }
            while let Ok(u) = rx.try_recv() {
                if filter_rx.borrow().wants(&u.host, &u.site)
                    && sink.feed(Message::Text(u.text.clone())).await.is_err()
                {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    });
    let mut recv_task = tokio::spawn(async move {
        while let Some(Ok(msg)) = stream.next().await {
            match msg {
                Message::Text(t) => match serde_json::from_str::<Incoming>(&t) {
                    Ok(Incoming::Subscribe(f)) => {
                        let _ = filter_tx.send(f);
                    }
                    Err(e) => tracing::debug!(error = %e, "live: ignoring unknown client message"),
                },
                Message::Close(_) => break,
                _ => {}
            }
        }
    });
    tokio::select! {
        _ = &mut send_task => recv_task.abort(),
        _ = &mut recv_task => send_task.abort(),
    }
    app.metrics.live_clients.add(-1.0);
}
