//! Temperatures and fan speeds from `/sys/class/hwmon`, read the way psutil's
//! `sensors_temperatures()` and `sensors_fans()` read them: `tempN_input` in
//! millidegrees and `fanN_input` in rpm, in each `hwmonK` directory or its
//! `device/` subdirectory, the chip named by the `name` file beside them and
//! the sensor by `tempN_label` / `fanN_label`. Without any hwmon temperature,
//! psutil falls back to `/sys/class/thermal/thermal_zone*` and so do we.
//!
//! A host without sensors (most VMs) reports nothing. An entry whose input is
//! unreadable or not a number is skipped, as psutil skips it: hwmon drivers
//! return EIO or garbage for absent probes routinely.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use common::model::Sample;

use super::sample;

/// Degrees Celsius, labels `chip`, `sensor`; psutil
/// `sensors_temperatures()[chip][i].current`.
pub const TEMPERATURE: &str = "hw.temperature";
/// Revolutions per minute, labels `chip`, `sensor`; psutil
/// `sensors_fans()[chip][i].current`.
pub const FAN_SPEED: &str = "hw.fan.speed";

pub(crate) struct Sensors {
    hwmon: PathBuf,
    thermal: PathBuf,
}

impl Sensors {
    pub(crate) fn new() -> Self {
        Self::with_roots("/sys/class/hwmon", "/sys/class/thermal")
    }

    pub(crate) fn with_roots(hwmon: impl Into<PathBuf>, thermal: impl Into<PathBuf>) -> Self {
        Self {
            hwmon: hwmon.into(),
            thermal: thermal.into(),
        }
    }

    /// Never fails: a missing tree is a host without sensors.
    pub(crate) fn collect(&self) -> Vec<Sample> {
        let mut out = Vec::new();
        let mut chips_seen = HashSet::new();
        for hwmon in sorted_entries(&self.hwmon, "hwmon") {
            // psutil looks in both; drivers put the files in one or the other.
            for dir in [hwmon.clone(), hwmon.join("device")] {
                let Some(name) = read_trimmed(&dir.join("name")) else {
                    continue;
                };
                // Two chips of one kind (two NVMe drives) get distinct labels.
                let chip = if chips_seen.insert(name.clone()) {
                    name
                } else {
                    format!("{name}@{}", file_name(&hwmon))
                };
                hwmon_inputs(&dir, &chip, "temp", TEMPERATURE, 1000.0, &mut out);
                hwmon_inputs(&dir, &chip, "fan", FAN_SPEED, 1.0, &mut out);
            }
        }
        if !out.iter().any(|s| s.name == TEMPERATURE) {
            for zone in sorted_entries(&self.thermal, "thermal_zone") {
                let (Some(kind), Some(value)) = (
                    read_trimmed(&zone.join("type")),
                    read_number(&zone.join("temp")),
                ) else {
                    continue;
                };
                let sensor = file_name(&zone);
                out.push(sample(
                    TEMPERATURE,
                    &[("chip", &kind), ("sensor", &sensor)],
                    value / 1000.0,
                ));
            }
        }
        out
    }
}

/// Every `{prefix}N_input` in `dir`, in N order, as `metric{chip, sensor}`.
fn hwmon_inputs(
    dir: &Path,
    chip: &str,
    prefix: &str,
    metric: &str,
    divisor: f64,
    out: &mut Vec<Sample>,
) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut indices: Vec<u32> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_prefix(prefix)?
                .strip_suffix("_input")?
                .parse()
                .ok()
        })
        .collect();
    indices.sort_unstable();
    for index in indices {
        let Some(value) = read_number(&dir.join(format!("{prefix}{index}_input"))) else {
            continue;
        };
        let sensor = read_trimmed(&dir.join(format!("{prefix}{index}_label")))
            .filter(|label| !label.is_empty())
            .unwrap_or_else(|| format!("{prefix}{index}"));
        out.push(sample(
            metric,
            &[("chip", chip), ("sensor", &sensor)],
            value / divisor,
        ));
    }
}

/// Entries of `root` named `{prefix}N`, sorted by N (hwmon10 after hwmon9).
fn sorted_entries(root: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(root) else {
        return Vec::new();
    };
    let mut found: Vec<(u32, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let index = e.file_name().to_str()?.strip_prefix(prefix)?.parse().ok()?;
            Some((index, e.path()))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, path)| path).collect()
}

fn read_trimmed(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_owned())
}

fn read_number(path: &Path) -> Option<f64> {
    read_trimmed(path)?.parse().ok()
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, path: &str, text: &str) {
        let path = root.join(path);
        fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
        fs::write(path, text).expect("write");
    }

    fn render(samples: &[Sample]) -> Vec<String> {
        samples
            .iter()
            .map(|s| {
                format!(
                    "{} {}/{} {}",
                    s.name, s.labels["chip"], s.labels["sensor"], s.value
                )
            })
            .collect()
    }

    #[test]
    fn reads_a_hwmon_tree() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        write(root, "hwmon/hwmon0/name", "coretemp\n");
        write(root, "hwmon/hwmon0/temp1_input", "45000\n");
        write(root, "hwmon/hwmon0/temp1_label", "Package id 0\n");
        write(root, "hwmon/hwmon0/temp2_input", "41500\n");
        write(root, "hwmon/hwmon0/temp2_label", "Core 0\n");
        write(root, "hwmon/hwmon0/temp10_input", "40000\n");
        write(root, "hwmon/hwmon0/temp2_max", "100000\n");
        // An absent probe: the driver returns garbage, the entry is skipped.
        write(root, "hwmon/hwmon0/temp3_input", "N/A\n");
        // Files one level down, fans, no label.
        write(root, "hwmon/hwmon2/device/name", "nct6775\n");
        write(root, "hwmon/hwmon2/device/fan1_input", "1200\n");
        write(root, "hwmon/hwmon2/device/temp1_input", "-5000\n");
        // A second chip of the same kind.
        write(root, "hwmon/hwmon10/name", "coretemp\n");
        write(root, "hwmon/hwmon10/temp1_input", "30000\n");
        // No name file: psutil skips the chip.
        write(root, "hwmon/hwmon11/temp1_input", "30000\n");
        // Thermal zones are only a fallback.
        write(root, "thermal/thermal_zone0/type", "acpitz\n");
        write(root, "thermal/thermal_zone0/temp", "50000\n");

        let sensors = Sensors::with_roots(root.join("hwmon"), root.join("thermal"));
        assert_eq!(
            render(&sensors.collect()),
            [
                "hw.temperature coretemp/Package id 0 45",
                "hw.temperature coretemp/Core 0 41.5",
                "hw.temperature coretemp/temp10 40",
                "hw.temperature nct6775/temp1 -5",
                "hw.fan.speed nct6775/fan1 1200",
                "hw.temperature coretemp@hwmon10/temp1 30",
            ]
        );
    }

    #[test]
    fn thermal_zones_when_hwmon_has_no_temperature() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        write(root, "thermal/thermal_zone0/type", "acpitz\n");
        write(root, "thermal/thermal_zone0/temp", "50000\n");
        write(root, "thermal/thermal_zone1/type", "x86_pkg_temp\n");
        write(root, "thermal/thermal_zone1/temp", "garbage\n");
        write(root, "thermal/cooling_device0/type", "Processor\n");
        let sensors = Sensors::with_roots(root.join("hwmon"), root.join("thermal"));
        assert_eq!(
            render(&sensors.collect()),
            ["hw.temperature acpitz/thermal_zone0 50"]
        );
    }

    #[test]
    fn no_tree_is_no_sensor() {
        let dir = tempfile::tempdir().expect("temp dir");
        let sensors = Sensors::with_roots(dir.path().join("a"), dir.path().join("b"));
        assert!(sensors.collect().is_empty());
    }
}
