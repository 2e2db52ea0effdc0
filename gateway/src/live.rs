//! `GET /api/v1/live`: WebSocket of JSON messages. First a snapshot of every
//! host, then one `host` message each time a host's new data is stored, and an
//! `event` message each time an anomaly event opens, worsens or closes. A
//! client may narrow it with `{"type":"subscribe","hosts":[..],"sites":[..]}`
//! (empty lists = everything). No polling anywhere.

use std::collections::HashSet;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
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
    let mut rx = app.source.subscribe();
    let mut events = app.source.subscribe_events();
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
        let text =
            serde_json::to_string(&Outgoing::Snapshot { hosts: &snapshot }).unwrap_or_default();
        if sink.send(Message::Text(text.into())).await.is_err() {
            return;
        }
        loop {
            let text = tokio::select! {
                h = rx.recv() => match h {
                    Ok(h) if filter_rx.borrow().wants(&h.host, &h.site) => {
                        serde_json::to_string(&Outgoing::Host { host: &h }).unwrap_or_default()
                    }
                    Ok(_) => continue,
                    // A slow browser skips updates; each carries the host's full state.
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::debug!(skipped = n, "live client lagging");
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                e = events.recv() => match e {
                    Ok(e) if filter_rx.borrow().wants(&e.host, &e.site) => {
                        serde_json::to_string(&Outgoing::Event { event: &e }).unwrap_or_default()
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            };
            if sink.send(Message::Text(text.into())).await.is_err() {
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
