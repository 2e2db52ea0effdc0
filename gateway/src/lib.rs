//! The browser-facing layer: REST + WebSocket API and the embedded dashboard,
//! over a [`DataSource`]. The edge mounts [`router`] for the cloud view; run
//! alone ([`run`]) against a hub's gRPC `Query` API it is the site's LAN dashboard.
//!
//! - [`source`]: the `DataSource` trait and the hub (gRPC) implementation.
//! - [`api`]: `/api/v1/hosts`, `/api/v1/hosts/{host}/series`, `/api/v1/series`.
//! - [`live`]: the `/api/v1/live` WebSocket.
//! - [`assets`]: the dashboard files, embedded at build time.
//!
//! Invariant: the gateway never writes data and never talks to a database.

pub mod api;
pub mod assets;
pub mod config;
pub mod error;
pub mod live;
pub mod source;

use std::sync::Arc;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use common::metrics::{Gauge, Registry};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::Config;
pub use error::{Error, Result};
pub use source::DataSource;

/// Which deployment serves the page; shown by the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Demo,
    Edge,
    Gateway,
}

pub struct GatewayMetrics {
    pub live_clients: Gauge,
}

pub struct AppState {
    pub source: Arc<dyn DataSource>,
    pub mode: Mode,
    pub metrics: GatewayMetrics,
}

/// The API and dashboard routes. Metrics are registered in `registry`, which
/// the caller serves on its own `/metrics`.
pub fn router(source: Arc<dyn DataSource>, mode: Mode, registry: &Registry) -> Router {
    let state = Arc::new(AppState {
        source,
        mode,
        metrics: GatewayMetrics {
            live_clients: registry.gauge(
                "hostwatch_gateway_live_clients",
                "Browsers connected to /api/v1/live.",
                &[],
            ),
        },
    });
    Router::new()
        .route("/api/v1/info", get(api::info))
        .route("/api/v1/hosts", get(api::hosts))
        .route("/api/v1/hosts/{host}/series", get(api::host_series))
        .route("/api/v1/hosts/{host}/processes", get(api::host_processes))
        .route("/api/v1/series", get(api::series))
        .route("/api/v1/events", get(api::events))
        .route("/api/v1/live", get(live::upgrade))
        .fallback(assets::serve)
        .with_state(state)
}

/// `/metrics` and `/healthz` for a registry, for the binaries that serve the gateway.
pub fn ops_router(registry: Registry) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(move || {
                let r = registry.clone();
                async move {
                    (
                        [(header::CONTENT_TYPE, common::metrics::CONTENT_TYPE)],
                        r.render(),
                    )
                        .into_response()
                }
            }),
        )
        .route("/healthz", get(|| async { "ok\n" }))
}

/// Runs the standalone gateway against one hub until `shutdown`.
pub async fn run(config: Config, listener: TcpListener, shutdown: CancellationToken) -> Result<()> {
    config.validate().map_err(Error::Invalid)?;
    let registry = Registry::new();
    let source = Arc::new(source::grpc::HubSource::new(
        &config.hub_url,
        shutdown.child_token(),
    )?);
    let app = router(source, Mode::Gateway, &registry).merge(ops_router(registry));
    tracing::info!(addr = ?listener.local_addr().ok(), hub = %config.hub_url, "gateway listening");
    let token = shutdown.clone();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { token.cancelled().await })
        .await
        .map_err(|e| Error::Server(e.to_string()))
}
