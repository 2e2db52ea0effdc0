//! End to end: the ground-truth file lists exactly the anomalies the data
//! shows. Each host is compared with its twin (same seed and index) of the
//! `normal` scenario.

use super::*;

/// After an incident, effects that fade (load averages, temperatures) are gone
/// by then.
const SETTLE_MS: i64 = 30 * MINUTE;
const STEP_MS: i64 = 2 * MINUTE;
/// A rate read from whole-unit counters can be off by one unit over a step.
const RATE_SLACK: f64 = 1000.0 / STEP_MS as f64;

#[test]
fn ground_truth_matches_the_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("truth.jsonl");
    let sink = Arc::new(GroundTruth::create(&path).expect("create"));
    let config = |scenario| FleetConfig {
        hosts: 6,
        sites: 2,
        seed: 23,
        scenario,
    };
    let mut hosts = fleet_with(&config(Scenario::Dev));
    let mut twins = fleet_with(&config(Scenario::Normal));
    for h in &mut hosts {
        h.set_ground_truth(sink.clone());
    }
    let times = ticks(36 * HOUR / STEP_MS, STEP_MS);
    let mut data: Vec<Vec<(Vec<Sample>, Vec<Sample>)>> = vec![Vec::new(); hosts.len()];
    for &t in &times {
        for (i, (h, twin)) in hosts.iter_mut().zip(&mut twins).enumerate() {
            data[i].push((h.collect(t), twin.collect(t)));
        }
    }
    let records: Vec<Record> = std::fs::read_to_string(&path)
        .expect("read")
        .lines()
        .map(|l| serde_json::from_str(l).expect("record"))
        .collect();
    assert!(records.len() > 20, "{} records", records.len());
    let (written, failed) = sink.counts();
    assert_eq!((written, failed), (records.len() as u64, 0));

    let index = |host: &str| {
        hosts
            .iter()
            .position(|h| h.host() == host)
            .expect("known host")
    };
    let in_incident = |r: &Record, t: i64| (r.start..r.end).contains(&t);
    for r in &records {
        let h = index(&r.host);
        assert_eq!(r.site, hosts[h].site());
        let labels: Vec<(&str, &str)> = r
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut seen = false;
        for (i, &t) in times
            .iter()
            .enumerate()
            .filter(|(_, t)| in_incident(r, **t))
        {
            let (b, a) = &data[h][i];
            if r.kind == "host_crash" {
                assert!(b.is_empty(), "{r:?}: data at {t}");
                seen = true;
            } else if let (Some(x), Some(y)) =
                (value(a, &r.metric, &labels), value(b, &r.metric, &labels))
            {
                seen |= (x - y).abs() > 1e-6 * x.abs() + RATE_SLACK;
            }
        }
        assert!(seen, "the data never shows {r:?}");
    }

    // Every incident a reading fell into is in the file, unless a crash hid it.
    for (h, host) in hosts.iter().enumerate() {
        for incident in host.incidents(times[0], times[times.len() - 1] + 1) {
            let shown = times.iter().enumerate().any(|(i, t)| {
                incident.contains(*t)
                    && (incident.kind == Kind::HostCrash || !data[h][i].0.is_empty())
            });
            let listed = records.iter().any(|r| {
                r.host == host.host()
                    && r.kind == incident.kind.name()
                    && r.start == incident.start_ms
            });
            assert_eq!(shown, listed, "{}: {incident:?}", host.host());
        }
    }

    // Where the file lists nothing (and nothing ended lately), the headline
    // metrics are the twin's.
    let watched: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (cpu_names::UTILIZATION, vec![]),
        (memory::UTILIZATION, vec![]),
        (names::HW_TEMPERATURE, hardware::PACKAGE_LABELS.to_vec()),
        (names::HW_POWER, hardware::PSU_LABELS.to_vec()),
        (names::APP_REQUEST_LATENCY, vec![]),
        (names::APP_REQUEST_ERROR_RATIO, vec![]),
        (
            network::IO_RATE,
            vec![("device", "eth0"), ("direction", "transmit")],
        ),
        (
            network::IO_RATE,
            vec![("device", "eth0"), ("direction", "receive")],
        ),
    ];
    let mut quiet = 0;
    for (h, host) in hosts.iter().enumerate() {
        let mine: Vec<&Record> = records.iter().filter(|r| r.host == host.host()).collect();
        for (i, &t) in times.iter().enumerate() {
            if mine.iter().any(|r| r.start <= t && t < r.end + SETTLE_MS) {
                continue;
            }
            quiet += 1;
            let (b, a) = &data[h][i];
            for (name, labels) in &watched {
                let (x, y) = (value(a, name, labels), value(b, name, labels));
                let same = match (x, y) {
                    (Some(x), Some(y)) => (x - y).abs() <= 1e-6 * x.abs() + RATE_SLACK,
                    (None, None) => true,
                    // The first reading after a reboot has no rates.
                    (Some(_), None) => name.ends_with(".rate"),
                    (None, Some(_)) => false,
                };
                assert!(
                    same,
                    "{} at {t}: {name} {y:?}, twin {x:?}, nothing listed",
                    host.host()
                );
            }
        }
    }
    assert!(
        quiet > times.len(),
        "too few quiet readings to judge: {quiet}"
    );
}
