use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::collect::{filesystem, network, Collector};

/// 2025-03-01T12:00Z, after every simulated boot.
const T0: i64 = 1_740_830_400_000;

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

#[test]
fn same_seed_gives_identical_samples() {
    let times = ticks(5, 1_000);
    assert_eq!(
        run(&mut fleet(6, 2, 42), &times),
        run(&mut fleet(6, 2, 42), &times)
    );
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
fn values_stay_in_range_over_two_days() {
    let mut hosts = fleet(12, 3, 7);
    // Ten-minute steps across two daily cycles, then a burst of one-second ticks.
    let mut times = ticks(288, 600_000);
    let last = times[times.len() - 1];
    times.extend((1..30).map(|i| last + i * 1_000));
    for samples in run(&mut hosts, &times) {
        for s in &samples {
            assert!(s.value.is_finite() && s.value >= 0.0, "{s:?}");
            if s.name.ends_with(".utilization") {
                assert!(s.value <= 1.0, "{s:?}");
            }
        }
        let value = |name: &str, state: &str| {
            samples
                .iter()
                .find(|s| {
                    s.name == name && s.labels.get("state").map(String::as_str) == Some(state)
                })
                .map_or(f64::NAN, |s| s.value)
        };
        let limit = samples
            .iter()
            .find(|s| s.name == memory::LIMIT)
            .map_or(0.0, |s| s.value);
        assert!(value(memory::USAGE, "used") <= limit);
        assert!(value(memory::USAGE, "free") <= value(memory::USAGE, "available"));
    }
}

#[test]
fn counters_never_decrease_even_when_time_goes_back() {
    let mut hosts = fleet(4, 2, 9);
    let mut times = ticks(50, 1_000);
    // A clock step backwards must not rewind anything.
    times.extend([T0 + 10_000, T0 + 60_000, T0 + 3_600_000]);
    let counters = [network::IO, network::PACKETS, network::ERRORS];
    let mut last: BTreeMap<(String, common::model::SeriesKey), f64> = BTreeMap::new();
    for (i, samples) in run(&mut hosts, &times).into_iter().enumerate() {
        for s in samples
            .iter()
            .filter(|s| counters.contains(&s.name.as_str()))
        {
            let key = (hosts[i % hosts.len()].host().to_owned(), s.key());
            if let Some(previous) = last.insert(key, s.value) {
                assert!(
                    s.value >= previous,
                    "{} went from {previous} to {}",
                    s.name,
                    s.value
                );
            }
        }
    }
}

#[test]
fn rate_is_skipped_on_the_first_call_only() {
    let mut host = fleet(1, 1, 3).remove(0);
    let has_rate = |samples: &[Sample]| samples.iter().any(|s| s.name == network::IO_RATE);
    assert!(!has_rate(&host.collect(T0)));
    assert!(has_rate(&host.collect(T0 + 1_000)));
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
}

#[test]
fn site_names_continue_past_z() {
    assert_eq!(site_name(0), "site-a");
    assert_eq!(site_name(25), "site-z");
    assert_eq!(site_name(26), "site-aa");
}

#[test]
fn facts_match_the_samples() {
    for host in &mut fleet(8, 2, 11) {
        let facts = host.facts();
        let samples = host.collect(T0);
        assert!(facts.simulated && facts.hostname == host.host());
        assert!((2..=16).contains(&facts.cpu_count));
        let cores = samples
            .iter()
            .filter(|s| s.labels.contains_key("cpu"))
            .count();
        assert_eq!(cores, facts.cpu_count as usize);
        let uptime = samples
            .iter()
            .find(|s| s.name == host::UPTIME)
            .map_or(0.0, |s| s.value);
        assert_eq!(uptime as u64, (T0 / 1000) as u64 - facts.boot_time);
        let db_volume = samples
            .iter()
            .any(|s| s.name == filesystem::LIMIT && s.labels["mountpoint"] == "/var/lib/db");
        assert_eq!(db_volume, host.role() == Role::Db);
    }
}

/// Guards the promise that dashboards cannot tell simulated hosts from real ones
/// by their series: same names, same label keys.
#[test]
fn simulated_series_have_the_shapes_of_real_ones() {
    let mut collector = Collector::new();
    collector.collect();
    let real = shapes(&collector.collect());
    let mut host = fleet(1, 1, 1).remove(0);
    host.collect(T0);
    let simulated = shapes(&host.collect(T0 + 1_000));
    assert_eq!(simulated, real);
}
