//! Simulated filesystems: slow growth with an occasional clean-up.

use common::model::Sample;

use super::rng::Rng;
use crate::collect::filesystem;

/// Above this share in use, someone "rotates logs" and usage drops back; the
/// sawtooth keeps usage valid forever and gives capacity forecasts something to do.
const CLEANUP_AT: f64 = 0.92;

pub(crate) struct Volume {
    device: &'static str,
    mountpoint: &'static str,
    fs_type: &'static str,
    total: u64,
    /// Fractional bytes, so slow growth is not lost to rounding between ticks.
    used: f64,
    growth_per_sec: f64,
}

impl Volume {
    pub(crate) fn new(
        device: &'static str,
        mountpoint: &'static str,
        fs_type: &'static str,
        total_bytes: f64,
        growth_per_sec: f64,
        rng: &mut Rng,
    ) -> Self {
        let total = total_bytes.round() as u64;
        Self {
            device,
            mountpoint,
            fs_type,
            total,
            used: total as f64 * rng.range(0.25, 0.65),
            growth_per_sec,
        }
    }

    pub(crate) fn advance(&mut self, dt_secs: f64, rng: &mut Rng) {
        // Writes are bursty: the growth of one interval varies by ±50 %.
        self.used += self.growth_per_sec * dt_secs * rng.range(0.5, 1.5);
        if self.used > self.total as f64 * CLEANUP_AT {
            self.used = self.total as f64 * rng.range(0.45, 0.60);
        }
    }

    pub(crate) fn samples(&self) -> Vec<Sample> {
        let used = (self.used.round() as u64).min(self.total);
        // No root reserve is simulated; inodes follow mke2fs's default of one per
        // 16 KiB, with files averaging 64 KiB.
        let inodes = self.total / (16 * 1024);
        let space = filesystem::Space {
            total: self.total,
            available: self.total - used,
            reserved: Some(0),
            inodes: Some(filesystem::Inodes {
                total: inodes,
                free: inodes.saturating_sub(used / (64 * 1024)),
            }),
        };
        filesystem::samples(self.device, self.mountpoint, self.fs_type, &space)
    }
}
