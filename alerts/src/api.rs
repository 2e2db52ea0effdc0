//! The HTTP API: Alertmanager's v2 endpoints (`alertmanager.rs`) so an
//! existing Prometheus or amtool can talk to us, our own subscriptions API
//! (`subscriptions.rs`), the dashboard's live feed (`live.rs`), and
//! `/metrics` + `/healthz`. Who is calling is decided here, once.

pub mod alertmanager;
pub mod live;
pub mod subscriptions;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use axum::Router;
use sha2::{Digest, Sha256};
use tokio::sync::broadcast;

use crate::config::Config;
use crate::deliver::LiveNotice;
use crate::engine::EngineHandle;
use crate::error::{Error, Result};
use crate::metrics::AlertMetrics;
use crate::store::Store;

/// Largest request body (a Prometheus batch of alerts).
pub const MAX_BODY: usize = 4 << 20;

#[derive(Clone)]
pub struct ApiState {
    pub config: Arc<Config>,
    pub engine: EngineHandle,
    pub store: Store,
    pub metrics: AlertMetrics,
    pub live: broadcast::Sender<LiveNotice>,
    pub started_ms: i64,
}

/// The person behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub admin: bool,
}

impl Caller {
    /// `None` for admins (they see everything), else their name.
    pub fn scope(&self) -> Option<String> {
        (!self.admin).then(|| self.name.clone())
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Hex SHA-256 of an API token, as `[[users]] token_sha256` holds it.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl ApiState {
    /// Who is calling the subscriptions API: a user by token, or in demo
    /// mode (no token sent) the one user `demo`.
    pub fn caller(&self, headers: &HeaderMap) -> Result<Caller> {
        match bearer(headers) {
            Some(token) => {
                let hash = token_hash(token);
                self.config
                    .users
                    .iter()
                    .find(|u| constant_time_eq(u.token_sha256.as_bytes(), hash.as_bytes()))
                    .map(|u| Caller {
                        name: u.name.clone(),
                        admin: u.admin,
                    })
                    .ok_or_else(|| {
                        self.metrics.rejected("bad_token");
                        Error::Unauthorized("unknown API token".into())
                    })
            }
            None if self.config.demo => Ok(Caller {
                name: "demo".into(),
                admin: true,
            }),
            None => {
                self.metrics.rejected("no_token");
                Err(Error::Unauthorized(
                    "send Authorization: Bearer <token> (a token of [[users]] in the alerts config)"
                        .into(),
                ))
            }
        }
    }

    /// The Alertmanager endpoints are open unless `ingest_token` is set.
    pub fn check_ingest(&self, headers: &HeaderMap) -> Result<()> {
        let Some(want) = &self.config.ingest_token else {
            return Ok(());
        };
        match bearer(headers) {
            Some(t) if constant_time_eq(t.as_bytes(), want.as_bytes()) => Ok(()),
            _ => {
                self.metrics.rejected("bad_ingest_token");
                Err(Error::Unauthorized("wrong or missing ingest token".into()))
            }
        }
    }
}

/// Lets the dashboard's origins call the API with their token.
fn cors(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{HeaderValue, Method};
    let allowed: Vec<HeaderValue> = origins.iter().filter_map(|o| o.parse().ok()).collect();
    (!allowed.is_empty()).then(|| {
        tower_http::cors::CorsLayer::new()
            .allow_origin(allowed)
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
    })
}

pub fn router(state: ApiState) -> Router {
    let registry = state.metrics.registry.clone();
    let cors = cors(&state.config.cors_origins);
    let app = Router::new()
        .route(
            "/api/v2/alerts",
            post(alertmanager::post_alerts).get(alertmanager::get_alerts),
        )
        .route(
            "/api/v2/silences",
            get(alertmanager::get_silences).post(alertmanager::post_silence),
        )
        .route(
            "/api/v2/silence/{id}",
            get(alertmanager::get_silence).delete(alertmanager::delete_silence),
        )
        .route("/api/v2/status", get(alertmanager::status))
        .route("/api/v2/receivers", get(alertmanager::receivers))
        .route("/api/v1/alerts", get(subscriptions::list_alerts))
        .route(
            "/api/v1/subscriptions",
            get(subscriptions::list).post(subscriptions::create),
        )
        .route("/api/v1/subscriptions/{id}", delete(subscriptions::remove))
        .route("/api/v1/deliveries", get(subscriptions::deliveries))
        .route("/api/v1/alerts/live", get(live::upgrade))
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
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state);
    match cors {
        Some(c) => app.layer(c),
        None => app,
    }
}
