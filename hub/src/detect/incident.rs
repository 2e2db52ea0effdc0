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
//! ([`family`]), or one alarm that scores [`ALONE_SCORE`] or more by itself,
//! or a multivariate score of [`MV_CONFIRM`] or more while it is open. A lone
//! series that alarms on a burst its neighbours do not share is the most
//! common false alarm (busy disks, connection counts); such an incident closes
//! without ever being published.
//!
//! Pure: no I/O and no clock; the actor in `detection.rs` drives it.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::Arc;

use common::model::{AnomalyEvent, ProcessInfo, SeriesKey};

use super::multivariate::HostOutput;
use super::{Output, Severity};

/// Instants without a hot contributor that close an incident.
pub const QUIET_POINTS: u32 = 10;
/// A contributor's score at or above this keeps its incident open.
pub const QUIET_SCORE: f64 = 0.5;
/// A multivariate score at or above this keeps an open incident open.
pub const MV_QUIET: f64 = 0.7;
/// A single alarm this strong is published without corroboration, if its
/// series is not one that alarms often.
pub const ALONE_SCORE: f64 = 0.9;
/// A series that alarmed less than this long ago (a day) is "bursty": its
/// alarms need another family or the multivariate score to be believed.
pub const ALONE_AFTER_MS: i64 = 86_400_000;
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
                .any(|c| c.rare && c.score >= ALONE_SCORE)
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
            severity,
            alarm: false,
            actual: score * 10.0,
            expected: Some(1.0),
            evidence: Vec::new(),
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
                let o = Output {
                    alarm,
                    ..out(score)
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
        let mut strong = vec![(&[("system.disk.io.rate", 0.95, true)][..], None)];
        strong.extend([QUIET; 10]);
        check(&strong, &[(0, "publish"), (10, "close")]);
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
    fn a_strong_alarm_of_a_series_that_alarmed_within_a_day_needs_company() {
        let disk = Arc::new(SeriesKey::new("system.disk.io.rate"));
        let day = ALONE_AFTER_MS;
        let check = |previous: Option<i64>, expected: bool| {
            let t = 10 * day;
            let (mut inc, _) =
                Incident::open(1, ("h", "s"), &disk, t, &out(0.97), previous, Vec::new());
            let published = matches!(inc.end_instant(t), Step::Opened(_));
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
        instants.extend([QUIET; 10]);
        check(
            &instants,
            &[
                (0, "publish"),
                (12, "superseded"),
                (12, "publish"),
                (22, "close"),
            ],
        );
    }

    #[test]
    fn a_contributor_that_stays_hot_keeps_the_incident_open() {
        let mut instants = vec![(&[("system.memory.utilization", 0.95, true)][..], None)];
        instants.extend([(&[("system.memory.utilization", 0.6, false)][..], None); 15]);
        instants.extend([QUIET; 10]);
        check(&instants, &[(0, "publish"), (25, "close")]);
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
