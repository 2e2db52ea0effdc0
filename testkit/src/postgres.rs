//! A PostgreSQL for one test: a fresh database on `HOSTWATCH_TEST_DATABASE_URL`,
//! or a throwaway cluster of our own.
//!
//! The throwaway cluster is `initdb`'d into a temporary directory and serves
//! on a free loopback port, with its unix socket inside that directory, so it
//! never meets the machine's own PostgreSQL. `fsync` stays on (the tests check
//! durability); everything else is sized for a test.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use sqlx::{Connection, Executor, PgConnection};

use crate::process::{self, Watchdog};

/// Settings appended to the throwaway cluster's `postgresql.conf`.
const TEST_SETTINGS: &str = "
# hostwatch testkit: small and local; fsync stays on because tests check durability.
listen_addresses = '127.0.0.1'
max_connections = 50
shared_buffers = 16MB
fsync = on
synchronous_commit = on
wal_level = minimal
max_wal_senders = 0
max_wal_size = 256MB
timezone = 'UTC'
log_timezone = 'UTC'
log_min_messages = warning
";

/// How long the server gets to accept connections after a start.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Attempts with a new port when another process took the chosen one.
const PORT_ATTEMPTS: usize = 5;

/// A PostgreSQL server (or database) that exists for the life of this value.
pub struct Postgres {
    url: String,
    kind: Kind,
}

enum Kind {
    /// A database of its own on an existing server; dropped with this value.
    External { admin_url: String, database: String },
    /// A cluster of its own.
    Throwaway(Cluster),
}

struct Cluster {
    pg_ctl: PathBuf,
    port: u16,
    running: bool,
    watchdog: Option<Watchdog>,
    /// Last: removed after the server is stopped.
    dir: tempfile::TempDir,
}

impl Postgres {
    /// A database for one test: a freshly created one on
    /// `HOSTWATCH_TEST_DATABASE_URL` when that is set, else a throwaway cluster
    /// ([`Postgres::throwaway`]).
    ///
    /// # Panics
    /// When the server cannot be reached or started; the message says why.
    pub async fn start() -> Self {
        match crate::env_url(crate::DATABASE_URL_ENV) {
            Some(url) => Self::fresh_database(&url).await,
            None => Self::throwaway().await,
        }
    }

    /// A cluster of our own, whatever the environment says: for tests that
    /// stop, crash or restart the server.
    pub async fn throwaway() -> Self {
        Self::throwaway_with("").await
    }

    /// A cluster of our own with `settings` (postgresql.conf lines) after the
    /// test ones, which they override: for benches, which need a server
    /// sized like a real hub's rather than a test's.
    pub async fn throwaway_with(settings: &str) -> Self {
        let initdb = process::find_binary("initdb").unwrap_or_else(|| {
            panic!("testkit: initdb not found on PATH or in /usr/lib/postgresql/*/bin (scripts/setup installs it)")
        });
        // pg_ctl of the same installation as initdb, so the versions agree.
        let pg_ctl = initdb
            .parent()
            .map(|d| d.join("pg_ctl"))
            .filter(|p| p.is_file())
            .or_else(|| process::find_binary("pg_ctl"))
            .unwrap_or_else(|| panic!("testkit: pg_ctl not found next to {}", initdb.display()));
        let dir = process::server_dir("hostwatch-pg-");
        let data = dir.path().join("data");
        let mut cmd = process::server_command(&initdb, dir.path());
        cmd.arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "--encoding=UTF8"])
            // initdb's own fsyncs only protect the template we throw away.
            .args(["--no-locale", "--no-sync"]);
        process::run("initdb", cmd).await;
        let socket_dir = process::sh_quote(&dir.path().display().to_string());
        let conf = format!("{TEST_SETTINGS}unix_socket_directories = {socket_dir}\n{settings}\n");
        append(&data.join("postgresql.conf"), &conf);

        let watchdog = Watchdog::spawn(&watchdog_cleanup(dir.path()));
        let mut cluster = Cluster {
            pg_ctl,
            port: 0,
            running: false,
            watchdog: Some(watchdog),
            dir,
        };
        let mut last_log = String::new();
        for _ in 0..PORT_ATTEMPTS {
            cluster.port = process::free_port();
            match cluster.try_start().await {
                Ok(()) => {
                    let url = cluster.url();
                    wait_ready(&url).await;
                    return Self {
                        url,
                        kind: Kind::Throwaway(cluster),
                    };
                }
                Err(log) => last_log = log,
            }
        }
        panic!("testkit: postgres did not start after {PORT_ATTEMPTS} attempts:\n{last_log}");
    }

    /// A new, uniquely named database on the server at `admin_url` (which must
    /// allow `CREATE DATABASE`), dropped with the returned value.
    pub async fn fresh_database(admin_url: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let database = format!(
            "hostwatch_test_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut conn = PgConnection::connect(admin_url)
            .await
            .unwrap_or_else(|e| panic!("testkit: connecting to {admin_url}: {e}"));
        conn.execute(format!("CREATE DATABASE \"{database}\"").as_str())
            .await
            .unwrap_or_else(|e| panic!("testkit: CREATE DATABASE {database}: {e}"));
        let _ = conn.close().await;
        let mut url = url::Url::parse(admin_url)
            .unwrap_or_else(|e| panic!("testkit: {admin_url:?} is not a URL: {e}"));
        url.set_path(&format!("/{database}"));
        Self {
            url: url.into(),
            kind: Kind::External {
                admin_url: admin_url.to_owned(),
                database,
            },
        }
    }

    /// `postgres://…` URL of this test's database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops the server cleanly (`pg_ctl stop -m fast`).
    pub async fn stop(&mut self) {
        self.cluster("stop").stop("fast").await;
    }

    /// Stops the server as a crash would (`pg_ctl stop -m immediate`: no
    /// checkpoint; the next start replays the WAL).
    pub async fn crash(&mut self) {
        self.cluster("crash").stop("immediate").await;
    }

    /// Starts a stopped server again: same data directory, same port.
    pub async fn start_again(&mut self) {
        let cluster = self.cluster("start_again");
        if let Err(log) = cluster.try_start().await {
            panic!(
                "testkit: postgres did not start again on port {}:\n{log}",
                cluster.port
            );
        }
        wait_ready(&self.url).await;
    }

    /// [`stop`](Self::stop) then [`start_again`](Self::start_again).
    pub async fn restart(&mut self) {
        self.stop().await;
        self.start_again().await;
    }

    fn cluster(&mut self, what: &str) -> &mut Cluster {
        match &mut self.kind {
            Kind::Throwaway(c) => c,
            Kind::External { .. } => panic!(
                "testkit: Postgres::{what} needs a server of our own; use Postgres::throwaway()"
            ),
        }
    }
}

impl Cluster {
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn pg_ctl(&self) -> std::process::Command {
        let mut cmd = process::server_command(&self.pg_ctl, self.dir.path());
        cmd.arg("-D").arg(self.data());
        cmd
    }

    /// `pg_ctl start`, waiting for the server; Err carries the server log.
    async fn try_start(&mut self) -> Result<(), String> {
        let log = self.dir.path().join("server.log");
        let mut cmd = self.pg_ctl();
        cmd.arg("-l")
            .arg(&log)
            .args(["-w", "-t", "60", "-o"])
            .arg(format!("-p {}", self.port))
            .arg("start");
        let ok = tokio::process::Command::from(cmd)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map(|o| o.status.success())
            .unwrap_or(false);
        if ok {
            self.running = true;
            Ok(())
        } else {
            // A failed start may leave a half-started postmaster behind.
            self.stop_blocking("immediate");
            Err(std::fs::read_to_string(&log).unwrap_or_default())
        }
    }

    async fn stop(&mut self, mode: &str) {
        let mut cmd = self.pg_ctl();
        cmd.args(["-m", mode, "-w", "stop"]);
        process::run("pg_ctl stop", cmd).await;
        self.running = false;
    }

    /// For `Drop` and failure paths, where nothing can be awaited.
    fn stop_blocking(&mut self, mode: &str) {
        let _ = self
            .pg_ctl()
            .args(["-m", mode, "-w", "stop"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        self.running = false;
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Our own cleanup follows; the watchdog is only for when we cannot run.
        self.watchdog.take();
        if self.running {
            self.stop_blocking("immediate");
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let Kind::External {
            admin_url,
            database,
        } = &self.kind
        else {
            return;
        };
        // Drop cannot await, and may run on a runtime thread: drop the database
        // from a thread with a runtime of its own.
        let (admin_url, database) = (admin_url.clone(), database.clone());
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let mut conn = PgConnection::connect(&admin_url)
                    .await
                    .map_err(|e| e.to_string())?;
                conn.execute(
                    format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)").as_str(),
                )
                .await
                .map_err(|e| e.to_string())?;
                let _ = conn.close().await;
                Ok::<_, String>(())
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("testkit: dropping the test database: {e}");
        }
    }
}

/// The watchdog's shell cleanup: SIGQUIT to the postmaster is an immediate
/// shutdown (root may signal the server user's processes), then the directory.
fn watchdog_cleanup(dir: &Path) -> String {
    let dir = process::sh_quote(&dir.display().to_string());
    format!(
        "pid=$(head -n1 {dir}/data/postmaster.pid 2>/dev/null) && kill -QUIT \"$pid\" 2>/dev/null; \
         for _ in $(seq 50); do kill -0 \"$pid\" 2>/dev/null || break; sleep 0.1; done; \
         rm -rf {dir}"
    )
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .unwrap_or_else(|e| panic!("testkit: writing {}: {e}", path.display()));
}

/// Waits until `url` accepts a connection and answers a query.
async fn wait_ready(url: &str) {
    let started = Instant::now();
    loop {
        let err = match PgConnection::connect(url).await {
            Ok(mut conn) => match conn.execute("SELECT 1").await {
                Ok(_) => {
                    let _ = conn.close().await;
                    return;
                }
                Err(e) => e,
            },
            Err(e) => e,
        };
        if started.elapsed() > READY_TIMEOUT {
            panic!("testkit: postgres at {url} not ready after {READY_TIMEOUT:?}: {err}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
