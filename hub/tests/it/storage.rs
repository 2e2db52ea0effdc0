//! One storage suite, two back-ends: each body below takes `&dyn HistoryStore`
//! and runs against embedded SQLite (a temporary file) and PostgreSQL (a
//! throwaway server from `testkit`, or `HOSTWATCH_TEST_DATABASE_URL`).
//! What only PostgreSQL has (the `samples_v` view, rollups, partitions, the
//! flavour) is in `storage/postgres.rs`.

mod postgres;

use std::sync::Arc;

use common::model::{
    AnomalyEvent, HostFacts, KeyedRow, Labels, RangeQuery, SeriesKey, SeriesPoints,
};
use hub::store::{
    HistoryStore, HostRow, LedgerEntry, ModelSnapshot, Outcome, PostgresStore, SqliteStore,
    WriteBatch,
};

const DAY_MS: i64 = 86_400_000;

pub async fn sqlite() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("history.db"))
        .await
        .expect("open sqlite");
    (store, dir)
}

/// The test config: no background maintenance (tests run it when they want).
pub fn pg_config() -> hub::config::PostgresConfig {
    hub::config::PostgresConfig {
        maintenance_interval: std::time::Duration::ZERO,
        ..Default::default()
    }
}

pub async fn postgres() -> (PostgresStore, testkit::Postgres) {
    let pg = testkit::Postgres::start().await;
    let store = PostgresStore::open(pg.url(), &pg_config())
        .await
        .expect("open postgres");
    (store, pg)
}

/// Runs each named body against both back-ends, as
/// `storage::<name>::sqlite` and `storage::<name>::postgres`.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let (store, _dir) = super::sqlite().await;
                super::$name(&store).await;
                hub::store::HistoryStore::close(&store).await;
            }

            #[tokio::test]
            async fn postgres() {
                let (store, _server) = super::postgres().await;
                super::$name(&store).await;
                hub::store::HistoryStore::close(&store).await;
            }
        }
    )*};
}

on_both!(
    commit_records_the_ledger_and_stores_a_resent_batch_once,
    group_commit_of_several_agents_keeps_input_order,
    range_selects_series_by_name_labels_and_time,
    latest_is_the_newest_point_of_each_series,
    hosts_are_upserted,
    rows_far_from_now_are_stored,
    events_are_upserted_by_id_and_listed_newest_first,
    detector_models_are_replaced_per_series,
    bands_are_read_from_the_one_in_force,
);

pub fn key(name: &str, labels: &[(&str, &str)]) -> Arc<SeriesKey> {
    let mut k = SeriesKey::new(name);
    for (l, v) in labels {
        k = k.label(*l, *v);
    }
    Arc::new(k)
}

pub fn batch(agent: &str, seq: u64, rows: Vec<KeyedRow>) -> WriteBatch {
    WriteBatch {
        agent_id: agent.into(),
        host: format!("host-{agent}"),
        seq,
        rows,
    }
}

/// Rows of one series at `t0`, `t0 + 1 s`, … with the given values.
pub fn rows(key: &Arc<SeriesKey>, t0: i64, values: &[f64]) -> Vec<KeyedRow> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| (key.clone(), t0 + 1000 * i as i64, *v))
        .collect()
}

/// A whole-second time a little in the past (all rows of a test share a day
/// or two at most, and raw resolution covers them).
pub fn t0() -> i64 {
    (common::now_ms() / 1000 - 600) * 1000
}

pub async fn range(
    store: &dyn HistoryStore,
    host: &str,
    name: &str,
    labels: &[(&str, &str)],
    from_ms: i64,
    to_ms: i64,
) -> Vec<SeriesPoints> {
    let mut out = store
        .range(&RangeQuery {
            host: host.into(),
            name: name.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Labels>(),
            from_ms,
            to_ms,
            max_points: 0,
            ..Default::default()
        })
        .await
        .expect("range");
    out.sort_by(|a, b| (&a.name, &a.labels).cmp(&(&b.name, &b.labels)));
    out
}

fn entry(agent: &str, last_seq: u64, batches: u64, rows: u64, duplicates: u64) -> LedgerEntry {
    LedgerEntry {
        agent_id: agent.into(),
        host: format!("host-{agent}"),
        last_seq,
        batches,
        rows,
        duplicates,
    }
}

async fn commit_records_the_ledger_and_stores_a_resent_batch_once(store: &dyn HistoryStore) {
    let cpu = key("system.cpu.utilization", &[("cpu", "0")]);
    let t = t0();
    let first = batch("a", 1, rows(&cpu, t, &[0.1, 0.2, 0.3]));
    assert_eq!(
        store
            .commit(std::slice::from_ref(&first))
            .await
            .expect("commit"),
        [Outcome::Stored]
    );
    assert_eq!(store.stored_seq("a").await.expect("seq"), 1);
    assert_eq!(store.stored_seq("nobody").await.expect("seq"), 0);
    assert_eq!(store.count_rows("host-a").await.expect("count"), 3);

    // The agent did not get the ack and resends: acked again, stored once.
    assert_eq!(
        store.commit(&[first]).await.expect("commit"),
        [Outcome::Duplicate]
    );
    assert_eq!(store.count_rows("host-a").await.expect("count"), 3);

    let second = batch("a", 2, rows(&cpu, t + 3000, &[0.4]));
    assert_eq!(
        store.commit(&[second]).await.expect("commit"),
        [Outcome::Stored]
    );
    assert_eq!(store.stored_seq("a").await.expect("seq"), 2);
    assert_eq!(store.count_rows("host-a").await.expect("count"), 4);
    assert_eq!(
        store.ledger().await.expect("ledger"),
        [entry("a", 2, 2, 4, 1)]
    );
    let points = &range(store, "host-a", "", &[], t, t + 10_000).await[0].points;
    let values: Vec<f64> = points.iter().map(|p| p.v).collect();
    assert_eq!(values, [0.1, 0.2, 0.3, 0.4]);
}

async fn group_commit_of_several_agents_keeps_input_order(store: &dyn HistoryStore) {
    // A series new to the store, used by two batches of the same commit.
    let cpu = key("system.cpu.utilization", &[]);
    let mem = key("system.memory.usage", &[("state", "used")]);
    let t = t0();
    let group = [
        batch("a", 1, rows(&cpu, t, &[1.0])),
        batch("b", 1, rows(&mem, t, &[10.0, 11.0])),
        batch("a", 2, rows(&cpu, t + 1000, &[2.0])),
        batch("a", 2, rows(&cpu, t + 1000, &[2.0])), // resent within the group
        batch("b", 1, rows(&mem, t, &[10.0, 11.0])), // resent within the group
        batch(
            "c",
            5,
            [rows(&cpu, t, &[7.0]), rows(&mem, t, &[70.0])].concat(),
        ),
    ];
    use Outcome::{Duplicate as D, Stored as S};
    assert_eq!(
        store.commit(&group).await.expect("commit"),
        [S, S, S, D, D, S]
    );
    assert_eq!(
        store.ledger().await.expect("ledger"),
        [
            entry("a", 2, 2, 2, 1),
            entry("b", 1, 1, 2, 1),
            entry("c", 5, 1, 2, 0)
        ]
    );
    for (host, n) in [("host-a", 2), ("host-b", 2), ("host-c", 2)] {
        assert_eq!(store.count_rows(host).await.expect("count"), n, "{host}");
    }
    let a = range(store, "host-a", "", &[], t - 1000, t + 5000).await;
    assert_eq!(a.len(), 1, "one series for host-a, created once");
    assert_eq!(a[0].points.len(), 2);
    // A later commit finds the series created above (cached or not).
    let next = batch("a", 3, rows(&cpu, t + 2000, &[3.0]));
    assert_eq!(store.commit(&[next]).await.expect("commit"), [S]);
    let a = range(store, "host-a", "", &[], t - 1000, t + 5000).await;
    assert_eq!((a.len(), a[0].points.len()), (1, 3));
}

async fn range_selects_series_by_name_labels_and_time(store: &dyn HistoryStore) {
    let cpu0 = key("system.cpu.utilization", &[("cpu", "0"), ("state", "user")]);
    let cpu1 = key("system.cpu.utilization", &[("cpu", "1"), ("state", "user")]);
    let mem = key("system.memory.usage", &[("state", "used")]);
    let t = t0();
    let b = batch(
        "a",
        1,
        [
            rows(&cpu0, t, &[0.1, 0.2, 0.3]),
            rows(&cpu1, t, &[0.5, 0.6, 0.7]),
            rows(&mem, t, &[100.0, 200.0, 300.0]),
        ]
        .concat(),
    );
    store.commit(&[b]).await.expect("commit");
    let end = t + 10_000;

    let cpus = range(store, "host-a", "system.cpu.utilization", &[], t, end).await;
    assert_eq!(cpus.len(), 2);
    assert_eq!(cpus[0].labels.get("cpu").map(String::as_str), Some("0"));
    assert_eq!(cpus[0].host, "host-a");
    let ts: Vec<i64> = cpus[0].points.iter().map(|p| p.t).collect();
    assert_eq!(ts, [t, t + 1000, t + 2000], "oldest first, exact ms");
    let vs: Vec<f64> = cpus[1].points.iter().map(|p| p.v).collect();
    assert_eq!(vs, [0.5, 0.6, 0.7]);

    let one = range(store, "host-a", "", &[("cpu", "1")], t, end).await;
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].name, "system.cpu.utilization");
    let users = range(store, "host-a", "", &[("state", "user")], t, end).await;
    assert_eq!(users.len(), 2, "a label shared by both cpu series");
    assert!(range(
        store,
        "host-a",
        "system.memory.usage",
        &[("state", "free")],
        t,
        end
    )
    .await
    .is_empty());
    assert!(range(store, "host-b", "", &[], t, end).await.is_empty());

    // Both bounds are inclusive.
    let mid = range(
        store,
        "host-a",
        "system.memory.usage",
        &[],
        t + 1000,
        t + 1000,
    )
    .await;
    assert_eq!(mid[0].points.len(), 1);
    assert_eq!(mid[0].points[0].v, 200.0);
}

async fn latest_is_the_newest_point_of_each_series(store: &dyn HistoryStore) {
    let cpu = key("system.cpu.utilization", &[]);
    let disk = key("system.filesystem.utilization", &[("mountpoint", "/")]);
    let t = t0();
    // Newest first within the batch: "latest" is by time, not by arrival.
    let a = batch(
        "a",
        1,
        vec![
            (cpu.clone(), t + 2000, 0.9),
            (cpu.clone(), t, 0.1),
            (disk.clone(), t, 0.5),
        ],
    );
    let b = batch("b", 1, vec![(cpu.clone(), t + 1000, 0.3)]);
    store.commit(&[a, b]).await.expect("commit");
    let mut latest: Vec<(String, String, i64, f64)> = store
        .latest()
        .await
        .expect("latest")
        .into_iter()
        .map(|p| (p.host, p.key.name, p.point.t, p.point.v))
        .collect();
    latest.sort_by(|x, y| (&x.0, &x.1).cmp(&(&y.0, &y.1)));
    assert_eq!(
        latest,
        [
            (
                "host-a".into(),
                "system.cpu.utilization".into(),
                t + 2000,
                0.9
            ),
            (
                "host-a".into(),
                "system.filesystem.utilization".into(),
                t,
                0.5
            ),
            (
                "host-b".into(),
                "system.cpu.utilization".into(),
                t + 1000,
                0.3
            ),
        ]
    );
}

async fn events_are_upserted_by_id_and_listed_newest_first(store: &dyn HistoryStore) {
    let t = t0();
    let ev = |id: u64, start: i64| AnomalyEvent {
        id,
        host: "h".into(),
        site: "s".into(),
        name: "system.cpu.utilization".into(),
        labels: [("cpu".to_owned(), "cpu0".to_owned())]
            .into_iter()
            .collect(),
        start_ms: t + start,
        last_ms: t + start,
        end_ms: None,
        severity: "medium".into(),
        score: 0.8,
        actual: 0.97,
        expected: Some(0.3),
        evidence: vec!["Novelty: 4.20".into()],
        top_processes: vec![common::model::ProcessInfo {
            pid: 4242,
            name: "postgres".into(),
            user: "postgres".into(),
            cpu_utilization: 1.5,
            memory_bytes: 1 << 30,
        }],
    };
    store.upsert_event(&ev(1, 0)).await.expect("insert");
    store.upsert_event(&ev(2, 5_000)).await.expect("insert");
    let mut closed = ev(1, 0);
    closed.last_ms = t + 9_000;
    closed.end_ms = Some(t + 9_000);
    closed.severity = "critical".into();
    closed.score = 0.99;
    closed.expected = None;
    store.upsert_event(&closed).await.expect("update");

    let got = store.events(10).await.expect("events");
    assert_eq!(got.len(), 2);
    assert_eq!(got[0], ev(2, 5_000), "newest first, round-tripped whole");
    assert_eq!(got[1], closed, "the update replaced the row");
    assert_eq!(store.events(1).await.expect("events").len(), 1);
}

async fn hosts_are_upserted(store: &dyn HistoryStore) {
    let host = |name: &str, site: &str, os: &str| HostRow {
        host: name.into(),
        site: site.into(),
        agent_id: format!("agent-{name}"),
        facts: HostFacts {
            hostname: name.into(),
            os: os.into(),
            cpu_count: 4,
            ..Default::default()
        },
    };
    store
        .upsert_host(&host("h1", "lab", "debian"))
        .await
        .expect("upsert");
    store
        .upsert_host(&host("h2", "lab", "debian"))
        .await
        .expect("upsert");
    store
        .upsert_host(&host("h1", "office", "ubuntu"))
        .await
        .expect("upsert again");
    let hosts = store.hosts().await.expect("hosts");
    let seen: Vec<(&str, &str, &str, u32)> = hosts
        .iter()
        .map(|h| {
            (
                h.host.as_str(),
                h.site.as_str(),
                h.facts.os.as_str(),
                h.facts.cpu_count,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [("h1", "office", "ubuntu", 4), ("h2", "lab", "debian", 4)]
    );
    assert_eq!(hosts[0].agent_id, "agent-h1");
}

/// Rows days or months away from now: on PostgreSQL some land in partitions
/// created on demand, some (older than retention) in the DEFAULT partition.
/// Either way the commit succeeds and the rows read back.
async fn rows_far_from_now_are_stored(store: &dyn HistoryStore) {
    let m = key("m", &[]);
    let now = t0();
    let times = [
        now - 300 * DAY_MS,
        now - 45 * DAY_MS,
        now - 20 * DAY_MS,
        now + 10 * DAY_MS,
    ];
    let b = batch(
        "a",
        1,
        times.iter().map(|t| (m.clone(), *t, *t as f64)).collect(),
    );
    assert_eq!(store.commit(&[b]).await.expect("commit"), [Outcome::Stored]);
    assert_eq!(store.count_rows("host-a").await.expect("count"), 4);
    for t in times {
        let got = range(store, "host-a", "m", &[], t - 1000, t + 1000).await;
        assert_eq!(got[0].points.len(), 1, "row at {t}");
        assert_eq!(got[0].points[0].t, t);
        assert_eq!(got[0].points[0].v, t as f64);
    }
}

async fn detector_models_are_replaced_per_series(store: &dyn HistoryStore) {
    let snap = |host: &str, series: &str, model: &[u8]| ModelSnapshot {
        host: host.into(),
        series: series.into(),
        model: model.to_vec(),
    };
    assert!(store.load_models().await.expect("load").is_empty());
    // Bytes of every value, 0 and 0xff included: stored as a blob, not text.
    let big: Vec<u8> = (0..=255u8).cycle().take(20_000).collect();
    store
        .save_models(&[
            snap("a", r#"{"name":"m"}"#, &big),
            snap("b", r#"{"name":"m"}"#, b"\0x"),
        ])
        .await
        .expect("save");
    store
        .save_models(&[snap("b", r#"{"name":"m"}"#, b"new")])
        .await
        .expect("save again");
    let mut got = store.load_models().await.expect("load");
    got.sort_by(|x, y| x.host.cmp(&y.host));
    assert_eq!(
        got,
        vec![
            snap("a", r#"{"name":"m"}"#, &big),
            snap("b", r#"{"name":"m"}"#, b"new")
        ]
    );
}

async fn bands_are_read_from_the_one_in_force(store: &dyn HistoryStore) {
    use common::model::BandPoint;
    use hub::bands::BandRow;
    let cpu = key("cpu", &[("cpu", "0")]);
    let other = key("cpu", &[("cpu", "1")]);
    let t = t0() - t0() % 60_000;
    let b = batch(
        "a",
        1,
        [rows(&cpu, t, &[1.0]), rows(&other, t, &[2.0])].concat(),
    );
    assert_eq!(store.commit(&[b]).await.expect("commit"), [Outcome::Stored]);
    let point = |m: i64, lo: f64| BandPoint {
        t: t + m * 60_000,
        expected: lo + 1.0,
        lo,
        hi: lo + 2.0,
    };
    let row = |k: &Arc<SeriesKey>, host: &str, p: BandPoint| BandRow {
        host: host.into(),
        key: k.clone(),
        point: p,
    };
    store
        .save_bands(&[
            row(&cpu, "host-a", point(0, 10.0)),
            row(&cpu, "host-a", point(5, 20.0)),
            row(&cpu, "host-a", point(9, 30.0)),
            row(&other, "host-a", point(1, 40.0)),
            // A series history does not have: skipped, not an error.
            row(&key("gone", &[]), "host-a", point(1, 0.0)),
        ])
        .await
        .expect("save bands");
    // Saved again (a restarted hub redoing a minute): replaced, not doubled.
    store
        .save_bands(&[row(&cpu, "host-a", point(5, 21.0))])
        .await
        .expect("save again");
    let q = |labels: &[(&str, &str)], from: i64, to: i64| RangeQuery {
        host: "host-a".into(),
        name: "cpu".into(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Labels>(),
        from_ms: t + from * 60_000,
        to_ms: t + to * 60_000,
        ..Default::default()
    };
    // From minute 7: the point of minute 5 is in force there.
    let got = store
        .bands(&q(&[("cpu", "0")], 7, 20))
        .await
        .expect("bands");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].band, vec![point(5, 21.0), point(9, 30.0)]);
    // Before the first point: from the first one on.
    let mut got = store.bands(&q(&[], -5, 6)).await.expect("bands");
    got.sort_by(|a, b| a.labels.cmp(&b.labels));
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].band, vec![point(0, 10.0), point(5, 21.0)]);
    assert_eq!(got[1].band, vec![point(1, 40.0)]);
    assert!(store
        .bands(&q(&[("cpu", "9")], 0, 20))
        .await
        .expect("bands")
        .is_empty());
}
