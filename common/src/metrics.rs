//! A tiny registry for our own `/metrics` in the Prometheus text format.
//!
//! Counters and gauges are atomics handed out once and updated lock-free on hot
//! paths; the registry's mutex is only taken to register and to render. Label
//! sets must stay low-cardinality (reasons, directions — never host names).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    /// A counter of seconds, kept as whole nanoseconds (lock-free adds).
    Seconds,
}

#[derive(Debug)]
struct Family {
    help: String,
    kind: Kind,
    /// Rendered label set (`{a="b"}` or empty) → value cell.
    cells: BTreeMap<String, Arc<AtomicU64>>,
}

/// Cloneable handle to one registry; each component owns one.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    families: Arc<Mutex<BTreeMap<String, Family>>>,
}

/// Monotonic counter.
#[derive(Debug, Clone)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Value that goes up and down; stored as f64 bits.
#[derive(Debug, Clone)]
pub struct Gauge(Arc<AtomicU64>);

impl Gauge {
    pub fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
    pub fn add(&self, d: f64) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + d).to_bits())
            });
    }
}

/// Monotonic counter of time spent (`..._seconds_total`): where a loop's
/// time goes, as `rate()` of each part.
#[derive(Debug, Clone)]
pub struct SecondsCounter(Arc<AtomicU64>);

impl SecondsCounter {
    pub fn add(&self, d: std::time::Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.0.fetch_add(ns, Ordering::Relaxed);
    }
    /// Adds the time since `start`.
    pub fn since(&self, start: std::time::Instant) {
        self.add(start.elapsed());
    }
    pub fn get(&self) -> f64 {
        self.0.load(Ordering::Relaxed) as f64 / 1e9
    }
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns the counter `name{labels}`, creating it at 0 on first use.
    pub fn counter(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Counter {
        Counter(self.cell(name, help, Kind::Counter, labels, 0))
    }

    /// Returns the seconds counter `name{labels}`, created at 0 on first use.
    pub fn seconds(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> SecondsCounter {
        SecondsCounter(self.cell(name, help, Kind::Seconds, labels, 0))
    }

    /// Returns the gauge `name{labels}`, creating it at 0.0 on first use.
    pub fn gauge(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Gauge {
        Gauge(self.cell(name, help, Kind::Gauge, labels, 0f64.to_bits()))
    }

    fn cell(
        &self,
        name: &str,
        help: &str,
        kind: Kind,
        labels: &[(&str, &str)],
        init: u64,
    ) -> Arc<AtomicU64> {
        let key = render_labels(labels);
        // A poisoned lock only means another thread panicked mid-insert; the map is
        // still usable, so take it rather than spread the panic.
        let mut fams = self.families.lock().unwrap_or_else(|p| p.into_inner());
        let fam = fams.entry(name.to_owned()).or_insert_with(|| Family {
            help: help.to_owned(),
            kind,
            cells: BTreeMap::new(),
        });
        fam.cells
            .entry(key)
            .or_insert_with(|| Arc::new(AtomicU64::new(init)))
            .clone()
    }

    /// Renders every family in the Prometheus text exposition format 0.0.4.
    pub fn render(&self) -> String {
        let fams = self.families.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        for (name, fam) in fams.iter() {
            let kind = match fam.kind {
                Kind::Counter | Kind::Seconds => "counter",
                Kind::Gauge => "gauge",
            };
            let _ = writeln!(out, "# HELP {name} {}", fam.help);
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, cell) in &fam.cells {
                let bits = cell.load(Ordering::Relaxed);
                match fam.kind {
                    Kind::Counter => {
                        let _ = writeln!(out, "{name}{labels} {bits}");
                    }
                    Kind::Gauge => {
                        let _ = writeln!(out, "{name}{labels} {}", fmt_f64(f64::from_bits(bits)));
                    }
                    Kind::Seconds => {
                        let _ = writeln!(out, "{name}{labels} {}", fmt_f64(bits as f64 / 1e9));
                    }
                }
            }
        }
        out
    }
}

/// Content type of [`Registry::render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

fn fmt_f64(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

fn render_labels(labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let mut sorted: Vec<_> = labels.to_vec();
    sorted.sort();
    let body: Vec<String> = sorted
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    format!("{{{}}}", body.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_gauges_with_escaped_labels() {
        let r = Registry::new();
        let c = r.counter("x_total", "Things.", &[("reason", "nan")]);
        c.add(3);
        r.counter("x_total", "Things.", &[("reason", "nan")]).inc();
        r.gauge("y", "Level.", &[]).set(1.5);
        r.counter("z_total", "Quoted.", &[("why", "a\"b")]);
        let text = r.render();
        assert!(text.contains("# TYPE x_total counter\nx_total{reason=\"nan\"} 4\n"));
        assert!(text.contains("y 1.5\n"));
        assert!(text.contains("z_total{why=\"a\\\"b\"} 0\n"));
    }

    #[test]
    fn seconds_counters_render_as_counters_in_seconds() {
        let r = Registry::new();
        let s = r.seconds("t_seconds_total", "Time.", &[("phase", "copy")]);
        s.add(std::time::Duration::from_millis(1500));
        s.add(std::time::Duration::from_micros(250));
        let text = r.render();
        assert!(text
            .contains("# TYPE t_seconds_total counter\nt_seconds_total{phase=\"copy\"} 1.50025\n"));
    }
}
