//! The browser-facing layer: REST + WebSocket API and the embedded dashboard,
//! over a [`DataSource`]. The edge mounts [`router`] (or [`router_with`], which
//! also tells the page where the alert service is) for the cloud view; run
//! alone ([`run`]) against a hub's gRPC `Query` API it is the site's LAN dashboard.
//!
//! - [`source`]: the `DataSource` trait and the hub (gRPC) implementation.
//! - [`api`]: `/api/v1/info`, `/api/v1/hosts`, `/api/v1/hosts/{host}/series`,
//!   `/api/v1/series`, `/api/v1/events`, `/api/v1/forecasts`, `/api/v1/costs`,
//!   `/api/v1/correlations`, `/api/v1/ledger`, `/api/v1/bands`.
//! - [`costs`]: the hubs' cost rows summed per site and for the fleet.
//! - [`correlations`]: each hub's anomaly/load correlation, labelled by hub,
//!   and its hosts ranked together.
//! - [`ledger`]: the hubs' per-agent delivery ledger with each host's site.
//! - [`live`]: the `/api/v1/live` WebSocket.
//! - [`assets`]: the dashboard files, embedded at build time.
//! - [`auth`]: login, sessions, API tokens, CSRF and rate limits in front of
//!   the API (everything open in demo mode).
//!
//! Invariant: the gateway never writes data and never talks to a database.

pub mod api;
pub mod assets;
pub mod auth;
pub mod config;
pub mod correlations;
pub mod costs;
pub mod error;
pub mod ledger;
pub mod live;
pub mod openapi;
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
    /// Base URL of the alert service (`http://host:port/`), for the dashboard's
    /// alerts page; `None` hides the page. The page calls it directly (the
    /// service sends CORS headers), so the gateway never proxies alerts.
    pub alerts_url: Option<String>,
    pub metrics: GatewayMetrics,
    /// Live updates, serialized once for every `/api/v1/live` client.
    pub live: live::Fanout,
}

/// What a deployment tells [`router_with`] about itself.
#[derive(Debug, Clone)]
pub struct Options {
    pub mode: Mode,
    /// See [`AppState::alerts_url`].
    pub alerts_url: Option<String>,
    /// Who may use the API outside demo mode (see [`auth`]).
    pub auth: auth::Config,
}

/// The API and dashboard routes without an alert service. Metrics are
/// registered in `registry`, which the caller serves on its own `/metrics`.
pub fn router(source: Arc<dyn DataSource>, mode: Mode, registry: &Registry) -> Router {
    router_with(
        source,
        Options {
            mode,
            alerts_url: None,
            auth: auth::Config::default(),
        },
        registry,
    )
}

/// The API and dashboard routes, as [`router`], with every [`Options`].
pub fn router_with(source: Arc<dyn DataSource>, options: Options, registry: &Registry) -> Router {
    let auth = auth::Auth::new(options.mode == Mode::Demo, options.auth, registry);
    let state = Arc::new(AppState {
        source,
        mode: options.mode,
        alerts_url: options.alerts_url,
        metrics: GatewayMetrics {
            live_clients: registry.gauge(
                "hostwatch_gateway_live_clients",
                "Browsers connected to /api/v1/live.",
                &[],
            ),
        },
        live: live::Fanout::default(),
    });
    Router::new()
        .route("/api/v1/info", get(api::info))
        .route("/api/v1/hosts", get(api::hosts))
        .route("/api/v1/hosts/{host}/series", get(api::host_series))
        .route("/api/v1/hosts/{host}/processes", get(api::host_processes))
        .route("/api/v1/series", get(api::series))
        .route("/api/v1/bands", get(api::bands))
        .route("/api/v1/events", get(api::events))
        .route("/api/v1/forecasts", get(api::forecasts))
        .route("/api/v1/costs", get(api::costs))
        .route("/api/v1/correlations", get(api::correlations))
        .route("/api/v1/ledger", get(api::ledger))
        .route("/api/v1/live", get(live::upgrade))
        .route("/api/openapi.json", get(openapi::document))
        .route("/api/docs", get(openapi::page))
        .fallback(assets::serve)
        .with_state(state)
        .merge(auth::handlers::router(auth.clone()))
        .layer(axum::middleware::from_fn_with_state(auth, auth::guard))
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
    let options = Options {
        mode: Mode::Gateway,
        alerts_url: None,
        auth: config.auth.clone(),
    };
    let app = router_with(source, options, &registry).merge(ops_router(registry));
    tracing::info!(addr = ?listener.local_addr().ok(), hub = %config.hub_url, "gateway listening");
    let token = shutdown.clone();
    // The peer address feeds the login rate limit per client.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move { token.cancelled().await })
    .await
    .map_err(|e| Error::Server(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::model::{AnomalyEvent, HostStatus, RangeQuery, SeriesInfo, SeriesPoints};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::sync::broadcast;

    /// A source with no hosts: `/api/v1/info` never reads it.
    struct Empty;

    #[async_trait::async_trait]
    impl DataSource for Empty {
        async fn hosts(&self) -> Result<Vec<HostStatus>> {
            Ok(Vec::new())
        }
        async fn series(&self, _: &str) -> Result<Vec<SeriesInfo>> {
            Ok(Vec::new())
        }
        async fn range(&self, _: &RangeQuery) -> Result<Vec<SeriesPoints>> {
            Ok(Vec::new())
        }
        fn subscribe(&self) -> broadcast::Receiver<HostStatus> {
            broadcast::channel(1).1
        }
        async fn events(&self, _: &source::EventQuery) -> Result<Vec<AnomalyEvent>> {
            Ok(Vec::new())
        }
        fn subscribe_events(&self) -> broadcast::Receiver<AnomalyEvent> {
            broadcast::channel(1).1
        }
        async fn processes(&self, _: &str) -> Result<source::Processes> {
            Ok(source::Processes::default())
        }
    }

    /// The JSON body of `GET /api/v1/info` from a real server on port 0.
    async fn info(app: Router) -> serde_json::Value {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
        conn.write_all(b"GET /api/v1/info HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .await
            .expect("request");
        let mut raw = String::new();
        conn.read_to_string(&mut raw).await.expect("response");
        server.abort();
        let (head, body) = raw.split_once("\r\n\r\n").expect("headers end");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        serde_json::from_str(body).expect("JSON body")
    }

    /// Guards the dashboard's alerts page: it is shown only when `info` names
    /// the alert service, and `router` (the edge's call) names none.
    #[tokio::test]
    async fn info_tells_where_the_alert_service_is() {
        let with = router_with(
            Arc::new(Empty),
            Options {
                mode: Mode::Demo,
                alerts_url: Some("http://127.0.0.1:7500/".into()),
                auth: auth::Config::default(),
            },
            &Registry::new(),
        );
        let got = info(with).await;
        assert_eq!(got["mode"], "demo");
        assert_eq!(got["alerts_url"], "http://127.0.0.1:7500/");
        assert_eq!(got["version"], env!("CARGO_PKG_VERSION"));

        let without = info(router(Arc::new(Empty), Mode::Edge, &Registry::new())).await;
        assert_eq!(without["mode"], "edge");
        assert!(without["alerts_url"].is_null(), "{without}");
    }
}
