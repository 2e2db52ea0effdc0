//! `Ingest.Stream`: one bidirectional stream per agent.
//!
//! Hello → Welcome(stored seq), then for each Batch: validate, resolve new
//! series, hand to the writer, and Ack only once it is committed. A bad batch
//! ends the stream with a clear status (and a counter); other agents' streams
//! are separate tasks and are unaffected.
//!
//! With `security.auth = "required"` the Hello is checked by [`crate::auth`]
//! first (a credential issued for an enrolment token rides in the Welcome),
//! and the stream ends with `UNAUTHENTICATED` once its credential is revoked.

pub mod validate;

use std::sync::Arc;
use std::time::Duration;

use common::model::HostFacts;
use proto::{agent_message, hub_message, AgentMessage, HubMessage};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, Streaming};
use tracing::Instrument;

use crate::auth;
use crate::store::{HostRow, WriteBatch};
use crate::Ctx;
use validate::{Rejection, SymbolTable};

/// Messages queued towards one agent (acks); the agent reads them promptly.
const OUTBOUND_CAPACITY: usize = 64;
/// How long an agent may take to say Hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_ID_LEN: usize = 256;

pub struct IngestService {
    ctx: Arc<Ctx>,
    shutdown: CancellationToken,
}

impl IngestService {
    pub fn new(ctx: Arc<Ctx>, shutdown: CancellationToken) -> Self {
        Self { ctx, shutdown }
    }
}

type Outbound = mpsc::Sender<Result<HubMessage, Status>>;

#[tonic::async_trait]
impl proto::ingest_server::Ingest for IngestService {
    type StreamStream = ReceiverStream<Result<HubMessage, Status>>;

    async fn stream(
        &self,
        request: Request<Streaming<AgentMessage>>,
    ) -> Result<Response<Self::StreamStream>, Status> {
        let peer = request
            .remote_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(OUTBOUND_CAPACITY);
        let ctx = self.ctx.clone();
        let token = self.shutdown.clone();
        tokio::spawn(
            async move {
                ctx.metrics.streams_active.add(1.0);
                let result = serve_stream(&ctx, inbound, &tx, &token).await;
                ctx.metrics.streams_active.add(-1.0);
                if let Err(status) = result {
                    tracing::info!(code = ?status.code(), message = status.message(), "ingest stream ended with error");
                    // The agent may already be gone; nothing more to do then.
                    let _ = tx.send(Err(status)).await;
                }
            }
            .instrument(tracing::info_span!("ingest", %peer)),
        );
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// Identity of the agent on this stream, fixed by its Hello.
struct Peer {
    agent_id: String,
    host: String,
    site: String,
}

async fn serve_stream(
    ctx: &Ctx,
    mut inbound: Streaming<AgentMessage>,
    tx: &Outbound,
    token: &CancellationToken,
) -> Result<(), Status> {
    let first = tokio::select! {
        _ = token.cancelled() => return Err(Status::unavailable("hub is shutting down")),
        m = tokio::time::timeout(HELLO_TIMEOUT, inbound.message()) => m,
    };
    let hello = match first {
        Err(_) => return Err(rejected(ctx, "no_hello", "no Hello within 10 s".into())),
        Ok(Err(status)) => return Err(transport_error(ctx, status)),
        Ok(Ok(None)) => return Ok(()),
        Ok(Ok(Some(AgentMessage {
            msg: Some(agent_message::Msg::Hello(h)),
        }))) => h,
        Ok(Ok(Some(_))) => {
            return Err(rejected(
                ctx,
                "no_hello",
                "the first message must be Hello".into(),
            ))
        }
    };
    let (peer, mut revocation) = welcome(ctx, hello, tx).await?;
    tracing::info!(agent = %peer.agent_id, host = %peer.host, site = %peer.site, "agent connected");

    let mut table = SymbolTable::default();
    loop {
        let msg = tokio::select! {
            _ = token.cancelled() => return Err(Status::unavailable("hub is shutting down")),
            status = revoked(&mut revocation) => return Err(status),
            m = inbound.message() => m,
        };
        let batch = match msg {
            Err(status) => return Err(transport_error(ctx, status)),
            Ok(None) => {
                tracing::info!(agent = %peer.agent_id, "agent closed its stream");
                return Ok(());
            }
            Ok(Some(AgentMessage {
                msg: Some(agent_message::Msg::Batch(b)),
            })) => b,
            Ok(Some(_)) => {
                return Err(rejected(
                    ctx,
                    "unexpected_message",
                    "only Batch may follow Hello".into(),
                ))
            }
        };
        let seq = batch.seq;
        store_batch(ctx, &peer, &mut table, batch).await?;
        if tx
            .send(Ok(HubMessage {
                msg: Some(hub_message::Msg::Ack(proto::Ack { seq })),
            }))
            .await
            .is_err()
        {
            // The agent went away; its batch is stored and Welcome tells it so.
            return Ok(());
        }
    }
}

/// Resolves when the stream's credential is revoked; never without auth.
async fn revoked(watch: &mut Option<auth::Watch>) -> Status {
    match watch {
        Some(w) => w.revoked().await,
        None => std::future::pending().await,
    }
}

async fn welcome(
    ctx: &Ctx,
    hello: proto::Hello,
    tx: &Outbound,
) -> Result<(Peer, Option<auth::Watch>), Status> {
    let facts = hello
        .host
        .as_ref()
        .map(common::convert::facts_from_proto)
        .unwrap_or_default();
    if hello.agent_id.is_empty() || hello.agent_id.len() > MAX_ID_LEN {
        return Err(rejected(
            ctx,
            "bad_hello",
            format!("agent_id must be 1..={MAX_ID_LEN} bytes"),
        ));
    }
    let host = if facts.hostname.is_empty() {
        hello.agent_id.clone()
    } else {
        facts.hostname.clone()
    };
    if host.len() > MAX_ID_LEN || hello.site.len() > MAX_ID_LEN {
        return Err(rejected(
            ctx,
            "bad_hello",
            format!("hostname and site must be at most {MAX_ID_LEN} bytes"),
        ));
    }
    let admitted = match &ctx.auth {
        Some(a) => Some(
            a.admit(&hello.agent_id, &hello.site, &hello.credentials)
                .await?,
        ),
        None => None,
    };
    let bound_site = admitted.as_ref().map(|a| a.site.as_str()).unwrap_or("");
    let site = if !hello.site.is_empty() {
        hello.site.clone()
    } else if !bound_site.is_empty() {
        bound_site.to_owned()
    } else {
        ctx.config.site.clone()
    };
    let peer = Peer {
        agent_id: hello.agent_id,
        host,
        site,
    };
    register(ctx, &peer, facts)
        .await
        .map_err(|e| e.to_status())?;
    let stored_seq = ctx
        .buffer
        .stored_seq(ctx.store.as_ref(), &peer.agent_id)
        .await
        .map_err(|e| e.to_status())?;
    let (credential, watch) = match (admitted, &ctx.auth) {
        (Some(a), Some(auth)) => (
            a.issued.unwrap_or_default(),
            Some(auth.watch(&peer.agent_id, a.credential_hash)),
        ),
        _ => (String::new(), None),
    };
    let welcome = proto::Welcome {
        stored_seq,
        interval_ms: u32::try_from(ctx.config.interval_for(&peer.agent_id).as_millis())
            .unwrap_or(u32::MAX),
        credential,
    };
    tx.send(Ok(HubMessage {
        msg: Some(hub_message::Msg::Welcome(welcome)),
    }))
    .await
    .map_err(|_| Status::cancelled("agent went away"))?;
    Ok((peer, watch))
}

async fn register(ctx: &Ctx, peer: &Peer, facts: HostFacts) -> crate::Result<()> {
    ctx.store
        .upsert_host(&HostRow {
            host: peer.host.clone(),
            site: peer.site.clone(),
            agent_id: peer.agent_id.clone(),
            facts: facts.clone(),
        })
        .await?;
    ctx.state
        .register(&peer.host, &peer.site, &peer.agent_id, facts);
    Ok(())
}

async fn store_batch(
    ctx: &Ctx,
    peer: &Peer,
    table: &mut SymbolTable,
    batch: proto::Batch,
) -> Result<(), Status> {
    let limits = &ctx.config.limits;
    let defs =
        validate::check_defs(&batch.new_series, table, limits).map_err(|r| refuse(ctx, r))?;
    if !defs.is_empty() {
        let (ids, keys): (Vec<u32>, Vec<_>) = defs.into_iter().unzip();
        let interned = ctx
            .buffer
            .intern(&peer.host, keys)
            .await
            .map_err(|e| e.to_status())?;
        for (id, key) in ids.into_iter().zip(interned) {
            table.insert(id, key);
        }
    }
    let rows = validate::check_rows(batch.seq, &batch.rows, table, limits, common::now_ms())
        .map_err(|r| refuse(ctx, r))?;
    let processes =
        validate::check_processes(&batch.top_processes, limits).map_err(|r| refuse(ctx, r))?;
    let write = WriteBatch {
        agent_id: peer.agent_id.clone(),
        host: peer.host.clone(),
        seq: batch.seq,
        rows,
    };
    let newest_ms = write
        .rows
        .iter()
        .map(|r| r.1)
        .max()
        .unwrap_or_else(common::now_ms);
    ctx.buffer
        .accept(write, peer.site.clone())
        .await
        .map_err(|e| e.to_status())?;
    // An empty list is "no news": agents send one only now and then.
    if !processes.is_empty() {
        ctx.state.set_processes(&peer.host, newest_ms, processes);
    }
    Ok(())
}

fn refuse(ctx: &Ctx, r: Rejection) -> Status {
    rejected(ctx, r.reason, r.message)
}

fn rejected(ctx: &Ctx, reason: &'static str, message: String) -> Status {
    ctx.metrics.rejected(reason);
    tracing::warn!(reason, %message, "agent input rejected");
    Status::invalid_argument(message)
}

/// A stream error from tonic: an undecodable or oversized message, or the
/// connection dropping.
fn transport_error(ctx: &Ctx, status: Status) -> Status {
    let msg = status.message().to_owned();
    if msg.contains("too large") || status.code() == tonic::Code::OutOfRange {
        ctx.metrics.rejected("too_large");
        Status::resource_exhausted(format!(
            "message over the hub's limit of {} bytes: {msg}",
            ctx.config.limits.max_message_bytes
        ))
    } else if status.code() == tonic::Code::Internal && msg.contains("decode") {
        ctx.metrics.rejected("decode");
        Status::invalid_argument(format!("malformed protobuf: {msg}"))
    } else {
        status
    }
}
