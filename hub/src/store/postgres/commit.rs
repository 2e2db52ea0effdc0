//! `commit()` of the PostgreSQL store: one transaction per group of batches.
//!
//! 1. The ledger rows of the group's agents are created if new and locked
//!    (`FOR UPDATE`, in agent order so two hubs cannot deadlock). When the
//!    store remembers every agent's `last_seq` from its own commits, it uses
//!    those instead, and step 5's update checks them (see `commit_once`).
//! 2. A batch whose seq is at or below its agent's `last_seq` is a duplicate:
//!    acked, counted, not stored.
//! 3. Series ids come from the cache, else are created inside the
//!    transaction; new ids reach the cache only after commit.
//! 4. Rows go in with one binary `COPY`.
//! 5. The ledger is updated (a remembered `last_seq` that no longer holds
//!    rolls the attempt back, and step 1 runs with the lock) and the written
//!    time ranges are recorded for the rollups (`rollup_pending`), then the
//!    transaction commits.
//!
//! Partitions for the rows' days are ensured before the transaction starts
//! (see `partitions.rs`); that step cannot fail the commit.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use common::metrics::{Registry, SecondsCounter};
use common::model::SeriesKey;
use rustc_hash::{FxHashMap, FxHashSet};
use sqlx::{Postgres, Transaction};

use super::copy::{CopyBuffer, PgTime, COPY_SAMPLES};
use super::partitions::day_of;
use super::PostgresStore;
use crate::store::{Outcome, WriteBatch};
use crate::Result;

/// Written ranges closer than this are recorded as one (fewer, wider
/// rollup recomputations; a minute is one 1 m bucket).
const RANGE_MERGE_GAP_MS: i64 = 60_000;

/// What one commit changes in one agent's ledger row.
struct Delta<'a> {
    host: &'a str,
    last_seq: i64,
    batches: i64,
    rows: i64,
    duplicates: i64,
}

/// The store's cache of series ids. Series are immutable once created, so
/// it never goes stale; new ids enter only after their commit.
#[derive(Default)]
pub(super) struct SeriesIds {
    /// host → key → id: the source of truth.
    by_key: FxHashMap<String, FxHashMap<SeriesKey, i64>>,
    /// The same ids by the address of a row's shared key (interned once per
    /// series by the Redis buffer, once per stream otherwise), so a row costs
    /// a pointer hash instead of hashing its name and labels. Each entry keeps
    /// its `Arc` alive: the address cannot be reused by another key.
    by_ptr: FxHashMap<usize, (Arc<SeriesKey>, String, i64)>,
    /// Ids in `by_key`, to bound `by_ptr` (agents that reconnect bring new
    /// `Arc`s for the same series).
    len: usize,
}

impl SeriesIds {
    fn get(&mut self, host: &str, key: &Arc<SeriesKey>) -> Option<i64> {
        let ptr = Arc::as_ptr(key) as usize;
        if let Some((_, h, id)) = self.by_ptr.get(&ptr) {
            if h == host {
                return Some(*id);
            }
        }
        let id = *self.by_key.get(host)?.get(&**key)?;
        if self.by_ptr.len() > 2 * self.len + 1024 {
            self.by_ptr.clear();
        }
        self.by_ptr.insert(ptr, (key.clone(), host.to_owned(), id));
        Some(id)
    }

    fn insert(&mut self, host: String, key: SeriesKey, id: i64) {
        if self
            .by_key
            .entry(host)
            .or_default()
            .insert(key, id)
            .is_none()
        {
            self.len += 1;
        }
    }
}

/// Time spent in each step of [`commit`], as
/// `hostwatch_hub_history_seconds_total{phase}`: which step bounds history.
pub struct Timers {
    partitions: SecondsCounter,
    ledger_lock: SecondsCounter,
    series: SecondsCounter,
    copy: SecondsCounter,
    ledger_update: SecondsCounter,
    ranges: SecondsCounter,
    commit: SecondsCounter,
}

impl Timers {
    pub fn new(registry: &Registry) -> Self {
        let phase = |p| crate::metrics::history_seconds(registry, p);
        Self {
            partitions: phase("pg_partitions"),
            ledger_lock: phase("pg_ledger_lock"),
            series: phase("pg_series"),
            copy: phase("pg_copy"),
            ledger_update: phase("pg_ledger_update"),
            ranges: phase("pg_ranges"),
            commit: phase("pg_commit"),
        }
    }
}

/// Adds the time since the last mark to `counter` (when timed at all).
struct Clock<'a> {
    timers: Option<&'a Timers>,
    mark: Instant,
}

impl<'a> Clock<'a> {
    fn new(timers: Option<&'a Timers>) -> Self {
        Self {
            timers,
            mark: Instant::now(),
        }
    }
    fn lap(&mut self, counter: fn(&Timers) -> &SecondsCounter) {
        let now = Instant::now();
        if let Some(t) = self.timers {
            counter(t).add(now - self.mark);
        }
        self.mark = now;
    }
}

pub(super) async fn commit(store: &PostgresStore, batches: &[WriteBatch]) -> Result<Vec<Outcome>> {
    if batches.is_empty() {
        return Ok(Vec::new());
    }
    let mut clock = Clock::new(store.timers.get());
    if let Some(p) = &store.partitions {
        p.ensure(&store.pool, days(batches)).await;
    }
    clock.lap(|t| &t.partitions);
    if let Some(outcomes) = commit_once(store, batches, true, &mut clock).await? {
        return Ok(outcomes);
    }
    // The ledger moved behind the store's back (another hub, a commit whose
    // reply was lost): lock first and read it.
    commit_once(store, batches, false, &mut clock)
        .await?
        .ok_or_else(|| crate::Error::Server("ledger check failed while locked".into()))
}

/// One attempt. `optimistic`: when the store knows every agent's `last_seq`
/// from its own commits, it skips the locking read and lets the ledger update
/// check that each row still holds that value (one statement instead of two);
/// if one does not, the attempt rolls back and returns `None`.
async fn commit_once(
    store: &PostgresStore,
    batches: &[WriteBatch],
    optimistic: bool,
    clock: &mut Clock<'_>,
) -> Result<Option<Vec<Outcome>>> {
    let mut tx = store.pool.begin().await?;
    let expected = optimistic.then(|| known_seqs(store, batches)).flatten();
    let mut last_seq = match &expected {
        Some(e) => e.clone(),
        None => lock_ledger(store, &mut tx, batches).await?,
    };
    clock.lap(|t| &t.ledger_lock);

    let mut outcomes = Vec::with_capacity(batches.len());
    let mut deltas: Vec<Delta> = Vec::new();
    let mut delta_of: FxHashMap<&str, usize> = FxHashMap::default();
    let mut stored: Vec<&WriteBatch> = Vec::new();
    for b in batches {
        let seq = i64::try_from(b.seq).unwrap_or(i64::MAX);
        let last = last_seq.entry(b.agent_id.as_str()).or_insert(0);
        let i = *delta_of.entry(b.agent_id.as_str()).or_insert_with(|| {
            deltas.push(Delta {
                host: &b.host,
                last_seq: 0,
                batches: 0,
                rows: 0,
                duplicates: 0,
            });
            deltas.len() - 1
        });
        let d = &mut deltas[i];
        d.host = &b.host;
        if seq <= *last {
            d.duplicates += 1;
            outcomes.push(Outcome::Duplicate);
            continue;
        }
        *last = seq;
        d.last_seq = seq;
        d.batches += 1;
        d.rows += b.rows.len() as i64;
        stored.push(b);
        outcomes.push(Outcome::Stored);
    }

    let (ids, fresh) = resolve_series(store, &mut tx, &stored).await?;
    clock.lap(|t| &t.series);
    copy_rows(&mut tx, &stored, &ids).await?;
    clock.lap(|t| &t.copy);
    let checked = update_ledger(&mut tx, &delta_of, &deltas, expected.as_ref()).await?;
    clock.lap(|t| &t.ledger_update);
    if !checked {
        tx.rollback().await?;
        forget_seqs(store, batches);
        return Ok(None);
    }
    record_ranges(&mut tx, &stored).await?;
    clock.lap(|t| &t.ranges);
    tx.commit().await?;
    clock.lap(|t| &t.commit);

    let mut cache = store.series_ids.lock().unwrap_or_else(|p| p.into_inner());
    for (host, key, id) in fresh {
        cache.insert(host, key, id);
    }
    drop(cache);
    let mut seqs = store.last_seqs.lock().unwrap_or_else(|p| p.into_inner());
    for (agent, seq) in last_seq {
        match seqs.get_mut(agent) {
            Some(s) => *s = seq,
            None => {
                seqs.insert(agent.to_owned(), seq);
            }
        }
    }
    Ok(Some(outcomes))
}

/// Every group agent's `last_seq` as this store last committed it; `None`
/// when it has not seen one of them.
fn known_seqs<'a>(
    store: &PostgresStore,
    batches: &'a [WriteBatch],
) -> Option<HashMap<&'a str, i64>> {
    let seqs = store.last_seqs.lock().unwrap_or_else(|p| p.into_inner());
    let mut out = HashMap::new();
    for b in batches {
        let a = b.agent_id.as_str();
        out.insert(a, *seqs.get(a)?);
    }
    Some(out)
}

/// Drops the group's agents from the `last_seq` cache (it was wrong).
fn forget_seqs(store: &PostgresStore, batches: &[WriteBatch]) {
    let mut seqs = store.last_seqs.lock().unwrap_or_else(|p| p.into_inner());
    for b in batches {
        seqs.remove(b.agent_id.as_str());
    }
}

/// UTC days the group's rows fall on.
fn days(batches: &[WriteBatch]) -> HashSet<i64> {
    let mut days = HashSet::new();
    let mut prev = None;
    for (_, ts, _) in batches.iter().flat_map(|b| &b.rows) {
        let d = day_of(*ts);
        if prev != Some(d) {
            days.insert(d);
            prev = Some(d);
        }
    }
    days
}

/// Creates missing ledger rows, locks all of the group's, returns `last_seq`s.
/// Agents the store has seen in the ledger skip the insert (one statement
/// instead of two per commit); should a row be gone anyway, it is created
/// and locked in a second pass.
async fn lock_ledger<'a>(
    store: &PostgresStore,
    tx: &mut Transaction<'_, Postgres>,
    batches: &'a [WriteBatch],
) -> Result<HashMap<&'a str, i64>> {
    let mut agents: Vec<(&str, &str)> = batches
        .iter()
        .map(|b| (b.agent_id.as_str(), b.host.as_str()))
        .collect();
    agents.sort_unstable();
    agents.dedup_by(|a, b| a.0 == b.0);
    let new: Vec<(&str, &str)> = {
        let known = store.last_seqs.lock().unwrap_or_else(|p| p.into_inner());
        agents
            .iter()
            .filter(|a| !known.contains_key(a.0))
            .copied()
            .collect()
    };
    insert_ledger_rows(tx, &new).await?;
    let ids: Vec<&str> = agents.iter().map(|a| a.0).collect();
    let mut by_name = lock_ledger_rows(tx, &ids).await?;
    if by_name.len() < ids.len() {
        let gone: Vec<(&str, &str)> = agents
            .iter()
            .filter(|a| !by_name.contains_key(a.0))
            .copied()
            .collect();
        insert_ledger_rows(tx, &gone).await?;
        let ids: Vec<&str> = gone.iter().map(|a| a.0).collect();
        by_name.extend(lock_ledger_rows(tx, &ids).await?);
    }
    Ok(ids
        .into_iter()
        .map(|a| (a, by_name.get(a).copied().unwrap_or(0)))
        .collect())
}

/// Ledger rows for `agents` (id, host) that do not exist yet.
async fn insert_ledger_rows(
    tx: &mut Transaction<'_, Postgres>,
    agents: &[(&str, &str)],
) -> Result<()> {
    if agents.is_empty() {
        return Ok(());
    }
    let (ids, hosts): (Vec<&str>, Vec<&str>) = agents.iter().copied().unzip();
    sqlx::query(
        "INSERT INTO hostwatch.ledger (agent_id, host)
         SELECT * FROM unnest($1::text[], $2::text[])
         ON CONFLICT (agent_id) DO NOTHING",
    )
    .bind(&ids)
    .bind(&hosts)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Locks the ledger rows of `ids` (sorted: agent order, so two hubs cannot
/// deadlock) and returns their `last_seq`s.
async fn lock_ledger_rows(
    tx: &mut Transaction<'_, Postgres>,
    ids: &[&str],
) -> Result<HashMap<String, i64>> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT agent_id, last_seq FROM hostwatch.ledger
         WHERE agent_id = ANY($1) ORDER BY agent_id FOR UPDATE",
    )
    .bind(ids)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().collect())
}

/// The series id of every stored row, in order, and the series created now.
async fn resolve_series(
    store: &PostgresStore,
    tx: &mut Transaction<'_, Postgres>,
    stored: &[&WriteBatch],
) -> Result<(Vec<i64>, Vec<(String, SeriesKey, i64)>)> {
    let total: usize = stored.iter().map(|b| b.rows.len()).sum();
    let mut ids = Vec::with_capacity(total);
    // Series the cache does not know, once each; their rows get 0 for now
    // (ids start at 1).
    let mut missing: Vec<(&str, &SeriesKey)> = Vec::new();
    {
        let mut cache = store.series_ids.lock().unwrap_or_else(|p| p.into_inner());
        let mut seen: FxHashSet<(&str, &SeriesKey)> = FxHashSet::default();
        for b in stored {
            let host = b.host.as_str();
            for (key, _, _) in &b.rows {
                match cache.get(host, key) {
                    Some(id) => ids.push(id),
                    None => {
                        if seen.insert((host, &**key)) {
                            missing.push((host, &**key));
                        }
                        ids.push(0);
                    }
                }
            }
        }
    }
    if missing.is_empty() {
        return Ok((ids, Vec::new()));
    }
    let hosts: Vec<&str> = missing.iter().map(|m| m.0).collect();
    let names: Vec<&str> = missing.iter().map(|m| m.1.name.as_str()).collect();
    let labels: Vec<String> = missing.iter().map(|m| m.1.labels_json()).collect();
    sqlx::query(
        "INSERT INTO hostwatch.series (host, name, labels)
         SELECT h, n, l::jsonb FROM unnest($1::text[], $2::text[], $3::text[]) AS t(h, n, l)
         ON CONFLICT (host, name, md5(labels::text)) DO NOTHING",
    )
    .bind(&hosts)
    .bind(&names)
    .bind(&labels)
    .execute(&mut **tx)
    .await?;
    let found: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT t.i, s.id
         FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS t(h, n, l, i)
         JOIN hostwatch.series s ON s.host = t.h AND s.name = t.n
          AND md5(s.labels::text) = md5(t.l::jsonb::text) AND s.labels = t.l::jsonb",
    )
    .bind(&hosts)
    .bind(&names)
    .bind(&labels)
    .fetch_all(&mut **tx)
    .await?;
    let mut by_series: FxHashMap<(&str, &SeriesKey), i64> = FxHashMap::default();
    let mut fresh = Vec::with_capacity(found.len());
    for (ordinal, id) in found {
        let Some(&(host, key)) = usize::try_from(ordinal - 1)
            .ok()
            .and_then(|i| missing.get(i))
        else {
            continue;
        };
        by_series.insert((host, key), id);
        fresh.push((host.to_owned(), key.clone(), id));
    }
    // Every row of a missing series, by looking its series up once more.
    let rows = stored
        .iter()
        .flat_map(|b| b.rows.iter().map(move |r| (b.host.as_str(), &*r.0)));
    for (slot, (host, key)) in ids.iter_mut().zip(rows) {
        if *slot == 0 {
            *slot = by_series.get(&(host, key)).copied().ok_or_else(|| {
                crate::Error::Server(format!("series {} of {host} not created", key.name))
            })?;
        }
    }
    Ok((ids, fresh))
}

/// All stored rows in one binary COPY; `ids` holds each row's series id.
async fn copy_rows(
    tx: &mut Transaction<'_, Postgres>,
    stored: &[&WriteBatch],
    ids: &[i64],
) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut buf = CopyBuffer::with_capacity(ids.len());
    let rows = stored.iter().flat_map(|b| &b.rows);
    for ((_, ts, v), id) in rows.zip(ids) {
        buf.push(*id, *ts, *v);
    }
    let data = buf.finish();
    let mut copy = tx.copy_in_raw(COPY_SAMPLES).await?;
    if let Err(e) = copy.send(data).await {
        let _ = copy.abort("hostwatch: sending COPY data failed").await;
        return Err(e.into());
    }
    copy.finish().await?;
    Ok(())
}

/// Adds the commit's deltas to the ledger rows. With `expected` (the
/// optimistic path) a row is updated only if it still holds the `last_seq`
/// the store expected, and `false` is returned unless every row was; the
/// update's row locks then serve as the ledger lock. (Those locks are taken in
/// the join's order, not the agents': two hubs writing the same agents could
/// deadlock; PostgreSQL aborts one, whose batches are retried.)
async fn update_ledger(
    tx: &mut Transaction<'_, Postgres>,
    delta_of: &FxHashMap<&str, usize>,
    deltas: &[Delta<'_>],
    expected: Option<&HashMap<&str, i64>>,
) -> Result<bool> {
    let mut agents = vec![""; deltas.len()];
    for (agent, i) in delta_of {
        agents[*i] = agent;
    }
    let col = |f: fn(&Delta) -> i64| deltas.iter().map(f).collect::<Vec<i64>>();
    // -1 matches no row's last_seq (seqs start at 0): unchecked.
    let check: Vec<i64> = agents
        .iter()
        .map(|a| expected.map_or(-1, |e| e.get(a).copied().unwrap_or(-1)))
        .collect();
    let updated = sqlx::query(
        "UPDATE hostwatch.ledger l SET host = u.host, last_seq = GREATEST(l.last_seq, u.last_seq),
            batches = l.batches + u.batches, rows = l.rows + u.rows,
            duplicates = l.duplicates + u.duplicates, updated = now()
         FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[], $5::int8[], $6::int8[],
                     $7::int8[])
            AS u(agent_id, host, last_seq, batches, rows, duplicates, expected)
         WHERE l.agent_id = u.agent_id AND (u.expected < 0 OR l.last_seq = u.expected)",
    )
    .bind(&agents)
    .bind(deltas.iter().map(|d| d.host).collect::<Vec<&str>>())
    .bind(col(|d| d.last_seq))
    .bind(col(|d| d.batches))
    .bind(col(|d| d.rows))
    .bind(col(|d| d.duplicates))
    .bind(&check)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(expected.is_none() || updated == deltas.len() as u64)
}

/// Records the time ranges written, for both rollup tiers.
async fn record_ranges(tx: &mut Transaction<'_, Postgres>, stored: &[&WriteBatch]) -> Result<()> {
    let ranges = written_ranges(stored);
    if ranges.is_empty() {
        return Ok(());
    }
    let (from, to): (Vec<PgTime>, Vec<PgTime>) = ranges
        .into_iter()
        .map(|(f, t)| (PgTime(f), PgTime(t)))
        .unzip();
    sqlx::query(
        "INSERT INTO hostwatch.rollup_pending (tier, from_time, to_time)
         SELECT x.tier, r.f, r.t
         FROM unnest($1::timestamptz[], $2::timestamptz[]) AS r(f, t)
         CROSS JOIN (VALUES ('1m'), ('1h')) AS x(tier)",
    )
    .bind(from)
    .bind(to)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// `[min, max]` sample times of each batch, merged when closer than
/// [`RANGE_MERGE_GAP_MS`].
fn written_ranges(stored: &[&WriteBatch]) -> Vec<(i64, i64)> {
    let mut ranges: Vec<(i64, i64)> = stored
        .iter()
        .filter_map(|b| {
            let min = b.rows.iter().map(|r| r.1).min()?;
            let max = b.rows.iter().map(|r| r.1).max()?;
            Some((min, max))
        })
        .collect();
    ranges.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(ranges.len());
    for (from, to) in ranges {
        match out.last_mut() {
            Some(last) if from <= last.1.saturating_add(RANGE_MERGE_GAP_MS) => {
                last.1 = last.1.max(to)
            }
            _ => out.push((from, to)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(times: &[i64]) -> WriteBatch {
        let key = Arc::new(SeriesKey::new("m"));
        WriteBatch {
            agent_id: "a".into(),
            host: "h".into(),
            seq: 1,
            rows: times.iter().map(|t| (key.clone(), *t, 1.0)).collect(),
        }
    }

    #[test]
    fn written_ranges_merge_batches_less_than_a_minute_apart() {
        let (a, b, c, empty) = (
            batch(&[1_000, 5_000]),
            batch(&[30_000, 20_000]),
            batch(&[10_000_000]),
            batch(&[]),
        );
        assert_eq!(
            written_ranges(&[&c, &a, &empty, &b]),
            vec![(1_000, 30_000), (10_000_000, 10_000_000)]
        );
    }

    #[test]
    fn series_ids_by_pointer_agree_with_by_key_and_check_the_host() {
        let mut c = SeriesIds::default();
        c.insert("a".into(), SeriesKey::new("m"), 1);
        c.insert("b".into(), SeriesKey::new("m"), 2);
        let key = Arc::new(SeriesKey::new("m"));
        assert_eq!(c.get("a", &key), Some(1));
        assert_eq!(c.get("a", &key), Some(1), "now by pointer");
        assert_eq!(c.get("b", &key), Some(2), "same Arc, other host");
        assert_eq!(c.get("c", &key), None);
        // Agents that reconnect bring new Arcs: found, and the pointer map
        // stays bounded however many come.
        for _ in 0..5_000 {
            assert_eq!(c.get("a", &Arc::new(SeriesKey::new("m"))), Some(1));
        }
        assert!(c.by_ptr.len() <= 2 * c.len + 1025, "{}", c.by_ptr.len());
    }

    #[test]
    fn days_lists_each_utc_day_once() {
        let day = 86_400_000;
        let d = days(&[batch(&[1, 2, day + 1]), batch(&[-1])]);
        assert_eq!(d, HashSet::from([0, 1, -1]));
    }
}
