//! Routing as data: a timeline of alerts firing and resolving, and the
//! notifications each flush produces.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::matcher::parse_list;
use crate::model::Origin;
use crate::subscription::{Channel, QuietHours, Timing};

const S: i64 = 1000;

fn timing() -> Timing {
    Timing {
        group_wait: Duration::from_secs(30),
        group_interval: Duration::from_secs(300),
        repeat_interval: Duration::from_secs(4 * 3600),
    }
}

fn sub(id: &str, matchers: &str) -> Subscription {
    Subscription {
        id: id.into(),
        owner: "alice".into(),
        name: id.into(),
        matchers: parse_list(matchers).expect("matchers"),
        channels: vec![Channel::Live],
        group_by: Some(vec!["alertname".into(), "host".into()]),
        timing: Some(timing()),
        send_resolved: true,
        quiet_hours: None,
        created_at_ms: 0,
    }
}

fn labels(text: &str) -> LabelSet {
    text.split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

struct Sim {
    d: Dispatcher,
    alerts: HashMap<Fingerprint, Alert>,
    muted: Vec<Fingerprint>,
}

impl Sim {
    fn new(subs: Vec<Subscription>) -> Self {
        let mut d = Dispatcher::new(crate::config::Route::default());
        for s in subs {
            d.set_subscription(Arc::new(s), [], 0);
        }
        Self {
            d,
            alerts: HashMap::new(),
            muted: Vec::new(),
        }
    }

    fn fire(&mut self, l: &str, at: i64) -> Fingerprint {
        let a = Alert::new(labels(l), Origin::Api, at);
        let fp = a.fingerprint;
        self.d.on_alert(&a, at);
        self.alerts.insert(fp, a);
        fp
    }

    fn resolve(&mut self, l: &str, at: i64) {
        let fp = Fingerprint::of(&labels(l));
        if let Some(a) = self.alerts.get_mut(&fp) {
            a.ends_at_ms = Some(at);
        }
    }

    fn name(&self, fp: &Fingerprint) -> String {
        self.alerts[fp]
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Flushes at `at`, marks everything sent, and renders each notification
    /// as `sub: firing[..] resolved[..]` (plus ` (silent)` when not sent).
    fn flush(&mut self, at: i64) -> Vec<String> {
        let muted = self.muted.clone();
        let ns = self
            .d
            .flush(at, &self.alerts, &|a| muted.contains(&a.fingerprint));
        let mut out: Vec<String> = ns
            .iter()
            .map(|n| {
                let f: Vec<String> = n.firing.iter().map(|fp| self.name(fp)).collect();
                let r: Vec<String> = n.resolved.iter().map(|fp| self.name(fp)).collect();
                format!(
                    "{}: firing{:?} resolved{:?}{}",
                    n.subscription.id,
                    f,
                    r,
                    if n.send { "" } else { " (silent)" }
                )
            })
            .collect();
        for n in &ns {
            self.d.sent(n);
        }
        out.sort();
        out
    }
}

#[test]
fn group_wait_then_group_interval_then_repeat() {
    let mut s = Sim::new(vec![sub("ops", "")]);
    s.fire("alertname=Disk,host=h1,dev=a", 0);
    assert!(s.flush(29 * S).is_empty(), "waits group_wait");
    assert_eq!(
        s.flush(30 * S),
        ["ops: firing[\"alertname=Disk,dev=a,host=h1\"] resolved[]"]
    );
    s.fire("alertname=Disk,host=h1,dev=b", 35 * S);
    assert!(s.flush(100 * S).is_empty(), "a change waits group_interval");
    assert_eq!(
        s.flush(330 * S),
        ["ops: firing[\"alertname=Disk,dev=a,host=h1\", \"alertname=Disk,dev=b,host=h1\"] resolved[]"]
    );
    assert!(
        s.flush(630 * S).is_empty(),
        "nothing changed, repeat not due"
    );
    assert_eq!(s.flush(330 * S + 4 * 3600 * S).len(), 1, "repeat_interval");
}

#[test]
fn resolved_alerts_are_told_once_and_the_group_ends() {
    let mut s = Sim::new(vec![sub("ops", "")]);
    s.fire("alertname=Disk,host=h1,dev=a", 0);
    s.fire("alertname=Disk,host=h1,dev=b", 0);
    assert_eq!(s.flush(30 * S).len(), 1);
    s.resolve("alertname=Disk,host=h1,dev=a", 100 * S);
    assert_eq!(
        s.flush(330 * S),
        ["ops: firing[\"alertname=Disk,dev=b,host=h1\"] resolved[\"alertname=Disk,dev=a,host=h1\"]"]
    );
    s.resolve("alertname=Disk,host=h1,dev=b", 400 * S);
    assert_eq!(
        s.flush(630 * S),
        ["ops: firing[] resolved[\"alertname=Disk,dev=b,host=h1\"]"]
    );
    assert_eq!(s.d.group_count(), 0, "the group is gone");
    assert!(s.flush(10_000 * S).is_empty());
}

#[test]
fn an_alert_that_resolves_within_group_wait_is_never_sent() {
    let mut s = Sim::new(vec![sub("ops", "")]);
    s.fire("alertname=Blip,host=h1", 0);
    s.resolve("alertname=Blip,host=h1", 10 * S);
    assert!(s.flush(30 * S).is_empty());
    assert_eq!(s.d.group_count(), 0);
}

#[test]
fn a_detection_incident_that_closed_within_group_wait_is_still_reported_once() {
    let mut s = Sim::new(vec![sub("ops", "")]);
    let mut a = Alert::new(labels("alertname=Anomaly,host=h1"), Origin::Detection, 0);
    a.ends_at_ms = Some(10 * S);
    s.d.on_alert(&a, 0);
    s.alerts.insert(a.fingerprint, a);
    assert_eq!(
        s.flush(30 * S),
        ["ops: firing[] resolved[\"alertname=Anomaly,host=h1\"]"]
    );
    assert!(s.flush(400 * S).is_empty(), "once");
    assert_eq!(s.d.group_count(), 0);
}

#[test]
fn groups_split_by_group_by_and_subscriptions_filter() {
    let mut s = Sim::new(vec![sub("all", ""), sub("db", "host=~db.*,severity>=high")]);
    s.fire("alertname=Cpu,host=db1,severity=critical", 0);
    s.fire("alertname=Cpu,host=web1,severity=critical", 0);
    s.fire("alertname=Cpu,host=db2,severity=low", 0);
    assert_eq!(
        s.flush(30 * S),
        [
            "all: firing[\"alertname=Cpu,host=db1,severity=critical\"] resolved[]",
            "all: firing[\"alertname=Cpu,host=db2,severity=low\"] resolved[]",
            "all: firing[\"alertname=Cpu,host=web1,severity=critical\"] resolved[]",
            "db: firing[\"alertname=Cpu,host=db1,severity=critical\"] resolved[]",
        ]
    );
}

#[test]
fn muted_alerts_are_left_out_and_come_back_when_unmuted() {
    let mut s = Sim::new(vec![sub("ops", "")]);
    let a = s.fire("alertname=Disk,host=h1,dev=a", 0);
    s.fire("alertname=Disk,host=h1,dev=b", 0);
    s.muted.push(a);
    assert_eq!(
        s.flush(30 * S),
        ["ops: firing[\"alertname=Disk,dev=b,host=h1\"] resolved[]"]
    );
    s.muted.clear();
    assert_eq!(
        s.flush(330 * S).len(),
        1,
        "the unmuted alert joins at group_interval"
    );
}

#[test]
fn the_log_carries_repeat_interval_across_a_restart() {
    let mut s = Sim::new(vec![sub("ops", "")]);
    s.fire("alertname=Disk,host=h1", 0);
    assert_eq!(s.flush(30 * S).len(), 1);
    // What the store would hold: the log entry of that notification.
    let key = (
        "ops".to_owned(),
        r#"{"alertname":"Disk","host":"h1"}"#.to_owned(),
    );
    let log: HashMap<_, _> = [(
        key,
        LogEntry {
            notified_at_ms: 30 * S,
            firing: s.alerts.keys().copied().collect(),
        },
    )]
    .into();
    // A new process: subscriptions, alerts, then the log.
    let mut d = Dispatcher::new(crate::config::Route::default());
    d.set_subscription(Arc::new(sub("ops", "")), s.alerts.values(), 3600 * S);
    d.restore_log(log);
    let none = |_: &Alert| false;
    assert!(
        d.flush(3600 * S, &s.alerts, &none).is_empty(),
        "no resend after restart"
    );
    assert_eq!(d.flush(30 * S + 4 * 3600 * S, &s.alerts, &none).len(), 1);
}

#[test]
fn send_resolved_false_moves_the_log_silently() {
    let mut quiet = sub("ops", "");
    quiet.send_resolved = false;
    let mut s = Sim::new(vec![quiet]);
    s.fire("alertname=Disk,host=h1", 0);
    assert_eq!(s.flush(30 * S).len(), 1);
    s.resolve("alertname=Disk,host=h1", 40 * S);
    assert_eq!(
        s.flush(330 * S),
        ["ops: firing[] resolved[\"alertname=Disk,host=h1\"] (silent)"]
    );
}

#[test]
fn quiet_hours_hold_notifications_until_they_end_but_not_critical_ones() {
    let mut night = sub("ops", "");
    night.quiet_hours = Some(QuietHours {
        start: "00:00".into(),
        end: "01:00".into(),
        utc_offset: "Z".into(),
        hold_critical: false,
    });
    let mut s = Sim::new(vec![night]);
    s.fire("alertname=Disk,host=h1,severity=high", 0);
    s.fire("alertname=Down,host=h2,severity=critical", 0);
    assert_eq!(
        s.flush(30 * S),
        ["ops: firing[\"alertname=Down,host=h2,severity=critical\"] resolved[]"],
        "critical goes through"
    );
    assert!(s.flush(1800 * S).is_empty(), "still quiet");
    assert_eq!(s.flush(3600 * S).len(), 1, "sent when the quiet hours end");
}

#[test]
fn group_by_all_makes_one_group_per_alert() {
    let mut each = sub("ops", "");
    each.group_by = Some(vec![GROUP_BY_ALL.into()]);
    let mut s = Sim::new(vec![each]);
    s.fire("alertname=Disk,host=h1,dev=a", 0);
    s.fire("alertname=Disk,host=h1,dev=b", 0);
    assert_eq!(s.flush(30 * S).len(), 2);
}

#[test]
fn removing_a_subscription_drops_its_groups() {
    let mut s = Sim::new(vec![sub("ops", ""), sub("db", "host=h1")]);
    s.fire("alertname=Disk,host=h1", 0);
    s.d.remove_subscription("db");
    assert_eq!(
        s.flush(30 * S),
        ["ops: firing[\"alertname=Disk,host=h1\"] resolved[]"]
    );
}
