//! Cumulative counters and their `.rate` twins.

use common::model::Sample;

use crate::collect::sample;

/// A monotonic counter advanced by a rate. It keeps a fractional value so slow
/// rates are not lost to rounding, and emits whole units (a kernel counter is an
/// integer). The rate twin is computed from the emitted values exactly as the
/// real collector computes it — the difference of two readings over the seconds
/// between them — so the two always agree.
#[derive(Debug, Clone, Default)]
pub(crate) struct Counter {
    value: f64,
    /// The value emitted at the previous reading; `None` after a (re)boot.
    emitted: Option<f64>,
}

impl Counter {
    /// A counter that reads `value` at boot + uptime; the next reading has no rate.
    pub(crate) fn restart(&mut self, value: f64) {
        self.value = value.max(0.0).floor();
        self.emitted = None;
    }

    pub(crate) fn advance(&mut self, per_sec: f64, dt_secs: f64) {
        if per_sec.is_finite() && per_sec > 0.0 {
            self.value += per_sec * dt_secs;
        }
    }

    /// Adds whole events (a count drawn by the caller).
    pub(crate) fn add(&mut self, events: f64) {
        if events.is_finite() && events > 0.0 {
            self.value += events;
        }
    }

    /// The value a reading shows: whole units.
    pub(crate) fn whole(&self) -> f64 {
        self.value.floor()
    }

    /// Pushes the counter and, when a previous reading exists and time passed,
    /// its rate.
    pub(crate) fn emit(
        &mut self,
        name: &str,
        rate_name: &str,
        labels: &[(&str, &str)],
        dt_secs: f64,
        out: &mut Vec<Sample>,
    ) {
        let now = self.value.floor();
        out.push(sample(name, labels, now));
        if let Some(previous) = self.emitted {
            if dt_secs > 0.0 {
                out.push(sample(rate_name, labels, (now - previous) / dt_secs));
            }
        }
        self.emitted = Some(now);
    }
}

/// Seconds counted in the kernel's 10 ms ticks (`USER_HZ` = 100), as
/// `/proc/stat` and `/proc/diskstats` report them; rounded down, so monotonic.
pub(crate) fn centiseconds(seconds: f64) -> f64 {
    (seconds * 100.0).floor() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_is_the_difference_of_emitted_values() {
        let mut c = Counter::default();
        c.restart(10.4);
        let mut out = Vec::new();
        c.emit("c", "c.rate", &[], 0.0, &mut out);
        assert_eq!(out.len(), 1, "no rate on the first reading");
        c.advance(2.5, 2.0);
        c.emit("c", "c.rate", &[], 2.0, &mut out);
        assert_eq!(out[1].value, 15.0);
        assert_eq!(out[2].value, 2.5);
        c.advance(f64::NAN, 1.0);
        c.advance(-3.0, 1.0);
        c.emit("c", "c.rate", &[], 1.0, &mut out);
        assert_eq!(out[3].value, 15.0, "bad rates never move a counter");
        assert_eq!(centiseconds(1.239), 1.23);
    }
}
