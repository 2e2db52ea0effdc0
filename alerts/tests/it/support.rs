//! An alert service on a free port with a throwaway database, and a webhook
//! receiver whose answers a test scripts.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alerts::config::User;
use alerts::Config;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub const ALICE: &str = "alice-token";
pub const BOB: &str = "bob-token";

/// Fast timers: tick 50 ms, group_wait 300 ms, group_interval 1 s.
pub fn config(database_url: &str) -> Config {
    let mut c = Config {
        database_url: database_url.to_owned(),
        tick: Duration::from_millis(50),
        allow_private_targets: true,
        ..Config::default()
    };
    c.route.group_wait = Duration::from_millis(300);
    c.route.group_interval = Duration::from_secs(1);
    c.route.repeat_interval = Duration::from_secs(3600);
    c.delivery.retry_base = Duration::from_millis(200);
    c.delivery.retry_max = Duration::from_secs(2);
    c.delivery.timeout = Duration::from_secs(5);
    c.users = vec![
        User {
            name: "alice".into(),
            token_sha256: alerts::api::token_hash(ALICE),
            admin: false,
        },
        User {
            name: "bob".into(),
            token_sha256: alerts::api::token_hash(BOB),
            admin: false,
        },
    ];
    c
}

pub struct Db {
    _dir: tempfile::TempDir,
    pub url: String,
}

pub fn sqlite() -> Db {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("alerts.db").display());
    Db { _dir: dir, url }
}

pub struct Service {
    pub url: String,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<alerts::Result<()>>,
    pub http: reqwest::Client,
}

impl Service {
    pub async fn start(config: Config) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(alerts::run(config, listener, shutdown.clone()));
        let http = reqwest::Client::new();
        let s = Self {
            url,
            shutdown,
            task,
            http,
        };
        s.wait_healthy().await;
        s
    }

    async fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = self.http.get(format!("{}/healthz", self.url)).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            assert!(
                !self.task.is_finished(),
                "the alert service exited during start-up"
            );
            assert!(
                Instant::now() < deadline,
                "alert service not healthy in 20 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        let r = tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("stops within 20 s")
            .expect("task joins");
        r.expect("run returns Ok");
    }

    /// POSTs alerts on the Alertmanager API; returns the status.
    pub async fn post_alerts(&self, alerts: Value) -> StatusCode {
        let r = self
            .http
            .post(format!("{}/api/v2/alerts", self.url))
            .json(&alerts)
            .send()
            .await
            .expect("post alerts");
        StatusCode::from_u16(r.status().as_u16()).expect("status")
    }

    pub async fn subscribe(&self, token: &str, body: Value) -> (StatusCode, Value) {
        let r = self
            .http
            .post(format!("{}/api/v1/subscriptions", self.url))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("subscribe");
        let status = StatusCode::from_u16(r.status().as_u16()).expect("status");
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut req = self.http.get(format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.expect("get");
        let status = StatusCode::from_u16(r.status().as_u16()).expect("status");
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.url))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }
}

/// The value of a metric line `name{labels} value` (0 when absent).
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// A firing alert in Alertmanager's JSON.
pub fn alert(labels: &[(&str, &str)]) -> Value {
    let l: serde_json::Map<String, Value> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
        .collect();
    serde_json::json!({ "labels": l, "annotations": { "summary": "test" } })
}

/// The same alert, resolved now.
pub fn resolved(labels: &[(&str, &str)]) -> Value {
    let mut a = alert(labels);
    a["endsAt"] = Value::String(
        time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .expect("format"),
    );
    a
}

#[derive(Debug, Clone)]
pub struct Call {
    pub at: Instant,
    pub headers: HeaderMap,
    pub body: String,
    /// What the receiver answered.
    pub status: u16,
}

impl Call {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("JSON body")
    }
}

type Script = Box<dyn FnMut(usize) -> (u16, Option<String>) + Send>;

/// An HTTP server recording every request; `script(n)` (n = 0, 1, …) picks
/// the status and an optional `Retry-After` for the n-th call.
pub struct Receiver {
    pub url: String,
    calls: Arc<Mutex<Vec<Call>>>,
    script: Arc<Mutex<Script>>,
    _task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start() -> Self {
        Self::scripted(|_| (200, None)).await
    }

    pub async fn scripted(
        script: impl FnMut(usize) -> (u16, Option<String>) + Send + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let calls: Arc<Mutex<Vec<Call>>> = Arc::default();
        let script: Arc<Mutex<Script>> = Arc::new(Mutex::new(Box::new(script)));
        let (c, s) = (calls.clone(), script.clone());
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: String| {
            let (c, s) = (c.clone(), s.clone());
            async move {
                let mut calls = c.lock().expect("calls");
                let (status, retry_after) = (s.lock().expect("script"))(calls.len());
                calls.push(Call {
                    at: Instant::now(),
                    headers,
                    body,
                    status,
                });
                let mut resp = StatusCode::from_u16(status)
                    .expect("status")
                    .into_response();
                if let Some(ra) = retry_after {
                    resp.headers_mut()
                        .insert("retry-after", ra.parse().expect("header"));
                }
                resp
            }
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url,
            calls,
            script,
            _task: task,
        }
    }

    pub fn set_script(&self, script: impl FnMut(usize) -> (u16, Option<String>) + Send + 'static) {
        *self.script.lock().expect("script") = Box::new(script);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().expect("calls").clone()
    }

    /// Calls answered 2xx.
    pub fn delivered(&self) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| (200..300).contains(&c.status))
            .collect()
    }

    /// Waits until `n` calls were answered 2xx.
    pub async fn wait_delivered(&self, n: usize, timeout: Duration) -> Vec<Call> {
        let deadline = Instant::now() + timeout;
        loop {
            let d = self.delivered();
            if d.len() >= n {
                return d;
            }
            assert!(
                Instant::now() < deadline,
                "{n} deliveries expected within {timeout:?}, got {}: {:?}",
                d.len(),
                self.calls().iter().map(|c| c.status).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Asserts nothing more than `n` is delivered during `quiet`.
    pub async fn stays_at(&self, n: usize, quiet: Duration) {
        tokio::time::sleep(quiet).await;
        let d = self.delivered();
        assert_eq!(
            d.len(),
            n,
            "unexpected extra deliveries: {:?}",
            d.iter().map(|c| c.json()).collect::<Vec<_>>()
        );
    }
}

/// A webhook subscription body matching `matchers`.
pub fn webhook_sub(name: &str, matchers: &str, url: &str) -> Value {
    serde_json::json!({
        "name": name,
        "match": matchers,
        "channels": [{ "type": "webhook", "url": url, "secret": "s3cret" }],
    })
}
