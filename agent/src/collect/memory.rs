//! Physical memory and paging (swap).
//!
//! `state="used"` is sysinfo's used memory, total − available. psutil's `used` on
//! Linux is total − free − buffers − cached (cached includes SReclaimable), which
//! sysinfo does not expose; the two differ by the part of the page cache the kernel
//! cannot reclaim (shmem, tmpfs). total − available is also the numerator of
//! psutil's `percent`, so `used / limit` equals `system.memory.utilization`.

use common::model::Sample;
use sysinfo::{MemoryRefreshKind, System};

use super::{ratio, sample, CollectError, Result};

/// Bytes, `state` ∈ used, free, available.
/// psutil `virtual_memory()`: used ≈ `total - available` (see module docs), `free`,
/// `available`.
pub const USAGE: &str = "system.memory.usage";
/// Bytes; psutil `virtual_memory().total`.
pub const LIMIT: &str = "system.memory.limit";
/// Ratio, no labels; psutil `virtual_memory().percent / 100` = (total − available) / total.
pub const UTILIZATION: &str = "system.memory.utilization";
/// Bytes, `state` ∈ used, free; psutil `swap_memory().used`, `.free`.
pub const PAGING_USAGE: &str = "system.paging.usage";
/// Ratio; psutil `swap_memory().percent / 100`, 0 when there is no swap.
pub const PAGING_UTILIZATION: &str = "system.paging.utilization";

/// Loads total memory, which `HostFacts` reports before the first tick.
pub(crate) fn prime(system: &mut System) {
    system.refresh_memory_specifics(MemoryRefreshKind::everything());
}

pub(crate) fn collect(system: &mut System) -> Result<Vec<Sample>> {
    system.refresh_memory_specifics(MemoryRefreshKind::everything());
    let total = system.total_memory();
    if total == 0 {
        // sysinfo leaves zeros when /proc/meminfo could not be read.
        return Err(CollectError::Unavailable {
            what: "memory counters",
        });
    }
    let mut out = memory(total, system.free_memory(), system.available_memory());
    out.extend(paging(system.total_swap(), system.free_swap()));
    Ok(out)
}

/// The memory samples from the three numbers everything is derived from; the
/// simulator uses this too, so both agree on what `used` means.
pub(crate) fn memory(total: u64, free: u64, available: u64) -> Vec<Sample> {
    // Saturating: on some platforms available can momentarily exceed total.
    let used = total.saturating_sub(available);
    vec![
        sample(USAGE, &[("state", "used")], used as f64),
        sample(USAGE, &[("state", "free")], free as f64),
        sample(USAGE, &[("state", "available")], available as f64),
        sample(LIMIT, &[], total as f64),
        sample(UTILIZATION, &[], ratio(used, total)),
    ]
}

/// Swap samples; psutil computes used as total − free as well.
pub(crate) fn paging(total: u64, free: u64) -> Vec<Sample> {
    let used = total.saturating_sub(free);
    vec![
        sample(PAGING_USAGE, &[("state", "used")], used as f64),
        sample(PAGING_USAGE, &[("state", "free")], free as f64),
        sample(PAGING_UTILIZATION, &[], ratio(used, total)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(samples: &[Sample], name: &str, state: Option<&str>) -> f64 {
        samples
            .iter()
            .find(|s| s.name == name && s.labels.get("state").map(String::as_str) == state)
            .map(|s| s.value)
            .unwrap_or(f64::NAN)
    }

    #[test]
    fn utilization_is_total_minus_available_over_total() {
        let samples = memory(1000, 100, 250);
        assert_eq!(value(&samples, USAGE, Some("used")), 750.0);
        assert_eq!(value(&samples, UTILIZATION, None), 0.75);
        assert_eq!(value(&samples, LIMIT, None), 1000.0);
    }

    #[test]
    fn no_swap_is_zero_not_nan() {
        let samples = paging(0, 0);
        assert_eq!(value(&samples, PAGING_UTILIZATION, None), 0.0);
        assert_eq!(value(&samples, PAGING_USAGE, Some("used")), 0.0);
    }
}
