//! Static thresholds with durations and hysteresis: "CPU above 90 % for
//! 5 minutes, clear when below 80 % for 1 minute". The duration stops one
//! sample from paging anyone; the gap between the trigger and the clear level
//! stops a value hovering at the line from flapping firing/resolved.
//!
//! Time is passed in (seconds), never read from a clock, so the logic is a
//! pure function of its input and tests replay it exactly.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Breach when the value is above the trigger level.
    Above,
    /// Breach when the value is below the trigger level.
    Below,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdConfig {
    pub direction: Direction,
    /// Level that starts a breach.
    pub trigger: f64,
    /// Level the value must get back past to end one; for `Above` it is at
    /// most `trigger` (at least for `Below`).
    pub clear: f64,
    /// Seconds a breach must last before it fires.
    #[serde(default)]
    pub for_secs: i64,
    /// Seconds the value must stay past `clear` before the alert resolves.
    #[serde(default)]
    pub clear_for_secs: i64,
}

impl ThresholdConfig {
    pub fn validate(&self) -> Result<(), String> {
        let ordered = match self.direction {
            Direction::Above => self.clear <= self.trigger,
            Direction::Below => self.clear >= self.trigger,
        };
        if !ordered || !self.trigger.is_finite() || !self.clear.is_finite() {
            return Err(format!(
                "threshold: clear level {} must be on the normal side of trigger {}",
                self.clear, self.trigger
            ));
        }
        if self.for_secs < 0 || self.clear_for_secs < 0 {
            return Err("threshold: durations cannot be negative".into());
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ThresholdState {
    Ok,
    /// Breaching since `since`, not for long enough yet.
    Pending {
        since: i64,
    },
    Firing {
        since: i64,
    },
    /// Firing, but back past the clear level since `since`.
    Clearing {
        since: i64,
        fired: i64,
    },
}

/// What one sample changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    None,
    Fired,
    Resolved,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Threshold {
    cfg: ThresholdConfig,
    state: ThresholdState,
}

impl Threshold {
    pub fn new(cfg: ThresholdConfig) -> Self {
        Self {
            cfg,
            state: ThresholdState::Ok,
        }
    }

    pub fn state(&self) -> ThresholdState {
        self.state
    }

    pub fn is_firing(&self) -> bool {
        matches!(
            self.state,
            ThresholdState::Firing { .. } | ThresholdState::Clearing { .. }
        )
    }

    /// Applies the sample `x` taken at `t` (seconds).
    pub fn update(&mut self, t: i64, x: f64) -> Transition {
        let (breach, cleared) = match self.cfg.direction {
            Direction::Above => (x > self.cfg.trigger, x < self.cfg.clear),
            Direction::Below => (x < self.cfg.trigger, x > self.cfg.clear),
        };
        // NaN is neither a breach nor a recovery: the state holds.
        if x.is_nan() {
            return Transition::None;
        }
        let (next, transition) = match self.state {
            ThresholdState::Ok | ThresholdState::Pending { .. } if !breach => {
                (ThresholdState::Ok, Transition::None)
            }
            ThresholdState::Ok => self.pending(t, t),
            ThresholdState::Pending { since } => self.pending(since, t),
            ThresholdState::Firing { since } if cleared => self.clearing(since, t, t),
            ThresholdState::Firing { since } => {
                (ThresholdState::Firing { since }, Transition::None)
            }
            ThresholdState::Clearing { fired, .. } if !cleared => {
                (ThresholdState::Firing { since: fired }, Transition::None)
            }
            ThresholdState::Clearing { since, fired } => self.clearing(fired, since, t),
        };
        self.state = next;
        transition
    }

    fn pending(&self, since: i64, t: i64) -> (ThresholdState, Transition) {
        if t - since >= self.cfg.for_secs {
            (ThresholdState::Firing { since: t }, Transition::Fired)
        } else {
            (ThresholdState::Pending { since }, Transition::None)
        }
    }

    fn clearing(&self, fired: i64, since: i64, t: i64) -> (ThresholdState, Transition) {
        if t - since >= self.cfg.clear_for_secs {
            (ThresholdState::Ok, Transition::Resolved)
        } else {
            (ThresholdState::Clearing { since, fired }, Transition::None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(for_secs: i64, clear_for_secs: i64) -> ThresholdConfig {
        ThresholdConfig {
            direction: Direction::Above,
            trigger: 90.0,
            clear: 80.0,
            for_secs,
            clear_for_secs,
        }
    }

    /// Feeds one sample per second and compares the transitions:
    /// `F` fired, `R` resolved, `.` nothing; spaces are ignored.
    fn check(cfg: ThresholdConfig, input: &[f64], expected: &str) {
        let mut th = Threshold::new(cfg);
        let got: String = input
            .iter()
            .enumerate()
            .map(|(t, &x)| match th.update(t as i64, x) {
                Transition::None => '.',
                Transition::Fired => 'F',
                Transition::Resolved => 'R',
            })
            .collect();
        assert_eq!(got, expected.replace(' ', ""));
    }

    #[test]
    fn fires_immediately_without_duration() {
        check(cfg(0, 0), &[50.0, 95.0, 95.0, 70.0], ".F.R");
    }

    #[test]
    fn duration_must_be_continuous() {
        check(cfg(2, 0), &[95.0, 95.0, 50.0, 95.0, 95.0, 95.0], "... ..F");
    }

    #[test]
    fn hysteresis_holds_between_clear_and_trigger() {
        check(cfg(0, 0), &[95.0, 85.0, 85.0, 89.0, 79.0], "F...R");
    }

    #[test]
    fn clear_duration_restarts_on_relapse() {
        check(
            cfg(0, 2),
            &[95.0, 70.0, 70.0, 95.0, 70.0, 70.0, 70.0],
            "F.. ...R",
        );
    }

    #[test]
    fn below_direction_mirrors_above() {
        let below = ThresholdConfig {
            direction: Direction::Below,
            trigger: 10.0,
            clear: 20.0,
            for_secs: 0,
            clear_for_secs: 0,
        };
        check(below, &[50.0, 5.0, 15.0, 25.0], ".F.R");
    }

    #[test]
    fn validate_rejects_inverted_levels() {
        let mut c = cfg(0, 0);
        assert!(c.validate().is_ok());
        c.clear = 95.0;
        assert!(c.validate().is_err());
    }

    /// Property: for random walks and random configs, (1) it never fires
    /// before the value has been past the trigger for `for_secs`, (2) Fired
    /// and Resolved alternate, starting with Fired, and (3) while firing, a
    /// value between clear and trigger never resolves it.
    #[test]
    fn property_alternates_and_respects_duration_and_hysteresis() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % 1000) as f64 / 10.0
        };
        for _ in 0..200 {
            let c = cfg((next() / 20.0) as i64, (next() / 20.0) as i64);
            let mut th = Threshold::new(c.clone());
            let mut firing = false;
            let mut breach_since: Option<i64> = None;
            for t in 0..300 {
                let x = next();
                let before = th.is_firing();
                breach_since = if x > c.trigger {
                    breach_since.or(Some(t))
                } else {
                    None
                };
                match th.update(t, x) {
                    Transition::Fired => {
                        assert!(!firing);
                        let since = breach_since.unwrap_or(t);
                        assert!(t - since >= c.for_secs, "fired too early");
                        firing = true;
                    }
                    Transition::Resolved => {
                        assert!(firing);
                        assert!(x < c.clear, "resolved above the clear level");
                        firing = false;
                    }
                    Transition::None => {}
                }
                if before && x >= c.clear {
                    assert!(th.is_firing(), "hysteresis broken at {x}");
                }
                assert_eq!(th.is_firing(), firing);
            }
        }
    }
}
