//! Processes: counts by status, forks since boot, and the top list (the
//! heaviest processes by CPU and by memory), from one pass over `/proc/PID/stat`.
//!
//! One small file per process is the whole per-tick cost (sysinfo would also
//! read `status`, `statm`, `cmdline`, `environ` and more for every process);
//! names, users and command lines are looked up only for the ≤ 20 processes of
//! the top list.

pub(crate) mod stat;
pub(crate) mod users;

use std::collections::HashMap;
use std::io::ErrorKind;
use std::path::PathBuf;
use std::time::Instant;

use common::model::{ProcessInfo, Sample};

use super::procfs::FileReader;
use super::rate::{Rates, Width};
use super::{sample, CollectError, Result};
use stat::{
    full_name, parse_real_uid, parse_stat, parse_statm_resident, status_name, PidStat, STATUSES,
};
use users::Users;

/// Processes per `status` (running, sleeping, disk_sleep, stopped,
/// tracing_stop, zombie, dead, wake_kill, waking, idle, parked; zeros
/// included): psutil `Counter(p.status() for p in process_iter())`.
pub const COUNT: &str = "system.processes.count";
/// Cumulative forks since boot, threads included: `/proc/stat` `processes`
/// (psutil has none).
pub const CREATED: &str = "system.processes.created";
pub const CREATED_RATE: &str = "system.processes.created.rate";
/// Processes named `name`, for each name in the agent's `watch_processes`
/// (zeros included, so "not running" is a value): psutil
/// `sum(1 for p in process_iter() if p.name() == name)`.
pub const WATCHED: &str = "system.processes.watched";

/// The kernel keeps a process's name (`comm`) to 15 bytes.
const COMM_MAX: usize = 15;

/// A `stat` line is 250–400 bytes: one `read` fills it, one more sees the end.
const STAT_BUFFER: usize = 1024;

/// How many processes each ranking contributes to the top list.
pub const TOP_N: usize = 10;

/// CPU ticks of one process at the previous refresh, with its start time so a
/// reused pid is not mistaken for the same process.
struct Previous {
    start_ticks: u64,
    cpu_ticks: u64,
}

pub(crate) struct Processes {
    proc_root: PathBuf,
    users: Users,
    ticks_per_second: f64,
    page_size: u64,
    previous: HashMap<u32, Previous>,
    previous_at: Option<Instant>,
    top: Vec<ProcessInfo>,
    /// Reused for every `stat` file: no allocation per process.
    files: FileReader,
    /// Names counted into [`WATCHED`], with the form `comm` has of each.
    watch: Vec<(String, String)>,
}

impl Processes {
    pub(crate) fn new() -> Self {
        Self::with_paths("/proc", "/etc/passwd")
    }

    pub(crate) fn with_paths(proc_root: impl Into<PathBuf>, passwd: impl Into<PathBuf>) -> Self {
        Self {
            proc_root: proc_root.into(),
            users: Users::new(passwd),
            ticks_per_second: rustix::param::clock_ticks_per_second() as f64,
            page_size: rustix::param::page_size() as u64,
            previous: HashMap::new(),
            previous_at: None,
            top: Vec::new(),
            files: FileReader::with_capacity(STAT_BUFFER),
            watch: Vec::new(),
        }
    }

    /// Counts processes by these names at every refresh.
    pub(crate) fn watch(&mut self, names: &[String]) {
        self.watch = names
            .iter()
            .map(|n| {
                let mut comm = n.clone();
                while comm.len() > COMM_MAX {
                    comm.pop();
                }
                (n.clone(), comm)
            })
            .collect();
    }

    /// The top list of the last refresh; empty until two refreshes happened,
    /// since CPU shares need two readings.
    pub(crate) fn top(&self) -> &[ProcessInfo] {
        &self.top
    }

    /// Reads every process once: returns the counts by status and rebuilds the
    /// top list. A process that exits while being read is simply not counted.
    pub(crate) fn refresh(&mut self, at: Instant) -> Result<Vec<Sample>> {
        let entries = std::fs::read_dir(&self.proc_root).map_err(|error| CollectError::Read {
            path: self.proc_root.display().to_string(),
            error,
        })?;
        let elapsed = self
            .previous_at
            .map(|p| at.saturating_duration_since(p).as_secs_f64());
        let mut counts: HashMap<&'static str, u64> = HashMap::new();
        let mut watched = vec![0u64; self.watch.len()];
        let mut current = HashMap::with_capacity(self.previous.len());
        let mut seen: Vec<(u32, PidStat, f64)> = Vec::with_capacity(self.previous.len());
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let Some(stat) = self.read_stat(pid) else {
                continue;
            };
            *counts.entry(status_name(stat.state)).or_default() += 1;
            for (i, (_, comm)) in self.watch.iter().enumerate() {
                if stat.comm == *comm {
                    watched[i] += 1;
                }
            }
            let cpu = match (self.previous.get(&pid), elapsed) {
                (Some(p), Some(secs)) if p.start_ticks == stat.start_ticks && secs > 0.0 => {
                    stat.cpu_ticks.saturating_sub(p.cpu_ticks) as f64 / self.ticks_per_second / secs
                }
                _ => 0.0,
            };
            current.insert(
                pid,
                Previous {
                    start_ticks: stat.start_ticks,
                    cpu_ticks: stat.cpu_ticks,
                },
            );
            seen.push((pid, stat, cpu));
        }
        self.previous = current;
        self.previous_at = Some(at);
        self.top = match elapsed {
            Some(_) => self.build_top(seen),
            None => Vec::new(),
        };

        let mut out: Vec<Sample> = STATUSES
            .iter()
            .map(|status| {
                let count = counts.get(status).copied().unwrap_or(0);
                sample(COUNT, &[("status", status)], count as f64)
            })
            .collect();
        if let Some(&unknown) = counts.get("unknown") {
            out.push(sample(COUNT, &[("status", "unknown")], unknown as f64));
        }
        for ((name, _), n) in self.watch.iter().zip(watched) {
            out.push(sample(WATCHED, &[("name", name)], n as f64));
        }
        Ok(out)
    }

    /// `None` when the process is gone (or its `stat` unreadable or malformed,
    /// which only a kernel bug would produce: logged at debug).
    fn read_stat(&mut self, pid: u32) -> Option<PidStat> {
        let path = self.proc_root.join(pid.to_string()).join("stat");
        match self.files.read(&path) {
            Ok(text) => parse_stat(&text)
                .inspect_err(|error| tracing::debug!(pid, %error, "skipping process"))
                .ok(),
            Err(error) => {
                // ENOENT or ESRCH: it exited between readdir and open.
                if error.kind() != ErrorKind::NotFound && error.raw_os_error() != Some(3) {
                    tracing::debug!(pid, %error, "skipping process");
                }
                None
            }
        }
    }

    /// The union of the top [`TOP_N`] by CPU (those that used any) and by
    /// resident memory, ordered by CPU then memory.
    fn build_top(&mut self, mut seen: Vec<(u32, PidStat, f64)>) -> Vec<ProcessInfo> {
        let mut chosen: Vec<usize> = Vec::with_capacity(2 * TOP_N);
        let mut order: Vec<usize> = (0..seen.len()).collect();
        order.sort_by(|&a, &b| seen[b].2.total_cmp(&seen[a].2));
        chosen.extend(order.iter().take(TOP_N).filter(|&&i| seen[i].2 > 0.0));
        order.sort_by_key(|&i| std::cmp::Reverse(seen[i].1.rss_pages));
        for &i in order.iter().take(TOP_N) {
            if !chosen.contains(&i) && seen[i].1.rss_pages > 0 {
                chosen.push(i);
            }
        }
        let mut top = Vec::with_capacity(chosen.len());
        for i in chosen {
            let (pid, stat, cpu) = std::mem::replace(&mut seen[i], (0, empty_stat(), 0.0));
            // A process that exited since its stat was read drops out here.
            let Some(info) = self.describe(pid, stat, cpu) else {
                continue;
            };
            top.push(info);
        }
        top.sort_by(|a, b| {
            (b.cpu_utilization.total_cmp(&a.cpu_utilization))
                .then(b.memory_bytes.cmp(&a.memory_bytes))
        });
        top
    }

    fn describe(&mut self, pid: u32, stat: PidStat, cpu: f64) -> Option<ProcessInfo> {
        let dir = self.proc_root.join(pid.to_string());
        let uid = parse_real_uid(&std::fs::read_to_string(dir.join("status")).ok()?)?;
        let name = if stat.comm.len() >= 15 {
            full_name(
                &stat.comm,
                &std::fs::read(dir.join("cmdline")).unwrap_or_default(),
            )
        } else {
            stat.comm
        };
        // `stat`'s rss comes from the kernel's per-CPU cached counters and can
        // lag by a few hundred KiB; `statm` (psutil's source) is exact. It
        // costs one more read per listed process, so only here.
        let rss_pages = std::fs::read_to_string(dir.join("statm"))
            .ok()
            .and_then(|statm| parse_statm_resident(&statm))
            .unwrap_or(stat.rss_pages);
        Some(ProcessInfo {
            pid,
            name,
            user: self.users.name(uid),
            cpu_utilization: cpu,
            memory_bytes: rss_pages.saturating_mul(self.page_size),
        })
    }
}

fn empty_stat() -> PidStat {
    PidStat {
        comm: String::new(),
        state: '?',
        cpu_ticks: 0,
        start_ticks: 0,
        rss_pages: 0,
    }
}

/// Forks since boot and their rate.
pub(crate) fn created(forks: u64, at: Instant, rates: &mut Rates) -> Vec<Sample> {
    let mut out = Vec::with_capacity(2);
    rates.counter(&mut out, CREATED, CREATED_RATE, &[], forks, Width::U64, at);
    out
}

#[cfg(test)]
mod tests;
