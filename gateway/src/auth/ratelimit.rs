//! Rate limits, pure over the `now` they are given.
//!
//! - [`Backoff`] for login: a key (a client address, or a user name) may fail
//!   `free` times; after that each further failure doubles how long the key must
//!   wait before its next attempt (`base`, `2 × base`, … up to `max`). A key
//!   that has not failed for `forget` starts afresh; a successful login clears
//!   the user's key.
//! - [`Buckets`] for the API: a token bucket per session or API token, `rate`
//!   requests per second with bursts of `burst`.
//!
//! Both keep at most `max_keys` keys: stale ones are dropped first, and when
//! every key is live the newest key is refused rather than an old one
//! forgotten (forgetting would hand an attacker a fresh budget).

use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct BackoffPolicy {
    pub free: u32,
    pub base: Duration,
    pub max: Duration,
    pub forget: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    blocked_until: Instant,
}

#[derive(Debug)]
pub struct Backoff {
    policy: BackoffPolicy,
    max_keys: usize,
    keys: HashMap<String, Failures>,
}

impl Backoff {
    pub fn new(policy: BackoffPolicy, max_keys: usize) -> Self {
        Self {
            policy,
            max_keys,
            keys: HashMap::new(),
        }
    }

    /// `Err(wait)` while `key` must wait before trying again.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        match self.keys.get(key) {
            Some(f) if f.blocked_until > now && now.duration_since(f.last) < self.policy.forget => {
                Err(f.blocked_until - now)
            }
            _ => Ok(()),
        }
    }

    /// Records a failed attempt of `key`.
    pub fn failure(&mut self, key: &str, now: Instant) {
        let p = self.policy;
        if !self.keys.contains_key(key) && self.keys.len() >= self.max_keys {
            self.keys
                .retain(|_, f| now.duration_since(f.last) < p.forget || f.blocked_until > now);
        }
        if !self.keys.contains_key(key) && self.keys.len() >= self.max_keys {
            // Full of live keys: this one is not tracked, and `check` of an
            // untracked key passes, so say so loudly instead.
            tracing::warn!(
                max_keys = self.max_keys,
                "login limiter full: failure not tracked"
            );
            return;
        }
        let entry = self.keys.entry(key.to_owned()).or_insert(Failures {
            count: 0,
            last: now,
            blocked_until: now,
        });
        if now.duration_since(entry.last) >= p.forget {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
        if entry.count > p.free {
            let doublings = (entry.count - p.free - 1).min(30);
            let wait = p.base.saturating_mul(1 << doublings).min(p.max);
            entry.blocked_until = now + wait;
        }
    }

    /// Forgets `key`'s failures.
    pub fn success(&mut self, key: &str) {
        self.keys.remove(key);
    }
}

#[derive(Debug, Clone, Copy)]
pub struct BucketPolicy {
    /// Requests per second refilled.
    pub rate: f64,
    pub burst: f64,
}

#[derive(Debug)]
pub struct Buckets {
    policy: BucketPolicy,
    max_keys: usize,
    keys: HashMap<String, (f64, Instant)>,
}

impl Buckets {
    pub fn new(policy: BucketPolicy, max_keys: usize) -> Self {
        Self {
            policy,
            max_keys,
            keys: HashMap::new(),
        }
    }

    fn level(&self, tokens: f64, since: Instant, now: Instant) -> f64 {
        (tokens + now.duration_since(since).as_secs_f64() * self.policy.rate).min(self.policy.burst)
    }

    /// Takes one request from `key`'s bucket, or `Err(wait)` until one is there.
    pub fn take(&mut self, key: &str, now: Instant) -> Result<(), Duration> {
        if !self.keys.contains_key(key) && self.keys.len() >= self.max_keys {
            // A full bucket is the same as none.
            let burst = self.policy.burst;
            let keys = std::mem::take(&mut self.keys);
            self.keys = keys
                .into_iter()
                .filter(|(_, (t, since))| self.level(*t, *since, now) < burst)
                .collect();
            if self.keys.len() >= self.max_keys {
                return Err(Duration::from_secs(1));
            }
        }
        let (tokens, since) = self
            .keys
            .get(key)
            .copied()
            .unwrap_or((self.policy.burst, now));
        let level = self.level(tokens, since, now);
        if level < 1.0 {
            self.keys.insert(key.to_owned(), (level, now));
            let wait = (1.0 - level) / self.policy.rate.max(f64::MIN_POSITIVE);
            return Err(Duration::from_secs_f64(wait.min(3600.0)));
        }
        self.keys.insert(key.to_owned(), (level - 1.0, now));
        Ok(())
    }

    /// Forgets `key` (a session that logged out).
    pub fn forget(&mut self, key: &str) {
        self.keys.remove(key);
    }
}

/// Whole seconds for `Retry-After`, rounded up and never 0.
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: BackoffPolicy = BackoffPolicy {
        free: 3,
        base: Duration::from_secs(1),
        max: Duration::from_secs(8),
        forget: Duration::from_secs(60),
    };

    /// Steps of (seconds since start, "fail" | "ok" | "check", expected wait in
    /// seconds when checked: 0 = allowed).
    fn check_backoff(steps: &[(u64, &str, u64)]) {
        let t0 = Instant::now();
        let mut b = Backoff::new(POLICY, 100);
        for &(at, what, want) in steps {
            let now = t0 + Duration::from_secs(at);
            match what {
                "fail" => b.failure("k", now),
                "ok" => b.success("k"),
                "check" => {
                    let got = b.check("k", now).err().map_or(0, |d| d.as_secs());
                    assert_eq!(got, want, "check at {at}s in {steps:?}");
                }
                other => panic!("unknown step {other}"),
            }
        }
    }

    #[test]
    fn login_backoff_windows() {
        // Three free failures, then 1, 2, 4, 8, 8 s.
        check_backoff(&[
            (0, "fail", 0),
            (0, "fail", 0),
            (0, "fail", 0),
            (0, "check", 0),
            (0, "fail", 0),
            (0, "check", 1),
            (1, "check", 0),
            (1, "fail", 0),
            (1, "check", 2),
            (2, "check", 1),
            (3, "fail", 0),
            (3, "check", 4),
            (7, "fail", 0),
            (7, "check", 8),
            (15, "fail", 0),
            (15, "check", 8),
        ]);
        // A success clears the key.
        check_backoff(&[
            (0, "fail", 0),
            (0, "fail", 0),
            (0, "fail", 0),
            (0, "fail", 0),
            (0, "check", 1),
            (0, "ok", 0),
            (0, "check", 0),
        ]);
        // A minute without failures starts afresh: the next failure is free.
        check_backoff(&[
            (0, "fail", 0),
            (0, "fail", 0),
            (0, "fail", 0),
            (0, "fail", 0),
            (61, "check", 0),
            (61, "fail", 0),
            (61, "check", 0),
        ]);
    }

    #[test]
    fn a_full_login_limiter_keeps_its_live_keys() {
        let now = Instant::now();
        let mut b = Backoff::new(BackoffPolicy { free: 0, ..POLICY }, 2);
        b.failure("a", now);
        b.failure("b", now);
        b.failure("c", now);
        assert!(b.check("a", now).is_err() && b.check("b", now).is_err());
        assert!(b.check("c", now).is_ok(), "not tracked, and warned about");
        // Once the old ones are stale they make room.
        let later = now + POLICY.forget;
        b.failure("c", later);
        assert!(b.check("c", later).is_err());
    }

    /// Steps of (milliseconds since start, expected result of a take: true = allowed).
    fn check_buckets(policy: BucketPolicy, steps: &[(u64, bool)]) {
        let t0 = Instant::now();
        let mut b = Buckets::new(policy, 10);
        for &(at, want) in steps {
            let got = b.take("k", t0 + Duration::from_millis(at));
            assert_eq!(got.is_ok(), want, "take at {at} ms in {steps:?}: {got:?}");
        }
    }

    #[test]
    fn api_bucket_windows() {
        let p = BucketPolicy {
            rate: 2.0,
            burst: 3.0,
        };
        // A burst of 3, then one every 500 ms.
        check_buckets(
            p,
            &[
                (0, true),
                (0, true),
                (0, true),
                (0, false),
                (400, false),
                (500, true),
                (500, false),
                (1000, true),
            ],
        );
        // A long pause refills only up to the burst.
        check_buckets(
            p,
            &[
                (0, true),
                (0, true),
                (0, true),
                (60_000, true),
                (60_000, true),
                (60_000, true),
                (60_000, false),
            ],
        );
        let mut b = Buckets::new(p, 10);
        let now = Instant::now();
        for _ in 0..3 {
            b.take("k", now).expect("burst");
        }
        let wait = b.take("k", now).expect_err("empty");
        assert_eq!(wait, Duration::from_millis(500));
        assert!(b.take("other", now).is_ok(), "keys are separate");
    }

    #[test]
    fn a_full_bucket_map_drops_idle_keys_first() {
        let p = BucketPolicy {
            rate: 1.0,
            burst: 1.0,
        };
        let now = Instant::now();
        let mut b = Buckets::new(p, 1);
        b.take("a", now).expect("a");
        assert!(b.take("b", now).is_err(), "a is live: b waits");
        assert!(
            b.take("b", now + Duration::from_secs(1)).is_ok(),
            "a refilled and dropped"
        );
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
    }
}
