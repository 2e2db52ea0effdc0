//! Scenarios, schedules and what each anomaly kind does to a host, judged
//! against its twin: the same host (same seed and index) without the anomaly.

use std::collections::{BTreeMap, BTreeSet};

use super::*;

/// A host with one injected incident beside its twin without it, collected at
/// the same instants.
struct Twins {
    times: Vec<i64>,
    normal: Vec<Vec<Sample>>,
    anomalous: Vec<Vec<Sample>>,
    /// The anomalous host's process table at each instant.
    processes: Vec<Vec<ProcessInfo>>,
    twin_processes: Vec<Vec<ProcessInfo>>,
    record: Record,
    cores: f64,
}

const START: i64 = T0 + 20 * MINUTE;
const END: i64 = T0 + 80 * MINUTE;
const STEP: i64 = 30_000;

fn twins(kind: Kind, role: Role, severity: f64) -> Twins {
    let seed = 17;
    let index = index_of(role, seed);
    let mut normal = host(seed, index, Scenario::Normal);
    let mut anomalous = host(seed, index, Scenario::Normal);
    anomalous.inject(kind, START, END, severity);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("truth.jsonl");
    anomalous.set_ground_truth(Arc::new(GroundTruth::create(&path).expect("create")));
    let mut t = Twins {
        times: ticks(240, STEP),
        normal: Vec::new(),
        anomalous: Vec::new(),
        processes: Vec::new(),
        twin_processes: Vec::new(),
        record: Record::new("", "", "", &[], "", (0, 0), None),
        cores: f64::from(normal.facts().cpu_count),
    };
    for &now in &t.times {
        t.normal.push(normal.collect(now));
        t.anomalous.push(anomalous.collect(now));
        t.processes.push(anomalous.processes());
        t.twin_processes.push(normal.processes());
    }
    let text = std::fs::read_to_string(&path).expect("read truth");
    let records: Vec<Record> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a record"))
        .collect();
    assert_eq!(records.len(), 1, "{kind:?}: {records:?}");
    t.record = records.into_iter().next().expect("one record");
    assert_eq!(
        (t.record.kind.as_str(), t.record.start, t.record.end),
        (kind.name(), START, END)
    );
    t
}

impl Twins {
    /// (normal, anomalous) values of `name{labels}` at each instant.
    fn pairs(&self, name: &str, labels: &[(&str, &str)]) -> Vec<(i64, Option<f64>, Option<f64>)> {
        self.times
            .iter()
            .zip(self.normal.iter().zip(&self.anomalous))
            .map(|(t, (a, b))| (*t, value(a, name, labels), value(b, name, labels)))
            .collect()
    }

    /// The values at the instant closest to `at`.
    fn at(&self, at: i64, name: &str, labels: &[(&str, &str)]) -> (f64, f64) {
        let i = self
            .times
            .iter()
            .position(|t| *t >= at)
            .expect("instant in range");
        (
            value(&self.normal[i], name, labels).expect("normal value"),
            value(&self.anomalous[i], name, labels).expect("anomalous value"),
        )
    }

    fn index(&self, at: i64) -> usize {
        self.times
            .iter()
            .position(|t| *t >= at)
            .expect("instant in range")
    }

    fn record_labels(&self) -> Vec<(&str, &str)> {
        self.record
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }
}

/// Each kind moves the metric its ground-truth record names, clearly, only
/// while it lasts; before it the twins are identical.
#[test]
fn each_kind_changes_its_metric_against_a_twin() {
    for kind in Kind::ALL {
        let t = twins(kind, Role::Web, 0.7);
        for (i, now) in t.times.iter().enumerate().filter(|(_, now)| **now < START) {
            assert_eq!(
                t.normal[i], t.anomalous[i],
                "{kind:?} changed data at {now}"
            );
        }
        if kind == Kind::HostCrash {
            continue; // its own test below
        }
        let labels = t.record_labels();
        let during: Vec<(f64, f64)> = t
            .pairs(&t.record.metric, &labels)
            .into_iter()
            .filter(|(now, ..)| (START..END).contains(now))
            .map(|(_, a, b)| (a.expect("normal"), b.expect("anomalous")))
            .collect();
        let most = |f: &dyn Fn(f64, f64) -> f64| {
            during
                .iter()
                .map(|(a, b)| f(*a, *b))
                .fold(f64::MIN, f64::max)
        };
        let (difference, ratio) = (most(&|a, b| b - a), most(&|a, b| b / a.max(1e-12)));
        let visible = match kind {
            Kind::CpuSpike => difference > 0.3,
            Kind::MemoryLeak => difference > 0.2,
            Kind::TemperatureRise => difference > 15.0,
            Kind::NetworkSaturation => ratio > 5.0,
            Kind::PowerSpike => ratio > 1.3,
            Kind::LatencySpike => ratio > 5.0,
            Kind::ErrorRateSpike => difference > 0.1,
            Kind::HostCrash => unreachable!(),
        };
        assert!(
            visible,
            "{kind:?} on {}: +{difference}, ×{ratio}",
            t.record.metric
        );
        // Twenty minutes after the end the metric is back to its twin's.
        let (a, b) = t.at(END + 20 * MINUTE, &t.record.metric, &labels);
        assert!(
            (a - b).abs() <= 1e-6 * a.abs() + 1.0 / 30.0,
            "{kind:?}: {b} instead of {a} after the end"
        );
    }
}

#[test]
fn host_crash_yields_no_samples_then_the_host_reboots() {
    let t = twins(Kind::HostCrash, Role::Db, 1.0);
    let before = t.index(START) - 1;
    for (i, now) in t.times.iter().enumerate() {
        assert_eq!(
            t.anomalous[i].is_empty(),
            (START..END).contains(now),
            "at {now}"
        );
        if (START..END).contains(now) {
            assert!(t.processes[i].is_empty(), "a crashed host runs nothing");
        }
    }
    let back = t.index(END);
    let b = &t.anomalous[back];
    let uptime = value(b, host::UPTIME, &[]).expect("uptime");
    assert!((45.0..45.0 + 31.0).contains(&uptime), "uptime {uptime}");
    assert_eq!(
        value(b, names::BOOT_TIME, &[]),
        Some(((END / 1000) - 45) as f64)
    );
    assert!(
        b.iter().all(|s| !s.name.ends_with(".rate")),
        "no rates across a reboot"
    );
    let before_bytes = value(
        &t.anomalous[before],
        network::IO,
        &[("device", "eth0"), ("direction", "receive")],
    );
    let after_bytes = value(
        b,
        network::IO,
        &[("device", "eth0"), ("direction", "receive")],
    );
    assert!(
        after_bytes < before_bytes,
        "counters start over: {after_bytes:?} < {before_bytes:?}"
    );
    let pids = |list: &[ProcessInfo]| list.iter().map(|p| p.pid).collect::<BTreeSet<_>>();
    assert_ne!(
        pids(&t.processes[before]),
        pids(&t.processes[back]),
        "new pids after a reboot"
    );
    // Gauges the reboot does not reset come back equal to the twin's.
    let (a, b) = t.at(END + 10 * MINUTE, memory::UTILIZATION, &[]);
    assert_eq!(a, b);
}

/// An anomaly moves the related metrics too, the way a real incident would.
#[test]
fn anomalies_are_coherent() {
    let mid = (START + END) / 2;
    let web = |kind| twins(kind, Role::Web, 0.8);

    let t = web(Kind::CpuSpike);
    let (a, b) = t.at(mid, cpu_names::LOAD_1M, &[]);
    assert!(b > a + 0.3 * t.cores, "load {a} → {b}");
    let (a, b) = t.at(mid, names::HW_TEMPERATURE, &hardware::PACKAGE_LABELS);
    assert!(b > a + 10.0, "temperature {a} → {b}");
    let (a, b) = t.at(mid, names::HW_POWER, &hardware::PSU_LABELS);
    assert!(b > 1.2 * a, "power {a} → {b}");
    let (a, b) = t.at(
        mid,
        names::HW_FAN_SPEED,
        &[("chip", "nct6798"), ("sensor", "fan1")],
    );
    assert!(b > a, "fan {a} → {b}");
    let (a, b) = t.at(mid, names::APP_REQUEST_LATENCY, &[]);
    assert!(b > a, "latency {a} → {b}");
    let top = &t.processes[t.index(mid)][0];
    assert_eq!(
        Some(&top.name),
        t.record.process.as_ref(),
        "the culprit is on top"
    );
    assert!(top.cpu_utilization > 0.3 * t.cores, "{top:?}");

    let t = web(Kind::NetworkSaturation);
    let direction = t.record.labels["direction"].clone();
    let link = [("device", "eth0"), ("direction", direction.as_str())];
    let (a, b) = t.at(mid, names::NETWORK_DROPPED_RATE, &link);
    assert!(b > a + 10.0, "drops {a} → {b}");
    let (a, b) = t.at(mid, names::TCP_RETRANSMITS_RATE, &[]);
    assert!(b > 10.0 * a.max(0.1), "retransmits {a} → {b}");
    let (a, b) = t.at(mid, names::APP_REQUEST_LATENCY, &[]);
    assert!(b > 1.5 * a, "latency {a} → {b}");
    let (a, b) = t.at(mid, network::IO_RATE, &link);
    assert!(
        b > 0.9 * web_line_rate() && b <= web_line_rate(),
        "a plateau at the line rate: {a} → {b}"
    );

    let t = web(Kind::MemoryLeak);
    let late = END - 2 * MINUTE;
    let i = t.index(late);
    let culprit = t.record.process.clone().expect("a leaking process");
    let biggest = |list: &[ProcessInfo]| {
        list.iter()
            .filter(|p| p.name == culprit)
            .map(|p| p.memory_bytes)
            .max()
            .expect("the culprit runs")
    };
    let total = t.at(late, memory::LIMIT, &[]).0;
    assert!(
        biggest(&t.processes[i]) as f64 > biggest(&t.twin_processes[i]) as f64 + 0.15 * total,
        "{culprit} grows"
    );
    let (a, b) = t.at(late, memory::USAGE, &[("state", "available")]);
    assert!(b < a, "available {a} → {b}");
    // The leak grows steadily: more at the end than halfway.
    let (_, half) = t.at(mid, memory::UTILIZATION, &[]);
    let (_, full) = t.at(late, memory::UTILIZATION, &[]);
    assert!(full > half + 0.05, "{half} → {full}");

    let t = web(Kind::TemperatureRise);
    let early = START + 10 * MINUTE;
    let fan = |n: &str| {
        t.at(
            early,
            names::HW_FAN_SPEED,
            &[("chip", "nct6798"), ("sensor", n)],
        )
    };
    assert_eq!(fan("fan1").1, 0.0, "the failed fan");
    assert!(fan("fan2").1 > fan("fan2").0, "the others spin up");
    let (a, b) = t.at(early, names::HW_POWER, &hardware::PSU_LABELS);
    assert!(b > a, "fans flat out draw power: {a} → {b}");
    // It rises with a time constant: more after ten minutes than after two.
    let rise = |at| {
        let (a, b) = t.at(at, names::HW_TEMPERATURE, &hardware::PACKAGE_LABELS);
        b - a
    };
    assert!(rise(START + 10 * MINUTE) > rise(START + 2 * MINUTE) + 2.0);

    let t = web(Kind::LatencySpike);
    let established = [("protocol", "tcp"), ("state", "ESTABLISHED")];
    let (a, b) = t.at(mid, names::NETWORK_CONNECTIONS, &established);
    assert!(b > 2.0 * a, "slow requests hold connections: {a} → {b}");

    let t = web(Kind::ErrorRateSpike);
    let (a, b) = t.at(mid, names::TCP_RESETS_RATE, &[]);
    assert!(b > 2.0 * a, "resets {a} → {b}");

    let t = web(Kind::PowerSpike);
    let (a, b) = t.at(mid, names::HW_TEMPERATURE, &hardware::PACKAGE_LABELS);
    assert!(b > a, "more power, more heat: {a} → {b}");
}

fn web_line_rate() -> f64 {
    Role::Web.profile().link_bps
}

/// The schedule depends on time alone: a fleet collected every 10 s and its
/// copy collected every minute from two hours later write the same incidents
/// with the same instants.
#[test]
fn schedule_is_the_same_whatever_the_interval_or_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let records = |name: &str, from: i64, step: i64| {
        let path = dir.path().join(name);
        let sink = Arc::new(GroundTruth::create(&path).expect("create"));
        let mut hosts = fleet_with(&FleetConfig {
            hosts: 4,
            sites: 2,
            seed: 3,
            scenario: Scenario::Chaos,
        });
        for h in &mut hosts {
            h.set_ground_truth(sink.clone());
        }
        let mut now = from;
        while now < T0 + 6 * HOUR {
            for h in &mut hosts {
                h.collect(now);
            }
            now += step;
        }
        std::fs::read_to_string(&path)
            .expect("read")
            .lines()
            .map(|l| serde_json::from_str::<Record>(l).expect("record"))
            .collect::<Vec<_>>()
    };
    let every_10s = records("a", T0, 10_000);
    let later_every_minute = records("b", T0 + 2 * HOUR, MINUTE);
    assert!(later_every_minute.len() >= 3, "{later_every_minute:?}");
    for r in &later_every_minute {
        assert!(every_10s.contains(r), "{r:?} missing from the 10 s run");
    }
    let a = host(3, 1, Scenario::Chaos);
    let mut b = host(3, 1, Scenario::Chaos);
    b.collect(T0);
    assert_eq!(
        a.incidents(T0, T0 + 24 * HOUR),
        b.incidents(T0, T0 + 24 * HOUR)
    );
}

/// Scenarios differ in what they inject, how often, how long and how strong.
#[test]
fn scenarios_shape_the_schedule() {
    let days = 60;
    let hosts = 24;
    let mut by_scenario = BTreeMap::new();
    for scenario in Scenario::ALL {
        let fleet = fleet_with(&FleetConfig {
            hosts,
            sites: 2,
            seed: 5,
            scenario,
        });
        let mut incidents = Vec::new();
        for h in &fleet {
            let mine = h.incidents(T0, T0 + days * 24 * HOUR);
            for kind in Kind::ALL {
                let of_kind: Vec<&Incident> = mine.iter().filter(|i| i.kind == kind).collect();
                for pair in of_kind.windows(2) {
                    assert!(
                        pair[0].end_ms <= pair[1].start_ms,
                        "{scenario}: {pair:?} overlap"
                    );
                }
                if matches!(kind, Kind::LatencySpike | Kind::ErrorRateSpike) {
                    assert!(of_kind.is_empty() || h.role().serves_requests());
                }
            }
            incidents.extend(mine);
        }
        by_scenario.insert(scenario.name(), incidents);
    }
    let per_host_day = |name: &str| by_scenario[name].len() as f64 / (hosts as f64 * days as f64);
    let kinds = |name: &str| {
        by_scenario[name]
            .iter()
            .map(|i| i.kind)
            .collect::<BTreeSet<_>>()
    };
    let mean = |name: &str, f: &dyn Fn(&Incident) -> f64| {
        let all = &by_scenario[name];
        all.iter().map(f).sum::<f64>() / all.len() as f64
    };
    let minutes = |i: &Incident| (i.end_ms - i.start_ms) as f64 / 60_000.0;

    assert_eq!(per_host_day("normal"), 0.0);
    let production = per_host_day("production");
    assert!(
        (0.2..1.0).contains(&production),
        "production {production}/host/day"
    );
    assert_eq!(kinds("production").len(), 8);
    assert!(
        per_host_day("chaos") > 15.0,
        "chaos {}",
        per_host_day("chaos")
    );
    assert_eq!(kinds("chaos").len(), 8);
    assert!(per_host_day("demo") > 2.0 && per_host_day("demo") < per_host_day("chaos"));
    assert_eq!(
        kinds("temperature"),
        BTreeSet::from([Kind::TemperatureRise, Kind::PowerSpike])
    );
    assert_eq!(kinds("network"), BTreeSet::from([Kind::NetworkSaturation]));
    assert!(per_host_day("dev") > 5.0 * production);
    assert!(mean("dev", &minutes) < mean("production", &minutes) / 3.0);
    assert!(mean("dev", &|i| i.severity) < 0.5);
    assert!(mean("production", &|i| i.severity) > 0.6);
}
