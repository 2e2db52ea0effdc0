//! The engine actor: owns alerts, silences and subscriptions in memory (each
//! change persisted before it is acknowledged), and on every tick asks the
//! [`Dispatcher`] which groups are due, writing their notifications to the
//! outbox for the delivery worker. Callers hold an [`EngineHandle`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Notify};
use tokio_util::sync::CancellationToken;

use crate::clock::now_ms;
use crate::config::Config;
use crate::dispatch::{Dispatcher, Notification};
use crate::error::{Error, Result};
use crate::inhibit::{self, InhibitRule};
use crate::metrics::AlertMetrics;
use crate::model::{Alert, Fingerprint, Origin};
use crate::notify;
use crate::silence::{self, Silence};
use crate::store::{Cursor, NewDelivery, Store};
use crate::subscription::Subscription;

/// Requests waiting for the engine; callers wait when it is full (HTTP
/// handlers and the feed slow down rather than pile up).
const QUEUE: usize = 1024;
/// How often resolved alerts past retention and old outbox rows are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// Delivered and failed outbox rows are kept this long for `/api/v1/deliveries`.
const OUTBOX_KEPT: Duration = Duration::from_secs(7 * 24 * 3600);

/// An alert with what currently holds it back.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AlertView {
    #[serde(flatten)]
    pub alert: Alert,
    pub state: &'static str,
    pub silenced_by: Vec<String>,
    pub inhibited_by: Vec<String>,
    /// Subscriptions it is routed to.
    pub receivers: Vec<String>,
}

enum Command {
    Ingest {
        alerts: Vec<Alert>,
        cursor: Option<(String, Cursor)>,
        reply: oneshot::Sender<Result<usize>>,
    },
    Alerts(oneshot::Sender<Vec<AlertView>>),
    PutSilence(Silence, oneshot::Sender<Result<String>>),
    ExpireSilence(String, oneshot::Sender<Result<()>>),
    Silences(oneshot::Sender<Vec<Silence>>),
    PutSubscription(Subscription, oneshot::Sender<Result<()>>),
    DeleteSubscription {
        id: String,
        owner: Option<String>,
        reply: oneshot::Sender<Result<()>>,
    },
    Subscriptions(oneshot::Sender<Vec<Arc<Subscription>>>),
}

#[derive(Clone)]
pub struct EngineHandle {
    tx: mpsc::Sender<Command>,
}

impl EngineHandle {
    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)
    }

    /// Stores alerts (merged with what is known of them) and, in the same
    /// transaction, the feed position they came from. Returns how many were new.
    pub async fn ingest(
        &self,
        alerts: Vec<Alert>,
        cursor: Option<(String, Cursor)>,
    ) -> Result<usize> {
        self.ask(|reply| Command::Ingest {
            alerts,
            cursor,
            reply,
        })
        .await?
    }

    pub async fn alerts(&self) -> Result<Vec<AlertView>> {
        self.ask(Command::Alerts).await
    }

    pub async fn put_silence(&self, s: Silence) -> Result<String> {
        self.ask(|r| Command::PutSilence(s, r)).await?
    }

    pub async fn expire_silence(&self, id: String) -> Result<()> {
        self.ask(|r| Command::ExpireSilence(id, r)).await?
    }

    pub async fn silences(&self) -> Result<Vec<Silence>> {
        self.ask(Command::Silences).await
    }

    pub async fn put_subscription(&self, s: Subscription) -> Result<()> {
        self.ask(|r| Command::PutSubscription(s, r)).await?
    }

    /// Deletes `id`; with `owner`, only if it is theirs.
    pub async fn delete_subscription(&self, id: String, owner: Option<String>) -> Result<()> {
        self.ask(|reply| Command::DeleteSubscription { id, owner, reply })
            .await?
    }

    pub async fn subscriptions(&self) -> Result<Vec<Arc<Subscription>>> {
        self.ask(Command::Subscriptions).await
    }
}

pub struct Engine {
    config: Arc<Config>,
    store: Store,
    metrics: AlertMetrics,
    alerts: HashMap<Fingerprint, Alert>,
    silences: HashMap<String, Silence>,
    inhibit: Vec<InhibitRule>,
    dispatcher: Dispatcher,
    /// Wakes the delivery worker when the outbox gets rows.
    outbox_ready: Arc<Notify>,
}

impl Engine {
    /// Loads everything persisted and returns the engine ready to run.
    pub async fn load(
        config: Arc<Config>,
        store: Store,
        metrics: AlertMetrics,
        outbox_ready: Arc<Notify>,
    ) -> Result<Self> {
        let now = now_ms();
        let alerts: HashMap<Fingerprint, Alert> = store
            .load_alerts()
            .await?
            .into_iter()
            .map(|a| (a.fingerprint, a))
            .collect();
        let silences = store
            .load_silences()
            .await?
            .into_iter()
            .map(|s| (s.id.clone(), s))
            .collect();
        let mut dispatcher = Dispatcher::new(config.route.clone());
        let mut subs = store.load_subscriptions().await?;
        if config.demo && subs.is_empty() {
            let s = demo_subscription(now);
            store.save_subscription(&s).await?;
            subs.push(s);
        }
        // Resolved alerts join groups only through the log (below): one told
        // as firing is then told as resolved; the others were dealt with.
        for s in subs {
            dispatcher.set_subscription(
                Arc::new(s),
                alerts.values().filter(|a| !a.is_resolved(now)),
                now,
            );
        }
        dispatcher.restore_log(store.load_log().await?);
        tracing::info!(
            alerts = alerts.len(),
            subscriptions = dispatcher.subscriptions().count(),
            groups = dispatcher.group_count(),
            "alert state loaded"
        );
        Ok(Self {
            inhibit: config.inhibit.clone(),
            config,
            store,
            metrics,
            alerts,
            silences,
            dispatcher,
            outbox_ready,
        })
    }

    pub fn spawn(self, shutdown: CancellationToken) -> (EngineHandle, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let task = tokio::spawn(tracing::Instrument::instrument(
            self.run(rx, shutdown),
            tracing::info_span!("engine"),
        ));
        (EngineHandle { tx }, task)
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Command>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.config.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut prune = tokio::time::interval(PRUNE_EVERY);
        prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                cmd = rx.recv() => match cmd {
                    Some(c) => self.handle(c).await,
                    None => break,
                },
                _ = tick.tick() => self.flush().await,
                _ = prune.tick() => self.prune().await,
            }
        }
        tracing::info!("engine stopped");
    }

    async fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Ingest {
                alerts,
                cursor,
                reply,
            } => {
                let r = self.ingest(alerts, cursor).await;
                let stored = r.is_ok();
                let _ = reply.send(r);
                // A group whose wait is already over (group_wait 0, or a
                // change after group_interval) goes out now, not at the tick.
                if stored {
                    self.flush().await;
                }
            }
            Command::Alerts(reply) => {
                let _ = reply.send(self.views());
            }
            Command::PutSilence(s, reply) => {
                let _ = reply.send(self.put_silence(s).await);
            }
            Command::ExpireSilence(id, reply) => {
                let _ = reply.send(self.expire_silence(&id).await);
            }
            Command::Silences(reply) => {
                let mut all: Vec<Silence> = self.silences.values().cloned().collect();
                all.sort_by_key(|s| std::cmp::Reverse(s.updated_at_ms));
                let _ = reply.send(all);
            }
            Command::PutSubscription(s, reply) => {
                let r = self.store.save_subscription(&s).await;
                if r.is_ok() {
                    self.dispatcher
                        .set_subscription(Arc::new(s), self.alerts.values(), now_ms());
                }
                let _ = reply.send(r);
            }
            Command::DeleteSubscription { id, owner, reply } => {
                let r = match self.dispatcher.subscription(&id) {
                    Some(s) if owner.as_ref().is_none_or(|o| *o == s.owner) => {
                        let r = self.store.delete_subscription(&id).await;
                        if r.is_ok() {
                            self.dispatcher.remove_subscription(&id);
                        }
                        r
                    }
                    _ => Err(Error::NotFound(format!("subscription {id}"))),
                };
                let _ = reply.send(r);
            }
            Command::Subscriptions(reply) => {
                let mut all: Vec<Arc<Subscription>> =
                    self.dispatcher.subscriptions().cloned().collect();
                all.sort_by_key(|s| s.created_at_ms);
                let _ = reply.send(all);
            }
        }
    }

    async fn ingest(
        &mut self,
        incoming: Vec<Alert>,
        cursor: Option<(String, Cursor)>,
    ) -> Result<usize> {
        let now = now_ms();
        let mut merged: Vec<Alert> = Vec::with_capacity(incoming.len());
        let mut new = 0;
        for a in incoming {
            self.metrics.received(a.origin);
            if let Some(m) = merged.iter_mut().find(|m| m.fingerprint == a.fingerprint) {
                m.merge(a, now);
                continue;
            }
            match self.alerts.get(&a.fingerprint) {
                Some(old) => {
                    let mut m = old.clone();
                    m.merge(a, now);
                    merged.push(m);
                }
                None if self.alerts.len() + new >= self.config.max_alerts => {
                    self.metrics.rejected("too_many_alerts");
                    return Err(Error::Full(format!(
                        "holding {} alerts already (max_alerts)",
                        self.alerts.len()
                    )));
                }
                None => {
                    new += 1;
                    merged.push(a);
                }
            }
        }
        // A report that changes nothing (an edge replay of known events)
        // is not routed again: it must not re-announce what was told.
        merged.retain(|m| self.alerts.get(&m.fingerprint) != Some(m));
        let cursor_ref = cursor.as_ref().map(|(s, c)| (s.as_str(), c));
        self.store.save_alerts(&merged, cursor_ref).await?;
        for a in merged {
            self.dispatcher.on_alert(&a, now);
            self.alerts.insert(a.fingerprint, a);
        }
        self.refresh_gauges(now);
        Ok(new)
    }

    fn firing_now(&self, now: i64) -> Vec<&Alert> {
        self.alerts
            .values()
            .filter(|a| !a.is_resolved(now))
            .collect()
    }

    fn silenced_by(&self, a: &Alert, now: i64) -> Vec<String> {
        self.silences
            .values()
            .filter(|s| s.mutes(&a.labels, now))
            .map(|s| s.id.clone())
            .collect()
    }

    fn views(&self) -> Vec<AlertView> {
        let now = now_ms();
        let firing = self.firing_now(now);
        let subs: Vec<&Arc<Subscription>> = self.dispatcher.subscriptions().collect();
        let mut out: Vec<AlertView> = self
            .alerts
            .values()
            .map(|a| {
                let silenced_by = self.silenced_by(a, now);
                let inhibited_by: Vec<String> =
                    inhibit::inhibitor(&self.inhibit, a, firing.iter().copied())
                        .map(|f| f.to_string())
                        .into_iter()
                        .collect();
                let state = if a.is_resolved(now) {
                    "resolved"
                } else if silenced_by.is_empty() && inhibited_by.is_empty() {
                    "active"
                } else {
                    "suppressed"
                };
                AlertView {
                    alert: a.clone(),
                    state,
                    silenced_by,
                    inhibited_by,
                    receivers: subs
                        .iter()
                        .filter(|s| s.matches(a))
                        .map(|s| s.name.clone())
                        .collect(),
                }
            })
            .collect();
        out.sort_by(|a, b| {
            b.alert
                .starts_at_ms
                .cmp(&a.alert.starts_at_ms)
                .then(a.alert.fingerprint.cmp(&b.alert.fingerprint))
        });
        out
    }

    async fn put_silence(&mut self, mut s: Silence) -> Result<String> {
        s.validate().map_err(Error::Invalid)?;
        let now = now_ms();
        if s.id.is_empty() {
            s.id = crate::ids::new_id();
        } else if !self.silences.contains_key(&s.id) {
            return Err(Error::NotFound(format!("silence {}", s.id)));
        }
        s.updated_at_ms = now;
        self.store.save_silence(&s).await?;
        let id = s.id.clone();
        self.silences.insert(id.clone(), s);
        Ok(id)
    }

    async fn expire_silence(&mut self, id: &str) -> Result<()> {
        let now = now_ms();
        let Some(mut s) = self.silences.get(id).cloned() else {
            return Err(Error::NotFound(format!("silence {id}")));
        };
        if s.state(now) == silence::State::Expired {
            return Err(Error::Invalid(format!("silence {id} already expired")));
        }
        s.ends_at_ms = now;
        s.starts_at_ms = s.starts_at_ms.min(now);
        s.updated_at_ms = now;
        self.store.save_silence(&s).await?;
        self.silences.insert(id.to_owned(), s);
        Ok(())
    }

    async fn flush(&mut self) {
        let now = now_ms();
        let notifications = {
            // Sources of inhibition: firing alerts that match some rule's
            // source side; usually a handful, so targets check only those.
            let sources: Vec<&Alert> = self
                .alerts
                .values()
                .filter(|a| !a.is_resolved(now))
                .filter(|a| {
                    self.inhibit
                        .iter()
                        .any(|r| crate::matcher::all_match(&r.source, &a.labels))
                })
                .collect();
            let silences: Vec<&Silence> = self
                .silences
                .values()
                .filter(|s| s.state(now) == silence::State::Active)
                .collect();
            let inhibit = &self.inhibit;
            let muted = |a: &Alert| {
                silences.iter().any(|s| s.mutes(&a.labels, now))
                    || inhibit::inhibitor(inhibit, a, sources.iter().copied()).is_some()
            };
            self.dispatcher.flush(now, &self.alerts, &muted)
        };
        let mut queued = false;
        for n in notifications {
            match self.persist(&n, now).await {
                Ok(sent) => {
                    queued |= sent;
                    self.dispatcher.sent(&n);
                }
                Err(e) => {
                    // The group stays due; the next tick tries again.
                    self.metrics.engine_errors.inc();
                    tracing::warn!(error = %e, subscription = %n.subscription.id, "could not queue a notification");
                }
            }
        }
        if queued {
            self.outbox_ready.notify_one();
        }
    }

    /// Writes one notification's deliveries and log entry; whether any
    /// delivery was queued.
    async fn persist(&self, n: &Notification, now: i64) -> Result<bool> {
        let deliveries: Vec<NewDelivery> = if n.send {
            let body = notify::payload(n, &|fp| self.alerts.get(fp).cloned(), "");
            let payload = serde_json::to_string(&body)
                .map_err(|e| Error::Internal(format!("encoding a notification: {e}")))?;
            (0..n.subscription.channels.len())
                .map(|channel| NewDelivery {
                    channel,
                    payload: payload.clone(),
                })
                .collect()
        } else {
            Vec::new()
        };
        self.store
            .commit_notification(
                &n.subscription.id,
                &n.group_key,
                n.log.as_ref(),
                &deliveries,
                now,
            )
            .await?;
        if !deliveries.is_empty() {
            self.metrics.notifications.inc();
        }
        Ok(!deliveries.is_empty())
    }

    async fn prune(&mut self) {
        let now = now_ms();
        let before = now - self.config.resolved_retention.as_millis() as i64;
        let old: Vec<Fingerprint> = self
            .alerts
            .values()
            .filter(|a| a.ends_at_ms.is_some_and(|e| e < before))
            .map(|a| a.fingerprint)
            .collect();
        if let Err(e) = self.store.delete_resolved_before(before).await {
            tracing::warn!(error = %e, "pruning resolved alerts");
            return;
        }
        for fp in old {
            self.alerts.remove(&fp);
            self.dispatcher.forget_alert(fp);
        }
        if let Err(e) = self
            .store
            .prune_outbox(now - OUTBOX_KEPT.as_millis() as i64)
            .await
        {
            tracing::warn!(error = %e, "pruning the outbox");
        }
        self.refresh_gauges(now);
    }

    fn refresh_gauges(&self, now: i64) {
        let firing = self.alerts.values().filter(|a| !a.is_resolved(now)).count();
        self.metrics.alerts_firing.set(firing as f64);
        self.metrics.alerts_held.set(self.alerts.len() as f64);
        self.metrics
            .groups
            .set(self.dispatcher.group_count() as f64);
    }
}

/// The subscription a fresh demo starts with, so the dashboard's feed shows
/// notifications without any set-up: everything medium or worse, live.
fn demo_subscription(now: i64) -> Subscription {
    Subscription {
        id: crate::ids::new_id(),
        owner: "demo".into(),
        name: "Everything medium or worse (demo)".into(),
        matchers: crate::matcher::parse_list("severity>=medium").unwrap_or_default(),
        channels: vec![crate::subscription::Channel::Live],
        group_by: None,
        timing: None,
        send_resolved: true,
        quiet_hours: None,
        created_at_ms: now,
    }
}

/// What `POST /api/v2/alerts` turns into alerts: without `endsAt` an alert
/// resolves `resolve_timeout` after this report unless it is sent again.
pub fn default_end(origin: Origin, now: i64, resolve_timeout: Duration) -> Option<i64> {
    match origin {
        Origin::Api => Some(now + resolve_timeout.as_millis() as i64),
        _ => None,
    }
}
