//! Real host metrics, one file per metric family, read from `/proc` and `/sys`
//! directly where sysinfo lacks a number or would read more than we need.
//!
//! - [`cpu`]: utilization and times (total and per core), context switches,
//!   interrupts, load averages, logical count — from [`proc_stat`].
//! - [`memory`]: memory and swap usage from `/proc/meminfo`; [`paging`]: pages
//!   swapped in and out from `/proc/vmstat`.
//! - [`filesystem`]: space and inodes per mounted filesystem, from `statvfs`.
//! - [`disk`]: block device I/O from `/proc/diskstats`.
//! - [`network`]: interface counters from `/proc/net/dev`; [`protocols`]: TCP
//!   and UDP counters from `/proc/net/snmp`; [`connections`]: sockets by state.
//! - [`process`]: counts by status, forks, and the top list.
//! - [`sensors`]: temperatures and fans from `/sys/class/hwmon`.
//! - [`host`]: host facts, uptime, boot time, file handles.
//! - [`Cadence`]: processes and sockets cost most and are read less often.
//! - [`rate`]: the one place counters become per-second rates; [`procfs`]: how
//!   kernel files are read (one reused buffer, as few `read` calls as possible).
//!
//! [`Collector`] keeps what the next tick needs (previous counter readings,
//! sysinfo's mount list). Each family is collected on its own, so one that fails
//! is logged, counted and skipped while the others still report (vector's
//! `host_metrics` source does the same). Every file is read by a parser that is
//! a pure function over its text, so each is tested on captured samples.

mod cadence;
pub mod connections;
pub mod cpu;
pub mod disk;
mod error;
pub mod filesystem;
mod health;
pub mod host;
pub mod memory;
pub mod network;
pub mod paging;
pub(crate) mod proc_stat;
pub mod process;
pub(crate) mod procfs;
pub mod protocols;
pub(crate) mod rate;
pub mod sensors;

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Instant;

use common::model::{HostFacts, Labels, ProcessInfo, Sample};
use sysinfo::System;

pub use cadence::Cadence;
pub use error::{CollectError, ParseError, Result};
use health::Health;
use procfs::FileReader;

/// Mount lists are re-read every this many ticks (one minute at the default
/// 1 s interval); values are refreshed every tick.
const LIST_REFRESH_TICKS: u64 = 60;

fn missing(what: &'static str) -> CollectError {
    CollectError::Unavailable { what }
}

/// Reads a whole kernel file; its absence is the family's error.
fn read<'a>(files: &'a mut FileReader, path: &'static str) -> Result<Cow<'a, str>> {
    files.read(path).map_err(|error| CollectError::Read {
        path: path.to_owned(),
        error,
    })
}

/// Like [`read`], but a file that does not exist is empty: `/proc/net/tcp6`
/// and `udp6` are absent when IPv6 is disabled, and psutil then skips them.
fn read_optional<'a>(files: &'a mut FileReader, path: &'static str) -> Result<Cow<'a, str>> {
    match files.read(path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Cow::Borrowed("")),
        other => other.map_err(|error| CollectError::Read {
            path: path.to_owned(),
            error,
        }),
    }
}

/// Collects the metrics of the machine it runs on.
pub struct Collector {
    /// `None` when sysinfo does not support this platform; memory then falls
    /// back to `/proc/meminfo` alone and facts lose their counts.
    system: Option<System>,
    filesystems: Option<filesystem::Filesystems>,
    cpu: cpu::Cpu,
    processes: process::Processes,
    sensors: sensors::Sensors,
    rates: rate::Rates,
    /// One buffer for every kernel file: see [`procfs`] for why it matters.
    files: FileReader,
    cadence: Cadence,
    processes_due: cadence::Due,
    connections_due: cadence::Due,
    tick: u64,
    health: Health,
}

impl Collector {
    /// Loads what host facts need. The first [`Collector::collect`] reports
    /// counters but no utilization and no rates: those need two readings.
    /// Processes and sockets are read at [`Cadence::DEFAULT`].
    pub fn new() -> Self {
        Self::with_cadence(Cadence::DEFAULT)
    }

    pub fn with_cadence(cadence: Cadence) -> Self {
        let system = match System::new() {
            Ok(mut system) => {
                memory::prime(&mut system);
                system.refresh_cpu_list(sysinfo::CpuRefreshKind::nothing());
                Some(system)
            }
            Err(error) => {
                tracing::warn!(%error, "sysinfo unavailable: memory falls back to /proc/meminfo only");
                None
            }
        };
        let filesystems = filesystem::Filesystems::new()
            .inspect_err(|error| tracing::warn!(%error, "filesystem metrics are off"))
            .ok();
        Self {
            system,
            filesystems,
            cpu: cpu::Cpu::new(),
            processes: process::Processes::new(),
            sensors: sensors::Sensors::new(),
            rates: rate::Rates::default(),
            files: FileReader::default(),
            cadence,
            processes_due: cadence::Due::default(),
            connections_due: cadence::Due::default(),
            tick: 0,
            health: Health::default(),
        }
    }

    /// Also counts processes by these names (`system.processes.watched`).
    pub fn watching(mut self, names: &[String]) -> Self {
        self.processes.watch(names);
        self
    }

    pub fn hostname(&self) -> String {
        host::hostname()
    }

    pub fn facts(&self) -> HostFacts {
        host::facts(self.system.as_ref())
    }

    /// The heaviest processes at the last process refresh: the union of the
    /// top [`process::TOP_N`] by CPU and by resident memory. Empty until two
    /// refreshes happened.
    pub fn processes(&self) -> Vec<ProcessInfo> {
        self.processes.top().to_vec()
    }

    /// How many times each family failed since start, for our own metrics.
    pub fn failures(&self) -> &HashMap<&'static str, u64> {
        &self.health.failures
    }

    /// Blocking: reads procfs and sysfs, calls statvfs. Call it from a blocking
    /// thread once per interval.
    pub fn collect(&mut self) -> Vec<Sample> {
        self.tick += 1;
        let refresh_lists = self.tick.is_multiple_of(LIST_REFRESH_TICKS);
        let mut out = Vec::with_capacity(512);
        let (health, rates, files) = (&mut self.health, &mut self.rates, &mut self.files);
        rates.begin_tick();

        // `/proc/stat` feeds the CPU family, forks and the boot time; when it
        // cannot be read, its error is the CPU family's and the others wait.
        let at = Instant::now();
        let stat = read(files, "/proc/stat").and_then(|text| Ok(proc_stat::parse(&text)?));
        let (cpu, stat) = match stat {
            Ok(stat) => (Ok(self.cpu.collect(&stat, at, rates)), Some(stat)),
            Err(error) => (Err(error), None),
        };
        health.accept("system.cpu", cpu, &mut out);
        health.accept("system.cpu.load_average", cpu::load_average(), &mut out);

        let memory = match self.system.as_mut() {
            Some(system) => memory::collect(system),
            None => Err(missing("sysinfo System")),
        };
        health.accept("system.memory", memory, &mut out);
        let paging = read(files, "/proc/vmstat")
            .and_then(|text| Ok(paging::collect(&text, Instant::now(), rates)?));
        health.accept("system.paging.operations", paging, &mut out);

        let filesystems = match self.filesystems.as_mut() {
            Some(filesystems) => Ok(filesystems.collect(refresh_lists)),
            None => Err(missing("sysinfo Disks")),
        };
        health.accept("system.filesystem", filesystems, &mut out);
        let disk = read(files, "/proc/diskstats")
            .and_then(|text| Ok(disk::collect(&text, Instant::now(), rates)?));
        health.accept("system.disk", disk, &mut out);

        let network = read(files, "/proc/net/dev")
            .and_then(|text| Ok(network::collect(&text, Instant::now(), rates)?));
        health.accept("system.network", network, &mut out);
        let protocols = read(files, "/proc/net/snmp")
            .and_then(|text| Ok(protocols::collect(&text, Instant::now(), rates)?));
        health.accept("system.network.protocols", protocols, &mut out);
        if self
            .connections_due
            .check(self.cadence.connections, Instant::now())
        {
            let connections = collect_connections(files);
            health.accept("system.network.connections", connections, &mut out);
        }

        if let Some(stat) = &stat {
            out.extend(process::created(stat.forks, at, rates));
        }
        if self
            .processes_due
            .check(self.cadence.processes, Instant::now())
        {
            let counts = self.processes.refresh(Instant::now());
            health.accept("system.processes", counts, &mut out);
        }

        health.accept("hw", Ok(self.sensors.collect()), &mut out);

        health.accept("system.uptime", host::uptime(), &mut out);
        if let Some(stat) = &stat {
            out.extend(host::boot_time(stat.boot_time));
        }
        let fds =
            read(files, "/proc/sys/fs/file-nr").and_then(|text| Ok(host::file_descriptors(&text)?));
        health.accept("system.file_descriptors", fds, &mut out);

        rates.end_tick();
        out
    }
}

fn collect_connections(files: &mut FileReader) -> Result<Vec<Sample>> {
    let mut tcp = connections::TcpCounts::default();
    for (path, optional) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        let text = if optional {
            read_optional(files, path)?
        } else {
            read(files, path)?
        };
        connections::count_tcp(path, &text, &mut tcp)?;
    }
    let mut udp = 0;
    for (path, optional) in [("/proc/net/udp", false), ("/proc/net/udp6", true)] {
        let text = if optional {
            read_optional(files, path)?
        } else {
            read(files, path)?
        };
        udp += connections::count_udp(path, &text)?;
    }
    Ok(connections::samples(&tcp, udp))
}

impl Default for Collector {
    fn default() -> Self {
        Self::new()
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
        let mut collector = Collector::with_cadence(Cadence::EVERY_TICK);
        let first = collector.collect();
        // Counters only: utilization and rates need two readings.
        assert_eq!(values(&first, cpu::UTILIZATION).count(), 0);
        assert!(
            !first.iter().any(|s| s.name.ends_with(".rate")),
            "{first:?}"
        );
        assert!(collector.processes().is_empty());

        let samples = collector.collect();
        assert!(samples.iter().all(|s| s.value.is_finite()), "{samples:?}");
        assert!(
            collector.failures().is_empty(),
            "{:?}",
            collector.failures()
        );

        let total = one(&samples, cpu::UTILIZATION, &[]);
        assert!((0.0..=1.0).contains(&total), "cpu {total}");
        let logical = one(&samples, cpu::LOGICAL_COUNT, &[]);
        let per_core = values(&samples, cpu::UTILIZATION)
            .filter(|s| s.labels.contains_key("cpu"))
            .count();
        assert!(logical >= 1.0);
        assert_eq!(per_core as f64, logical);
        let per_core_times = values(&samples, cpu::TIME)
            .filter(|s| s.labels.contains_key("cpu"))
            .count();
        assert_eq!(per_core_times as f64, logical * 8.0);

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
        assert!(one(&samples, host::BOOT_TIME, &[]) > 1e9);
        // Every family that exists on any Linux host, rates included.
        for name in [
            cpu::CONTEXT_SWITCHES_RATE,
            cpu::INTERRUPTS_RATE,
            paging::OPERATIONS_RATE,
            network::DROPPED_RATE,
            protocols::TCP_OPENS_RATE,
            protocols::UDP_ERRORS_RATE,
            connections::CONNECTIONS,
            process::COUNT,
            process::CREATED_RATE,
            host::FILE_DESCRIPTORS_LIMIT,
        ] {
            assert!(values(&samples, name).count() >= 1, "no {name}");
        }
        // This test process is running or sleeping; there is always a process
        // with memory, so the top list is never empty.
        let alive = one(&samples, process::COUNT, &[("status", "running")])
            + one(&samples, process::COUNT, &[("status", "sleeping")]);
        assert!(alive >= 1.0);
        let top = collector.processes();
        assert!(
            !top.is_empty() && top.len() <= 2 * process::TOP_N,
            "{top:?}"
        );
        assert!(top
            .iter()
            .all(|p| p.pid > 0 && !p.name.is_empty() && !p.user.is_empty()));

        let facts = collector.facts();
        assert!(!facts.hostname.is_empty());
        assert!(facts.cpu_count >= 1 && facts.memory_bytes > 0 && facts.boot_time > 0);
        assert!(!facts.simulated);
    }

    /// Guards the cadence: sockets and processes are read on the first tick,
    /// then not again until their period passed.
    #[test]
    fn expensive_families_wait_for_their_period() {
        let mut collector = Collector::new();
        let has = |samples: &[Sample], name| samples.iter().any(|s| s.name == name);
        let first = collector.collect();
        assert!(has(&first, connections::CONNECTIONS) && has(&first, process::COUNT));
        let second = collector.collect();
        assert!(!has(&second, connections::CONNECTIONS) && !has(&second, process::COUNT));
        // Every other family is still there, rates included.
        assert!(has(&second, cpu::UTILIZATION) && has(&second, network::IO_RATE));
        assert!(has(&second, process::CREATED_RATE));
    }
}
