//! The delivery worker: takes due rows from the outbox, sends each through
//! its channel, and records the outcome. A row leaves the queue only when the
//! channel acknowledged it (2xx, SMTP accepted) or refused it for good;
//! failures are retried with exponential backoff and jitter, `Retry-After`
//! honoured. After a crash, rows still pending go out again with the same
//! delivery id (at-least-once; receivers may fold repeats by that id).

pub mod email;
pub mod http;
pub mod target;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use rand::Rng;
use tokio::sync::{broadcast, Notify};
use tokio_util::sync::CancellationToken;

use crate::clock::now_ms;
use crate::config::Config;
use crate::engine::EngineHandle;
use crate::metrics::AlertMetrics;
use crate::notify::Payload;
use crate::store::{Delivery, Store};
use crate::subscription::{Channel, Subscription};

/// The longest the worker sleeps without looking at the outbox (rows written
/// by an earlier run, or a wake-up lost to a crash).
const IDLE_POLL: Duration = Duration::from_secs(5);
/// How long a clean stop waits for the sends in flight to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// The live feed's buffer per listener; a browser that falls further behind
/// misses notices (they stay listed under `/api/v1/deliveries`).
pub const LIVE_CAPACITY: usize = 256;

#[derive(Debug)]
pub enum Outcome {
    Delivered,
    Retry {
        after: Option<Duration>,
        error: String,
    },
    /// Refused by the receiver (4xx, SMTP 5xx) or unsendable: not retried.
    Fail(String),
    /// The target is internal and that is not allowed.
    Refused(String),
}

/// A notification on the dashboard's live feed, for one owner.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LiveNotice {
    pub owner: String,
    pub subscription: String,
    pub notification: Payload,
}

pub struct Worker {
    pub config: Arc<Config>,
    pub store: Store,
    pub engine: EngineHandle,
    pub metrics: AlertMetrics,
    pub http: http::HttpSender,
    pub email: Option<email::EmailSender>,
    pub live: broadcast::Sender<LiveNotice>,
    pub wake: Arc<Notify>,
}

impl Worker {
    pub fn new(
        config: Arc<Config>,
        store: Store,
        engine: EngineHandle,
        metrics: AlertMetrics,
        live: broadcast::Sender<LiveNotice>,
        wake: Arc<Notify>,
    ) -> Result<Self, String> {
        let allow_internal = config.allow_private_targets || config.demo;
        let http = http::HttpSender::new(config.delivery.timeout, allow_internal)?;
        let email = config
            .smtp
            .as_ref()
            .map(|s| email::EmailSender::new(s, config.delivery.timeout))
            .transpose()?;
        Ok(Self {
            config,
            store,
            engine,
            metrics,
            http,
            email,
            live,
            wake,
        })
    }

    pub async fn run(self, shutdown: CancellationToken) {
        let batch = self.config.delivery.concurrency * 4;
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let now = now_ms();
            let due = match self.store.due(now, batch).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the outbox");
                    Vec::new()
                }
            };
            if let Ok(n) = self.store.pending_count().await {
                self.metrics.outbox_pending.set(n as f64);
            }
            if due.is_empty() {
                let sleep = match self.store.next_due().await {
                    Ok(Some(t)) => Duration::from_millis(
                        (t - now).clamp(0, IDLE_POLL.as_millis() as i64) as u64,
                    ),
                    _ => IDLE_POLL,
                };
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(sleep) => {}
                }
                continue;
            }
            let subs: HashMap<String, Arc<Subscription>> = match self.engine.subscriptions().await {
                Ok(s) => s.into_iter().map(|s| (s.id.clone(), s)).collect(),
                Err(_) => break,
            };
            let this = &self;
            let work = futures::stream::iter(due)
                .map(|d| {
                    let sub = subs.get(&d.subscription).cloned();
                    async move { this.deliver(d, sub).await }
                })
                .buffer_unordered(self.config.delivery.concurrency)
                .collect::<Vec<()>>();
            tokio::pin!(work);
            tokio::select! {
                _ = shutdown.cancelled() => {
                    // A clean stop lets the sends in flight finish and record
                    // their outcome, so a receiver that already answered is
                    // not sent the same notification again after the restart.
                    // Past the grace (or on a crash) those rows stay pending
                    // and go out after the restart with the same delivery id.
                    if tokio::time::timeout(SHUTDOWN_GRACE, &mut work).await.is_err() {
                        tracing::warn!(grace = ?SHUTDOWN_GRACE, "deliveries still in flight at shutdown stay pending");
                    }
                    break;
                }
                _ = &mut work => {}
            }
        }
        tracing::info!("delivery worker stopped");
    }

    async fn deliver(&self, d: Delivery, sub: Option<Arc<Subscription>>) {
        let channel = sub.as_ref().and_then(|s| s.channels.get(d.channel));
        let (kind, outcome) = match (sub.as_ref(), channel) {
            (Some(sub), Some(ch)) => (ch.kind(), self.send(sub, ch, &d).await),
            _ => (
                "unknown",
                Outcome::Fail("the subscription or channel no longer exists".into()),
            ),
        };
        let now = now_ms();
        let result = match outcome {
            Outcome::Delivered => {
                self.metrics.delivery(kind, "delivered");
                match self.store.mark_delivered(&d, now).await {
                    // Replaced by a newer notification meanwhile: it stays
                    // pending and the new payload goes out next.
                    Ok(false) => {
                        self.wake.notify_one();
                        Ok(())
                    }
                    other => other.map(drop),
                }
            }
            Outcome::Retry { after, error } => {
                let age = Duration::from_millis((now - d.created_at_ms).max(0) as u64);
                if age >= self.config.delivery.give_up_after {
                    self.metrics.delivery(kind, "failed");
                    tracing::warn!(id = %d.id, %error, "giving up a delivery");
                    self.store
                        .mark_failed(&d, &format!("gave up after {age:?}: {error}"))
                        .await
                } else {
                    self.metrics.delivery(kind, "retry");
                    let wait = after.unwrap_or_else(|| self.backoff(d.attempts));
                    tracing::debug!(id = %d.id, %error, ?wait, "delivery will be retried");
                    self.store
                        .mark_retry(&d, now + wait.as_millis() as i64, &error)
                        .await
                }
            }
            Outcome::Fail(error) => {
                self.metrics.delivery(kind, "failed");
                tracing::warn!(id = %d.id, %error, "delivery failed for good");
                self.store.mark_failed(&d, &error).await
            }
            Outcome::Refused(error) => {
                self.metrics.delivery(kind, "failed");
                self.metrics.refused_target();
                tracing::warn!(id = %d.id, %error, "delivery to an internal address refused");
                self.store
                    .mark_failed(
                        &d,
                        &format!("refused: {error} (allow_private_targets is off)"),
                    )
                    .await
            }
        };
        if let Err(e) = result {
            // The row keeps its state; the next round sees it again.
            tracing::warn!(id = %d.id, error = %e, "recording a delivery outcome");
        }
    }

    /// Exponential, with jitter in its upper half so retries of many
    /// deliveries to one receiver spread out.
    fn backoff(&self, attempts: i64) -> Duration {
        let base = self.config.delivery.retry_base;
        let factor = 1u32
            .checked_shl(attempts.clamp(0, 20) as u32)
            .unwrap_or(u32::MAX);
        let ceiling = base
            .saturating_mul(factor)
            .min(self.config.delivery.retry_max);
        let ms = ceiling.as_millis() as u64;
        Duration::from_millis(rand::rng().random_range(ms / 2..=ms.max(1)))
    }

    async fn send(&self, sub: &Subscription, channel: &Channel, d: &Delivery) -> Outcome {
        let payload: Payload = match serde_json::from_str(&d.payload) {
            Ok(p) => p,
            Err(e) => return Outcome::Fail(format!("stored payload unreadable: {e}")),
        };
        match channel {
            Channel::Live => {
                // Nobody listening is not an error: the feed is a view.
                let _ = self.live.send(LiveNotice {
                    owner: sub.owner.clone(),
                    subscription: sub.id.clone(),
                    notification: payload,
                });
                Outcome::Delivered
            }
            Channel::Email { to } => match &self.email {
                Some(e) => e.send(to, &d.id, &payload).await,
                None => Outcome::Fail("no [smtp] relay configured".into()),
            },
            _ => self.http.send(channel, &d.id, &d.payload, &payload).await,
        }
    }
}
