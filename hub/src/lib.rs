//! The hostwatch hub of one site.
//!
//! - [`ingest`]: the `Ingest.Stream` gRPC service (hello/welcome, validation, acks).
//! - [`auth`]: agent enrolment tokens, per-agent credentials, revocation;
//!   [`tls`]: the gRPC port's TLS (optionally mutual).
//! - [`buffer`]: where accepted batches wait for history (direct, or a Redis stream).
//! - [`writer`]: the single history-writer actor (group commit, ledger check).
//! - [`detection`]: runs [`detect`] on every stored row beside the write path
//!   and turns alarms into anomaly events.
//! - [`store`]: history storage (embedded SQLite, or PostgreSQL/TimescaleDB).
//! - [`state`]: latest value of every series per host, live watchers.
//! - [`query`]: the gRPC `Query` service; [`history`]: range reads.
//! - [`uplink`]: WebSocket client to the edge with an outbox.
//! - [`http`]: `/metrics`, `/healthz`, `/readyz`.
//! - [`detect`]: the pure streaming anomaly-detection engine, one per series.
//! - [`forecast`]: the pure trend and capacity estimator, one per resource;
//!   [`forecasting`]: runs it beside the write path, the ranked forecasts.
//! - [`freshness`]: seconds since each host's and site's newest data, host-down
//!   events; [`cost`]: hourly cost per host from a price model;
//!   [`correlation`]: anomaly rates against load, every 10 minutes.
//!
//! Invariant: an agent's batch is acked only after the transaction holding its
//! rows and its ledger entry committed; only the writer writes history.

pub mod auth;
pub mod bands;
pub mod buffer;
pub mod config;
pub mod correlation;
pub mod cost;
pub mod detect;
pub mod detection;
pub mod error;
pub mod forecast;
pub mod forecasting;
pub mod freshness;
pub mod history;
pub mod http;
pub mod ingest;
pub mod live;
pub mod metrics;
pub mod models;
pub mod query;
pub mod state;
pub mod store;
pub mod tls;
pub mod uplink;
pub mod writer;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::codec::CompressionEncoding;
use tracing::Instrument;

pub use config::Config;
pub use error::{Error, Result};

use buffer::Buffer;
use metrics::HubMetrics;
use state::State;
use store::HistoryStore;
use uplink::Outbox;
use writer::Writer;

/// How long shutdown waits for streams and the writer to drain.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything the hub's services share.
pub struct Ctx {
    pub config: Config,
    pub store: Arc<dyn HistoryStore>,
    pub state: Arc<State>,
    pub buffer: Buffer,
    pub metrics: HubMetrics,
    pub outbox: Option<Arc<Outbox>>,
    /// Set when `security.auth = "required"`.
    pub auth: Option<Arc<auth::Auth>>,
    /// The newest anomaly/load correlation report.
    pub correlations: Arc<correlation::Board>,
    /// The newest capacity forecast per (host, resource).
    pub forecasts: Arc<forecasting::Board>,
}

/// Sockets the hub serves on, bound by the caller (tests bind port 0).
pub struct Listeners {
    pub grpc: TcpListener,
    pub http: TcpListener,
}

impl Listeners {
    pub async fn bind(config: &Config) -> Result<Self> {
        let bind = |addr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| Error::Bind { addr, source })
        };
        Ok(Self {
            grpc: bind(config.grpc_addr).await?,
            http: bind(config.http_addr).await?,
        })
    }
}

/// Runs the hub until `shutdown` is cancelled, then stops accepting, lets the
/// writer commit what it holds, and returns.
pub async fn run(config: Config, listeners: Listeners, shutdown: CancellationToken) -> Result<()> {
    config.validate().map_err(Error::Invalid)?;
    let metrics = HubMetrics::new();
    let (store, state) = open_history(&config, &shutdown).await?;
    store.observe(&metrics.registry);

    let redis = if config.redis.url.is_empty() {
        None
    } else {
        Some(Arc::new(
            buffer::RedisBuffer::connect(&config.redis.url, config.redis.max_backlog).await?,
        ))
    };
    let outbox = if config.uplink.edge_url.is_empty() {
        None
    } else {
        let capacity = config.uplink.outbox_frames;
        Some(Arc::new(match &redis {
            None => Outbox::Memory(uplink::outbox::MemoryOutbox::new(capacity, metrics.clone())),
            Some(r) => Outbox::Redis(
                uplink::outbox::RedisOutbox::open(
                    r.connection(),
                    config.hub_id(),
                    capacity,
                    metrics.clone(),
                )
                .await?,
            ),
        }))
    };
    let (detection, detection_task) = if config.detect_anomalies {
        let models = match &redis {
            Some(r) => models::ModelStore::Redis(r.connection()),
            None => models::ModelStore::History(store.clone()),
        };
        let snapshots = (!config.model_snapshot_interval.is_zero())
            .then_some((models, config.model_snapshot_interval));
        let (d, t) = detection::Detection::spawn(
            config.detection.clone(),
            state.clone(),
            Some(store.clone()),
            snapshots,
            metrics.clone(),
        );
        (Some(d), Some(t))
    } else {
        (None, None)
    };
    let forecasts = Arc::new(forecasting::Board::new());
    let (forecasting, forecasting_task) = if config.forecast_capacity {
        let (f, t) = forecasting::Forecasting::spawn(forecasts.clone(), &metrics.registry);
        (Some(f), Some(t))
    } else {
        (None, None)
    };
    let (writer, writer_task) = Writer::spawn(
        store.clone(),
        state.clone(),
        outbox.clone(),
        detection,
        forecasting,
        metrics.clone(),
    );
    let budget = buffer::Budget::new(
        config.limits.max_buffered_bytes,
        metrics.buffered_bytes.clone(),
        metrics.buffer_waits.clone(),
    );
    let live_task = redis.as_ref().map(|r| {
        tokio::spawn(
            live::publish(
                state.clone(),
                r.connection(),
                metrics.clone(),
                shutdown.child_token(),
            )
            .instrument(tracing::info_span!("live_publish")),
        )
    });
    let (sink, consumer_task) = match redis {
        None => (buffer::Sink::Direct(writer), None),
        Some(redis) => {
            tracing::info!("Redis buffer connected: batches are acked once in the ingest stream");
            let task = tokio::spawn(
                buffer::consumer::run(
                    redis.clone(),
                    writer,
                    metrics.clone(),
                    shutdown.child_token(),
                )
                .instrument(tracing::info_span!("buffer_consumer")),
            );
            (buffer::Sink::Redis(redis), Some(task))
        }
    };
    let buffer = Buffer::new(sink, budget);
    let server_tls = tls::server_config(&config.security)?;
    let (auth, auth_task) = match config.security.auth {
        config::AuthMode::Required => {
            let (a, t) =
                auth::Auth::start(store.auth_store(), metrics.clone(), shutdown.child_token())
                    .await?;
            tracing::info!(
                "agent authentication required: Hellos need a credential or an enrolment token"
            );
            (Some(a), Some(t))
        }
        config::AuthMode::Off => {
            tracing::info!("agent authentication is off (security.auth = \"off\"): any agent reaching the gRPC port is accepted");
            (None, None)
        }
    };
    let freshness_task = freshness::spawn(
        &config,
        state.clone(),
        store.clone(),
        &metrics,
        shutdown.child_token(),
    );
    let correlations = Arc::new(correlation::Board::new(config.correlation.clone()));
    let correlation_task = correlation::spawn(
        correlations.clone(),
        state.clone(),
        store.clone(),
        shutdown.child_token(),
    );
    let ctx = Arc::new(Ctx {
        config,
        store: store.clone(),
        state,
        buffer,
        metrics,
        outbox: outbox.clone(),
        auth,
        correlations,
        forecasts,
    });

    let uplink_task = outbox.map(|o| {
        tokio::spawn(
            uplink::run(ctx.clone(), o, shutdown.child_token())
                .instrument(tracing::info_span!("uplink")),
        )
    });

    let grpc_addr = listeners.grpc.local_addr().ok();
    let http_addr = listeners.http.local_addr().ok();
    tracing::info!(grpc = ?grpc_addr, http = ?http_addr, site = %ctx.config.site, tls = server_tls.is_some(), "hub listening");

    let limit = ctx.config.limits.max_message_bytes;
    let ingest = proto::ingest_server::IngestServer::new(ingest::IngestService::new(
        ctx.clone(),
        shutdown.child_token(),
    ))
    .max_decoding_message_size(limit)
    // Agents compress their batches (gzip or zstd, their choice); acks are
    // a few bytes, so they go back uncompressed.
    .accept_compressed(CompressionEncoding::Gzip)
    .accept_compressed(CompressionEncoding::Zstd);
    let query = proto::query_server::QueryServer::new(query::QueryService::new(ctx.clone()))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(64 * 1024 * 1024);
    let grpc_token = shutdown.clone();
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = server_tls {
        builder = builder
            .tls_config(tls)
            .map_err(|e| Error::Tls(common::tls::error_chain(&e)))?;
    }
    let grpc = builder
        .add_service(ingest)
        .add_service(query)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listeners.grpc), async move {
            grpc_token.cancelled().await
        });

    let http_token = shutdown.clone();
    let http = axum::serve(listeners.http, http::router(ctx.clone()))
        .with_graceful_shutdown(async move { http_token.cancelled().await });

    let (grpc_res, http_res) = tokio::join!(
        async { grpc.await.map_err(|e| Error::Server(e.to_string())) },
        async { http.await.map_err(|e| Error::Server(e.to_string())) }
    );

    // Streams are closed. The Redis consumer finishes its round (anything not
    // committed stays in the stream for the next start); then dropping the last
    // writer handles lets the writer drain and stop.
    if let Some(t) = consumer_task {
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, t).await;
    }
    drop(ctx);
    if tokio::time::timeout(DRAIN_TIMEOUT, writer_task)
        .await
        .is_err()
    {
        tracing::warn!("writer did not drain within {DRAIN_TIMEOUT:?}");
    }
    if let Some(t) = detection_task {
        // Its last act is saving every model; past the timeout the next
        // start is cold for the series not yet saved.
        if tokio::time::timeout(DRAIN_TIMEOUT, t).await.is_err() {
            tracing::warn!("detector models not saved within {DRAIN_TIMEOUT:?}");
        }
    }
    if let Some(t) = forecasting_task {
        // It stops once the writer has dropped its handle; nothing to save.
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, t).await;
    }
    if let Some(t) = live_task {
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, t).await;
    }
    if let Some(t) = auth_task {
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, t).await;
    }
    // Both stop at the token; neither holds anything to flush.
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, freshness_task).await;
    if let Some(t) = correlation_task {
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, t).await;
    }
    if let Some(t) = uplink_task {
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, t).await;
    }
    store.close().await;
    tracing::info!("hub stopped");
    grpc_res?;
    http_res?;
    Ok(())
}

/// Start-up attempts before a busy database is reported as an error.
const OPEN_ATTEMPTS: u32 = 6;

/// Opens history and reloads the state from it. A hub restarted right after a
/// crash can find its database busy for a moment (SQLite's recovery of the
/// write-ahead log, PostgreSQL restarting), so storage errors are retried with
/// a growing pause before giving up; anything else fails at once.
async fn open_history(
    config: &Config,
    shutdown: &CancellationToken,
) -> Result<(Arc<dyn HistoryStore>, Arc<State>)> {
    let mut pause = Duration::from_millis(500);
    let mut attempt = 1;
    loop {
        let opened = async {
            let store = store::open(config).await?;
            let state = Arc::new(State::new());
            restore_state(store.as_ref(), &state).await?;
            Ok::<_, Error>((store, state))
        }
        .await;
        match opened {
            Ok(ok) => return Ok(ok),
            Err(e @ Error::Storage(_)) if attempt < OPEN_ATTEMPTS => {
                tracing::warn!(error = %e, attempt, retry_in = ?pause, "opening history failed; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return Err(Error::ShuttingDown),
                    _ = tokio::time::sleep(pause) => {}
                }
                pause *= 2;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Reloads hosts, ledger counters and the newest value of every series, so the
/// query API and the dashboard are whole right after a restart.
async fn restore_state(store: &dyn HistoryStore, state: &State) -> Result<()> {
    for h in store.hosts().await? {
        state.register(&h.host, &h.site, &h.agent_id, h.facts);
    }
    for l in store.ledger().await? {
        state.restore_ledger(&l.host, l.last_seq, l.batches, l.rows);
    }
    for ev in store.events(state::EVENTS_KEPT).await?.into_iter().rev() {
        state.publish_event(ev);
    }
    for p in store.latest().await? {
        state.restore_latest(&p.host, vec![(p.key, p.point)]);
    }
    Ok(())
}
