//! Threshold, absence and forecast rules, defined once in the service's
//! config (`[[rule]]`) and evaluated centrally over what the edge knows:
//! `GET /api/v1/hosts` for silence, each host's series (newest values) for
//! thresholds, ranges for forecasts. The evaluator reports firing alerts with
//! an end a few intervals ahead (renewed while they hold, like Prometheus's
//! resends) and resolves the ones that stopped.

pub mod eval;
pub mod source;

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::clock::now_ms;
use crate::engine::EngineHandle;
use crate::matcher::{self, Matcher};
use crate::model::{Alert, Fingerprint, Severity};

/// How far ahead a firing rule alert's end is set, in evaluation intervals:
/// if the evaluator stops, its alerts resolve by themselves.
const END_AHEAD_INTERVALS: u32 = 4;

/// A rule as written in the config: one flat table, checked and turned into
/// its [`Kind`] when loaded (unknown keys are refused, so typos are caught).
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RuleText")]
pub struct Rule {
    /// The alert's name (`alertname`).
    pub alert: String,
    pub kind: Kind,
    /// Matchers on the series' labels plus `host`, `site` and `metric`.
    pub matchers: Vec<Matcher>,
    pub severity: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Kind {
    /// A host that sent nothing for `silent_for`.
    Absence { silent_for: Duration },
    /// A series' newest value above or below a limit for `for`.
    Threshold {
        metric: String,
        above: Option<f64>,
        below: Option<f64>,
        r#for: Duration,
    },
    /// A series' trend over `lookback` reaching `reaches` within `within`.
    Forecast {
        metric: String,
        reaches: f64,
        within: Duration,
        lookback: Duration,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleText {
    alert: String,
    kind: String,
    #[serde(default, rename = "match", with = "matcher::text_list")]
    matchers: Vec<Matcher>,
    severity: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    silent_for: Option<String>,
    #[serde(default)]
    metric: Option<String>,
    #[serde(default)]
    above: Option<f64>,
    #[serde(default)]
    below: Option<f64>,
    #[serde(default, rename = "for")]
    for_: Option<String>,
    #[serde(default)]
    reaches: Option<f64>,
    #[serde(default)]
    within: Option<String>,
    #[serde(default)]
    lookback: Option<String>,
}

impl TryFrom<RuleText> for Rule {
    type Error = String;

    fn try_from(t: RuleText) -> Result<Self, String> {
        let name = t.alert.clone();
        let need = |v: Option<String>, key: &str| {
            v.ok_or_else(|| format!("rule {name}: kind {} needs `{key}`", t.kind))
        };
        let dur =
            |v: String| common::config::parse_duration(&v).map_err(|e| format!("rule {name}: {e}"));
        let kind = match t.kind.as_str() {
            "absence" => Kind::Absence {
                silent_for: dur(need(t.silent_for.clone(), "silent_for")?)?,
            },
            "threshold" => Kind::Threshold {
                metric: need(t.metric.clone(), "metric")?,
                above: t.above,
                below: t.below,
                r#for: t.for_.clone().map(dur).transpose()?.unwrap_or_default(),
            },
            "forecast" => Kind::Forecast {
                metric: need(t.metric.clone(), "metric")?,
                reaches: t
                    .reaches
                    .ok_or_else(|| format!("rule {name}: kind forecast needs `reaches`"))?,
                within: dur(need(t.within.clone(), "within")?)?,
                lookback: dur(need(t.lookback.clone(), "lookback")?)?,
            },
            other => {
                return Err(format!(
                    "rule {name}: kind {other:?} is not absence, threshold or forecast"
                ))
            }
        };
        Ok(Rule {
            alert: t.alert,
            kind,
            matchers: t.matchers,
            severity: t.severity,
            description: t.description,
        })
    }
}

impl Rule {
    pub fn validate(&self) -> Result<(), String> {
        if self.alert.is_empty() {
            return Err("a rule needs `alert`, its alert name".into());
        }
        if Severity::parse(&self.severity).is_none() {
            return Err(format!(
                "rule {}: severity {:?} is not a severity",
                self.alert, self.severity
            ));
        }
        match &self.kind {
            Kind::Threshold {
                above: None,
                below: None,
                ..
            } => Err(format!(
                "rule {}: a threshold needs `above` or `below`",
                self.alert
            )),
            Kind::Forecast { lookback, .. } if lookback.is_zero() => {
                Err(format!("rule {}: lookback must be above zero", self.alert))
            }
            _ => Ok(()),
        }
    }

    fn parse(text: &str) -> Rule {
        // Built-in rules below are literals covered by the tests.
        #[allow(clippy::expect_used)]
        toml::from_str(text).expect("built-in rule")
    }

    /// The rules an install starts with: the examples.
    pub fn defaults() -> Vec<Rule> {
        [
            "alert = 'HostDown'\nkind = 'absence'\nsilent_for = '30s'\nseverity = 'critical'\n\
             description = 'The agent has stopped reporting: host down, agent stopped or the link cut.'",
            "alert = 'CpuCoreSaturated'\nkind = 'threshold'\nmetric = 'system.cpu.utilization'\n\
             match = ['cpu=~\".+\"']\nabove = 0.95\nfor = '5m'\nseverity = 'medium'",
            "alert = 'InterfaceErrors'\nkind = 'threshold'\nmetric = 'system.network.errors.rate'\n\
             above = 0\nfor = '2m'\nseverity = 'medium'\n\
             description = 'Errors on a network interface keep rising.'",
            "alert = 'ProcessNotRunning'\nkind = 'threshold'\nmetric = 'system.processes.watched'\n\
             below = 1\nfor = '1m'\nseverity = 'high'\n\
             description = 'A process the agent watches (watch_processes) is not running.'",
            "alert = 'DiskFullSoon'\nkind = 'forecast'\nmetric = 'system.filesystem.utilization'\n\
             reaches = 1.0\nwithin = '24h'\nlookback = '6h'\nseverity = 'high'\n\
             description = 'At the rate of the last 6 hours this filesystem is full within a day.'",
        ]
        .iter()
        .map(|t| Self::parse(t))
        .collect()
    }
}

/// Evaluates `rules` every `interval` against the edge until `shutdown`.
pub async fn run(
    rules: Vec<Rule>,
    interval: Duration,
    forecast_every: Duration,
    edge: source::Edge,
    engine: EngineHandle,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pending = eval::Pending::default();
    let mut firing: HashMap<Fingerprint, Alert> = HashMap::new();
    let mut forecasts: Vec<Alert> = Vec::new();
    let mut last_forecast: Option<tokio::time::Instant> = None;
    let interval_ms = interval.as_millis() as i64;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        let now = now_ms();
        let hosts = match edge.hosts().await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "rules: the edge did not answer; alerts keep their ends");
                continue;
            }
        };
        let mut fired: Vec<Alert> = Vec::new();
        for rule in &rules {
            if matches!(rule.kind, Kind::Absence { .. }) {
                fired.extend(eval::absence(rule, &hosts, now));
            }
        }
        let needs_series = rules
            .iter()
            .any(|r| matches!(r.kind, Kind::Threshold { .. }));
        let forecast_due = last_forecast.is_none_or(|t| t.elapsed() >= forecast_every);
        let needs_forecast = forecast_due
            && rules
                .iter()
                .any(|r| matches!(r.kind, Kind::Forecast { .. }));
        if needs_forecast {
            forecasts.clear();
            last_forecast = Some(tokio::time::Instant::now());
        }
        if needs_series || needs_forecast {
            for h in &hosts {
                if now - h.last_seen_ms > 3 * interval_ms.max(10_000) {
                    continue; // silent: the absence rule speaks for it
                }
                let series = match edge.series(&h.host).await {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::debug!(host = %h.host, error = %e, "rules: no series");
                        continue;
                    }
                };
                for (idx, rule) in rules.iter().enumerate() {
                    match &rule.kind {
                        Kind::Threshold { .. } => fired.extend(eval::threshold(
                            idx,
                            rule,
                            h,
                            &series,
                            interval_ms,
                            now,
                            &mut pending,
                        )),
                        Kind::Forecast {
                            metric, lookback, ..
                        } if needs_forecast => {
                            for s in series.iter().filter(|s| &s.name == metric) {
                                let from = now - lookback.as_millis() as i64;
                                match edge.range(&h.host, s, from, now).await {
                                    Ok(points) => {
                                        forecasts.extend(eval::forecast(rule, h, s, &points, now))
                                    }
                                    Err(e) => {
                                        tracing::debug!(host = %h.host, error = %e, "rules: no range")
                                    }
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        // Forecasts are recomputed less often; between runs they stand.
        let end_ahead = now
            + (interval * END_AHEAD_INTERVALS).as_millis() as i64
            + forecast_every.as_millis() as i64 * i64::from(!forecasts.is_empty());
        let mut report: Vec<Alert> = Vec::new();
        let mut still: HashMap<Fingerprint, Alert> = HashMap::new();
        for mut a in fired.into_iter().chain(forecasts.iter().cloned()) {
            if let Some(old) = firing.get(&a.fingerprint) {
                a.starts_at_ms = old.starts_at_ms;
            }
            a.ends_at_ms = Some(end_ahead);
            still.insert(a.fingerprint, a.clone());
            report.push(a);
        }
        for (fp, mut a) in firing.drain() {
            if !still.contains_key(&fp) {
                a.ends_at_ms = Some(now);
                a.updated_at_ms = now;
                report.push(a);
            }
        }
        firing = still;
        if report.is_empty() {
            continue;
        }
        if let Err(e) = engine.ingest(report, None).await {
            tracing::warn!(error = %e, "rules: could not store alerts");
        }
    }
    tracing::info!("rule evaluator stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_rules_parse_and_validate() {
        let r = Rule::defaults();
        assert_eq!(r.len(), 5);
        for rule in &r {
            rule.validate().expect("valid");
        }
    }

    #[test]
    fn bad_rules_say_why() {
        let bad: Rule = toml::from_str("alert='X'\nkind='threshold'\nmetric='m'\nseverity='high'")
            .expect("parses");
        assert!(bad.validate().expect_err("no limit").contains("above"));
        let bad: Rule =
            toml::from_str("alert='X'\nkind='absence'\nsilent_for='1m'\nseverity='urgent'")
                .expect("parses");
        assert!(bad
            .validate()
            .expect_err("severity")
            .contains("not a severity"));
        let e =
            toml::from_str::<Rule>("alert='X'\nkind='magic'\nseverity='high'").expect_err("kind");
        assert!(
            e.to_string().contains("not absence, threshold or forecast"),
            "{e}"
        );
        let e = toml::from_str::<Rule>("alert='X'\nkind='absence'\nseverity='high'")
            .expect_err("field");
        assert!(e.to_string().contains("needs `silent_for`"), "{e}");
        let e = toml::from_str::<Rule>(
            "alert='X'\nkind='absence'\nsilent_for='1m'\nseverity='high'\nabove_=1",
        )
        .expect_err("typo");
        assert!(e.to_string().contains("above_"), "{e}");
    }
}
