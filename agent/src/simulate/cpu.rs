//! CPU: utilization per core, times per state, load averages, context switches,
//! interrupts, and the process table's counts and forks.

use common::model::Sample;

use super::counter::{centiseconds, Counter};
use super::effects::Effects;
use super::names::{self, CPU_STATES, PROCESS_STATUSES};
use super::profile::Profile;
use super::rng::{Drift, Rng};
use super::Tick;
use crate::collect::{cpu, sample};

const USER: usize = 0;
const IDLE: usize = 3;
const IOWAIT: usize = 4;
/// Where the busy share of a core goes, in `/proc/stat` column order (idle and
/// iowait get none).
const BUSY_STATES: [usize; 6] = [0, 1, 2, 5, 6, 7];

pub(crate) struct Cpu {
    count: u32,
    base: f64,
    daily: f64,
    weekend_dip: f64,
    busy_split: [f64; 6],
    iowait: f64,
    /// Steady per-core offsets: some cores are always a little busier.
    core_bias: Vec<f64>,
    noise: Drift,
    /// Weeks-long wander of the baseline (traffic grows, a job is added…).
    slow: Drift,
    /// Cumulative seconds per core, in [`CPU_STATES`] order.
    times: Vec<[f64; 8]>,
    /// 1, 5 and 15 minute load averages, `None` until the first reading.
    load: Option<[f64; 3]>,
    context_switches: Counter,
    interrupts: Counter,
    forks: Counter,
    /// Processes in the table at average load.
    tasks: f64,
}

/// What the other families need from one CPU reading.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CpuReading {
    /// Machine-wide utilization, anomalies included.
    pub total: f64,
    /// Cores' worth of CPU the runaway process takes.
    pub runaway_cores: f64,
    /// Cores' worth of CPU the normal workload takes.
    pub normal_cores: f64,
}

impl Cpu {
    pub(crate) fn new(profile: &Profile, count: u32, rng: &mut Rng) -> Self {
        Self {
            count,
            base: rng.range(profile.cpu_base.0, profile.cpu_base.1),
            daily: profile.cpu_daily * rng.range(0.7, 1.3),
            weekend_dip: profile.weekend_dip,
            busy_split: profile.busy_split,
            iowait: profile.iowait,
            core_bias: (0..count).map(|_| 0.05 * rng.normal()).collect(),
            noise: Drift::new(0.05, 900.0, rng),
            slow: Drift::new(0.15, 5.0 * 86_400.0, rng),
            times: vec![[0.0; 8]; count as usize],
            load: None,
            context_switches: Counter::default(),
            interrupts: Counter::default(),
            forks: Counter::default(),
            tasks: 120.0 + f64::from(count) * rng.range(8.0, 20.0),
        }
    }

    /// Counters of a host that booted `uptime_secs` ago at its average load.
    pub(crate) fn restart(&mut self, uptime_secs: f64, rng: &mut Rng) {
        let busy = self.base.clamp(0.01, 0.95);
        for core in &mut self.times {
            let mut t = [0.0; 8];
            for (share, state) in self.busy_split.iter().zip(BUSY_STATES) {
                t[state] = uptime_secs * busy * share * rng.range(0.9, 1.1);
            }
            t[IDLE] = uptime_secs * (1.0 - busy) * (1.0 - self.iowait / 4.0);
            t[IOWAIT] = uptime_secs * (1.0 - busy) * self.iowait / 4.0;
            *core = t;
        }
        let cores = f64::from(self.count);
        self.context_switches
            .restart(uptime_secs * cores * (800.0 + 6000.0 * busy));
        self.interrupts
            .restart(uptime_secs * cores * (300.0 + 1500.0 * busy));
        self.forks.restart(uptime_secs * (1.0 + 4.0 * busy * cores));
        self.load = None;
    }

    /// One reading: `disk_busy` is the busiest disk's utilization (iowait).
    pub(crate) fn step(
        &mut self,
        tick: &Tick,
        fx: &Effects,
        disk_busy: f64,
        rng: &mut Rng,
        out: &mut Vec<Sample>,
    ) -> CpuReading {
        let dt = tick.dt;
        let slow = self.slow.step(dt, rng);
        let level = (self.base + self.daily * tick.daily)
            * (1.0 - self.weekend_dip * tick.weekend)
            * slow.exp()
            + self.noise.step(dt, rng)
            // Receiving at line rate keeps softirq busy.
            + 0.08 * fx.saturation;
        let mut normal = Vec::with_capacity(self.core_bias.len());
        let mut cores = Vec::with_capacity(self.core_bias.len());
        for bias in &self.core_bias {
            let u = (level + bias + 0.04 * rng.normal()).clamp(0.0, 1.0);
            normal.push(u);
            // The runaway process takes the same share of every core's idle time.
            cores.push(u + (1.0 - u) * fx.cpu);
        }
        let n = cores.len().max(1) as f64;
        // The total is the mean of the cores, as it is on a real machine.
        let total = cores.iter().sum::<f64>() / n;
        let normal_cores: f64 = normal.iter().sum();
        let runaway_cores = cores.iter().sum::<f64>() - normal_cores;

        out.push(sample(cpu::UTILIZATION, &[], total));
        for (index, value) in cores.iter().enumerate() {
            out.push(sample(
                cpu::UTILIZATION,
                &[("cpu", &format!("cpu{index}"))],
                *value,
            ));
        }
        out.push(sample(cpu::LOGICAL_COUNT, &[], f64::from(self.count)));

        self.times(dt, &normal, &cores, disk_busy, out);
        self.load_average(dt, total, disk_busy, rng, out);

        let busy_cores = total * f64::from(self.count);
        self.context_switches.advance(
            f64::from(self.count) * 800.0 + 6000.0 * busy_cores + 20_000.0 * fx.saturation,
            dt,
        );
        self.interrupts.advance(
            f64::from(self.count) * 300.0 + 1500.0 * busy_cores + 40_000.0 * fx.saturation,
            dt,
        );
        self.forks.advance(1.0 + 4.0 * normal_cores, dt);
        self.context_switches.emit(
            names::CPU_CONTEXT_SWITCHES,
            names::CPU_CONTEXT_SWITCHES_RATE,
            &[],
            dt,
            out,
        );
        self.interrupts.emit(
            names::CPU_INTERRUPTS,
            names::CPU_INTERRUPTS_RATE,
            &[],
            dt,
            out,
        );
        self.forks.emit(
            names::PROCESSES_CREATED,
            names::PROCESSES_CREATED_RATE,
            &[],
            dt,
            out,
        );
        self.process_counts(busy_cores, disk_busy, rng, out);
        CpuReading {
            total,
            runaway_cores,
            normal_cores,
        }
    }

    fn times(
        &mut self,
        dt: f64,
        normal: &[f64],
        cores: &[f64],
        disk_busy: f64,
        out: &mut Vec<Sample>,
    ) {
        let mut sum = [0.0; 8];
        for (index, core) in self.times.iter_mut().enumerate() {
            let (u, with_runaway) = (normal[index], cores[index]);
            for (share, state) in self.busy_split.iter().zip(BUSY_STATES) {
                core[state] += dt * u * share;
            }
            // A runaway process burns user time.
            core[USER] += dt * (with_runaway - u);
            let idle = dt * (1.0 - with_runaway);
            let waiting = idle * self.iowait * disk_busy;
            core[IOWAIT] += waiting;
            core[IDLE] += idle - waiting;
            let label = format!("cpu{index}");
            for (state, seconds) in CPU_STATES.iter().zip(core.iter()) {
                out.push(sample(
                    names::CPU_TIME,
                    &[("cpu", &label), ("state", state)],
                    centiseconds(*seconds),
                ));
            }
            for (total, seconds) in sum.iter_mut().zip(core.iter()) {
                *total += seconds;
            }
        }
        for (state, seconds) in CPU_STATES.iter().zip(sum) {
            out.push(sample(
                names::CPU_TIME,
                &[("state", state)],
                centiseconds(seconds),
            ));
        }
    }

    /// Runnable tasks ≈ busy cores plus some waiting, and tasks blocked on
    /// disks; averaged the way the kernel does, with 1, 5 and 15 minute time
    /// constants.
    fn load_average(
        &mut self,
        dt: f64,
        total: f64,
        disk_busy: f64,
        rng: &mut Rng,
        out: &mut Vec<Sample>,
    ) {
        let instant =
            total * f64::from(self.count) * (1.0 + 0.15 * rng.normal().abs()) + 2.0 * disk_busy;
        let load = match self.load {
            None => [instant; 3],
            Some(previous) => {
                let mut next = previous;
                for (value, tau) in next.iter_mut().zip([60.0, 300.0, 900.0]) {
                    let keep = (-dt / tau).exp();
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

    fn process_counts(
        &self,
        busy_cores: f64,
        disk_busy: f64,
        rng: &mut Rng,
        out: &mut Vec<Sample>,
    ) {
        let total = (self.tasks * (1.0 + 0.03 * rng.normal()) + 4.0 * busy_cores).round();
        let running = busy_cores.round().max(1.0);
        let disk_sleep = (3.0 * disk_busy).round();
        let zombie = if rng.unit() < 0.05 { 1.0 } else { 0.0 };
        let idle = 40.0 + 6.0 * f64::from(self.count);
        let sleeping = (total - running - disk_sleep - zombie - idle).max(1.0);
        for status in PROCESS_STATUSES {
            let count = match status {
                "running" => running,
                "sleeping" => sleeping,
                "disk_sleep" => disk_sleep,
                "zombie" => zombie,
                "idle" => idle,
                _ => 0.0,
            };
            out.push(sample(names::PROCESSES_COUNT, &[("status", status)], count));
        }
    }
}
