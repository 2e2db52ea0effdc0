//! The hub's small HTTP port: `/metrics`, `/healthz` (process up) and
//! `/readyz` (history store answers), and the JSON of `/api/v1/costs` and
//! `/api/v1/correlations`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::Ctx;

pub fn router(ctx: Arc<Ctx>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/api/v1/costs", get(crate::cost::api))
        .route("/api/v1/correlations", get(crate::correlation::api))
        .with_state(ctx)
}

async fn metrics(State(ctx): State<Arc<Ctx>>) -> impl IntoResponse {
    if let Some(outbox) = &ctx.outbox {
        // A Redis hiccup leaves the gauge at its last value.
        if let Ok(n) = outbox.len().await {
            ctx.metrics.uplink_outbox_frames.set(n as f64);
        }
    }
    // Fleet-wide totals only: per-agent figures are in the Query API's Ledger.
    let hosts = ctx.state.hosts();
    let missing: u64 = hosts
        .iter()
        .map(|h| h.stored_seq.saturating_sub(h.batches_stored))
        .sum();
    let complete = hosts
        .iter()
        .filter(|h| h.stored_seq == h.batches_stored)
        .count();
    ctx.metrics.ledger_missing.set(missing as f64);
    ctx.metrics.ledger_agents_complete.set(complete as f64);
    ctx.metrics.ledger_agents.set(hosts.len() as f64);
    let mut page = ctx.metrics.registry.render();
    // Per host and per site, rendered from the current state so a host's
    // figures are never stale; bounded by freshness::MAX_HOST_GAUGES.
    let now = common::now_ms();
    crate::freshness::render_metrics(&hosts, now, &mut page);
    crate::cost::render_metrics(
        &crate::cost::estimate(&ctx.config.cost, &hosts, now),
        &mut page,
    );
    crate::correlation::render_metrics(&ctx.correlations, &mut page);
    ctx.forecasts.render_metrics(&mut page);
    (
        [(header::CONTENT_TYPE, common::metrics::CONTENT_TYPE)],
        page,
    )
}

async fn readyz(State(ctx): State<Arc<Ctx>>) -> impl IntoResponse {
    match ctx.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready\n".to_owned()),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "history store unavailable\n".to_owned(),
            )
        }
    }
}
