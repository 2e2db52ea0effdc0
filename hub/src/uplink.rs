//! The uplink to the edge: a WebSocket client that sends stored rows from the
//! [`Outbox`] with the seq/ack scheme, resends whatever the edge has not acked
//! after a reconnect, and answers the edge's requests (history ranges) down the
//! same socket so a hub behind NAT needs no inbound port.

pub mod outbox;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::backoff::Backoff;
use common::model::SeriesKey;
use futures::{SinkExt, StreamExt};
use prost::Message as _;
use proto::{edge_frame, uplink_frame, EdgeFrame, UplinkFrame};
use tokio::sync::{mpsc, Semaphore};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use outbox::Outbox;

use crate::Ctx;

/// Frames sent but not yet acked before the hub waits for the edge.
const WINDOW: u64 = 256;
const WELCOME_TIMEOUT: Duration = Duration::from_secs(10);
/// How often host status (site, facts, counters) is re-sent.
const STATUS_EVERY: Duration = Duration::from_secs(10);
/// Edge requests answered at once; more wait.
const MAX_CONCURRENT_REQUESTS: usize = 8;
const RESPONSE_CAPACITY: usize = 16;

pub async fn run(ctx: Arc<Ctx>, outbox: Arc<Outbox>, token: CancellationToken) {
    let url = ctx.config.uplink.edge_url.clone();
    let mut backoff = Backoff::default();
    while !token.is_cancelled() {
        let connect = tokio::select! {
            _ = token.cancelled() => break,
            c = tokio_tungstenite::connect_async(url.as_str()) => c,
        };
        match connect {
            Ok((ws, _)) => {
                ctx.metrics.uplink_connects.inc();
                ctx.metrics.uplink_connected.set(1.0);
                tracing::info!(%url, "uplink connected");
                match session(&ctx, &outbox, ws, &token, &mut backoff).await {
                    Ok(()) => tracing::info!("uplink closed"),
                    Err(e) => tracing::warn!(error = %e, "uplink session ended"),
                }
                ctx.metrics.uplink_connected.set(0.0);
            }
            Err(e) => tracing::warn!(%url, error = %e, "uplink connect failed"),
        }
        let delay = backoff.next_delay();
        tokio::select! {
            _ = token.cancelled() => break,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn session(
    ctx: &Arc<Ctx>,
    outbox: &Outbox,
    ws: Ws,
    token: &CancellationToken,
    backoff: &mut Backoff,
) -> Result<(), String> {
    let (mut sink, mut stream) = ws.split();
    let hello = UplinkFrame {
        seq: 0,
        msg: Some(uplink_frame::Msg::Hello(proto::UplinkHello {
            hub_id: ctx.config.hub_id().to_owned(),
            site: ctx.config.site.clone(),
            credentials: ctx.config.uplink.credentials.clone(),
            epoch: outbox.epoch(),
        })),
    };
    send(&mut sink, &hello).await?;
    let mut acked = match tokio::time::timeout(WELCOME_TIMEOUT, next_frame(&mut stream)).await {
        Err(_) => return Err("edge sent no welcome".into()),
        Ok(Ok(Some(edge_frame::Msg::Welcome(w)))) => w.acked_seq,
        Ok(Ok(_)) => return Err("edge's first frame was not a welcome".into()),
        Ok(Err(e)) => return Err(e),
    };
    backoff.reset();
    outbox.ack(acked).await.map_err(|e| e.to_string())?;
    let mut sent = acked;
    let mut symbols = Symbols::default();
    send_statuses(ctx, &mut sink).await?;
    // Subscribe before replaying, so an event between the two is not missed;
    // the edge keeps events by id, so one seen twice is harmless.
    let mut events = ctx.state.subscribe_events();
    for ev in ctx
        .state
        .events(None, crate::state::EVENTS_KEPT)
        .into_iter()
        .rev()
    {
        send(&mut sink, &event_frame(&ev)).await?;
    }

    let (resp_tx, mut resp_rx) = mpsc::channel::<UplinkFrame>(RESPONSE_CAPACITY);
    let limiter = Arc::new(Semaphore::new(MAX_CONCURRENT_REQUESTS));
    let mut status_tick = tokio::time::interval(STATUS_EVERY);
    status_tick.tick().await;
    loop {
        // Send what the window allows before waiting for anything.
        let room = WINDOW.saturating_sub(sent.saturating_sub(acked)) as usize;
        let ready = if room > 0 {
            outbox.after(sent, room).await.map_err(|e| e.to_string())?
        } else {
            Vec::new()
        };
        for (seq, rows) in ready {
            let (batch, new_hosts) = symbols.encode(&rows);
            // The edge learns a host's site and facts before its first rows.
            for host in new_hosts {
                if let Some(st) = ctx.state.host(&host) {
                    send(&mut sink, &status_frame(&st)).await?;
                }
            }
            let frame = UplinkFrame {
                seq,
                msg: Some(uplink_frame::Msg::Batch(batch)),
            };
            send(&mut sink, &frame).await?;
            ctx.metrics.uplink_frames_sent.inc();
            sent = seq;
        }
        tokio::select! {
            _ = token.cancelled() => {
                let _ = sink.close().await;
                return Ok(());
            }
            _ = outbox.notified() => {}
            _ = status_tick.tick() => send_statuses(ctx, &mut sink).await?,
            Some(resp) = resp_rx.recv() => send(&mut sink, &resp).await?,
            ev = events.recv() => match ev {
                Ok(ev) => send(&mut sink, &event_frame(&ev)).await?,
                // Skipped updates are recent ones; the next update or the
                // replay after a reconnect carries each event's latest state.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(()),
            },
            frame = next_frame(&mut stream) => match frame? {
                None => return Ok(()),
                Some(edge_frame::Msg::Ack(a)) => {
                    acked = acked.max(a.seq);
                    outbox.ack(a.seq).await.map_err(|e| e.to_string())?;
                }
                Some(edge_frame::Msg::Request(req)) => {
                    spawn_request(ctx.clone(), req, resp_tx.clone(), limiter.clone());
                }
                Some(edge_frame::Msg::Welcome(_)) => return Err("unexpected second welcome".into()),
            },
        }
    }
}

/// Reads the next edge frame; `Ok(None)` when the socket closed.
async fn next_frame<S>(stream: &mut S) -> Result<Option<edge_frame::Msg>, String>
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match stream.next().await {
            None => return Ok(None),
            Some(Err(e)) => return Err(e.to_string()),
            Some(Ok(Message::Binary(b))) => {
                let f =
                    EdgeFrame::decode(b.as_ref()).map_err(|e| format!("bad edge frame: {e}"))?;
                if let Some(m) = f.msg {
                    return Ok(Some(m));
                }
            }
            Some(Ok(Message::Close(_))) => return Ok(None),
            Some(Ok(_)) => {} // pings are answered by tungstenite
        }
    }
}

async fn send<S>(sink: &mut S, frame: &UplinkFrame) -> Result<(), String>
where
    S: futures::Sink<Message, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
{
    sink.send(Message::binary(frame.encode_to_vec()))
        .await
        .map_err(|e| e.to_string())
}

async fn send_statuses<S>(ctx: &Ctx, sink: &mut S) -> Result<(), String>
where
    S: futures::Sink<Message, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
{
    for st in ctx.state.hosts() {
        send(sink, &status_frame(&st)).await?;
    }
    Ok(())
}

fn event_frame(ev: &common::model::AnomalyEvent) -> UplinkFrame {
    UplinkFrame {
        seq: 0,
        msg: Some(uplink_frame::Msg::Event(common::convert::event_to_proto(
            ev,
        ))),
    }
}

fn status_frame(st: &common::model::HostStatus) -> UplinkFrame {
    UplinkFrame {
        seq: 0,
        msg: Some(uplink_frame::Msg::HostStatus(
            common::convert::status_to_proto(st),
        )),
    }
}

fn spawn_request(
    ctx: Arc<Ctx>,
    req: proto::UplinkRequest,
    out: mpsc::Sender<UplinkFrame>,
    limiter: Arc<Semaphore>,
) {
    tokio::spawn(
        async move {
            let Ok(_permit) = limiter.acquire_owned().await else {
                return;
            };
            let mut resp = proto::UplinkResponse {
                request_id: req.request_id,
                ..Default::default()
            };
            match req.query {
                Some(proto::uplink_request::Query::Range(r)) => {
                    let q = common::convert::range_query_from_proto(&r);
                    match crate::history::range(ctx.store.as_ref(), &q).await {
                        Ok(series) => {
                            resp.result = Some(proto::uplink_response::Result::Range(
                                proto::RangeResponse {
                                    series: series
                                        .iter()
                                        .map(common::convert::series_points_to_proto)
                                        .collect(),
                                },
                            ));
                        }
                        Err(e) => resp.error = e.to_string(),
                    }
                }
                Some(proto::uplink_request::Query::Processes(p)) => {
                    resp.result = Some(proto::uplink_response::Result::Processes(
                        crate::query::processes_response(&ctx.state, &p.host),
                    ));
                }
                Some(proto::uplink_request::Query::Forecasts(f)) => {
                    resp.result = Some(proto::uplink_response::Result::Forecasts(
                        crate::forecasting::forecasts_response(&ctx.forecasts, &f.host, f.limit),
                    ));
                }
                Some(proto::uplink_request::Query::Costs(c)) => {
                    match crate::cost::costs_response(
                        &ctx.config.cost,
                        &ctx.state,
                        &c.host,
                        common::now_ms(),
                    ) {
                        Some(r) => resp.result = Some(proto::uplink_response::Result::Costs(r)),
                        None => resp.error = format!("unknown host {:?}", c.host),
                    }
                }
                Some(proto::uplink_request::Query::Correlations(_)) => {
                    resp.result = Some(proto::uplink_response::Result::Correlations(
                        crate::correlation::correlations_response(&ctx),
                    ));
                }
                Some(proto::uplink_request::Query::Bands(r)) => {
                    let q = common::convert::range_query_from_proto(&r);
                    match crate::history::bands(ctx.store.as_ref(), &q).await {
                        Ok(r) => resp.result = Some(proto::uplink_response::Result::Bands(r)),
                        Err(e) => resp.error = e.to_string(),
                    }
                }
                Some(proto::uplink_request::Query::Ledger(_)) => {
                    match crate::query::QueryService::ledger(ctx.store.as_ref()).await {
                        Ok(agents) => {
                            resp.result = Some(proto::uplink_response::Result::Ledger(
                                proto::LedgerResponse { agents },
                            ))
                        }
                        Err(e) => resp.error = e.to_string(),
                    }
                }
                None => resp.error = "empty request".into(),
            }
            let frame = UplinkFrame {
                seq: 0,
                msg: Some(uplink_frame::Msg::Response(resp)),
            };
            // The session may have ended; the edge will ask again.
            let _ = out.send(frame).await;
        }
        .instrument(tracing::debug_span!("uplink_request")),
    );
}

/// Series defined on this connection: (host, key) → id.
#[derive(Default)]
struct Symbols {
    ids: HashMap<String, HashMap<Arc<SeriesKey>, u32>>,
    next: u32,
}

impl Symbols {
    /// Encodes a frame, defining series new to this connection; also returns
    /// the hosts seen for the first time on it.
    fn encode(&mut self, frame: &[common::model::StoredRows]) -> (proto::UplinkBatch, Vec<String>) {
        let mut batch = proto::UplinkBatch::default();
        let mut new_hosts = Vec::new();
        for sr in frame {
            if !self.ids.contains_key(&sr.host) {
                new_hosts.push(sr.host.clone());
            }
            let per_host = self.ids.entry(sr.host.clone()).or_default();
            for (key, ts, v) in &sr.rows {
                let id = match per_host.get(key) {
                    Some(id) => *id,
                    None => {
                        self.next += 1;
                        let id = self.next;
                        per_host.insert(key.clone(), id);
                        batch.new_series.push(proto::SeriesDef {
                            id,
                            name: key.name.clone(),
                            labels: common::convert::labels_to_proto(&key.labels),
                            host: sr.host.clone(),
                        });
                        id
                    }
                };
                batch.rows.push(proto::Row {
                    series_id: id,
                    timestamp_ms: *ts,
                    value: *v,
                });
            }
        }
        (batch, new_hosts)
    }
}
