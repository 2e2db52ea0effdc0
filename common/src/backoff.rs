//! Exponential backoff with full jitter (sleep a uniform random time in
//! `[0, min(cap, base * 2^attempt)]`), which spreads a fleet's reconnects after
//! a hub restart instead of having every agent retry at the same instant.

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
}

impl Backoff {
    /// First retry within 0.5 s: 1,000 agents whose hub restarts come back
    /// spread over half a second, then over ever wider windows.
    pub const DEFAULT_BASE: Duration = Duration::from_millis(500);
    pub const DEFAULT_CAP: Duration = Duration::from_secs(30);

    pub fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap,
            attempt: 0,
        }
    }

    /// Upper bound of the next delay, before jitter.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(20)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The next delay to sleep, advancing the attempt counter.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let ms = ceiling.as_millis() as u64;
        Duration::from_millis(rand::rng().random_range(0..=ms))
    }

    /// Call after a success so the next failure starts small again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(Self::DEFAULT_BASE, Self::DEFAULT_CAP)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_doubles_up_to_cap_and_reset_restarts() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let mut ceilings = Vec::new();
        for _ in 0..6 {
            ceilings.push(b.ceiling().as_millis());
            let d = b.next_delay();
            assert!(d <= Duration::from_secs(1));
        }
        assert_eq!(ceilings, vec![100, 200, 400, 800, 1000, 1000]);
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_millis(100));
    }

    #[test]
    fn many_attempts_do_not_overflow() {
        let mut b = Backoff::default();
        for _ in 0..200 {
            assert!(b.next_delay() <= Backoff::DEFAULT_CAP);
        }
    }

    /// A thousand agents cut at the same instant do not come back at the same
    /// instant: their first retries spread evenly over the first window.
    #[test]
    fn a_fleet_cut_together_does_not_retry_as_one_burst() {
        let mut buckets = [0u32; 10];
        for _ in 0..1000 {
            let d = Backoff::default().next_delay();
            assert!(d <= Backoff::DEFAULT_BASE);
            let i = (d.as_millis() * 10 / (Backoff::DEFAULT_BASE.as_millis() + 1)) as usize;
            buckets[i] += 1;
        }
        // Uniform: ~100 per 50 ms slice; one burst would put 1000 in one.
        assert!(buckets.iter().all(|&n| n > 40 && n < 200), "{buckets:?}");
    }
}
