//! Real host metrics through sysinfo, one file per metric family.
//!
//! - [`cpu`]: utilization (total and per core), load averages, logical count.
//! - [`memory`]: memory and paging (swap) usage, limit and utilization, from
//!   `/proc/meminfo` on Linux.
//! - [`filesystem`]: usage, limit, utilization and inodes per mounted filesystem,
//!   from `statvfs`.
//! - [`network`]: byte, packet and error counters per interface, and byte rates.
//! - [`host`]: host facts and uptime.
//!
//! [`Collector`] keeps sysinfo's `System`, `Disks` and `Networks` alive between ticks:
//! CPU utilization and network rates are differences between two refreshes, and
//! re-reading the mount and interface lists every tick would be wasted work. Each
//! family is collected on its own, so one that fails is logged and skipped while the
//! others still report (vector's `host_metrics` source does the same).

pub mod cpu;
pub mod filesystem;
pub mod host;
pub mod memory;
pub mod network;

use std::collections::HashSet;

use common::model::{HostFacts, Labels, Sample};
use sysinfo::System;

/// Mount and interface lists are re-read every this many ticks (one minute at the
/// default 1 s interval); values are refreshed every tick.
const LIST_REFRESH_TICKS: u64 = 60;

/// Why a metric family produced nothing this tick.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("{what} is not available on this host")]
    Unavailable { what: &'static str },
    #[error("reading {what} failed: {error}")]
    Sysinfo {
        what: &'static str,
        error: sysinfo::Error,
    },
}

pub type Result<T, E = CollectError> = std::result::Result<T, E>;

fn missing(what: &'static str) -> CollectError {
    CollectError::Unavailable { what }
}

/// Collects the metrics of the machine it runs on.
pub struct Collector {
    /// `None` when sysinfo does not support this platform; CPU and memory then fail.
    system: Option<System>,
    filesystems: Option<filesystem::Filesystems>,
    network: Option<network::Network>,
    tick: u64,
    health: Health,
}

impl Collector {
    /// Does the first refresh of everything, so that the first `collect` (one
    /// interval later) already has a previous CPU reading to compute a delta from.
    pub fn new() -> Self {
        let system = match System::new() {
            Ok(mut system) => {
                cpu::prime(&mut system);
                memory::prime(&mut system);
                Some(system)
            }
            Err(error) => {
                tracing::warn!(%error, "cpu and memory metrics are off");
                None
            }
        };
        let filesystems = filesystem::Filesystems::new()
            .inspect_err(|error| tracing::warn!(%error, "filesystem metrics are off"))
            .ok();
        let network = network::Network::new()
            .inspect_err(|error| tracing::warn!(%error, "network metrics are off"))
            .ok();
        Self {
            system,
            filesystems,
            network,
            tick: 0,
            health: Health::default(),
        }
    }

    pub fn hostname(&self) -> String {
        host::hostname()
    }

    pub fn facts(&self) -> HostFacts {
        host::facts(self.system.as_ref())
    }

    /// Blocking: refreshes sysinfo (reads procfs, calls statvfs). Call it from a
    /// blocking thread once per interval.
    pub fn collect(&mut self) -> Vec<Sample> {
        self.tick += 1;
        let refresh_lists = self.tick.is_multiple_of(LIST_REFRESH_TICKS);
        let mut out = Vec::new();

        let health = &mut self.health;
        let system = self.system.as_mut();
        let cpu = system.map_or(Err(missing("sysinfo System")), cpu::collect);
        health.accept("system.cpu", cpu, &mut out);
        health.accept("system.cpu.load_average", cpu::load_average(), &mut out);

        let system = self.system.as_mut();
        let memory = system.map_or(Err(missing("sysinfo System")), memory::collect);
        health.accept("system.memory", memory, &mut out);

        let filesystems = match self.filesystems.as_mut() {
            Some(filesystems) => Ok(filesystems.collect(refresh_lists)),
            None => Err(missing("sysinfo Disks")),
        };
        health.accept("system.filesystem", filesystems, &mut out);

        let network = match self.network.as_mut() {
            Some(network) => Ok(network.collect(refresh_lists)),
            None => Err(missing("sysinfo Networks")),
        };
        health.accept("system.network", network, &mut out);

        health.accept("system.uptime", host::uptime(), &mut out);
        out
    }
}

impl Default for Collector {
    fn default() -> Self {
        Self::new()
    }
}

/// Per-family bookkeeping so that a failure repeated every second, or a family that
/// keeps producing NaN, is one warning rather than a flood of them.
#[derive(Default)]
struct Health {
    failing: HashSet<&'static str>,
    warned_non_finite: HashSet<&'static str>,
}

impl Health {
    fn accept(&mut self, family: &'static str, result: Result<Vec<Sample>>, out: &mut Vec<Sample>) {
        let samples = match result {
            Ok(samples) => {
                if self.failing.remove(family) {
                    tracing::info!(family, "metric family recovered");
                }
                samples
            }
            Err(error) => {
                if self.failing.insert(family) {
                    tracing::warn!(family, %error, "metric family skipped");
                } else {
                    tracing::debug!(family, %error, "metric family still failing");
                }
                return;
            }
        };
        for sample in samples {
            if sample.value.is_finite() {
                out.push(sample);
            } else if self.warned_non_finite.insert(family) {
                // The hub rejects NaN/Inf; dropping here keeps the rest of the batch.
                let (name, value) = (&sample.name, sample.value);
                tracing::warn!(family, name, value, "dropping non-finite sample");
            }
        }
    }
}

/// Builds one sample; shared with the simulator so both speak the same shapes.
pub(crate) fn sample(name: &str, labels: &[(&str, &str)], value: f64) -> Sample {
    let labels: Labels = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Sample {
        name: name.to_owned(),
        labels,
        value,
    }
}

/// `part / whole` as a ratio in [0, 1]; 0 when `whole` is 0 (an absent swap area or
/// a filesystem reporting no size has nothing in use).
pub(crate) fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 / whole as f64).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values<'a>(samples: &'a [Sample], name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        samples.iter().filter(move |s| s.name == name)
    }

    fn one(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
        let wanted = sample(name, labels, 0.0).labels;
        let found: Vec<f64> = values(samples, name)
            .filter(|s| s.labels == wanted)
            .map(|s| s.value)
            .collect();
        assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
        found[0]
    }

    /// Runs against this machine; asserts only what holds on any Linux host.
    #[test]
    fn collects_this_host_twice() {
        let mut collector = Collector::new();
        for _ in 0..2 {
            let samples = collector.collect();
            assert!(samples.iter().all(|s| s.value.is_finite()), "{samples:?}");

            let total = one(&samples, cpu::UTILIZATION, &[]);
            assert!((0.0..=1.0).contains(&total), "cpu {total}");
            let logical = one(&samples, cpu::LOGICAL_COUNT, &[]);
            let per_core = values(&samples, cpu::UTILIZATION)
                .filter(|s| s.labels.contains_key("cpu"))
                .count();
            assert!(logical >= 1.0);
            assert_eq!(per_core as f64, logical);

            let used = one(&samples, memory::USAGE, &[("state", "used")]);
            let limit = one(&samples, memory::LIMIT, &[]);
            assert!(used <= limit && limit > 0.0, "memory {used} of {limit}");
            let utilization = one(&samples, memory::UTILIZATION, &[]);
            assert!((0.0..=1.0).contains(&utilization));

            assert!(
                values(&samples, filesystem::LIMIT).count() >= 1,
                "no filesystem"
            );
            assert!(values(&samples, network::IO).count() >= 2, "no interface");
            assert!(one(&samples, host::UPTIME, &[]) > 0.0);
        }
        let facts = collector.facts();
        assert!(!facts.hostname.is_empty());
        assert!(facts.cpu_count >= 1 && facts.memory_bytes > 0 && facts.boot_time > 0);
        assert!(!facts.simulated);
    }

    #[test]
    fn non_finite_samples_are_dropped_and_failures_skipped() {
        let mut health = Health::default();
        let mut out = Vec::new();
        let family = vec![
            sample("a", &[], 1.0),
            sample("b", &[], f64::NAN),
            sample("c", &[], f64::INFINITY),
        ];
        health.accept("test", Ok(family), &mut out);
        health.accept(
            "broken",
            Err(CollectError::Unavailable { what: "test" }),
            &mut out,
        );
        let names: Vec<&str> = out.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a"]);
        assert!(health.failing.contains("broken"));
    }
}
