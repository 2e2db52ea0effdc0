//! Cost of the per-series detection engine (issue 5: ≤ 2 µs per sample on
//! one core, state ≤ 8 KiB per series, the seasonal model reported apart).
//!
//! `hub::detect::Engine::update` with the default config — every per-series
//! detector at once — on a realistic 1-minute series (noise, a daily wave,
//! spikes), measured after a warm-up long enough for every detector to hold
//! a model (the seasonal one needs a day to learn its period and two to fill
//! its history). The peer, in the same run over the same points, is the
//! cheapest thing anyone would call detection: a rolling mean and variance
//! over 50 points and the z-score of the new point.
//!
//! After the timings the bench prints the state of one warmed series: the
//! exact length of `Engine::snapshot()` and an estimate of its in-memory
//! size, by part.
//!
//! Run: `cargo bench -p bench --bench detect`.

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use hub::detect::{Config, Engine};

/// Points per day at one per minute.
const DAY: usize = 1440;
/// Days fed before measuring: the seasonal history holds two days.
const WARM_DAYS: usize = 3;
/// Days of distinct points the measured loop cycles through (a multiple of
/// a day, so the wave stays continuous when the loop wraps).
const CYCLE_DAYS: usize = 4;
const STEP_S: i64 = 60;

/// A host-like series: a daily wave of CPU use, Gaussian noise, a short
/// spike about every 17 h and a sustained shift one evening in four.
fn series(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|i| {
            let day = (i % DAY) as f64 / DAY as f64;
            let wave = 0.35 + 0.2 * (std::f64::consts::TAU * (day - 0.3)).sin();
            let spike = if i % 1013 < 3 { 0.4 } else { 0.0 };
            let shift = if (i / DAY) % 4 == 3 && (1100..1200).contains(&(i % DAY)) {
                0.15
            } else {
                0.0
            };
            (wave + spike + shift + 0.02 * rng.normal()).max(0.0)
        })
        .collect()
}

/// xorshift64*: deterministic, so every run measures the same points.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Box–Muller; one of the pair is enough here.
    fn normal(&mut self) -> f64 {
        let u = self.next().max(f64::MIN_POSITIVE);
        let v = self.next();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// The peer: rolling mean and variance over a ring of 50, z of each point.
struct RollingMeanVar {
    ring: [f64; 50],
    pos: usize,
    n: usize,
    sum: f64,
    sum_sq: f64,
}

impl RollingMeanVar {
    fn new() -> Self {
        Self {
            ring: [0.0; 50],
            pos: 0,
            n: 0,
            sum: 0.0,
            sum_sq: 0.0,
        }
    }

    fn update(&mut self, x: f64) -> f64 {
        let z = if self.n >= 2 {
            let n = self.n as f64;
            let mean = self.sum / n;
            let var = (self.sum_sq / n - mean * mean).max(0.0);
            if var > 0.0 {
                (x - mean) / var.sqrt()
            } else {
                0.0
            }
        } else {
            0.0
        };
        if self.n == self.ring.len() {
            let old = self.ring[self.pos];
            self.sum -= old;
            self.sum_sq -= old * old;
        } else {
            self.n += 1;
        }
        self.ring[self.pos] = x;
        self.sum += x;
        self.sum_sq += x * x;
        self.pos = (self.pos + 1) % self.ring.len();
        z
    }
}

/// An engine that has seen `WARM_DAYS` of the series, and the next time.
fn warmed(values: &[f64]) -> (Engine, i64) {
    let mut engine = Engine::new(Config::default());
    let mut t = 1_700_000_000i64;
    for &v in values.iter().take(WARM_DAYS * DAY) {
        engine.update(t, v);
        t += STEP_S;
    }
    (engine, t)
}

fn bench(c: &mut Criterion, values: &[f64]) {
    let measured = &values[WARM_DAYS * DAY..];
    let mut g = c.benchmark_group("detect");
    g.throughput(Throughput::Elements(1));
    g.bench_function("engine_update", |b| {
        let (mut engine, mut t) = warmed(values);
        let mut i = 0;
        b.iter(|| {
            let x = measured[i];
            i = (i + 1) % measured.len();
            t += STEP_S;
            black_box(engine.update(t, black_box(x)))
        });
    });
    g.bench_function("rolling_mean_var_peer", |b| {
        let mut peer = RollingMeanVar::new();
        let mut i = 0;
        b.iter(|| {
            let x = measured[i];
            i = (i + 1) % measured.len();
            black_box(peer.update(black_box(x)))
        });
    });
    g.finish();
}

/// Numbers held in arrays under `v`: each is 8 bytes in memory (f64, i64 or
/// usize), which is what the state's size is made of.
fn array_numbers(v: &serde_json::Value, in_array: bool) -> usize {
    match v {
        serde_json::Value::Number(_) => usize::from(in_array),
        serde_json::Value::Array(a) => a.iter().map(|x| array_numbers(x, true)).sum(),
        serde_json::Value::Object(m) => m.values().map(|x| array_numbers(x, in_array)).sum(),
        _ => 0,
    }
}

fn report_state(values: &[f64]) {
    let (mut engine, mut t) = warmed(values);
    // A further day, so what is reported is the steady state, not the end
    // of the warm-up.
    for &v in values[WARM_DAYS * DAY..].iter().take(DAY) {
        engine.update(t, v);
        t += STEP_S;
    }
    let snapshot = engine.snapshot();
    let json = serde_json::to_value(&engine).unwrap_or_default();
    println!("\nstate of one warmed 1-minute series (default config)");
    println!(
        "  snapshot (postcard, Engine::snapshot): {} B",
        snapshot.len()
    );
    let fixed = std::mem::size_of::<Engine>();
    // The robust detector's selection scratch is one buffer per thread, not
    // per series, so it is not counted here.
    let mut non_seasonal = fixed;
    println!("  in memory, estimated (8 B per number in a buffer):");
    println!("    Engine struct itself: {fixed} B");
    if let serde_json::Value::Object(parts) = &json {
        for (name, part) in parts {
            let bytes = array_numbers(part, false) * 8;
            // The config's arrays are fixed-size, inside the struct already.
            if bytes == 0 || name == "cfg" {
                continue;
            }
            println!("    {name}: {bytes} B");
            if name != "seasonal" {
                non_seasonal += bytes;
            }
        }
        let seasonal = parts
            .get("seasonal")
            .map_or(0, |s| array_numbers(s, false) * 8);
        println!(
            "  total without the seasonal model: ~{non_seasonal} B ({:.1} KiB)",
            non_seasonal as f64 / 1024.0
        );
        println!(
            "  seasonal model (two days of points): ~{seasonal} B ({:.1} KiB)",
            seasonal as f64 / 1024.0
        );
        // postcard writes each f64 in 8 bytes, so the seasonal model's share
        // of the snapshot is its numbers.
        println!(
            "  snapshot without the seasonal model: ~{} B",
            snapshot.len().saturating_sub(seasonal)
        );
    }
}

fn main() {
    let values = series((WARM_DAYS + CYCLE_DAYS) * DAY, 0x5eed_1234);
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, &values);
    c.final_summary();
    report_state(&values);
}
