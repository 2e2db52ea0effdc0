//! `--inject`: an incident asked for by hand reaches the host's data and the
//! ground-truth file, at the time and on the host the spec names.

use super::*;

fn config(inject: &[&str], truth: Option<&std::path::Path>) -> crate::Config {
    crate::Config {
        collect_local: false,
        simulate: 4,
        sites: 2,
        seed: 7,
        start: T0.to_string(),
        ground_truth: truth.map(|p| p.to_owned()),
        inject: inject.iter().map(|s| (*s).to_owned()).collect(),
        ..Default::default()
    }
}

#[test]
fn specs_parse_and_bad_ones_say_why() {
    let i: Injection = "cpu_spike@sim-web-002+90s/3m*0.5".parse().expect("parses");
    assert_eq!(
        i,
        Injection {
            kind: Kind::CpuSpike,
            host: HostRef::Name("sim-web-002".into()),
            delay: Duration::from_secs(90),
            duration: Duration::from_secs(180),
            severity: 0.5,
        }
    );
    let i: Injection = "memory-leak@3".parse().expect("parses");
    assert_eq!(
        (i.kind, i.host, i.delay, i.duration, i.severity),
        (
            Kind::MemoryLeak,
            HostRef::Number(3),
            Duration::ZERO,
            DEFAULT_INJECT_DURATION,
            1.0
        )
    );
    for (spec, why) in [
        ("cpu_spike", "no @HOST"),
        ("cpu_spike@", "no host"),
        ("cpu_spike@0", "1 or more"),
        ("fire@1", "cpu_spike, memory_leak"),
        ("cpu_spike@1+soon", "is not a number"),
        ("cpu_spike@1/0s", "at least 1s"),
        ("cpu_spike@1*2", "[0, 1]"),
    ] {
        let err = spec.parse::<Injection>().expect_err(spec);
        assert!(err.contains(why), "{spec}: {err}");
    }
    // Hosts the fleet lacks, and kinds the host cannot show, fail validation.
    assert!(config(&["cpu_spike@5"], None)
        .validate()
        .is_err_and(|e| e.contains("fleet has 4")));
    assert!(config(&["cpu_spike@sim-nope-001"], None)
        .validate()
        .is_err_and(|e| e.contains("sim-nope-001")));
    let quiet = (0..4)
        .find(|&i| !role_of(7, i).serves_requests())
        .expect("a host that serves no requests");
    assert!(config(&[&format!("latency_spike@{}", quiet + 1)], None)
        .validate()
        .is_err_and(|e| e.contains("serves requests")));
    assert_eq!(config(&["cpu_spike@4+1m"], None).validate(), Ok(()));
}

fn role_of(seed: u64, index: usize) -> Role {
    host(seed, index, Scenario::Normal).role()
}

#[test]
fn an_injected_cpu_spike_reaches_the_data_and_the_ground_truth() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("truth.jsonl");
    let name = host_name(7, 1);
    // By name here; the same host by number in the twin's config must plan alike.
    let spec = format!("cpu_spike@{name}+2m/4m");
    let c = config(&[&spec], Some(&path));
    assert_eq!(c.validate(), Ok(()));
    assert_eq!(
        c.injections(),
        config(&["cpu_spike@2+2m/4m"], None).injections()
    );
    let mut hosts = crate::simulated_fleet(&c).expect("fleet");
    let mut twins = crate::simulated_fleet(&config(&[], None)).expect("twins");
    assert_eq!(hosts[1].host(), name);
    let (start, end) = (T0 + 2 * MINUTE, T0 + 6 * MINUTE);

    let times = ticks(60, 10_000);
    let mut peak: f64 = 0.0;
    for &t in &times {
        for (i, (h, twin)) in hosts.iter_mut().zip(&mut twins).enumerate() {
            let (a, b) = (h.collect(t), twin.collect(t));
            let cpu = |s: &[Sample]| value(s, cpu_names::UTILIZATION, &[]).expect("cpu");
            if i == 1 && t >= start + 15_000 && t < end - 15_000 {
                // Full severity: the runaway takes 95 % of the idle CPU.
                assert!(cpu(&a) > 0.9, "{name} at {t}: cpu {}", cpu(&a));
                peak = peak.max(cpu(&a) - cpu(&b));
            } else if t < start || i != 1 {
                assert_eq!(a, b, "{} at {t}: only the injection differs", h.host());
            }
        }
    }
    assert!(peak > 0.3, "{name}: at most {peak} above its twin");

    let records: Vec<Record> = std::fs::read_to_string(&path)
        .expect("read")
        .lines()
        .map(|l| serde_json::from_str(l).expect("record"))
        .collect();
    assert_eq!(records.len(), 1, "{records:?}");
    let r = &records[0];
    assert_eq!(
        (
            r.host.as_str(),
            r.site.as_str(),
            r.kind.as_str(),
            r.metric.as_str()
        ),
        (
            name.as_str(),
            hosts[1].site(),
            "cpu_spike",
            cpu_names::UTILIZATION
        )
    );
    assert_eq!((r.start, r.end), (start, end));
    assert!(r.process.is_some(), "{r:?}");
}
