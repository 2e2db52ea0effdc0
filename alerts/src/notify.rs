//! What a notification says. The stored payload is Alertmanager's webhook
//! body (version 4), so existing receivers understand the generic webhook;
//! Slack, email and ntfy render their text from it at delivery time.

use serde::{Deserialize, Serialize};

use crate::clock::to_rfc3339;
use crate::dispatch::Notification;
use crate::model::{Alert, Fingerprint, LabelSet, Severity};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payload {
    pub version: String,
    pub group_key: String,
    pub status: String,
    pub receiver: String,
    pub group_labels: LabelSet,
    pub common_labels: LabelSet,
    pub common_annotations: LabelSet,
    #[serde(rename = "externalURL")]
    pub external_url: String,
    pub alerts: Vec<PayloadAlert>,
    pub truncated_alerts: usize,
    /// hostwatch: the subscription this notification is for.
    pub subscription_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayloadAlert {
    pub status: String,
    pub labels: LabelSet,
    pub annotations: LabelSet,
    pub starts_at: String,
    pub ends_at: String,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    pub fingerprint: String,
}

/// Alerts listed in one notification; the rest are counted in
/// `truncatedAlerts` (a storm must not make a 50 MB webhook body).
pub const MAX_ALERTS_PER_NOTIFICATION: usize = 100;

const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn payload_alert(a: &Alert, status: &str) -> PayloadAlert {
    PayloadAlert {
        status: status.to_owned(),
        labels: a.labels.clone(),
        annotations: a.annotations.clone(),
        starts_at: to_rfc3339(a.starts_at_ms),
        ends_at: a
            .ends_at_ms
            .filter(|_| status == "resolved")
            .map_or_else(|| GO_ZERO_TIME.to_owned(), to_rfc3339),
        generator_url: a.generator_url.clone(),
        fingerprint: a.fingerprint.to_string(),
    }
}

fn common(sets: &[&LabelSet]) -> LabelSet {
    let Some(first) = sets.first() else {
        return LabelSet::new();
    };
    first
        .iter()
        .filter(|(k, v)| sets[1..].iter().all(|s| s.get(*k) == Some(v)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

pub fn payload(
    n: &Notification,
    lookup: &dyn Fn(&Fingerprint) -> Option<Alert>,
    external_url: &str,
) -> Payload {
    let firing: Vec<Alert> = n.firing.iter().filter_map(lookup).collect();
    let resolved: Vec<Alert> = n.resolved.iter().filter_map(lookup).collect();
    let mut alerts: Vec<PayloadAlert> = firing
        .iter()
        .map(|a| payload_alert(a, "firing"))
        .chain(resolved.iter().map(|a| payload_alert(a, "resolved")))
        .collect();
    let truncated = alerts.len().saturating_sub(MAX_ALERTS_PER_NOTIFICATION);
    alerts.truncate(MAX_ALERTS_PER_NOTIFICATION);
    let all: Vec<&Alert> = firing.iter().chain(&resolved).collect();
    let labels: Vec<&LabelSet> = all.iter().map(|a| &a.labels).collect();
    let annotations: Vec<&LabelSet> = all.iter().map(|a| &a.annotations).collect();
    Payload {
        version: "4".to_owned(),
        group_key: format!("{}:{}", n.subscription.id, n.group_key),
        status: if firing.is_empty() {
            "resolved"
        } else {
            "firing"
        }
        .to_owned(),
        receiver: n.subscription.name.clone(),
        group_labels: n.group_labels.clone(),
        common_labels: common(&labels),
        common_annotations: common(&annotations),
        external_url: external_url.to_owned(),
        alerts,
        truncated_alerts: truncated,
        subscription_id: n.subscription.id.clone(),
    }
}

impl Payload {
    pub fn firing_count(&self) -> usize {
        self.alerts.iter().filter(|a| a.status == "firing").count()
    }

    pub fn worst_severity(&self) -> Option<Severity> {
        self.alerts
            .iter()
            .filter(|a| a.status == "firing")
            .filter_map(|a| {
                a.labels
                    .get(crate::model::SEVERITY)
                    .and_then(|s| Severity::parse(s))
            })
            .max()
    }

    /// `[FIRING:2] DiskFull host=db1` — a subject line.
    pub fn title(&self) -> String {
        let labels = self
            .group_labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        if self.status == "firing" {
            format!("[FIRING:{}] {}", self.firing_count(), labels)
        } else {
            format!("[RESOLVED] {labels}")
        }
    }

    /// Plain text body: one paragraph per alert.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for a in &self.alerts {
            let name = a.labels.get("alertname").map_or("alert", String::as_str);
            let sev = a.labels.get("severity").map_or("", String::as_str);
            out.push_str(&format!("{} {name} {sev}\n", a.status.to_uppercase()));
            let others: Vec<String> = a
                .labels
                .iter()
                .filter(|(k, _)| k.as_str() != "alertname" && k.as_str() != "severity")
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            out.push_str(&format!("  labels: {}\n", others.join(", ")));
            for key in ["summary", "description"] {
                if let Some(v) = a.annotations.get(key) {
                    out.push_str(&format!("  {key}: {v}\n"));
                }
            }
            out.push_str(&format!("  since: {}\n", a.starts_at));
            if a.status == "resolved" {
                out.push_str(&format!("  resolved: {}\n", a.ends_at));
            }
        }
        if self.truncated_alerts > 0 {
            out.push_str(&format!("… and {} more\n", self.truncated_alerts));
        }
        out
    }
}
