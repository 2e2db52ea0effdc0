//! [`DataSource`] over one hub's gRPC `Query` API: the site's LAN dashboard.
//! Live updates come from `Query.Watch`, re-opened with backoff if the hub
//! goes away.

use async_trait::async_trait;
use common::backoff::Backoff;
use common::convert;
use common::model::{AnomalyEvent, HostStatus, RangeQuery, SeriesInfo, SeriesPoints};
use proto::query_client::QueryClient;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint};
use tracing::Instrument;

use super::{DataSource, EventQuery, Forecast, ForecastQuery, Processes};
use crate::{Error, Result};

const LIVE_CAPACITY: usize = 4096;

pub struct HubSource {
    client: QueryClient<Channel>,
    live: broadcast::Sender<HostStatus>,
    /// The hub's Query API has no event stream yet: nothing is ever sent here,
    /// and the LAN dashboard shows events from its first fetch only.
    events_live: broadcast::Sender<AnomalyEvent>,
}

impl HubSource {
    /// Connects lazily to `url` (e.g. `http://127.0.0.1:7400`) and starts the
    /// watch task, which stops with `token`.
    pub fn new(url: &str, token: CancellationToken) -> Result<Self> {
        let channel = Endpoint::from_shared(url.to_owned())
            .map_err(|e| Error::Invalid(format!("hub url {url:?}: {e}")))?
            .connect_timeout(std::time::Duration::from_secs(5))
            .connect_lazy();
        let client = QueryClient::new(channel).max_decoding_message_size(64 * 1024 * 1024);
        let live = broadcast::channel(LIVE_CAPACITY).0;
        tokio::spawn(
            watch(client.clone(), live.clone(), token)
                .instrument(tracing::info_span!("hub_watch", %url)),
        );
        Ok(Self {
            client,
            live,
            events_live: broadcast::channel(1).0,
        })
    }
}

async fn watch(
    mut client: QueryClient<Channel>,
    live: broadcast::Sender<HostStatus>,
    token: CancellationToken,
) {
    let mut backoff = Backoff::default();
    while !token.is_cancelled() {
        let opened = tokio::select! {
            _ = token.cancelled() => return,
            r = client.watch(proto::WatchRequest {}) => r,
        };
        match opened {
            Ok(resp) => {
                backoff.reset();
                let mut stream = resp.into_inner();
                loop {
                    let next = tokio::select! {
                        _ = token.cancelled() => return,
                        n = stream.message() => n,
                    };
                    match next {
                        Ok(Some(st)) => {
                            let _ = live.send(convert::status_from_proto(&st));
                        }
                        Ok(None) => break,
                        Err(e) => {
                            tracing::warn!(error = %e, "hub watch stream failed");
                            break;
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot open hub watch"),
        }
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep(backoff.next_delay()) => {}
        }
    }
}

#[async_trait]
impl DataSource for HubSource {
    async fn hosts(&self) -> Result<Vec<HostStatus>> {
        let resp = self
            .client
            .clone()
            .list_hosts(proto::ListHostsRequest {})
            .await?;
        Ok(resp
            .into_inner()
            .hosts
            .iter()
            .map(convert::status_from_proto)
            .collect())
    }

    async fn series(&self, host: &str) -> Result<Vec<SeriesInfo>> {
        let resp = self
            .client
            .clone()
            .list_series(proto::ListSeriesRequest {
                host: host.to_owned(),
            })
            .await?;
        Ok(resp
            .into_inner()
            .series
            .iter()
            .map(convert::series_info_from_proto)
            .collect())
    }

    async fn range(&self, q: &RangeQuery) -> Result<Vec<SeriesPoints>> {
        let resp = self
            .client
            .clone()
            .range(convert::range_query_to_proto(q))
            .await?;
        Ok(resp
            .into_inner()
            .series
            .iter()
            .map(convert::series_points_from_proto)
            .collect())
    }

    async fn bands(&self, q: &RangeQuery) -> Result<Vec<common::model::SeriesBand>> {
        let resp = self
            .client
            .clone()
            .bands(convert::range_query_to_proto(q))
            .await?;
        Ok(resp
            .into_inner()
            .series
            .iter()
            .map(convert::series_band_from_proto)
            .collect())
    }

    fn subscribe(&self) -> broadcast::Receiver<HostStatus> {
        self.live.subscribe()
    }

    async fn events(&self, q: &EventQuery) -> Result<Vec<AnomalyEvent>> {
        let req = proto::EventsRequest {
            host: q.host.clone().unwrap_or_default(),
            limit: u32::try_from(q.limit).unwrap_or(u32::MAX),
        };
        let resp = self.client.clone().events(req).await?;
        Ok(resp
            .into_inner()
            .events
            .iter()
            .map(convert::event_from_proto)
            .filter(|e| q.site.as_ref().is_none_or(|s| &e.site == s))
            .collect())
    }

    fn subscribe_events(&self) -> broadcast::Receiver<AnomalyEvent> {
        self.events_live.subscribe()
    }

    async fn processes(&self, host: &str) -> Result<Processes> {
        let resp = self
            .client
            .clone()
            .processes(proto::ProcessesRequest {
                host: host.to_owned(),
            })
            .await?;
        Ok(Processes::from_proto(&resp.into_inner()))
    }

    async fn forecasts(&self, q: &ForecastQuery) -> Result<Vec<Forecast>> {
        let req = proto::ForecastsRequest {
            host: q.host.clone().unwrap_or_default(),
            limit: u32::try_from(q.limit).unwrap_or(u32::MAX),
        };
        let resp = self.client.clone().forecasts(req).await?;
        Ok(resp
            .into_inner()
            .forecasts
            .iter()
            .map(Forecast::from_proto)
            .filter(|f| q.site.as_ref().is_none_or(|s| &f.site == s))
            .collect())
    }

    async fn costs(&self, host: Option<&str>) -> Result<Vec<crate::costs::HostCost>> {
        let req = proto::CostsRequest {
            host: host.unwrap_or_default().to_owned(),
        };
        let resp = self.client.clone().costs(req).await?;
        Ok(resp
            .into_inner()
            .hosts
            .iter()
            .map(crate::costs::HostCost::from_proto)
            .collect())
    }

    async fn correlations(&self) -> Result<Vec<crate::correlations::HubCorrelations>> {
        let resp = self
            .client
            .clone()
            .correlations(proto::CorrelationsRequest {})
            .await?;
        Ok(vec![crate::correlations::HubCorrelations::from_proto(
            &resp.into_inner(),
        )])
    }

    /// One hub's ledger is all of it: `host` only filters, in the handler.
    async fn ledger(&self, _host: Option<&str>) -> Result<Vec<crate::ledger::LedgerEntry>> {
        let resp = self.client.clone().ledger(proto::LedgerRequest {}).await?;
        Ok(resp
            .into_inner()
            .agents
            .iter()
            .map(crate::ledger::LedgerEntry::from_proto)
            .collect())
    }
}
