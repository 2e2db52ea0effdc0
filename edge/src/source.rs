//! The gateway's [`DataSource`] over the edge: live state from memory; ranges
//! older than the hot window are asked of the owning hub down its uplink.

use std::sync::Arc;

use async_trait::async_trait;
use common::model::{AnomalyEvent, HostStatus, RangeQuery, SeriesInfo, SeriesPoints};
use gateway::source::{EventQuery, Processes};
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
}
