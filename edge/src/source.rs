//! The gateway's [`DataSource`] over the edge: live state from memory; ranges
//! older than the hot window are asked of the owning hub down its uplink.

use std::sync::Arc;

use async_trait::async_trait;
use common::model::{AnomalyEvent, HostStatus, RangeQuery, SeriesInfo, SeriesPoints};
use gateway::correlations::HubCorrelations;
use gateway::costs::HostCost;
use gateway::ledger::LedgerEntry;
use gateway::source::{EventQuery, Forecast, ForecastQuery, Processes};
use gateway::{DataSource, Error, Result};
use tokio::sync::broadcast;

use crate::Edge;

/// Points per series when the caller gives no cap, as the hub does.
const DEFAULT_MAX_POINTS: usize = 1_000;

pub struct EdgeSource(pub Arc<Edge>);

#[async_trait]
impl DataSource for EdgeSource {
    async fn hosts(&self) -> Result<Vec<HostStatus>> {
        Ok(self.0.fleet.hosts())
    }

    async fn series(&self, host: &str) -> Result<Vec<SeriesInfo>> {
        self.0
            .fleet
            .series(host)
            .ok_or_else(|| Error::NotFound(format!("unknown host {host:?}")))
    }

    async fn range(&self, q: &RangeQuery) -> Result<Vec<SeriesPoints>> {
        let edge = &self.0;
        let in_memory = edge
            .fleet
            .oldest_ms(&q.host)
            .is_some_and(|oldest| q.from_ms >= oldest);
        if !in_memory {
            if let Some(hub) = edge.fleet.hub_of(&q.host) {
                let query =
                    proto::uplink_request::Query::Range(common::convert::range_query_to_proto(q));
                match edge.hubs.ask(&hub, query).await {
                    Ok(resp) => {
                        edge.metrics.remote_queries.inc();
                        if let Some(proto::uplink_response::Result::Range(r)) = resp.result {
                            return Ok(r
                                .series
                                .iter()
                                .map(common::convert::series_points_from_proto)
                                .collect());
                        }
                    }
                    // The hot window is still a useful (partial) answer.
                    Err(e) => {
                        tracing::warn!(host = %q.host, error = %e, "remote range failed; answering from memory")
                    }
                }
            }
        }
        let mut series = edge.fleet.range(q);
        let cap = if q.max_points == 0 {
            DEFAULT_MAX_POINTS
        } else {
            q.max_points
        };
        for s in &mut series {
            s.points = common::thin::thin(std::mem::take(&mut s.points), cap, q.agg);
        }
        Ok(series)
    }

    fn subscribe(&self) -> broadcast::Receiver<HostStatus> {
        self.0.fleet.subscribe()
    }

    async fn events(&self, q: &EventQuery) -> Result<Vec<AnomalyEvent>> {
        Ok(self
            .0
            .fleet
            .events(q.host.as_deref(), q.site.as_deref(), q.limit))
    }

    fn subscribe_events(&self) -> broadcast::Receiver<AnomalyEvent> {
        self.0.fleet.subscribe_events()
    }

    /// Asked of the host's hub down its uplink: the list changes every few
    /// seconds and only the hub's newest is worth showing.
    async fn processes(&self, host: &str) -> Result<Processes> {
        let edge = &self.0;
        let hub = edge
            .fleet
            .hub_of(host)
            .ok_or_else(|| Error::NotFound(format!("unknown host {host:?}")))?;
        let query = proto::uplink_request::Query::Processes(proto::ProcessesRequest {
            host: host.to_owned(),
        });
        let resp = edge
            .hubs
            .ask(&hub, query)
            .await
            .map_err(Error::Unavailable)?;
        edge.metrics.remote_queries.inc();
        if !resp.error.is_empty() {
            return Err(Error::Unavailable(resp.error));
        }
        match resp.result {
            Some(proto::uplink_response::Result::Processes(p)) => Ok(Processes::from_proto(&p)),
            _ => Err(Error::Unavailable(format!(
                "hub {hub} answered a processes request with something else"
            ))),
        }
    }

    /// Merged from every hub asked into one ranking ([`EdgeSource::ask_hubs`]).
    async fn forecasts(&self, q: &ForecastQuery) -> Result<Vec<Forecast>> {
        let request = proto::ForecastsRequest {
            host: q.host.clone().unwrap_or_default(),
            limit: u32::try_from(q.limit).unwrap_or(u32::MAX),
        };
        let mut merged = self
            .ask_hubs(
                q.host.as_deref(),
                "forecasts",
                || proto::uplink_request::Query::Forecasts(request.clone()),
                |_, r| match r {
                    proto::uplink_response::Result::Forecasts(r) => Some(
                        r.forecasts
                            .iter()
                            .map(Forecast::from_proto)
                            .filter(|f| q.site.as_ref().is_none_or(|s| &f.site == s))
                            .collect(),
                    ),
                    _ => None,
                },
            )
            .await?;
        gateway::source::rank_forecasts(&mut merged);
        merged.truncate(q.limit);
        Ok(merged)
    }

    /// The rows of every hub asked, concatenated; the gateway sums them, so
    /// with a hub left out the totals are those of the hubs that answered.
    async fn costs(&self, host: Option<&str>) -> Result<Vec<HostCost>> {
        let request = proto::CostsRequest {
            host: host.unwrap_or_default().to_owned(),
        };
        self.ask_hubs(
            host,
            "costs",
            || proto::uplink_request::Query::Costs(request.clone()),
            |_, r| match r {
                proto::uplink_response::Result::Costs(r) => {
                    Some(r.hosts.iter().map(HostCost::from_proto).collect())
                }
                _ => None,
            },
        )
        .await
    }

    /// Asked of the host's hub down its socket: bands live in its history
    /// only (the hot window holds values, not models).
    async fn bands(&self, q: &RangeQuery) -> Result<Vec<common::model::SeriesBand>> {
        let request = common::convert::range_query_to_proto(q);
        self.ask_hubs(
            Some(&q.host),
            "bands",
            || proto::uplink_request::Query::Bands(request.clone()),
            |_, r| match r {
                proto::uplink_response::Result::Bands(r) => Some(
                    r.series
                        .iter()
                        .map(common::convert::series_band_from_proto)
                        .collect(),
                ),
                _ => None,
            },
        )
        .await
    }

    /// Every connected hub's newest analysis, one entry each, labelled with
    /// the id the hub connected with: the statistics of different hubs are
    /// not merged (see `gateway::correlations`).
    async fn correlations(&self) -> Result<Vec<HubCorrelations>> {
        self.ask_hubs(
            None,
            "correlations",
            || proto::uplink_request::Query::Correlations(proto::CorrelationsRequest {}),
            |hub, r| match r {
                proto::uplink_response::Result::Correlations(r) => {
                    let mut c = HubCorrelations::from_proto(&r);
                    hub.clone_into(&mut c.hub);
                    Some(vec![c])
                }
                _ => None,
            },
        )
        .await
    }

    /// The rows of every hub asked, concatenated: each hub's agents are its
    /// own, and the gateway names their sites.
    async fn ledger(&self, host: Option<&str>) -> Result<Vec<LedgerEntry>> {
        self.ask_hubs(
            host,
            "ledger",
            || proto::uplink_request::Query::Ledger(proto::LedgerRequest {}),
            |_, r| match r {
                proto::uplink_response::Result::Ledger(r) => {
                    Some(r.agents.iter().map(LedgerEntry::from_proto).collect())
                }
                _ => None,
            },
        )
        .await
    }
}

impl EdgeSource {
    /// Asks every connected hub at once (the host's hub alone when one is
    /// named) and gathers what `take` finds in each answer. A hub that fails,
    /// is slow or answers something else is left out and logged: the others'
    /// rows are still worth showing; only when every hub asked fails is it
    /// an error.
    async fn ask_hubs<T>(
        &self,
        host: Option<&str>,
        what: &str,
        query: impl Fn() -> proto::uplink_request::Query,
        mut take: impl FnMut(&str, proto::uplink_response::Result) -> Option<Vec<T>>,
    ) -> Result<Vec<T>> {
        let edge = &self.0;
        let hubs = match host {
            Some(host) => match edge.fleet.hub_of(host) {
                Some(hub) => vec![hub],
                None => return Err(Error::NotFound(format!("unknown host {host:?}"))),
            },
            None => edge.hubs.connected(),
        };
        let answers = futures::future::join_all(hubs.iter().map(|hub| {
            let query = query();
            async move { (hub, edge.hubs.ask(hub, query).await) }
        }))
        .await;
        let mut rows = Vec::new();
        let mut failed = Vec::new();
        for (hub, answer) in answers {
            edge.metrics.remote_queries.inc();
            match answer.map(|r| r.result.and_then(|r| take(hub, r))) {
                Ok(Some(r)) => rows.extend(r),
                Ok(None) => failed.push(format!("hub {hub} answered with something else")),
                Err(e) => failed.push(e),
            }
        }
        if !failed.is_empty() {
            tracing::warn!(what, failed = ?failed, asked = hubs.len(), "answers missing from some hubs");
            if failed.len() == hubs.len() {
                return Err(Error::Unavailable(failed.join("; ")));
            }
        }
        Ok(rows)
    }
}
