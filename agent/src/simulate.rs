//! Virtual hosts for demos and tests, speaking the same metric names as [`crate::collect`].
//!
//! Each [`SimHost`] has a role (web, db, cache, batch) that sets its size and
//! baselines, a daily cycle in the local time of its site, and slow mean-reverting
//! noise. Everything comes from a seeded PRNG, so a fleet is a pure function of
//! (seed, host index, the times `collect` was called with): the same seed replays
//! the same data.
//!
//! - [`profile`]: what each role looks like.
//! - [`rng`]: the PRNG and the noise process.
//! - [`storage`], [`traffic`]: filesystems and the network interface.

mod profile;
mod rng;
mod storage;
mod traffic;

use std::f64::consts::TAU;

use common::model::{HostFacts, Sample};

pub use self::profile::Role;
use self::rng::{Drift, Rng};
use self::storage::Volume;
use self::traffic::Traffic;
use crate::collect::{cpu, host, memory, sample};

/// Simulated hosts booted up to 90 days before this instant (2025-01-01T00:00Z);
/// a fixed anchor keeps `facts()` and uptime pure functions of the seed.
const BOOT_ANCHOR_MS: i64 = 1_735_689_600_000;
const MS_PER_HOUR: f64 = 3_600_000.0;
/// Keeps the site streams of the PRNG apart from the host streams.
const SITE_STREAM_SALT: u64 = 0x5173_0000_0000_0000;

/// One virtual host.
pub struct SimHost {
    host: String,
    site: String,
    role: Role,
    rng: Rng,
    cpu_count: u32,
    memory_bytes: u64,
    swap_bytes: u64,
    boot_ms: i64,
    /// Hours added to UTC to get the host's local time of day.
    utc_offset_hours: f64,
    peak_hour: f64,
    cpu_base: f64,
    cpu_daily: f64,
    /// Steady per-core offsets: some cores are always a little busier.
    core_bias: Vec<f64>,
    cpu_noise: Drift,
    memory_base: f64,
    free_share: f64,
    memory_noise: Drift,
    /// 1, 5 and 15 minute load averages, `None` until the first call.
    load: Option<[f64; 3]>,
    volumes: Vec<Volume>,
    traffic: Traffic,
    last_ms: Option<i64>,
}

/// `n` virtual hosts; host `i` belongs to site `i % sites` (`sites` of 0 counts as 1).
pub fn fleet(n: usize, sites: usize, seed: u64) -> Vec<SimHost> {
    let sites = sites.max(1);
    let offsets: Vec<f64> = (0..sites)
        .map(|site| {
            let mut rng = Rng::derive(seed ^ SITE_STREAM_SALT, site as u64);
            rng.pick(&[-8.0, -5.0, 0.0, 1.0, 2.0, 5.5, 8.0, 9.0])
        })
        .collect();
    (0..n)
        .map(|index| {
            SimHost::new(
                seed,
                index,
                site_name(index % sites),
                offsets[index % sites],
            )
        })
        .collect()
}

/// `site-a` … `site-z`, then `site-aa`, `site-ab` …
fn site_name(index: usize) -> String {
    let mut letters = Vec::new();
    let mut n = index + 1;
    while n > 0 {
        n -= 1;
        letters.push(char::from(b'a' + (n % 26) as u8));
        n /= 26;
    }
    letters.reverse();
    format!("site-{}", letters.into_iter().collect::<String>())
}

impl SimHost {
    fn new(seed: u64, index: usize, site: String, site_offset_hours: f64) -> Self {
        let mut rng = Rng::derive(seed, index as u64);
        let role = Role::pick(&mut rng);
        let profile = role.profile();
        let cpu_count = rng.pick(profile.cpu_counts);
        let root = Volume::new(
            "/dev/sda1",
            "/",
            "ext4",
            profile::gb(rng.range(profile.root_gb.0, profile.root_gb.1)),
            // Without a data volume the root filesystem takes the growth.
            if profile.data_gb.is_some() {
                profile.growth_bytes_per_sec() / 20.0
            } else {
                profile.growth_bytes_per_sec()
            },
            &mut rng,
        );
        let mut volumes = vec![root];
        if let Some((low, high)) = profile.data_gb {
            let size = profile::gb(rng.range(low, high));
            volumes.push(Volume::new(
                "/dev/sdb1",
                "/var/lib/db",
                "xfs",
                size,
                profile.growth_bytes_per_sec(),
                &mut rng,
            ));
        }
        Self {
            host: format!("sim-{}-{:03}", role.name(), index + 1),
            site,
            role,
            cpu_count,
            memory_bytes: profile.memory_bytes(&mut rng),
            swap_bytes: profile.swap_bytes(),
            // Whole seconds, like a real boot time, so facts and uptime agree exactly.
            boot_ms: BOOT_ANCHOR_MS - (rng.range(1.0, 90.0) * 86_400.0).round() as i64 * 1000,
            // Hosts of one site share its time zone, give or take a little.
            utc_offset_hours: site_offset_hours + rng.range(-0.75, 0.75),
            peak_hour: profile.peak_hour,
            cpu_base: rng.range(profile.cpu_base.0, profile.cpu_base.1),
            cpu_daily: profile.cpu_daily * rng.range(0.7, 1.3),
            core_bias: (0..cpu_count).map(|_| 0.05 * rng.normal()).collect(),
            cpu_noise: Drift::new(0.05, 900.0, &mut rng),
            memory_base: rng.range(profile.memory_base.0, profile.memory_base.1),
            free_share: profile.free_share,
            memory_noise: Drift::new(0.03, 3600.0, &mut rng),
            load: None,
            volumes,
            traffic: Traffic::new(
                profile.receive_bps,
                profile.transmit_bps,
                profile.packet_bytes,
                &mut rng,
            ),
            last_ms: None,
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

    pub fn facts(&self) -> HostFacts {
        HostFacts {
            hostname: self.host.clone(),
            os: "Debian GNU/Linux 12 (bookworm, simulated)".to_owned(),
            kernel: "6.1.0-sim".to_owned(),
            arch: "x86_64".to_owned(),
            cpu_count: self.cpu_count,
            memory_bytes: self.memory_bytes,
            boot_time: u64::try_from(self.boot_ms / 1000).unwrap_or(0),
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
            simulated: true,
        }
    }

    /// The host's metrics at wall-clock time `now_ms`. State (noise, counters,
    /// filesystem usage) advances by the time since the previous call; a `now_ms`
    /// earlier than a previous one advances nothing, so counters never go back.
    pub fn collect(&mut self, now_ms: i64) -> Vec<Sample> {
        let (dt_secs, first) = match self.last_ms {
            Some(last) => (now_ms.saturating_sub(last).max(0) as f64 / 1000.0, false),
            None => (0.0, true),
        };
        self.last_ms = Some(self.last_ms.map_or(now_ms, |last| last.max(now_ms)));
        let uptime_secs = now_ms.saturating_sub(self.boot_ms).max(0) as f64 / 1000.0;
        let daily = self.daily(now_ms);

        let mut out = Vec::new();
        self.cpu(daily, dt_secs, &mut out);
        self.memory(daily, dt_secs, &mut out);
        for volume in &mut self.volumes {
            volume.advance(dt_secs, &mut self.rng);
            out.extend(volume.samples());
        }
        if first {
            self.traffic.start(uptime_secs, &mut self.rng);
        }
        self.traffic
            .advance(dt_secs, daily, &mut self.rng, &mut out);
        out.push(sample(host::UPTIME, &[], uptime_secs.floor()));
        out
    }

    /// The daily cycle in [-1, 1]: 1 at the role's peak hour, local time.
    fn daily(&self, now_ms: i64) -> f64 {
        let local_hours = now_ms as f64 / MS_PER_HOUR + self.utc_offset_hours;
        (TAU * (local_hours - self.peak_hour) / 24.0).cos()
    }

    fn cpu(&mut self, daily: f64, dt_secs: f64, out: &mut Vec<Sample>) {
        let level =
            self.cpu_base + self.cpu_daily * daily + self.cpu_noise.step(dt_secs, &mut self.rng);
        let cores: Vec<f64> = self
            .core_bias
            .iter()
            .map(|bias| (level + bias + 0.04 * self.rng.normal()).clamp(0.0, 1.0))
            .collect();
        // The total is the mean of the cores, as it is on a real machine.
        let total = cores.iter().sum::<f64>() / cores.len().max(1) as f64;
        out.push(sample(cpu::UTILIZATION, &[], total));
        for (index, value) in cores.iter().enumerate() {
            out.push(sample(
                cpu::UTILIZATION,
                &[("cpu", &format!("cpu{index}"))],
                *value,
            ));
        }
        out.push(sample(cpu::LOGICAL_COUNT, &[], f64::from(self.cpu_count)));

        // Runnable tasks ≈ busy cores, plus some waiting; averaged the way the kernel
        // does, with 1, 5 and 15 minute time constants.
        let instant = total * f64::from(self.cpu_count) * (1.0 + 0.15 * self.rng.normal().abs());
        let load = match self.load {
            None => [instant; 3],
            Some(previous) => {
                let mut next = previous;
                for (value, tau) in next.iter_mut().zip([60.0, 300.0, 900.0]) {
                    let keep = (-dt_secs / tau).exp();
                    *value = *value * keep + instant * (1.0 - keep);
                }
                next
            }
        };
        self.load = Some(load);
        for (name, value) in [cpu::LOAD_1M, cpu::LOAD_5M, cpu::LOAD_15M]
            .into_iter()
            .zip(load)
        {
            out.push(sample(name, &[], value));
        }
    }

    fn memory(&mut self, daily: f64, dt_secs: f64, out: &mut Vec<Sample>) {
        let share =
            (self.memory_base + 0.05 * daily + self.memory_noise.step(dt_secs, &mut self.rng))
                .clamp(0.05, 0.97);
        let total = self.memory_bytes;
        let used = ((total as f64 * share).round() as u64).min(total);
        let available = total - used;
        let free = (available as f64 * self.free_share).round() as u64;
        // Reclaimable page cache is what separates available from free.
        let cache = available - free;
        out.extend(memory::memory(&memory::Memory {
            total,
            free,
            available,
            cache: Some(memory::PageCache {
                buffers: cache / 20,
                cached: cache - cache / 20,
                shared: cache / 10,
            }),
        }));

        // Swap fills only under memory pressure, with a small resident floor.
        let swap_share = (0.02 + (share - 0.85).max(0.0) * 3.0).min(0.95);
        let swap_used = (self.swap_bytes as f64 * swap_share).round() as u64;
        out.extend(memory::paging(
            self.swap_bytes,
            self.swap_bytes.saturating_sub(swap_used),
        ));
    }
}

#[cfg(test)]
mod tests;
