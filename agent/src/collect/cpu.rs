//! CPU utilization, load averages and the logical CPU count.

use common::model::Sample;
use sysinfo::System;

use super::{sample, CollectError, Result};

/// Busy fraction in [0, 1]; no labels for the whole machine, `cpu="cpuN"` per core.
/// psutil `cpu_percent()` / 100 and `cpu_percent(percpu=True)[N]` / 100.
pub const UTILIZATION: &str = "system.cpu.utilization";
/// psutil `getloadavg()[0]`, `[1]`, `[2]`.
pub const LOAD_1M: &str = "system.cpu.load_average.1m";
pub const LOAD_5M: &str = "system.cpu.load_average.5m";
pub const LOAD_15M: &str = "system.cpu.load_average.15m";
/// psutil `cpu_count(logical=True)`.
pub const LOGICAL_COUNT: &str = "system.cpu.logical.count";

/// First reading of the CPU times. Utilization is the busy share of the time that
/// passed between two readings, so without this the first tick would report 0.
pub(crate) fn prime(system: &mut System) {
    system.refresh_cpu_usage();
}

/// Total and per-core utilization plus the logical count, from one refresh.
///
/// sysinfo counts idle + iowait as idle and the rest (user, nice, system, irq,
/// softirq, steal, guest) as busy, the same split psutil uses. It skips re-reading
/// `/proc/stat` when called again within 200 ms and then reports the last value.
pub(crate) fn collect(system: &mut System) -> Result<Vec<Sample>> {
    system.refresh_cpu_usage();
    let cpus = system.cpus();
    if cpus.is_empty() {
        // sysinfo could not read the CPU times; a total of 0 would be a lie.
        return Err(CollectError::Unavailable { what: "CPU times" });
    }
    let mut out = Vec::with_capacity(cpus.len() + 2);
    out.push(sample(
        UTILIZATION,
        &[],
        percent_to_ratio(system.global_cpu_usage()),
    ));
    for (index, cpu) in cpus.iter().enumerate() {
        // Named by position rather than by sysinfo's `cpu.name()` so the label is
        // `cpuN` on every platform.
        let label = format!("cpu{index}");
        out.push(sample(
            UTILIZATION,
            &[("cpu", &label)],
            percent_to_ratio(cpu.usage()),
        ));
    }
    out.push(sample(LOGICAL_COUNT, &[], cpus.len() as f64));
    Ok(out)
}

/// Load averages; unsupported on Windows, where this family is skipped.
pub(crate) fn load_average() -> Result<Vec<Sample>> {
    let load = System::load_average().map_err(|error| CollectError::Sysinfo {
        what: "load average",
        error,
    })?;
    Ok(vec![
        sample(LOAD_1M, &[], load.one),
        sample(LOAD_5M, &[], load.five),
        sample(LOAD_15M, &[], load.fifteen),
    ])
}

/// sysinfo reports 0–100 as `f32`; rounding can overshoot 100 by a hair, which the
/// clamp absorbs (a NaN passes through and is dropped by the collector).
fn percent_to_ratio(percent: f32) -> f64 {
    (f64::from(percent) / 100.0).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_becomes_a_ratio_in_range() {
        assert_eq!(percent_to_ratio(0.0), 0.0);
        assert_eq!(percent_to_ratio(50.0), 0.5);
        assert_eq!(percent_to_ratio(100.0001), 1.0);
        assert!(percent_to_ratio(f32::NAN).is_nan());
    }
}
