//! The hub's gRPC `Query` service: what the site gateway and tools read.

use std::sync::Arc;

use common::convert;
use proto::query_server::Query;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status};

use crate::Ctx;

pub struct QueryService {
    ctx: Arc<Ctx>,
}

impl QueryService {
    pub fn new(ctx: Arc<Ctx>) -> Self {
        Self { ctx }
    }
}

type WatchStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<proto::HostStatus, Status>> + Send>>;

#[tonic::async_trait]
impl Query for QueryService {
    async fn list_hosts(
        &self,
        _: Request<proto::ListHostsRequest>,
    ) -> Result<Response<proto::ListHostsResponse>, Status> {
        let hosts = self
            .ctx
            .state
            .hosts()
            .iter()
            .map(convert::status_to_proto)
            .collect();
        Ok(Response::new(proto::ListHostsResponse { hosts }))
    }

    async fn list_series(
        &self,
        req: Request<proto::ListSeriesRequest>,
    ) -> Result<Response<proto::ListSeriesResponse>, Status> {
        let host = req.into_inner().host;
        let series = self.series(&host)?;
        Ok(Response::new(proto::ListSeriesResponse { series }))
    }

    async fn latest(
        &self,
        req: Request<proto::LatestRequest>,
    ) -> Result<Response<proto::LatestResponse>, Status> {
        let host = req.into_inner().host;
        let series = self.series(&host)?;
        Ok(Response::new(proto::LatestResponse { series }))
    }

    async fn range(
        &self,
        req: Request<proto::RangeRequest>,
    ) -> Result<Response<proto::RangeResponse>, Status> {
        let req = req.into_inner();
        if common::model::Agg::parse(&req.agg).is_none() {
            return Err(Status::invalid_argument(format!(
                "agg {:?}: use avg, min, max or last",
                req.agg
            )));
        }
        let q = convert::range_query_from_proto(&req);
        if q.host.is_empty() {
            return Err(Status::invalid_argument("range needs a host"));
        }
        if q.from_ms > q.to_ms {
            return Err(Status::invalid_argument("range: from is after to"));
        }
        let series = crate::history::range(self.ctx.store.as_ref(), &q)
            .await
            .map_err(|e| e.to_status())?;
        Ok(Response::new(proto::RangeResponse {
            series: series.iter().map(convert::series_points_to_proto).collect(),
        }))
    }

    async fn bands(
        &self,
        req: Request<proto::RangeRequest>,
    ) -> Result<Response<proto::BandsResponse>, Status> {
        let q = convert::range_query_from_proto(&req.into_inner());
        crate::history::bands(self.ctx.store.as_ref(), &q)
            .await
            .map(Response::new)
            .map_err(|e| e.to_status())
    }

    async fn ledger(
        &self,
        _: Request<proto::LedgerRequest>,
    ) -> Result<Response<proto::LedgerResponse>, Status> {
        let agents = Self::ledger(self.ctx.store.as_ref())
            .await
            .map_err(|e| e.to_status())?;
        Ok(Response::new(proto::LedgerResponse { agents }))
    }

    async fn events(
        &self,
        req: Request<proto::EventsRequest>,
    ) -> Result<Response<proto::EventsResponse>, Status> {
        let req = req.into_inner();
        let limit = match req.limit {
            0 => 100,
            n => (n as usize).min(crate::state::EVENTS_KEPT),
        };
        let host = (!req.host.is_empty()).then_some(req.host.as_str());
        let events = self
            .ctx
            .state
            .events(host, limit)
            .iter()
            .map(convert::event_to_proto)
            .collect();
        Ok(Response::new(proto::EventsResponse { events }))
    }

    async fn processes(
        &self,
        req: Request<proto::ProcessesRequest>,
    ) -> Result<Response<proto::ProcessesResponse>, Status> {
        let req = req.into_inner();
        Ok(Response::new(processes_response(
            &self.ctx.state,
            &req.host,
        )))
    }

    async fn forecasts(
        &self,
        req: Request<proto::ForecastsRequest>,
    ) -> Result<Response<proto::ForecastsResponse>, Status> {
        let req = req.into_inner();
        Ok(Response::new(crate::forecasting::forecasts_response(
            &self.ctx.forecasts,
            &req.host,
            req.limit,
        )))
    }

    async fn costs(
        &self,
        req: Request<proto::CostsRequest>,
    ) -> Result<Response<proto::CostsResponse>, Status> {
        let host = req.into_inner().host;
        crate::cost::costs_response(
            &self.ctx.config.cost,
            &self.ctx.state,
            &host,
            common::now_ms(),
        )
        .map(Response::new)
        .ok_or_else(|| Status::not_found(format!("unknown host {host:?}")))
    }

    async fn correlations(
        &self,
        _: Request<proto::CorrelationsRequest>,
    ) -> Result<Response<proto::CorrelationsResponse>, Status> {
        Ok(Response::new(crate::correlation::correlations_response(
            &self.ctx,
        )))
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        _: Request<proto::WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let rx = self.ctx.state.subscribe();
        let stream = BroadcastStream::new(rx).filter_map(|item| match item {
            Ok(status) => Some(Ok(convert::status_to_proto(&status))),
            // A slow watcher skips updates; the next one carries the full state.
            Err(BroadcastStreamRecvError::Lagged(_)) => None,
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

impl QueryService {
    /// The ledger as stored, with what is missing derived from dense seqs.
    pub async fn ledger(
        store: &dyn crate::store::HistoryStore,
    ) -> crate::Result<Vec<proto::AgentLedger>> {
        Ok(store
            .ledger()
            .await?
            .into_iter()
            .map(|l| proto::AgentLedger {
                missing: l.last_seq.saturating_sub(l.batches),
                completeness: if l.last_seq == 0 {
                    1.0
                } else {
                    (l.batches as f64 / l.last_seq as f64).min(1.0)
                },
                agent_id: l.agent_id,
                host: l.host,
                last_seq: l.last_seq,
                batches: l.batches,
                rows: l.rows,
                duplicates: l.duplicates,
            })
            .collect())
    }

    fn series(&self, host: &str) -> Result<Vec<proto::SeriesInfo>, Status> {
        if self.ctx.state.host(host).is_none() {
            return Err(Status::not_found(format!("unknown host {host:?}")));
        }
        Ok(self
            .ctx
            .state
            .series(host)
            .iter()
            .map(convert::series_info_to_proto)
            .collect())
    }
}

/// A host's newest top-process list; empty (timestamp 0) for a host that
/// never sent one, so an unknown host is not an error here.
pub fn processes_response(state: &crate::state::State, host: &str) -> proto::ProcessesResponse {
    match state.processes(host) {
        Some((at, list)) => proto::ProcessesResponse {
            timestamp_ms: at,
            processes: list.iter().map(convert::process_to_proto).collect(),
        },
        None => proto::ProcessesResponse::default(),
    }
}
