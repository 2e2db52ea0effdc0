//! Host-level incidents: the alarms of a host's series that start close
//! together, and the host's multivariate score, become one incident.
//!
//! One real problem moves many series at once (a runaway process: CPU per
//! core and state, load, then heat, fans and power), and an operator wants
//! one event for it, not a dozen. An incident opens on the first series
//! alarm of a host with no open incident (that series *leads*: its name,
//! labels, actual and expected value are the event's), every later alarm on
//! the host joins it as a contributor, and it closes after
//! [`QUIET_POINTS`] instants in which no contributor scored
//! [`QUIET_SCORE`] or more and the multivariate score stayed below
//! [`MV_QUIET`].
//!
//! It is published (becomes an [`AnomalyEvent`]) only once it is
//! *corroborated*: contributors from at least two metric families
//! ([`family`]), or one alarm that scores [`ALONE_SCORE`] or more by itself
//! and *lasts* (its series' next reading, undamped by the alarm hold, still
//! scores [`LASTING_SCORE`] and is itself off its model, unless the alarm
//! lay [`FAR_NOVELTY`] beyond all history), or a multivariate score of
//! [`MV_CONFIRM`] or more while it is open. A lone series that alarms on a
//! burst its neighbours do not share is the most common false alarm (busy
//! disks, connection counts), and a counter's one-reading glitch the next;
//! such an incident closes without ever being published.
//!
//! Pure: no I/O and no clock; the actor in `detection.rs` drives it.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::Arc;

use common::model::{AnomalyEvent, ProcessInfo, SeriesKey};

use super::multivariate::HostOutput;
use super::{Detector, Output, Severity};

/// Instants without a hot contributor that close an incident.
pub const QUIET_POINTS: u32 = 10;
/// A contributor's score at or above this keeps its incident open.
pub const QUIET_SCORE: f64 = 0.5;
/// A multivariate score at or above this keeps an open incident open.
pub const MV_QUIET: f64 = 0.7;
/// A single alarm this strong is published without corroboration, if its
/// series is not one that alarms often.
pub const ALONE_SCORE: f64 = 0.9;
/// What the reading after a lone strong alarm must still score, before the
/// alarm hold's damping, for the alarm to count alone: a counter that
/// glitches for one reading (a burst of drops or errors, then zero again)
/// is not a problem worth waking anyone for; one that stays off is.
pub const LASTING_SCORE: f64 = 0.5;
/// A lone alarm whose value lies this many widths of the series' whole
/// range beyond anything it ever showed is believed at once, without
/// waiting for the next reading: that is no glitch of a counter's usual
/// noise (one dropped packet, where a few have been seen before).
pub const FAR_NOVELTY: f64 = 0.5;
/// A series that alarmed less than this long ago (six hours) is "bursty":
/// its alarms need another family or the multivariate score to be believed.
/// It was a day before lone alarms had to last; with glitches filtered by
/// that test, six hours found more (sim-f1 full runs 0.633 → 0.645 and
/// 0.732 → 0.740, `bench/README.md`).
pub const ALONE_AFTER_MS: i64 = 21_600_000;
/// A multivariate score that corroborates an open incident. High on purpose:
/// on the simulator (`bench/README.md`, sim-f1) corroborating at 0.8 let
/// lone bursts through (F1 0.51 → 0.42); at 0.95 it never hurt.
pub const MV_CONFIRM: f64 = 0.95;
/// Instants after an incident's latest alarm during which a new alarm joins
/// it; a later one starts a new incident (the first one is over, however
/// long its contributors stay above [`QUIET_SCORE`]).
pub const JOIN_GAP: u32 = 10;
/// The same for an incident not yet corroborated: a lone burst does not
/// get to swallow an unrelated problem that starts minutes later.
pub const JOIN_GAP_UNPUBLISHED: u32 = 3;
/// Contributors listed in the evidence; more are counted, not listed.
pub const MAX_LISTED: usize = 24;

/// The metric family of a series name: its first two dot-separated parts
/// (`system.cpu`, `hw.temperature`, `app.request`). Series of one family
/// move together by construction (utilization and time per CPU state, disk
/// bytes and operations), so agreement inside a family corroborates
/// nothing.
pub fn family(name: &str) -> &str {
    match name.match_indices('.').nth(1) {
        Some((i, _)) => &name[..i],
        None => name,
    }
}

/// What a series' engine said at one point, as an incident keeps it.
#[derive(Debug, Clone, PartialEq)]
struct Contribution {
    key: Arc<SeriesKey>,
    /// The series had not alarmed for [`ALONE_AFTER_MS`] before this
    /// incident: its alarm alone can be believed.
    rare: bool,
    score: f64,
    /// Its series' reading after the alarm was still off ([`lasts`]), or
    /// the alarm itself lay far beyond all history; `None` until that
    /// reading arrives.
    lasting: Option<bool>,
    severity: Severity,
    /// The detectors' evidence at the contributor's worst point.
    evidence: String,
}

/// Where a series' points go while it contributes to an incident: the
/// incident's id and the contributor's slot in it.
pub type Slot = (u64, usize);

/// What an instant's end changed.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Nothing anyone needs to hear about.
    Nothing,
    /// The incident is corroborated: published for the first time.
    Opened(AnomalyEvent),
    /// The published incident changed.
    Publish(AnomalyEvent),
    /// The incident is over; the final event if it was ever published.
    Closed(Option<AnomalyEvent>),
}

#[derive(Debug, Clone)]
pub struct Incident {
    event: AnomalyEvent,
    contributors: Vec<Contribution>,
    families: BTreeSet<String>,
    multivariate: Option<HostOutput>,
    quiet: u32,
    /// Instants since the latest alarm of a contributor.
    since_alarm: u32,
    /// A contributor (or the multivariate score) was hot this instant.
    hot: bool,
    published: bool,
    /// Changed since last published.
    dirty: bool,
}

impl Incident {
    /// Opens an incident on `key`'s alarm at `t` (unix ms). Returns it and
    /// the leading series' slot.
    pub fn open(
        id: u64,
        (host, site): (&str, &str),
        key: &Arc<SeriesKey>,
        t: i64,
        out: &Output,
        previous_alarm: Option<i64>,
        top_processes: Vec<ProcessInfo>,
    ) -> (Self, Slot) {
        let event = AnomalyEvent {
            id,
            host: host.to_owned(),
            site: site.to_owned(),
            name: key.name.clone(),
            labels: key.labels.clone(),
            start_ms: t,
            last_ms: t,
            end_ms: None,
            severity: severity_name(out.severity).to_owned(),
            score: out.score,
            actual: out.actual,
            expected: out.expected,
            evidence: Vec::new(),
            top_processes,
        };
        let mut inc = Self {
            event,
            contributors: Vec::new(),
            families: BTreeSet::new(),
            multivariate: None,
            quiet: 0,
            since_alarm: 0,
            hot: true,
            published: false,
            dirty: true,
        };
        let slot = inc.join(key, t, out, previous_alarm);
        (inc, slot)
    }

    pub fn id(&self) -> u64 {
        self.event.id
    }

    /// Whether a new alarm now still belongs to this incident.
    pub fn accepts(&self) -> bool {
        let gap = if self.published {
            JOIN_GAP
        } else {
            JOIN_GAP_UNPUBLISHED
        };
        self.since_alarm <= gap
    }

    /// Ends the incident now because a new one starts: the final event if
    /// it was ever published.
    pub fn supersede(&mut self) -> Option<AnomalyEvent> {
        self.event.end_ms = Some(self.event.last_ms);
        self.published.then(|| self.event())
    }

    /// A series alarmed while this incident is open: it contributes.
    /// `previous_alarm`: when the series last alarmed before this (unix ms).
    pub fn join(
        &mut self,
        key: &Arc<SeriesKey>,
        t: i64,
        out: &Output,
        previous_alarm: Option<i64>,
    ) -> Slot {
        let n = self.contributors.len();
        self.contributors.push(Contribution {
            key: key.clone(),
            rare: previous_alarm.is_none_or(|p| t - p >= ALONE_AFTER_MS),
            score: out.score,
            lasting: far_beyond_history(out).then_some(true),
            severity: out.severity,
            evidence: evidence(out),
        });
        if !self.families.contains(family(&key.name)) {
            self.families.insert(family(&key.name).to_owned());
        }
        self.since_alarm = 0;
        self.note(n, t, out);
        self.dirty = true;
        (self.event.id, n)
    }

    /// A later point of the contributor in `slot`.
    pub fn point(&mut self, slot: usize, t: i64, out: &Output) {
        let Some(c) = self.contributors.get_mut(slot) else {
            return;
        };
        if c.lasting.is_none() {
            c.lasting = Some(lasts(out));
        }
        if out.score > c.score {
            c.score = out.score;
            c.severity = c.severity.max(out.severity);
            c.evidence = evidence(out);
            self.dirty = true;
        }
        self.note(slot, t, out);
    }

    fn note(&mut self, slot: usize, t: i64, out: &Output) {
        self.event.last_ms = self.event.last_ms.max(t);
        if out.alarm {
            self.since_alarm = 0;
        }
        self.hot |= out.score >= QUIET_SCORE;
        if out.score > self.event.score {
            self.event.score = out.score;
            self.dirty = true;
        }
        let severity = severity_name(out.severity);
        if rank(severity) > rank(&self.event.severity) {
            self.event.severity = severity.to_owned();
            self.dirty = true;
        }
        // The leading series' worst point is the event's actual and
        // expected value: they describe the series the event is named after.
        if slot == 0 && out.score >= self.contributors[0].score {
            self.event.actual = out.actual;
            self.event.expected = out.expected;
        }
    }

    /// The host's multivariate verdict at this instant.
    pub fn multivariate(&mut self, mv: &HostOutput) {
        self.hot |= mv.score >= MV_QUIET;
        if self
            .multivariate
            .as_ref()
            .is_none_or(|m| mv.score > m.score)
        {
            self.dirty |= mv.score >= MV_QUIET;
            self.multivariate = Some(mv.clone());
        }
    }

    fn corroborated(&self) -> bool {
        self.families.len() >= 2
            || self
                .contributors
                .iter()
                .any(|c| c.rare && c.score >= ALONE_SCORE && c.lasting == Some(true))
            || self
                .multivariate
                .as_ref()
                .is_some_and(|m| m.score >= MV_CONFIRM)
    }

    /// Ends the instant at `t`: publishes, closes, or waits.
    pub fn end_instant(&mut self, t: i64) -> Step {
        self.quiet = if self.hot { 0 } else { self.quiet + 1 };
        self.since_alarm = self.since_alarm.saturating_add(1);
        self.hot = false;
        if self.quiet >= QUIET_POINTS {
            self.event.end_ms = Some(t);
            return Step::Closed(self.published.then(|| self.event()));
        }
        if !self.published && self.corroborated() {
            self.published = true;
            return Step::Opened(self.event());
        }
        if self.published && self.dirty {
            return Step::Publish(self.event());
        }
        Step::Nothing
    }

    /// The event as it stands, with one line of evidence per contributor.
    fn event(&mut self) -> AnomalyEvent {
        self.dirty = false;
        let mut lines: Vec<String> = self
            .contributors
            .iter()
            .take(MAX_LISTED)
            .map(|c| {
                let mut s = series_name(&c.key);
                let _ = write!(s, ": {:.2} {}", c.score, severity_name(c.severity));
                if !c.evidence.is_empty() {
                    let _ = write!(s, " ({})", c.evidence);
                }
                s
            })
            .collect();
        if self.contributors.len() > MAX_LISTED {
            lines.push(format!(
                "and {} more series",
                self.contributors.len() - MAX_LISTED
            ));
        }
        if let Some(m) = self.multivariate.as_ref().filter(|m| m.score >= MV_QUIET) {
            lines.push(m.describe());
        }
        self.event.evidence = lines;
        self.event.clone()
    }
}

/// Whether a reading right after an alarm shows the problem still there:
/// it scores [`LASTING_SCORE`] before the hold's damping, and the value
/// itself is off (far from the recent median or from its time of day).
/// The score alone is not enough: the likelihood judges a few points' mean,
/// so it still remembers a one-reading burst (a single dropped packet on a
/// counter that is otherwise zero) two readings later. Novelty is not asked:
/// its envelope shrinks a little every point, so a counter back at zero
/// lies a hair beyond it and reports an excess of 0.00.
fn lasts(out: &Output) -> bool {
    out.undamped >= LASTING_SCORE
        && out
            .evidence
            .iter()
            .any(|e| matches!(e.detector, Detector::Robust | Detector::Seasonal))
}

/// Whether the reading lies [`FAR_NOVELTY`] or more beyond all history.
fn far_beyond_history(out: &Output) -> bool {
    out.evidence
        .iter()
        .any(|e| e.detector == Detector::Novelty && e.statistic >= FAR_NOVELTY)
}

/// `name{k=v,…}`, as the evidence names a series.
fn series_name(key: &SeriesKey) -> String {
    let mut s = key.name.clone();
    if !key.labels.is_empty() {
        s.push('{');
        for (i, (k, v)) in key.labels.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(s, "{k}={v}");
        }
        s.push('}');
    }
    s
}

fn evidence(out: &Output) -> String {
    let parts: Vec<String> = out
        .evidence
        .iter()
        .map(|e| match e.expected {
            Some(x) => format!("{:?} {:.2}, expected {x:.4}", e.detector, e.statistic),
            None => format!("{:?} {:.2}", e.detector, e.statistic),
        })
        .collect();
    parts.join("; ")
}

pub fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::None | Severity::Low => "low",
        Severity::Medium => "medium",
        Severity::High => "high",
        Severity::Critical => "critical",
    }
}

fn rank(name: &str) -> u8 {
    match name {
        "critical" => 4,
        "high" => 3,
        "medium" => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::super::multivariate::Feature;
    use super::*;

    fn out(score: f64) -> Output {
        let severity = match score {
            s if s >= 0.9 => Severity::Critical,
            s if s >= 0.8 => Severity::High,
            s if s >= 0.65 => Severity::Medium,
            s if s >= 0.5 => Severity::Low,
            _ => Severity::None,
        };
        Output {
            score,
            undamped: score,
            severity,
            alarm: false,
            actual: score * 10.0,
            expected: Some(1.0),
            evidence: Vec::new(),
        }
    }

    /// [`out`] with the value itself off its median, as a hot reading is.
    fn off(score: f64) -> Output {
        Output {
            evidence: vec![super::super::Evidence {
                detector: Detector::Robust,
                statistic: 6.0,
                expected: Some(1.0),
            }],
            ..out(score)
        }
    }

    /// One instant of a host: (series name, score, alarm) rows and an
    /// optional multivariate score.
    type Instant<'a> = (&'a [(&'a str, f64, bool)], Option<f64>);

    /// Drives one incident, opened by the first alarm, through `instants`;
    /// returns at which instants it was published or closed
    /// (`"publish"`, `"close"`, `"close unpublished"`) and the final
    /// evidence length.
    fn check(instants: &[Instant], expected: &[(usize, &str)]) {
        let mut inc: Option<Incident> = None;
        let mut slots: std::collections::HashMap<String, Slot> = Default::default();
        let mut got = Vec::new();
        for (i, (rows, mv)) in instants.iter().enumerate() {
            let t = i as i64 * 60_000;
            for &(name, score, alarm) in rows.iter() {
                let key = Arc::new(SeriesKey::new(name));
                // Rows of 0.5 and up are hot: off their median too.
                let o = Output {
                    alarm,
                    ..if score >= 0.5 { off(score) } else { out(score) }
                };
                if alarm && inc.as_ref().is_some_and(|i| !i.accepts()) {
                    if let Some(old) = inc.as_mut().and_then(Incident::supersede) {
                        got.push((
                            i,
                            if old.end_ms == Some(old.last_ms) {
                                "superseded"
                            } else {
                                "superseded, ending elsewhere than its last activity"
                            },
                        ));
                    }
                    inc = None;
                    slots.clear();
                }
                match (&mut inc, slots.get(name)) {
                    (Some(open), Some(&(_, slot))) => open.point(slot, t, &o),
                    (Some(open), None) if alarm => {
                        slots.insert(name.into(), open.join(&key, t, &o, None));
                    }
                    (None, _) if alarm => {
                        let (open, slot) =
                            Incident::open(7, ("h", "s"), &key, t, &o, None, Vec::new());
                        inc = Some(open);
                        slots.insert(name.into(), slot);
                    }
                    _ => {}
                }
            }
            if let (Some(open), Some(score)) = (&mut inc, mv) {
                open.multivariate(&HostOutput {
                    score: *score,
                    confidence: 1.0,
                    worst: (Feature::Cpu, Feature::Power),
                    z: (0.0, 4.0),
                });
            }
            let Some(open) = &mut inc else { continue };
            match open.end_instant(t) {
                Step::Nothing => {}
                Step::Opened(_) => got.push((i, "publish")),
                Step::Publish(_) => got.push((i, "update")),
                Step::Closed(Some(_)) => {
                    got.push((i, "close"));
                    inc = None;
                    slots.clear();
                }
                Step::Closed(None) => {
                    got.push((i, "close unpublished"));
                    inc = None;
                    slots.clear();
                }
            }
        }
        assert_eq!(got, expected);
    }

    const QUIET: Instant = (&[], None);

    #[test]
    fn two_families_make_one_published_incident() {
        let mut instants = vec![
            (&[("system.cpu.utilization", 0.75, true)][..], None),
            (
                &[
                    ("system.cpu.utilization", 0.7, false),
                    ("hw.temperature", 0.8, true),
                ][..],
                None,
            ),
        ];
        instants.extend([QUIET; 10]);
        // Published when the second family joins; closed after 10 quiet
        // instants; the temperature did not open an incident of its own.
        check(&instants, &[(1, "publish"), (11, "close")]);
    }

    #[test]
    fn a_lone_moderate_alarm_is_never_published() {
        let mut instants = vec![(
            &[
                ("system.disk.io.rate", 0.8, true),
                ("system.disk.operations.rate", 0.8, true),
            ][..],
            None,
        )];
        instants.extend([QUIET; 10]);
        check(&instants, &[(10, "close unpublished")]);
    }

    #[test]
    fn a_strong_lone_alarm_or_the_multivariate_score_corroborates() {
        // It counts alone once its next reading shows it lasted.
        let mut strong = vec![
            (&[("system.disk.io.rate", 0.95, true)][..], None),
            (&[("system.disk.io.rate", 0.6, false)][..], None),
        ];
        strong.extend([QUIET; 10]);
        check(&strong, &[(1, "publish"), (11, "close")]);
        let mut backed = vec![
            (&[("hw.power", 0.75, true)][..], Some(0.75)),
            (&[][..], Some(0.97)),
        ];
        backed.extend([QUIET; 10]);
        // The multivariate score keeps it hot at instant 1, so the quiet
        // spell starts at instant 2.
        check(&backed, &[(1, "publish"), (11, "close")]);
    }

    #[test]
    fn a_strong_lone_alarm_that_does_not_last_is_never_published() {
        // A counter's one-reading burst: 0.97, then back to normal at once.
        let mut glitch = vec![
            (&[("system.network.dropped.rate", 0.97, true)][..], None),
            (&[("system.network.dropped.rate", 0.1, false)][..], None),
        ];
        glitch.extend([QUIET; 10]);
        check(&glitch, &[(10, "close unpublished")]);
        // The same alarm joined by a second family is believed at once.
        let mut corroborated = vec![(
            &[
                ("system.network.dropped.rate", 0.97, true),
                ("app.request.error_ratio", 0.75, true),
            ][..],
            None,
        )];
        corroborated.extend([QUIET; 10]);
        check(&corroborated, &[(0, "publish"), (10, "close")]);
    }

    #[test]
    fn the_reading_after_a_lone_alarm_must_be_off_its_model_not_only_score_high() {
        let drops = Arc::new(SeriesKey::new("system.network.dropped.rate"));
        // (undamped score of the next reading, its value off the median?)
        for (next, off_median, expected) in [
            (0.62, false, false), // the likelihood's echo of a one-reading burst
            (0.62, true, true),
            (0.45, true, false),
        ] {
            let (mut inc, (_, slot)) =
                Incident::open(1, ("h", "s"), &drops, 0, &out(0.96), None, Vec::new());
            inc.end_instant(0);
            let reading = if off_median { off(next) } else { out(next) };
            inc.point(slot, 60_000, &reading);
            let published = matches!(inc.end_instant(60_000), Step::Opened(_));
            assert_eq!(published, expected, "next reading {next}, off {off_median}");
        }
    }

    #[test]
    fn a_lone_alarm_far_beyond_all_history_is_believed_at_once() {
        let cpu = Arc::new(SeriesKey::new("system.cpu.utilization"));
        // (novelty excess of the alarm, published at its own instant?)
        for (excess, expected) in [
            (None, false),
            (Some(0.0), false),
            (Some(0.3), false),
            (Some(0.5), true),
            (Some(12.0), true),
        ] {
            let alarm = Output {
                evidence: excess
                    .map(|statistic| super::super::Evidence {
                        detector: Detector::Novelty,
                        statistic,
                        expected: None,
                    })
                    .into_iter()
                    .collect(),
                ..out(0.99)
            };
            let (mut inc, _) = Incident::open(1, ("h", "s"), &cpu, 0, &alarm, None, Vec::new());
            let published = matches!(inc.end_instant(0), Step::Opened(_));
            assert_eq!(published, expected, "novelty {excess:?}");
        }
    }

    #[test]
    fn a_strong_alarm_of_a_series_that_alarmed_recently_needs_company() {
        let disk = Arc::new(SeriesKey::new("system.disk.io.rate"));
        let day = ALONE_AFTER_MS;
        assert_eq!(day, 6 * 3_600_000);
        let check = |previous: Option<i64>, expected: bool| {
            let t = 10 * day;
            let (mut inc, (_, slot)) =
                Incident::open(1, ("h", "s"), &disk, t, &out(0.97), previous, Vec::new());
            assert_eq!(
                inc.end_instant(t),
                Step::Nothing,
                "waits for the next reading"
            );
            inc.point(slot, t + 60_000, &off(0.8));
            let published = matches!(inc.end_instant(t + 60_000), Step::Opened(_));
            assert_eq!(published, expected, "previous alarm {previous:?}");
        };
        check(None, true);
        check(Some(9 * day), true);
        check(Some(9 * day + 1), false);
        check(Some(10 * day - 60_000), false);
    }

    #[test]
    fn an_alarm_long_after_the_latest_one_starts_a_new_incident() {
        let hot = [("system.memory.utilization", 0.6, false)];
        let mut instants = vec![(&[("system.memory.utilization", 0.95, true)][..], None)];
        instants.extend([(&hot[..], None); 11]);
        // 12 instants after the memory alarm: not part of that incident.
        instants.push((&[("hw.temperature", 0.95, true)][..], None));
        instants.push((&[("hw.temperature", 0.7, false)][..], None));
        instants.extend([QUIET; 10]);
        check(
            &instants,
            &[
                (1, "publish"),
                (12, "superseded"),
                (13, "publish"),
                (23, "close"),
            ],
        );
    }

    #[test]
    fn a_contributor_that_stays_hot_keeps_the_incident_open() {
        let mut instants = vec![(&[("system.memory.utilization", 0.95, true)][..], None)];
        instants.extend([(&[("system.memory.utilization", 0.6, false)][..], None); 15]);
        instants.extend([QUIET; 10]);
        check(&instants, &[(1, "publish"), (25, "close")]);
    }

    #[test]
    fn evidence_lists_each_contributor_and_the_lead_names_the_event() {
        let cpu = Arc::new(SeriesKey::new("system.cpu.utilization").label("cpu", "cpu0"));
        let power = Arc::new(SeriesKey::new("hw.power"));
        let (mut inc, lead) = Incident::open(1, ("h", "s"), &cpu, 0, &out(0.7), None, Vec::new());
        let other = inc.join(&power, 60_000, &out(0.95), None);
        assert_eq!((lead, other), ((1, 0), (1, 1)));
        inc.point(0, 120_000, &out(0.8));
        let Step::Opened(ev) = inc.end_instant(120_000) else {
            panic!("published")
        };
        assert_eq!(
            (
                ev.name.as_str(),
                ev.labels["cpu"].as_str(),
                ev.actual,
                ev.score
            ),
            ("system.cpu.utilization", "cpu0", 8.0, 0.95)
        );
        assert_eq!(
            (ev.start_ms, ev.last_ms, ev.severity.as_str()),
            (0, 120_000, "critical")
        );
        assert_eq!(
            ev.evidence,
            vec![
                "system.cpu.utilization{cpu=cpu0}: 0.80 high".to_owned(),
                "hw.power: 0.95 critical".to_owned(),
            ]
        );
    }

    #[test]
    fn families_are_the_first_two_name_parts() {
        for (name, want) in [
            ("system.cpu.utilization", "system.cpu"),
            ("system.cpu.load_average.1m", "system.cpu"),
            ("hw.temperature", "hw.temperature"),
            ("app.request.latency", "app.request"),
            ("uptime", "uptime"),
        ] {
            assert_eq!(family(name), want);
        }
    }
}
