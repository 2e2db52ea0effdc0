//! Inhibition: while a source alert fires, target alerts that share its
//! `equal` labels send nothing (a host that is down does not also page for
//! its disks and its CPU).

use serde::{Deserialize, Serialize};

use crate::matcher::{self, Matcher};
use crate::model::{Alert, Fingerprint};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InhibitRule {
    #[serde(with = "matcher::text_list")]
    pub source: Vec<Matcher>,
    #[serde(with = "matcher::text_list")]
    pub target: Vec<Matcher>,
    #[serde(default)]
    pub equal: Vec<String>,
}

impl InhibitRule {
    /// The rule every install starts with: a silent host (`HostDown`, from the
    /// absence rules or a Prometheus `up == 0` alert of that name) inhibits the
    /// other alerts of the same host.
    pub fn host_down() -> Self {
        Self {
            source: matcher::parse_list("alertname=HostDown").unwrap_or_default(),
            target: matcher::parse_list("alertname!=HostDown").unwrap_or_default(),
            equal: vec!["host".to_owned()],
        }
    }

    fn inhibits(&self, source: &Alert, target: &Alert) -> bool {
        source.fingerprint != target.fingerprint
            && matcher::all_match(&self.source, &source.labels)
            && matcher::all_match(&self.target, &target.labels)
            && self
                .equal
                .iter()
                .all(|l| source.labels.get(l) == target.labels.get(l))
    }
}

/// The firing alert that inhibits `target`, if any. `firing` are the alerts
/// firing now (resolved ones inhibit nothing).
pub fn inhibitor<'a>(
    rules: &[InhibitRule],
    target: &Alert,
    firing: impl IntoIterator<Item = &'a Alert>,
) -> Option<Fingerprint> {
    if rules.is_empty() {
        return None;
    }
    firing
        .into_iter()
        .find(|s| rules.iter().any(|r| r.inhibits(s, target)))
        .map(|s| s.fingerprint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LabelSet, Origin};

    fn alert(pairs: &[(&str, &str)]) -> Alert {
        let labels: LabelSet = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Alert::new(labels, Origin::Api, 0)
    }

    /// Inhibition as data: (firing alerts, target, inhibited?).
    fn check(firing: &[&[(&str, &str)]], target: &[(&str, &str)], expected: bool) {
        let firing: Vec<Alert> = firing.iter().map(|p| alert(p)).collect();
        let t = alert(target);
        let got = inhibitor(&[InhibitRule::host_down()], &t, &firing).is_some();
        assert_eq!(got, expected, "{firing:?} → {target:?}");
    }

    #[test]
    fn host_down_inhibits_that_hosts_other_alerts() {
        let down_h1: &[(&str, &str)] = &[("alertname", "HostDown"), ("host", "h1")];
        check(
            &[down_h1],
            &[("alertname", "DiskFull"), ("host", "h1")],
            true,
        );
        check(
            &[down_h1],
            &[("alertname", "DiskFull"), ("host", "h2")],
            false,
        );
        // Never itself, nor another HostDown.
        check(&[down_h1], down_h1, false);
        check(
            &[down_h1],
            &[("alertname", "HostDown"), ("host", "h1"), ("x", "y")],
            false,
        );
        check(&[], &[("alertname", "DiskFull"), ("host", "h1")], false);
        // `equal` on a label both lack counts as equal, as in Alertmanager.
        check(
            &[&[("alertname", "HostDown")]],
            &[("alertname", "Other")],
            true,
        );
    }
}
