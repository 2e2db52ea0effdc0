//! Power given CPU: what a host draws beyond what its CPU load explains.
//!
//! A host's power follows its CPU (idle watts plus a share per unit of
//! load), so on a busy host a surge of power that the CPU does not explain
//! (a failing PSU, a disk or GPU the CPU does not see, a fan stuck at full
//! speed) stays inside the power series' own daily range and no per-series
//! detector calls it unusual. The residual of power against a running
//! linear fit on the host's total CPU utilization is a series of its own,
//! scored by an ordinary [`Engine`](super::Engine): near zero whatever the
//! load, and off exactly when power and CPU part ways.

/// Points after which the fit's weights stop growing: about a day at one
/// point a minute, so the fit covers the host's whole daily range of load
/// and forgets a changed machine within days.
const HORIZON: f64 = 1440.0;
/// Points before the fit is trusted to produce residuals: long enough for
/// the load to have moved over part of its range.
const WARMUP: u64 = 240;

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct PowerGivenCpu {
    n: u64,
    mean_cpu: f64,
    mean_power: f64,
    /// Exponentially weighted variance of CPU and covariance with power.
    var_cpu: f64,
    cov: f64,
}

impl PowerGivenCpu {
    /// Scores the instant's total CPU utilization and summed power against
    /// the fit so far, then learns them. Returns the residual (watts beyond
    /// the fit), `None` during warm-up or for non-finite input.
    pub fn update(&mut self, cpu: f64, power: f64) -> Option<f64> {
        if !(cpu.is_finite() && power.is_finite()) {
            return None;
        }
        let residual = (self.n >= WARMUP).then(|| power - self.predict(cpu));
        self.n += 1;
        let alpha = 1.0 / (self.n as f64).min(HORIZON);
        let (dc, dp) = (cpu - self.mean_cpu, power - self.mean_power);
        self.mean_cpu += alpha * dc;
        self.mean_power += alpha * dp;
        // West's weighted update: the new deviations against the old and
        // the new means keep the moments unbiased as the weights change.
        self.var_cpu = (1.0 - alpha) * (self.var_cpu + alpha * dc * dc);
        self.cov = (1.0 - alpha) * (self.cov + alpha * dc * dp);
        residual
    }

    /// Power the fit expects at `cpu`.
    fn predict(&self, cpu: f64) -> f64 {
        // A host whose load never moved has no slope to learn: its power
        // is expected at its mean.
        let slope = if self.var_cpu > 1e-12 {
            self.cov / self.var_cpu
        } else {
            0.0
        };
        self.mean_power + slope * (cpu - self.mean_cpu)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds (cpu, power) pairs; compares each residual rounded to 1 W.
    fn check(input: &[(f64, f64)], expected: &[(usize, Option<f64>)]) {
        let mut m = PowerGivenCpu::default();
        let got: Vec<Option<f64>> = input.iter().map(|&(c, p)| m.update(c, p)).collect();
        for &(i, want) in expected {
            assert_eq!(got[i].map(|r| r.round()), want, "point {i}");
        }
    }

    /// Power that is exactly 100 W idle plus 200 W at full load, over a
    /// load that wanders between 0.1 and 0.9.
    fn linear(n: usize) -> Vec<(f64, f64)> {
        (0..n)
            .map(|i| {
                let cpu = 0.5 + 0.4 * (i as f64 / 40.0).sin();
                (cpu, 100.0 + 200.0 * cpu)
            })
            .collect()
    }

    #[test]
    fn power_the_load_explains_leaves_no_residual() {
        let input = linear(1000);
        check(
            &input,
            &[(0, None), (239, None), (240, Some(0.0)), (999, Some(0.0))],
        );
    }

    #[test]
    fn a_surge_the_load_does_not_explain_is_the_residual() {
        let mut input = linear(1000);
        // +60 W at a load the host has often been at.
        input[900].1 += 60.0;
        check(
            &input,
            &[(899, Some(0.0)), (900, Some(60.0)), (950, Some(0.0))],
        );
    }
}
