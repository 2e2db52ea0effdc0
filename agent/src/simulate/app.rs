//! Application metrics of hosts that serve requests: rate, p95 latency, errors.

use common::model::Sample;

use super::effects::Effects;
use super::names;
use super::profile::AppSpec;
use super::rng::{Drift, Rng};
use crate::collect::sample;

/// Requests slower than this many times their usual p95 start timing out.
const TIMEOUT_FACTOR: f64 = 5.0;

pub(crate) struct App {
    rps: f64,
    latency_s: f64,
    error_ratio: f64,
    rate_noise: Drift,
    latency_noise: Drift,
}

impl App {
    pub(crate) fn new(spec: &AppSpec, rng: &mut Rng) -> Self {
        Self {
            rps: spec.rps * rng.range(0.5, 1.5),
            latency_s: spec.latency_s * rng.range(0.7, 1.3),
            error_ratio: spec.error_ratio * rng.range(0.5, 1.5),
            rate_noise: Drift::new(0.15, 600.0, rng),
            latency_noise: Drift::new(0.12, 300.0, rng),
        }
    }

    pub(crate) fn step(
        &mut self,
        dt: f64,
        demand: f64,
        cpu: f64,
        fx: &Effects,
        rng: &mut Rng,
        out: &mut Vec<Sample>,
    ) {
        let rate = self.rps * demand.max(0.05) * self.rate_noise.step(dt, rng).exp();
        // Requests queue for a busy CPU and for a full link.
        let queueing = (1.0 / (1.0 - cpu.min(0.95))).powf(0.7);
        let slowdown = (1.0 + fx.latency) * (1.0 + 2.0 * fx.saturation);
        let latency = self.latency_s * queueing * slowdown * self.latency_noise.step(dt, rng).exp();
        let timeouts = 0.01 * (slowdown - TIMEOUT_FACTOR).max(0.0);
        let errors = (self.error_ratio * (1.0 + 0.3 * rng.normal()).max(0.1)
            + fx.errors
            + 0.02 * fx.saturation
            + timeouts)
            .clamp(0.0, 1.0);
        out.push(sample(names::APP_REQUEST_RATE, &[], rate));
        out.push(sample(names::APP_REQUEST_LATENCY, &[], latency));
        out.push(sample(names::APP_REQUEST_ERROR_RATIO, &[], errors));
    }
}
