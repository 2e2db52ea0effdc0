//! `GET /api/v1/costs`: the hubs' hourly cost estimates per host, summed here
//! per site and for the fleet. Hubs answer rows only, so the edge's merge
//! across hubs is a concat and every total is computed in one place
//! ([`summarize`]). Sums never mix currencies: a hub's currency is only a
//! label, so rows priced in different ones get a total each.

use std::collections::BTreeMap;

use serde::Serialize;

/// What one host costs an hour on its hub's price model (`proto::HostCost`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostCost {
    pub host: String,
    pub site: String,
    /// The hub's `[[cost.classes]]` entry that priced it, or "default".
    pub class: String,
    pub vcpus: u32,
    pub memory_gib: f64,
    /// Null when the host's facts carry neither CPUs nor memory.
    pub cost_per_hour: Option<f64>,
    pub cpu_cost_per_hour: Option<f64>,
    pub memory_cost_per_hour: Option<f64>,
    /// Latest headline utilizations in [0, 1].
    pub cpu_utilization: Option<f64>,
    pub memory_utilization: Option<f64>,
    /// What is paid for and not used, at the latest utilization.
    pub idle_cost_per_hour: Option<f64>,
    pub currency: String,
}

impl HostCost {
    pub fn from_proto(h: &proto::HostCost) -> Self {
        Self {
            host: h.host.clone(),
            site: h.site.clone(),
            class: h.class.clone(),
            vcpus: h.vcpus,
            memory_gib: h.memory_gib,
            cost_per_hour: h.cost_per_hour,
            cpu_cost_per_hour: h.cpu_cost_per_hour,
            memory_cost_per_hour: h.memory_cost_per_hour,
            cpu_utilization: h.cpu_utilization,
            memory_utilization: h.memory_utilization,
            idle_cost_per_hour: h.idle_cost_per_hour,
            currency: h.currency.clone(),
        }
    }
}

/// Sums over hosts priced in one currency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Total {
    pub currency: String,
    pub hosts: usize,
    /// Hosts left out of the sums: no CPU count or memory size known.
    pub hosts_without_facts: usize,
    pub cost_per_hour: f64,
    /// Over the hosts whose idle cost is known.
    pub idle_cost_per_hour: f64,
}

impl Total {
    fn new(currency: &str) -> Self {
        Self {
            currency: currency.to_owned(),
            hosts: 0,
            hosts_without_facts: 0,
            cost_per_hour: 0.0,
            idle_cost_per_hour: 0.0,
        }
    }

    fn add(&mut self, h: &HostCost) {
        self.hosts += 1;
        match h.cost_per_hour {
            Some(c) => self.cost_per_hour += c,
            None => self.hosts_without_facts += 1,
        }
        self.idle_cost_per_hour += h.idle_cost_per_hour.unwrap_or(0.0);
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SiteCost {
    pub site: String,
    #[serde(flatten)]
    pub total: Total,
}

/// The body of `GET /api/v1/costs`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Costs {
    pub computed_ms: i64,
    /// One per currency: a single one unless hubs price in different currencies.
    pub fleet: Vec<Total>,
    /// One per (site, currency), by site.
    pub sites: Vec<SiteCost>,
    /// By site, then host.
    pub hosts: Vec<HostCost>,
}

/// Sorts the rows of every hub asked and sums them per site and fleet-wide.
pub fn summarize(mut hosts: Vec<HostCost>, computed_ms: i64) -> Costs {
    hosts.sort_by(|a, b| (&a.site, &a.host).cmp(&(&b.site, &b.host)));
    let mut fleet: BTreeMap<&str, Total> = BTreeMap::new();
    let mut sites: BTreeMap<(&str, &str), Total> = BTreeMap::new();
    for h in &hosts {
        fleet
            .entry(&h.currency)
            .or_insert_with(|| Total::new(&h.currency))
            .add(h);
        sites
            .entry((&h.site, &h.currency))
            .or_insert_with(|| Total::new(&h.currency))
            .add(h);
    }
    let fleet = fleet.into_values().collect();
    let sites = sites
        .into_iter()
        .map(|((site, _), total)| SiteCost {
            site: site.to_owned(),
            total,
        })
        .collect();
    Costs {
        computed_ms,
        fleet,
        sites,
        hosts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (host, site, currency, cost, idle cost) rows, summed: compares the
    /// fleet and the sites as (name, currency, hosts, without facts, cost,
    /// idle) and the host order.
    #[allow(clippy::type_complexity)]
    fn check(
        input: &[(&str, &str, &str, Option<f64>, Option<f64>)],
        fleet: &[(&str, usize, usize, f64, f64)],
        sites: &[(&str, &str, usize, usize, f64, f64)],
        order: &[&str],
    ) {
        let rows = input
            .iter()
            .map(|&(host, site, currency, cost, idle)| {
                HostCost::from_proto(&proto::HostCost {
                    host: host.into(),
                    site: site.into(),
                    currency: currency.into(),
                    cost_per_hour: cost,
                    idle_cost_per_hour: idle,
                    ..Default::default()
                })
            })
            .collect();
        let c = summarize(rows, 7);
        let round = |v: f64| (v * 1e9).round() / 1e9;
        let got_fleet: Vec<_> = c
            .fleet
            .iter()
            .map(|t| {
                (
                    t.currency.as_str(),
                    t.hosts,
                    t.hosts_without_facts,
                    round(t.cost_per_hour),
                    round(t.idle_cost_per_hour),
                )
            })
            .collect();
        let got_sites: Vec<_> = c
            .sites
            .iter()
            .map(|s| {
                (
                    s.site.as_str(),
                    s.total.currency.as_str(),
                    s.total.hosts,
                    s.total.hosts_without_facts,
                    round(s.total.cost_per_hour),
                    round(s.total.idle_cost_per_hour),
                )
            })
            .collect();
        let got_order: Vec<_> = c.hosts.iter().map(|h| h.host.as_str()).collect();
        assert_eq!(
            (
                got_fleet.as_slice(),
                got_sites.as_slice(),
                got_order.as_slice()
            ),
            (fleet, sites, order),
            "{input:?}"
        );
        assert_eq!(c.computed_ms, 7);
    }

    #[test]
    fn sites_and_the_fleet_add_up_whatever_order_the_hubs_answer_in() {
        check(&[], &[], &[], &[]);
        // Two hubs' rows concatenated: us first, then eu.
        check(
            &[
                ("u1", "us", "USD", Some(1.0), Some(0.5)),
                ("e2", "eu", "USD", Some(0.25), None),
                ("e1", "eu", "USD", Some(0.5), Some(0.125)),
            ],
            &[("USD", 3, 0, 1.75, 0.625)],
            &[
                ("eu", "USD", 2, 0, 0.75, 0.125),
                ("us", "USD", 1, 0, 1.0, 0.5),
            ],
            &["e1", "e2", "u1"],
        );
    }

    #[test]
    fn unknown_facts_are_counted_not_priced_and_currencies_never_mix() {
        check(
            &[
                ("new", "eu", "EUR", None, None),
                ("e1", "eu", "EUR", Some(2.0), Some(1.0)),
                ("u1", "us", "USD", Some(3.0), Some(0.0)),
            ],
            &[("EUR", 2, 1, 2.0, 1.0), ("USD", 1, 0, 3.0, 0.0)],
            &[("eu", "EUR", 2, 1, 2.0, 1.0), ("us", "USD", 1, 0, 3.0, 0.0)],
            &["e1", "new", "u1"],
        );
    }

    #[test]
    fn a_site_total_carries_its_fields_flat() {
        let c = summarize(
            vec![HostCost::from_proto(&proto::HostCost {
                host: "a".into(),
                site: "eu".into(),
                currency: "USD".into(),
                cost_per_hour: Some(0.5),
                ..Default::default()
            })],
            1,
        );
        let json = serde_json::to_value(&c).expect("serializes");
        assert_eq!(json["sites"][0]["site"], "eu");
        assert_eq!(json["sites"][0]["cost_per_hour"], 0.5);
        assert_eq!(json["fleet"][0]["currency"], "USD");
        assert!(json["hosts"][0]["idle_cost_per_hour"].is_null());
    }
}
