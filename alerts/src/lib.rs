//! The alert service: detection events from the edge, Prometheus alerts on
//! Alertmanager's v2 API, routed to the subscriptions people choose, with
//! Alertmanager's grouping, inhibition and silences, delivered through a
//! persistent outbox that survives restarts.
//!
//! - [`model`], [`matcher`], [`silence`], [`inhibit`], [`subscription`]: what
//!   alerts, matchers, silences, inhibition rules and subscriptions are.
//! - [`dispatch`]: the pure routing core (groups, group_wait/interval, repeat).
//! - [`engine`]: the actor owning the state; persists, then flushes due groups
//!   into the outbox.
//! - [`store`]: SQLite or PostgreSQL through sqlx (one schema, `migrations/`).
//! - [`notify`]: the notification body (Alertmanager's webhook JSON).
//! - [`deliver`]: the outbox worker and its channels (webhook, Slack, ntfy,
//!   email, live), with the internal-address guard.
//! - [`feed`]: the edge's event feed, cursor stored with the alerts.
//! - [`rules`]: threshold, absence and forecast rules over the edge's API.
//! - [`api`]: HTTP (Alertmanager v2, subscriptions, live feed, `/metrics`).
//!
//! Invariant: a notification's deliveries and its group's log entry are
//! committed together, and a delivery leaves the outbox only when its channel
//! acknowledged it; every other path leaves it pending for a retry.

pub mod api;
pub mod clock;
pub mod config;
pub mod deliver;
pub mod dispatch;
pub mod engine;
pub mod error;
pub mod feed;
pub mod ids;
pub mod inhibit;
pub mod matcher;
pub mod metrics;
pub mod model;
pub mod notify;
pub mod rules;
pub mod silence;
pub mod store;
pub mod subscription;

use std::sync::Arc;
use std::time::Duration;

use common::metrics::Registry;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, Notify};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use config::Config;
pub use error::{Error, Result};

/// How long the engine and the worker get to stop after the HTTP server did.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the alert service on `listener` until `shutdown`.
pub async fn run(config: Config, listener: TcpListener, shutdown: CancellationToken) -> Result<()> {
    config.validate().map_err(Error::Config)?;
    if !config.demo && config.users.is_empty() {
        tracing::warn!("no [[users]] configured: nobody can manage subscriptions");
    }
    if config.ingest_token.is_none() {
        tracing::warn!("no ingest_token: anyone who reaches the port may post alerts and silences");
    }
    let config = Arc::new(config);
    let registry = Registry::new();
    let metrics = metrics::AlertMetrics::new(registry);
    let store = store::Store::open(&config.database_url).await?;
    let wake = Arc::new(Notify::new());
    let engine =
        engine::Engine::load(config.clone(), store.clone(), metrics.clone(), wake.clone()).await?;
    let (handle, engine_task) = engine.spawn(shutdown.child_token());
    let live = broadcast::channel(deliver::LIVE_CAPACITY).0;
    let worker = deliver::Worker::new(
        config.clone(),
        store.clone(),
        handle.clone(),
        metrics.clone(),
        live.clone(),
        wake,
    )
    .map_err(Error::Config)?;
    let worker_task = tokio::spawn(
        worker
            .run(shutdown.child_token())
            .instrument(tracing::info_span!("deliver")),
    );
    let feed_task = config.edge_url.clone().map(|url| {
        tokio::spawn(
            feed::run(
                url,
                config.edge_token.clone(),
                handle.clone(),
                store.clone(),
                metrics.clone(),
                shutdown.child_token(),
            )
            .instrument(tracing::info_span!("feed")),
        )
    });
    let rules_task = match (&config.edge_url, config.rules.is_empty()) {
        (Some(url), false) => {
            let edge =
                rules::source::Edge::new(url, config.edge_token.clone(), config.delivery.timeout)
                    .map_err(Error::Config)?;
            Some(tokio::spawn(
                rules::run(
                    config.rules.clone(),
                    config.rules_interval,
                    config.forecast_every,
                    edge,
                    handle.clone(),
                    shutdown.child_token(),
                )
                .instrument(tracing::info_span!("rules")),
            ))
        }
        _ => None,
    };
    let app = api::router(api::ApiState {
        config: config.clone(),
        engine: handle,
        store,
        metrics,
        live,
        started_ms: clock::now_ms(),
    });
    tracing::info!(addr = ?listener.local_addr().ok(), "alert service listening");
    let token = shutdown.clone();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move { token.cancelled().await })
        .await
        .map_err(|e| Error::Server(e.to_string()));
    shutdown.cancel();
    let drain = async {
        let _ = engine_task.await;
        let _ = worker_task.await;
        for t in [feed_task, rules_task].into_iter().flatten() {
            let _ = t.await;
        }
    };
    if tokio::time::timeout(DRAIN_TIMEOUT, drain).await.is_err() {
        tracing::warn!("alert service tasks did not stop within {DRAIN_TIMEOUT:?}");
    }
    served
}
