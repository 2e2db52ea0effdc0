//! Hourly cost estimate per host from a price model: `vcpu_hour` × CPUs +
//! `gib_hour` × GiB of memory, with the prices of the host's class — the
//! first `[[cost.classes]]` entry whose `host` and `site` globs match, else
//! the default prices of `[cost]`.
//!
//! Beside the cost, the idle cost: what is paid for and not used,
//! CPU part × (1 − CPU utilization) + memory part × (1 − memory
//! utilization), from the host's latest headline values. It is a reading
//! of now, not an average: a host idle at night shows a high idle cost at
//! night.
//!
//! Computed when asked (`GET /api/v1/costs`, `/metrics`, `Query.Costs` and
//! the uplink's costs request) from the state's hosts: it is a few
//! multiplications per host and must never be stale.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use common::model::HostStatus;
use serde::{Deserialize, Serialize};

use crate::freshness::{gauge, header, MAX_HOST_GAUGES};
use crate::Ctx;

/// Around a general-purpose cloud VM's on-demand list price per vCPU-hour
/// and per GiB-hour (2024); meant to be replaced by your own.
pub const DEFAULT_VCPU_HOUR: f64 = 0.0316;
pub const DEFAULT_GIB_HOUR: f64 = 0.0042;
pub const DEFAULT_CURRENCY: &str = "USD";
/// Class of hosts no `[[cost.classes]]` entry matches.
pub const DEFAULT_CLASS: &str = "default";

const GIB: f64 = (1u64 << 30) as f64;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CostConfig {
    /// Only a label on the figures: no conversion happens.
    pub currency: String,
    /// Price of one vCPU for an hour, for hosts of no class.
    pub vcpu_hour: f64,
    /// Price of one GiB of memory for an hour, for hosts of no class.
    pub gib_hour: f64,
    /// Tried in order; the first whose globs match the host prices it.
    pub classes: Vec<ClassConfig>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassConfig {
    pub name: String,
    /// Glob (`*` = any run of characters) on the host name; empty = any.
    #[serde(default)]
    pub host: String,
    /// Glob on the site; empty = any.
    #[serde(default)]
    pub site: String,
    pub vcpu_hour: f64,
    pub gib_hour: f64,
}

impl Default for CostConfig {
    fn default() -> Self {
        Self {
            currency: DEFAULT_CURRENCY.to_owned(),
            vcpu_hour: DEFAULT_VCPU_HOUR,
            gib_hour: DEFAULT_GIB_HOUR,
            classes: Vec::new(),
        }
    }
}

impl CostConfig {
    pub fn validate(&self) -> Result<(), String> {
        let price_ok = |p: f64| p.is_finite() && p >= 0.0;
        if !(price_ok(self.vcpu_hour) && price_ok(self.gib_hour)) {
            return Err("cost.vcpu_hour and cost.gib_hour must be finite and not negative".into());
        }
        let mut seen = std::collections::HashSet::new();
        for c in &self.classes {
            if c.name.is_empty() || c.name == DEFAULT_CLASS || !seen.insert(&c.name) {
                return Err(format!(
                    "cost.classes: name {:?} must be non-empty, unique and not {DEFAULT_CLASS:?}",
                    c.name
                ));
            }
            if !(price_ok(c.vcpu_hour) && price_ok(c.gib_hour)) {
                return Err(format!(
                    "cost.classes {:?}: prices must be finite and not negative",
                    c.name
                ));
            }
        }
        Ok(())
    }

    /// The class of a host and its (vCPU-hour, GiB-hour) prices.
    fn class_of(&self, host: &str, site: &str) -> (&str, f64, f64) {
        let matches =
            |glob: &str, text: &str| glob.is_empty() || crate::config::glob_match(glob, text);
        self.classes
            .iter()
            .find(|c| matches(&c.host, host) && matches(&c.site, site))
            .map_or((DEFAULT_CLASS, self.vcpu_hour, self.gib_hour), |c| {
                (c.name.as_str(), c.vcpu_hour, c.gib_hour)
            })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostCost {
    pub host: String,
    pub site: String,
    pub class: String,
    pub vcpus: u32,
    pub memory_gib: f64,
    /// `None` when the host's facts carry neither CPUs nor memory.
    pub cost_per_hour: Option<f64>,
    pub cpu_cost_per_hour: Option<f64>,
    pub memory_cost_per_hour: Option<f64>,
    /// Latest headline utilizations in [0, 1].
    pub cpu_utilization: Option<f64>,
    pub memory_utilization: Option<f64>,
    /// What is paid for and not used; `None` without both utilizations.
    pub idle_cost_per_hour: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SiteCost {
    pub site: String,
    pub hosts: usize,
    pub cost_per_hour: f64,
    /// Sum over the site's hosts whose idle cost is known.
    pub idle_cost_per_hour: f64,
}

/// `GET /api/v1/costs`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Costs {
    pub currency: String,
    pub computed_ms: i64,
    pub cost_per_hour: f64,
    pub idle_cost_per_hour: f64,
    /// Hosts left out of the sums: no CPU count or memory size known.
    pub hosts_without_facts: usize,
    pub sites: Vec<SiteCost>,
    pub hosts: Vec<HostCost>,
}

pub fn host_cost(cfg: &CostConfig, h: &HostStatus) -> HostCost {
    let (class, vcpu_hour, gib_hour) = cfg.class_of(&h.host, &h.site);
    let vcpus = h.facts.cpu_count;
    let memory_gib = h.facts.memory_bytes as f64 / GIB;
    let known = vcpus > 0 || h.facts.memory_bytes > 0;
    let cpu = known.then_some(f64::from(vcpus) * vcpu_hour);
    let mem = known.then_some(memory_gib * gib_hour);
    let util = |p: Option<f64>| {
        p.filter(|p| p.is_finite())
            .map(|p| (p / 100.0).clamp(0.0, 1.0))
    };
    let cpu_util = util(h.cpu_percent);
    let mem_util = util(h.memory_percent);
    let idle = match (cpu, mem, cpu_util, mem_util) {
        (Some(c), Some(m), Some(cu), Some(mu)) => Some(c * (1.0 - cu) + m * (1.0 - mu)),
        _ => None,
    };
    HostCost {
        host: h.host.clone(),
        site: h.site.clone(),
        class: class.to_owned(),
        vcpus,
        memory_gib,
        cost_per_hour: cpu.zip(mem).map(|(c, m)| c + m),
        cpu_cost_per_hour: cpu,
        memory_cost_per_hour: mem,
        cpu_utilization: cpu_util,
        memory_utilization: mem_util,
        idle_cost_per_hour: idle,
    }
}

pub fn estimate(cfg: &CostConfig, hosts: &[HostStatus], now_ms: i64) -> Costs {
    let hosts: Vec<HostCost> = hosts.iter().map(|h| host_cost(cfg, h)).collect();
    let mut sites: BTreeMap<&str, SiteCost> = BTreeMap::new();
    for h in &hosts {
        let s = sites.entry(&h.site).or_insert_with(|| SiteCost {
            site: h.site.clone(),
            hosts: 0,
            cost_per_hour: 0.0,
            idle_cost_per_hour: 0.0,
        });
        s.hosts += 1;
        s.cost_per_hour += h.cost_per_hour.unwrap_or(0.0);
        s.idle_cost_per_hour += h.idle_cost_per_hour.unwrap_or(0.0);
    }
    let sites: Vec<SiteCost> = sites.into_values().collect();
    Costs {
        currency: cfg.currency.clone(),
        computed_ms: now_ms,
        cost_per_hour: sites.iter().map(|s| s.cost_per_hour).sum(),
        idle_cost_per_hour: sites.iter().map(|s| s.idle_cost_per_hour).sum(),
        hosts_without_facts: hosts.iter().filter(|h| h.cost_per_hour.is_none()).count(),
        sites,
        hosts,
    }
}

/// `GET /api/v1/costs`: the estimate for every host the hub knows.
pub async fn api(State(ctx): State<Arc<Ctx>>) -> Json<Costs> {
    Json(estimate(
        &ctx.config.cost,
        &ctx.state.hosts(),
        common::now_ms(),
    ))
}

impl HostCost {
    pub fn to_proto(&self, currency: &str) -> proto::HostCost {
        proto::HostCost {
            host: self.host.clone(),
            site: self.site.clone(),
            class: self.class.clone(),
            vcpus: self.vcpus,
            memory_gib: self.memory_gib,
            cost_per_hour: self.cost_per_hour,
            cpu_cost_per_hour: self.cpu_cost_per_hour,
            memory_cost_per_hour: self.memory_cost_per_hour,
            cpu_utilization: self.cpu_utilization,
            memory_utilization: self.memory_utilization,
            idle_cost_per_hour: self.idle_cost_per_hour,
            currency: currency.to_owned(),
        }
    }
}

/// `Query.Costs` and the uplink's costs request: every host's row, or the
/// named host's alone; `None` when the named host is unknown. Rows only —
/// whoever asks several hubs sums them itself, so merging is a concat.
pub fn costs_response(
    cfg: &CostConfig,
    state: &crate::state::State,
    host: &str,
    now_ms: i64,
) -> Option<proto::CostsResponse> {
    let hosts = if host.is_empty() {
        state.hosts()
    } else {
        vec![state.host(host)?]
    };
    Some(proto::CostsResponse {
        hosts: hosts
            .iter()
            .map(|h| host_cost(cfg, h).to_proto(&cfg.currency))
            .collect(),
        computed_ms: now_ms,
    })
}

/// Appends the cost gauges to a `/metrics` page.
pub fn render_metrics(costs: &Costs, out: &mut String) {
    let per_host = [
        (
            "hostwatch_hub_host_cost_per_hour",
            "Estimated cost of the host per hour (cost price model, currency as configured).",
        ),
        (
            "hostwatch_hub_host_idle_cost_per_hour",
            "Estimated cost per hour of the host's unused CPU and memory (latest utilization).",
        ),
    ];
    for (n, (name, help)) in per_host.into_iter().enumerate() {
        header(out, name, help);
        for h in costs.hosts.iter().take(MAX_HOST_GAUGES) {
            let v = if n == 0 {
                h.cost_per_hour
            } else {
                h.idle_cost_per_hour
            };
            if let Some(v) = v {
                let labels = [
                    ("class", h.class.as_str()),
                    ("host", &h.host),
                    ("site", &h.site),
                ];
                gauge(out, name, &labels, v);
            }
        }
    }
    header(
        out,
        "hostwatch_hub_site_cost_per_hour",
        "Estimated cost per hour of the site's hosts with known facts.",
    );
    for s in &costs.sites {
        gauge(
            out,
            "hostwatch_hub_site_cost_per_hour",
            &[("site", &s.site)],
            s.cost_per_hour,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::model::HostFacts;

    fn cfg() -> CostConfig {
        common::config::parse(
            r#"
            vcpu_hour = 0.04
            gib_hour = 0.005
            [[classes]]
            name = "gpu"
            host = "gpu-*"
            vcpu_hour = 0.1
            gib_hour = 0.01
            [[classes]]
            name = "onprem"
            site = "dc-*"
            vcpu_hour = 0.01
            gib_hour = 0.001
            "#,
            "cost.toml".as_ref(),
        )
        .expect("parses")
    }

    /// (host, site, cpus, GiB, cpu %, memory %) → (class, cost, idle cost).
    fn check(
        input: (&str, &str, u32, u64, Option<f64>, Option<f64>),
        expected: (&str, Option<f64>, Option<f64>),
    ) {
        let (host, site, cpus, gib, cpu, mem) = input;
        let h = HostStatus {
            host: host.into(),
            site: site.into(),
            cpu_percent: cpu,
            memory_percent: mem,
            facts: HostFacts {
                cpu_count: cpus,
                memory_bytes: gib << 30,
                ..Default::default()
            },
            ..Default::default()
        };
        let c = host_cost(&cfg(), &h);
        let round = |v: Option<f64>| v.map(|v| (v * 1e6).round() / 1e6);
        assert_eq!(
            (
                c.class.as_str(),
                round(c.cost_per_hour),
                round(c.idle_cost_per_hour)
            ),
            (expected.0, round(expected.1), round(expected.2)),
            "{input:?}"
        );
    }

    #[test]
    fn hosts_are_priced_by_their_first_matching_class() {
        // 4 × 0.04 + 16 × 0.005 = 0.24; idle 0.16 × 0.75 + 0.08 × 0.5 = 0.16.
        check(
            ("web-1", "eu", 4, 16, Some(25.0), Some(50.0)),
            ("default", Some(0.24), Some(0.16)),
        );
        // Host glob first: a GPU host in a data centre is still "gpu".
        check(
            ("gpu-7", "dc-1", 8, 64, Some(100.0), Some(100.0)),
            ("gpu", Some(1.44), Some(0.0)),
        );
        check(
            ("db-1", "dc-1", 2, 8, None, Some(10.0)),
            ("onprem", Some(0.028), None),
        );
        // Facts unknown: no cost rather than a cost of 0.
        check(
            ("new", "eu", 0, 0, Some(5.0), Some(5.0)),
            ("default", None, None),
        );
        // A utilization outside [0, 100] is clamped, not a negative idle cost.
        check(
            ("web-2", "eu", 1, 0, Some(140.0), Some(0.0)),
            ("default", Some(0.04), Some(0.0)),
        );
    }

    #[test]
    fn sites_and_totals_add_up_and_hosts_without_facts_are_counted() {
        let host = |name: &str, site: &str, cpus| HostStatus {
            host: name.into(),
            site: site.into(),
            facts: HostFacts {
                cpu_count: cpus,
                ..Default::default()
            },
            ..Default::default()
        };
        let c = estimate(
            &cfg(),
            &[host("a", "eu", 2), host("b", "eu", 3), host("c", "us", 0)],
            7,
        );
        let sites: Vec<(&str, usize, f64)> = c
            .sites
            .iter()
            .map(|s| {
                (
                    s.site.as_str(),
                    s.hosts,
                    (s.cost_per_hour * 1e6).round() / 1e6,
                )
            })
            .collect();
        assert_eq!(sites, [("eu", 2, 0.2), ("us", 1, 0.0)]);
        assert_eq!(c.hosts_without_facts, 1);
        let mut out = String::new();
        render_metrics(&c, &mut out);
        assert!(out.contains(
            "hostwatch_hub_host_cost_per_hour{class=\"default\",host=\"a\",site=\"eu\"} 0.08\n"
        ));
        assert!(!out.contains("host=\"c\""), "no figure for unknown facts");
    }

    #[test]
    fn the_example_config_shows_the_defaults_of_freshness_cost_and_correlation() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/hub.example.toml");
        let text = std::fs::read_to_string(path).expect("read the example");
        let c: crate::Config = common::config::parse(&text, path.as_ref()).expect("parses");
        assert_eq!(c.cost, CostConfig::default());
        assert_eq!(c.freshness, crate::freshness::FreshnessConfig::default());
        assert_eq!(
            c.correlation,
            crate::correlation::CorrelationConfig::default()
        );
    }

    #[test]
    fn bad_price_models_are_refused() {
        let bad = |toml: &str| {
            common::config::parse::<CostConfig>(toml, "x.toml".as_ref())
                .map_err(|e| e.to_string())
                .and_then(|c| c.validate())
                .is_err()
        };
        assert!(bad("vcpu_hour = -1.0"));
        assert!(bad(
            "[[classes]]\nname = \"default\"\nvcpu_hour = 1.0\ngib_hour = 1.0"
        ));
        assert!(bad("[[classes]]\nname = \"a\"\nvcpu_hour = 1.0\ngib_hour = 1.0\n[[classes]]\nname = \"a\"\nvcpu_hour = 1.0\ngib_hour = 1.0"));
        assert!(
            bad("[[classes]]\nname = \"a\"\nvcpu_hour = 1.0"),
            "gib_hour missing"
        );
        assert!(!bad("currency = \"EUR\""));
        CostConfig::default()
            .validate()
            .expect("defaults are valid");
    }
}
