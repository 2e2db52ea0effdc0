//! `hostwatch alerts` as a process: subscriptions made with
//! `hostwatch alerts subscribe`, and `kill -9` between an alert firing and
//! its delivery still yields exactly one delivery.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::support::eventually;

const TOKEN: &str = "hwa_test_token";

fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

struct AlertsProcess {
    http: SocketAddr,
    config: PathBuf,
    child: Option<Child>,
}

impl AlertsProcess {
    async fn start(dir: &Path) -> Self {
        let http = free_port();
        let config = dir.join("alerts.toml");
        std::fs::write(
            &config,
            format!(
                r#"
database_url = "sqlite://{db}"
allow_private_targets = true
tick = "100ms"
[route]
group_wait = "2s"
group_interval = "1s"
[delivery]
retry_base = "200ms"
retry_max = "1s"
[[users]]
name = "ops"
token_sha256 = "{hash}"
"#,
                db = dir.join("alerts.db").display(),
                hash = alerts::api::token_hash(TOKEN),
            ),
        )
        .expect("config");
        let mut p = Self {
            http,
            config,
            child: None,
        };
        p.spawn().await;
        p
    }

    async fn spawn(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_hostwatch"))
            .args(["alerts", "--http", &self.http.to_string(), "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn hostwatch alerts");
        self.child = Some(child);
        let url = format!("http://{}/healthz", self.http);
        eventually(Duration::from_secs(20), "alerts healthy", || {
            let url = url.clone();
            async move {
                reqwest::get(url)
                    .await
                    .ok()
                    .filter(|r| r.status().is_success())
            }
        })
        .await;
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("SIGKILL");
            c.wait().expect("reap");
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.http)
    }

    async fn fire(&self, name: &str) {
        let r = reqwest::Client::new()
            .post(format!("{}/api/v2/alerts", self.url()))
            .json(&serde_json::json!([{ "labels": { "alertname": name, "severity": "high" } }]))
            .send()
            .await
            .expect("post");
        assert!(r.status().is_success(), "{}", r.status());
    }
}

impl Drop for AlertsProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Counts POSTs; answers 500 while `failing`, else 200.
struct Hook {
    url: String,
    delivered: Arc<AtomicUsize>,
    attempts: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
}

async fn hook() -> Hook {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let delivered = Arc::new(AtomicUsize::new(0));
    let attempts = Arc::new(AtomicUsize::new(0));
    let failing = Arc::new(AtomicBool::new(false));
    let (d, a, f) = (delivered.clone(), attempts.clone(), failing.clone());
    let app = axum::Router::new().fallback(move || {
        let (d, a, f) = (d.clone(), a.clone(), f.clone());
        async move {
            a.fetch_add(1, Ordering::SeqCst);
            if f.load(Ordering::SeqCst) {
                axum::http::StatusCode::INTERNAL_SERVER_ERROR
            } else {
                d.fetch_add(1, Ordering::SeqCst);
                axum::http::StatusCode::OK
            }
        }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Hook {
        url,
        delivered,
        attempts,
        failing,
    }
}

/// `hostwatch alerts subscribe`, the command a user types.
fn subscribe(service: &str, matchers: &str, webhook: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_hostwatch"))
        .args([
            "alerts",
            "subscribe",
            "--url",
            service,
            "--match",
            matchers,
            "--webhook",
            webhook,
        ])
        .env("HOSTWATCH_ALERTS_TOKEN", TOKEN)
        .output()
        .expect("run subscribe");
    assert!(
        out.status.success(),
        "subscribe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

async fn exactly(h: &Hook, n: usize, quiet: Duration) {
    eventually(Duration::from_secs(20), "the delivery", || async {
        (h.delivered.load(Ordering::SeqCst) >= n).then_some(())
    })
    .await;
    tokio::time::sleep(quiet).await;
    assert_eq!(
        h.delivered.load(Ordering::SeqCst),
        n,
        "exactly {n} deliveries"
    );
}

#[tokio::test]
async fn kill_9_before_the_notification_still_delivers_it_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let h = hook().await;
    let mut p = AlertsProcess::start(dir.path()).await;
    let id = subscribe(&p.url(), "severity>=high", &h.url);
    assert_eq!(id.len(), 36, "prints the new subscription's id: {id:?}");
    let out = Command::new(env!("CARGO_BIN_EXE_hostwatch"))
        .args([
            "alerts",
            "subscriptions",
            "--url",
            &p.url(),
            "--token",
            TOKEN,
        ])
        .output()
        .expect("list");
    assert!(String::from_utf8_lossy(&out.stdout).contains(&id));

    // Fired, acknowledged, and the process dies inside group_wait (2 s).
    p.fire("DiskFull").await;
    p.kill9();
    p.spawn().await;
    exactly(&h, 1, Duration::from_secs(3)).await;
}

#[tokio::test]
async fn kill_9_while_the_receiver_fails_delivers_once_after_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let h = hook().await;
    h.failing.store(true, Ordering::SeqCst);
    let mut p = AlertsProcess::start(dir.path()).await;
    subscribe(&p.url(), "", &h.url);
    p.fire("CpuHot").await;
    eventually(Duration::from_secs(20), "a failed attempt", || async {
        (h.attempts.load(Ordering::SeqCst) >= 2).then_some(())
    })
    .await;
    p.kill9();
    h.failing.store(false, Ordering::SeqCst);
    p.spawn().await;
    exactly(&h, 1, Duration::from_secs(3)).await;
}
