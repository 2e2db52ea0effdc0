//! Role profiles: what a web, api, database, cache, batch, ML or storage host
//! typically looks like.

use super::rng::Rng;

const GIB: u64 = 1 << 30;
const GB: f64 = 1e9;
const DAY_SECS: f64 = 86_400.0;
/// Line rates of eth0 in bytes per second.
const GBE_1: f64 = 1.25e8;
const GBE_10: f64 = 1.25e9;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Web,
    Api,
    Db,
    Cache,
    Batch,
    Ml,
    Storage,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::Web,
        Role::Api,
        Role::Db,
        Role::Cache,
        Role::Batch,
        Role::Ml,
        Role::Storage,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Role::Web => "web",
            Role::Api => "api",
            Role::Db => "db",
            Role::Cache => "cache",
            Role::Batch => "batch",
            Role::Ml => "ml",
            Role::Storage => "storage",
        }
    }

    /// Weighted like a typical fleet: front ends are the most numerous.
    pub(crate) fn pick(rng: &mut Rng) -> Self {
        rng.pick(&[
            Role::Web,
            Role::Web,
            Role::Web,
            Role::Api,
            Role::Api,
            Role::Db,
            Role::Db,
            Role::Cache,
            Role::Batch,
            Role::Ml,
            Role::Storage,
        ])
    }

    /// Whether the host serves requests and so reports `app.request.*`.
    pub fn serves_requests(self) -> bool {
        self.profile().app.is_some()
    }

    pub(crate) fn profile(self) -> &'static Profile {
        match self {
            Role::Web => &WEB,
            Role::Api => &API,
            Role::Db => &DB,
            Role::Cache => &CACHE,
            Role::Batch => &BATCH,
            Role::Ml => &ML,
            Role::Storage => &STORAGE,
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
    /// Share by which demand drops on a weekend (negative: busier).
    pub weekend_dip: f64,
    /// Range of the per-host mean memory utilization.
    pub memory_base: (f64, f64),
    /// Share of available memory that is truly free (the rest is page cache).
    pub free_share: f64,
    pub root_gb: (f64, f64),
    /// The data filesystem, for roles that have one.
    pub data: Option<DataVolume>,
    /// Growth of the busiest filesystem.
    pub growth_gb_per_day: f64,
    pub receive_bps: f64,
    pub transmit_bps: f64,
    pub packet_bytes: f64,
    /// Line rate of eth0, bytes per second: where a saturated link plateaus.
    pub link_bps: f64,
    /// How busy CPU time splits over user, nice, system, irq, softirq, steal.
    pub busy_split: [f64; 6],
    /// Share of idle time that is iowait when the busiest disk is fully busy.
    pub iowait: f64,
    pub disks: &'static [DiskSpec],
    pub app: Option<AppSpec>,
    /// TCP connections held at average demand.
    pub established: f64,
    pub listening: u32,
    /// New TCP connections per second at average demand: accepted, initiated.
    pub opens_per_sec: (f64, f64),
    /// Watts drawn at idle and at full load.
    pub watts: (f64, f64),
    pub psus: u32,
    pub fans: u32,
    pub gpus: u32,
}

pub(crate) struct DataVolume {
    pub device: &'static str,
    pub mountpoint: &'static str,
    pub fs_type: &'static str,
    pub gb: (f64, f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Media {
    Hdd,
    Ssd,
    Nvme,
}

impl Media {
    /// Seconds one operation keeps the device busy, and bytes per operation.
    pub(crate) fn service(self) -> (f64, f64) {
        match self {
            Media::Hdd => (0.006, 64.0 * 1024.0),
            Media::Ssd => (0.000_4, 32.0 * 1024.0),
            Media::Nvme => (0.000_08, 128.0 * 1024.0),
        }
    }
}

pub(crate) struct DiskSpec {
    pub name: &'static str,
    pub media: Media,
    /// Bytes per second at average demand.
    pub read_bps: f64,
    pub write_bps: f64,
}

pub(crate) struct AppSpec {
    /// Requests per second at average demand.
    pub rps: f64,
    /// p95 latency in seconds when the host is idle.
    pub latency_s: f64,
    pub error_ratio: f64,
}

const fn disk(name: &'static str, media: Media, read_bps: f64, write_bps: f64) -> DiskSpec {
    DiskSpec {
        name,
        media,
        read_bps,
        write_bps,
    }
}

static WEB: Profile = Profile {
    cpu_counts: &[2, 4, 8],
    memory_gib: &[4, 8, 16],
    swap_gib: 2,
    cpu_base: (0.15, 0.30),
    cpu_daily: 0.20,
    peak_hour: 14.0,
    weekend_dip: 0.35,
    memory_base: (0.40, 0.60),
    free_share: 0.4,
    root_gb: (40.0, 100.0),
    data: None,
    growth_gb_per_day: 0.4,
    receive_bps: 2e6,
    transmit_bps: 8e6,
    packet_bytes: 900.0,
    link_bps: GBE_1,
    busy_split: [0.70, 0.01, 0.20, 0.02, 0.06, 0.01],
    iowait: 0.05,
    disks: &[disk("sda", Media::Ssd, 0.2e6, 1.5e6)],
    app: Some(AppSpec {
        rps: 300.0,
        latency_s: 0.08,
        error_ratio: 0.002,
    }),
    established: 400.0,
    listening: 6,
    opens_per_sec: (120.0, 10.0),
    watts: (90.0, 220.0),
    psus: 1,
    fans: 3,
    gpus: 0,
};

static API: Profile = Profile {
    cpu_counts: &[4, 8, 16],
    memory_gib: &[8, 16, 32],
    swap_gib: 2,
    cpu_base: (0.20, 0.35),
    cpu_daily: 0.18,
    peak_hour: 15.0,
    weekend_dip: 0.30,
    // A JVM heap sized to most of the machine.
    memory_base: (0.55, 0.75),
    free_share: 0.35,
    root_gb: (40.0, 80.0),
    data: None,
    growth_gb_per_day: 0.3,
    receive_bps: 4e6,
    transmit_bps: 6e6,
    packet_bytes: 1100.0,
    link_bps: GBE_1,
    busy_split: [0.72, 0.0, 0.18, 0.02, 0.07, 0.01],
    iowait: 0.05,
    disks: &[disk("sda", Media::Ssd, 0.1e6, 1e6)],
    app: Some(AppSpec {
        rps: 150.0,
        latency_s: 0.12,
        error_ratio: 0.003,
    }),
    established: 600.0,
    listening: 5,
    opens_per_sec: (60.0, 40.0),
    watts: (110.0, 280.0),
    psus: 2,
    fans: 4,
    gpus: 0,
};

static DB: Profile = Profile {
    cpu_counts: &[8, 16],
    memory_gib: &[32, 64],
    // Databases usually run without swap: paging utilization stays 0.
    swap_gib: 0,
    cpu_base: (0.20, 0.40),
    cpu_daily: 0.15,
    peak_hour: 14.0,
    weekend_dip: 0.25,
    // The buffer pool keeps most memory in use all day.
    memory_base: (0.70, 0.85),
    free_share: 0.1,
    root_gb: (50.0, 80.0),
    data: Some(DataVolume {
        device: "/dev/sdb1",
        mountpoint: "/var/lib/postgresql",
        fs_type: "xfs",
        gb: (500.0, 2000.0),
    }),
    growth_gb_per_day: 8.0,
    receive_bps: 3e6,
    transmit_bps: 5e6,
    packet_bytes: 1200.0,
    link_bps: GBE_10,
    busy_split: [0.62, 0.0, 0.28, 0.02, 0.08, 0.0],
    iowait: 0.30,
    disks: &[
        disk("sda", Media::Ssd, 0.1e6, 0.5e6),
        disk("sdb", Media::Ssd, 15e6, 8e6),
    ],
    app: None,
    established: 180.0,
    listening: 3,
    opens_per_sec: (5.0, 1.0),
    watts: (150.0, 380.0),
    psus: 2,
    fans: 6,
    gpus: 0,
};

static CACHE: Profile = Profile {
    cpu_counts: &[2, 4],
    memory_gib: &[8, 16, 32],
    swap_gib: 1,
    cpu_base: (0.08, 0.20),
    cpu_daily: 0.10,
    peak_hour: 14.0,
    weekend_dip: 0.30,
    memory_base: (0.75, 0.88),
    free_share: 0.2,
    root_gb: (20.0, 40.0),
    data: None,
    growth_gb_per_day: 0.05,
    receive_bps: 6e6,
    transmit_bps: 12e6,
    packet_bytes: 400.0,
    link_bps: GBE_10,
    busy_split: [0.45, 0.0, 0.35, 0.04, 0.15, 0.01],
    iowait: 0.02,
    disks: &[disk("sda", Media::Ssd, 0.05e6, 0.8e6)],
    app: None,
    established: 1200.0,
    listening: 3,
    opens_per_sec: (40.0, 0.5),
    watts: (70.0, 160.0),
    psus: 1,
    fans: 3,
    gpus: 0,
};

static BATCH: Profile = Profile {
    cpu_counts: &[4, 8, 16],
    memory_gib: &[16, 32],
    swap_gib: 4,
    cpu_base: (0.30, 0.45),
    cpu_daily: 0.35,
    // Nightly jobs: busiest in the small hours, idle in the afternoon.
    peak_hour: 2.0,
    // The weekly jobs run on the weekend.
    weekend_dip: -0.15,
    memory_base: (0.45, 0.65),
    free_share: 0.5,
    root_gb: (150.0, 300.0),
    data: None,
    growth_gb_per_day: 2.0,
    receive_bps: 1e6,
    transmit_bps: 0.5e6,
    packet_bytes: 1400.0,
    link_bps: GBE_1,
    busy_split: [0.85, 0.05, 0.08, 0.005, 0.01, 0.005],
    iowait: 0.20,
    disks: &[disk("sda", Media::Hdd, 6e6, 4e6)],
    app: None,
    established: 25.0,
    listening: 2,
    opens_per_sec: (0.5, 3.0),
    watts: (120.0, 300.0),
    psus: 1,
    fans: 4,
    gpus: 0,
};

static ML: Profile = Profile {
    cpu_counts: &[16, 32],
    memory_gib: &[64, 128],
    swap_gib: 0,
    cpu_base: (0.35, 0.55),
    cpu_daily: 0.10,
    peak_hour: 11.0,
    weekend_dip: 0.10,
    memory_base: (0.55, 0.75),
    free_share: 0.3,
    root_gb: (100.0, 200.0),
    data: Some(DataVolume {
        device: "/dev/nvme0n1p1",
        mountpoint: "/scratch",
        fs_type: "xfs",
        gb: (1000.0, 4000.0),
    }),
    // Checkpoints and datasets.
    growth_gb_per_day: 20.0,
    receive_bps: 20e6,
    transmit_bps: 2e6,
    packet_bytes: 1400.0,
    link_bps: GBE_10,
    busy_split: [0.88, 0.02, 0.07, 0.005, 0.02, 0.005],
    iowait: 0.10,
    disks: &[
        disk("sda", Media::Ssd, 0.1e6, 0.5e6),
        disk("nvme0n1", Media::Nvme, 120e6, 40e6),
    ],
    app: None,
    established: 40.0,
    listening: 4,
    opens_per_sec: (1.0, 2.0),
    // The GPUs dominate the draw.
    watts: (350.0, 1400.0),
    psus: 2,
    fans: 6,
    gpus: 4,
};

static STORAGE: Profile = Profile {
    cpu_counts: &[8, 16],
    memory_gib: &[32, 64],
    swap_gib: 2,
    cpu_base: (0.10, 0.25),
    cpu_daily: 0.15,
    // Backups arrive at night.
    peak_hour: 3.0,
    weekend_dip: -0.10,
    memory_base: (0.35, 0.50),
    // Most of memory is page cache.
    free_share: 0.15,
    root_gb: (40.0, 80.0),
    data: Some(DataVolume {
        device: "/dev/md0",
        mountpoint: "/srv/storage",
        fs_type: "xfs",
        gb: (20_000.0, 80_000.0),
    }),
    growth_gb_per_day: 150.0,
    receive_bps: 40e6,
    transmit_bps: 25e6,
    // Jumbo frames.
    packet_bytes: 7000.0,
    link_bps: GBE_10,
    busy_split: [0.30, 0.0, 0.45, 0.05, 0.20, 0.0],
    iowait: 0.35,
    disks: &[
        disk("sda", Media::Ssd, 0.05e6, 0.3e6),
        disk("sdb", Media::Hdd, 10e6, 6e6),
        disk("sdc", Media::Hdd, 10e6, 6e6),
        disk("sdd", Media::Hdd, 10e6, 6e6),
        disk("sde", Media::Hdd, 10e6, 6e6),
    ],
    app: None,
    established: 150.0,
    listening: 8,
    opens_per_sec: (4.0, 1.0),
    watts: (180.0, 420.0),
    psus: 2,
    fans: 6,
    gpus: 0,
};

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
