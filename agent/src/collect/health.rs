//! Per-family bookkeeping: a family that fails is logged once, counted and
//! skipped; a value that is not finite is dropped.

use std::collections::{HashMap, HashSet};

use common::model::Sample;

use super::Result;

/// Per-family bookkeeping so that a failure repeated every second, or a family that
/// keeps producing NaN, is one warning rather than a flood of them.
#[derive(Default)]
pub(crate) struct Health {
    failing: HashSet<&'static str>,
    /// Failed ticks per family since start.
    pub(crate) failures: HashMap<&'static str, u64>,
    warned_non_finite: HashSet<&'static str>,
}

impl Health {
    pub(crate) fn accept(
        &mut self,
        family: &'static str,
        result: Result<Vec<Sample>>,
        out: &mut Vec<Sample>,
    ) {
        let samples = match result {
            Ok(samples) => {
                if self.failing.remove(family) {
                    tracing::info!(family, "metric family recovered");
                }
                samples
            }
            Err(error) => {
                *self.failures.entry(family).or_default() += 1;
                if self.failing.insert(family) {
                    tracing::warn!(family, %error, "metric family skipped");
                } else {
                    tracing::debug!(family, %error, "metric family still failing");
                }
                return;
            }
        };
        for sample in samples {
            if sample.value.is_finite() {
                out.push(sample);
            } else if self.warned_non_finite.insert(family) {
                // The hub rejects NaN/Inf; dropping here keeps the rest of the batch.
                let (name, value) = (&sample.name, sample.value);
                tracing::warn!(family, name, value, "dropping non-finite sample");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::{sample, CollectError};

    #[test]
    fn non_finite_samples_are_dropped_and_failures_skipped() {
        let mut health = Health::default();
        let mut out = Vec::new();
        let family = vec![
            sample("a", &[], 1.0),
            sample("b", &[], f64::NAN),
            sample("c", &[], f64::INFINITY),
        ];
        health.accept("test", Ok(family), &mut out);
        health.accept(
            "broken",
            Err(CollectError::Unavailable { what: "test" }),
            &mut out,
        );
        let names: Vec<&str> = out.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a"]);
        assert!(health.failing.contains("broken"));
    }
}
