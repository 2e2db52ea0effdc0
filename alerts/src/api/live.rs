//! `/api/v1/alerts/live`: the dashboard's live feed. Every notification of a
//! subscription with a `live` channel reaches its owner's open sockets as
//! `{"type":"notification","subscription":ID,"notification":{…}}`.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use tokio::sync::broadcast::error::RecvError;

use super::ApiState;
use crate::error::Result;

#[derive(Debug, serde::Deserialize)]
pub struct TokenParam {
    /// Browsers cannot set headers on a WebSocket: they send the token here.
    #[serde(default)]
    token: Option<String>,
}

pub async fn upgrade(
    State(s): State<ApiState>,
    mut headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<TokenParam>,
    ws: WebSocketUpgrade,
) -> Result<Response> {
    if let Some(t) = q.token.filter(|t| !t.is_empty()) {
        if let Ok(v) = format!("Bearer {t}").parse() {
            headers.insert(axum::http::header::AUTHORIZATION, v);
        }
    }
    let caller = s.caller(&headers)?;
    let rx = s.live.subscribe();
    Ok(ws.on_upgrade(move |socket| serve(socket, rx, caller)))
}

async fn serve(
    mut socket: WebSocket,
    mut rx: tokio::sync::broadcast::Receiver<crate::deliver::LiveNotice>,
    caller: super::Caller,
) {
    loop {
        tokio::select! {
            notice = rx.recv() => match notice {
                Ok(n) if caller.admin || n.owner == caller.name => {
                    let msg = serde_json::json!({
                        "type": "notification",
                        "subscription": n.subscription,
                        "notification": n.notification,
                    });
                    if socket.send(Message::Text(msg.to_string().into())).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(RecvError::Lagged(n)) => {
                    let msg = serde_json::json!({ "type": "lagged", "missed": n });
                    if socket.send(Message::Text(msg.to_string().into())).await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
