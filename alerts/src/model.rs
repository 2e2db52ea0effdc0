//! What an alert is: a label set (its identity, hashed into a fingerprint),
//! annotations, and the span it fires over. Severity is a label with an order.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub type LabelSet = BTreeMap<String, String>;

/// Label naming an alert's kind, as in Prometheus.
pub const ALERTNAME: &str = "alertname";
/// Label holding the severity, compared with `severity>=high` matchers.
pub const SEVERITY: &str = "severity";

/// Identity of an alert: a hash of its sorted labels, so the same labels sent
/// twice (a Prometheus resend, an edge replay) are the same alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Fingerprint(pub u64);

impl Fingerprint {
    /// The identity of an alert from `origin`. A detection incident changes
    /// severity as it worsens but stays one alert, so its severity label is
    /// not part of its identity; for the others (Prometheus rules with a
    /// warning and a critical variant) it is, as in Alertmanager.
    pub fn of_identity(labels: &LabelSet, origin: Origin) -> Self {
        if origin == Origin::Detection && labels.contains_key(SEVERITY) {
            let mut l = labels.clone();
            l.remove(SEVERITY);
            return Self::of(&l);
        }
        Self::of(labels)
    }

    pub fn of(labels: &LabelSet) -> Self {
        let mut h = Sha256::new();
        // BTreeMap iterates sorted; NUL cannot occur in a label we accept.
        for (k, v) in labels {
            h.update(k.as_bytes());
            h.update([0]);
            h.update(v.as_bytes());
            h.update([0]);
        }
        let d = h.finalize();
        let mut b = [0u8; 8];
        b.copy_from_slice(&d[..8]);
        Self(u64::from_be_bytes(b))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl From<Fingerprint> for String {
    fn from(f: Fingerprint) -> Self {
        f.to_string()
    }
}

impl TryFrom<String> for Fingerprint {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        u64::from_str_radix(&s, 16)
            .map(Fingerprint)
            .map_err(|_| format!("fingerprint {s:?} is not 16 hex digits"))
    }
}

/// Where an alert came from; only for display and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// `POST /api/v2/alerts` (Prometheus, amtool, scripts).
    Api,
    /// A hub's anomaly event, through the edge's feed.
    Detection,
    /// A threshold or absence rule of our own.
    Rule,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Api => "api",
            Origin::Detection => "detection",
            Origin::Rule => "rule",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub fingerprint: Fingerprint,
    pub labels: LabelSet,
    pub annotations: LabelSet,
    pub starts_at_ms: i64,
    /// When it stops firing: set by the sender, or (when it sent none) now +
    /// `resolve_timeout`; `None` fires until told otherwise (edge events).
    pub ends_at_ms: Option<i64>,
    pub updated_at_ms: i64,
    pub generator_url: String,
    pub origin: Origin,
}

impl Alert {
    pub fn new(labels: LabelSet, origin: Origin, now_ms: i64) -> Self {
        Self {
            fingerprint: Fingerprint::of_identity(&labels, origin),
            labels,
            annotations: LabelSet::new(),
            starts_at_ms: now_ms,
            ends_at_ms: None,
            updated_at_ms: now_ms,
            generator_url: String::new(),
            origin,
        }
    }

    pub fn is_resolved(&self, now_ms: i64) -> bool {
        self.ends_at_ms.is_some_and(|e| e <= now_ms)
    }

    pub fn name(&self) -> &str {
        self.labels.get(ALERTNAME).map_or("", String::as_str)
    }

    pub fn severity(&self) -> Option<Severity> {
        self.labels.get(SEVERITY).and_then(|s| Severity::parse(s))
    }

    /// Folds a newer report of the same alert into this one, as Alertmanager
    /// does: the earliest start is kept, the latest report decides the end.
    /// A report older than what is known (a replay out of order) is ignored.
    pub fn merge(&mut self, newer: Alert, now_ms: i64) {
        if newer.updated_at_ms < self.updated_at_ms {
            return;
        }
        let was_resolved = self.is_resolved(now_ms);
        // A resolved alert that fires again is a new incident: its own start.
        if !was_resolved && newer.starts_at_ms > self.starts_at_ms {
            let start = self.starts_at_ms;
            *self = newer;
            self.starts_at_ms = start;
        } else {
            *self = newer;
        }
    }
}

/// Ordered severities. Names from hostwatch detection (low … critical) and
/// the common Prometheus ones (info, warning, error, page) share the scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "info" | "informational" | "none" => Self::Info,
            "low" | "minor" => Self::Low,
            "medium" | "warning" | "warn" => Self::Medium,
            "high" | "error" | "major" => Self::High,
            "critical" | "page" | "fatal" => Self::Critical,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> LabelSet {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn fingerprint_depends_on_labels_not_their_order() {
        let a = labels(&[("alertname", "X"), ("host", "h1")]);
        let b = labels(&[("host", "h1"), ("alertname", "X")]);
        let c = labels(&[("alertname", "X"), ("host", "h2")]);
        assert_eq!(Fingerprint::of(&a), Fingerprint::of(&b));
        assert_ne!(Fingerprint::of(&a), Fingerprint::of(&c));
        // Label boundaries count: {ab: c} is not {a: bc}.
        assert_ne!(
            Fingerprint::of(&labels(&[("ab", "c")])),
            Fingerprint::of(&labels(&[("a", "bc")]))
        );
        let mut worse = a.clone();
        worse.insert(SEVERITY.into(), "high".into());
        assert_eq!(
            Fingerprint::of_identity(&worse, Origin::Detection),
            Fingerprint::of_identity(&a, Origin::Detection),
            "an incident that worsens stays one alert"
        );
        assert_ne!(
            Fingerprint::of_identity(&worse, Origin::Api),
            Fingerprint::of(&a)
        );
        let f = Fingerprint::of(&a);
        assert_eq!(Fingerprint::try_from(f.to_string()), Ok(f));
    }

    #[test]
    fn severities_share_one_scale() {
        assert!(Severity::parse("warning") < Severity::parse("high"));
        assert_eq!(Severity::parse("PAGE"), Some(Severity::Critical));
        assert_eq!(Severity::parse("sev1"), None);
    }

    #[test]
    fn a_resend_keeps_the_start_and_a_refire_gets_its_own() {
        let l = labels(&[("alertname", "X")]);
        let mut a = Alert::new(l.clone(), Origin::Api, 100);
        a.ends_at_ms = Some(1_000);
        let mut resend = Alert::new(l.clone(), Origin::Api, 500);
        resend.ends_at_ms = Some(2_000);
        a.merge(resend, 600);
        assert_eq!((a.starts_at_ms, a.ends_at_ms), (100, Some(2_000)));
        let refire = Alert::new(l, Origin::Api, 5_000);
        a.merge(refire, 5_000);
        assert_eq!((a.starts_at_ms, a.ends_at_ms), (5_000, None));
        let mut stale = Alert::new(a.labels.clone(), Origin::Api, 4_000);
        stale.ends_at_ms = Some(4_500);
        a.merge(stale, 5_000);
        assert_eq!(a.ends_at_ms, None, "an older report changes nothing");
    }
}
