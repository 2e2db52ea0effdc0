//! A plausible process table per role, for [`super::SimHost::processes`]: the
//! role's main programs take the host's load, a runaway process shows on top
//! during a CPU spike and a leaking one grows during a memory leak.

use common::model::ProcessInfo;

use super::profile::Role;
use super::rng::Rng;

struct Spec {
    name: &'static str,
    user: &'static str,
    /// Share of the workload's busy CPU, split over the copies.
    cpu: f64,
    /// Share of the memory in use, split over the copies.
    memory: f64,
    copies: Copies,
}

#[derive(Clone, Copy)]
enum Copies {
    One,
    /// One per core (worker pools), at most this many.
    PerCore(u32),
    Fixed(u32),
}

const fn spec(
    name: &'static str,
    user: &'static str,
    cpu: f64,
    memory: f64,
    copies: Copies,
) -> Spec {
    Spec {
        name,
        user,
        cpu,
        memory,
        copies,
    }
}

/// On every host; pid 1 first.
const SYSTEM: &[Spec] = &[
    spec("systemd", "root", 0.002, 0.002, Copies::One),
    spec("systemd-journald", "root", 0.005, 0.004, Copies::One),
    spec("rsyslogd", "syslog", 0.002, 0.001, Copies::One),
    spec("cron", "root", 0.000_5, 0.000_5, Copies::One),
    spec("sshd", "root", 0.001, 0.001, Copies::One),
    spec("hostwatch-agent", "hostwatch", 0.01, 0.002, Copies::One),
];

const WEB_PROCS: &[Spec] = &[
    spec("nginx", "root", 0.01, 0.002, Copies::One),
    spec("nginx", "www-data", 0.35, 0.05, Copies::PerCore(16)),
    spec("node", "app", 0.55, 0.40, Copies::One),
];
const API_PROCS: &[Spec] = &[
    spec("java", "app", 0.82, 0.70, Copies::One),
    spec("envoy", "envoy", 0.12, 0.03, Copies::One),
];
const DB_PROCS: &[Spec] = &[
    spec("postgres", "postgres", 0.03, 0.30, Copies::One),
    spec("postgres", "postgres", 0.85, 0.45, Copies::Fixed(8)),
    spec("pgbouncer", "postgres", 0.05, 0.01, Copies::One),
];
const CACHE_PROCS: &[Spec] = &[spec("redis-server", "redis", 0.92, 0.90, Copies::One)];
const BATCH_PROCS: &[Spec] = &[
    spec("python3", "etl", 0.60, 0.45, Copies::One),
    spec("java", "spark", 0.35, 0.40, Copies::Fixed(2)),
];
const ML_PROCS: &[Spec] = &[
    spec("python3", "ml", 0.88, 0.65, Copies::One),
    spec("jupyter-lab", "ml", 0.03, 0.05, Copies::One),
    spec("nvidia-persistenced", "root", 0.001, 0.001, Copies::One),
];
const STORAGE_PROCS: &[Spec] = &[
    spec("minio", "minio", 0.60, 0.30, Copies::One),
    spec("smbd", "root", 0.10, 0.03, Copies::Fixed(2)),
    spec("nfsd", "root", 0.25, 0.0, Copies::Fixed(8)),
];

fn role_specs(role: Role) -> &'static [Spec] {
    match role {
        Role::Web => WEB_PROCS,
        Role::Api => API_PROCS,
        Role::Db => DB_PROCS,
        Role::Cache => CACHE_PROCS,
        Role::Batch => BATCH_PROCS,
        Role::Ml => ML_PROCS,
        Role::Storage => STORAGE_PROCS,
    }
}

/// Who spins during a CPU spike: one of the role's own programs or a stray job.
fn runaways(role: Role) -> &'static [&'static str] {
    match role {
        Role::Web => &["node", "nginx", "logrotate"],
        Role::Api => &["java", "envoy"],
        Role::Db => &["postgres", "pg_dump"],
        Role::Cache => &["redis-server", "redis-check-aof"],
        Role::Batch => &["python3", "java"],
        Role::Ml => &["python3", "jupyter-lab"],
        Role::Storage => &["minio", "updatedb"],
    }
}

/// Who leaks memory.
fn leakers(role: Role) -> &'static [&'static str] {
    match role {
        Role::Web => &["node"],
        Role::Api => &["java"],
        Role::Db => &["postgres"],
        Role::Cache => &["redis-server"],
        Role::Batch => &["python3", "java"],
        Role::Ml => &["python3", "jupyter-lab"],
        Role::Storage => &["minio", "smbd"],
    }
}

/// The process a CPU spike (`leak` false) or memory leak (true) with `pick` blames.
pub(crate) fn culprit(role: Role, leak: bool, pick: u64) -> &'static str {
    let names = if leak { leakers(role) } else { runaways(role) };
    names[(pick % names.len() as u64) as usize]
}

struct Proc {
    pid: u32,
    name: &'static str,
    user: &'static str,
    cpu: f64,
    memory: f64,
}

/// The processes of one boot of one host.
pub(crate) struct Table {
    role: Role,
    procs: Vec<Proc>,
}

/// What the table needs from the host's latest reading.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Load {
    pub now_ms: i64,
    pub normal_cores: f64,
    pub runaway_cores: f64,
    pub runaway: Option<u64>,
    /// Bytes in use without the leak, and the leak.
    pub used: u64,
    pub leaked: u64,
    pub leaker: Option<u64>,
}

impl Table {
    /// Pids come from `rng`: stable for one boot, new after a reboot.
    pub(crate) fn new(role: Role, cores: u32, rng: &mut Rng) -> Self {
        let mut procs = Vec::new();
        let mut daemon_pid = 1;
        for s in SYSTEM {
            procs.push(Proc {
                pid: daemon_pid,
                name: s.name,
                user: s.user,
                cpu: s.cpu,
                memory: s.memory,
            });
            daemon_pid = 300 + (daemon_pid + rng.range(20.0, 120.0) as u32) % 600;
        }
        let mut pid = 1000 + rng.range(0.0, 4000.0) as u32;
        for s in role_specs(role) {
            let copies = match s.copies {
                Copies::One => 1,
                Copies::PerCore(max) => cores.clamp(1, max),
                Copies::Fixed(n) => n,
            };
            for _ in 0..copies {
                procs.push(Proc {
                    pid,
                    name: s.name,
                    user: s.user,
                    cpu: s.cpu / f64::from(copies),
                    memory: s.memory / f64::from(copies),
                });
                pid += 1 + rng.range(0.0, 300.0) as u32;
            }
        }
        Self { role, procs }
    }

    /// The table at `load`, busiest first.
    pub(crate) fn list(&self, load: &Load) -> Vec<ProcessInfo> {
        let mut out: Vec<ProcessInfo> = self
            .procs
            .iter()
            .map(|p| {
                // A little jitter per process and instant, without touching the
                // host's generator (reading the table must not change the data).
                let mut jitter = Rng::keyed(&[load.now_ms as u64, u64::from(p.pid)]);
                ProcessInfo {
                    pid: p.pid,
                    name: p.name.to_owned(),
                    user: p.user.to_owned(),
                    cpu_utilization: p.cpu * load.normal_cores * jitter.range(0.85, 1.15),
                    memory_bytes: (p.memory * load.used as f64 * jitter.range(0.98, 1.02)) as u64,
                }
            })
            .collect();
        if let Some(pick) = load.runaway {
            let name = culprit(self.role, false, pick);
            let p = self.find_or_add(&mut out, name, pick);
            p.cpu_utilization += load.runaway_cores;
        }
        if let Some(pick) = load.leaker {
            let name = culprit(self.role, true, pick);
            let p = self.find_or_add(&mut out, name, pick);
            p.memory_bytes += load.leaked;
        }
        out.sort_by(|a, b| {
            b.cpu_utilization
                .total_cmp(&a.cpu_utilization)
                .then(a.pid.cmp(&b.pid))
        });
        out
    }

    /// The busiest process called `name`, or a new one (a stray job) whose pid
    /// comes from the incident.
    fn find_or_add<'a>(
        &self,
        out: &'a mut Vec<ProcessInfo>,
        name: &str,
        pick: u64,
    ) -> &'a mut ProcessInfo {
        let found = out
            .iter()
            .enumerate()
            .filter(|(_, p)| p.name == name)
            .max_by(|a, b| a.1.cpu_utilization.total_cmp(&b.1.cpu_utilization))
            .map(|(i, _)| i);
        let index = match found {
            Some(i) => i,
            None => {
                out.push(ProcessInfo {
                    pid: 40_000 + (pick >> 16) as u32 % 20_000,
                    name: name.to_owned(),
                    user: "root".to_owned(),
                    cpu_utilization: 0.0,
                    memory_bytes: 0,
                });
                out.len() - 1
            }
        };
        &mut out[index]
    }
}
