//! CPU: utilization and times (total and per core), context switches,
//! interrupts, load averages and the logical CPU count, all but the load from
//! one read of `/proc/stat` per tick.

use std::time::Instant;

use common::model::Sample;
use sysinfo::System;

use super::proc_stat::{CpuTimes, ProcStat, STATES};
use super::rate::{Rates, Width};
use super::{sample, CollectError, Result};

/// Busy fraction in [0, 1]; no labels for the whole machine, `cpu="cpuN"` per core.
/// psutil `cpu_percent()` / 100 and `cpu_percent(percpu=True)[N]` / 100.
pub const UTILIZATION: &str = "system.cpu.utilization";
/// Cumulative seconds per `state` (user, nice, system, idle, iowait, irq,
/// softirq, steal); no `cpu` label for the total, `cpu="cpuN"` per core.
/// psutil `cpu_times()` and `cpu_times(percpu=True)[N]`.
pub const TIME: &str = "system.cpu.time";
/// Cumulative; psutil `cpu_stats().ctx_switches`.
pub const CONTEXT_SWITCHES: &str = "system.cpu.context_switches";
pub const CONTEXT_SWITCHES_RATE: &str = "system.cpu.context_switches.rate";
/// Cumulative; psutil `cpu_stats().interrupts`.
pub const INTERRUPTS: &str = "system.cpu.interrupts";
pub const INTERRUPTS_RATE: &str = "system.cpu.interrupts.rate";
/// psutil `getloadavg()[0]`, `[1]`, `[2]`.
pub const LOAD_1M: &str = "system.cpu.load_average.1m";
pub const LOAD_5M: &str = "system.cpu.load_average.5m";
pub const LOAD_15M: &str = "system.cpu.load_average.15m";
/// psutil `cpu_count(logical=True)`.
pub const LOGICAL_COUNT: &str = "system.cpu.logical.count";

/// Keeps the previous CPU times: utilization is the busy share of the ticks
/// that passed between two reads.
pub(crate) struct Cpu {
    previous: Option<ProcStat>,
    /// `USER_HZ`, the unit of `/proc/stat` (100 on every mainstream kernel).
    ticks_per_second: f64,
}

impl Cpu {
    pub(crate) fn new() -> Self {
        Self {
            previous: None,
            ticks_per_second: rustix::param::clock_ticks_per_second() as f64,
        }
    }

    /// Utilization needs a previous read, so the first call reports times and
    /// counters only (as every rate is skipped on the first tick).
    pub(crate) fn collect(
        &mut self,
        stat: &ProcStat,
        at: Instant,
        rates: &mut Rates,
    ) -> Vec<Sample> {
        let mut out = Vec::with_capacity((stat.per_cpu.len() + 1) * 10 + 6);
        let previous = self.previous.replace(stat.clone());
        if let Some(previous) = &previous {
            out.push(sample(
                UTILIZATION,
                &[],
                previous.total.utilization_until(&stat.total),
            ));
        }
        self.times(&mut out, None, &stat.total);
        for (number, times) in &stat.per_cpu {
            let label = format!("cpu{number}");
            let before = previous
                .as_ref()
                .and_then(|p| p.per_cpu.iter().find(|(n, _)| n == number));
            if let Some((_, before)) = before {
                out.push(sample(
                    UTILIZATION,
                    &[("cpu", &label)],
                    before.utilization_until(times),
                ));
            }
            self.times(&mut out, Some(&label), times);
        }
        out.push(sample(LOGICAL_COUNT, &[], stat.per_cpu.len() as f64));
        let (ctxt, intr) = (stat.context_switches, stat.interrupts);
        rates.counter(
            &mut out,
            CONTEXT_SWITCHES,
            CONTEXT_SWITCHES_RATE,
            &[],
            ctxt,
            Width::U64,
            at,
        );
        rates.counter(
            &mut out,
            INTERRUPTS,
            INTERRUPTS_RATE,
            &[],
            intr,
            Width::U64,
            at,
        );
        out
    }

    fn times(&self, out: &mut Vec<Sample>, cpu: Option<&str>, times: &CpuTimes) {
        for (state, ticks) in STATES.into_iter().zip(times.0) {
            let seconds = ticks as f64 / self.ticks_per_second;
            match cpu {
                Some(cpu) => out.push(sample(TIME, &[("cpu", cpu), ("state", state)], seconds)),
                None => out.push(sample(TIME, &[("state", state)], seconds)),
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::proc_stat::parse;

    fn stat(user0: u64, idle0: u64, ctxt: u64) -> ProcStat {
        parse(&format!(
            "cpu {} 0 0 {} 0 0 0 0\ncpu0 {user0} 0 0 {idle0} 0 0 0 0\ncpu1 0 0 0 100 0 0 0 0\n\
             ctxt {ctxt}\nintr 5\nbtime 1\nprocesses 1\n",
            user0,
            idle0 + 100
        ))
        .expect("valid")
    }

    fn get(out: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted = sample(name, labels, 0.0).labels;
        out.iter()
            .find(|s| s.name == name && s.labels == wanted)
            .map(|s| s.value)
    }

    #[test]
    fn times_in_seconds_then_utilization_and_rates_on_the_second_read() {
        let mut cpu = Cpu::new();
        cpu.ticks_per_second = 100.0;
        let mut rates = Rates::default();
        let start = Instant::now();
        let first = cpu.collect(&stat(100, 300, 1000), start, &mut rates);
        assert_eq!(get(&first, UTILIZATION, &[]), None);
        assert_eq!(get(&first, CONTEXT_SWITCHES_RATE, &[]), None);
        assert_eq!(
            get(&first, TIME, &[("cpu", "cpu0"), ("state", "user")]),
            Some(1.0)
        );
        assert_eq!(get(&first, TIME, &[("state", "idle")]), Some(4.0));
        assert_eq!(get(&first, LOGICAL_COUNT, &[]), Some(2.0));
        assert_eq!(get(&first, CONTEXT_SWITCHES, &[]), Some(1000.0));

        let later = start + std::time::Duration::from_secs(2);
        // cpu0: 50 user + 50 idle ticks; cpu1 idle (no tick passed at all).
        let second = cpu.collect(&stat(150, 350, 1600), later, &mut rates);
        assert_eq!(get(&second, UTILIZATION, &[("cpu", "cpu0")]), Some(0.5));
        assert_eq!(get(&second, UTILIZATION, &[("cpu", "cpu1")]), Some(0.0));
        assert_eq!(get(&second, UTILIZATION, &[]), Some(0.5));
        assert_eq!(get(&second, CONTEXT_SWITCHES_RATE, &[]), Some(300.0));
        assert_eq!(get(&second, INTERRUPTS_RATE, &[]), Some(0.0));
    }
}
