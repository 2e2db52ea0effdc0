//! Rule evaluation as pure functions over what the edge reports (hosts with
//! their last-seen time, series with their newest value, ranges for
//! forecasts): which alerts fire now. No I/O, no clock.

use std::collections::HashMap;

use common::model::{HostStatus, Point, SeriesInfo};

use crate::matcher;
use crate::model::{Alert, LabelSet, Origin, ALERTNAME, SEVERITY};
use crate::rules::{Kind, Rule};

/// Series whose newest point is older than this many evaluation intervals
/// are not judged (the host's silence is the absence rule's business).
const STALE_INTERVALS: i64 = 3;

/// When a breach started, per (rule, series): `for` counts from there.
#[derive(Debug, Default)]
pub struct Pending {
    since: HashMap<(usize, String), i64>,
}

fn base_labels(rule: &Rule, host: &str, site: &str) -> LabelSet {
    let mut l = LabelSet::new();
    l.insert(ALERTNAME.into(), rule.alert.clone());
    l.insert(SEVERITY.into(), rule.severity.clone());
    l.insert("host".into(), host.to_owned());
    if !site.is_empty() {
        l.insert("site".into(), site.to_owned());
    }
    l
}

/// The labels a series' matchers see: its own plus host and site.
fn series_labels(s: &SeriesInfo, site: &str) -> LabelSet {
    let mut l: LabelSet = s.labels.clone();
    l.insert("host".into(), s.host.clone());
    l.insert("site".into(), site.to_owned());
    l.insert("metric".into(), s.name.clone());
    l
}

fn alert(rule: &Rule, labels: LabelSet, summary: String, now: i64) -> Alert {
    let mut a = Alert::new(labels, Origin::Rule, now);
    a.annotations.insert("summary".into(), summary);
    if let Some(d) = &rule.description {
        a.annotations.insert("description".into(), d.clone());
    }
    a
}

fn fmt(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

/// `absence`: hosts silent for longer than `silent_for`.
pub fn absence(rule: &Rule, hosts: &[HostStatus], now: i64) -> Vec<Alert> {
    let Kind::Absence { silent_for } = &rule.kind else {
        return Vec::new();
    };
    let limit = silent_for.as_millis() as i64;
    hosts
        .iter()
        .filter(|h| h.last_seen_ms > 0 && now - h.last_seen_ms > limit)
        .filter(|h| {
            let mut l = LabelSet::new();
            l.insert("host".into(), h.host.clone());
            l.insert("site".into(), h.site.clone());
            matcher::all_match(&rule.matchers, &l)
        })
        .map(|h| {
            let silent = (now - h.last_seen_ms) / 1000;
            alert(
                rule,
                base_labels(rule, &h.host, &h.site),
                format!("{} has sent nothing for {silent} s", h.host),
                now,
            )
        })
        .collect()
}

/// `threshold`: series of `metric` above (or below) a value for `for`.
pub fn threshold(
    idx: usize,
    rule: &Rule,
    host: &HostStatus,
    series: &[SeriesInfo],
    interval_ms: i64,
    now: i64,
    pending: &mut Pending,
) -> Vec<Alert> {
    let Kind::Threshold {
        metric,
        above,
        below,
        r#for,
    } = &rule.kind
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for s in series.iter().filter(|s| &s.name == metric) {
        let labels = series_labels(s, &host.site);
        if !matcher::all_match(&rule.matchers, &labels) {
            continue;
        }
        let key = (idx, format!("{}|{:?}", s.host, s.labels));
        let stale = now - s.last_ms > STALE_INTERVALS * interval_ms;
        let breach = !stale
            && s.last_value.is_finite()
            && (above.is_some_and(|a| s.last_value > a) || below.is_some_and(|b| s.last_value < b));
        if !breach {
            pending.since.remove(&key);
            continue;
        }
        let since = *pending.since.entry(key).or_insert(now);
        if now - since < r#for.as_millis() as i64 {
            continue;
        }
        let mut l = base_labels(rule, &s.host, &host.site);
        for (k, v) in &s.labels {
            l.entry(k.clone()).or_insert_with(|| v.clone());
        }
        let cmp = match (above, below) {
            (Some(a), _) if s.last_value > *a => format!("> {}", fmt(*a)),
            (_, Some(b)) => format!("< {}", fmt(*b)),
            _ => String::new(),
        };
        let what = if s.labels.is_empty() {
            s.name.clone()
        } else {
            let ls: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{}{{{}}}", s.name, ls.join(","))
        };
        out.push(alert(
            rule,
            l,
            format!(
                "{what} on {} is {} ({cmp} for {}s)",
                s.host,
                fmt(s.last_value),
                r#for.as_secs()
            ),
            now,
        ));
    }
    out
}

/// Least-squares line through `points`: (slope per ms, value at `now`).
pub fn linear_fit(points: &[Point], now: i64) -> Option<(f64, f64)> {
    let pts: Vec<&Point> = points.iter().filter(|p| p.v.is_finite()).collect();
    if pts.len() < 10 {
        return None;
    }
    let n = pts.len() as f64;
    // Centre time for numeric stability (ms since epoch squared overflows f64 precision).
    let t0 = pts[0].t as f64;
    let mt = pts.iter().map(|p| p.t as f64 - t0).sum::<f64>() / n;
    let mv = pts.iter().map(|p| p.v).sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for p in &pts {
        let dt = p.t as f64 - t0 - mt;
        sxy += dt * (p.v - mv);
        sxx += dt * dt;
    }
    if sxx <= 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    let at_now = mv + slope * (now as f64 - t0 - mt);
    Some((slope, at_now))
}

/// `forecast`: when the fitted line reaches `reaches` within `within`.
/// Returns the alert and the expected time of reaching it.
pub fn forecast(
    rule: &Rule,
    host: &HostStatus,
    series: &SeriesInfo,
    points: &[Point],
    now: i64,
) -> Option<Alert> {
    let Kind::Forecast {
        metric,
        reaches,
        within,
        lookback,
    } = &rule.kind
    else {
        return None;
    };
    if &series.name != metric
        || !matcher::all_match(&rule.matchers, &series_labels(series, &host.site))
    {
        return None;
    }
    // A line through a few minutes of a 6 h window says little.
    let span = points.last()?.t - points.first()?.t;
    if span < lookback.as_millis() as i64 / 4 {
        return None;
    }
    let (slope, at_now) = linear_fit(points, now)?;
    if slope <= 0.0 || at_now >= *reaches {
        // Already there is a threshold's job; flat or falling never reaches.
        return (at_now >= *reaches && slope > 0.0)
            .then(|| forecast_alert(rule, host, series, at_now, 0, now));
    }
    let eta_ms = ((reaches - at_now) / slope) as i64;
    (eta_ms <= within.as_millis() as i64)
        .then(|| forecast_alert(rule, host, series, at_now, eta_ms, now))
}

fn forecast_alert(
    rule: &Rule,
    host: &HostStatus,
    s: &SeriesInfo,
    at_now: f64,
    eta_ms: i64,
    now: i64,
) -> Alert {
    let mut l = base_labels(rule, &s.host, &host.site);
    for (k, v) in &s.labels {
        l.entry(k.clone()).or_insert_with(|| v.clone());
    }
    let where_ = s
        .labels
        .get("mountpoint")
        .or_else(|| s.labels.values().next())
        .cloned()
        .unwrap_or_default();
    let hours = eta_ms as f64 / 3_600_000.0;
    let mut a = alert(
        rule,
        l,
        format!(
            "{} {where_} on {} reaches its limit in about {hours:.1} h (now {})",
            s.name,
            s.host,
            fmt(at_now)
        ),
        now,
    );
    a.annotations
        .insert("eta".into(), crate::clock::to_rfc3339(now + eta_ms));
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Rule;

    fn host(name: &str, last_seen: i64) -> HostStatus {
        HostStatus {
            host: name.into(),
            site: "eu".into(),
            last_seen_ms: last_seen,
            ..Default::default()
        }
    }

    fn series(host: &str, name: &str, labels: &[(&str, &str)], v: f64, at: i64) -> SeriesInfo {
        SeriesInfo {
            host: host.into(),
            name: name.into(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            last_ms: at,
            last_value: v,
        }
    }

    fn rule(toml: &str) -> Rule {
        toml::from_str(toml).expect("rule")
    }

    #[test]
    fn silent_hosts_as_data() {
        let r =
            rule("alert = 'HostDown'\nkind = 'absence'\nsilent_for = '30s'\nseverity = 'critical'");
        let hosts = [host("up", 95_000), host("down", 60_000), host("never", 0)];
        let fired: Vec<String> = absence(&r, &hosts, 100_000)
            .iter()
            .map(|a| a.labels["host"].clone())
            .collect();
        assert_eq!(
            fired,
            ["down"],
            "31 s silent fires; never-seen hosts do not"
        );
    }

    #[test]
    fn a_threshold_fires_only_after_for_and_forgets_a_break() {
        let r = rule(
            "alert = 'CoreBusy'\nkind = 'threshold'\nmetric = 'system.cpu.utilization'\n\
             match = ['cpu=~\".+\"']\nabove = 0.95\nfor = '60s'\nseverity = 'high'",
        );
        let h = host("db1", 0);
        let mut p = Pending::default();
        let at = |v: f64, t: i64| {
            vec![
                series("db1", "system.cpu.utilization", &[("cpu", "3")], v, t),
                series("db1", "system.cpu.utilization", &[], 0.99, t), // the total: no cpu label
            ]
        };
        let eval =
            |p: &mut Pending, v: f64, t: i64| threshold(0, &r, &h, &at(v, t), 10_000, t, p).len();
        assert_eq!(eval(&mut p, 0.99, 0), 0, "breach starts");
        assert_eq!(eval(&mut p, 0.99, 30_000), 0, "not yet 60 s");
        assert_eq!(eval(&mut p, 0.50, 40_000), 0, "a break resets");
        assert_eq!(eval(&mut p, 0.99, 50_000), 0);
        assert_eq!(eval(&mut p, 0.99, 110_000), 1, "60 s of breach");
        let a = &threshold(0, &r, &h, &at(0.99, 120_000), 10_000, 120_000, &mut p)[0];
        assert_eq!(a.labels["cpu"], "3");
        assert!(
            a.annotations["summary"].contains("system.cpu.utilization{cpu=3} on db1 is 0.990"),
            "{:?}",
            a.annotations
        );
        // A stale value is not judged.
        assert_eq!(
            threshold(0, &r, &h, &at(0.99, 0), 10_000, 200_000, &mut p).len(),
            0
        );
    }

    #[test]
    fn a_filling_disk_is_forecast_and_a_flat_one_is_not() {
        let r = rule(
            "alert = 'DiskFullSoon'\nkind = 'forecast'\nmetric = 'system.filesystem.utilization'\n\
             reaches = 1.0\nwithin = '25h'\nlookback = '6h'\nseverity = 'high'",
        );
        let h = host("db1", 0);
        let s = series(
            "db1",
            "system.filesystem.utilization",
            &[("mountpoint", "/var")],
            0.8,
            0,
        );
        let hour = 3_600_000;
        // +1 % per hour from 70 %: 100 % in 30 h from the start, ~24 h after 6 h.
        let filling: Vec<Point> = (0..=60)
            .map(|i| Point {
                t: i * hour / 10,
                v: 0.70 + 0.01 * i as f64 / 10.0,
            })
            .collect();
        let now = 6 * hour;
        let a = forecast(&r, &h, &s, &filling, now).expect("fires: full in ~24 h");
        assert!(
            a.annotations["summary"].contains("/var on db1 reaches its limit in about 24.0 h"),
            "{:?}",
            a.annotations
        );
        let faster: Vec<Point> = filling
            .iter()
            .map(|p| Point {
                t: p.t,
                v: 0.70 + (p.v - 0.70) * 2.0,
            })
            .collect();
        assert!(forecast(&r, &h, &s, &faster, now).is_some());
        let slower: Vec<Point> = filling
            .iter()
            .map(|p| Point {
                t: p.t,
                v: 0.70 + (p.v - 0.70) * 0.5,
            })
            .collect();
        assert!(
            forecast(&r, &h, &s, &slower, now).is_none(),
            "~54 h away is not within 25 h"
        );
        let flat: Vec<Point> = filling.iter().map(|p| Point { t: p.t, v: 0.8 }).collect();
        assert!(forecast(&r, &h, &s, &flat, now).is_none());
        assert!(
            forecast(&r, &h, &s, &filling[..5], now).is_none(),
            "too few points"
        );
    }
}
