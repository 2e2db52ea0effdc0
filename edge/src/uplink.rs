//! `/uplink`: the WebSocket hubs connect to. Binary protobuf frames: the hub's
//! hello is checked against the site's credential, answered with the acked seq,
//! then each batch frame is applied once (resends are acked and ignored) and
//! acked. A send task and a receive task run side by side; when one ends the
//! other is aborted.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use common::model::{KeyedRow, SeriesKey};
use futures::{SinkExt, StreamExt};
use prost::Message as _;
use proto::{edge_frame, uplink_frame, EdgeFrame, UplinkFrame};
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::hubs::HubLink;
use crate::Edge;

const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Frames queued towards one hub (acks, requests).
const OUT_CAPACITY: usize = 1024;

pub async fn upgrade(ws: WebSocketUpgrade, State(edge): State<Arc<Edge>>) -> Response {
    let max = edge.config.max_frame_bytes;
    ws.max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| {
            let span = tracing::info_span!("uplink_session");
            session(socket, edge).instrument(span)
        })
}

async fn session(socket: WebSocket, edge: Arc<Edge>) {
    let (mut sink, mut stream) = socket.split();
    let hello = match tokio::time::timeout(HELLO_TIMEOUT, next_frame(&mut stream)).await {
        Ok(Ok(Some((_, uplink_frame::Msg::Hello(h))))) => h,
        _ => {
            edge.metrics.uplink_error("no_hello");
            tracing::warn!("uplink without a valid hello; closing");
            return;
        }
    };
    if let Err(reason) = edge.authorize(&hello) {
        edge.metrics.uplink_error("credentials");
        tracing::warn!(hub = %hello.hub_id, site = %hello.site, reason, "uplink refused");
        let _ = sink.send(Message::Close(None)).await;
        return;
    }
    let hub_id = if hello.hub_id.is_empty() {
        hello.site.clone()
    } else {
        hello.hub_id.clone()
    };
    let acked = edge.fleet.cursor_for(&hub_id, hello.epoch);
    let welcome = EdgeFrame {
        msg: Some(edge_frame::Msg::Welcome(proto::EdgeWelcome {
            acked_seq: acked,
        })),
    };
    if sink
        .send(Message::Binary(welcome.encode_to_vec().into()))
        .await
        .is_err()
    {
        return;
    }
    tracing::info!(hub = %hub_id, site = %hello.site, acked, "hub connected");

    let (tx, mut rx) = mpsc::channel::<EdgeFrame>(OUT_CAPACITY);
    let link = HubLink::new(edge.hubs.next_id(), tx.clone());
    edge.hubs.register(&hub_id, link.clone());
    edge.metrics.hubs_connected.set(edge.hubs.count() as f64);

    let mut send_task = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            if sink
                .send(Message::Binary(frame.encode_to_vec().into()))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    let recv_edge = edge.clone();
    let recv_hub = hub_id.clone();
    let recv_link = link.clone();
    let mut recv_task = tokio::spawn(async move {
        let mut symbols: HashMap<u32, (String, Arc<SeriesKey>)> = HashMap::new();
        loop {
            let (seq, msg) = match next_frame(&mut stream).await {
                Ok(Some(m)) => m,
                Ok(None) => return,
                Err(e) => {
                    recv_edge.metrics.uplink_error("bad_frame");
                    tracing::warn!(hub = %recv_hub, error = %e, "bad uplink frame; closing");
                    return;
                }
            };
            match msg {
                uplink_frame::Msg::Batch(b) => {
                    match apply_batch(&recv_edge, &recv_hub, seq, b, &mut symbols) {
                        Ok(()) => {}
                        Err(e) => {
                            recv_edge.metrics.uplink_error("bad_batch");
                            tracing::warn!(hub = %recv_hub, seq, error = %e, "bad uplink batch; closing");
                            return;
                        }
                    }
                    let ack = EdgeFrame {
                        msg: Some(edge_frame::Msg::Ack(proto::UplinkAck { seq })),
                    };
                    if tx.send(ack).await.is_err() {
                        return;
                    }
                }
                uplink_frame::Msg::HostStatus(st) => {
                    recv_edge
                        .fleet
                        .set_status(&recv_hub, common::convert::status_from_proto(&st));
                }
                uplink_frame::Msg::Response(r) => recv_link.resolve(r),
                uplink_frame::Msg::Event(ev) => {
                    recv_edge
                        .fleet
                        .apply_event(&recv_hub, common::convert::event_from_proto(&ev));
                }
                uplink_frame::Msg::Hello(_) => {
                    recv_edge.metrics.uplink_error("second_hello");
                    return;
                }
            }
        }
    });
    tokio::select! {
        _ = &mut send_task => recv_task.abort(),
        _ = &mut recv_task => send_task.abort(),
    }
    edge.hubs.unregister(&hub_id, link.session);
    edge.metrics.hubs_connected.set(edge.hubs.count() as f64);
    tracing::info!(hub = %hub_id, "hub disconnected");
}

/// Decodes a batch against the connection's symbol table, then applies it once.
fn apply_batch(
    edge: &Edge,
    hub_id: &str,
    seq: u64,
    batch: proto::UplinkBatch,
    symbols: &mut HashMap<u32, (String, Arc<SeriesKey>)>,
) -> Result<(), String> {
    // Definitions are per connection, so they are learned even from a resend.
    for d in batch.new_series {
        let key = SeriesKey {
            name: d.name,
            labels: common::convert::labels_from_proto(&d.labels),
        };
        symbols.insert(d.id, (d.host, Arc::new(key)));
    }
    let mut by_host: HashMap<&str, Vec<KeyedRow>> = HashMap::new();
    for r in &batch.rows {
        let (host, key) = symbols
            .get(&r.series_id)
            .ok_or_else(|| format!("row refers to undefined series {}", r.series_id))?;
        if !r.value.is_finite() {
            return Err(format!("non-finite value for {}", key.name));
        }
        by_host
            .entry(host.as_str())
            .or_default()
            .push((key.clone(), r.timestamp_ms, r.value));
    }
    if seq == 0 || !edge.fleet.advance(hub_id, seq) {
        edge.metrics.frames_duplicate.inc();
        return Ok(());
    }
    edge.metrics.frames_applied.inc();
    edge.metrics.rows_received.add(batch.rows.len() as u64);
    for (host, rows) in by_host {
        edge.fleet.apply(hub_id, host, &rows);
    }
    Ok(())
}

/// Reads the next hub frame as (seq, message); `Ok(None)` when the socket closed.
async fn next_frame<S>(stream: &mut S) -> Result<Option<(u64, uplink_frame::Msg)>, String>
where
    S: futures::Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    loop {
        match stream.next().await {
            None => return Ok(None),
            Some(Err(e)) => return Err(e.to_string()),
            Some(Ok(Message::Binary(b))) => {
                let f = UplinkFrame::decode(b.as_ref())
                    .map_err(|e| format!("undecodable frame: {e}"))?;
                if let Some(m) = f.msg {
                    return Ok(Some((f.seq, m)));
                }
            }
            Some(Ok(Message::Close(_))) => return Ok(None),
            Some(Ok(_)) => {}
        }
    }
}
