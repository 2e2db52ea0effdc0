//! Virtual hosts for demos and tests, speaking the same metric names as [`crate::collect`].
//!
//! Each [`SimHost`] has a role (web, api, db, cache, batch, ml, storage) that sets
//! its size and baselines, daily and weekly cycles in the local time of its site,
//! slow drift and mean-reverting noise. A [`Scenario`] injects anomalies of eight
//! [`Kind`]s on a schedule decided in advance, and a [`GroundTruth`] file lists
//! every one the data shows. Everything comes from seeded generators, so a fleet
//! is a pure function of (seed, scenario, host index, the times `collect` was
//! called with): the same inputs replay the same data, byte for byte.
//!
//! - [`fleet`]: hosts spread over sites; [`profile`]: what each role looks
//!   like; [`calendar`]: local time, formats.
//! - [`scenario`], [`anomaly`], [`effects`]: which incidents happen, when, and
//!   what they do to a host; [`ground_truth`]: the file that lists them.
//! - The families, each a small state machine: [`cpu`], [`memory`], [`disk`],
//!   [`storage`] (filesystems), [`traffic`] (the interface), [`protocols`]
//!   (TCP/UDP), [`hardware`] (sensors and power), [`app`] (requests);
//!   [`processes`]: the process table.
//! - [`rng`]: the PRNG and the noise process; [`counter`]: counters and rates;
//!   [`names`]: metric names beyond the original collector's.

mod anomaly;
mod app;
pub mod calendar;
mod counter;
mod cpu;
mod disk;
mod effects;
mod fleet;
mod ground_truth;
mod hardware;
mod memory;
pub mod names;
mod processes;
mod profile;
mod protocols;
mod rng;
mod scenario;
mod storage;
mod traffic;

use std::sync::Arc;
use std::time::Duration;

use common::model::{HostFacts, ProcessInfo, Sample};

use self::anomaly::Schedule;
pub use self::anomaly::{Incident, Kind};
use self::effects::Effects;
pub use self::fleet::{fleet, fleet_with, FleetConfig};
pub use self::ground_truth::{GroundTruth, Record};
pub use self::profile::Role;
use self::rng::{Drift, Rng};
pub use self::scenario::Scenario;
use crate::collect::{host, memory as mem_names, network, sample};

/// Simulated hosts booted up to 90 days before this instant (2025-01-01T00:00Z);
/// a fixed anchor keeps `facts()` and uptime pure functions of the seed.
const BOOT_ANCHOR_MS: i64 = 1_735_689_600_000;
/// Keeps process tables apart from everything else.
const PROCESS_SALT: u64 = 0x7072_6f63;
/// Keeps reboots apart from everything else.
const REBOOT_SALT: u64 = 0x7265_626f_6f74;
/// A crashed host boots this long before it reports again.
const BOOT_SECS: i64 = 45;

/// How long an injected incident lasts when its spec names no duration.
pub const DEFAULT_INJECT_DURATION: Duration = Duration::from_secs(300);

/// The name of the fleet's host `index` (0-based) for `seed`: `sim-ROLE-NNN`,
/// NNN being `index + 1`. The same as [`SimHost::host`], without building it.
pub fn host_name(seed: u64, index: usize) -> String {
    let role = Role::pick(&mut Rng::derive(seed, index as u64));
    format!("sim-{}-{:03}", role.name(), index + 1)
}

/// An incident asked for by hand: `KIND@HOST[+DELAY][/DURATION][*SEVERITY]`,
/// e.g. `cpu_spike@sim-web-001+60s/3m`. HOST is a simulated host's name or its
/// number (the NNN of `sim-ROLE-NNN`, 1 = the first); DELAY counts from the
/// simulator's start (the clock when it starts, or its pinned start) and
/// defaults to 0; DURATION defaults to [`DEFAULT_INJECT_DURATION`]; SEVERITY
/// is in [0, 1], default 1 (the strongest the kind gets).
#[derive(Debug, Clone, PartialEq)]
pub struct Injection {
    pub kind: Kind,
    pub host: HostRef,
    pub delay: Duration,
    pub duration: Duration,
    pub severity: f64,
}

/// A simulated host by name or by number (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostRef {
    Name(String),
    Number(usize),
}

impl std::str::FromStr for Injection {
    type Err = String;

    fn from_str(spec: &str) -> Result<Self, String> {
        let bad = |why: String| {
            format!("--inject {spec:?}: {why} (KIND@HOST[+DELAY][/DURATION][*SEVERITY], e.g. cpu_spike@sim-web-001+60s/3m)")
        };
        let (kind, mut rest) = spec
            .trim()
            .split_once('@')
            .ok_or_else(|| bad("no @HOST".into()))?;
        let kind = Kind::parse(kind).map_err(bad)?;
        let mut severity = 1.0;
        if let Some((head, sev)) = rest.rsplit_once('*') {
            severity = sev
                .parse::<f64>()
                .ok()
                .filter(|s| (0.0..=1.0).contains(s))
                .ok_or_else(|| bad(format!("severity {sev:?} is not a number in [0, 1]")))?;
            rest = head;
        }
        let mut duration = DEFAULT_INJECT_DURATION;
        if let Some((head, d)) = rest.rsplit_once('/') {
            duration = common::config::parse_duration(d).map_err(bad)?;
            rest = head;
        }
        let mut delay = Duration::ZERO;
        if let Some((head, d)) = rest.rsplit_once('+') {
            delay = common::config::parse_duration(d).map_err(bad)?;
            rest = head;
        }
        if duration < Duration::from_secs(1) {
            return Err(bad("the duration must be at least 1s".into()));
        }
        let host = match rest.trim() {
            "" => return Err(bad("no host after @".into())),
            n if n.bytes().all(|b| b.is_ascii_digit()) => match n.parse::<usize>() {
                Ok(i) if i > 0 => HostRef::Number(i),
                _ => return Err(bad(format!("host number {n:?} must be 1 or more"))),
            },
            name => HostRef::Name(name.to_owned()),
        };
        Ok(Injection {
            kind,
            host,
            delay,
            duration,
            severity,
        })
    }
}

/// An [`Injection`] pinned to one host of a fleet and to wall-clock times.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedInjection {
    pub kind: Kind,
    /// Index of the host in the fleet (0-based).
    pub index: usize,
    pub host: String,
    pub site: String,
    /// Unix ms, whole seconds; the incident covers `[start_ms, end_ms)`.
    pub start_ms: i64,
    pub end_ms: i64,
    pub severity: f64,
}

impl Injection {
    /// Which host of `fleet` and when, counting the delay from `base_ms`.
    /// Fails for a host the fleet does not have, or a kind the host cannot
    /// show (request latency and errors need a host that serves requests).
    pub fn plan(&self, fleet: &FleetConfig, base_ms: i64) -> Result<PlannedInjection, String> {
        let index = match &self.host {
            HostRef::Number(n) if *n <= fleet.hosts => n - 1,
            HostRef::Number(n) => {
                return Err(format!(
                    "--inject: there is no simulated host {n}: the fleet has {}",
                    fleet.hosts
                ))
            }
            HostRef::Name(name) => (0..fleet.hosts)
                .find(|&i| host_name(fleet.seed, i) == *name)
                .ok_or_else(|| {
                    let first: Vec<String> = (0..fleet.hosts.min(3))
                        .map(|i| host_name(fleet.seed, i))
                        .collect();
                    format!(
                        "--inject: no simulated host is named {name:?} (this fleet's are {}…, or give a number 1–{})",
                        first.join(", "),
                        fleet.hosts
                    )
                })?,
        };
        let role = Role::pick(&mut Rng::derive(fleet.seed, index as u64));
        if !self.kind.applies_to(role) {
            return Err(format!(
                "--inject: {} needs a host that serves requests; {} is a {} host",
                self.kind.name(),
                host_name(fleet.seed, index),
                role.name()
            ));
        }
        let whole = |ms: i64| ms - ms.rem_euclid(1000);
        let start_ms = whole(base_ms.saturating_add(self.delay.as_millis() as i64));
        let end_ms = start_ms + (self.duration.as_millis() as i64).max(1000);
        Ok(PlannedInjection {
            kind: self.kind,
            index,
            host: host_name(fleet.seed, index),
            site: fleet::site_name(index % fleet.sites.max(1)),
            start_ms,
            end_ms,
            severity: self.severity,
        })
    }
}

/// The instant a reading is for, as every family sees it.
pub(crate) struct Tick {
    /// Seconds since the previous reading (0 on the first).
    pub dt: f64,
    /// Daily cycle in [-1, 1], 1 at the role's peak hour.
    pub daily: f64,
    /// How much of the weekend it is, in [0, 1].
    pub weekend: f64,
}

/// One virtual host.
pub struct SimHost {
    host: String,
    site: String,
    role: Role,
    index: usize,
    seed: u64,
    schedule: Schedule,
    rng: Rng,
    cpu_count: u32,
    boot_ms: i64,
    boots: u64,
    /// Hours added to UTC to get the host's local time of day.
    utc_offset_hours: f64,
    peak_hour: f64,
    weekend_dip: f64,
    /// Weeks-long wander of the workload.
    demand_drift: Drift,
    cpu: cpu::Cpu,
    memory: memory::Memory,
    disks: disk::Disks,
    volumes: Vec<storage::Volume>,
    traffic: traffic::Traffic,
    protocols: protocols::Protocols,
    hardware: hardware::Hardware,
    app: Option<app::App>,
    table: processes::Table,
    /// Descriptors open besides sockets.
    files_open: f64,
    last_ms: Option<i64>,
    /// Set while the host is down after a crash: when it comes back.
    down_until: Option<i64>,
    /// Incidents already in the ground truth, by (kind, start, end).
    reported: Vec<(Kind, i64, i64)>,
    /// Incidents added with [`SimHost::inject`].
    injected: Vec<Incident>,
    ground_truth: Option<Arc<GroundTruth>>,
    /// The latest reading, for [`SimHost::processes`].
    load: processes::Load,
}

impl SimHost {
    pub(crate) fn new(
        seed: u64,
        scenario: Scenario,
        index: usize,
        site: String,
        site_offset_hours: f64,
    ) -> Self {
        let mut rng = Rng::derive(seed, index as u64);
        let role = Role::pick(&mut rng);
        let profile = role.profile();
        let cpu_count = rng.pick(profile.cpu_counts);
        let root = storage::Volume::new(
            "/dev/sda1",
            "/",
            "ext4",
            profile::gb(rng.range(profile.root_gb.0, profile.root_gb.1)),
            // Without a data volume the root filesystem takes the growth.
            if profile.data.is_some() {
                profile.growth_bytes_per_sec() / 20.0
            } else {
                profile.growth_bytes_per_sec()
            },
            &mut rng,
        );
        let mut volumes = vec![root];
        if let Some(data) = &profile.data {
            let size = profile::gb(rng.range(data.gb.0, data.gb.1));
            volumes.push(storage::Volume::new(
                data.device,
                data.mountpoint,
                data.fs_type,
                size,
                profile.growth_bytes_per_sec(),
                &mut rng,
            ));
        }
        // Whole seconds, like a real boot time, so facts and uptime agree exactly.
        let boot_ms = BOOT_ANCHOR_MS - (rng.range(1.0, 90.0) * 86_400.0).round() as i64 * 1000;
        // Hosts of one site share its time zone, give or take a little.
        let utc_offset_hours = site_offset_hours + rng.range(-0.75, 0.75);
        let cpu = cpu::Cpu::new(profile, cpu_count, &mut rng);
        let memory = memory::Memory::new(profile, &mut rng);
        let disks = disk::Disks::new(profile, &mut rng);
        let traffic = traffic::Traffic::new(profile, &mut rng);
        let protocols = protocols::Protocols::new(profile, &mut rng);
        let hardware = hardware::Hardware::new(profile, &mut rng);
        let app = profile
            .app
            .as_ref()
            .map(|spec| app::App::new(spec, &mut rng));
        let files_open = rng.range(800.0, 3000.0);
        let demand_drift = Drift::new(0.1, 7.0 * 86_400.0, &mut rng);
        Self {
            host: host_name(seed, index),
            site,
            role,
            index,
            seed,
            schedule: Schedule {
                seed,
                scenario,
                host_index: index,
                role,
            },
            cpu_count,
            boot_ms,
            boots: 0,
            utc_offset_hours,
            peak_hour: profile.peak_hour,
            weekend_dip: profile.weekend_dip,
            demand_drift,
            cpu,
            memory,
            disks,
            volumes,
            traffic,
            protocols,
            hardware,
            app,
            table: processes::Table::new(
                role,
                cpu_count,
                &mut Rng::keyed(&[seed, index as u64, 0, PROCESS_SALT]),
            ),
            files_open,
            last_ms: None,
            down_until: None,
            reported: Vec::new(),
            injected: Vec::new(),
            ground_truth: None,
            load: processes::Load::default(),
            rng,
        }
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn site(&self) -> &str {
        &self.site
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn scenario(&self) -> Scenario {
        self.schedule.scenario
    }

    /// Writes every incident this host shows into `sink`.
    pub fn set_ground_truth(&mut self, sink: Arc<GroundTruth>) {
        self.ground_truth = Some(sink);
    }

    /// Adds an incident by hand, beside the scenario's (tests, experiments).
    pub fn inject(&mut self, kind: Kind, start_ms: i64, end_ms: i64, severity: f64) {
        self.injected.push(Incident {
            kind,
            start_ms,
            end_ms,
            severity: severity.clamp(0.0, 1.0),
            pick: Rng::keyed(&[self.seed, self.index as u64, start_ms as u64, kind as u64])
                .next_u64(),
        });
    }

    /// The scenario's and the injected incidents overlapping `[from_ms, to_ms)`.
    pub fn incidents(&self, from_ms: i64, to_ms: i64) -> Vec<Incident> {
        let mut all = self.schedule.between(from_ms, to_ms);
        all.extend(
            self.injected
                .iter()
                .filter(|i| i.start_ms < to_ms && i.end_ms > from_ms)
                .cloned(),
        );
        all.sort_by_key(|i| (i.start_ms, i.kind));
        all
    }

    pub fn facts(&self) -> HostFacts {
        HostFacts {
            hostname: self.host.clone(),
            os: "Debian GNU/Linux 12 (bookworm, simulated)".to_owned(),
            kernel: "6.1.0-sim".to_owned(),
            arch: "x86_64".to_owned(),
            cpu_count: self.cpu_count,
            memory_bytes: self.memory.total(),
            boot_time: u64::try_from(self.boot_ms / 1000).unwrap_or(0),
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
            simulated: true,
        }
    }

    /// The process table as of the latest `collect`, busiest first; empty while
    /// the host is down.
    pub fn processes(&self) -> Vec<ProcessInfo> {
        if self.down_until.is_some() || self.last_ms.is_none() {
            return Vec::new();
        }
        self.table.list(&self.load)
    }

    /// Incidents active at `now_ms`.
    fn active(&self, now_ms: i64) -> Vec<Incident> {
        let mut out: Vec<Incident> = Kind::ALL
            .into_iter()
            .filter_map(|kind| self.schedule.active(kind, now_ms))
            .collect();
        out.extend(self.injected.iter().filter(|i| i.contains(now_ms)).cloned());
        out
    }

    /// The host's metrics at wall-clock time `now_ms`; nothing while it is down
    /// after a crash. State (noise, counters, filesystem usage) advances by the
    /// time since the previous call; a `now_ms` earlier than a previous one
    /// advances nothing, so counters never go back.
    ///
    /// A crashed host still advances its state, silently, and draws the same
    /// random numbers as its twin without the crash; on reboot only its
    /// counters start over (from a generator of their own). So a host and its
    /// twin of another scenario differ exactly where incidents are.
    pub fn collect(&mut self, now_ms: i64) -> Vec<Sample> {
        let active = self.active(now_ms);
        self.reported.retain(|(_, _, end)| *end > now_ms);
        let crash = active.iter().find(|i| i.kind == Kind::HostCrash).cloned();
        match &crash {
            Some(crash) => {
                self.report(crash);
                self.down_until = Some(self.down_until.unwrap_or(i64::MIN).max(crash.end_ms));
            }
            None => {
                if let Some(up) = self.down_until.take() {
                    self.reboot(up);
                }
                for incident in &active {
                    self.report(incident);
                }
            }
        }
        let out = self.read(now_ms, &active);
        if crash.is_some() {
            return Vec::new();
        }
        out
    }

    fn read(&mut self, now_ms: i64, active: &[Incident]) -> Vec<Sample> {
        let (dt, first) = match self.last_ms {
            Some(last) => (now_ms.saturating_sub(last).max(0) as f64 / 1000.0, false),
            None => (0.0, true),
        };
        self.last_ms = Some(self.last_ms.map_or(now_ms, |last| last.max(now_ms)));
        let uptime_secs = now_ms.saturating_sub(self.boot_ms).max(0) as f64 / 1000.0;
        let local = calendar::local_hours(now_ms, self.utc_offset_hours);
        let tick = Tick {
            dt,
            daily: calendar::daily(local, self.peak_hour),
            weekend: calendar::weekend(local),
        };
        let demand = (1.0 + 0.5 * tick.daily)
            * (1.0 - self.weekend_dip * tick.weekend)
            * self.demand_drift.step(dt, &mut self.rng).exp();
        if first {
            self.restart_counters(uptime_secs, None);
        }
        let fx = Effects::of(active, now_ms);
        let rng = &mut self.rng;

        let mut out = Vec::with_capacity(256);
        let mut disk_samples = Vec::new();
        let disk_busy = self.disks.step(dt, demand, rng, &mut disk_samples);
        let cpu = self.cpu.step(&tick, &fx, disk_busy, rng, &mut out);
        let memory = self.memory.step(&tick, &fx, rng, &mut out);
        out.append(&mut disk_samples);
        for volume in &mut self.volumes {
            volume.advance(dt, rng);
            out.extend(volume.samples());
        }
        let traffic = self.traffic.step(dt, demand, &fx, rng, &mut out);
        let sockets = self
            .protocols
            .step(dt, demand, &traffic, &fx, rng, &mut out);
        self.hardware
            .step(dt, cpu.total, demand, &fx, rng, &mut out);
        if let Some(app) = &mut self.app {
            app.step(dt, demand, cpu.total, &fx, rng, &mut out);
        }
        out.push(sample(host::UPTIME, &[], uptime_secs.floor()));
        out.push(sample(names::BOOT_TIME, &[], (self.boot_ms / 1000) as f64));
        let descriptors =
            self.files_open * (1.0 + 0.3 * cpu.normal_cores / f64::from(self.cpu_count)) + sockets;
        out.push(sample(
            names::FILE_DESCRIPTORS_USAGE,
            &[],
            descriptors.round(),
        ));
        // Linux sizes fs.file-max at about one descriptor per 10 KiB of memory.
        out.push(sample(
            names::FILE_DESCRIPTORS_LIMIT,
            &[],
            (self.memory.total() / 10_240) as f64,
        ));

        self.load = processes::Load {
            now_ms,
            normal_cores: cpu.normal_cores,
            runaway_cores: cpu.runaway_cores,
            runaway: fx.cpu_culprit.filter(|_| cpu.runaway_cores > 0.0),
            used: memory.used - memory.leaked,
            leaked: memory.leaked,
            leaker: fx.memory_culprit,
        };
        out
    }

    /// Counters as they read `uptime_secs` after boot: at the first reading
    /// from the host's generator, after a reboot from `reboot`'s own.
    fn restart_counters(&mut self, uptime_secs: f64, reboot: Option<&mut Rng>) {
        let rng = match reboot {
            Some(rng) => rng,
            None => &mut self.rng,
        };
        self.cpu.restart(uptime_secs, rng);
        self.memory.restart(uptime_secs);
        self.disks.restart(uptime_secs);
        self.traffic.restart(uptime_secs, rng);
        self.protocols.restart(uptime_secs, 1000.0);
        self.hardware.restart();
    }

    /// Back from a crash at `up_ms`: booted a little earlier, every counter
    /// starts over (no rates at the first reading) and the processes have new
    /// pids.
    fn reboot(&mut self, up_ms: i64) {
        self.boot_ms = (up_ms.div_euclid(1000) - BOOT_SECS) * 1000;
        self.boots += 1;
        let mut rng = Rng::keyed(&[self.seed, self.index as u64, self.boots, REBOOT_SALT]);
        self.table = processes::Table::new(self.role, self.cpu_count, &mut rng);
        let uptime_secs = self
            .last_ms
            .map_or(0, |last| last.max(up_ms) - self.boot_ms)
            .max(0) as f64
            / 1000.0;
        self.restart_counters(uptime_secs, Some(&mut rng));
    }

    /// Writes `incident` to the ground truth the first time a reading shows it.
    fn report(&mut self, incident: &Incident) {
        let key = (incident.kind, incident.start_ms, incident.end_ms);
        if self.reported.contains(&key) {
            return;
        }
        self.reported.push(key);
        let Some(sink) = &self.ground_truth else {
            return;
        };
        let (metric, labels, process): (&str, Vec<(&str, &str)>, Option<&str>) = match incident.kind
        {
            Kind::CpuSpike => (
                crate::collect::cpu::UTILIZATION,
                vec![],
                Some(processes::culprit(self.role, false, incident.pick)),
            ),
            Kind::MemoryLeak => (
                mem_names::UTILIZATION,
                vec![],
                Some(processes::culprit(self.role, true, incident.pick)),
            ),
            Kind::TemperatureRise => (
                names::HW_TEMPERATURE,
                hardware::PACKAGE_LABELS.to_vec(),
                None,
            ),
            Kind::NetworkSaturation => (
                network::IO_RATE,
                vec![
                    ("device", self.traffic.device()),
                    ("direction", self.traffic.busy_direction()),
                ],
                None,
            ),
            Kind::PowerSpike => (names::HW_POWER, hardware::PSU_LABELS.to_vec(), None),
            Kind::LatencySpike => (names::APP_REQUEST_LATENCY, vec![], None),
            Kind::ErrorRateSpike => (names::APP_REQUEST_ERROR_RATIO, vec![], None),
            Kind::HostCrash => (host::UPTIME, vec![], None),
        };
        sink.record(&Record::new(
            &self.host,
            &self.site,
            metric,
            &labels,
            incident.kind.name(),
            (incident.start_ms, incident.end_ms),
            process,
        ));
    }
}

#[cfg(test)]
mod tests;
