//! Sensors: temperatures, fan speeds and the power supplies' draw.

use common::model::Sample;

use super::effects::Effects;
use super::names;
use super::profile::{Media, Profile};
use super::rng::Rng;
use crate::collect::sample;

/// Time constant of the CPU package's temperature, seconds.
const THERMAL_TAU_SECS: f64 = 90.0;
/// °C per extra watt that reaches the package's heat sink.
const DEGREES_PER_WATT: f64 = 0.05;
const FAN_MIN_RPM: f64 = 1800.0;
const FAN_MAX_RPM: f64 = 9000.0;
/// Watts the remaining fans add when they run flat out.
const FANS_FLAT_OUT_WATTS: f64 = 15.0;
const CHIP_CPU: &str = "coretemp";
const CHIP_FANS: &str = "nct6798";
const CHIP_PSU: &str = "psu";

pub(crate) struct Hardware {
    /// Inlet air, °C.
    ambient: f64,
    /// The package temperature the host settles at when idle.
    idle_rise: f64,
    /// Lagged package temperature without a cooling failure; `None` at boot.
    package: Option<f64>,
    watts: (f64, f64),
    psus: u32,
    fans: u32,
    gpus: u32,
    nvme: bool,
}

/// The CPU's package sensor, the one a temperature anomaly is reported on.
pub(crate) const PACKAGE_LABELS: [(&str, &str); 2] =
    [("chip", CHIP_CPU), ("sensor", "Package id 0")];
/// The first power supply, the one a power anomaly is reported on.
pub(crate) const PSU_LABELS: [(&str, &str); 2] = [("chip", CHIP_PSU), ("sensor", "psu1")];

impl Hardware {
    pub(crate) fn new(profile: &Profile, rng: &mut Rng) -> Self {
        Self {
            ambient: rng.range(20.0, 27.0),
            idle_rise: rng.range(10.0, 18.0),
            package: None,
            watts: (
                profile.watts.0 * rng.range(0.9, 1.1),
                profile.watts.1 * rng.range(0.9, 1.1),
            ),
            psus: profile.psus,
            fans: profile.fans,
            gpus: profile.gpus,
            nvme: profile.disks.iter().any(|d| d.media == Media::Nvme),
        }
    }

    pub(crate) fn restart(&mut self) {
        self.package = None;
    }

    /// One reading at CPU utilization `cpu` and workload `demand`.
    pub(crate) fn step(
        &mut self,
        dt: f64,
        cpu: f64,
        demand: f64,
        fx: &Effects,
        rng: &mut Rng,
        out: &mut Vec<Sample>,
    ) {
        let (idle_w, max_w) = self.watts;
        let extra_w = fx.power * idle_w;
        let fans_w = if fx.fan_failed {
            FANS_FLAT_OUT_WATTS
        } else {
            0.0
        };
        let gpu_load = if self.gpus > 0 {
            (0.3 + 0.6 * demand.min(1.5) / 1.5).clamp(0.0, 1.0)
        } else {
            0.0
        };
        // Without GPUs the CPU drives the draw; with them, they do.
        let load = if self.gpus > 0 {
            0.3 * cpu + 0.7 * gpu_load
        } else {
            cpu
        };
        let draw = idle_w + (max_w - idle_w) * load.powf(0.9) + extra_w + fans_w;

        let target = self.ambient + self.idle_rise + 45.0 * cpu + DEGREES_PER_WATT * extra_w;
        let lagged = match self.package {
            None => target,
            Some(t) => t + (target - t) * (1.0 - (-dt / THERMAL_TAU_SECS).exp()),
        };
        self.package = Some(lagged);
        let package = lagged + fx.heat + 0.5 * rng.normal();
        out.push(sample(names::HW_TEMPERATURE, &PACKAGE_LABELS, package));
        out.push(sample(
            names::HW_TEMPERATURE,
            &[("chip", "acpitz"), ("sensor", "temp1")],
            self.ambient + 8.0 + 0.25 * (package - self.ambient),
        ));
        if self.nvme {
            out.push(sample(
                names::HW_TEMPERATURE,
                &[("chip", "nvme"), ("sensor", "Composite")],
                self.ambient + 12.0 + 10.0 * demand.min(2.0) + 0.2 * fx.heat,
            ));
        }
        for gpu in 0..self.gpus {
            out.push(sample(
                names::HW_TEMPERATURE,
                &[("chip", "nvidia"), ("sensor", &format!("GPU {gpu}"))],
                self.ambient + 15.0 + 45.0 * gpu_load + 0.5 * fx.heat + 0.5 * rng.normal(),
            ));
        }

        let wanted =
            FAN_MIN_RPM + (FAN_MAX_RPM - FAN_MIN_RPM) * ((package - 45.0) / 40.0).clamp(0.0, 1.0);
        for fan in 1..=self.fans {
            let rpm = match (fx.fan_failed, fan) {
                (true, 1) => 0.0,
                (true, _) => FAN_MAX_RPM,
                _ => wanted,
            } * (1.0 + 0.02 * rng.normal());
            out.push(sample(
                names::HW_FAN_SPEED,
                &[("chip", CHIP_FANS), ("sensor", &format!("fan{fan}"))],
                rpm.max(0.0).round(),
            ));
        }

        let psus = f64::from(self.psus.max(1));
        for psu in 1..=self.psus.max(1) {
            out.push(sample(
                names::HW_POWER,
                &[("chip", CHIP_PSU), ("sensor", &format!("psu{psu}"))],
                draw / psus * (1.0 + 0.02 * rng.normal()),
            ));
        }
    }
}
