//! The estimator as data, then the accuracy requirement over generated fills.

use super::*;

/// What a run of readings should end with.
#[derive(Debug, PartialEq)]
struct Expect {
    trend: Option<Trend>,
    /// Seconds to exhaustion, rounded to whole seconds.
    eta: Option<f64>,
    changes: u32,
}

fn check(readings: &[(f64, f64, f64)], expected: Expect) {
    let mut e = Estimator::new();
    for &(t, used, capacity) in readings {
        e.update(t, used, capacity).expect("valid reading");
    }
    let f = e.forecast();
    let got = Expect {
        trend: f.map(|f| f.trend),
        eta: f.and_then(|f| f.seconds_to_exhaustion).map(f64::round),
        changes: e.changes(),
    };
    assert_eq!(got, expected, "{f:?}");
    if let Some(f) = f {
        assert!((0.0..=1.0).contains(&f.confidence), "{f:?}");
        if let (Some(lo), Some(p)) = (f.low_secs, f.seconds_to_exhaustion) {
            assert!(lo <= p, "{f:?}");
        }
        if let (Some(hi), Some(p)) = (f.high_secs, f.seconds_to_exhaustion) {
            assert!(p <= hi, "{f:?}");
        }
    }
}

/// `used(t)` every 10 s from 0 to `until`, capacity 1000.
fn series(until: u32, used: impl Fn(f64) -> f64) -> Vec<(f64, f64, f64)> {
    (0..=until / 10)
        .map(|i| {
            let t = f64::from(i * 10);
            (t, used(t), 1000.0)
        })
        .collect()
}

#[test]
fn too_few_readings_forecast_nothing() {
    let e = Expect {
        trend: None,
        eta: None,
        changes: 0,
    };
    check(&series(50, |t| t), e);
}

#[test]
fn a_steady_rise_reaches_capacity_on_its_line() {
    // 1 unit/s, at 600 after 600 s: 400 s to go.
    check(
        &series(600, |t| t),
        Expect {
            trend: Some(Trend::Rising),
            eta: Some(400.0),
            changes: 0,
        },
    );
}

#[test]
fn flat_and_falling_never_run_out() {
    check(
        &series(600, |_| 500.0),
        Expect {
            trend: Some(Trend::Flat),
            eta: None,
            changes: 0,
        },
    );
    check(
        &series(600, |t| 900.0 - t),
        Expect {
            trend: Some(Trend::Falling),
            eta: None,
            changes: 0,
        },
    );
}

#[test]
fn a_full_resource_has_no_time_left() {
    check(
        &series(600, |t| (400.0 + t).min(1000.0)),
        Expect {
            trend: Some(Trend::Rising),
            eta: Some(0.0),
            changes: 0,
        },
    );
}

#[test]
fn a_rise_so_slow_it_ends_past_the_horizon_is_no_exhaustion() {
    // 1e-6 units/s with 500 to go: 16 years.
    check(
        &series(600, |t| 500.0 + t * 1e-6),
        Expect {
            trend: Some(Trend::Rising),
            eta: None,
            changes: 0,
        },
    );
}

#[test]
fn a_clean_up_starts_a_new_trend() {
    // Rising 0.5/s to 650 at t = 1300, freed down to 200, then rising
    // 0.5/s again: 800 at t = 2500, 400 s to go. The old line would say
    // 1250 (exhausted already): the segment must have ended at the step.
    check(
        &series(2500, |t| {
            if t < 1300.0 {
                t * 0.5
            } else {
                200.0 + (t - 1300.0) * 0.5
            }
        }),
        Expect {
            trend: Some(Trend::Rising),
            eta: Some(400.0),
            changes: 1,
        },
    );
}

#[test]
fn one_wild_reading_is_noise_not_a_change() {
    let mut r = series(1200, |t| t * 0.5);
    r[80].1 = 0.0;
    r[81].1 = 999.0;
    check(
        &r,
        Expect {
            trend: Some(Trend::Rising),
            eta: Some(800.0),
            changes: 0,
        },
    );
}

#[test]
fn bad_readings_are_refused_with_a_reason() {
    let mut e = Estimator::new();
    let got: Vec<Result<(), Rejected>> = [
        (0.0, 1.0, 10.0),
        (1.0, f64::NAN, 10.0),
        (2.0, 1.0, f64::INFINITY),
        (3.0, 1.0, 0.0),
        (0.0, 1.0, 10.0),
        (4.0, 1.0, 10.0),
    ]
    .iter()
    .map(|&(t, u, c)| e.update(t, u, c))
    .collect();
    assert_eq!(
        got,
        [
            Ok(()),
            Err(Rejected::NotFinite),
            Err(Rejected::NotFinite),
            Err(Rejected::NoCapacity),
            Err(Rejected::NotNewer),
            Ok(()),
        ]
    );
    assert_eq!(e.readings(), 2);
}

#[test]
fn state_stays_within_8_kib_however_long_the_series() {
    let mut e = Estimator::new();
    for i in 0..200_000 {
        let t = f64::from(i);
        e.update(t, t * 1e-3, 1e6).expect("valid");
    }
    assert!(e.state_bytes() <= 8 * 1024, "{} bytes", e.state_bytes());
}

// ---- accuracy over generated fills --------------------------------------

/// splitmix64: deterministic, so every run checks the same fills.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.next().max(1e-300), self.next());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

const DAY: f64 = 86_400.0;

/// One generated fill of a resource of capacity 1.
struct Fill {
    name: String,
    /// Reading interval, seconds.
    step: f64,
    /// The fill without noise: what the truth is computed from.
    clean: Box<dyn Fn(f64) -> f64>,
    /// Noise added to each reading, in units of capacity.
    noise: f64,
    /// Bursty writes: each interval's growth times U(1 − b, 1 + b), as the
    /// simulator's volumes grow. 0 for none.
    burst: f64,
    /// Growth per second of the clean fill, for the bursty readings.
    rate: f64,
    /// Where the fill restarts (a clean-up), seconds; segments are judged
    /// separately, each from 20 % of its own fill.
    steps: Vec<f64>,
    /// Readings stop here.
    end: f64,
}

/// First time at or after `from` the clean fill reaches 1, scanned at
/// `step` / 20 (then the true time to exhaustion is known to 5 % of a step).
fn exhaustion(clean: &dyn Fn(f64) -> f64, from: f64, until: f64, step: f64) -> Option<f64> {
    let dt = step / 20.0;
    let mut t = from;
    while t <= until {
        if clean(t) >= 1.0 {
            return Some(t);
        }
        t += dt;
    }
    None
}

fn fills() -> Vec<Fill> {
    let mut out = Vec::new();
    // Fill lengths from 6 hours of 10 s readings to 30 days of 5 min ones.
    for (days, step) in [
        (0.25, 10.0),
        (3.0, 60.0),
        (7.0, 120.0),
        (20.0, 300.0),
        (30.0, 300.0),
    ] {
        let len = days * DAY;
        let start = 0.1;
        let rate = (1.0 - start) / len;
        let line = move |t: f64| start + rate * t;
        out.push(Fill {
            name: format!("linear {days} d"),
            step,
            clean: Box::new(line),
            noise: 0.0,
            burst: 0.0,
            rate,
            steps: vec![],
            end: len,
        });
        out.push(Fill {
            name: format!("noisy {days} d"),
            step,
            clean: Box::new(line),
            noise: 0.01,
            burst: 0.0,
            rate,
            steps: vec![],
            end: len,
        });
        out.push(Fill {
            name: format!("bursty writes {days} d"),
            step,
            clean: Box::new(line),
            noise: 0.0,
            burst: 0.5,
            rate,
            steps: vec![],
            end: len,
        });
        // A daily swing cannot be told from a trend in less than a day, so it
        // is judged on fills whose 20 % is at least a day long.
        if days * 0.2 >= 1.0 {
            // A daily swing of ±1 % of the capacity (more used by day).
            let wiggle = move |t: f64| line(t) + 0.01 * (std::f64::consts::TAU * t / DAY).sin();
            out.push(Fill {
                name: format!("daily wiggle {days} d"),
                step,
                clean: Box::new(wiggle),
                noise: 0.003,
                burst: 0.0,
                rate,
                steps: vec![],
                end: len,
            });
        }
        // Halfway, a clean-up frees a quarter of the capacity; the fill goes
        // on at the same rate and so ends later.
        let half = len / 2.0;
        let cleaned = move |t: f64| if t < half { line(t) } else { line(t) - 0.25 };
        out.push(Fill {
            name: format!("clean-up halfway {days} d"),
            step,
            clean: Box::new(cleaned),
            noise: 0.005,
            burst: 0.0,
            rate,
            steps: vec![half],
            end: len + 0.25 / rate,
        });
    }
    out
}

/// Judges every reading of `fill` from 20 % to 90 % of its segment's fill
/// (beyond that the time left is so short that a tenth of it is less than
/// the noise can be told apart from); returns (judged, failures as text).
fn judge(fill: &Fill, seed: u64) -> (usize, Vec<String>) {
    let mut rng = Rng(seed);
    let mut e = Estimator::new();
    let mut segments = vec![0.0];
    segments.extend(fill.steps.iter().copied());
    let ends: Vec<f64> = segments
        .iter()
        .skip(1)
        .copied()
        .chain([f64::INFINITY])
        .collect();
    // Each segment's true exhaustion, if it comes before the next clean-up.
    let truths: Vec<Option<f64>> = segments
        .iter()
        .zip(&ends)
        .map(|(&s, &end)| {
            exhaustion(fill.clean.as_ref(), s, fill.end * 2.0, fill.step).filter(|&x| x < end)
        })
        .collect();
    let mut judged = 0;
    let mut failures = Vec::new();
    let mut drift = 0.0;
    let mut t = 0.0;
    while t < fill.end {
        if fill.burst > 0.0 {
            drift += fill.rate * fill.step * (rng.next() * 2.0 - 1.0) * fill.burst;
        }
        if fill.steps.iter().any(|&s| (s - fill.step..s).contains(&t)) {
            // The burst drift belongs to the writes the clean-up removed.
            drift = 0.0;
        }
        let used = (fill.clean)(t) + drift + fill.noise * rng.normal();
        e.update(t, used, 1.0).expect("valid reading");
        let seg = segments.iter().rposition(|&s| s <= t).unwrap_or(0);
        let (seg_start, truth) = (segments[seg], truths[seg]);
        if let Some(full_at) = truth {
            let seen = (t - seg_start) / (full_at - seg_start);
            if (0.2..=0.9).contains(&seen) {
                judged += 1;
                let left = full_at - t;
                let est = e.forecast().and_then(|f| f.seconds_to_exhaustion);
                let ok = est.is_some_and(|s| (s - left).abs() <= 0.1 * left);
                if !ok {
                    failures.push(format!(
                        "{} seed {seed}: at {:.0}% of the fill, {:?} s left estimated, {left:.0} s true",
                        fill.name,
                        seen * 100.0,
                        est.map(f64::round)
                    ));
                }
            }
        }
        t += fill.step;
    }
    (judged, failures)
}

#[test]
fn from_20_percent_of_a_fill_the_time_left_is_within_10_percent() {
    let mut judged = 0;
    let mut failures = Vec::new();
    for fill in fills() {
        for seed in 1..=3 {
            let (n, f) = judge(&fill, seed);
            assert!(n > 0, "{}: nothing judged", fill.name);
            judged += n;
            failures.extend(f);
        }
    }
    let mut by_fill: std::collections::BTreeMap<&str, usize> = Default::default();
    for f in &failures {
        *by_fill
            .entry(f.split(" seed").next().unwrap_or(""))
            .or_default() += 1;
    }
    assert!(
        failures.is_empty(),
        "by fill: {by_fill:?}\n{} of {judged} readings off by more than 10 %; first ones:\n{}",
        failures.len(),
        failures[..failures.len().min(20)].join("\n")
    );
}
