//! Where the gateway's data comes from. The edge implements [`DataSource`] over
//! its multi-site live state; run alone, the gateway uses [`grpc::HubSource`]
//! against one hub's `Query` API.

pub mod grpc;

use async_trait::async_trait;
use common::model::{AnomalyEvent, HostStatus, RangeQuery, SeriesInfo, SeriesPoints};
use serde::Serialize;
use tokio::sync::broadcast;

use crate::{Error, Result};

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
    /// Capacity forecasts, soonest exhaustion first (`GET /api/v1/forecasts`).
    /// A source that has none says so rather than answering an empty list.
    async fn forecasts(&self, _q: &ForecastQuery) -> Result<Vec<Forecast>> {
        Err(Error::Unavailable(
            "this data source has no capacity forecasts".into(),
        ))
    }
    /// The hourly cost estimate of every host, or of `host` alone
    /// (`GET /api/v1/costs`); rows only, the totals are [`crate::costs::summarize`]'s.
    async fn costs(&self, _host: Option<&str>) -> Result<Vec<crate::costs::HostCost>> {
        Err(Error::Unavailable(
            "this data source has no cost estimate".into(),
        ))
    }
    /// Each hub's newest anomaly/load correlation analysis, one entry per
    /// hub asked (`GET /api/v1/correlations`); the ranking across hubs is
    /// [`crate::correlations::summarize`]'s.
    async fn correlations(&self) -> Result<Vec<crate::correlations::HubCorrelations>> {
        Err(Error::Unavailable(
            "this data source has no anomaly/load correlation".into(),
        ))
    }
    /// The detector's expected band of the series matching `q`
    /// (`GET /api/v1/bands`; `max_points` and `agg` do not apply).
    async fn bands(&self, _q: &RangeQuery) -> Result<Vec<common::model::SeriesBand>> {
        Err(Error::Unavailable(
            "this data source has no expected bands".into(),
        ))
    }
    /// The per-agent delivery ledger of every agent, or of the hub of `host`
    /// when it matters which hub is asked (`GET /api/v1/ledger`); rows only,
    /// sites and filters are [`crate::ledger::entries`]'.
    async fn ledger(&self, _host: Option<&str>) -> Result<Vec<crate::ledger::LedgerEntry>> {
        Err(Error::Unavailable(
            "this data source has no delivery ledger".into(),
        ))
    }
}

/// Which forecasts `GET /api/v1/forecasts` wants.
#[derive(Debug, Clone, Default)]
pub struct ForecastQuery {
    pub host: Option<String>,
    pub site: Option<String>,
    pub limit: usize,
}

/// The trend of one finite resource of a host and when it runs out, as the
/// hub's forecaster last saw it (`proto::Forecast`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Forecast {
    pub host: String,
    pub site: String,
    /// filesystem, inodes, memory, swap, file_descriptors.
    pub resource: String,
    /// device and mountpoint for filesystems and inodes.
    pub labels: common::model::Labels,
    /// rising, falling or flat.
    pub trend: String,
    pub rate_per_second: f64,
    /// Seconds from `updated_ms` until full; null when not rising.
    pub seconds_to_exhaustion: Option<f64>,
    /// Band of the same: `low` at the steepest likely rate, `high` at the
    /// gentlest (null: it may never fill).
    pub low_seconds: Option<f64>,
    pub high_seconds: Option<f64>,
    /// Unix ms when it is full on the fitted trend.
    pub exhaustion_ms: Option<i64>,
    pub confidence: f64,
    pub used: f64,
    pub capacity: f64,
    pub updated_ms: i64,
    pub span_seconds: f64,
}

impl Forecast {
    pub fn from_proto(f: &proto::Forecast) -> Self {
        Self {
            host: f.host.clone(),
            site: f.site.clone(),
            resource: f.resource.clone(),
            labels: common::convert::labels_from_proto(&f.labels),
            trend: f.trend.clone(),
            rate_per_second: f.rate_per_second,
            seconds_to_exhaustion: f.seconds_to_exhaustion,
            low_seconds: f.low_seconds,
            high_seconds: f.high_seconds,
            exhaustion_ms: f
                .seconds_to_exhaustion
                .map(|s| f.updated_ms.saturating_add((s * 1000.0) as i64)),
            confidence: f.confidence,
            used: f.used,
            capacity: f.capacity,
            updated_ms: f.updated_ms,
            span_seconds: f.span_seconds,
        }
    }
}

/// Orders forecasts from many hubs as each hub does its own: soonest
/// exhaustion first, then those that do not run out, fullest first.
pub fn rank_forecasts(list: &mut [Forecast]) {
    list.sort_by(|a, b| match (a.exhaustion_ms, b.exhaustion_ms) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => {
            let share = |f: &Forecast| f.used / f.capacity;
            share(b).total_cmp(&share(a))
        }
    });
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Ranks forecasts given as (host, seconds to exhaustion, updated ms,
    /// used of 100) and compares the hosts in order.
    fn check(input: &[(&str, Option<f64>, i64, f64)], expected: &[&str]) {
        let mut list: Vec<Forecast> = input
            .iter()
            .map(|&(host, secs, updated_ms, used)| {
                Forecast::from_proto(&proto::Forecast {
                    host: host.into(),
                    seconds_to_exhaustion: secs,
                    updated_ms,
                    used,
                    capacity: 100.0,
                    ..Default::default()
                })
            })
            .collect();
        rank_forecasts(&mut list);
        let got: Vec<&str> = list.iter().map(|f| f.host.as_str()).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn hubs_answers_rank_by_when_they_run_out() {
        check(&[], &[]);
        // Same time left, read a minute apart: the earlier reading runs out first.
        check(
            &[
                ("later", Some(600.0), 60_000, 1.0),
                ("first", Some(600.0), 0, 1.0),
            ],
            &["first", "later"],
        );
        // Those that never run out follow, fullest first.
        check(
            &[
                ("half", None, 0, 50.0),
                ("full", None, 0, 99.0),
                ("year", Some(3.15e7), 0, 1.0),
            ],
            &["year", "full", "half"],
        );
    }

    #[test]
    fn exhaustion_is_the_reading_time_plus_the_time_left() {
        let f = Forecast::from_proto(&proto::Forecast {
            seconds_to_exhaustion: Some(1.5),
            updated_ms: 1_000,
            ..Default::default()
        });
        assert_eq!(f.exhaustion_ms, Some(2_500));
        let flat = Forecast::from_proto(&proto::Forecast::default());
        assert_eq!(flat.exhaustion_ms, None);
    }
}
