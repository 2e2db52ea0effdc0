//! The pure core of routing: which subscriptions an alert belongs to, how
//! alerts form groups, and when a group is due a notification (Alertmanager's
//! group_wait, group_interval and repeat_interval). No I/O and no clock: the
//! caller passes `now` and persists what comes out.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use crate::config::Route;
use crate::model::{Alert, Fingerprint, LabelSet, Origin};
use crate::store::LogEntry;
use crate::subscription::Subscription;

/// `group_by = ["..."]`: every alert is a group of its own.
pub const GROUP_BY_ALL: &str = "...";

/// A group's identity in memory: a hash of (subscription id, group key).
type GroupId = u64;

fn group_id(sub: &str, key: &str) -> GroupId {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    sub.hash(&mut h);
    key.hash(&mut h);
    h.finish()
}

struct Group {
    sub: String,
    /// The group's labels as JSON: its key in the notification log.
    key: String,
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
    group: GroupId,
}

/// Subscriptions found by one of their equality matchers: an alert is only
/// checked against those anchored on one of its own label pairs, plus those
/// with no equality matcher at all.
#[derive(Default)]
struct Index {
    anchored: HashMap<String, HashMap<String, Vec<Arc<Subscription>>>>,
    unanchored: Vec<Arc<Subscription>>,
}

impl Index {
    fn build<'a>(subs: impl Iterator<Item = &'a Arc<Subscription>>) -> Self {
        let mut ix = Index::default();
        for s in subs {
            // An equality on a non-empty value: only alerts carrying that
            // pair can match. (`x=""` matches alerts without x: not an anchor.)
            let anchor = s
                .matchers
                .iter()
                .find(|m| m.op == crate::matcher::Op::Eq && !m.value.is_empty());
            match anchor {
                Some(m) => ix
                    .anchored
                    .entry(m.name.clone())
                    .or_default()
                    .entry(m.value.clone())
                    .or_default()
                    .push(s.clone()),
                None => ix.unanchored.push(s.clone()),
            }
        }
        ix
    }

    fn candidates<'a>(
        &'a self,
        labels: &'a LabelSet,
    ) -> impl Iterator<Item = &'a Arc<Subscription>> {
        labels
            .iter()
            .filter_map(|(k, v)| self.anchored.get(k)?.get(v))
            .flatten()
            .chain(&self.unanchored)
    }
}

pub struct Dispatcher {
    route: Route,
    subs: HashMap<String, Arc<Subscription>>,
    index: Index,
    groups: HashMap<GroupId, Group>,
    /// Which groups each alert belongs to; an alert's labels never change
    /// (they are its identity), so this is computed once per alert.
    memberships: HashMap<Fingerprint, Vec<GroupId>>,
}

impl Dispatcher {
    pub fn new(route: Route) -> Self {
        Self {
            route,
            subs: HashMap::new(),
            index: Index::default(),
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

    fn group_labels(route: &Route, sub: &Subscription, alert: &Alert) -> LabelSet {
        let by = sub.group_by.as_ref().unwrap_or(&route.group_by);
        if by.iter().any(|l| l == GROUP_BY_ALL) {
            return alert.labels.clone();
        }
        by.iter()
            .filter_map(|l| alert.labels.get(l).map(|v| (l.clone(), v.clone())))
            .collect()
    }

    /// Puts `alert` into `sub`'s group for it, creating the group; returns its id.
    fn join(&mut self, sub: &Subscription, alert: &Alert, now_ms: i64) -> GroupId {
        let labels = Self::group_labels(&self.route, sub, alert);
        // The group's labels as JSON: stable, because they are sorted.
        let key = serde_json::to_string(&labels).unwrap_or_default();
        let id = group_id(&sub.id, &key);
        self.groups
            .entry(id)
            .or_insert_with(|| Group {
                sub: sub.id.clone(),
                key,
                labels,
                members: BTreeSet::new(),
                first_seen_ms: now_ms,
                last: None,
            })
            .members
            .insert(alert.fingerprint);
        id
    }

    /// Adds (or keeps) an alert in the groups of every subscription it matches.
    /// Returns how many subscriptions that is.
    pub fn on_alert(&mut self, alert: &Alert, now_ms: i64) -> usize {
        if let Some(ids) = self.memberships.get(&alert.fingerprint) {
            // The resend path: no matching, only membership (the alert may
            // have left a group after its resolved notice and fire again).
            let mut gone = Vec::new();
            for id in ids {
                match self.groups.get_mut(id) {
                    Some(g) => {
                        g.members.insert(alert.fingerprint);
                    }
                    None => gone.push(*id),
                }
            }
            let n = ids.len();
            if gone.is_empty() {
                return n;
            }
            // Some groups ended: recreate them from the subscriptions.
            self.memberships.remove(&alert.fingerprint);
        }
        let matched: Vec<Arc<Subscription>> = self
            .index
            .candidates(&alert.labels)
            .filter(|s| s.matches(alert))
            .cloned()
            .collect();
        let ids: Vec<GroupId> = matched
            .iter()
            .map(|s| self.join(s, alert, now_ms))
            .collect();
        let n = ids.len();
        self.memberships.insert(alert.fingerprint, ids);
        n
    }

    /// An alert left memory (resolved long ago).
    pub fn forget_alert(&mut self, fp: Fingerprint) {
        for id in self.memberships.remove(&fp).unwrap_or_default() {
            if let Some(g) = self.groups.get_mut(&id) {
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
        self.index = Index::build(self.subs.values());
        for a in alerts {
            if !sub.matches(a) {
                continue;
            }
            let id = self.join(&sub, a, now_ms);
            self.memberships.entry(a.fingerprint).or_default().push(id);
        }
    }

    pub fn remove_subscription(&mut self, id: &str) {
        if self.subs.remove(id).is_none() {
            return;
        }
        self.index = Index::build(self.subs.values());
        let gone: Vec<GroupId> = self
            .groups
            .iter()
            .filter(|(_, g)| g.sub == id)
            .map(|(k, _)| *k)
            .collect();
        for g in &gone {
            self.groups.remove(g);
        }
        for ids in self.memberships.values_mut() {
            ids.retain(|g| !gone.contains(g));
        }
    }

    /// Puts back what each group was last told (after a restart), so repeat
    /// and group intervals continue instead of starting over.
    pub fn restore_log(&mut self, log: HashMap<(String, String), LogEntry>) {
        for ((sub, key), entry) in log {
            if !self.subs.contains_key(&sub) {
                continue;
            }
            let labels: LabelSet = serde_json::from_str(&key).unwrap_or_default();
            let id = group_id(&sub, &key);
            let g = self.groups.entry(id).or_insert_with(|| Group {
                sub,
                key,
                labels,
                members: BTreeSet::new(),
                first_seen_ms: entry.notified_at_ms,
                last: None,
            });
            // What the group last said was firing stays a member, so one that
            // resolved while we were down is still told as resolved.
            for fp in &entry.firing {
                if g.members.insert(*fp) {
                    self.memberships.entry(*fp).or_default().push(id);
                }
            }
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
        for (id, g) in self.groups.iter_mut() {
            let Some(sub) = self.subs.get(&g.sub) else {
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
            // group_wait, or while muted): nothing to tell anyone — except a
            // detection incident, which is news even when it is already
            // over (a 15 s CPU storm closes before a 30 s group_wait ends).
            g.members.retain(|fp| match alerts.get(fp) {
                None => false,
                Some(a) if a.is_resolved(now_ms) => {
                    let told = was_firing.binary_search(fp).is_ok()
                        || (a.origin == Origin::Detection && !muted(a));
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
                    empty.push(*id);
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
                group_key: g.key.clone(),
                group_labels: g.labels.clone(),
                group: *id,
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
        let Some(g) = self.groups.get_mut(&n.group) else {
            return;
        };
        for fp in &n.resolved {
            g.members.remove(fp);
        }
        g.last = n.log.clone();
        if g.members.is_empty() && g.last.is_none() {
            self.groups.remove(&n.group);
        }
    }
}

#[cfg(test)]
mod tests;
