//! The expected band of each series over time, as the dashboard draws it
//! behind the line: what [`Engine::band`](crate::detect::Engine::band) said,
//! averaged per minute and stored only when it moved.
//!
//! Most series' bands change slowly (the level model refits every few
//! points, flat series hardly ever), so one row per series and minute would
//! be mostly repeats; a row is kept when the band moved by more than
//! [`MOVE_SHARE`] of its width, and at least every [`KEEP_EVERY_MS`] so a
//! range read from any point finds the band in force. Readers draw it as a
//! step: each row holds until the next.

use common::model::{BandPoint, SeriesKey};
use std::sync::Arc;

use crate::detect::Band;

/// Averaging span of one row.
pub const MINUTE_MS: i64 = 60_000;
/// A band that moved less than this share of its width is not stored again.
pub const MOVE_SHARE: f64 = 0.05;
/// ... unless the last row is this old.
pub const KEEP_EVERY_MS: i64 = 3_600_000;

/// One stored band point of one series.
#[derive(Debug, Clone, PartialEq)]
pub struct BandRow {
    pub host: String,
    pub key: Arc<SeriesKey>,
    pub point: BandPoint,
}

/// The band of one series in the minute being averaged, and the last row
/// stored; under 100 bytes per series.
#[derive(Debug, Clone, Default)]
pub struct BandTrack {
    minute: Option<i64>,
    n: u32,
    sum: [f64; 3],
    last: Option<BandPoint>,
}

impl BandTrack {
    /// Takes the band in force at `t_ms`; returns the finished minute's
    /// point when `t_ms` starts another minute and that point is worth
    /// keeping.
    pub fn observe(&mut self, t_ms: i64, band: Option<Band>) -> Option<BandPoint> {
        let minute = t_ms.div_euclid(MINUTE_MS) * MINUTE_MS;
        let done = match self.minute {
            Some(m) if m != minute => self.finish(),
            _ => None,
        };
        if self.minute != Some(minute) {
            self.minute = Some(minute);
            (self.n, self.sum) = (0, [0.0; 3]);
        }
        if let Some(b) =
            band.filter(|b| b.lo.is_finite() && b.hi.is_finite() && b.expected.is_finite())
        {
            self.n += 1;
            for (s, v) in self.sum.iter_mut().zip([b.expected, b.lo, b.hi]) {
                *s += v;
            }
        }
        done
    }

    /// The current minute's point, if it is to be stored (at shutdown the
    /// minute in progress is not: it is incomplete, and the next start
    /// averages its own).
    fn finish(&mut self) -> Option<BandPoint> {
        let minute = self.minute?;
        if self.n == 0 {
            return None;
        }
        let n = f64::from(self.n);
        let point = BandPoint {
            t: minute,
            expected: self.sum[0] / n,
            lo: self.sum[1] / n,
            hi: self.sum[2] / n,
        };
        let keep = match &self.last {
            None => true,
            Some(last) => {
                let width = (last.hi - last.lo)
                    .abs()
                    .max(1e-9 * (1.0 + last.expected.abs()));
                point.t - last.t >= KEEP_EVERY_MS
                    || (point.lo - last.lo).abs() > MOVE_SHARE * width
                    || (point.hi - last.hi).abs() > MOVE_SHARE * width
            }
        };
        if !keep {
            return None;
        }
        self.last = Some(point);
        Some(point)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn band(lo: f64, hi: f64) -> Option<Band> {
        Some(Band {
            expected: (lo + hi) / 2.0,
            lo,
            hi,
        })
    }

    /// Feeds `(t_ms, band)` in order; compares the points kept as
    /// `(t, lo, hi)`.
    fn check(input: &[(i64, Option<Band>)], expected: &[(i64, f64, f64)]) {
        let mut track = BandTrack::default();
        let got: Vec<(i64, f64, f64)> = input
            .iter()
            .filter_map(|&(t, b)| track.observe(t, b))
            .map(|p| (p.t, p.lo, p.hi))
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn a_minute_is_averaged_and_kept_when_the_next_begins() {
        check(
            &[
                (0, band(0.0, 10.0)),
                (30_000, band(2.0, 12.0)),
                (60_000, band(2.0, 12.0)),
            ],
            &[(0, 1.0, 11.0)],
        );
    }

    #[test]
    fn a_band_that_barely_moved_is_not_kept_again_until_an_hour_passed() {
        let steady: Vec<(i64, Option<Band>)> = (0..=61)
            .map(|m| (m * MINUTE_MS, band(0.0, 10.0 + m as f64 / 256.0)))
            .collect();
        check(&steady, &[(0, 0.0, 10.0), (60 * MINUTE_MS, 0.0, 10.234375)]);
    }

    #[test]
    fn a_moved_band_is_kept_and_minutes_without_one_are_skipped() {
        check(
            &[
                (0, band(0.0, 10.0)),
                (MINUTE_MS, None),
                (2 * MINUTE_MS, band(0.0, 20.0)),
                (3 * MINUTE_MS, None),
            ],
            &[(0, 0.0, 10.0), (2 * MINUTE_MS, 0.0, 20.0)],
        );
    }

    #[test]
    fn non_finite_bands_are_ignored() {
        check(
            &[
                (0, band(f64::NAN, 1.0)),
                (MINUTE_MS, band(0.0, 1.0)),
                (2 * MINUTE_MS, None),
            ],
            &[(MINUTE_MS, 0.0, 1.0)],
        );
    }
}
