//! The kit's own tests: servers start, keep committed data across restarts
//! and crashes, and are gone afterwards — also when the test process dies
//! without unwinding.

mod prometheus;
mod smtp;

use std::time::{Duration, Instant};

use sqlx::{Connection, Executor, PgConnection, Row};
use testkit::{Postgres, Prometheus, Redis, Smtp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Set in the environment of the child process that
/// [`servers_die_with_a_test_process_that_aborts`] starts.
const CHILD_ENV: &str = "TESTKIT_IT_ABORTING_CHILD";

fn port_of(url: &str) -> u16 {
    url::Url::parse(url)
        .expect("url")
        .port()
        .expect("url has a port")
}

/// Waits (bounded) until nothing accepts connections on `port`.
async fn wait_closed(port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// One inline Redis command; the raw reply.
async fn redis(url: &str, command: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port_of(url)))
        .await
        .expect("connect redis");
    s.write_all(format!("{command}\r\n").as_bytes())
        .await
        .expect("write");
    let mut buf = vec![0u8; 512];
    let n = s.read(&mut buf).await.expect("read");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

async fn count_rows(url: &str) -> i64 {
    let mut c = PgConnection::connect(url).await.expect("connect");
    let n = sqlx::query("SELECT count(*) FROM t")
        .fetch_one(&mut c)
        .await
        .expect("count")
        .get(0);
    let _ = c.close().await;
    n
}

#[tokio::test]
async fn postgres_keeps_committed_rows_across_restart_and_crash_and_is_gone_after_drop() {
    let mut pg = Postgres::throwaway().await;
    let url = pg.url().to_owned();
    let mut c = PgConnection::connect(&url).await.expect("connect");
    c.execute("CREATE TABLE t (v int); INSERT INTO t VALUES (1), (2)")
        .await
        .expect("write");
    drop(c);

    pg.restart().await;
    assert_eq!(count_rows(&url).await, 2);

    let mut c = PgConnection::connect(&url).await.expect("connect");
    c.execute("INSERT INTO t VALUES (3)").await.expect("insert");
    drop(c);
    pg.crash().await;
    assert!(wait_closed(port_of(&url)).await, "stopped");
    pg.start_again().await;
    assert_eq!(
        count_rows(&url).await,
        3,
        "a committed row survives a crash"
    );

    drop(pg);
    assert!(wait_closed(port_of(&url)).await, "server gone after drop");
}

#[tokio::test]
async fn fresh_databases_are_separate_and_dropped() {
    let server = Postgres::throwaway().await;
    let a = Postgres::fresh_database(server.url()).await;
    let b = Postgres::fresh_database(server.url()).await;
    assert_ne!(a.url(), b.url());
    let mut c = PgConnection::connect(a.url()).await.expect("connect a");
    c.execute("CREATE TABLE only_in_a (v int)")
        .await
        .expect("create");
    drop(c);
    let name = a.url().rsplit('/').next().expect("db name").to_owned();
    drop(a);
    let mut admin = PgConnection::connect(server.url()).await.expect("admin");
    let left: i64 = sqlx::query("SELECT count(*) FROM pg_database WHERE datname = $1")
        .bind(&name)
        .fetch_one(&mut admin)
        .await
        .expect("query")
        .get(0);
    assert_eq!(left, 0, "database dropped with its value");
    let mut c = PgConnection::connect(b.url()).await.expect("connect b");
    let err = c.execute("SELECT * FROM only_in_a").await;
    assert!(err.is_err(), "b does not see a's table");
}

#[tokio::test]
async fn redis_reloads_its_append_only_file_after_kill9() {
    let mut r = Redis::throwaway().await;
    let url = r.url().to_owned();
    assert!(redis(&url, "SET k v1").await.starts_with("+OK"));
    r.kill9().await;
    assert!(wait_closed(port_of(&url)).await);
    r.start_again().await;
    assert_eq!(
        redis(&url, "GET k").await,
        "$2\r\nv1\r\n",
        "acked write survives kill -9"
    );
    drop(r);
    assert!(wait_closed(port_of(&url)).await, "server gone after drop");
}

/// Not a test by itself: the body of the child process started by
/// [`servers_die_with_a_test_process_that_aborts`]. Does nothing unless that
/// test set [`CHILD_ENV`].
#[tokio::test]
async fn aborting_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let pg = Postgres::throwaway().await;
    let r = Redis::throwaway().await;
    let smtp = Smtp::start().await;
    // Nothing listens on the discard port: sending alerts just fails.
    let prometheus = Prometheus::start("127.0.0.1:9", "groups: []\n").await;
    println!(
        "PORTS {} {} {} {}",
        port_of(pg.url()),
        port_of(r.url()),
        smtp.port(),
        port_of(&prometheus.url())
    );
    // No unwinding, no Drop: only the watchdogs can clean up now.
    std::process::abort();
}

#[tokio::test]
async fn servers_die_with_a_test_process_that_aborts() {
    let exe = std::env::current_exe().expect("test binary");
    let out = tokio::process::Command::new(exe)
        .args([
            "--exact",
            "aborting_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .output()
        .await
        .expect("run child");
    assert!(!out.status.success(), "the child aborts");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let ports: Vec<u16> = stdout
        .lines()
        .find_map(|l| l.split_once("PORTS ").map(|(_, ports)| ports))
        .unwrap_or_else(|| {
            panic!(
                "child printed no ports:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
        .split_whitespace()
        .map(|p| p.parse().expect("port"))
        .collect();
    for port in ports {
        assert!(
            wait_closed(port).await,
            "server on {port} outlived its test process"
        );
    }
}
