//! Event-level matching of the hub's anomaly events against the simulator's
//! ground truth.
//!
//! The hub's events are host-level incidents: one event names its leading
//! series and lists every series that contributed in its evidence. An event
//! matches an incident when it is on the same host, starts inside
//! `[start − slack, end + slack]`, and one of its series is a metric the
//! incident's kind moves (see [`affects`]). Matching is one to one, in
//! order of start: an event claims the earliest matching incident no
//! earlier event claimed and is a true positive; an event that only matches
//! incidents already claimed is a *duplicate* (the same incident reported
//! twice), counted as a false positive in precision; any other event is a
//! false positive. Each incident is detected at most once.

use std::collections::BTreeMap;

/// Metric-name prefixes each anomaly kind moves, read from the simulator's
/// effects (`agent/src/simulate/effects.rs` and the families that carry them
/// on). `None` means every metric: a crashed host comes back rebooted, with
/// new uptime and boot time and every counter starting over.
pub fn affected(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        // Runaway process: CPU time and utilization per core, load,
        // context switches; heat (90 s lag), fans, power; slower requests.
        "cpu_spike" => &[
            "system.cpu.",
            "hw.temperature",
            "hw.fan.speed",
            "hw.power",
            "app.request.latency",
        ],
        // Used/available/free, then swap and paging above 85 % in use.
        "memory_leak" => &["system.memory.", "system.paging."],
        // A stopped fan, the others flat out, +15 W, every heat sensor.
        "temperature_rise" => &["hw.temperature", "hw.fan.speed", "hw.power"],
        // Bytes, packets, drops, TCP/UDP errors, connections; softirq and
        // interrupts on the CPU; slower and failing requests.
        "network_saturation" => &[
            "system.network.",
            "system.cpu.time",
            "system.cpu.interrupts",
            "app.request.latency",
            "app.request.error_ratio",
        ],
        // Every PSU, and the package temperature (and so the fans).
        "power_spike" => &["hw.power", "hw.temperature", "hw.fan.speed"],
        // Established connections (Little's law), timeouts as errors.
        "latency_spike" => &[
            "app.request.latency",
            "app.request.error_ratio",
            "system.network.connections",
        ],
        // TCP resets, established connections reset.
        "error_rate_spike" => &[
            "app.request.error_ratio",
            "system.network.tcp.resets",
            "system.network.connections",
        ],
        CRASH => return None,
        _ => &[],
    })
}

/// Whether an incident of `kind` (ground-truth metric `truth_metric`) can
/// explain an event on `metric`.
pub fn affects(kind: &str, truth_metric: &str, metric: &str) -> bool {
    metric == truth_metric
        || affected(kind).is_none_or(|prefixes| prefixes.iter().any(|p| metric.starts_with(p)))
}

/// One injected incident, from a ground-truth line.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub host: String,
    pub metric: String,
    pub kind: String,
    pub start: i64,
    pub end: i64,
}

/// One hub event, as far as matching needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub host: String,
    /// The leading series' metric.
    pub metric: String,
    /// Every contributing series' metric (the lead among them).
    pub metrics: Vec<String>,
    pub start: i64,
}

/// Detected and total incidents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub detected: usize,
    pub total: usize,
}

impl Tally {
    pub fn recall(&self) -> f64 {
        ratio(self.detected, self.total)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Score {
    pub per_kind: BTreeMap<String, Tally>,
    pub true_events: usize,
    /// False events, duplicates included.
    pub false_events: usize,
    /// Events that only matched incidents an earlier event had claimed.
    pub duplicate_events: usize,
    /// True events that only a host crash explains.
    pub crash_only_events: usize,
    pub false_by_metric: BTreeMap<String, usize>,
    /// Events grouped per host (a group is events starting within `gap` of
    /// the previous one): what a host-level incident would show. A group is
    /// true when any of its events is.
    pub true_groups: usize,
    pub false_groups: usize,
}

pub const CRASH: &str = "host_crash";

impl Score {
    pub fn precision(&self) -> f64 {
        ratio(self.true_events, self.true_events + self.false_events)
    }

    /// Precision when events only a crash explains count as false: what the
    /// scores mean if crashes are left out of the ground truth.
    pub fn precision_without_crashes(&self) -> f64 {
        let t = self.true_events - self.crash_only_events;
        ratio(t, self.true_events + self.false_events)
    }

    /// Precision of host-level groups of events.
    pub fn group_precision(&self) -> f64 {
        ratio(self.true_groups, self.true_groups + self.false_groups)
    }

    /// F1 of host-level groups (crashes left out of the recall).
    pub fn group_f1(&self) -> f64 {
        let (p, r) = (self.group_precision(), self.recall(false));
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }

    pub fn recall(&self, with_crashes: bool) -> f64 {
        let t = self.tally(with_crashes);
        t.recall()
    }

    pub fn tally(&self, with_crashes: bool) -> Tally {
        self.per_kind
            .iter()
            .filter(|(k, _)| with_crashes || k.as_str() != CRASH)
            .fold(Tally::default(), |a, (_, t)| Tally {
                detected: a.detected + t.detected,
                total: a.total + t.total,
            })
    }

    pub fn f1(&self, with_crashes: bool) -> f64 {
        let p = if with_crashes {
            self.precision()
        } else {
            self.precision_without_crashes()
        };
        let r = self.recall(with_crashes);
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

impl Score {
    fn count_group(&mut self, true_group: bool) {
        if true_group {
            self.true_groups += 1;
        } else {
            self.false_groups += 1;
        }
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

fn matches(i: &Incident, e: &Event, slack_ms: i64) -> bool {
    i.host == e.host
        && (i.start - slack_ms..=i.end + slack_ms).contains(&e.start)
        && e.metrics
            .iter()
            .chain(std::iter::once(&e.metric))
            .any(|m| affects(&i.kind, &i.metric, m))
}

/// Matches every event against every incident of its host.
pub fn score(incidents: &[Incident], events: &[Event], slack_ms: i64) -> Score {
    let mut by_host: BTreeMap<&str, Vec<&Incident>> = BTreeMap::new();
    for i in incidents {
        by_host.entry(&i.host).or_default().push(i);
    }
    let mut s = Score::default();
    let mut detected = vec![false; incidents.len()];
    let index: BTreeMap<*const Incident, usize> = incidents
        .iter()
        .enumerate()
        .map(|(n, i)| (i as *const Incident, n))
        .collect();
    let mut verdicts: BTreeMap<&str, Vec<(i64, bool)>> = BTreeMap::new();
    let mut order: Vec<&Event> = events.iter().collect();
    order.sort_by_key(|e| e.start);
    for e in order {
        let hits: Vec<usize> = by_host
            .get(e.host.as_str())
            .map(|v| {
                v.iter()
                    .filter(|i| matches(i, e, slack_ms))
                    .filter_map(|i| index.get(&(*i as *const Incident)).copied())
                    .collect()
            })
            .unwrap_or_default();
        // The earliest unclaimed incident it matches.
        let claim = hits
            .iter()
            .copied()
            .filter(|&n| !detected[n])
            .min_by_key(|&n| incidents[n].start);
        verdicts
            .entry(&e.host)
            .or_default()
            .push((e.start, claim.is_some()));
        let Some(n) = claim else {
            s.false_events += 1;
            s.duplicate_events += usize::from(!hits.is_empty());
            *s.false_by_metric.entry(e.metric.clone()).or_default() += 1;
            continue;
        };
        s.true_events += 1;
        if incidents[n].kind == CRASH {
            s.crash_only_events += 1;
        }
        detected[n] = true;
    }
    for v in verdicts.values_mut() {
        v.sort_unstable();
        let mut group: Option<(i64, bool)> = None;
        for &(start, true_event) in v.iter() {
            group = match group {
                Some((last, t)) if start - last <= slack_ms => Some((start, t || true_event)),
                Some((_, t)) => {
                    s.count_group(t);
                    Some((start, true_event))
                }
                None => Some((start, true_event)),
            };
        }
        if let Some((_, t)) = group {
            s.count_group(t);
        }
    }
    for (i, d) in incidents.iter().zip(detected) {
        let t = s.per_kind.entry(i.kind.clone()).or_default();
        t.total += 1;
        t.detected += usize::from(d);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident(host: &str, kind: &str, metric: &str, start: i64, end: i64) -> Incident {
        Incident {
            host: host.into(),
            metric: metric.into(),
            kind: kind.into(),
            start,
            end,
        }
    }

    fn event(host: &str, metric: &str, start: i64) -> Event {
        Event {
            host: host.into(),
            metric: metric.into(),
            metrics: vec![metric.into()],
            start,
        }
    }

    #[test]
    fn events_match_by_host_window_and_affected_metric() {
        let incidents = vec![
            incident("a", "cpu_spike", "system.cpu.utilization", 1000, 2000),
            incident("a", "memory_leak", "system.memory.utilization", 5000, 9000),
            incident("b", "latency_spike", "app.request.latency", 1000, 2000),
            incident("b", CRASH, "system.uptime", 20_000, 30_000),
        ];
        let events = vec![
            // Load average is moved by a CPU spike: true, detects incident 0.
            event("a", "system.cpu.load_average.1m", 1500),
            // Inside the slack after the end, power: the same incident
            // again, a duplicate (false).
            event("a", "hw.power", 2100),
            // Past the slack: false.
            event("a", "system.cpu.utilization", 2300),
            // Right window, metric a memory leak does not move: false.
            event("a", "hw.temperature", 6000),
            // Another host's incident does not count: false.
            event("c", "system.cpu.utilization", 1500),
            // Any metric explains a crash (the host reboots): true, crash only.
            event("b", "system.disk.io.rate", 30_100),
        ];
        let s = score(&incidents, &events, 200);
        assert_eq!(
            (
                s.true_events,
                s.false_events,
                s.duplicate_events,
                s.crash_only_events
            ),
            (2, 4, 1, 1)
        );
        assert_eq!(
            s.per_kind["cpu_spike"],
            Tally {
                detected: 1,
                total: 1
            }
        );
        assert_eq!(s.per_kind["memory_leak"].detected, 0);
        assert_eq!(s.per_kind["latency_spike"].detected, 0);
        assert_eq!(s.per_kind[CRASH].detected, 1);
        assert_eq!(s.false_by_metric["hw.temperature"], 1);
        assert_eq!(s.false_by_metric["system.cpu.utilization"], 2);
        assert_eq!(s.false_by_metric["hw.power"], 1);
        assert_eq!(
            s.tally(true),
            Tally {
                detected: 2,
                total: 4
            }
        );
        assert_eq!(
            s.tally(false),
            Tally {
                detected: 1,
                total: 3
            }
        );
        assert!((s.precision() - 2.0 / 6.0).abs() < 1e-12);
        assert!((s.precision_without_crashes() - 1.0 / 6.0).abs() < 1e-12);
        // P = 1/3, R = 1/2 → F1 = 0.4.
        assert!((s.f1(true) - 0.4).abs() < 1e-12);
        // Groups (starts within 200 of the previous): host a {1500} true,
        // {2100, 2300} false, {6000} false; host b {30100} true; host c
        // {1500} false.
        assert_eq!((s.true_groups, s.false_groups), (2, 3));
    }

    #[test]
    fn any_contributing_series_can_make_the_match() {
        let incidents = vec![
            incident("a", "cpu_spike", "system.cpu.utilization", 1000, 2000),
            incident("a", "power_spike", "hw.power", 1200, 1300),
        ];
        let mut led_by_disk = event("a", "system.disk.io.rate", 1100);
        led_by_disk.metrics.push("system.cpu.utilization".into());
        // Led by the disk, but the CPU contributed: it claims the CPU spike;
        // the next event claims the power spike, the one still unclaimed.
        let events = vec![led_by_disk, event("a", "hw.power", 1250)];
        let s = score(&incidents, &events, 0);
        assert_eq!((s.true_events, s.false_events), (2, 0));
        assert_eq!(s.tally(false).detected, 2);
        // Without the CPU among its series the disk event explains nothing.
        let s = score(&incidents, &[event("a", "system.disk.io.rate", 1100)], 0);
        assert_eq!((s.true_events, s.false_events), (0, 1));
    }

    #[test]
    fn the_ground_truth_metric_always_counts() {
        assert!(affects("unknown_kind", "x.y", "x.y"));
        assert!(!affects("unknown_kind", "x.y", "x.z"));
        assert!(affects("power_spike", "hw.power", "hw.power"));
        assert!(!affects("power_spike", "hw.power", "system.memory.usage"));
    }

    #[test]
    fn nothing_to_score_is_zero_not_nan() {
        let s = score(&[], &[], 0);
        assert_eq!(
            (s.precision(), s.recall(true), s.f1(false)),
            (0.0, 0.0, 0.0)
        );
    }
}
