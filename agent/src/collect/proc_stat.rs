//! `/proc/stat`, read once per tick and shared by the CPU, process and host
//! families: CPU times, context switches, interrupts, forks and the boot time.

use super::ParseError;

/// The CPU time states of `/proc/stat`, in the kernel's column order, as
/// psutil's `scputimes` names them. `guest` and `guest_nice` follow in the file
/// but are already inside `user` and `nice`, so psutil leaves them out of every
/// total and so do we.
pub(crate) const STATES: [&str; 8] = [
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
];

/// Cumulative clock ticks (`USER_HZ`) per state, in [`STATES`] order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CpuTimes(pub [u64; 8]);

impl CpuTimes {
    /// Busy share of the time between `self` and `later`, as psutil's
    /// `cpu_percent()` / 100: (total − idle − iowait) / total over the deltas,
    /// each clamped at 0 because the kernel's idle and iowait can step back on
    /// tickless CPUs. 0 when no tick passed.
    pub(crate) fn utilization_until(&self, later: &CpuTimes) -> f64 {
        let deltas: Vec<u64> = self
            .0
            .iter()
            .zip(later.0)
            .map(|(before, after)| after.saturating_sub(*before))
            .collect();
        let total: u64 = deltas.iter().sum();
        let idle = deltas[3] + deltas[4];
        if total == 0 {
            0.0
        } else {
            ((total - idle) as f64 / total as f64).clamp(0.0, 1.0)
        }
    }
}

/// What we use of one read of `/proc/stat`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ProcStat {
    /// The `cpu` line: all CPUs together.
    pub total: CpuTimes,
    /// The `cpuN` lines as (N, times): online CPUs only, in the kernel's order.
    pub per_cpu: Vec<(u32, CpuTimes)>,
    /// `ctxt`: context switches since boot.
    pub context_switches: u64,
    /// First number of `intr`: interrupts serviced since boot.
    pub interrupts: u64,
    /// `btime`: boot time, unix seconds.
    pub boot_time: u64,
    /// `processes`: forks (and clones) since boot.
    pub forks: u64,
}

/// Parses the text of `/proc/stat`. The `cpu` line, `ctxt`, `intr`, `btime` and
/// `processes` are required: a file without them is truncated or not Linux's.
/// Unknown lines are ignored (kernels add some from time to time).
pub(crate) fn parse(text: &str) -> Result<ProcStat, ParseError> {
    let mut stat = ProcStat::default();
    let (mut total, mut ctxt, mut intr, mut btime, mut forks) = (None, None, None, None, None);
    for (number, line) in text.lines().enumerate() {
        let mut words = line.split_ascii_whitespace();
        let Some(key) = words.next() else { continue };
        let bad = |what| ParseError::line("/proc/stat", number + 1, line, what);
        match key {
            "cpu" => total = Some(cpu_times(words).ok_or_else(|| bad("CPU times"))?),
            "ctxt" => ctxt = Some(first_number(words).ok_or_else(|| bad("ctxt"))?),
            "intr" => intr = Some(first_number(words).ok_or_else(|| bad("intr"))?),
            "btime" => btime = Some(first_number(words).ok_or_else(|| bad("btime"))?),
            "processes" => forks = Some(first_number(words).ok_or_else(|| bad("processes"))?),
            _ => {
                if let Some(index) = key.strip_prefix("cpu") {
                    let index = index.parse().map_err(|_| bad("CPU number"))?;
                    let times = cpu_times(words).ok_or_else(|| bad("CPU times"))?;
                    stat.per_cpu.push((index, times));
                }
            }
        }
    }
    let missing = |what| ParseError::Missing {
        file: "/proc/stat",
        what,
    };
    stat.total = total.ok_or_else(|| missing("cpu"))?;
    stat.context_switches = ctxt.ok_or_else(|| missing("ctxt"))?;
    stat.interrupts = intr.ok_or_else(|| missing("intr"))?;
    stat.boot_time = btime.ok_or_else(|| missing("btime"))?;
    stat.forks = forks.ok_or_else(|| missing("processes"))?;
    if stat.per_cpu.is_empty() {
        return Err(missing("cpuN lines"));
    }
    Ok(stat)
}

/// The eight states; kernels before 2.6.11 lack `steal` (and before 2.6 also
/// iowait, irq, softirq), which count as 0 as psutil does.
fn cpu_times<'a>(words: impl Iterator<Item = &'a str>) -> Option<CpuTimes> {
    let mut times = [0; 8];
    let mut count = 0;
    for (slot, word) in times.iter_mut().zip(words) {
        *slot = word.parse().ok()?;
        count += 1;
    }
    // user, nice, system and idle exist on every Linux.
    (count >= 4).then_some(CpuTimes(times))
}

fn first_number<'a>(mut words: impl Iterator<Item = &'a str>) -> Option<u64> {
    words.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This development VM's `/proc/stat`, trimmed.
    const SAMPLE: &str = "cpu  33389 0 7774 21806 481 0 143 184 0 0
cpu0 16267 0 3543 11903 53 0 44 91 0 0
cpu1 17122 0 4231 9902 428 0 98 93 0 0
intr 419090 0 0 0 0 0 0 0 0 1 1 9 0 0 0 0 63 44
ctxt 890124
btime 1795415612
processes 15271
procs_running 3
procs_blocked 0
softirq 190048 0 21887 4 9173 58933 0 144 36768 0 63139
";

    #[test]
    fn parses_a_real_file() {
        let stat = parse(SAMPLE).expect("valid");
        assert_eq!(stat.total.0, [33389, 0, 7774, 21806, 481, 0, 143, 184]);
        assert_eq!(stat.per_cpu.len(), 2);
        assert_eq!(
            stat.per_cpu[1],
            (1, CpuTimes([17122, 0, 4231, 9902, 428, 0, 98, 93]))
        );
        assert_eq!(stat.context_switches, 890124);
        assert_eq!(stat.interrupts, 419090);
        assert_eq!(stat.boot_time, 1795415612);
        assert_eq!(stat.forks, 15271);
    }

    #[test]
    fn offline_cpus_keep_their_kernel_numbers() {
        let text = SAMPLE.replace("cpu1 ", "cpu3 ");
        let stat = parse(&text).expect("valid");
        let numbers: Vec<u32> = stat.per_cpu.iter().map(|(n, _)| *n).collect();
        assert_eq!(numbers, [0, 3]);
    }

    #[test]
    fn old_kernels_without_steal_count_it_as_zero() {
        let text = SAMPLE.replace(
            "cpu  33389 0 7774 21806 481 0 143 184 0 0",
            "cpu 1 2 3 4 5 6 7",
        );
        assert_eq!(
            parse(&text).expect("valid").total.0,
            [1, 2, 3, 4, 5, 6, 7, 0]
        );
    }

    #[test]
    fn malformed_or_truncated_files_are_errors_not_panics() {
        for (text, expected) in [
            ("", "/proc/stat has no cpu"),
            (
                &SAMPLE[..60],
                "/proc/stat: line 2 is malformed (CPU times): \"cpu0 16267 0 3543 \"",
            ),
            (
                "cpu 1 2 x 4\n",
                "/proc/stat: line 1 is malformed (CPU times): \"cpu 1 2 x 4\"",
            ),
            (
                "cpu 1 2\n",
                "/proc/stat: line 1 is malformed (CPU times): \"cpu 1 2\"",
            ),
            (
                "cpuX 1 2 3 4\n",
                "/proc/stat: line 1 is malformed (CPU number): \"cpuX 1 2 3 4\"",
            ),
            ("ctxt\n", "/proc/stat: line 1 is malformed (ctxt): \"ctxt\""),
            (
                "cpu 1 2 3 4\ncpu0 1 2 3 4\nctxt 1\nintr 1\nbtime 1\n",
                "/proc/stat has no processes",
            ),
            (
                "cpu 1 2 3 4\nctxt 1\nintr 1\nbtime 1\nprocesses 1\n",
                "/proc/stat has no cpuN lines",
            ),
        ] {
            let error = parse(text).expect_err(text);
            assert_eq!(error.to_string(), expected);
        }
    }

    #[test]
    fn utilization_is_psutils_busy_share() {
        let before = CpuTimes([100, 0, 50, 800, 50, 0, 0, 0]);
        // 30 user + 10 system + 50 idle + 10 iowait: 40 % busy.
        let after = CpuTimes([130, 0, 60, 850, 60, 0, 0, 0]);
        assert!((before.utilization_until(&after) - 0.4).abs() < 1e-12);
        assert_eq!(before.utilization_until(&before), 0.0);
        // Idle stepping back (tickless iowait accounting) is clamped, not negative.
        let stepped_back = CpuTimes([110, 0, 50, 790, 50, 0, 0, 0]);
        assert_eq!(before.utilization_until(&stepped_back), 1.0);
    }
}
