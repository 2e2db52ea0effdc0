//! What only the PostgreSQL store has: the `samples_v` view, the rollups the
//! maintenance keeps (late data included), partitions and retention, the
//! flavour choice, and a whole hub running on it.

use common::model::{Agg, RangeQuery};
use hub::store::postgres::{Flavor, Resolution, PLAIN_WARNING};
use sqlx::{Connection, PgConnection, Row};

use super::{batch, key, pg_config, postgres, range, rows, t0, DAY_MS};
use crate::support::{def, row, RawAgent, TestHub};
use hub::store::{HistoryStore, HostRow, Outcome, PostgresStore};

const HOUR_MS: i64 = 3_600_000;

async fn partition_days(store: &PostgresStore) -> Vec<i64> {
    let days: Vec<i32> =
        sqlx::query_scalar("SELECT d FROM hostwatch.partition_days() d ORDER BY d")
            .fetch_all(store.pool())
            .await
            .expect("partition days");
    days.into_iter().map(i64::from).collect()
}

async fn count(store: &PostgresStore, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(store.pool())
        .await
        .expect("count")
}

/// (bucket ms, avg, min, max, last, count) of one rollup table, by bucket.
async fn rollup(store: &PostgresStore, table: &str) -> Vec<(i64, f64, f64, f64, f64, i64)> {
    sqlx::query(&format!(
        "SELECT (extract(epoch FROM bucket) * 1000)::int8, avg, min, max, last, count
         FROM hostwatch.{table} ORDER BY bucket"
    ))
    .fetch_all(store.pool())
    .await
    .expect("rollup rows")
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
    .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[tokio::test]
async fn samples_v_shows_each_row_with_host_site_name_and_labels() {
    let (store, _pg) = postgres().await;
    store
        .upsert_host(&HostRow {
            host: "host-a".into(),
            site: "lab".into(),
            agent_id: "a".into(),
            facts: Default::default(),
        })
        .await
        .expect("host");
    let disk = key(
        "system.filesystem.usage",
        &[("device", "sda1"), ("state", "used")],
    );
    let t = t0();
    store
        .commit(&[
            batch("a", 1, rows(&disk, t, &[1.0, 2.0])),
            batch("b", 1, rows(&disk, t, &[3.0])), // a host never upserted: site ''
        ])
        .await
        .expect("commit");
    let got: Vec<(String, String, String, String, i64, f64)> = sqlx::query(
        "SELECT host, site, name, labels ->> 'device', (extract(epoch FROM time) * 1000)::int8, value
         FROM hostwatch.samples_v ORDER BY host, time",
    )
    .fetch_all(store.pool())
    .await
    .expect("view")
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
    .collect();
    let name = "system.filesystem.usage".to_owned();
    assert_eq!(
        got,
        [
            (
                "host-a".into(),
                "lab".into(),
                name.clone(),
                "sda1".into(),
                t,
                1.0
            ),
            (
                "host-a".into(),
                "lab".into(),
                name.clone(),
                "sda1".into(),
                t + 1000,
                2.0
            ),
            ("host-b".into(), "".into(), name, "sda1".into(), t, 3.0),
        ]
    );
    // The README's example query.
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM hostwatch.samples_v
         WHERE host = 'host-a' AND name = 'system.filesystem.usage'
           AND labels @> '{\"state\": \"used\"}' AND time > now() - interval '1 hour'",
    )
    .fetch_one(store.pool())
    .await
    .expect("example query");
    assert_eq!(n, 2);
    store.close().await;
}

#[tokio::test]
async fn maintenance_rolls_up_closed_buckets_once_and_again_after_late_data() {
    let (store, _pg) = postgres().await;
    let m = key("m", &[]);
    let base = (common::now_ms() / HOUR_MS - 3) * HOUR_MS; // a closed hour
    let r = |t: i64, v: f64| (m.clone(), base + t, v);
    let first = vec![
        r(0, 1.0),
        r(10_000, 3.0),
        r(20_000, 2.0),
        r(60_000, 10.0),
        r(HOUR_MS + 5_000, 100.0),
    ];
    store.commit(&[batch("a", 1, first)]).await.expect("commit");

    let report = store.maintain().await;
    assert!(report.ranges_1m >= 1 && report.ranges_1h >= 1, "{report:?}");
    let one = |b, avg, min, max, last, n| (base + b, avg, min, max, last, n);
    let minutes = vec![
        one(0, 2.0, 1.0, 3.0, 2.0, 3),
        one(60_000, 10.0, 10.0, 10.0, 10.0, 1),
        one(HOUR_MS, 100.0, 100.0, 100.0, 100.0, 1),
    ];
    assert_eq!(rollup(&store, "samples_1m").await, minutes);
    let hours = vec![
        one(0, 4.0, 1.0, 10.0, 10.0, 4),
        one(HOUR_MS, 100.0, 100.0, 100.0, 100.0, 1),
    ];
    assert_eq!(rollup(&store, "samples_1h").await, hours);
    assert_eq!(
        count(&store, "SELECT count(*) FROM hostwatch.rollup_pending").await,
        0
    );

    // Idempotent: nothing pending, nothing changes.
    assert_eq!(store.maintain().await.ranges_1m, 0);
    assert_eq!(rollup(&store, "samples_1m").await, minutes);

    // A late row for the first minute (an agent replaying its queue). Until
    // maintenance runs, a minute-resolution range averages it from raw rows.
    let late = batch("a", 2, vec![r(30_000, 6.0)]);
    assert_eq!(
        store.commit(&[late]).await.expect("commit"),
        [Outcome::Stored]
    );
    let (from, now) = (base - 7 * HOUR_MS, common::now_ms());
    let retention = 30 * DAY_MS;
    assert_eq!(
        Resolution::for_span(from, now, now, retention),
        Resolution::Minute
    );
    let before = range(&store, "host-a", "m", &[], from, now).await;
    let first_minute = before[0].points[0];
    assert_eq!(
        (first_minute.t, first_minute.v),
        (base, 3.0),
        "raw tail: (1+3+2+6)/4"
    );

    store.maintain().await;
    let after = rollup(&store, "samples_1m").await;
    assert_eq!(after[0], one(0, 3.0, 1.0, 6.0, 6.0, 4));
    let h = rollup(&store, "samples_1h").await;
    assert!(
        close(h[0].1, 4.4) && h[0].2 == 1.0 && h[0].3 == 10.0 && h[0].5 == 5,
        "{h:?}"
    );
    let from = base - 8 * DAY_MS;
    assert_eq!(
        Resolution::for_span(from, now, now, retention),
        Resolution::Hour
    );
    let hourly = range(&store, "host-a", "m", &[], from, now).await;
    let points: Vec<(i64, f64)> = hourly[0].points.iter().map(|p| (p.t, p.v)).collect();
    assert_eq!(points.len(), 2);
    assert_eq!(points[1], (base + HOUR_MS, 100.0));
    assert!(points[0].0 == base && close(points[0].1, 4.4), "{points:?}");

    // The other aggregations read their own rollup column.
    for (agg, expected) in [(Agg::Min, 1.0), (Agg::Max, 10.0), (Agg::Last, 10.0)] {
        let q = RangeQuery {
            host: "host-a".into(),
            name: "m".into(),
            from_ms: from,
            to_ms: now,
            agg,
            ..Default::default()
        };
        let got = store.range(&q).await.expect("range");
        assert_eq!(got[0].points[0].v, expected, "{agg:?}");
    }
    store.close().await;
}

#[tokio::test]
async fn partitions_come_ahead_and_on_demand_and_go_with_retention() {
    let (store, pg) = postgres().await;
    let today = common::now_ms().div_euclid(DAY_MS);
    let days = partition_days(&store).await;
    assert!((today..=today + 2).all(|d| days.contains(&d)), "{days:?}");

    // A row that landed in DEFAULT while its day had no partition (as when
    // creating one timed out) moves into the partition once it is created.
    let m = key("m", &[]);
    let day20 = (today + 20) * DAY_MS + 1000;
    let t = t0();
    store
        .commit(&[batch("a", 1, rows(&m, t, &[0.0]))])
        .await
        .expect("commit");
    sqlx::query(
        "INSERT INTO hostwatch.samples_default
         SELECT id, to_timestamp($1::float8 / 1000), 1 FROM hostwatch.series",
    )
    .bind(day20 as f64)
    .execute(store.pool())
    .await
    .expect("row into DEFAULT");

    let far = [t - 45 * DAY_MS, t - 20 * DAY_MS, day20 + 1000];
    let b = batch("a", 2, far.iter().map(|t| (m.clone(), *t, 2.0)).collect());
    store.commit(&[b]).await.expect("commit");
    let days = partition_days(&store).await;
    assert!(
        days.contains(&(today - 20)) && days.contains(&(today + 20)),
        "{days:?}"
    );
    assert!(
        !days.contains(&(today - 45)),
        "past retention: left to DEFAULT"
    );
    let in_default = "SELECT count(*) FROM hostwatch.samples_default";
    assert_eq!(count(&store, in_default).await, 1, "only the -45 d row");
    assert_eq!(store.count_rows("host-a").await.expect("count"), 5);

    // Retention (30 d): the DEFAULT row past it goes; partitions stay.
    let report = store.maintain().await;
    assert_eq!(report.partitions_dropped, 0);
    assert_eq!(count(&store, in_default).await, 0);
    assert_eq!(store.count_rows("host-a").await.expect("count"), 4);

    // Retention of 10 d: the -20 d partition is dropped whole.
    let mut config = pg_config();
    config.retention = std::time::Duration::from_secs(10 * 86_400);
    let short = PostgresStore::open(pg.url(), &config)
        .await
        .expect("reopen");
    assert_eq!(short.maintain().await.partitions_dropped, 1);
    assert!(!partition_days(&short).await.contains(&(today - 20)));
    assert_eq!(short.count_rows("host-a").await.expect("count"), 3);
    short.close().await;
    store.close().await;
}

#[tokio::test]
async fn plain_path_is_taken_and_warned_about_without_timescaledb() {
    let (store, pg) = postgres().await;
    let timescale: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')
            AND current_setting('shared_preload_libraries') LIKE '%timescaledb%'",
    )
    .fetch_one(store.pool())
    .await
    .expect("extensions");
    let expected = if timescale {
        Flavor::Timescale
    } else {
        Flavor::Plain
    };
    assert_eq!(store.flavor(), expected);
    assert_eq!(
        store.startup_warning(),
        (!timescale).then_some(PLAIN_WARNING)
    );
    // Opening again finds the schema current and keeps the recorded flavour.
    let again = PostgresStore::open(pg.url(), &pg_config())
        .await
        .expect("reopen");
    assert_eq!(again.flavor(), expected);
    let recorded: String =
        sqlx::query_scalar("SELECT value FROM hostwatch.meta WHERE key = 'flavor'")
            .fetch_one(again.pool())
            .await
            .expect("meta");
    assert_eq!(recorded, if timescale { "timescaledb" } else { "plain" });
    again.close().await;
    store.close().await;
}

#[tokio::test]
async fn hub_with_database_url_ingests_into_postgres_exactly_once() {
    let pg = testkit::Postgres::start().await;
    let url = pg.url().to_owned();
    let configure = |c: &mut hub::Config| {
        c.database_url = url.clone();
        c.postgres = pg_config();
    };
    let hub = TestHub::start_with(configure).await;
    let (mut agent, stored) = RawAgent::connect(&hub, "pg-agent").await;
    assert_eq!(stored, 0);
    let rows = vec![row(1, 0.25), row(2, 0.5)];
    agent
        .send(proto::Batch {
            seq: 1,
            new_series: vec![
                def(1, "system.cpu.utilization"),
                def(2, "system.memory.utilization"),
            ],
            rows: rows.clone(),
            top_processes: Vec::new(),
        })
        .await;
    assert_eq!(agent.reply().await.expect("ack"), 1);
    // The ack was lost, say: the agent sends the batch again.
    agent
        .send(proto::Batch {
            seq: 1,
            new_series: vec![],
            rows,
            top_processes: Vec::new(),
        })
        .await;
    assert_eq!(agent.reply().await.expect("ack of the resend"), 1);
    drop(agent);
    hub.stop().await;

    let mut c = PgConnection::connect(&url).await.expect("connect");
    let got: Vec<(String, String, String, f64)> =
        sqlx::query("SELECT host, site, name, value FROM hostwatch.samples_v ORDER BY name")
            .fetch_all(&mut c)
            .await
            .expect("samples_v")
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect();
    assert_eq!(
        got,
        [
            (
                "pg-agent".into(),
                "test".into(),
                "system.cpu.utilization".into(),
                0.25
            ),
            (
                "pg-agent".into(),
                "test".into(),
                "system.memory.utilization".into(),
                0.5
            ),
        ]
    );
    let (last_seq, batches): (i64, i64) = sqlx::query_as(
        "SELECT last_seq, batches FROM hostwatch.ledger WHERE agent_id = 'pg-agent'",
    )
    .fetch_one(&mut c)
    .await
    .expect("ledger");
    assert_eq!((last_seq, batches), (1, 1));
    let _ = c.close().await;

    // A new hub on the same database tells the agent what is stored.
    let hub = TestHub::start_with(configure).await;
    let (agent, stored) = RawAgent::connect(&hub, "pg-agent").await;
    assert_eq!(stored, 1);
    drop(agent);
    hub.stop().await;
}

#[tokio::test]
async fn commits_resume_after_a_crash_and_acked_rows_survive_it() {
    let mut pg = testkit::Postgres::throwaway().await;
    let store = PostgresStore::open(pg.url(), &pg_config())
        .await
        .expect("open");
    let m = key("m", &[]);
    let t = t0();
    let first = batch("a", 1, rows(&m, t, &[1.0, 2.0]));
    store.commit(&[first]).await.expect("commit");

    // Immediate shutdown: no checkpoint, the restart replays the WAL.
    pg.crash().await;
    pg.start_again().await;

    // The pool replaces its dead connections by itself; the first attempt
    // may still meet one, as the writer would (and the agent would resend).
    let next = batch("a", 2, rows(&m, t + 2000, &[3.0]));
    let mut outcome = None;
    for _ in 0..20 {
        match store.commit(std::slice::from_ref(&next)).await {
            Ok(o) => {
                outcome = Some(o);
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    assert_eq!(outcome, Some(vec![Outcome::Stored]));
    assert_eq!(store.count_rows("host-a").await.expect("count"), 3);
    assert_eq!(store.stored_seq("a").await.expect("seq"), 2);
    store.close().await;
}

/// The store remembers which agents have a ledger row and skips creating
/// them; a row removed behind its back (a restore, a manual fix) is created
/// again, and the resend check still works.
#[tokio::test]
async fn a_ledger_row_removed_behind_the_store_is_created_again() {
    let (store, _pg) = postgres().await;
    let m = key("m", &[]);
    let t = t0();
    store
        .commit(&[batch("a", 1, rows(&m, t, &[1.0]))])
        .await
        .expect("first");
    sqlx::query("DELETE FROM hostwatch.ledger WHERE agent_id = 'a'")
        .execute(store.pool())
        .await
        .expect("delete");
    let second = batch("a", 2, rows(&m, t + 1000, &[2.0]));
    assert_eq!(
        store
            .commit(std::slice::from_ref(&second))
            .await
            .expect("second"),
        vec![Outcome::Stored]
    );
    assert_eq!(store.stored_seq("a").await.expect("seq"), 2);
    assert_eq!(
        store.commit(&[second]).await.expect("resend"),
        vec![Outcome::Duplicate]
    );
    assert_eq!(store.count_rows("host-a").await.expect("count"), 2);
    store.close().await;
}

/// A store checks the `last_seq` it remembers instead of reading it under
/// lock; when another writer (a second hub on the same database) moved the
/// ledger meanwhile, the check fails, the attempt rolls back, and the locked
/// path decides: nothing stored twice, nothing lost.
#[tokio::test]
async fn a_ledger_moved_by_another_writer_is_read_again_under_lock() {
    let (first, pg) = postgres().await;
    let second = PostgresStore::open(pg.url(), &pg_config())
        .await
        .expect("second store");
    let m = key("m", &[]);
    let t = t0();
    let b = |seq: u64| batch("a", seq, rows(&m, t + seq as i64 * 1000, &[seq as f64]));
    assert_eq!(
        first.commit(&[b(1)]).await.expect("1"),
        vec![Outcome::Stored]
    );
    assert_eq!(
        second.commit(&[b(2)]).await.expect("2"),
        vec![Outcome::Stored]
    );
    // `first` still remembers seq 1: without the check, 2 would go in twice.
    assert_eq!(
        first.commit(&[b(2), b(3)]).await.expect("2 again, 3"),
        vec![Outcome::Duplicate, Outcome::Stored]
    );
    assert_eq!(first.count_rows("host-a").await.expect("count"), 3);
    assert_eq!(first.stored_seq("a").await.expect("seq"), 3);
    let ledger = first.ledger().await.expect("ledger");
    assert_eq!((ledger[0].batches, ledger[0].duplicates), (3, 1));
    second.close().await;
    first.close().await;
}
