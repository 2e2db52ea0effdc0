use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::collect::{cpu as cpu_names, filesystem, memory, network, Collector};

mod anomalies;
mod ground_truth;
mod inject;

/// 2025-03-01T12:00Z (a Saturday), after every simulated boot.
const T0: i64 = 1_740_830_400_000;
const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;

/// Every sample of `hosts` at each of `times`, host by host.
fn run(hosts: &mut [SimHost], times: &[i64]) -> Vec<Vec<Sample>> {
    let mut all = Vec::new();
    for &t in times {
        for host in hosts.iter_mut() {
            all.push(host.collect(t));
        }
    }
    all
}

fn ticks(count: i64, step_ms: i64) -> Vec<i64> {
    (0..count).map(|i| T0 + i * step_ms).collect()
}

/// Metric name and label keys: the shape of a series, independent of values.
fn shapes(samples: &[Sample]) -> BTreeSet<(String, Vec<String>)> {
    samples
        .iter()
        .map(|s| (s.name.clone(), s.labels.keys().cloned().collect()))
        .collect()
}

/// The value of the series `name{labels}` (labels matched exactly).
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let wanted: common::model::Labels = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    samples
        .iter()
        .find(|s| s.name == name && s.labels == wanted)
        .map(|s| s.value)
}

/// Host `index` of a fleet of `scenario`.
fn host(seed: u64, index: usize, scenario: Scenario) -> SimHost {
    fleet_with(&FleetConfig {
        hosts: index + 1,
        sites: 3,
        seed,
        scenario,
    })
    .remove(index)
}

/// The first host index of seed `seed` with role `role`.
fn index_of(role: Role, seed: u64) -> usize {
    fleet(40, 3, seed)
        .iter()
        .position(|h| h.role() == role)
        .expect("40 hosts include every role")
}

#[test]
fn same_seed_gives_identical_samples() {
    let times = ticks(5, 1_000);
    for scenario in [Scenario::Normal, Scenario::Chaos] {
        let config = FleetConfig {
            hosts: 6,
            sites: 2,
            seed: 42,
            scenario,
        };
        assert_eq!(
            run(&mut fleet_with(&config), &times),
            run(&mut fleet_with(&config), &times)
        );
    }
    let names = |seed| {
        fleet(6, 2, seed)
            .iter()
            .map(|h| h.host().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(42), names(42));
}

#[test]
fn different_seeds_differ() {
    let times = ticks(3, 1_000);
    assert_ne!(
        run(&mut fleet(6, 2, 1), &times),
        run(&mut fleet(6, 2, 2), &times)
    );
}

#[test]
fn values_stay_in_range_over_two_days_of_chaos() {
    let mut hosts = fleet_with(&FleetConfig {
        hosts: 12,
        sites: 3,
        seed: 7,
        scenario: Scenario::Chaos,
    });
    // Ten-minute steps across two daily cycles, then a burst of one-second ticks.
    let mut times = ticks(288, 10 * MINUTE);
    let last = times[times.len() - 1];
    times.extend((1..30).map(|i| last + i * 1_000));
    for samples in run(&mut hosts, &times) {
        for s in &samples {
            assert!(s.value.is_finite() && s.value >= 0.0, "{s:?}");
            if s.name.ends_with(".utilization") || s.name == names::APP_REQUEST_ERROR_RATIO {
                assert!(s.value <= 1.0, "{s:?}");
            }
        }
        if samples.is_empty() {
            continue; // a crashed host
        }
        let used = value(&samples, memory::USAGE, &[("state", "used")]);
        let free = value(&samples, memory::USAGE, &[("state", "free")]);
        let available = value(&samples, memory::USAGE, &[("state", "available")]);
        let limit = value(&samples, memory::LIMIT, &[]);
        assert!(used <= limit && free <= available, "{used:?} {limit:?}");
        let fds = value(&samples, names::FILE_DESCRIPTORS_USAGE, &[]);
        assert!(fds < value(&samples, names::FILE_DESCRIPTORS_LIMIT, &[]));
    }
}

/// Every cumulative series the simulator emits.
const COUNTERS: &[&str] = &[
    network::IO,
    network::PACKETS,
    network::ERRORS,
    names::NETWORK_DROPPED,
    names::DISK_IO,
    names::DISK_OPERATIONS,
    names::DISK_OPERATION_TIME,
    names::DISK_IO_TIME,
    names::CPU_TIME,
    names::CPU_CONTEXT_SWITCHES,
    names::CPU_INTERRUPTS,
    names::PROCESSES_CREATED,
    names::TCP_RETRANSMITS,
    names::TCP_RESETS,
    names::TCP_OPENS,
    names::TCP_ERRORS,
    names::UDP_DATAGRAMS,
    names::UDP_ERRORS,
    names::PAGING_OPERATIONS,
];

/// Every counter: never decreasing within a boot, and
/// its rate exactly the difference of two readings over the seconds between
/// them, as the real collector computes it.
#[test]
fn counters_never_decrease_and_rates_match_their_deltas() {
    let mut hosts = fleet(14, 2, 9);
    let mut times: Vec<i64> = ticks(30, 1_000);
    times.extend((1..40).map(|i| T0 + 30_000 + i * 7 * MINUTE));
    // A clock step backwards must not rewind anything.
    let last = times[times.len() - 1];
    times.extend([last - 10 * MINUTE, last + MINUTE]);
    let mut previous: BTreeMap<(usize, common::model::SeriesKey), (i64, f64)> = BTreeMap::new();
    let mut latest_ms: Vec<Option<i64>> = vec![None; hosts.len()];
    let mut checked = BTreeSet::new();
    for (i, samples) in run(&mut hosts, &times).into_iter().enumerate() {
        let h = i % hosts.len();
        let t = times[i / hosts.len()];
        let dt = latest_ms[h].map_or(0.0, |last| (t - last) as f64 / 1000.0);
        latest_ms[h] = Some(latest_ms[h].map_or(t, |last| last.max(t)));
        let rates: BTreeMap<common::model::SeriesKey, f64> = samples
            .iter()
            .filter(|s| s.name.ends_with(".rate"))
            .map(|s| (s.key(), s.value))
            .collect();
        for s in &samples {
            if !COUNTERS.contains(&s.name.as_str()) {
                continue;
            }
            let rate_key = common::model::SeriesKey {
                name: format!("{}.rate", s.name),
                labels: s.labels.clone(),
            };
            if let Some((_, before)) = previous.insert((h, s.key()), (t, s.value)) {
                assert!(
                    s.value >= before,
                    "{} went from {before} to {}",
                    s.name,
                    s.value
                );
                if let Some(rate) = rates.get(&rate_key) {
                    if dt > 0.0 {
                        let expected = (s.value - before) / dt;
                        assert!(
                            (rate - expected).abs() <= 1e-9 * expected.abs().max(1.0),
                            "{}: rate {rate}, counters say {expected}",
                            s.name
                        );
                        checked.insert(s.name.clone());
                    }
                }
            }
        }
    }
    for name in [
        network::IO,
        network::PACKETS,
        names::NETWORK_DROPPED,
        names::DISK_IO,
        names::DISK_OPERATIONS,
        names::CPU_CONTEXT_SWITCHES,
        names::CPU_INTERRUPTS,
        names::PROCESSES_CREATED,
        names::TCP_RETRANSMITS,
        names::TCP_OPENS,
        names::UDP_DATAGRAMS,
        names::PAGING_OPERATIONS,
    ] {
        assert!(checked.contains(name), "no rate of {name} was checked");
    }
}

/// Utilization is the busy share of the CPU time that passed, per core and in
/// total, as psutil computes it from `/proc/stat`.
#[test]
fn cpu_times_agree_with_utilization() {
    let mut host = host(5, 3, Scenario::Normal);
    let cores = host.facts().cpu_count as usize;
    let mut before: Option<Vec<Sample>> = None;
    for t in ticks(20, MINUTE) {
        let samples = host.collect(t);
        if let Some(prev) = &before {
            for cpu in (0..cores).map(|c| Some(format!("cpu{c}"))).chain([None]) {
                let labels = |state| {
                    let mut l = vec![("state", state)];
                    if let Some(c) = &cpu {
                        l.push(("cpu", c.as_str()));
                    }
                    l
                };
                let delta = |state| {
                    value(&samples, names::CPU_TIME, &labels(state)).expect("time")
                        - value(prev, names::CPU_TIME, &labels(state)).expect("time")
                };
                let total: f64 = names::CPU_STATES.iter().map(|s| delta(s)).sum();
                let busy = total - delta("idle") - delta("iowait");
                let cpu_label: Vec<(&str, &str)> =
                    cpu.iter().map(|c| ("cpu", c.as_str())).collect();
                let utilization =
                    value(&samples, cpu_names::UTILIZATION, &cpu_label).expect("utilization");
                assert!(
                    (busy / total - utilization).abs() < 0.01,
                    "{cpu:?}: times say {}, utilization {utilization}",
                    busy / total
                );
            }
        }
        before = Some(samples);
    }
}

#[test]
fn rate_is_skipped_on_the_first_call_only() {
    let mut host = fleet(1, 1, 3).remove(0);
    let rates = |samples: &[Sample]| samples.iter().filter(|s| s.name.ends_with(".rate")).count();
    let first = host.collect(T0);
    assert_eq!(rates(&first), 0);
    assert!(value(&first, names::DISK_UTILIZATION, &[("device", "sda")]).is_none());
    let second = host.collect(T0 + 1_000);
    assert!(rates(&second) > 20, "{}", rates(&second));
    assert!(value(&second, names::DISK_UTILIZATION, &[("device", "sda")]).is_some());
}

#[test]
fn fleet_spreads_hosts_round_robin_over_sites() {
    let hosts = fleet(10, 3, 5);
    let mut per_site: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, host) in hosts.iter().enumerate() {
        assert_eq!(host.site(), ["site-a", "site-b", "site-c"][i % 3]);
        assert!(host
            .host()
            .starts_with(&format!("sim-{}-", host.role().name())));
        assert!(host.host().ends_with(&format!("-{:03}", i + 1)));
        *per_site.entry(host.site()).or_default() += 1;
    }
    assert_eq!(per_site.into_values().collect::<Vec<_>>(), [4, 3, 3]);
    let names: BTreeSet<&str> = hosts.iter().map(SimHost::host).collect();
    assert_eq!(names.len(), 10);
    let roles: BTreeSet<Role> = fleet(40, 3, 5).iter().map(SimHost::role).collect();
    assert_eq!(roles.len(), Role::ALL.len(), "{roles:?}");
}

#[test]
fn site_names_continue_past_z() {
    assert_eq!(fleet::site_name(0), "site-a");
    assert_eq!(fleet::site_name(25), "site-z");
    assert_eq!(fleet::site_name(26), "site-aa");
}

#[test]
fn facts_match_the_samples() {
    for host in &mut fleet(16, 2, 11) {
        let facts = host.facts();
        let samples = host.collect(T0);
        assert!(facts.simulated && facts.hostname == host.host());
        assert!((2..=32).contains(&facts.cpu_count));
        let cores = samples
            .iter()
            .filter(|s| s.name == cpu_names::UTILIZATION && s.labels.contains_key("cpu"))
            .count();
        assert_eq!(cores, facts.cpu_count as usize);
        let uptime = value(&samples, host::UPTIME, &[]).expect("uptime");
        assert_eq!(uptime as u64, (T0 / 1000) as u64 - facts.boot_time);
        assert_eq!(
            value(&samples, names::BOOT_TIME, &[]),
            Some(facts.boot_time as f64)
        );
        assert_eq!(
            value(&samples, memory::LIMIT, &[]),
            Some(facts.memory_bytes as f64)
        );
        let volumes = samples
            .iter()
            .filter(|s| s.name == filesystem::LIMIT)
            .count();
        assert_eq!(volumes == 2, host.role().profile().data.is_some());
        let app = value(&samples, names::APP_REQUEST_RATE, &[]).is_some();
        assert_eq!(app, host.role().serves_requests());
    }
}

/// The process table follows the role and the load, and pids stay put.
#[test]
fn processes_look_like_the_role() {
    let mut db = host(3, index_of(Role::Db, 3), Scenario::Normal);
    assert!(
        db.processes().is_empty(),
        "no table before the first reading"
    );
    db.collect(T0);
    let first = db.processes();
    db.collect(T0 + MINUTE);
    let second = db.processes();
    assert_eq!(first[0].name, "postgres");
    assert!(first.iter().any(|p| p.pid == 1 && p.name == "systemd"));
    let pids = |list: &[ProcessInfo]| list.iter().map(|p| p.pid).collect::<BTreeSet<_>>();
    assert_eq!(pids(&first), pids(&second));
    let samples = db.collect(T0 + 2 * MINUTE);
    let busy: f64 = db.processes().iter().map(|p| p.cpu_utilization).sum();
    let cores = value(&samples, cpu_names::UTILIZATION, &[]).expect("cpu")
        * f64::from(db.facts().cpu_count);
    assert!(
        busy > 0.5 * cores && busy < 1.5 * cores,
        "{busy} vs {cores}"
    );
}

/// Dashboards cannot tell simulated hosts from real ones by their series: every
/// shape (name and label keys) this machine reports, a simulated host reports too.
#[test]
fn simulated_series_cover_the_real_ones() {
    // Every family on every tick, the costly ones included.
    let mut collector = Collector::with_cadence(crate::collect::Cadence::EVERY_TICK);
    collector.collect();
    let real = shapes(&collector.collect());
    let mut host = fleet(1, 1, 1).remove(0);
    host.collect(T0);
    let simulated = shapes(&host.collect(T0 + 1_000));
    let missing: Vec<_> = real.difference(&simulated).collect();
    assert!(missing.is_empty(), "the simulator lacks {missing:?}");
}

/// Front ends are quieter on weekends, batch hosts busier.
#[test]
fn weekly_cycle_lowers_weekend_traffic() {
    let mean_rate = |hosts: &mut [SimHost], day_start: i64| {
        let mut sum = 0.0;
        let mut n = 0.0;
        for t in (0..24).map(|h| day_start + h * HOUR) {
            for host in hosts.iter_mut() {
                if let Some(v) = value(&host.collect(t), names::APP_REQUEST_RATE, &[]) {
                    sum += v;
                    n += 1.0;
                }
            }
        }
        sum / n
    };
    let mut hosts = fleet(30, 1, 21);
    // Wednesday 2025-02-26, then Sunday 2025-03-02 (same hosts, later).
    let weekday = mean_rate(&mut hosts, T0 - 3 * 24 * HOUR - 12 * HOUR);
    let sunday = mean_rate(&mut hosts, T0 + 12 * HOUR);
    assert!(
        sunday < 0.85 * weekday,
        "sunday {sunday}, wednesday {weekday}"
    );
}
