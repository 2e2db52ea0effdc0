//! Memory, swap, and pages swapped in and out.

use common::model::Sample;

use super::counter::Counter;
use super::effects::Effects;
use super::names;
use super::profile::Profile;
use super::rng::{Drift, Rng};
use super::Tick;
use crate::collect::memory;

/// Above this share of memory in use the kernel starts swapping.
const PRESSURE_AT: f64 = 0.85;
/// The most of memory a leak can take before the OOM killer would act.
const MAX_SHARE: f64 = 0.98;

pub(crate) struct Memory {
    total: u64,
    swap: u64,
    base: f64,
    free_share: f64,
    noise: Drift,
    /// Pages swapped in, out.
    pages: [Counter; 2],
}

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct MemoryReading {
    /// Bytes in use, the leak included.
    pub used: u64,
    /// Bytes the leaking process holds beyond its normal size.
    pub leaked: u64,
}

impl Memory {
    pub(crate) fn new(profile: &Profile, rng: &mut Rng) -> Self {
        Self {
            total: profile.memory_bytes(rng),
            swap: profile.swap_bytes(),
            base: rng.range(profile.memory_base.0, profile.memory_base.1),
            free_share: profile.free_share,
            noise: Drift::new(0.03, 3600.0, rng),
            pages: [Counter::default(), Counter::default()],
        }
    }

    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    pub(crate) fn restart(&mut self, uptime_secs: f64) {
        let swapping = if self.swap > 0 { 1.0 } else { 0.0 };
        self.pages[0].restart(uptime_secs * 0.2 * swapping);
        self.pages[1].restart(uptime_secs * 0.1 * swapping);
    }

    pub(crate) fn step(
        &mut self,
        tick: &Tick,
        fx: &Effects,
        rng: &mut Rng,
        out: &mut Vec<Sample>,
    ) -> MemoryReading {
        let normal =
            (self.base + 0.05 * tick.daily + self.noise.step(tick.dt, rng)).clamp(0.05, 0.97);
        let share = (normal + fx.memory).min(MAX_SHARE.max(normal));
        let total = self.total;
        let used = ((total as f64 * share).round() as u64).min(total);
        let leaked = used.saturating_sub((total as f64 * normal).round() as u64);
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
        let pressure = (share - PRESSURE_AT).max(0.0);
        let swap_share = (0.02 + pressure * 3.0).min(0.95);
        let swap_used = (self.swap as f64 * swap_share).round() as u64;
        out.extend(memory::paging(
            self.swap,
            self.swap.saturating_sub(swap_used),
        ));
        let jitter = rng.range(0.5, 1.5);
        if self.swap > 0 {
            self.pages[0].advance((0.2 + 2000.0 * pressure) * jitter, tick.dt);
            self.pages[1].advance((0.1 + 4000.0 * pressure) * jitter, tick.dt);
        }
        for (counter, direction) in self.pages.iter_mut().zip(["in", "out"]) {
            counter.emit(
                names::PAGING_OPERATIONS,
                names::PAGING_OPERATIONS_RATE,
                &[("direction", direction)],
                tick.dt,
                out,
            );
        }
        MemoryReading { used, leaked }
    }
}
