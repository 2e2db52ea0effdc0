//! Multivariate detection for one host: is the host's *combination* of
//! CPU, memory, load, traffic, disk, heat, power and request figures at one
//! instant unlike what this host usually shows together?
//!
//! A per-series engine sees each value alone; a power draw that is normal
//! for a busy host but not with its CPU idle is invisible to it. Here every
//! pair of [`Feature`]s gets a streaming half-space tree (Tan, Ting & Liu,
//! "Fast anomaly detection for streaming data", 2011) restricted to those two
//! dimensions: each level halves a cell of the previous one, alternating the
//! two axes, so the tree of a pair is a quadtree of counts and needs no
//! stored split values. As in half-space trees, each node counts the points
//! of the previous window (the *reference* mass) and of the current one (the
//! *latest* mass); every `window` points the latest becomes the reference.
//!
//! A point is scored in each pair tree by the density of the deepest cell on
//! its path that still held at least `min_mass` reference points (Laplace
//! smoothed, so an empty cell near the root is far less dense than an empty
//! cell at the finest level). Its log-density is compared with the mean
//! log-density of ordinary points (the previous window's points, scored the
//! same way) and with the lowest possible one: 0 when it is at least as
//! dense as usual, 1 when nothing in the reference was anywhere near it.
//! The host's score is the worst pair's, so a single broken correlation is
//! enough — and the pair that scored it is the explanation.
//!
//! Features are normalized robustly before they enter the trees: distance
//! from the median of the feature's recent window in MADs
//! ([`super::robust`]), squashed into (0, 1) with `tanh`. A cell boundary
//! shift per pair and axis comes from the seed, so the trees do not all cut
//! at the same places and runs are reproducible.
//!
//! Memory is fixed per host: 45 pairs × 2 windows × 255 `u16` counts
//! (≈ 45 KiB) plus ten robust windows of [`HostConfig::norm_window`] values
//! (≈ 19 KiB).

use serde::{Deserialize, Serialize};

use super::robust::Robust;

/// The host-level figures the detector looks at, each built from series the
/// agent sends (OpenTelemetry system conventions), one value per instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    /// `system.cpu.utilization` without a `cpu` label (the host's total).
    Cpu,
    /// `system.memory.utilization` without labels.
    Memory,
    /// `system.cpu.load_average.1m`.
    Load,
    /// Sum of `system.network.io.rate` over interfaces and directions.
    Network,
    /// Sum of `system.disk.io.rate` over devices and directions.
    Disk,
    /// Highest `hw.temperature`.
    Temperature,
    /// Sum of `hw.power`.
    Power,
    /// Highest `app.request.latency`.
    Latency,
    /// Highest `app.request.error_ratio`.
    Errors,
    /// Sum of `system.network.connections`.
    Connections,
}

pub const FEATURES: usize = 10;
const ALL: [Feature; FEATURES] = [
    Feature::Cpu,
    Feature::Memory,
    Feature::Load,
    Feature::Network,
    Feature::Disk,
    Feature::Temperature,
    Feature::Power,
    Feature::Latency,
    Feature::Errors,
    Feature::Connections,
];
const PAIRS: usize = FEATURES * (FEATURES - 1) / 2;

/// How several series of one feature combine into its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Combine {
    Sum,
    Max,
}

impl Feature {
    pub fn name(self) -> &'static str {
        match self {
            Feature::Cpu => "cpu",
            Feature::Memory => "memory",
            Feature::Load => "load",
            Feature::Network => "network",
            Feature::Disk => "disk",
            Feature::Temperature => "temperature",
            Feature::Power => "power",
            Feature::Latency => "latency",
            Feature::Errors => "errors",
            Feature::Connections => "connections",
        }
    }

    /// The feature a series feeds, by name and labels (`has_labels`: any
    /// label at all; `has_cpu`: a `cpu` label).
    pub fn of(name: &str, has_labels: bool, has_cpu: bool) -> Option<Self> {
        Some(match name {
            "system.cpu.utilization" if !has_cpu => Feature::Cpu,
            "system.memory.utilization" if !has_labels => Feature::Memory,
            "system.cpu.load_average.1m" => Feature::Load,
            "system.network.io.rate" => Feature::Network,
            "system.disk.io.rate" => Feature::Disk,
            "hw.temperature" => Feature::Temperature,
            "hw.power" => Feature::Power,
            "app.request.latency" => Feature::Latency,
            "app.request.error_ratio" => Feature::Errors,
            "system.network.connections" => Feature::Connections,
            _ => return None,
        })
    }

    fn combine(self) -> Combine {
        match self {
            Feature::Network | Feature::Disk | Feature::Power | Feature::Connections => {
                Combine::Sum
            }
            _ => Combine::Max,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One instant's feature values, folded from that instant's rows.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Features([Option<f64>; FEATURES]);

impl Features {
    /// Folds one row in; non-finite values are ignored.
    pub fn observe(&mut self, f: Feature, value: f64) {
        if !value.is_finite() {
            return;
        }
        let slot = &mut self.0[f.index()];
        *slot = Some(match (slot.take(), f.combine()) {
            (None, _) => value,
            (Some(v), Combine::Sum) => v + value,
            (Some(v), Combine::Max) => v.max(value),
        });
    }

    pub fn get(&self, f: Feature) -> Option<f64> {
        self.0[f.index()]
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(Option::is_none)
    }
}

/// The detector's parameters. One set for every host; part of a snapshot, so
/// a model learned under other parameters is not restored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostConfig {
    /// Points per half-space window (reference and latest mass).
    pub window: u32,
    /// Levels below the root of each pair tree (at most 15).
    pub depth: u32,
    /// Reference points a cell must hold for the walk to go deeper.
    pub min_mass: u16,
    /// Points in each feature's robust (median/MAD) window.
    pub norm_window: usize,
    /// Robust deviations at which a feature is `tanh(1)` of the way to the
    /// edge of (0, 1).
    pub squash: f64,
    pub seed: u64,
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            window: 256,
            depth: 7,
            min_mass: 3,
            norm_window: 240,
            squash: 3.0,
            seed: 0x686f_7374_7761_7463,
        }
    }
}

/// The verdict on one instant of a host.
#[derive(Debug, Clone, PartialEq)]
pub struct HostOutput {
    /// Anomaly score in [0, 1].
    pub score: f64,
    /// How much of the model stands behind the score, in [0, 1]: the share
    /// of pair trees that could score this instant (both features present
    /// and warmed up).
    pub confidence: f64,
    /// The pair that scored worst, and each feature's robust z.
    pub worst: (Feature, Feature),
    pub z: (f64, f64),
}

impl HostOutput {
    /// One line of evidence: the score and the pair that explains it.
    pub fn describe(&self) -> String {
        format!(
            "multivariate: {:.2} (confidence {:.2}): {} z {:+.1} with {} z {:+.1}",
            self.score,
            self.confidence,
            self.worst.0.name(),
            self.z.0,
            self.worst.1.name(),
            self.z.1
        )
    }
}

/// One pair's quadtree of counts, all levels in one array (level `d` has
/// `2^d` cells starting at index `2^d - 1`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PairTree {
    a: usize,
    b: usize,
    /// Cell-boundary shift per axis, in finest cells, from the seed.
    shift: (f64, f64),
    reference: Vec<u16>,
    latest: Vec<u16>,
    /// Points counted in each window.
    n_reference: u32,
    n_latest: u32,
    /// Mean log2-density of the reference window's points against the
    /// window before it; `None` until two windows have passed.
    typical: Option<f64>,
    sum_latest: f64,
    scored_latest: u32,
}

impl PairTree {
    fn new(a: usize, b: usize, shift: (f64, f64), depth: u32) -> Self {
        let nodes = (1usize << (depth + 1)) - 1;
        Self {
            a,
            b,
            shift,
            reference: vec![0; nodes],
            latest: vec![0; nodes],
            n_reference: 0,
            n_latest: 0,
            typical: None,
            sum_latest: 0.0,
            scored_latest: 0,
        }
    }

    /// Index of the cell holding `(u, v)` at `level`.
    fn cell(&self, u: f64, v: f64, level: u32, depth: u32) -> usize {
        // Level d cuts axis a ceil(d/2) times and axis b floor(d/2) times.
        let (na, nb) = (1usize << level.div_ceil(2), 1usize << (level / 2));
        let (fa, fb) = (1usize << depth.div_ceil(2), 1usize << (depth / 2));
        // The shift moves every boundary by up to one finest cell; the
        // squashed values never reach 0 or 1, so the last cell stays open.
        let ua = (u + self.shift.0 / fa as f64) / (1.0 + 1.0 / fa as f64);
        let vb = (v + self.shift.1 / fb as f64) / (1.0 + 1.0 / fb as f64);
        let ia = ((ua * na as f64) as usize).min(na - 1);
        let ib = ((vb * nb as f64) as usize).min(nb - 1);
        (1usize << level) - 1 + ia * nb + ib
    }

    /// Log2 of the smoothed density of the deepest cell on the path that
    /// held `min_mass` reference points, relative to a uniform spread.
    fn log_density(&self, u: f64, v: f64, depth: u32, min_mass: u16) -> f64 {
        let n = f64::from(self.n_reference);
        let mut best = (f64::from(self.reference[0]), 0u32);
        for level in 1..=depth {
            let r = self.reference[self.cell(u, v, level, depth)];
            best = (f64::from(r), level);
            if r < min_mass {
                break;
            }
        }
        ((best.0 + 1.0) * f64::from(1u32 << best.1) / (n + 1.0)).log2()
    }

    /// Scores `(u, v)` (against the reference), then counts it as latest.
    fn update(&mut self, u: f64, v: f64, cfg: &HostConfig) -> Option<f64> {
        let score = (self.n_reference > 0).then(|| {
            let l = self.log_density(u, v, cfg.depth, cfg.min_mass);
            self.sum_latest += l;
            self.scored_latest += 1;
            self.typical.map(|typical| {
                let lowest = (1.0 / (f64::from(self.n_reference) + 1.0)).log2();
                if typical <= lowest {
                    return 0.0;
                }
                ((typical - l) / (typical - lowest)).clamp(0.0, 1.0)
            })
        });
        for level in 0..=cfg.depth {
            let i = self.cell(u, v, level, cfg.depth);
            self.latest[i] = self.latest[i].saturating_add(1);
        }
        self.n_latest += 1;
        score.flatten()
    }

    /// The latest window becomes the reference.
    fn roll(&mut self) {
        std::mem::swap(&mut self.reference, &mut self.latest);
        self.latest.fill(0);
        self.n_reference = std::mem::take(&mut self.n_latest);
        self.typical = (self.scored_latest > 0)
            .then(|| self.sum_latest / f64::from(self.scored_latest))
            .or(self.typical);
        self.sum_latest = 0.0;
        self.scored_latest = 0;
    }
}

/// Layout version of [`HostModel::snapshot`].
const SNAPSHOT_VERSION: u8 = 1;

/// The multivariate model of one host.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostModel {
    cfg: HostConfig,
    norm: Vec<Robust>,
    trees: Vec<PairTree>,
    /// Points since the windows last rolled.
    in_window: u32,
}

impl HostModel {
    pub fn new(cfg: HostConfig) -> Self {
        let cfg = HostConfig {
            depth: cfg.depth.clamp(1, 15),
            window: cfg.window.clamp(1, u32::from(u16::MAX)),
            ..cfg
        };
        let mut rng = SplitMix(cfg.seed);
        let mut trees = Vec::with_capacity(PAIRS);
        for a in 0..FEATURES {
            for b in a + 1..FEATURES {
                let shift = (rng.unit(), rng.unit());
                trees.push(PairTree::new(a, b, shift, cfg.depth));
            }
        }
        Self {
            norm: (0..FEATURES)
                .map(|_| Robust::new(cfg.norm_window, 8))
                .collect(),
            trees,
            in_window: 0,
            cfg,
        }
    }

    pub fn snapshot(&self) -> Vec<u8> {
        // Plain numbers and vectors: serializing cannot fail; an empty
        // snapshot is simply not restored.
        postcard::to_extend::<_, Vec<u8>>(self, vec![SNAPSHOT_VERSION]).unwrap_or_default()
    }

    /// A model from [`HostModel::snapshot`]; `None` for another version,
    /// undecodable bytes, or a model made under another `cfg`.
    pub fn restore(bytes: &[u8], cfg: &HostConfig) -> Option<Self> {
        let (&version, body) = bytes.split_first()?;
        if version != SNAPSHOT_VERSION {
            return None;
        }
        let m: Self = postcard::from_bytes(body).ok()?;
        let nodes = (1usize << (m.cfg.depth + 1)) - 1;
        let consistent = m.trees.len() == PAIRS
            && m.norm.len() == FEATURES
            && m.trees
                .iter()
                .all(|t| t.reference.len() == nodes && t.latest.len() == nodes);
        (m.cfg == *cfg && consistent).then_some(m)
    }

    /// Scores one instant, then learns from it. `None` while no pair can
    /// score yet (warm-up: two windows) or when no feature is present.
    pub fn update(&mut self, features: &Features) -> Option<HostOutput> {
        let mut u = [None; FEATURES];
        let mut z = [0.0; FEATURES];
        for (i, f) in ALL.iter().enumerate() {
            if let Some(x) = features.get(*f) {
                if let Some(r) = self.norm[i].update(x) {
                    z[i] = r.z;
                    u[i] = Some(0.5 + 0.5 * (r.z / self.cfg.squash).tanh());
                }
            }
        }
        let mut worst: Option<(f64, usize)> = None;
        let mut scored = 0usize;
        for (n, tree) in self.trees.iter_mut().enumerate() {
            let (Some(a), Some(b)) = (u[tree.a], u[tree.b]) else {
                continue;
            };
            if let Some(s) = tree.update(a, b, &self.cfg) {
                scored += 1;
                if worst.is_none_or(|(w, _)| s > w) {
                    worst = Some((s, n));
                }
            }
        }
        self.in_window += 1;
        if self.in_window >= self.cfg.window {
            self.in_window = 0;
            self.trees.iter_mut().for_each(PairTree::roll);
        }
        let (score, n) = worst?;
        let tree = &self.trees[n];
        Some(HostOutput {
            score,
            confidence: scored as f64 / PAIRS as f64,
            worst: (ALL[tree.a], ALL[tree.b]),
            z: (z[tree.a], z[tree.b]),
        })
    }
}

/// SplitMix64: a tiny seeded generator, enough for cell shifts.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic noise in [-1, 1].
    fn noise(i: usize, k: u64) -> f64 {
        let mut r = SplitMix(i as u64 * 31 + k);
        2.0 * r.unit() - 1.0
    }

    /// Instants of a host whose CPU wanders and whose power follows it.
    fn correlated(n: usize) -> Vec<Features> {
        (0..n)
            .map(|i| {
                let cpu = 0.5 + 0.3 * (i as f64 / 50.0).sin() + 0.03 * noise(i, 1);
                let mut f = Features::default();
                f.observe(Feature::Cpu, cpu);
                f.observe(Feature::Power, 100.0 + 200.0 * cpu + 3.0 * noise(i, 2));
                f
            })
            .collect()
    }

    /// Runs `input` through a default model and returns, for each index in
    /// `at`, whether its score reached 0.5 (`None`: no score yet).
    fn check(input: &[Features], at: &[usize], expected: &[Option<bool>]) {
        let mut m = HostModel::new(HostConfig::default());
        let out: Vec<Option<HostOutput>> = input.iter().map(|f| m.update(f)).collect();
        let got: Vec<Option<bool>> = at
            .iter()
            .map(|&i| out[i].as_ref().map(|o| o.score >= 0.5))
            .collect();
        assert_eq!(
            got,
            expected,
            "{:?}",
            at.iter().map(|&i| &out[i]).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_broken_correlation_is_flagged_although_each_value_is_in_range() {
        let mut input = correlated(2000);
        // CPU high, power low: each inside its own usual range, never
        // together.
        let mut broken = Features::default();
        broken.observe(Feature::Cpu, 0.75);
        broken.observe(Feature::Power, 160.0);
        input[1500] = broken;
        // The same values, each with its usual partner, are ordinary.
        let mut high = Features::default();
        high.observe(Feature::Cpu, 0.75);
        high.observe(Feature::Power, 250.0);
        input[1700] = high;
        check(
            &input,
            &[100, 600, 1500, 1700],
            &[None, Some(false), Some(true), Some(false)],
        );
    }

    #[test]
    fn steady_data_scores_low() {
        let input = correlated(3000);
        let mut m = HostModel::new(HostConfig::default());
        let scores: Vec<f64> = input
            .iter()
            .filter_map(|f| m.update(f))
            .map(|o| o.score)
            .collect();
        assert!(scores.len() > 2000);
        // Below what corroborates an incident (0.8) everywhere, and below
        // what keeps one open (0.7) at 99 % of instants.
        let high = scores.iter().filter(|&&s| s >= 0.7).count();
        assert!(scores.iter().all(|&s| s < 0.8));
        assert!(high * 100 <= scores.len(), "{high} of {}", scores.len());
    }

    #[test]
    fn one_feature_far_out_is_flagged_and_explained() {
        let mut input = correlated(2000);
        input[1500].observe(Feature::Cpu, 50.0);
        let mut m = HostModel::new(HostConfig::default());
        let out = input.iter().map(|f| m.update(f)).nth(1500).flatten();
        let out = out.expect("scored");
        assert!(out.score > 0.8, "{out:?}");
        assert_eq!(out.worst, (Feature::Cpu, Feature::Power));
        assert!(out.describe().starts_with("multivariate: "));
    }

    #[test]
    fn the_same_seed_gives_the_same_scores_and_another_seed_other_cuts() {
        let input = correlated(1200);
        let run = |seed| {
            let mut m = HostModel::new(HostConfig {
                seed,
                ..HostConfig::default()
            });
            input
                .iter()
                .map(|f| m.update(f).map(|o| o.score))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }

    #[test]
    fn a_restored_snapshot_continues_exactly() {
        let input = correlated(1500);
        let mut live = HostModel::new(HostConfig::default());
        for f in &input[..900] {
            live.update(f);
        }
        let mut restored =
            HostModel::restore(&live.snapshot(), &HostConfig::default()).expect("restores");
        for f in &input[900..] {
            assert_eq!(live.update(f), restored.update(f));
        }
        let other = HostConfig {
            window: 100,
            ..HostConfig::default()
        };
        assert!(HostModel::restore(&live.snapshot(), &other).is_none());
        let mut old = live.snapshot();
        old[0] = SNAPSHOT_VERSION + 1;
        assert!(HostModel::restore(&old, &HostConfig::default()).is_none());
        assert!(HostModel::restore(&[], &HostConfig::default()).is_none());
    }

    #[test]
    fn features_fold_by_their_rule() {
        let check = |rows: &[(&str, bool, bool, f64)], expected: &[(Feature, Option<f64>)]| {
            let mut f = Features::default();
            for &(name, labels, cpu, v) in rows {
                if let Some(feat) = Feature::of(name, labels, cpu) {
                    f.observe(feat, v);
                }
            }
            for &(feat, want) in expected {
                assert_eq!(f.get(feat), want, "{feat:?}");
            }
        };
        check(
            &[
                ("system.cpu.utilization", true, true, 0.9),
                ("system.cpu.utilization", false, false, 0.4),
                ("system.network.io.rate", true, false, 10.0),
                ("system.network.io.rate", true, false, 5.0),
                ("hw.temperature", true, false, 50.0),
                ("hw.temperature", true, false, 70.0),
                ("system.memory.utilization", true, false, 0.3),
                ("hw.power", true, false, f64::NAN),
            ],
            &[
                (Feature::Cpu, Some(0.4)),
                (Feature::Network, Some(15.0)),
                (Feature::Temperature, Some(70.0)),
                (Feature::Memory, None),
                (Feature::Power, None),
            ],
        );
    }
}
