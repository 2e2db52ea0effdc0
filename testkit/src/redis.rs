//! A Redis for one test: `HOSTWATCH_TEST_REDIS_URL`, or a throwaway
//! `redis-server` of our own.
//!
//! The throwaway server persists exactly as production should: append-only
//! file, `appendfsync always`, no RDB snapshots, all in a temporary directory,
//! so [`Redis::kill9`] followed by [`Redis::start_again`] shows what an ack
//! backed by Redis survives.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::process::{self, Watchdog};

/// How long the server gets to answer PING after a start (AOF replay included).
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts with a new port when another process took the chosen one.
const PORT_ATTEMPTS: usize = 5;

/// A Redis server that exists for the life of this value.
pub struct Redis {
    url: String,
    server: Option<Server>,
}

struct Server {
    binary: PathBuf,
    port: u16,
    child: Option<Child>,
    watchdog: Option<Watchdog>,
    /// Last: removed after the server is gone.
    dir: tempfile::TempDir,
}

impl Redis {
    /// `HOSTWATCH_TEST_REDIS_URL` when set (shared: tests must keep their keys
    /// apart), else a throwaway server ([`Redis::throwaway`]).
    ///
    /// # Panics
    /// When `redis-server` is missing or does not start; the message says why.
    pub async fn start() -> Self {
        match crate::env_url(crate::REDIS_URL_ENV) {
            Some(url) => Self { url, server: None },
            None => Self::throwaway().await,
        }
    }

    /// A server of our own, whatever the environment says: for tests that
    /// kill and restart it.
    pub async fn throwaway() -> Self {
        let binary = process::find_binary("redis-server").unwrap_or_else(|| {
            panic!("testkit: redis-server not found on PATH (scripts/setup installs it)")
        });
        let dir = tempfile::Builder::new()
            .prefix("hostwatch-redis-")
            .tempdir()
            .unwrap_or_else(|e| panic!("testkit: creating a temporary directory: {e}"));
        let mut server = Server {
            binary,
            port: 0,
            child: None,
            watchdog: None,
            dir,
        };
        let mut last_log = String::new();
        for _ in 0..PORT_ATTEMPTS {
            server.port = process::free_port();
            match server.try_start().await {
                Ok(()) => {
                    return Self {
                        url: format!("redis://127.0.0.1:{}/", server.port),
                        server: Some(server),
                    }
                }
                Err(log) => last_log = log,
            }
        }
        panic!("testkit: redis-server did not start after {PORT_ATTEMPTS} attempts:\n{last_log}");
    }

    /// `redis://…` URL of the server.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Kills the server with SIGKILL (no shutdown, no final fsync) and reaps it.
    pub async fn kill9(&mut self) {
        self.server("kill9").kill();
    }

    /// Starts the killed server again on the same port and directory; it
    /// reloads its append-only file before answering.
    pub async fn start_again(&mut self) {
        let server = self.server("start_again");
        if let Err(log) = server.try_start().await {
            panic!(
                "testkit: redis-server did not start again on port {}:\n{log}",
                server.port
            );
        }
    }

    fn server(&mut self, what: &str) -> &mut Server {
        self.server.as_mut().unwrap_or_else(|| {
            panic!("testkit: Redis::{what} needs a server of our own; use Redis::throwaway()")
        })
    }
}

impl Server {
    fn log(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    /// Starts `redis-server` and waits for PONG; Err carries its log.
    async fn try_start(&mut self) -> Result<(), String> {
        let child = Command::new(&self.binary)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(self.log())
            .args(["--daemonize", "no", "--protected-mode", "yes"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.binary.display()))?;
        let pid = child.id();
        self.child = Some(child);
        self.watchdog = Some(Watchdog::spawn(&watchdog_cleanup(pid, self.dir.path())));
        let started = Instant::now();
        loop {
            if let Some(child) = &mut self.child {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    self.watchdog = None;
                    let log = std::fs::read_to_string(self.log()).unwrap_or_default();
                    return Err(format!("redis-server exited ({status}):\n{log}"));
                }
            }
            if ping(self.port).await {
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                self.kill();
                return Err(format!(
                    "no PONG within {READY_TIMEOUT:?}:\n{}",
                    std::fs::read_to_string(self.log()).unwrap_or_default()
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL (std's `Child::kill` sends SIGKILL on Unix) and reap.
    fn kill(&mut self) {
        self.watchdog = None;
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// True when the server answers PING with PONG (it answers `-LOADING` while
/// it replays its append-only file).
async fn ping(port: u16) -> bool {
    let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    if s.write_all(b"PING\r\n").await.is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    match tokio::time::timeout(Duration::from_secs(1), s.read(&mut buf)).await {
        Ok(Ok(n)) => buf[..n].starts_with(b"+PONG"),
        _ => false,
    }
}

fn watchdog_cleanup(pid: u32, dir: &Path) -> String {
    let dir = process::sh_quote(&dir.display().to_string());
    format!("kill -9 {pid} 2>/dev/null; rm -rf {dir}")
}
