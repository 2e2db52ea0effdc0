//! The pure core of routing: which subscriptions an alert belongs to, how
//! alerts form groups, and when a group is due a notification (Alertmanager's
//! group_wait, group_interval and repeat_interval). No I/O and no clock: the
//! caller passes `now` and persists what comes out.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use crate::config::Route;
use crate::model::{Alert, Fingerprint, LabelSet};
use crate::store::LogEntry;
use crate::subscription::Subscription;

/// `group_by = ["..."]`: every alert is a group of its own.
pub const GROUP_BY_ALL: &str = "...";

type Key = (String, String);

struct Group {
    labels: LabelSet,
    members: BTreeSet<Fingerprint>,
    first_seen_ms: i64,
    last: Option<LogEntry>,
}

/// A group's notification: what fires, what resolved since last time, and
/// the log entry to persist with it.
#[derive(Debug, Clone)]
pub struct Notification {
    pub subscription: Arc<Subscription>,
    pub group_key: String,
    pub group_labels: LabelSet,
    pub firing: Vec<Fingerprint>,
    pub resolved: Vec<Fingerprint>,
    /// The group's new log entry; `None` when nothing fires any more.
    pub log: Option<LogEntry>,
    /// False when only the log moves (resolved alerts, `send_resolved = false`).
    pub send: bool,
}

pub struct Dispatcher {
    route: Route,
    subs: HashMap<String, Arc<Subscription>>,
    groups: HashMap<Key, Group>,
    /// Which groups each alert belongs to; an alert's labels never change
    /// (they are its identity), so this is computed once per alert.
    memberships: HashMap<Fingerprint, Vec<Key>>,
}

impl Dispatcher {
    pub fn new(route: Route) -> Self {
        Self {
            route,
            subs: HashMap::new(),
            groups: HashMap::new(),
            memberships: HashMap::new(),
        }
    }

    pub fn subscriptions(&self) -> impl Iterator<Item = &Arc<Subscription>> {
        self.subs.values()
    }

    pub fn subscription(&self, id: &str) -> Option<&Arc<Subscription>> {
        self.subs.get(id)
    }

    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    fn group_labels(&self, sub: &Subscription, alert: &Alert) -> LabelSet {
        let by = sub.group_by.as_ref().unwrap_or(&self.route.group_by);
        if by.iter().any(|l| l == GROUP_BY_ALL) {
            return alert.labels.clone();
        }
        by.iter()
            .filter_map(|l| alert.labels.get(l).map(|v| (l.clone(), v.clone())))
            .collect()
    }

    /// A group's key: its labels as JSON, stable because they are sorted.
    fn group_key(labels: &LabelSet) -> String {
        serde_json::to_string(labels).unwrap_or_default()
    }

    fn join(&mut self, key: Key, labels: LabelSet, fp: Fingerprint, now_ms: i64) {
        self.groups
            .entry(key)
            .or_insert_with(|| Group {
                labels,
                members: BTreeSet::new(),
                first_seen_ms: now_ms,
                last: None,
            })
            .members
            .insert(fp);
    }

    /// Adds (or keeps) an alert in the groups of every subscription it matches.
    /// Returns how many subscriptions that is.
    pub fn on_alert(&mut self, alert: &Alert, now_ms: i64) -> usize {
        let keys = match self.memberships.get(&alert.fingerprint) {
            Some(keys) => keys.clone(),
            None => {
                let keys: Vec<Key> = self
                    .subs
                    .values()
                    .filter(|s| s.matches(alert))
                    .map(|s| {
                        let labels = self.group_labels(s, alert);
                        (s.id.clone(), Self::group_key(&labels))
                    })
                    .collect();
                self.memberships.insert(alert.fingerprint, keys.clone());
                keys
            }
        };
        for key in &keys {
            if !self.groups.contains_key(key) {
                let Some(sub) = self.subs.get(&key.0).cloned() else {
                    continue;
                };
                let labels = self.group_labels(&sub, alert);
                self.join(key.clone(), labels, alert.fingerprint, now_ms);
            } else if let Some(g) = self.groups.get_mut(key) {
                g.members.insert(alert.fingerprint);
            }
        }
        keys.len()
    }

    /// An alert left memory (resolved long ago).
    pub fn forget_alert(&mut self, fp: Fingerprint) {
        for key in self.memberships.remove(&fp).unwrap_or_default() {
            if let Some(g) = self.groups.get_mut(&key) {
                g.members.remove(&fp);
            }
        }
    }

    /// Adds or replaces a subscription and sorts the known alerts into it.
    pub fn set_subscription<'a>(
        &mut self,
        sub: Arc<Subscription>,
        alerts: impl IntoIterator<Item = &'a Alert>,
        now_ms: i64,
    ) {
        self.remove_subscription(&sub.id);
        self.subs.insert(sub.id.clone(), sub.clone());
        for a in alerts {
            if !sub.matches(a) {
                continue;
            }
            let labels = self.group_labels(&sub, a);
            let key = (sub.id.clone(), Self::group_key(&labels));
            self.memberships
                .entry(a.fingerprint)
                .or_default()
                .push(key.clone());
            self.join(key, labels, a.fingerprint, now_ms);
        }
    }

    pub fn remove_subscription(&mut self, id: &str) {
        if self.subs.remove(id).is_none() {
            return;
        }
        self.groups.retain(|(s, _), _| s != id);
        for keys in self.memberships.values_mut() {
            keys.retain(|(s, _)| s != id);
        }
    }

    /// Puts back what each group was last told (after a restart), so repeat
    /// and group intervals continue instead of starting over.
    pub fn restore_log(&mut self, log: HashMap<Key, LogEntry>) {
        for (key, entry) in log {
            if !self.subs.contains_key(&key.0) {
                continue;
            }
            let labels: LabelSet = serde_json::from_str(&key.1).unwrap_or_default();
            let g = self.groups.entry(key).or_insert_with(|| Group {
                labels,
                members: BTreeSet::new(),
                first_seen_ms: entry.notified_at_ms,
                last: None,
            });
            g.last = Some(entry);
        }
    }

    /// Every group due a notification at `now_ms`. `alerts` holds the alerts
    /// in memory; `muted` says whether a silence or an inhibition holds one.
    /// Nothing is marked sent here: once a notification is persisted, the
    /// caller reports it with [`Dispatcher::sent`]; one that failed to persist
    /// is simply due again at the next flush.
    pub fn flush(
        &mut self,
        now_ms: i64,
        alerts: &HashMap<Fingerprint, Alert>,
        muted: &dyn Fn(&Alert) -> bool,
    ) -> Vec<Notification> {
        let mut out = Vec::new();
        let mut empty = Vec::new();
        for (key, g) in self.groups.iter_mut() {
            let Some(sub) = self.subs.get(&key.0) else {
                continue;
            };
            let t = sub.timing.unwrap_or_else(|| self.route.timing());
            let due = match &g.last {
                None => g.first_seen_ms + t.group_wait.as_millis() as i64,
                Some(l) => l.notified_at_ms + t.group_interval.as_millis() as i64,
            };
            if now_ms < due {
                continue;
            }
            let was_firing: &[Fingerprint] = g.last.as_ref().map_or(&[], |l| &l.firing);
            let mut firing = Vec::new();
            let mut resolved = Vec::new();
            // Members that left memory, or fired and resolved unseen (within
            // group_wait, or while muted): nothing to tell anyone.
            g.members.retain(|fp| match alerts.get(fp) {
                None => false,
                Some(a) if a.is_resolved(now_ms) => {
                    let told = was_firing.binary_search(fp).is_ok();
                    if told {
                        resolved.push(*fp);
                    }
                    told
                }
                Some(a) => {
                    if !muted(a) {
                        firing.push(*fp);
                    }
                    true
                }
            });
            if firing.is_empty() && resolved.is_empty() {
                if g.members.is_empty() && was_firing.is_empty() {
                    empty.push(key.clone());
                }
                continue;
            }
            let changed = firing != was_firing || !resolved.is_empty();
            let repeat = !firing.is_empty()
                && g.last.as_ref().is_some_and(|l| {
                    now_ms >= l.notified_at_ms + t.repeat_interval.as_millis() as i64
                });
            if !changed && !repeat {
                continue;
            }
            let worst = firing
                .iter()
                .filter_map(|fp| alerts.get(fp).and_then(Alert::severity))
                .max();
            if sub.held_by_quiet_hours(worst, now_ms) {
                continue;
            }
            let log = (!firing.is_empty()).then(|| LogEntry {
                notified_at_ms: now_ms,
                firing: firing.clone(),
            });
            out.push(Notification {
                subscription: sub.clone(),
                group_key: key.1.clone(),
                group_labels: g.labels.clone(),
                send: !firing.is_empty() || sub.send_resolved,
                firing,
                resolved,
                log,
            });
        }
        for k in empty {
            self.groups.remove(&k);
        }
        out
    }

    /// Records that `n` was persisted: its group moves on.
    pub fn sent(&mut self, n: &Notification) {
        let key = (n.subscription.id.clone(), n.group_key.clone());
        let Some(g) = self.groups.get_mut(&key) else {
            return;
        };
        for fp in &n.resolved {
            g.members.remove(fp);
        }
        g.last = n.log.clone();
        if g.members.is_empty() && g.last.is_none() {
            self.groups.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests;
