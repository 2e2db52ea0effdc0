//! Where the gateway's data comes from. The edge implements [`DataSource`] over
//! its multi-site live state; run alone, the gateway uses [`grpc::HubSource`]
//! against one hub's `Query` API.

pub mod grpc;

use async_trait::async_trait;
use common::model::{AnomalyEvent, HostStatus, RangeQuery, SeriesInfo, SeriesPoints};
use serde::Serialize;
use tokio::sync::broadcast;

use crate::Result;

#[async_trait]
pub trait DataSource: Send + Sync + 'static {
    /// Every known host, sorted by site then host.
    async fn hosts(&self) -> Result<Vec<HostStatus>>;
    /// Series of one host with their newest values.
    async fn series(&self, host: &str) -> Result<Vec<SeriesInfo>>;
    /// Points of the series matching `q`.
    async fn range(&self, q: &RangeQuery) -> Result<Vec<SeriesPoints>>;
    /// One `HostStatus` each time a host's new data is stored.
    fn subscribe(&self) -> broadcast::Receiver<HostStatus>;
    /// Recent anomaly events, newest first.
    async fn events(&self, q: &EventQuery) -> Result<Vec<AnomalyEvent>>;
    /// Each event as it opens, worsens or closes.
    fn subscribe_events(&self) -> broadcast::Receiver<AnomalyEvent>;
    /// The host's newest top-process list (`GET /api/v1/hosts/{host}/processes`).
    async fn processes(&self, host: &str) -> Result<Processes>;
}

/// A host's top processes as its agent last read them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Processes {
    /// Unix ms of the agent's reading; 0 when the host never sent a list.
    pub timestamp_ms: i64,
    pub processes: Vec<common::model::ProcessInfo>,
}

impl Processes {
    pub fn from_proto(p: &proto::ProcessesResponse) -> Self {
        Self {
            timestamp_ms: p.timestamp_ms,
            processes: p
                .processes
                .iter()
                .map(common::convert::process_from_proto)
                .collect(),
        }
    }
}

/// Which events `GET /api/v1/events` wants.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub host: Option<String>,
    pub site: Option<String>,
    pub limit: usize,
}
