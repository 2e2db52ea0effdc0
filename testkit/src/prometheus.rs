//! A throwaway Prometheus that evaluates the test's alerting rules every
//! second and sends what fires to the test's Alertmanager (API v2): a real
//! client for an Alertmanager-compatible service.
//!
//! Everything lives in a temporary directory: `prometheus.yml`, `rules.yml`,
//! the TSDB and the server's log. It runs as ourselves even as root, like
//! `redis-server`: Prometheus does not refuse root and needs no rights.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::process::{self, Watchdog};

/// How long the server gets to open its TSDB and answer `/-/ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Attempts with a new port when another process took the chosen one.
const PORT_ATTEMPTS: usize = 5;

/// A Prometheus server on 127.0.0.1 that exists for the life of this value.
pub struct Prometheus {
    port: u16,
    child: Option<Child>,
    watchdog: Option<Watchdog>,
    /// Last: removed after the server is gone.
    dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus with `rules_yaml` as its only rule file, sending
    /// alerts to the Alertmanager at `alertmanager_addr` (`host:port`, plain
    /// HTTP, `POST /api/v2/alerts`). Rules are evaluated every second and
    /// firing alerts re-sent every second (`--rules.alert.resend-delay=1s`).
    /// The server is ready within a fraction of a second, but a rule without
    /// `for:` reaches the Alertmanager only about 6 s after the start:
    /// Prometheus hands discovered Alertmanagers (static ones included) to
    /// its notifier every 5 s, and no flag shortens that. Allow 15 s or more.
    ///
    /// # Panics
    /// When `prometheus` is missing or does not start (bad rules included);
    /// the message carries its log.
    pub async fn start(alertmanager_addr: &str, rules_yaml: &str) -> Self {
        assert!(
            !alertmanager_addr.contains('/'),
            "testkit: Prometheus::start wants the Alertmanager as host:port, not {alertmanager_addr:?}"
        );
        let binary = process::find_binary("prometheus").unwrap_or_else(|| {
            panic!("testkit: prometheus not found on PATH (scripts/setup installs it)")
        });
        let dir = tempfile::Builder::new()
            .prefix("hostwatch-prometheus-")
            .tempdir()
            .unwrap_or_else(|e| panic!("testkit: creating a temporary directory: {e}"));
        write(&dir.path().join("rules.yml"), rules_yaml);
        let mut server = Self {
            port: 0,
            child: None,
            watchdog: None,
            dir,
        };
        let mut last_log = String::new();
        for _ in 0..PORT_ATTEMPTS {
            server.port = process::free_port();
            write(&server.config(), &config(alertmanager_addr, server.port));
            match server.try_start(&binary).await {
                Ok(()) => return server,
                // Someone took the port between our check and the bind: try another.
                Err(log) if log.contains("address already in use") => last_log = log,
                Err(log) => panic!("testkit: prometheus did not start:\n{log}"),
            }
        }
        panic!("testkit: prometheus did not start after {PORT_ATTEMPTS} attempts:\n{last_log}");
    }

    /// `http://127.0.0.1:<port>`, the web UI and HTTP API.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The server's log so far: where it says why sending alerts failed.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("prometheus.yml")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("prometheus.log")
    }

    /// Starts the server and waits for `/-/ready`; Err carries its log.
    async fn try_start(&mut self, binary: &Path) -> Result<(), String> {
        let log = std::fs::File::create(self.log_path())
            .map_err(|e| format!("creating {}: {e}", self.log_path().display()))?;
        let mut config = std::ffi::OsString::from("--config.file=");
        config.push(self.config());
        let mut data = std::ffi::OsString::from("--storage.tsdb.path=");
        data.push(self.dir.path().join("data"));
        let child = Command::new(binary)
            .arg(config)
            .arg(data)
            .arg(format!("--web.listen-address=127.0.0.1:{}", self.port))
            .arg("--rules.alert.resend-delay=1s")
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
        self.watchdog = Some(Watchdog::spawn(&watchdog_cleanup(
            child.id(),
            self.dir.path(),
        )));
        self.child = Some(child);
        let started = Instant::now();
        loop {
            if let Some(child) = &mut self.child {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    self.watchdog = None;
                    return Err(format!("prometheus exited ({status}):\n{}", self.log()));
                }
            }
            if http_status(self.port, "/-/ready").await == Some(200) {
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                self.kill();
                return Err(format!(
                    "/-/ready not 200 within {READY_TIMEOUT:?}:\n{}",
                    self.log()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL and reap: nothing in a throwaway TSDB is worth a clean shutdown.
    fn kill(&mut self) {
        self.watchdog = None;
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `prometheus.yml`: evaluate and scrape every second, alerts to
/// `alertmanager` over API v2, and a scrape job of itself so there is data.
fn config(alertmanager: &str, port: u16) -> String {
    // A JSON string is a YAML string: quoting without a YAML library.
    let target = serde_json::Value::from(alertmanager);
    format!(
        "# hostwatch testkit
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [rules.yml]
alerting:
  alertmanagers:
    - api_version: v2
      static_configs:
        - targets: [{target}]
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: [\"127.0.0.1:{port}\"]
"
    )
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text)
        .unwrap_or_else(|e| panic!("testkit: writing {}: {e}", path.display()));
}

/// The status code of `GET path` on 127.0.0.1:`port` (HTTP/1.0: the server
/// closes the connection after answering).
async fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    s.write_all(request.as_bytes()).await.ok()?;
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(1), s.read(&mut buf))
        .await
        .ok()?
        .ok()?;
    // "HTTP/1.x 200 OK"
    let head = std::str::from_utf8(&buf[..n]).ok()?;
    head.strip_prefix("HTTP/")?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn watchdog_cleanup(pid: u32, dir: &Path) -> String {
    let dir = process::sh_quote(&dir.display().to_string());
    format!("kill -9 {pid} 2>/dev/null; rm -rf {dir}")
}
