//! Daily partitions of `hostwatch.samples` (plain flavour): created ahead,
//! created on demand for the days a commit writes, dropped past retention.
//!
//! A partition is created in its own short transaction *before* the commit
//! that needs it, never inside it, and a failure is only logged: the commit's
//! rows then land in the DEFAULT partition, so a missing partition can never
//! fail (or hold up) an agent's batch.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use sqlx::PgPool;

use crate::Result;

/// Partitions are kept ready for today and this many days ahead.
pub const AHEAD_DAYS: i64 = 2;
/// How long partition DDL waits for its locks before giving up (and leaving
/// the rows to the DEFAULT partition until the next try).
const DDL_LOCK_TIMEOUT: &str = "2s";
const MS_PER_DAY: i64 = 86_400_000;

/// UTC day (days since 1970-01-01) of a unix-ms timestamp.
pub fn day_of(unix_ms: i64) -> i64 {
    unix_ms.div_euclid(MS_PER_DAY)
}

pub struct Partitions {
    /// Days known to have a partition. Only ever a cache: the database is
    /// the truth, and `ensure_partition` is idempotent.
    known: Mutex<HashSet<i64>>,
    retention: Duration,
}

impl Partitions {
    pub async fn load(pool: &PgPool, retention: Duration) -> Result<Self> {
        let p = Self {
            known: Mutex::new(HashSet::new()),
            retention,
        };
        p.reload(pool).await?;
        Ok(p)
    }

    async fn reload(&self, pool: &PgPool) -> Result<()> {
        let days: Vec<i32> = sqlx::query_scalar("SELECT hostwatch.partition_days()")
            .fetch_all(pool)
            .await?;
        *self.known.lock().unwrap_or_else(|p| p.into_inner()) =
            days.into_iter().map(i64::from).collect();
        Ok(())
    }

    /// Today and [`AHEAD_DAYS`] after it.
    pub async fn create_ahead(&self, pool: &PgPool) -> usize {
        let today = day_of(common::now_ms());
        self.ensure(pool, today..=today + AHEAD_DAYS).await
    }

    /// Creates the partitions of `days` that do not exist yet; returns how
    /// many it created. Days already past retention are left to the DEFAULT
    /// partition (and to retention). Never fails: see the module comment.
    pub async fn ensure(&self, pool: &PgPool, days: impl IntoIterator<Item = i64>) -> usize {
        let oldest = day_of(common::now_ms()) - (self.retention.as_secs() / 86_400) as i64;
        let missing: Vec<i64> = {
            let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
            let mut m: Vec<i64> = days
                .into_iter()
                .filter(|d| *d >= oldest && !known.contains(d))
                .collect();
            m.sort_unstable();
            m.dedup();
            m
        };
        let mut created = 0;
        for day in missing {
            match create(pool, day).await {
                Ok(new) => {
                    created += usize::from(new);
                    self.known
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(day);
                }
                Err(e) => {
                    tracing::warn!(day, error = %e, "creating a samples partition failed; rows of that day go to the DEFAULT partition for now");
                }
            }
        }
        created
    }

    /// Retention: drops partitions that ended more than `retention` ago, and
    /// older rows of the DEFAULT partition. Returns partitions dropped.
    pub async fn drop_expired(&self, pool: &PgPool) -> Result<u32> {
        let mut tx = pool.begin().await?;
        sqlx::query(&format!("SET LOCAL lock_timeout = '{DDL_LOCK_TIMEOUT}'"))
            .execute(&mut *tx)
            .await?;
        let dropped: i32 = sqlx::query_scalar(
            "SELECT hostwatch.drop_partitions_before(now() - make_interval(secs => $1))",
        )
        .bind(self.retention.as_secs_f64())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        if dropped > 0 {
            self.reload(pool).await?;
        }
        Ok(dropped.max(0) as u32)
    }
}

/// One partition in its own transaction; true if it was created now.
async fn create(pool: &PgPool, day: i64) -> Result<bool> {
    let mut tx = pool.begin().await?;
    sqlx::query(&format!("SET LOCAL lock_timeout = '{DDL_LOCK_TIMEOUT}'"))
        .execute(&mut *tx)
        .await?;
    let created: bool =
        sqlx::query_scalar("SELECT hostwatch.ensure_partition(DATE '1970-01-01' + $1::int)")
            .bind(i32::try_from(day).unwrap_or(i32::MAX))
            .fetch_one(&mut *tx)
            .await?;
    tx.commit().await?;
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_and_floor_before_1970() {
        assert_eq!(day_of(0), 0);
        assert_eq!(day_of(MS_PER_DAY - 1), 0);
        assert_eq!(day_of(MS_PER_DAY), 1);
        assert_eq!(day_of(-1), -1);
    }
}
