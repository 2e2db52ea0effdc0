//! Trends and capacity forecasts for one resource (a filesystem's bytes or
//! inodes, memory, swap, file descriptors): a pure library (no I/O, no clock,
//! no protobuf types), fed `(time, used, capacity)` one reading at a time.
//!
//! - [`buckets`]: the readings since the last change, in at most 64 time
//!   buckets whose width doubles when they are full — bounded memory, the
//!   whole segment's span always in view.
//! - [`trend`]: Theil–Sen slope with Sen's 95 % interval and the
//!   Mann–Kendall test, refitted each time a bucket completes.
//! - The change test, here: a reading far from the fitted line (beyond
//!   [`CHANGE_SCALES`] times the usual distance and [`MIN_CHANGE`] of the
//!   capacity), [`CHANGE_RUN`] times in a row on the same side, ends the
//!   segment: a clean-up that frees space, a big copy, or a change of rate
//!   starts a new trend instead of bending the old one.
//!
//! A [`Forecast`] says rising / falling / flat, the rate, and — when rising —
//! the seconds until `used` reaches `capacity`, with a band from the slope's
//! interval and a confidence in [0, 1]. Per reading the cost is O(1), plus a
//! refit of O(64²) pairs when a bucket completes; state is about 2.3 KiB.

mod buckets;
mod trend;

use buckets::{Buckets, Pushed, MAX_BUCKETS};
use serde::Serialize;
use trend::{Fit, Z95};

/// Width of a segment's first buckets, in seconds: ten 1 s readings each, so
/// a refit comes at most every ten readings.
pub const INITIAL_WIDTH_SECS: f64 = 10.0;
/// Complete buckets before there is a fit, a change test or a forecast.
pub const MIN_BUCKETS: usize = 6;
/// A reading is off the line when its distance exceeds this many times the
/// usual distance …
pub const CHANGE_SCALES: f64 = 6.0;
/// … and this share of the capacity (smaller steps are left to the robust fit).
pub const MIN_CHANGE: f64 = 0.02;
/// Readings in a row off the line, on the same side, that end a segment: one
/// wild reading is noise, a sustained one is a new level.
pub const CHANGE_RUN: u8 = 3;
/// Weight of each reading in the usual distance from the line.
const SCALE_ALPHA: f64 = 1.0 / 64.0;
/// Exhaustion further away than this is reported as none (5 years).
pub const HORIZON_SECS: f64 = 5.0 * 365.0 * 86_400.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Trend {
    Rising,
    Falling,
    Flat,
}

impl Trend {
    pub fn as_str(self) -> &'static str {
        match self {
            Trend::Rising => "rising",
            Trend::Falling => "falling",
            Trend::Flat => "flat",
        }
    }
}

/// What the estimator knows after its newest reading; times in seconds from
/// that reading.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Forecast {
    pub trend: Trend,
    /// Fitted change of `used` per second.
    pub rate_per_sec: f64,
    /// Seconds until `used` reaches the capacity on the fitted line (0 when
    /// it already has); `None` when not rising or beyond [`HORIZON_SECS`].
    pub seconds_to_exhaustion: Option<f64>,
    /// Band of the same from the slope's 95 % interval: `low` at the
    /// steepest slope, `high` at the gentlest (`None`: maybe never).
    pub low_secs: Option<f64>,
    pub high_secs: Option<f64>,
    /// In [0, 1]: how significant the trend is, how tight its interval, and
    /// how many buckets back it.
    pub confidence: f64,
    pub used: f64,
    pub capacity: f64,
    /// Seconds covered by the current segment.
    pub span_secs: f64,
}

/// Why a reading was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("used or capacity is not a finite number")]
    NotFinite,
    #[error("capacity is not above zero")]
    NoCapacity,
    #[error("reading is not newer than the previous one")]
    NotNewer,
}

impl Rejected {
    /// A fixed word for counters.
    pub fn reason(self) -> &'static str {
        match self {
            Rejected::NotFinite => "not_finite",
            Rejected::NoCapacity => "no_capacity",
            Rejected::NotNewer => "not_newer",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Estimator {
    /// Absolute time (s) of the current segment's first reading.
    origin: f64,
    buckets: Buckets,
    fit: Option<Fit>,
    /// Usual distance of a reading from the line (EW mean of |residual|).
    scale: f64,
    /// Sign and length of the current run of readings off the line.
    run_sign: i8,
    run: u8,
    last_t: f64,
    last_used: f64,
    capacity: f64,
    readings: u64,
    changes: u32,
}

impl Default for Estimator {
    fn default() -> Self {
        Self::new()
    }
}

impl Estimator {
    pub fn new() -> Self {
        Self {
            origin: f64::NAN,
            buckets: Buckets::new(INITIAL_WIDTH_SECS),
            fit: None,
            scale: 0.0,
            run_sign: 0,
            run: 0,
            last_t: f64::NEG_INFINITY,
            last_used: 0.0,
            capacity: 0.0,
            readings: 0,
            changes: 0,
        }
    }

    /// Takes one reading at `t` seconds; times must increase.
    pub fn update(&mut self, t: f64, used: f64, capacity: f64) -> Result<(), Rejected> {
        if !(t.is_finite() && used.is_finite() && capacity.is_finite()) {
            return Err(Rejected::NotFinite);
        }
        if capacity <= 0.0 {
            return Err(Rejected::NoCapacity);
        }
        if t <= self.last_t {
            return Err(Rejected::NotNewer);
        }
        self.last_t = t;
        self.last_used = used;
        self.capacity = capacity;
        self.readings += 1;
        if self.origin.is_nan() {
            self.origin = t;
        }
        if let Some(fit) = self.fit {
            let r = used - fit.at(t - self.origin);
            let limit = (CHANGE_SCALES * self.scale).max(MIN_CHANGE * capacity);
            if r.abs() > limit {
                let sign = if r > 0.0 { 1 } else { -1 };
                self.run = if sign == self.run_sign {
                    self.run + 1
                } else {
                    1
                };
                self.run_sign = sign;
                if self.run >= CHANGE_RUN {
                    self.restart(t, used);
                    return Ok(());
                }
            } else {
                self.run = 0;
                self.run_sign = 0;
            }
            // Clipped, so one wild reading cannot teach that wild is usual.
            self.scale += SCALE_ALPHA * (r.abs().min(limit) - self.scale);
        }
        if self.buckets.push(t - self.origin, used) == Pushed::Opened {
            self.refit();
        }
        Ok(())
    }

    /// A new segment starting at this reading.
    fn restart(&mut self, t: f64, used: f64) {
        self.changes += 1;
        self.origin = t;
        self.buckets.clear(INITIAL_WIDTH_SECS);
        self.buckets.push(0.0, used);
        self.fit = None;
        self.run = 0;
        self.run_sign = 0;
    }

    fn refit(&mut self) {
        let complete = self.buckets.complete();
        if complete.len() < MIN_BUCKETS {
            return;
        }
        let had_fit = self.fit.is_some();
        self.fit = trend::fit(complete);
        if let (false, Some(f)) = (had_fit, self.fit) {
            // The first usual distance: that of the buckets from their line
            // (bucket means are calmer than readings, so the first few
            // readings judged may look wilder than they are; the floor of
            // MIN_CHANGE of the capacity covers that).
            let mut sum = 0.0;
            for b in complete {
                sum += (b.v() - f.at(b.t())).abs();
            }
            self.scale = sum / complete.len() as f64;
        }
    }

    /// The forecast as of the newest reading; `None` while the segment has
    /// fewer than [`MIN_BUCKETS`] complete buckets.
    pub fn forecast(&self) -> Option<Forecast> {
        let fit = self.fit?;
        let now = self.last_t - self.origin;
        let rising = fit.z > Z95 && fit.slope > 0.0;
        let falling = fit.z < -Z95 && fit.slope < 0.0;
        let trend = if rising {
            Trend::Rising
        } else if falling {
            Trend::Falling
        } else {
            Trend::Flat
        };
        let level = fit.at(now);
        let remaining = self.capacity - level;
        let eta = |slope: f64| -> Option<f64> {
            if self.last_used >= self.capacity || remaining <= 0.0 {
                return Some(0.0);
            }
            (slope > 0.0)
                .then(|| remaining / slope)
                .filter(|s| *s <= HORIZON_SECS)
        };
        let (point, low, high) = if rising {
            (eta(fit.slope), eta(fit.slope_high), eta(fit.slope_low))
        } else {
            (None, None, None)
        };
        let significance = 1.0 - trend::p_value(fit.z);
        let precision = if fit.slope == 0.0 {
            0.0
        } else {
            let spread = (fit.slope_high - fit.slope_low) / (2.0 * fit.slope.abs());
            1.0 / (1.0 + spread)
        };
        let coverage = (fit.n as f64 / (MAX_BUCKETS / 2) as f64).min(1.0);
        Some(Forecast {
            trend,
            rate_per_sec: fit.slope,
            seconds_to_exhaustion: point,
            low_secs: low,
            high_secs: high,
            confidence: significance * precision * coverage,
            used: self.last_used,
            capacity: self.capacity,
            span_secs: now,
        })
    }

    /// Segments ended by the change test so far.
    pub fn changes(&self) -> u32 {
        self.changes
    }

    pub fn readings(&self) -> u64 {
        self.readings
    }

    /// Bytes of state this estimator holds (itself and its buckets).
    pub fn state_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.buckets.heap_bytes()
    }
}

#[cfg(test)]
mod tests;
