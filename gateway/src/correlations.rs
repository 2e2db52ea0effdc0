//! `GET /api/v1/correlations`: each hub's newest anomaly/load correlation
//! (hub `correlation.rs`, every `correlation.every` over the last
//! `correlation.window`), one entry per hub labelled with its id and site.
//!
//! Hubs' statistics are not merged: each is computed over its own window
//! (ending when that hub last ran, up to `every` apart), with its own
//! detectors' idea of an anomaly, and a fleet-wide r is not a function of
//! the per-hub r's. What is merged is the ranking of hosts by anomalies per
//! unit of load: a per-host rate (anomalies per hour over the hub's window,
//! divided by the host's mean CPU load), so hosts of different hubs compare
//! as long as their hubs' windows and detectors do; each row names its hub.

use serde::Serialize;

/// Pearson and Spearman of anomaly rate against mean load (`proto::CorrelationStat`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stat {
    /// Pairs behind the statistics: hosts, or sites for `across_sites`.
    pub n: u32,
    /// Null below 3 pairs or when either side is constant.
    pub pearson: Option<f64>,
    pub spearman: Option<f64>,
}

impl Stat {
    fn from_proto(s: Option<&proto::CorrelationStat>) -> Self {
        let s = s.cloned().unwrap_or_default();
        Self {
            n: s.n,
            pearson: s.pearson,
            spearman: s.spearman,
        }
    }
}

/// A host's mean load over its hub's window and its anomalies in it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostRate {
    pub host: String,
    pub site: String,
    pub events: u32,
    pub anomalies_per_hour: f64,
    /// Headline CPU utilization in [0, 1].
    pub mean_load: f64,
    pub load_samples: u32,
    /// anomalies_per_hour / max(mean_load, 0.05).
    pub per_unit_load: f64,
}

impl HostRate {
    fn from_proto(h: &proto::HostAnomalyRate) -> Self {
        Self {
            host: h.host.clone(),
            site: h.site.clone(),
            events: h.events,
            anomalies_per_hour: h.anomalies_per_hour,
            mean_load: h.mean_load,
            load_samples: h.load_samples,
            per_unit_load: h.per_unit_load,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SiteStat {
    pub site: String,
    #[serde(flatten)]
    pub stat: Stat,
    pub events: u32,
    pub mean_load: f64,
    pub anomalies_per_host_hour: f64,
}

/// One hub's analysis, as its own `GET /api/v1/correlations` reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub computed_ms: i64,
    pub window_start_ms: i64,
    pub window_end_ms: i64,
    pub load_metric: String,
    pub events: u32,
    pub events_without_load: u32,
    /// Rates are lower bounds: the events read did not reach back to the
    /// window's start.
    pub events_truncated: bool,
    /// Across the hub's hosts.
    pub fleet: Stat,
    /// Across the hub's sites.
    pub across_sites: Stat,
    pub sites: Vec<SiteStat>,
    pub top_per_load: Vec<HostRate>,
    pub hosts: Vec<HostRate>,
}

impl Report {
    fn from_proto(r: &proto::CorrelationReport) -> Self {
        Self {
            computed_ms: r.computed_ms,
            window_start_ms: r.window_start_ms,
            window_end_ms: r.window_end_ms,
            load_metric: r.load_metric.clone(),
            events: r.events,
            events_without_load: r.events_without_load,
            events_truncated: r.events_truncated,
            fleet: Stat::from_proto(r.fleet.as_ref()),
            across_sites: Stat::from_proto(r.across_sites.as_ref()),
            sites: r
                .sites
                .iter()
                .map(|s| SiteStat {
                    site: s.site.clone(),
                    stat: Stat::from_proto(s.stat.as_ref()),
                    events: s.events,
                    mean_load: s.mean_load,
                    anomalies_per_host_hour: s.anomalies_per_host_hour,
                })
                .collect(),
            top_per_load: r.top_per_load.iter().map(HostRate::from_proto).collect(),
            hosts: r.hosts.iter().map(HostRate::from_proto).collect(),
        }
    }
}

/// What one hub answered (`proto::CorrelationsResponse`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HubCorrelations {
    /// The hub's id (on the edge: the id it connected with).
    pub hub: String,
    /// The hub's configured site (its hosts' sites are in the report).
    pub site: String,
    /// How often it analyses; 0 = its analysis is off.
    pub every_s: f64,
    pub window_s: f64,
    /// Null until its first analysis, and when the analysis is off.
    pub report: Option<Report>,
}

impl HubCorrelations {
    pub fn from_proto(r: &proto::CorrelationsResponse) -> Self {
        Self {
            hub: r.hub_id.clone(),
            site: r.site.clone(),
            every_s: r.every_s,
            window_s: r.window_s,
            report: r.report.as_ref().map(Report::from_proto),
        }
    }
}

/// A row of the merged ranking: a host of one hub's newest report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopHost {
    pub hub: String,
    /// When that hub's report was computed.
    pub computed_ms: i64,
    #[serde(flatten)]
    pub rate: HostRate,
}

/// The body of `GET /api/v1/correlations`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Correlations {
    pub computed_ms: i64,
    /// One per hub that answered, by hub id; never merged (see the module docs).
    pub hubs: Vec<HubCorrelations>,
    /// Hosts with anomalies of every hub's newest report, most anomalies per
    /// unit of load first.
    pub top_per_load: Vec<TopHost>,
}

/// Orders the hubs' answers by hub and ranks their hosts together.
pub fn summarize(mut hubs: Vec<HubCorrelations>, top: usize, computed_ms: i64) -> Correlations {
    hubs.sort_by(|a, b| a.hub.cmp(&b.hub));
    let mut ranked: Vec<TopHost> = hubs
        .iter()
        .filter_map(|h| h.report.as_ref().map(|r| (h, r)))
        .flat_map(|(h, r)| {
            // A hub lists all its hosts; its own top list is capped at its
            // `top`, which may be shorter than ours.
            let from = if r.hosts.is_empty() {
                &r.top_per_load
            } else {
                &r.hosts
            };
            from.iter().filter(|x| x.events > 0).map(|x| TopHost {
                hub: h.hub.clone(),
                computed_ms: r.computed_ms,
                rate: x.clone(),
            })
        })
        .collect();
    ranked.sort_by(|a, b| {
        b.rate
            .per_unit_load
            .total_cmp(&a.rate.per_unit_load)
            .then_with(|| (&a.rate.host, &a.hub).cmp(&(&b.rate.host, &b.hub)))
    });
    ranked.truncate(top);
    Correlations {
        computed_ms,
        hubs,
        top_per_load: ranked,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(host: &str, events: u32, per_unit_load: f64) -> proto::HostAnomalyRate {
        proto::HostAnomalyRate {
            host: host.into(),
            site: "eu".into(),
            events,
            per_unit_load,
            ..Default::default()
        }
    }

    fn hub(id: &str, hosts: Vec<proto::HostAnomalyRate>) -> HubCorrelations {
        HubCorrelations::from_proto(&proto::CorrelationsResponse {
            hub_id: id.into(),
            site: "eu".into(),
            every_s: 600.0,
            window_s: 3600.0,
            report: Some(proto::CorrelationReport {
                computed_ms: 7,
                hosts,
                ..Default::default()
            }),
        })
    }

    #[test]
    fn hosts_of_every_hub_rank_together_and_hubs_stay_apart() {
        let off = HubCorrelations::from_proto(&proto::CorrelationsResponse {
            hub_id: "c-off".into(),
            ..Default::default()
        });
        let got = summarize(
            vec![
                hub("b", vec![rate("b1", 3, 6.0), rate("b2", 0, 0.0)]),
                off,
                hub("a", vec![rate("a1", 1, 2.0), rate("a2", 4, 8.0)]),
            ],
            3,
            1,
        );
        let hubs: Vec<&str> = got.hubs.iter().map(|h| h.hub.as_str()).collect();
        assert_eq!(hubs, ["a", "b", "c-off"]);
        let top: Vec<(&str, &str)> = got
            .top_per_load
            .iter()
            .map(|t| (t.hub.as_str(), t.rate.host.as_str()))
            .collect();
        // No anomalies, no rank; capped at 3.
        assert_eq!(top, [("a", "a2"), ("b", "b1"), ("a", "a1")]);
        assert_eq!(got.top_per_load[0].computed_ms, 7);
        let json = serde_json::to_value(&got).expect("json");
        assert_eq!(json["top_per_load"][0]["host"], "a2", "flattened");
        assert!(json["hubs"][2]["report"].is_null());
        assert!(json["hubs"][0]["report"]["fleet"]["pearson"].is_null());
    }
}
