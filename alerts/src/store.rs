//! Everything the service must not forget, in SQLite (embedded) or
//! PostgreSQL (production) through sqlx's Any driver with one schema
//! (`migrations/`): alerts, silences, subscriptions, the notification log and
//! the delivery outbox, and the position in the edge's event feed.
//!
//! Invariant: a notification's outbox rows and its notify_log entry are written
//! in one transaction, so after a crash either both exist or neither does.

use std::collections::HashMap;
use std::str::FromStr;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor, Row};

use crate::error::{Error, Result};
use crate::model::{Alert, Fingerprint};
use crate::silence::Silence;
use crate::subscription::Subscription;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
}

/// What a group was last told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub notified_at_ms: i64,
    /// Sorted fingerprints that were firing in that notification.
    pub firing: Vec<Fingerprint>,
}

/// A delivery to queue: one channel of one subscription's notification.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub channel: usize,
    pub payload: String,
}

/// A queued delivery, as the worker sees it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: String,
    pub subscription: String,
    pub group_key: String,
    pub channel: usize,
    pub payload: String,
    pub version: i64,
    pub attempts: i64,
    pub created_at_ms: i64,
}

/// A delivery's listing form (`GET /api/v1/deliveries`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeliveryStatus {
    pub id: String,
    pub subscription: String,
    pub group_key: String,
    pub channel: usize,
    pub state: String,
    pub attempts: i64,
    pub created_at_ms: i64,
    pub next_at_ms: i64,
    pub delivered_at_ms: Option<i64>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub epoch: String,
    pub seq: u64,
}

pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";

fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Internal(format!("encoding: {e}")))
}

fn parse<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| Error::Internal(format!("stored {what} unreadable: {e}")))
}

fn fingerprints(s: &str) -> Result<Vec<Fingerprint>> {
    parse("fingerprint list", s)
}

impl Store {
    /// Connects and brings the schema up to date.
    pub async fn open(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let sqlite = url.starts_with("sqlite:");
        let url = if sqlite && !url.contains("mode=") {
            // Create the file on first start.
            format!("{url}{}mode=rwc", if url.contains('?') { "&" } else { "?" })
        } else {
            url.to_owned()
        };
        let options = AnyConnectOptions::from_str(&url).map_err(|e| Error::Database {
            context: "parsing database_url",
            source: e,
        })?;
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 4 } else { 8 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        // WAL for readers beside the writer; FULL so an
                        // acknowledged write survives power loss.
                        conn.execute("PRAGMA journal_mode=WAL").await?;
                        conn.execute("PRAGMA synchronous=FULL").await?;
                        conn.execute("PRAGMA busy_timeout=10000").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(|e| Error::Database {
                context: "connecting",
                source: e,
            })?;
        MIGRATOR.run(&pool).await.map_err(|e| Error::Database {
            context: "migrating",
            source: e.into(),
        })?;
        Ok(Self { pool })
    }

    fn db(context: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
        move |source| Error::Database { context, source }
    }

    // ---- alerts

    pub async fn load_alerts(&self) -> Result<Vec<Alert>> {
        let rows = sqlx::query("SELECT body FROM alerts")
            .fetch_all(&self.pool)
            .await
            .map_err(Self::db("loading alerts"))?;
        rows.iter()
            .map(|r| parse("alert", &r.get::<String, _>(0)))
            .collect()
    }

    pub async fn save_alerts(
        &self,
        alerts: &[Alert],
        cursor: Option<(&str, &Cursor)>,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(Self::db("begin"))?;
        for a in alerts {
            sqlx::query(
                "INSERT INTO alerts (fingerprint, body, ends_at, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (fingerprint) DO UPDATE SET body = excluded.body, \
                 ends_at = excluded.ends_at, updated_at = excluded.updated_at",
            )
            .bind(a.fingerprint.to_string())
            .bind(json(a)?)
            .bind(a.ends_at_ms)
            .bind(a.updated_at_ms)
            .execute(&mut *tx)
            .await
            .map_err(Self::db("saving an alert"))?;
        }
        if let Some((source, c)) = cursor {
            sqlx::query(
                "INSERT INTO feed_cursor (source, epoch, seq) VALUES ($1, $2, $3) \
                 ON CONFLICT (source) DO UPDATE SET epoch = excluded.epoch, seq = excluded.seq",
            )
            .bind(source)
            .bind(&c.epoch)
            .bind(c.seq as i64)
            .execute(&mut *tx)
            .await
            .map_err(Self::db("saving the feed cursor"))?;
        }
        tx.commit().await.map_err(Self::db("commit"))
    }

    /// Forgets alerts resolved before `before_ms`.
    pub async fn delete_resolved_before(&self, before_ms: i64) -> Result<u64> {
        sqlx::query("DELETE FROM alerts WHERE ends_at IS NOT NULL AND ends_at < $1")
            .bind(before_ms)
            .execute(&self.pool)
            .await
            .map(|r| r.rows_affected())
            .map_err(Self::db("deleting old alerts"))
    }

    pub async fn cursor(&self, source: &str) -> Result<Option<Cursor>> {
        let row = sqlx::query("SELECT epoch, seq FROM feed_cursor WHERE source = $1")
            .bind(source)
            .fetch_optional(&self.pool)
            .await
            .map_err(Self::db("reading the feed cursor"))?;
        Ok(row.map(|r| Cursor {
            epoch: r.get(0),
            seq: r.get::<i64, _>(1).max(0) as u64,
        }))
    }

    // ---- silences

    pub async fn load_silences(&self) -> Result<Vec<Silence>> {
        let rows = sqlx::query("SELECT body FROM silences")
            .fetch_all(&self.pool)
            .await
            .map_err(Self::db("loading silences"))?;
        rows.iter()
            .map(|r| parse("silence", &r.get::<String, _>(0)))
            .collect()
    }

    pub async fn save_silence(&self, s: &Silence) -> Result<()> {
        sqlx::query(
            "INSERT INTO silences (id, body, ends_at) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET body = excluded.body, ends_at = excluded.ends_at",
        )
        .bind(&s.id)
        .bind(json(s)?)
        .bind(s.ends_at_ms)
        .execute(&self.pool)
        .await
        .map(drop)
        .map_err(Self::db("saving a silence"))
    }

    // ---- subscriptions

    pub async fn load_subscriptions(&self) -> Result<Vec<Subscription>> {
        let rows = sqlx::query("SELECT body FROM subscriptions")
            .fetch_all(&self.pool)
            .await
            .map_err(Self::db("loading subscriptions"))?;
        rows.iter()
            .map(|r| parse("subscription", &r.get::<String, _>(0)))
            .collect()
    }

    pub async fn save_subscription(&self, s: &Subscription) -> Result<()> {
        sqlx::query(
            "INSERT INTO subscriptions (id, owner, body) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, body = excluded.body",
        )
        .bind(&s.id)
        .bind(&s.owner)
        .bind(json(s)?)
        .execute(&self.pool)
        .await
        .map(drop)
        .map_err(Self::db("saving a subscription"))
    }

    /// Removes a subscription with its log and undelivered notifications.
    pub async fn delete_subscription(&self, id: &str) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(Self::db("begin"))?;
        for sql in [
            "DELETE FROM subscriptions WHERE id = $1",
            "DELETE FROM notify_log WHERE subscription = $1",
            "DELETE FROM outbox WHERE subscription = $1 AND state = 'pending'",
        ] {
            sqlx::query(sql)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(Self::db("deleting a subscription"))?;
        }
        tx.commit().await.map_err(Self::db("commit"))
    }

    // ---- notifications

    pub async fn load_log(&self) -> Result<HashMap<(String, String), LogEntry>> {
        let rows =
            sqlx::query("SELECT subscription, group_key, notified_at, firing FROM notify_log")
                .fetch_all(&self.pool)
                .await
                .map_err(Self::db("loading the notification log"))?;
        rows.iter()
            .map(|r| {
                Ok((
                    (r.get::<String, _>(0), r.get::<String, _>(1)),
                    LogEntry {
                        notified_at_ms: r.get(2),
                        firing: fingerprints(&r.get::<String, _>(3))?,
                    },
                ))
            })
            .collect()
    }

    /// Records a notification: the group's new log entry (`None` once nothing
    /// fires any more) and one delivery per channel. A delivery of the same
    /// group and channel still pending is replaced (its version bumped)
    /// rather than queued beside it: a receiver that was down gets the
    /// newest state once, not every state it missed.
    pub async fn commit_notification(
        &self,
        subscription: &str,
        group_key: &str,
        log: Option<&LogEntry>,
        deliveries: &[NewDelivery],
        now_ms: i64,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(Self::db("begin"))?;
        match log {
            Some(l) => {
                sqlx::query(
                    "INSERT INTO notify_log (subscription, group_key, notified_at, firing) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (subscription, group_key) DO UPDATE \
                     SET notified_at = excluded.notified_at, firing = excluded.firing",
                )
                .bind(subscription)
                .bind(group_key)
                .bind(l.notified_at_ms)
                .bind(json(&l.firing)?)
                .execute(&mut *tx)
                .await
            }
            None => {
                sqlx::query("DELETE FROM notify_log WHERE subscription = $1 AND group_key = $2")
                    .bind(subscription)
                    .bind(group_key)
                    .execute(&mut *tx)
                    .await
            }
        }
        .map_err(Self::db("writing the notification log"))?;
        for d in deliveries {
            let replaced = sqlx::query(
                "UPDATE outbox SET payload = $1, version = version + 1, next_at = $2 \
                 WHERE subscription = $3 AND group_key = $4 AND channel = $5 AND state = 'pending'",
            )
            .bind(&d.payload)
            .bind(now_ms)
            .bind(subscription)
            .bind(group_key)
            .bind(d.channel as i64)
            .execute(&mut *tx)
            .await
            .map_err(Self::db("replacing a pending delivery"))?
            .rows_affected();
            if replaced == 0 {
                sqlx::query(
                    "INSERT INTO outbox (id, subscription, group_key, channel, payload, version, \
                     state, attempts, created_at, next_at) \
                     VALUES ($1, $2, $3, $4, $5, 0, 'pending', 0, $6, $6)",
                )
                .bind(crate::ids::new_id())
                .bind(subscription)
                .bind(group_key)
                .bind(d.channel as i64)
                .bind(&d.payload)
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .map_err(Self::db("queueing a delivery"))?;
            }
        }
        tx.commit().await.map_err(Self::db("commit"))
    }

    /// Pending deliveries due at `now_ms`, oldest first.
    pub async fn due(&self, now_ms: i64, limit: usize) -> Result<Vec<Delivery>> {
        let rows = sqlx::query(
            "SELECT id, subscription, group_key, channel, payload, version, attempts, created_at \
             FROM outbox WHERE state = 'pending' AND next_at <= $1 ORDER BY next_at, created_at LIMIT $2",
        )
        .bind(now_ms)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(Self::db("reading due deliveries"))?;
        Ok(rows
            .iter()
            .map(|r| Delivery {
                id: r.get(0),
                subscription: r.get(1),
                group_key: r.get(2),
                channel: r.get::<i64, _>(3).max(0) as usize,
                payload: r.get(4),
                version: r.get(5),
                attempts: r.get(6),
                created_at_ms: r.get(7),
            })
            .collect())
    }

    /// When the next pending delivery is due.
    pub async fn next_due(&self) -> Result<Option<i64>> {
        sqlx::query("SELECT MIN(next_at) FROM outbox WHERE state = 'pending'")
            .fetch_one(&self.pool)
            .await
            .map(|r| r.get::<Option<i64>, _>(0))
            .map_err(Self::db("reading the next due delivery"))
    }

    /// Marks `d` delivered, unless a newer payload replaced it meanwhile
    /// (then it stays pending and goes out again). Returns whether it did.
    pub async fn mark_delivered(&self, d: &Delivery, now_ms: i64) -> Result<bool> {
        sqlx::query(
            "UPDATE outbox SET state = 'delivered', delivered_at = $1, attempts = attempts + 1, \
             last_error = NULL WHERE id = $2 AND version = $3",
        )
        .bind(now_ms)
        .bind(&d.id)
        .bind(d.version)
        .execute(&self.pool)
        .await
        .map(|r| r.rows_affected() == 1)
        .map_err(Self::db("marking a delivery done"))
    }

    pub async fn mark_retry(&self, d: &Delivery, next_at_ms: i64, error: &str) -> Result<()> {
        sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, next_at = $1, last_error = $2 \
             WHERE id = $3 AND state = 'pending'",
        )
        .bind(next_at_ms)
        .bind(error)
        .bind(&d.id)
        .execute(&self.pool)
        .await
        .map(drop)
        .map_err(Self::db("scheduling a retry"))
    }

    pub async fn mark_failed(&self, d: &Delivery, error: &str) -> Result<()> {
        sqlx::query(
            "UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_error = $1 \
             WHERE id = $2 AND version = $3",
        )
        .bind(error)
        .bind(&d.id)
        .bind(d.version)
        .execute(&self.pool)
        .await
        .map(drop)
        .map_err(Self::db("marking a delivery failed"))
    }

    pub async fn pending_count(&self) -> Result<i64> {
        sqlx::query("SELECT COUNT(*) FROM outbox WHERE state = 'pending'")
            .fetch_one(&self.pool)
            .await
            .map(|r| r.get::<i64, _>(0))
            .map_err(Self::db("counting pending deliveries"))
    }

    /// Recent deliveries of the given subscriptions, newest first.
    pub async fn deliveries(
        &self,
        subscriptions: &[String],
        limit: usize,
    ) -> Result<Vec<DeliveryStatus>> {
        let mut out = Vec::new();
        for s in subscriptions {
            let rows = sqlx::query(
                "SELECT id, subscription, group_key, channel, state, attempts, created_at, next_at, \
                 delivered_at, last_error FROM outbox WHERE subscription = $1 \
                 ORDER BY created_at DESC LIMIT $2",
            )
            .bind(s)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(Self::db("listing deliveries"))?;
            out.extend(rows.iter().map(|r| DeliveryStatus {
                id: r.get(0),
                subscription: r.get(1),
                group_key: r.get(2),
                channel: r.get::<i64, _>(3).max(0) as usize,
                state: r.get(4),
                attempts: r.get(5),
                created_at_ms: r.get(6),
                next_at_ms: r.get(7),
                delivered_at_ms: r.get(8),
                last_error: r.get(9),
            }));
        }
        out.sort_by_key(|d| std::cmp::Reverse(d.created_at_ms));
        out.truncate(limit);
        Ok(out)
    }

    /// Forgets delivered and failed rows older than `before_ms`.
    pub async fn prune_outbox(&self, before_ms: i64) -> Result<u64> {
        sqlx::query("DELETE FROM outbox WHERE state <> 'pending' AND created_at < $1")
            .bind(before_ms)
            .execute(&self.pool)
            .await
            .map(|r| r.rows_affected())
            .map_err(Self::db("pruning the outbox"))
    }
}
