//! `forecast-cost`: the capacity forecaster's per-reading cost
//! (`hub::forecast::Estimator::update` + `forecast`, as the hub's actor calls
//! them) against two peers fed the same readings in the same run: a plain
//! running mean, and a running least-squares slope (the cheapest trend
//! estimator there is, with none of the robustness).
//!
//!     cargo run --release -p bench --bin forecast-cost [-- SERIES]

use std::hint::black_box;
use std::time::Instant;

use hub::forecast::Estimator;

/// A filling disk read every second: 20 kB/s with ±50 % bursts, 1 TB.
fn readings(n: usize, seed: u64) -> Vec<(f64, f64)> {
    let mut x = seed;
    let mut used = 2e11;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let u = (x >> 11) as f64 / (1u64 << 53) as f64;
            used += 20_000.0 * (0.5 + u);
            (i as f64, used)
        })
        .collect()
}

/// Nanoseconds per reading of `run` over every series, best of 5 rounds (the
/// machine is shared: the best round is the one least disturbed).
fn measure(series: &[Vec<(f64, f64)>], mut run: impl FnMut(&[(f64, f64)]) -> f64) -> f64 {
    let points: usize = series.iter().map(Vec::len).sum();
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let start = Instant::now();
        for s in series {
            black_box(run(s));
        }
        best = best.min(start.elapsed().as_nanos() as f64 / points as f64);
    }
    best
}

fn main() {
    let n_series: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    const CAPACITY: f64 = 1e12;
    for (label, len) in [
        ("first 10 minutes (a refit every 10th reading)", 600),
        ("one day at 1 s", 86_400),
    ] {
        let series: Vec<Vec<(f64, f64)>> = (0..n_series)
            .map(|i| readings(len, 0x9E37_79B9 + i as u64))
            .collect();
        let forecaster = measure(&series, |s| {
            let mut e = Estimator::new();
            let mut used = 0.0;
            for &(t, v) in s {
                if e.update(t, v, CAPACITY).is_ok() {
                    if let Some(f) = e.forecast() {
                        used += f.seconds_to_exhaustion.unwrap_or(0.0);
                    }
                }
            }
            used
        });
        let mean = measure(&series, |s| {
            let (mut n, mut mean, mut used) = (0.0, 0.0, 0.0);
            for &(_, v) in s {
                n += 1.0;
                mean += (v - mean) / n;
                used += mean;
            }
            used
        });
        let ols = measure(&series, |s| {
            let (mut n, mut st, mut sv, mut stt, mut stv) = (0.0, 0.0, 0.0, 0.0, 0.0);
            // Every slope is used (summed), so none can be left uncomputed.
            let (mut slope, mut used) = (0.0, 0.0);
            for &(t, v) in s {
                n += 1.0;
                st += t;
                sv += v;
                stt += t * t;
                stv += t * v;
                let d = n * stt - st * st;
                if d > 0.0 {
                    slope = (n * stv - st * sv) / d;
                }
                used += slope;
            }
            used
        });
        println!("{label}: {n_series} series × {len} readings");
        println!("  running mean (peer)        {mean:8.1} ns/reading");
        println!("  running least squares      {ols:8.1} ns/reading");
        println!(
            "  forecaster                 {forecaster:8.1} ns/reading  ({:.0}× the mean, {:.0}× least squares)",
            forecaster / mean,
            forecaster / ols
        );
    }
    let mut e = Estimator::new();
    for (t, v) in readings(86_400, 1) {
        let _ = e.update(t, v, CAPACITY);
    }
    println!("state per series: {} bytes", e.state_bytes());
}
