//! Streaming anomaly detection for one series: a pure library (no I/O, no
//! clock, no protobuf types), so it runs inline on ingest, in tests and in
//! `hostwatch detect` with exactly the same code.
//!
//! An [`Engine`] takes one `(time, value)` at a time, in order, and answers
//! with an [`Output`]: a score in [0, 1], a severity, the expected value and
//! the evidence of every detector that fired. Per point it is O(1) or
//! O(window / refresh); state is a few rings of recent values.
//!
//! How the score is built:
//! - [`robust`]: distance from the median of the recent window in MADs;
//! - [`seasonal`]: distance from the same time of day on earlier days;
//! - each distance becomes a raw surprise in [0, 1], and [`likelihood`]
//!   judges how unusual the recent surprise is for *this* series;
//! - [`novelty`]: how far a value, and the moving average of the last few
//!   values, lie beyond the range of all history;
//! - the smallest of the four tail probabilities wins (×3, Bonferroni);
//! - [`alarm`]: calibration to [0, 1] and suppression of repeated alarms.
//!
//! Beside the score, [`zscore`] (the rolling z-score operators know) and the
//! configured [`threshold`]s report their own verdicts as evidence.

mod alarm;
pub mod incident;
mod likelihood;
pub mod multivariate;
mod novelty;
pub mod power;
mod ring;
mod robust;
mod seasonal;
pub mod threshold;
pub mod zscore;

use serde::{Deserialize, Serialize};

use threshold::{Threshold, ThresholdConfig};
use zscore::{RollingZScore, ZLevel, ZScoreConfig};

/// Every tunable of the engine. One set for every series: the defaults are
/// what `hostwatch detect` is scored with on NAB.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub zscore: ZScoreConfig,
    /// Points in the median/MAD window.
    pub robust_window: usize,
    /// Points between re-estimates of the median and MAD.
    pub robust_refresh: usize,
    /// Longest day, in points, the seasonal detector keeps (memory bound).
    pub seasonal_max_period: usize,
    /// Distance (in deviations) at which the raw surprise is ~0.39.
    pub raw_scale: f64,
    /// Points averaged for the recent surprise.
    pub likelihood_short: usize,
    /// Horizon, in points, of the long-run surprise distribution.
    pub likelihood_long: usize,
    /// Floor of the long-run deviation, so a perfectly quiet series does
    /// not turn the first tiny wobble into an alarm.
    pub likelihood_min_sd: f64,
    /// Points before the likelihood has an opinion.
    pub warmup: u64,
    /// Points before a value can be novel (beyond all earlier values).
    pub novelty_warmup: u64,
    /// Decades of surprise per envelope width a value lies beyond the
    /// envelope of all earlier values.
    pub novelty_scale: f64,
    /// Share of its width the envelope shrinks by per point.
    pub novelty_decay: f64,
    /// Points in the moving average whose own envelope is watched too.
    pub level_points: usize,
    /// Decades per envelope width for the moving average.
    pub level_scale: f64,
    /// Decades of surprise (-log10 tail) that score 0.5.
    pub score_half: f64,
    /// Score that opens an alarm.
    pub alarm_level: f64,
    /// Points after an alarm whose scores are damped.
    pub alarm_hold: u32,
    /// Factor applied to scores during the hold.
    pub alarm_damp: f64,
    /// Share of the way from the opening score to 1 a held score must
    /// climb to open a new alarm anyway (1 = never).
    pub alarm_escalate: f64,
    /// Score at which severity becomes low, medium, high, critical.
    pub severity_levels: [f64; 4],
    pub thresholds: Vec<ThresholdConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            zscore: ZScoreConfig::default(),
            robust_window: 400,
            robust_refresh: 8,
            seasonal_max_period: 1440,
            raw_scale: 5.0,
            likelihood_short: 20,
            likelihood_long: 2000,
            likelihood_min_sd: 0.03,
            warmup: 300,
            novelty_warmup: 150,
            novelty_scale: 150.0,
            novelty_decay: 1e-5,
            level_points: 20,
            level_scale: 150.0,
            score_half: 3.0,
            alarm_level: 0.7,
            alarm_hold: 20,
            alarm_damp: 0.5,
            alarm_escalate: 0.5,
            severity_levels: [0.5, 0.65, 0.8, 0.9],
            thresholds: Vec::new(),
        }
    }
}

impl Config {
    pub fn validate(&self) -> Result<(), String> {
        if self.zscore.window < 2 || self.robust_window < 4 || self.likelihood_short == 0 {
            return Err("detect: windows must hold at least a few points".into());
        }
        if !(self.raw_scale > 0.0 && self.score_half > 0.0) {
            return Err("detect: raw_scale and score_half must be positive".into());
        }
        if !(self.novelty_scale > 0.0 && self.level_scale > 0.0) || self.level_points == 0 {
            return Err(
                "detect: novelty_scale, level_scale and level_points must be positive".into(),
            );
        }
        if !self.severity_levels.windows(2).all(|w| w[0] <= w[1]) {
            return Err("detect: severity_levels must be increasing".into());
        }
        self.thresholds
            .iter()
            .try_for_each(ThresholdConfig::validate)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    None,
    Low,
    Medium,
    High,
    Critical,
}

/// Which detector an [`Evidence`] comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Detector {
    /// Rolling z-score; statistic = z.
    ZScore,
    /// Median/MAD distance; statistic = robust z.
    Robust,
    /// Same time on earlier days; statistic = residual in typical residuals.
    Seasonal,
    /// Beyond every earlier value; statistic = excess in widths of the
    /// range seen so far.
    Novelty,
    /// The moving average beyond every earlier one (a sustained shift to a
    /// level never held before); statistic as for `Novelty`.
    LevelNovelty,
    /// The combined verdict that opened an alarm; statistic = -log10 of its
    /// tail probability.
    Likelihood,
    /// Configured threshold number `n` is firing; statistic = the value.
    Threshold(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub detector: Detector,
    pub statistic: f64,
    /// What this detector expected the value to be, when it has a model.
    pub expected: Option<f64>,
}

/// The engine's verdict on one point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Output {
    /// Anomaly score in [0, 1].
    pub score: f64,
    /// The score before the alarm hold halved it (equal to `score` outside
    /// a hold): whether the series is still unusual a point after its
    /// alarm, which the damped score cannot tell.
    pub undamped: f64,
    pub severity: Severity,
    /// This point opened an alarm (the first of an incident).
    pub alarm: bool,
    pub actual: f64,
    pub expected: Option<f64>,
    /// Detectors that fired on this point; empty on most points.
    pub evidence: Vec<Evidence>,
}

/// Where a series' values raise no evidence from the model that explains it
/// best ([`Engine::band`]): what the dashboard draws behind the line.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Band {
    pub expected: f64,
    pub lo: f64,
    pub hi: f64,
}

/// Robust or seasonal distance at or above this is reported as evidence.
const EVIDENCE_Z: f64 = 3.5;

/// The streaming detector of one series.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Engine {
    cfg: Config,
    zscore: RollingZScore,
    robust: robust::Robust,
    seasonal: seasonal::Seasonal,
    /// One per scored detector: each is judged against its own usual
    /// surprise, so a detector that is always noisy on this series (a level
    /// detector on a daily wave) cannot drown one that is usually quiet.
    lik_robust: likelihood::Likelihood,
    lik_seasonal: likelihood::Likelihood,
    novelty: novelty::Novelty,
    level: novelty::LevelNovelty,
    alarm: alarm::Alarm,
    thresholds: Vec<Threshold>,
}

/// Layout version of [`Engine::snapshot`]: bumped whenever the state's
/// fields change, so an older snapshot is ignored rather than misread.
const SNAPSHOT_VERSION: u8 = 2;

impl Engine {
    /// The whole learned state (postcard after a version byte), so a
    /// restarted hub resumes warm instead of re-learning for hours.
    pub fn snapshot(&self) -> Vec<u8> {
        // Serializing plain numbers and vectors cannot fail; an empty
        // snapshot would simply not be restored.
        postcard::to_extend::<_, Vec<u8>>(self, vec![SNAPSHOT_VERSION]).unwrap_or_default()
    }

    /// An engine from [`Engine::snapshot`]; `None` when the bytes are of
    /// another version, do not decode, or were made under another `cfg`
    /// (a model learned with other windows would mislead the new ones).
    pub fn restore(bytes: &[u8], cfg: &Config) -> Option<Self> {
        let (&version, body) = bytes.split_first()?;
        if version != SNAPSHOT_VERSION {
            return None;
        }
        let engine: Self = postcard::from_bytes(body).ok()?;
        (engine.cfg == *cfg).then_some(engine)
    }

    pub fn new(cfg: Config) -> Self {
        Self {
            zscore: RollingZScore::new(cfg.zscore.clone()),
            robust: robust::Robust::new(cfg.robust_window, cfg.robust_refresh),
            seasonal: seasonal::Seasonal::new(cfg.seasonal_max_period),
            lik_robust: Self::likelihood(&cfg),
            lik_seasonal: Self::likelihood(&cfg),
            novelty: novelty::Novelty::new(cfg.novelty_warmup, cfg.novelty_decay),
            level: novelty::LevelNovelty::new(
                cfg.level_points,
                cfg.novelty_warmup,
                cfg.novelty_decay,
            ),
            alarm: alarm::Alarm::new(
                cfg.score_half,
                cfg.alarm_level,
                cfg.alarm_hold,
                cfg.alarm_damp,
                cfg.alarm_escalate,
            ),
            thresholds: cfg.thresholds.iter().cloned().map(Threshold::new).collect(),
            cfg,
        }
    }

    /// Scores `value` observed at `t` (seconds since the epoch), then learns
    /// from it. A non-finite value scores 0 and leaves the state untouched.
    pub fn update(&mut self, t: i64, value: f64) -> Output {
        if !value.is_finite() {
            return Output {
                score: 0.0,
                undamped: 0.0,
                severity: Severity::None,
                alarm: false,
                actual: value,
                expected: None,
                evidence: Vec::new(),
            };
        }
        let mut evidence = Vec::new();
        if let Some(z) = self.zscore.update(value) {
            if z.level != ZLevel::Normal {
                evidence.push(Evidence {
                    detector: Detector::ZScore,
                    statistic: z.z,
                    expected: Some(z.mean),
                });
            }
        }
        let robust = self.robust.update(value);
        let seasonal = self.seasonal.update(t, value);
        let raw_r = robust.map_or(0.0, |r| self.raw(r.z));
        let raw_s = seasonal.map_or(0.0, |s| self.raw(s.z));
        if let Some(r) = robust.filter(|r| r.z.abs() >= EVIDENCE_Z) {
            evidence.push(Evidence {
                detector: Detector::Robust,
                statistic: r.z,
                expected: Some(r.median),
            });
        }
        if let Some(s) = seasonal.filter(|s| s.z >= EVIDENCE_Z) {
            evidence.push(Evidence {
                detector: Detector::Seasonal,
                statistic: s.z,
                expected: Some(s.expected),
            });
        }
        // The expected value comes from whichever model explains the point
        // better: a seasonal series is judged against its usual day.
        let expected = match (robust, seasonal) {
            (Some(_), Some(s)) if raw_s < raw_r => Some(s.expected),
            (Some(r), _) => Some(r.median),
            (None, s) => s.map(|s| s.expected),
        };

        let tail_r = self.lik_robust.update(raw_r).tail;
        // The seasonal detector only votes once it has a model; before that
        // its tail is 1 (no evidence), not 0.5.
        let tail_s = match seasonal {
            Some(_) => self.lik_seasonal.update(raw_s).tail,
            None => 1.0,
        };
        // Novelty is already a tail of its own (one in 10^(scale × excess)),
        // not a surprise to be judged by a likelihood: a value beyond all
        // history is rare by construction, however noisy the series is.
        let tail_n = Self::novelty_tail(
            self.novelty.update(value),
            self.cfg.novelty_scale,
            Detector::Novelty,
            &mut evidence,
        );
        let tail_m = Self::novelty_tail(
            self.level.update(value),
            self.cfg.level_scale,
            Detector::LevelNovelty,
            &mut evidence,
        );
        // Several chances to fire: the smallest tail wins, times three
        // (Bonferroni, counting the two novelty tails as one: they are
        // strongly correlated), so more detectors do not mean more false
        // alarms.
        let tail = (3.0 * tail_r.min(tail_s).min(tail_n).min(tail_m)).min(1.0);
        let scored = self.alarm.update(tail);
        // An alarm far from the recent level is an incident, not the day's
        // shape: the daily model remembers it clipped to the edge of the
        // level's band, so the same time tomorrow is compared with a normal
        // day. (With one earlier day in memory, yesterday's spike would
        // make today's ordinary value a "missing peak".) Alarms of the
        // daily model alone are kept as they are: a day that changed shape
        // for good must become the new normal.
        if scored.undamped >= self.cfg.alarm_level {
            if let Some(r) = robust.filter(|r| r.z.abs() >= EVIDENCE_Z) {
                let edge = EVIDENCE_Z * self.robust.scale();
                self.seasonal
                    .amend_last(value.clamp(r.median - edge, r.median + edge));
            }
        }
        if scored.alarm {
            evidence.push(Evidence {
                detector: Detector::Likelihood,
                statistic: -tail.max(1e-300).log10(),
                expected,
            });
        }
        for (i, th) in self.thresholds.iter_mut().enumerate() {
            th.update(t, value);
            if th.is_firing() {
                evidence.push(Evidence {
                    detector: Detector::Threshold(i),
                    statistic: value,
                    expected: None,
                });
            }
        }
        let score = scored.score.clamp(0.0, 1.0);
        Output {
            score,
            undamped: scored.undamped.clamp(0.0, 1.0),
            severity: self.severity(score),
            alarm: scored.alarm,
            actual: value,
            expected,
            evidence,
        }
    }

    /// The band that applied to the point last given to [`Engine::update`]:
    /// the same time on earlier days ± [`EVIDENCE_Z`] typical residuals
    /// where the daily model explains the series better than its level
    /// does (its residuals are narrower than the level's spread), else the
    /// median ± `EVIDENCE_Z` robust deviations. `None` while both warm up.
    pub fn band(&self) -> Option<Band> {
        let robust = self.robust.band(EVIDENCE_Z);
        let seasonal = self
            .seasonal
            .band_of_last(EVIDENCE_Z)
            .filter(|_| robust.is_none() || self.seasonal.spread() < self.robust.scale());
        seasonal
            .or(robust)
            .map(|(expected, lo, hi)| Band { expected, lo, hi })
    }

    /// Excess beyond an envelope → tail probability `10^(-scale × excess)`,
    /// reporting the excess as evidence when there is one.
    fn novelty_tail(
        excess: Option<f64>,
        scale: f64,
        detector: Detector,
        evidence: &mut Vec<Evidence>,
    ) -> f64 {
        match excess {
            Some(e) if e > 0.0 => {
                evidence.push(Evidence {
                    detector,
                    statistic: e,
                    expected: None,
                });
                10f64.powf(-scale * e)
            }
            _ => 1.0,
        }
    }

    fn likelihood(cfg: &Config) -> likelihood::Likelihood {
        likelihood::Likelihood::new(
            cfg.likelihood_short,
            cfg.likelihood_long,
            cfg.likelihood_min_sd,
            cfg.warmup,
        )
    }

    /// Distance in deviations → surprise in [0, 1): a Gaussian-shaped
    /// curve, flat near zero so ordinary noise adds almost nothing.
    fn raw(&self, z: f64) -> f64 {
        let u = z / self.cfg.raw_scale;
        1.0 - (-0.5 * u * u).exp()
    }

    fn severity(&self, score: f64) -> Severity {
        let [low, medium, high, critical] = self.cfg.severity_levels;
        match score {
            s if s >= critical => Severity::Critical,
            s if s >= high => Severity::High,
            s if s >= medium => Severity::Medium,
            s if s >= low => Severity::Low,
            _ => Severity::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replays `input` at a 5-minute step through a default engine and
    /// compares the indices of the points that opened an alarm.
    fn check(input: &[f64], expected: &[usize]) {
        check_every(300, input, expected);
    }

    /// [`check`] at a step of `step` seconds.
    fn check_every(step: i64, input: &[f64], expected: &[usize]) {
        let mut engine = Engine::new(Config::default());
        let alarms: Vec<usize> = input
            .iter()
            .enumerate()
            .filter(|&(i, &x)| engine.update(i as i64 * step, x).alarm)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(alarms, expected);
    }

    /// A level that wanders inside 10..20 with deterministic jitter.
    fn wander(n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| 15.0 + 4.0 * (i as f64 / 37.0).sin() + [0.0, 0.7, -0.5, 0.3, -0.6][i % 5])
            .collect()
    }

    #[test]
    fn a_restored_snapshot_continues_exactly_where_the_model_was() {
        // 2 days at 5 min: the seasonal model has found its period.
        let mut input = wander(576);
        input[560..565].fill(25.0);
        let mut live = Engine::new(Config::default());
        for (i, &x) in input[..500].iter().enumerate() {
            live.update(i as i64 * 300, x);
        }
        let bytes = live.snapshot();
        let mut restored = Engine::restore(&bytes, &Config::default()).expect("restores");
        let mut cold = Engine::new(Config::default());
        let (mut warm_out, mut cold_out) = (Vec::new(), Vec::new());
        for (i, &x) in input.iter().enumerate().skip(500) {
            let t = i as i64 * 300;
            let out = restored.update(t, x);
            assert_eq!(live.update(t, x), out, "point {i}");
            warm_out.push(out);
            cold_out.push(cold.update(t, x));
        }
        // A cold engine sees those points differently: the test can tell a
        // warm model from a fresh one.
        assert_ne!(warm_out, cold_out);
    }

    #[test]
    fn snapshots_of_another_version_or_config_are_refused() {
        let mut e = Engine::new(Config::default());
        for i in 0..100 {
            e.update(i * 60, (i % 7) as f64);
        }
        let bytes = e.snapshot();
        assert!(Engine::restore(&bytes, &Config::default()).is_some());
        let mut other = Config::default();
        other.alarm_level += 0.01;
        assert!(Engine::restore(&bytes, &other).is_none());
        let mut old = bytes.clone();
        old[0] = SNAPSHOT_VERSION.wrapping_add(1);
        assert!(Engine::restore(&old, &Config::default()).is_none());
        assert!(Engine::restore(&bytes[..bytes.len() / 2], &Config::default()).is_none());
        assert!(Engine::restore(&[], &Config::default()).is_none());
    }

    #[test]
    fn a_quiet_wander_raises_nothing() {
        check(&wander(1000), &[]);
    }

    #[test]
    fn a_value_beyond_all_history_alarms_once() {
        // 25 is about half a range-width above anything seen: novel. It stays there
        // for 5 points, which is one incident, not five.
        let mut input = wander(1000);
        input[800..805].fill(25.0);
        check(&input, &[800]);
    }

    #[test]
    fn a_spike_on_the_only_earlier_day_is_not_expected_again_next_day() {
        // Two days of a flat, jittery level at one point a minute, with a
        // 5-minute spike at minute 1200 of the first day. Next day, the daily
        // model's only comparison is that day (it scores from minute 2160,
        // its likelihood from 2460): had it kept the spike, the ordinary
        // values at minute 2640 would look like a missing peak.
        let mut input: Vec<f64> = (0..2 * 1440)
            .map(|i| 0.25 + [0.0, 0.02, -0.015, 0.01, -0.02, 0.005, 0.015][i % 7])
            .collect();
        input[1200..1205].fill(0.9);
        check_every(60, &input, &[1200]);
    }

    #[test]
    fn novelty_is_reported_as_evidence() {
        let mut engine = Engine::new(Config::default());
        let mut last = None;
        for (i, &x) in wander(400).iter().chain([30.0].iter()).enumerate() {
            last = Some(engine.update(i as i64 * 300, x));
        }
        let out = last.expect("points were fed");
        assert!(out
            .evidence
            .iter()
            .any(|e| e.detector == Detector::Novelty && e.statistic > 1.0));
    }

    /// Feeds `input` at `step` seconds and returns each point's band.
    fn bands(input: &[f64], step: i64) -> Vec<Option<Band>> {
        let mut engine = Engine::new(Config::default());
        input
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                engine.update(i as i64 * step, x);
                engine.band()
            })
            .collect()
    }

    #[test]
    fn the_band_of_a_quiet_series_holds_it_once_warm() {
        let input = wander(1000);
        let got = bands(&input, 300);
        // Nothing while the level model warms up (a quarter of its window).
        assert!(got[0].is_none());
        let warm = got
            .iter()
            .position(Option::is_some)
            .expect("a band once warm");
        let inside = input[warm..]
            .iter()
            .zip(&got[warm..])
            .filter(|(x, b)| b.is_some_and(|b| b.lo <= **x && **x <= b.hi))
            .count();
        assert_eq!(
            inside,
            input.len() - warm,
            "a quiet wander stays in its band"
        );
        let b = got[999].expect("warm");
        assert!(b.lo < b.expected && b.expected < b.hi);
    }

    #[test]
    fn the_band_of_a_daily_wave_follows_the_time_of_day() {
        // Hourly points of a wave between 10 and 90, for five days: once the
        // daily model scores, the band at the trough and at the crest differ,
        // each hugging the value, instead of one band as wide as the day.
        let wave: Vec<f64> = (0..24 * 5)
            .map(|i| {
                50.0 - 40.0 * (i as f64 * std::f64::consts::TAU / 24.0).cos()
                    + [0.0, 0.4, -0.3][i % 3]
            })
            .collect();
        let got = bands(&wave, 3600);
        let (trough, crest) = (got[24 * 4].expect("warm"), got[24 * 4 + 12].expect("warm"));
        assert!(trough.hi < 30.0 && trough.lo <= wave[24 * 4], "{trough:?}");
        assert!(
            crest.lo > 70.0 && crest.hi >= wave[24 * 4 + 12],
            "{crest:?}"
        );
    }
}
