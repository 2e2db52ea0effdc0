//! The three headline percentages a host card shows, derived from the latest
//! values of well-known series. Hub and edge both call this so the numbers agree.

use crate::model::SeriesKey;

/// CPU, memory and disk utilisation in percent (0–100).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Headline {
    pub cpu: Option<f64>,
    pub memory: Option<f64>,
    pub disk: Option<f64>,
}

impl Headline {
    /// Folds one latest value in. Disk is the fullest filesystem, since that is
    /// the one that runs out first.
    pub fn observe(&mut self, key: &SeriesKey, value: f64) {
        if !value.is_finite() {
            return;
        }
        let pct = (value * 100.0).clamp(0.0, 100.0);
        match key.name.as_str() {
            "system.cpu.utilization" if !key.labels.contains_key("cpu") => self.cpu = Some(pct),
            "system.memory.utilization" if key.labels.is_empty() => self.memory = Some(pct),
            "system.filesystem.utilization" => {
                self.disk = Some(self.disk.map_or(pct, |d| d.max(pct)));
            }
            _ => {}
        }
    }

    pub fn from_latest<'a>(latest: impl IntoIterator<Item = (&'a SeriesKey, f64)>) -> Self {
        let mut h = Self::default();
        for (k, v) in latest {
            h.observe(k, v);
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_core_cpu_does_not_count_as_total_and_disk_takes_fullest() {
        let total = SeriesKey::new("system.cpu.utilization");
        let core = SeriesKey::new("system.cpu.utilization").label("cpu", "cpu0");
        let root = SeriesKey::new("system.filesystem.utilization").label("mountpoint", "/");
        let var = SeriesKey::new("system.filesystem.utilization").label("mountpoint", "/var");
        let h = Headline::from_latest([(&core, 0.9), (&total, 0.25), (&root, 0.5), (&var, 0.8)]);
        assert_eq!(h.cpu, Some(25.0));
        assert_eq!(h.disk, Some(80.0));
        assert_eq!(h.memory, None);
    }
}
