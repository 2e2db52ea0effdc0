//! Physical memory and paging (swap).
//!
//! On Linux the numbers come from `/proc/meminfo`, read and combined the way
//! psutil's `virtual_memory()` and `swap_memory()` do, so every value matches
//! psutil ≥ 7.1 exactly. Since 7.1 psutil's `used` is total − available, the same
//! as `free(1)`; before that it was total − free − buffers − cached, which leaves
//! out page cache the kernel cannot reclaim (shmem, tmpfs). Elsewhere, or when
//! `/proc/meminfo` cannot be used, sysinfo's numbers stand in; they have no
//! buffers, cached or shared.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use common::model::Sample;
use sysinfo::{MemoryRefreshKind, System};

use super::{ratio, sample, CollectError, Result};

/// Bytes, `state` ∈ used, free, available, buffers, cached, shared; psutil
/// `virtual_memory()` fields of the same names. buffers, cached and shared are
/// Linux only; cached includes `SReclaimable` and shared is part of cached.
pub const USAGE: &str = "system.memory.usage";
/// Bytes; psutil `virtual_memory().total`.
pub const LIMIT: &str = "system.memory.limit";
/// Ratio, no labels; psutil `virtual_memory().percent / 100` = (total − available) / total.
pub const UTILIZATION: &str = "system.memory.utilization";
/// Bytes, `state` ∈ used, free; psutil `swap_memory().used`, `.free`.
pub const PAGING_USAGE: &str = "system.paging.usage";
/// Ratio; psutil `swap_memory().percent / 100`, 0 when there is no swap.
pub const PAGING_UTILIZATION: &str = "system.paging.utilization";

/// Physical memory in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Memory {
    pub total: u64,
    pub free: u64,
    pub available: u64,
    /// `None` when the numbers come from sysinfo, which does not expose them.
    pub cache: Option<PageCache>,
}

/// The page cache as psutil splits it, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PageCache {
    /// `Buffers`.
    pub buffers: u64,
    /// `Cached` + `SReclaimable`, as `free(1)` counts it.
    pub cached: u64,
    /// `Shmem`.
    pub shared: u64,
}

/// Everything one reading of `/proc/meminfo` gives us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Meminfo {
    memory: Memory,
    swap_total: u64,
    swap_free: u64,
}

/// Set after the first fallback to sysinfo, so that a host without a usable
/// `/proc/meminfo` logs it once rather than every tick.
static WARNED_FALLBACK: AtomicBool = AtomicBool::new(false);

/// Loads total memory, which `HostFacts` reports before the first tick.
pub(crate) fn prime(system: &mut System) {
    system.refresh_memory_specifics(MemoryRefreshKind::everything());
}

pub(crate) fn collect(system: &mut System) -> Result<Vec<Sample>> {
    let meminfo = if cfg!(target_os = "linux") {
        read_meminfo()
    } else {
        Ok(None)
    };
    let Meminfo {
        memory: numbers,
        swap_total,
        swap_free,
    } = match meminfo {
        Ok(Some(meminfo)) => meminfo,
        fallback => {
            if cfg!(target_os = "linux") && !WARNED_FALLBACK.swap(true, Ordering::Relaxed) {
                let reason = match fallback {
                    Err(error) => error.to_string(),
                    _ => "MemTotal, MemFree, MemAvailable or swap missing, or MemAvailable 0"
                        .to_owned(),
                };
                tracing::warn!(%reason, "/proc/meminfo unusable; memory numbers come from sysinfo");
            }
            from_sysinfo(system)?
        }
    };
    let mut out = memory(&numbers);
    out.extend(paging(swap_total, swap_free));
    Ok(out)
}

fn read_meminfo() -> std::io::Result<Option<Meminfo>> {
    std::fs::read_to_string("/proc/meminfo").map(|text| parse_meminfo(&text))
}

fn from_sysinfo(system: &mut System) -> Result<Meminfo> {
    system.refresh_memory_specifics(MemoryRefreshKind::everything());
    let total = system.total_memory();
    if total == 0 {
        // sysinfo leaves zeros when it could not read the counters either.
        return Err(CollectError::Unavailable {
            what: "memory counters",
        });
    }
    Ok(Meminfo {
        memory: Memory {
            total,
            free: system.free_memory(),
            available: system.available_memory(),
            cache: None,
        },
        swap_total: system.total_swap(),
        swap_free: system.free_swap(),
    })
}

/// psutil's reading of `/proc/meminfo`: every value is taken as KiB, fields it
/// treats as optional default to 0. `None` when a field it cannot do without is
/// missing, or when `MemAvailable` is 0 (a kernel bug psutil works around with an
/// estimate from `/proc/zoneinfo`; we fall back to sysinfo instead).
fn parse_meminfo(text: &str) -> Option<Meminfo> {
    let fields: HashMap<&str, u64> = text
        .lines()
        .filter_map(|line| {
            let (key, rest) = line.split_once(':')?;
            let value: u64 = rest.split_whitespace().next()?.parse().ok()?;
            Some((key.trim(), value.saturating_mul(1024)))
        })
        .collect();
    let get = |key: &str| fields.get(key).copied();
    let total = get("MemTotal")?;
    let free = get("MemFree")?;
    let available = get("MemAvailable").filter(|&available| available > 0)?;
    // More available than total happens in containers that see the host's
    // counters; psutil and `free(1)` then report free as available.
    let available = if available > total { free } else { available };
    let cache = PageCache {
        buffers: get("Buffers").unwrap_or(0),
        cached: get("Cached").map_or(0, |cached| {
            cached.saturating_add(get("SReclaimable").unwrap_or(0))
        }),
        shared: get("Shmem").or_else(|| get("MemShared")).unwrap_or(0),
    };
    Some(Meminfo {
        memory: Memory {
            total,
            free,
            available,
            cache: Some(cache),
        },
        swap_total: get("SwapTotal")?,
        swap_free: get("SwapFree")?,
    })
}

/// The memory samples; the simulator uses this too, so both agree on what `used`
/// means.
pub(crate) fn memory(memory: &Memory) -> Vec<Sample> {
    let Memory {
        total,
        free,
        available,
        cache,
    } = *memory;
    // Saturating: sysinfo's available can momentarily exceed total on some platforms.
    let used = total.saturating_sub(available);
    let mut out = vec![
        sample(USAGE, &[("state", "used")], used as f64),
        sample(USAGE, &[("state", "free")], free as f64),
        sample(USAGE, &[("state", "available")], available as f64),
    ];
    if let Some(PageCache {
        buffers,
        cached,
        shared,
    }) = cache
    {
        out.push(sample(USAGE, &[("state", "buffers")], buffers as f64));
        out.push(sample(USAGE, &[("state", "cached")], cached as f64));
        out.push(sample(USAGE, &[("state", "shared")], shared as f64));
    }
    out.push(sample(LIMIT, &[], total as f64));
    out.push(sample(UTILIZATION, &[], ratio(used, total)));
    out
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

    /// Every sample as `name{state}` = value, in emission order.
    fn render(samples: &[Sample]) -> Vec<String> {
        samples
            .iter()
            .map(|s| match s.labels.get("state") {
                Some(state) => format!("{}{{{state}}} = {}", s.name, s.value),
                None => format!("{} = {}", s.name, s.value),
            })
            .collect()
    }

    /// Parses `meminfo` and renders what we would report; `None` means the
    /// fallback to sysinfo.
    fn check(meminfo: &str, expected: Option<&[&str]>) {
        let actual = parse_meminfo(meminfo).map(|parsed| {
            let mut out = memory(&parsed.memory);
            out.extend(paging(parsed.swap_total, parsed.swap_free));
            render(&out)
        });
        let expected = expected.map(|lines| lines.iter().map(|l| l.to_string()).collect());
        assert_eq!(actual, expected);
    }

    /// Expected values are psutil 7.2.2's `virtual_memory()` and `swap_memory()`
    /// run on the same text (`psutil.PROCFS_PATH` pointed at a copy), `percent / 100`
    /// for the utilizations. The text is this development VM's, trimmed, with swap
    /// added.
    #[test]
    fn matches_psutil_on_a_real_meminfo() {
        check(
            "MemTotal:       24683656 kB
MemFree:        20547284 kB
MemAvailable:   24020060 kB
Buffers:            9312 kB
Cached:          3631888 kB
SwapCached:            0 kB
Active(file):    1670948 kB
SwapTotal:       2097148 kB
SwapFree:        1835004 kB
Shmem:             69604 kB
Slab:             238608 kB
SReclaimable:     205872 kB
HugePages_Total:       0
",
            Some(&[
                "system.memory.usage{used} = 679522304",
                "system.memory.usage{free} = 21040418816",
                "system.memory.usage{available} = 24596541440",
                "system.memory.usage{buffers} = 9535488",
                "system.memory.usage{cached} = 3929866240",
                "system.memory.usage{shared} = 71274496",
                "system.memory.limit = 25276063744",
                // psutil: percent=2.7
                "system.memory.utilization = 0.02688402398737043",
                "system.paging.usage{used} = 268435456",
                "system.paging.usage{free} = 1879044096",
                // psutil: percent=12.5
                "system.paging.utilization = 0.12500023841903385",
            ]),
        );
    }

    /// Guards psutil's container rule: available above total is replaced by free.
    #[test]
    fn available_above_total_becomes_free() {
        check(
            "MemTotal:        4194304 kB
MemFree:         1048576 kB
MemAvailable:    8388608 kB
Buffers:               0 kB
Cached:           524288 kB
SwapTotal:             0 kB
SwapFree:              0 kB
Shmem:             65536 kB
",
            Some(&[
                "system.memory.usage{used} = 3221225472",
                "system.memory.usage{free} = 1073741824",
                "system.memory.usage{available} = 1073741824",
                "system.memory.usage{buffers} = 0",
                "system.memory.usage{cached} = 536870912",
                "system.memory.usage{shared} = 67108864",
                "system.memory.limit = 4294967296",
                "system.memory.utilization = 0.75",
                "system.paging.usage{used} = 0",
                "system.paging.usage{free} = 0",
                "system.paging.utilization = 0",
            ]),
        );
    }

    /// Old kernels: no Buffers or Cached means 0, MemShared stands in for Shmem.
    #[test]
    fn optional_fields_default_like_psutil() {
        check(
            "MemTotal:        4194304 kB
MemFree:         1048576 kB
MemAvailable:    2097152 kB
SwapTotal:             0 kB
SwapFree:              0 kB
MemShared:         12345 kB
",
            Some(&[
                "system.memory.usage{used} = 2147483648",
                "system.memory.usage{free} = 1073741824",
                "system.memory.usage{available} = 2147483648",
                "system.memory.usage{buffers} = 0",
                "system.memory.usage{cached} = 0",
                "system.memory.usage{shared} = 12641280",
                "system.memory.limit = 4294967296",
                "system.memory.utilization = 0.5",
                "system.paging.usage{used} = 0",
                "system.paging.usage{free} = 0",
                "system.paging.utilization = 0",
            ]),
        );
    }

    #[test]
    fn missing_or_zero_mem_available_falls_back() {
        let without =
            "MemTotal: 4194304 kB\nMemFree: 1048576 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n";
        check(without, None);
        check(&format!("{without}MemAvailable: 0 kB\n"), None);
        check("", None);
    }

    #[test]
    fn sysinfo_numbers_have_no_page_cache_states() {
        let numbers = Memory {
            total: 1000,
            free: 100,
            available: 250,
            cache: None,
        };
        assert_eq!(
            render(&memory(&numbers)),
            [
                "system.memory.usage{used} = 750",
                "system.memory.usage{free} = 100",
                "system.memory.usage{available} = 250",
                "system.memory.limit = 1000",
                "system.memory.utilization = 0.75",
            ]
        );
    }

    #[test]
    fn no_swap_is_zero_not_nan() {
        assert_eq!(
            render(&paging(0, 0)),
            [
                "system.paging.usage{used} = 0",
                "system.paging.usage{free} = 0",
                "system.paging.utilization = 0",
            ]
        );
    }
}
