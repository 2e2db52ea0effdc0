//! Role profiles: what a web, database, cache or batch host typically looks like.

use super::rng::Rng;

const GIB: u64 = 1 << 30;
const GB: f64 = 1e9;
const DAY_SECS: f64 = 86_400.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Web,
    Db,
    Cache,
    Batch,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Web => "web",
            Role::Db => "db",
            Role::Cache => "cache",
            Role::Batch => "batch",
        }
    }

    /// Weighted like a typical fleet: web servers are the most numerous.
    pub(crate) fn pick(rng: &mut Rng) -> Self {
        rng.pick(&[
            Role::Web,
            Role::Web,
            Role::Web,
            Role::Db,
            Role::Db,
            Role::Cache,
            Role::Cache,
            Role::Batch,
        ])
    }

    pub(crate) fn profile(self) -> Profile {
        match self {
            Role::Web => Profile {
                cpu_counts: &[2, 4, 8],
                memory_gib: &[4, 8, 16],
                swap_gib: 2,
                cpu_base: (0.15, 0.30),
                cpu_daily: 0.20,
                peak_hour: 14.0,
                memory_base: (0.40, 0.60),
                free_share: 0.4,
                root_gb: (40.0, 100.0),
                data_gb: None,
                growth_gb_per_day: 0.4,
                receive_bps: 2e6,
                transmit_bps: 8e6,
                packet_bytes: 900.0,
            },
            Role::Db => Profile {
                cpu_counts: &[8, 16],
                memory_gib: &[32, 64],
                // Databases usually run without swap: paging utilization stays 0.
                swap_gib: 0,
                cpu_base: (0.20, 0.40),
                cpu_daily: 0.15,
                peak_hour: 14.0,
                // The buffer pool keeps most memory in use all day.
                memory_base: (0.70, 0.85),
                free_share: 0.1,
                root_gb: (50.0, 80.0),
                data_gb: Some((500.0, 2000.0)),
                growth_gb_per_day: 8.0,
                receive_bps: 3e6,
                transmit_bps: 5e6,
                packet_bytes: 1200.0,
            },
            Role::Cache => Profile {
                cpu_counts: &[2, 4],
                memory_gib: &[8, 16, 32],
                swap_gib: 1,
                cpu_base: (0.08, 0.20),
                cpu_daily: 0.10,
                peak_hour: 14.0,
                memory_base: (0.75, 0.88),
                free_share: 0.2,
                root_gb: (20.0, 40.0),
                data_gb: None,
                growth_gb_per_day: 0.05,
                receive_bps: 6e6,
                transmit_bps: 12e6,
                packet_bytes: 400.0,
            },
            Role::Batch => Profile {
                cpu_counts: &[4, 8, 16],
                memory_gib: &[16, 32],
                swap_gib: 4,
                cpu_base: (0.30, 0.45),
                cpu_daily: 0.35,
                // Nightly jobs: busiest in the small hours, idle in the afternoon.
                peak_hour: 2.0,
                memory_base: (0.45, 0.65),
                free_share: 0.5,
                root_gb: (150.0, 300.0),
                data_gb: None,
                growth_gb_per_day: 2.0,
                receive_bps: 1e6,
                transmit_bps: 0.5e6,
                packet_bytes: 1400.0,
            },
        }
    }
}

/// The ranges a host of one role is drawn from.
pub(crate) struct Profile {
    pub cpu_counts: &'static [u32],
    pub memory_gib: &'static [u64],
    pub swap_gib: u64,
    /// Range of the per-host mean CPU utilization.
    pub cpu_base: (f64, f64),
    /// Amplitude of the daily cycle around that mean.
    pub cpu_daily: f64,
    /// Local hour at which the daily cycle peaks.
    pub peak_hour: f64,
    /// Range of the per-host mean memory utilization.
    pub memory_base: (f64, f64),
    /// Share of available memory that is truly free (the rest is page cache).
    pub free_share: f64,
    pub root_gb: (f64, f64),
    /// Size range of the `/var/lib/db` data filesystem, for roles that have one.
    pub data_gb: Option<(f64, f64)>,
    /// Growth of the busiest filesystem.
    pub growth_gb_per_day: f64,
    pub receive_bps: f64,
    pub transmit_bps: f64,
    pub packet_bytes: f64,
}

impl Profile {
    pub(crate) fn memory_bytes(&self, rng: &mut Rng) -> u64 {
        rng.pick(self.memory_gib) * GIB
    }

    pub(crate) fn swap_bytes(&self) -> u64 {
        self.swap_gib * GIB
    }

    pub(crate) fn growth_bytes_per_sec(&self) -> f64 {
        self.growth_gb_per_day * GB / DAY_SECS
    }
}

pub(crate) fn gb(value: f64) -> f64 {
    value * GB
}
