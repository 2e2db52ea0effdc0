//! Turns a tail probability into the final score in [0, 1] and keeps one
//! incident from raising a stream of alarms.
//!
//! Calibration: the surprise `s = -log10(tail)` ("one in 10^s") is mapped to
//! `s / (s + half)`, so `half` decades of surprise score 0.5. It is smooth
//! and strictly increasing: ranking between points survives, and very rare
//! events still differ from merely rare ones.
//!
//! Suppression: after a point scores at least `level`, the next `hold`
//! points have their score multiplied by `damp`. Whoever reads the scores
//! (an operator, the incident builder, a benchmark) wants the first sign of
//! an incident, not the same incident again every sample; a much larger
//! surprise than the one that opened the hold still gets through.

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Alarm {
    half: f64,
    level: f64,
    hold: u32,
    damp: f64,
    escalate: f64,
    remaining: u32,
    /// Score of the alarm that opened the current hold.
    opened_at: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Scored {
    pub score: f64,
    /// The score before the hold's damping: what the point alone is worth,
    /// for asking whether an alarm lasted.
    pub undamped: f64,
    /// The point opened a new alarm (it was not held back).
    pub alarm: bool,
}

impl Alarm {
    pub(crate) fn new(half: f64, level: f64, hold: u32, damp: f64, escalate: f64) -> Self {
        Self {
            half: half.max(1e-9),
            level,
            hold,
            damp,
            escalate,
            remaining: 0,
            opened_at: 0.0,
        }
    }

    pub(crate) fn update(&mut self, tail: f64) -> Scored {
        let s = calibrate(tail, self.half);
        if self.remaining > 0 {
            self.remaining -= 1;
            // Escalation: a far bigger surprise is a new incident.
            if s >= self.level && s > self.opened_at + (1.0 - self.opened_at) * self.escalate {
                return self.open(s);
            }
            return Scored {
                score: s * self.damp,
                undamped: s,
                alarm: false,
            };
        }
        if s >= self.level {
            return self.open(s);
        }
        Scored {
            score: s,
            undamped: s,
            alarm: false,
        }
    }

    fn open(&mut self, s: f64) -> Scored {
        self.remaining = self.hold;
        self.opened_at = s;
        Scored {
            score: s,
            undamped: s,
            alarm: true,
        }
    }
}

/// `s / (s + half)` with `s = -log10(tail)`.
pub(crate) fn calibrate(tail: f64, half: f64) -> f64 {
    let s = -tail.clamp(1e-300, 1.0).log10();
    s / (s + half)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tails in, (score rounded to 2 places, alarm flag) out; level 0.5,
    /// hold 2, damp 0.5, half 3.
    fn check(input: &[f64], expected: &[(f64, bool)]) {
        let mut a = Alarm::new(3.0, 0.5, 2, 0.5, 0.5);
        let got: Vec<(f64, bool)> = input
            .iter()
            .map(|&t| {
                let s = a.update(t);
                ((s.score * 100.0).round() / 100.0, s.alarm)
            })
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn calibration_is_half_at_half_decades() {
        check(&[1.0, 1e-3], &[(0.0, false), (0.5, true)]);
    }

    #[test]
    fn holds_back_repeats_then_rearms() {
        check(
            &[1e-6, 1e-6, 1e-6, 1e-6],
            &[(0.67, true), (0.33, false), (0.33, false), (0.67, true)],
        );
    }

    #[test]
    fn escalation_breaks_through_the_hold() {
        // 0.5 opens; 0.97 is more than halfway from 0.5 to 1.
        check(&[1e-3, 1e-100], &[(0.5, true), (0.97, true)]);
    }
}
