//! The history's housekeeping, run every `postgres.maintenance_interval`:
//! partitions ahead, retention, and the 1-minute and 1-hour rollups of closed
//! buckets. Every step is idempotent, and a failed step is logged and retried
//! on the next run; it never stops the loop or touches ingest.
//!
//! Rollups (plain flavour) follow `hostwatch.rollup_pending`: each commit
//! records the time ranges it wrote, and a run recomputes every bucket a
//! closed range touches, then deletes the ranges it read. It reads both tiers'
//! ranges in one statement before aggregating (read committed), so every
//! aggregation sees at least the rows of each range it deletes; ranges
//! committed meanwhile stay for the next run. 1 h is rolled up from 1 m in
//! the same transaction, after it.

use sqlx::{PgPool, Postgres, Transaction};
use tokio_util::sync::CancellationToken;

use super::copy::PgTime;
use super::partitions::Partitions;
use super::schema::Flavor;
use crate::config::PostgresConfig;
use crate::Result;

/// Serializes rollup runs of hubs sharing a database (`pg_advisory_xact_lock`).
const ROLLUP_LOCK: i64 = 0x686f_7374_7761_7401; // "hostwat" + 1

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub partitions_created: usize,
    pub partitions_dropped: u32,
    /// Bucket ranges recomputed per tier.
    pub ranges_1m: usize,
    pub ranges_1h: usize,
}

#[derive(Debug, Clone, Copy)]
struct Tier {
    name: &'static str,
    width_ms: i64,
    /// Refresh window of the TimescaleDB policy (migrations/postgres/timescaledb/):
    /// older ranges need an explicit refresh.
    policy_window_ms: i64,
}

const TIER_1M: Tier = Tier {
    name: "1m",
    width_ms: 60_000,
    policy_window_ms: 3 * 3_600_000,
};
const TIER_1H: Tier = Tier {
    name: "1h",
    width_ms: 3_600_000,
    policy_window_ms: 3 * 86_400_000,
};

/// A pending range as read: (id, tier, from, to).
type Pending = (i64, String, PgTime, PgTime);

pub struct Maintenance {
    pub pool: PgPool,
    pub flavor: Flavor,
    pub partitions: Option<std::sync::Arc<Partitions>>,
    pub config: PostgresConfig,
}

impl Maintenance {
    /// Runs until `token` is cancelled (not at all with a zero interval).
    pub async fn run(&self, token: CancellationToken) {
        let period = self.config.maintenance_interval;
        if period.is_zero() {
            return;
        }
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await; // the first tick is immediate; open() just did the work
        loop {
            tokio::select! {
                _ = token.cancelled() => return,
                _ = tick.tick() => {}
            }
            let report = self.run_once().await;
            tracing::debug!(?report, "history maintenance done");
        }
    }

    /// One run of every step; failures are logged per step.
    pub async fn run_once(&self) -> Report {
        let mut report = Report::default();
        if let Some(p) = &self.partitions {
            report.partitions_created = p.create_ahead(&self.pool).await;
            match p.drop_expired(&self.pool).await {
                Ok(n) => report.partitions_dropped = n,
                Err(e) => tracing::warn!(error = %e, "dropping expired partitions failed"),
            }
        }
        let rollups = match self.flavor {
            Flavor::Plain => self.rollup().await,
            Flavor::Timescale => self.refresh_aggregates().await,
        };
        match rollups {
            Ok((m, h)) => (report.ranges_1m, report.ranges_1h) = (m, h),
            Err(e) => tracing::warn!(error = %e, "history rollups failed"),
        }
        if self.flavor == Flavor::Plain {
            if let Err(e) = self.expire_rollups().await {
                tracing::warn!(error = %e, "rollup retention failed");
            }
        }
        // Bands are a plain table in both flavours; they are drawn at any
        // span, so they live as long as the 1-minute tier.
        if let Err(e) = sqlx::query(
            "DELETE FROM hostwatch.bands WHERE time < now() - make_interval(secs => $1)",
        )
        .bind(self.config.retention_1m.as_secs_f64())
        .execute(&self.pool)
        .await
        {
            tracing::warn!(error = %e, "band retention failed");
        }
        report
    }

    /// Plain flavour: recomputes the buckets of closed pending ranges.
    async fn rollup(&self) -> Result<(usize, usize)> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(ROLLUP_LOCK)
            .execute(&mut *tx)
            .await?;
        let (now, pending) = read_pending(&mut tx).await?;
        let (ids_1m, ranges_1m) = closed(&pending, TIER_1M, now);
        for &(from, to) in &ranges_1m {
            sqlx::query(ROLLUP_1M)
                .bind(PgTime(from))
                .bind(PgTime(to))
                .execute(&mut *tx)
                .await?;
        }
        // After 1 m: every 1 h range read above has its 1 m range read in the
        // same statement (one commit writes both), so 1 m is current for it.
        let (ids_1h, ranges_1h) = closed(&pending, TIER_1H, now);
        for &(from, to) in &ranges_1h {
            sqlx::query(ROLLUP_1H)
                .bind(PgTime(from))
                .bind(PgTime(to))
                .execute(&mut *tx)
                .await?;
        }
        delete_pending(&mut tx, ids_1m.into_iter().chain(ids_1h).collect()).await?;
        tx.commit().await?;
        Ok((ranges_1m.len(), ranges_1h.len()))
    }

    /// TimescaleDB: the refresh policies cover recent buckets; closed ranges
    /// older than a policy's window (late data) get an explicit refresh.
    /// `refresh_continuous_aggregate` cannot run in a transaction block.
    async fn refresh_aggregates(&self) -> Result<(usize, usize)> {
        let mut tx = self.pool.begin().await?;
        let (now, pending) = read_pending(&mut tx).await?;
        tx.commit().await?;
        let mut done = Vec::new();
        let mut counts = [0usize; 2];
        for (i, tier) in [TIER_1M, TIER_1H].into_iter().enumerate() {
            let (ids, ranges) = closed(&pending, tier, now);
            for (from, to) in ranges {
                if to > now - tier.policy_window_ms {
                    continue;
                }
                sqlx::query(&format!(
                    "CALL refresh_continuous_aggregate('hostwatch.samples_{}', $1, $2)",
                    tier.name
                ))
                .bind(PgTime(from))
                .bind(PgTime(to))
                .execute(&self.pool)
                .await?;
                counts[i] += 1;
            }
            done.extend(ids);
        }
        let mut tx = self.pool.begin().await?;
        delete_pending(&mut tx, done).await?;
        tx.commit().await?;
        Ok((counts[0], counts[1]))
    }

    /// Plain flavour: rollup retention, and pending ranges whose raw rows are gone.
    async fn expire_rollups(&self) -> Result<()> {
        let c = &self.config;
        for (sql, keep) in [
            ("DELETE FROM hostwatch.samples_1m WHERE bucket < now() - make_interval(secs => $1)", c.retention_1m),
            ("DELETE FROM hostwatch.samples_1h WHERE bucket < now() - make_interval(secs => $1)", c.retention_1h),
            ("DELETE FROM hostwatch.rollup_pending WHERE to_time < now() - make_interval(secs => $1)", c.retention),
        ] {
            sqlx::query(sql)
                .bind(keep.as_secs_f64())
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }
}

/// The transaction's `now()` (the database's clock, not ours) and every
/// pending range of both tiers, read in one statement.
async fn read_pending(tx: &mut Transaction<'_, Postgres>) -> Result<(i64, Vec<Pending>)> {
    let now: PgTime = sqlx::query_scalar("SELECT now()")
        .fetch_one(&mut **tx)
        .await?;
    let pending: Vec<Pending> =
        sqlx::query_as("SELECT id, tier, from_time, to_time FROM hostwatch.rollup_pending")
            .fetch_all(&mut **tx)
            .await?;
    Ok((now.0, pending))
}

async fn delete_pending(tx: &mut Transaction<'_, Postgres>, ids: Vec<i64>) -> Result<()> {
    if !ids.is_empty() {
        sqlx::query("DELETE FROM hostwatch.rollup_pending WHERE id = ANY($1)")
            .bind(ids)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The pending ranges of `tier` whose buckets are all closed at `now`: their
/// ids, and the bucket-aligned `[from, to)` ranges to recompute, merged.
fn closed(pending: &[Pending], tier: Tier, now: i64) -> (Vec<i64>, Vec<(i64, i64)>) {
    let floor = |t: i64| t.div_euclid(tier.width_ms) * tier.width_ms;
    let open = floor(now);
    let mut ids = Vec::new();
    let mut ranges = Vec::new();
    for (id, name, from, to) in pending {
        if name == tier.name && to.0 < open {
            ids.push(*id);
            ranges.push((floor(from.0), floor(to.0) + tier.width_ms));
        }
    }
    (ids, merge(ranges))
}

/// Merges overlapping or touching `[from, to)` ranges.
pub fn merge(mut ranges: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    ranges.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(ranges.len());
    for (from, to) in ranges {
        match out.last_mut() {
            Some(last) if from <= last.1 => last.1 = last.1.max(to),
            _ => out.push((from, to)),
        }
    }
    out
}

/// 1-minute buckets of `[$1, $2)` from raw samples.
const ROLLUP_1M: &str = "
INSERT INTO hostwatch.samples_1m (series_id, bucket, avg, min, max, last, count)
SELECT series_id, date_trunc('minute', time), avg(value), min(value), max(value),
       (array_agg(value ORDER BY time DESC))[1], count(*)
FROM hostwatch.samples
WHERE time >= $1 AND time < $2
GROUP BY 1, 2
ON CONFLICT (series_id, bucket) DO UPDATE SET avg = excluded.avg, min = excluded.min,
    max = excluded.max, last = excluded.last, count = excluded.count";

/// 1-hour buckets of `[$1, $2)` from the 1-minute ones.
const ROLLUP_1H: &str = "
INSERT INTO hostwatch.samples_1h (series_id, bucket, avg, min, max, last, count)
SELECT series_id, date_trunc('hour', bucket), sum(avg * count) / sum(count)::float8,
       min(min), max(max), (array_agg(last ORDER BY bucket DESC))[1], sum(count)::bigint
FROM hostwatch.samples_1m
WHERE bucket >= $1 AND bucket < $2
GROUP BY 1, 2
ON CONFLICT (series_id, bucket) DO UPDATE SET avg = excluded.avg, min = excluded.min,
    max = excluded.max, last = excluded.last, count = excluded.count";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_joins_overlapping_and_touching_ranges() {
        assert_eq!(merge(vec![]), vec![]);
        assert_eq!(
            merge(vec![(5, 8), (0, 2), (2, 4), (7, 10), (20, 30)]),
            vec![(0, 4), (5, 10), (20, 30)]
        );
    }

    #[test]
    fn only_closed_ranges_of_the_tier_are_taken_and_bucket_aligned() {
        let p = |id, tier: &str, from, to| (id, tier.to_owned(), PgTime(from), PgTime(to));
        let now = 10 * 60_000 + 30_000; // 00:10:30
        let pending = vec![
            p(1, "1m", 61_000, 62_000),          // 00:01:01 – closed
            p(2, "1m", 9 * 60_000, now),         // reaches the open minute
            p(3, "1h", 61_000, 62_000),          // the hour is still open
            p(4, "1m", 119_000, 3 * 60_000 + 1), // closed, overlaps 1 once aligned
        ];
        let (ids, ranges) = closed(&pending, TIER_1M, now);
        assert_eq!(ids, vec![1, 4]);
        assert_eq!(ranges, vec![(60_000, 4 * 60_000)]);
        assert_eq!(closed(&pending, TIER_1H, now), (vec![], vec![]));
    }
}
