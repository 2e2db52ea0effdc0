//! Cumulative counters turned into per-second rates: the one place that decides
//! when a difference of two readings is an honest rate.
//!
//! A rate is `(current − previous) / elapsed` between two readings of the same
//! series. There is none:
//! - on the first reading of a series (agent start, a device or interface that
//!   just appeared, or one that reappears after missing a tick);
//! - when the counter went down: the kernel reset it (device re-created, module
//!   reloaded) and any guess would be a negative or huge spike;
//! - when no time passed.
//!
//! Wrap-around is assumed only for counters the kernel really keeps in 32 bits
//! ([`Width::U32`]): the millisecond times of `/proc/diskstats` (`%u`, wrapping
//! every 49.7 days). Every other counter we read is 64-bit on a 64-bit kernel
//! (`unsigned long` or `u64`), where a decrease is always a reset. A 32-bit
//! decrease counts as a wrap only when the wrapped difference is under half the
//! range; larger, it is a reset too.

use std::collections::HashMap;
use std::time::Instant;

use common::model::{Labels, Sample};

use super::sample;

/// How wide the kernel's counter is, which decides whether a decrease can be a wrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Width {
    U32,
    U64,
}

struct Reading {
    value: u64,
    at: Instant,
    /// The tick in which this series was last read, to forget series that vanish.
    tick: u64,
}

/// Last reading of every counter series, keyed by rate name and labels.
#[derive(Default)]
pub(crate) struct Rates {
    previous: HashMap<(&'static str, Labels), Reading>,
    tick: u64,
}

impl Rates {
    /// Starts a collection tick; [`Rates::end_tick`] forgets what it did not see.
    pub(crate) fn begin_tick(&mut self) {
        self.tick += 1;
    }

    /// Forgets series not read since [`Rates::begin_tick`]: a device that
    /// disappears and comes back starts again with no rate rather than a rate
    /// over the whole gap (which would hide a counter reset inside it).
    pub(crate) fn end_tick(&mut self) {
        let tick = self.tick;
        self.previous.retain(|_, reading| reading.tick == tick);
    }

    /// Records `value` of the series `rate_name{labels}` read at `at`, and returns
    /// its rate per second since the previous reading, if there is an honest one.
    pub(crate) fn rate(
        &mut self,
        rate_name: &'static str,
        labels: &Labels,
        value: u64,
        width: Width,
        at: Instant,
    ) -> Option<f64> {
        let reading = Reading {
            value,
            at,
            tick: self.tick,
        };
        let previous = match self.previous.get_mut(&(rate_name, labels.clone())) {
            Some(slot) => std::mem::replace(slot, reading),
            None => {
                self.previous.insert((rate_name, labels.clone()), reading);
                return None;
            }
        };
        let elapsed = at.checked_duration_since(previous.at)?.as_secs_f64();
        if elapsed <= 0.0 {
            return None;
        }
        Some(delta(previous.value, value, width)? as f64 / elapsed)
    }

    /// Pushes the cumulative sample `name{labels} = value` and, when there is
    /// one, its rate as `rate_name{labels}`.
    #[allow(clippy::too_many_arguments)] // Each is one field of the two samples.
    pub(crate) fn counter(
        &mut self,
        out: &mut Vec<Sample>,
        name: &str,
        rate_name: &'static str,
        labels: &[(&str, &str)],
        value: u64,
        width: Width,
        at: Instant,
    ) {
        let counter = sample(name, labels, value as f64);
        let rate = self.rate(rate_name, &counter.labels, value, width, at);
        let labels = counter.labels.clone();
        out.push(counter);
        if let Some(rate) = rate {
            out.push(Sample {
                name: rate_name.to_owned(),
                labels,
                value: rate,
            });
        }
    }
}

/// How much a counter grew from `previous` to `current`, or `None` after a reset.
pub(crate) fn delta(previous: u64, current: u64, width: Width) -> Option<u64> {
    if current >= previous {
        return Some(current - previous);
    }
    match width {
        Width::U64 => None,
        Width::U32 => {
            if previous > u64::from(u32::MAX) || current > u64::from(u32::MAX) {
                return None; // Not a 32-bit counter after all: a reset.
            }
            let wrapped = (u64::from(u32::MAX) - previous) + current + 1;
            (wrapped < 1 << 31).then_some(wrapped)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const NAME: &str = "test.rate";

    fn labels(device: &str) -> Labels {
        sample("x", &[("device", device)], 0.0).labels
    }

    /// Feeds `(seconds since start, value)` readings of one series and returns
    /// the rate after each.
    fn rates(width: Width, readings: &[(f64, u64)]) -> Vec<Option<f64>> {
        let start = Instant::now();
        let mut rates = Rates::default();
        readings
            .iter()
            .map(|&(secs, value)| {
                rates.begin_tick();
                let at = start + Duration::from_secs_f64(secs);
                let rate = rates.rate(NAME, &labels("sda"), value, width, at);
                rates.end_tick();
                rate
            })
            .collect()
    }

    #[test]
    fn first_tick_then_steady() {
        assert_eq!(
            rates(Width::U64, &[(0.0, 100), (1.0, 300), (2.0, 300)]),
            [None, Some(200.0), Some(0.0)]
        );
    }

    #[test]
    fn interval_change_divides_by_the_real_elapsed_time() {
        assert_eq!(
            rates(Width::U64, &[(0.0, 0), (1.0, 100), (5.0, 500), (5.5, 600)]),
            [None, Some(100.0), Some(100.0), Some(200.0)]
        );
    }

    #[test]
    fn reset_gives_no_rate_then_resumes() {
        assert_eq!(
            rates(Width::U64, &[(0.0, 5_000), (1.0, 10), (2.0, 30)]),
            [None, None, Some(20.0)]
        );
        // A 64-bit counter just below 2^32 going to a small value is a reset,
        // not a wrap: no spike of ~4e9.
        assert_eq!(
            rates(Width::U64, &[(0.0, u64::from(u32::MAX) - 10), (1.0, 20)]),
            [None, None]
        );
    }

    #[test]
    fn a_32_bit_counter_wraps() {
        let near_top = u64::from(u32::MAX) - 9;
        assert_eq!(
            rates(Width::U32, &[(0.0, near_top), (2.0, 20)]),
            [None, Some(15.0)]
        );
        // A decrease by most of the range is a reset, not a wrap.
        assert_eq!(
            rates(Width::U32, &[(0.0, 1_000_000_000), (1.0, 5)]),
            [None, None]
        );
        assert_eq!(delta(u64::from(u32::MAX) + 5, 3, Width::U32), None);
    }

    #[test]
    fn no_time_passed_gives_no_rate() {
        assert_eq!(rates(Width::U64, &[(1.0, 1), (1.0, 2)]), [None, None]);
    }

    #[test]
    fn a_device_that_disappears_starts_over_when_it_reappears() {
        let start = Instant::now();
        let at = |secs: u64| start + Duration::from_secs(secs);
        let mut rates = Rates::default();
        let mut tick = |devices: &[(&str, u64)], secs: u64| -> Vec<Option<f64>> {
            rates.begin_tick();
            let out = devices
                .iter()
                .map(|&(d, v)| rates.rate(NAME, &labels(d), v, Width::U64, at(secs)))
                .collect();
            rates.end_tick();
            out
        };
        assert_eq!(tick(&[("a", 0), ("b", 0)], 0), [None, None]);
        assert_eq!(tick(&[("a", 10)], 1), [Some(10.0)]);
        // b is back with a counter that grew over the gap: a fresh start, not
        // a rate over two seconds that could hide a reset.
        assert_eq!(tick(&[("a", 20), ("b", 50)], 2), [Some(10.0), None]);
        assert_eq!(tick(&[("a", 30), ("b", 60)], 3), [Some(10.0), Some(10.0)]);
    }

    #[test]
    fn counter_pushes_the_value_and_its_rate() {
        let start = Instant::now();
        let mut rates = Rates::default();
        let mut out = Vec::new();
        let labels = [("direction", "in")];
        rates.counter(&mut out, "c", "c.rate", &labels, 7, Width::U64, start);
        let later = start + Duration::from_secs(2);
        rates.counter(&mut out, "c", "c.rate", &labels, 11, Width::U64, later);
        let got: Vec<(&str, f64)> = out.iter().map(|s| (s.name.as_str(), s.value)).collect();
        assert_eq!(got, [("c", 7.0), ("c", 11.0), ("c.rate", 2.0)]);
        assert!(out.iter().all(|s| s.labels["direction"] == "in"));
    }
}
