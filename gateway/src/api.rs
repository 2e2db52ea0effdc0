//! REST under `/api/v1`: what serves the page, hosts, series of a host, ranges, events,
//! capacity forecasts, the cost estimate, the anomaly/load correlation, the
//! delivery ledger.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::Json;
use common::model::{Agg, AnomalyEvent, HostStatus, Labels, RangeQuery, SeriesInfo, SeriesPoints};
use serde::Deserialize;

use crate::correlations::Correlations;
use crate::costs::Costs;
use crate::ledger::LedgerEntry;
use crate::source::{EventQuery, Forecast, ForecastQuery, Processes};
use crate::{AppState, Error, Result};

/// Default range when `from` is not given: the last 15 minutes.
const DEFAULT_RANGE_MS: i64 = 15 * 60 * 1000;

/// `{"mode", "version", "alerts_url"}`: `alerts_url` is null when this
/// deployment has no alert service, and the dashboard then hides its alerts page.
pub async fn info(State(app): State<Arc<AppState>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "mode": app.mode,
        "version": env!("CARGO_PKG_VERSION"),
        "alerts_url": app.alerts_url,
    }))
}

pub async fn hosts(State(app): State<Arc<AppState>>) -> Result<Json<Vec<HostStatus>>> {
    Ok(Json(app.source.hosts().await?))
}

pub async fn host_series(
    State(app): State<Arc<AppState>>,
    Path(host): Path<String>,
) -> Result<Json<Vec<SeriesInfo>>> {
    Ok(Json(app.source.series(&host).await?))
}

pub async fn host_processes(
    State(app): State<Arc<AppState>>,
    Path(host): Path<String>,
) -> Result<Json<Processes>> {
    Ok(Json(app.source.processes(&host).await?))
}

#[derive(Debug, Deserialize)]
pub struct EventParams {
    host: Option<String>,
    site: Option<String>,
    limit: Option<usize>,
}

/// Most events one request returns.
const MAX_EVENTS: usize = 1000;

pub async fn events(
    State(app): State<Arc<AppState>>,
    Query(p): Query<EventParams>,
) -> Result<Json<Vec<AnomalyEvent>>> {
    let q = EventQuery {
        host: p.host.filter(|h| !h.is_empty()),
        site: p.site.filter(|s| !s.is_empty()),
        limit: p.limit.unwrap_or(100).min(MAX_EVENTS),
    };
    Ok(Json(app.source.events(&q).await?))
}

#[derive(Debug, Deserialize)]
pub struct ForecastParams {
    host: Option<String>,
    site: Option<String>,
    limit: Option<usize>,
}

/// Forecasts one request returns when it names no limit, and at most.
const DEFAULT_FORECASTS: usize = 50;
const MAX_FORECASTS: usize = 1000;

/// `GET /api/v1/forecasts?limit=N&host=H&site=S`: capacity forecasts ranked
/// fleet-wide by soonest exhaustion.
pub async fn forecasts(
    State(app): State<Arc<AppState>>,
    Query(p): Query<ForecastParams>,
) -> Result<Json<Vec<Forecast>>> {
    let limit = p.limit.unwrap_or(DEFAULT_FORECASTS);
    if limit == 0 || limit > MAX_FORECASTS {
        return Err(Error::Invalid(format!(
            "limit {limit}: use 1 to {MAX_FORECASTS}"
        )));
    }
    let q = ForecastQuery {
        host: p.host.filter(|h| !h.is_empty()),
        site: p.site.filter(|s| !s.is_empty()),
        limit,
    };
    Ok(Json(app.source.forecasts(&q).await?))
}

#[derive(Debug, Deserialize)]
pub struct CostParams {
    host: Option<String>,
    site: Option<String>,
}

/// `GET /api/v1/costs?site=S&host=H`: each host's hourly cost estimate with
/// the sums per site and for the fleet.
pub async fn costs(
    State(app): State<Arc<AppState>>,
    Query(p): Query<CostParams>,
) -> Result<Json<Costs>> {
    let host = p.host.filter(|h| !h.is_empty());
    let mut rows = app.source.costs(host.as_deref()).await?;
    if let Some(site) = p.site.filter(|s| !s.is_empty()) {
        rows.retain(|h| h.site == site);
    }
    Ok(Json(crate::costs::summarize(rows, common::now_ms())))
}

#[derive(Debug, Deserialize)]
pub struct CorrelationParams {
    top: Option<usize>,
}

/// Hosts in the merged ranking when the request names no `top`, and at most.
const DEFAULT_TOP: usize = 10;
const MAX_TOP: usize = 1000;

/// `GET /api/v1/correlations?top=N`: each hub's newest anomaly/load
/// correlation, labelled by hub, and its hosts ranked together by anomalies
/// per unit of load.
pub async fn correlations(
    State(app): State<Arc<AppState>>,
    Query(p): Query<CorrelationParams>,
) -> Result<Json<Correlations>> {
    let top = p.top.unwrap_or(DEFAULT_TOP);
    if top > MAX_TOP {
        return Err(Error::Invalid(format!("top {top}: use 0 to {MAX_TOP}")));
    }
    let hubs = app.source.correlations().await?;
    Ok(Json(crate::correlations::summarize(
        hubs,
        top,
        common::now_ms(),
    )))
}

#[derive(Debug, Deserialize)]
pub struct LedgerParams {
    host: Option<String>,
    site: Option<String>,
}

/// `GET /api/v1/ledger?site=S&host=H`: per agent, what it sent (by seq) against
/// what is in history, sorted by site, host and agent.
pub async fn ledger(
    State(app): State<Arc<AppState>>,
    Query(p): Query<LedgerParams>,
) -> Result<Json<Vec<LedgerEntry>>> {
    let host = p.host.filter(|h| !h.is_empty());
    let site = p.site.filter(|s| !s.is_empty());
    let (hosts, rows) = futures::try_join!(app.source.hosts(), app.source.ledger(host.as_deref()))?;
    if let Some(h) = &host {
        // The ledger may name a host whose state is gone; either one knows it.
        if !hosts.iter().any(|s| &s.host == h) && !rows.iter().any(|r| &r.host == h) {
            return Err(Error::NotFound(format!("unknown host {h:?}")));
        }
    }
    Ok(Json(crate::ledger::entries(
        rows,
        &hosts,
        host.as_deref(),
        site.as_deref(),
    )))
}

#[derive(Debug, Deserialize)]
pub struct SeriesParams {
    host: String,
    #[serde(default)]
    name: String,
    /// `k=v,k2=v2`
    #[serde(default)]
    labels: String,
    from: Option<i64>,
    to: Option<i64>,
    #[serde(default)]
    max_points: usize,
    /// avg (default), min, max or last: how points of one bucket combine.
    #[serde(default)]
    agg: String,
}

impl SeriesParams {
    /// The query these parameters ask for, checked: a host, `from` not after
    /// `to` (defaults: the last 15 minutes), labels and aggregation that parse.
    fn query(self) -> Result<RangeQuery> {
        let to = self.to.unwrap_or_else(common::now_ms);
        let from = self.from.unwrap_or(to - DEFAULT_RANGE_MS);
        if from > to {
            return Err(Error::Invalid("from is after to".into()));
        }
        if self.host.is_empty() {
            return Err(Error::Invalid("host is required".into()));
        }
        let agg = Agg::parse(&self.agg).ok_or_else(|| {
            Error::Invalid(format!("agg {:?}: use avg, min, max or last", self.agg))
        })?;
        Ok(RangeQuery {
            labels: parse_labels(&self.labels)?,
            host: self.host,
            name: self.name,
            from_ms: from,
            to_ms: to,
            max_points: self.max_points,
            agg,
        })
    }
}

pub async fn series(
    State(app): State<Arc<AppState>>,
    Query(p): Query<SeriesParams>,
) -> Result<Json<Vec<SeriesPoints>>> {
    Ok(Json(app.source.range(&p.query()?).await?))
}

/// `GET /api/v1/bands`: the expected band behind each series `series` would
/// return (same host, name, labels, from, to), as step points: each holds
/// from its `t` until the next. Series without a band are left out.
pub async fn bands(
    State(app): State<Arc<AppState>>,
    Query(p): Query<SeriesParams>,
) -> Result<Json<Vec<common::model::SeriesBand>>> {
    Ok(Json(app.source.bands(&p.query()?).await?))
}

/// Parses `k=v,k2=v2` (empty → no constraint).
pub fn parse_labels(s: &str) -> Result<Labels> {
    let mut out = Labels::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| Error::Invalid(format!("label {part:?} must be key=value")))?;
        out.insert(k.trim().to_owned(), v.trim().to_owned());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_selector() {
        let l = parse_labels("state=used,device=sda1").expect("valid");
        assert_eq!(l.get("state").map(String::as_str), Some("used"));
        assert_eq!(l.len(), 2);
        assert!(parse_labels("").expect("empty ok").is_empty());
        assert!(parse_labels("nokey").is_err());
    }
}
