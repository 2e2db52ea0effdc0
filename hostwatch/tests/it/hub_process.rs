//! A `hostwatch hub` child process that a test can SIGKILL and start again on
//! the same ports and data, as an operator's crash would.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct HubProcess {
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    db: PathBuf,
    env: Vec<(String, String)>,
    child: Option<Child>,
}

/// A port that was free a moment ago (the hub binds it right after).
fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

impl HubProcess {
    pub async fn start(dir: &Path, env: Vec<(String, String)>) -> Self {
        let mut p = Self {
            grpc: free_port(),
            http: free_port(),
            db: dir.join("hub.db"),
            env,
            child: None,
        };
        p.spawn().await;
        p
    }

    /// Starts the process and waits until it answers `/readyz`.
    pub async fn spawn(&mut self) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hostwatch"));
        cmd.args([
            "hub",
            "--grpc",
            &self.grpc.to_string(),
            "--http",
            &self.http.to_string(),
        ])
        .arg("--database-path")
        .arg(&self.db)
        .env("RUST_LOG", "warn")
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().expect("spawn hostwatch hub"));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = reqwest::get(format!("http://{}/readyz", self.http)).await {
                if r.status().is_success() {
                    return;
                }
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("hub exited during start-up: {status}");
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "hub not ready in time"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub async fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
            loop {
                if let Ok(Some(status)) = c.try_wait() {
                    assert!(status.success(), "hub exited with {status}");
                    return;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "hub did not stop on SIGTERM"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    pub fn db(&self) -> &Path {
        &self.db
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}
