//! A small seeded PRNG and the slow noise built on it.
//!
//! Our own SplitMix64 rather than `rand`'s `StdRng`/`SmallRng`: rand documents
//! that those algorithms may change between versions, and a demo or a test fixture
//! should produce the same fleet from the same seed after a dependency upgrade.
//! SplitMix64 is 64 bits of state, passes BigCrush, and is a few lines long.

use std::f64::consts::TAU;

/// SplitMix64 (Steele, Lea & Flood, 2014).
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator for stream `stream` of `seed`: hosts (or sites) get unrelated
    /// sequences even though their indices are consecutive.
    pub(crate) fn derive(seed: u64, stream: u64) -> Self {
        Self(seed ^ mix(stream.wrapping_add(0x9E37_79B9_7F4A_7C15)))
    }

    /// A generator that depends only on `parts` (seed, scenario, host, window…):
    /// anomaly schedules use one per decision, so a decision never depends on how
    /// many numbers anything else drew before it.
    pub(crate) fn keyed(parts: &[u64]) -> Self {
        Self(parts.iter().fold(0x6A09_E667_F3BC_C908, |acc, p| {
            mix(acc ^ mix(p.wrapping_add(acc)))
        }))
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform in [0, 1), from the top 53 bits.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn range(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.unit()
    }

    /// One item of a non-empty slice (modulo bias is below 2⁻⁶⁰ for our sizes).
    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.next_u64() % items.len() as u64) as usize]
    }

    /// Standard normal via Box–Muller; `1 - unit()` is in (0, 1], so `ln` is finite.
    pub(crate) fn normal(&mut self) -> f64 {
        let radius = (-2.0 * (1.0 - self.unit()).ln()).sqrt();
        radius * (TAU * self.unit()).cos()
    }
}

/// FNV-1a of a name, for mixing strings into [`Rng::keyed`].
pub(crate) fn hash_name(name: &str) -> u64 {
    name.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

/// The SplitMix64 output function, also a good 64-bit hash.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Slow, mean-reverting noise: an Ornstein–Uhlenbeck process sampled exactly.
///
/// Unlike a plain AR(1) with a fixed coefficient, the step depends on the time that
/// passed, so the wander looks the same whether the agent ticks every second or
/// every minute, and its spread stays `sigma` instead of growing like a random walk.
#[derive(Debug, Clone)]
pub(crate) struct Drift {
    value: f64,
    sigma: f64,
    tau_secs: f64,
}

impl Drift {
    /// Starts at a draw from the stationary distribution, not at 0, so hosts do not
    /// all begin exactly on their baseline.
    pub(crate) fn new(sigma: f64, tau_secs: f64, rng: &mut Rng) -> Self {
        Self {
            value: sigma * rng.normal(),
            sigma,
            tau_secs,
        }
    }

    pub(crate) fn step(&mut self, dt_secs: f64, rng: &mut Rng) -> f64 {
        let keep = (-dt_secs.max(0.0) / self.tau_secs).exp();
        self.value = self.value * keep + self.sigma * (1.0 - keep * keep).sqrt() * rng.normal();
        self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_streams_differ() {
        let a: Vec<u64> = (0..4)
            .map({
                let mut r = Rng::derive(7, 0);
                move |_| r.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..4)
            .map({
                let mut r = Rng::derive(7, 0);
                move |_| r.next_u64()
            })
            .collect();
        let c: Vec<u64> = (0..4)
            .map({
                let mut r = Rng::derive(7, 1);
                move |_| r.next_u64()
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn unit_and_normal_are_finite_and_in_range() {
        let mut rng = Rng::derive(1, 0);
        for _ in 0..10_000 {
            let u = rng.unit();
            assert!((0.0..1.0).contains(&u));
            assert!(rng.normal().is_finite());
        }
    }

    #[test]
    fn drift_does_not_move_when_no_time_passes() {
        let mut rng = Rng::derive(3, 0);
        let mut drift = Drift::new(0.1, 600.0, &mut rng);
        let before = drift.step(0.0, &mut rng);
        assert_eq!(drift.step(0.0, &mut rng), before);
        assert_ne!(drift.step(60.0, &mut rng), before);
    }
}
