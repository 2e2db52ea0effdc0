//! Detection → alert, across real components: a hub finds an anomaly in what
//! an agent sent, its uplink carries the event to the edge, the edge's event
//! feed carries it to the alert service, which notifies a webhook. The alert
//! service is then stopped while another incident happens, and on restart
//! gets exactly the news it missed (the feed's seq/ack and its stored cursor).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use proto::{agent_message, hub_message, AgentMessage, HubMessage};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::support::eventually;

struct Running<T> {
    token: CancellationToken,
    task: tokio::task::JoinHandle<T>,
}

impl<T> Running<T> {
    async fn stop(self) {
        self.token.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(20), self.task).await;
    }
}

/// Webhook bodies received, in order.
type Bodies = Arc<Mutex<Vec<serde_json::Value>>>;

async fn webhook() -> (String, Bodies) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let bodies: Bodies = Arc::default();
    let b = bodies.clone();
    let app = axum::Router::new().fallback(move |body: String| {
        let b = b.clone();
        async move {
            if let Ok(v) = serde_json::from_str(&body) {
                b.lock().expect("lock").push(v);
            }
            "ok"
        }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, bodies)
}

/// An agent stream by hand, to send exactly the series the test needs.
struct RawAgent {
    tx: mpsc::Sender<AgentMessage>,
    rx: tonic::Streaming<HubMessage>,
}

impl RawAgent {
    async fn connect(grpc: std::net::SocketAddr, host: &str) -> Self {
        let mut client = proto::ingest_client::IngestClient::connect(format!("http://{grpc}"))
            .await
            .expect("connect")
            .max_encoding_message_size(64 << 20);
        let (tx, rx) = mpsc::channel(16);
        tx.send(AgentMessage {
            msg: Some(agent_message::Msg::Hello(proto::Hello {
                agent_id: host.into(),
                host: Some(proto::HostFacts {
                    hostname: host.into(),
                    ..Default::default()
                }),
                site: "lab".into(),
                credentials: String::new(),
                last_seq: 0,
            })),
        })
        .await
        .expect("hello");
        let mut rx = client
            .stream(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
            .expect("stream")
            .into_inner();
        match rx.message().await.expect("welcome") {
            Some(HubMessage {
                msg: Some(hub_message::Msg::Welcome(_)),
            }) => {}
            other => panic!("expected welcome, got {other:?}"),
        }
        Self { tx, rx }
    }

    /// One batch: a steady series with a spike, then quiet again (one
    /// incident that opens and closes).
    async fn incident(&mut self, seq: u64, series: u32, name: &str, start_ms: i64) {
        let rows = (0..1200i64)
            .map(|i| proto::Row {
                series_id: series,
                timestamp_ms: start_ms + i * 1000,
                value: if i == 900 {
                    5.0
                } else {
                    0.3 + 0.01 * ((i % 7) as f64)
                },
            })
            .collect();
        self.tx
            .send(AgentMessage {
                msg: Some(agent_message::Msg::Batch(proto::Batch {
                    seq,
                    new_series: vec![proto::SeriesDef {
                        id: series,
                        name: name.into(),
                        labels: Vec::new(),
                        host: String::new(),
                    }],
                    rows,
                    top_processes: Vec::new(),
                })),
            })
            .await
            .expect("batch");
        let ack = tokio::time::timeout(Duration::from_secs(20), self.rx.message())
            .await
            .expect("ack in time")
            .expect("stream open");
        assert!(
            matches!(
                ack,
                Some(HubMessage {
                    msg: Some(hub_message::Msg::Ack(_))
                })
            ),
            "{ack:?}"
        );
    }
}

fn anomalies(bodies: &Bodies) -> Vec<(String, String)> {
    bodies
        .lock()
        .expect("lock")
        .iter()
        .flat_map(|b| {
            b["alerts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|a| {
                    (
                        a["labels"]["metric"].as_str().unwrap_or("").to_owned(),
                        a["status"].as_str().unwrap_or("").to_owned(),
                    )
                })
        })
        .collect()
}

#[tokio::test]
async fn a_detected_anomaly_reaches_a_webhook_and_a_restart_of_alerts_misses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let edge_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind edge");
    let edge_addr = edge_listener.local_addr().expect("addr");
    let edge_token = CancellationToken::new();
    let edge = Running {
        task: tokio::spawn(edge::run(
            edge::Config {
                demo: true,
                ..Default::default()
            },
            edge_listener,
            edge_token.clone(),
        )),
        token: edge_token,
    };
    let listeners = hub::Listeners {
        grpc: TcpListener::bind("127.0.0.1:0").await.expect("grpc"),
        http: TcpListener::bind("127.0.0.1:0").await.expect("http"),
    };
    let grpc = listeners.grpc.local_addr().expect("addr");
    let hub_config = hub::Config {
        grpc_addr: grpc,
        http_addr: listeners.http.local_addr().expect("addr"),
        database_path: dir.path().join("hub.db"),
        site: "lab".into(),
        uplink: hub::config::UplinkConfig {
            edge_url: format!("ws://{edge_addr}/uplink"),
            ..Default::default()
        },
        ..Default::default()
    };
    let hub_token = CancellationToken::new();
    let hub = Running {
        task: tokio::spawn(hub::run(hub_config, listeners, hub_token.clone())),
        token: hub_token,
    };
    let (hook, bodies) = webhook().await;
    let alerts_db = dir.path().join("alerts.db");
    // Demo mode: no login needed for the subscription.
    let (svc, url) = start_demo_alerts(&alerts_db, edge_addr).await;
    let r = reqwest::Client::new()
        .post(format!("{url}/api/v1/subscriptions"))
        .json(&serde_json::json!({
            "name": "anomalies", "match": "alertname=Anomaly",
            "channels": [{"type": "webhook", "url": hook}],
        }))
        .send()
        .await
        .expect("subscribe");
    assert_eq!(r.status().as_u16(), 201);

    let mut agent = RawAgent::connect(grpc, "lab-1").await;
    let start = common::now_ms() - 1_300_000;
    agent.incident(1, 1, "system.cpu.utilization", start).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !anomalies(&bodies)
        .iter()
        .any(|(m, _)| m == "system.cpu.utilization")
    {
        if tokio::time::Instant::now() > deadline {
            panic!(
                "no incident at the webhook in 60 s.\nedge events: {}\nalerts: {}\nalerts metrics: {}\nedge metrics: {}",
                text(format!("http://{edge_addr}/api/v1/events")).await,
                text(format!("{url}/api/v1/alerts")).await,
                text(format!("{url}/metrics")).await,
                text(format!("http://{edge_addr}/metrics")).await,
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first = anomalies(&bodies);

    // alerts goes away; another incident happens meanwhile.
    svc.stop().await;
    agent
        .incident(2, 2, "system.memory.utilization", start)
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (svc, url) = start_demo_alerts(&alerts_db, edge_addr).await;
    eventually(
        Duration::from_secs(60),
        "the missed incident after the restart",
        || async {
            anomalies(&bodies)
                .iter()
                .any(|(m, _)| m == "system.memory.utilization")
                .then_some(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let all = anomalies(&bodies);
    let cpu_after = all
        .iter()
        .filter(|(m, _)| m == "system.cpu.utilization")
        .count();
    let cpu_before = first
        .iter()
        .filter(|(m, _)| m == "system.cpu.utilization")
        .count();
    assert_eq!(
        cpu_after, cpu_before,
        "nothing of the first incident is sent again: {all:?}"
    );
    let m = reqwest::get(format!("{url}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(m.contains("hostwatch_alerts_feed_connected 1"), "{m}");
    assert!(m.contains("hostwatch_alerts_feed_gaps_total 0"), "{m}");
    svc.stop().await;
    hub.stop().await;
    edge.stop().await;
}

async fn start_demo_alerts(
    db: &std::path::Path,
    edge: std::net::SocketAddr,
) -> (Running<alerts::Result<()>>, String) {
    let mut c = alerts::Config {
        database_url: format!("sqlite://{}", db.display()),
        edge_url: Some(format!("http://{edge}")),
        demo: true,
        tick: Duration::from_millis(100),
        rules: Vec::new(),
        ..Default::default()
    };
    c.route.group_wait = Duration::from_millis(200);
    c.route.group_interval = Duration::from_millis(500);
    c.route.group_by = vec!["...".into()];
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let token = CancellationToken::new();
    let task = tokio::spawn(alerts::run(c, listener, token.clone()));
    eventually(Duration::from_secs(20), "alerts healthy", || {
        let u = format!("{url}/healthz");
        async move {
            reqwest::get(u)
                .await
                .ok()
                .filter(|r| r.status().is_success())
        }
    })
    .await;
    (Running { token, task }, url)
}

async fn text(url: String) -> String {
    reqwest::get(url)
        .await
        .expect("get")
        .text()
        .await
        .expect("text")
}
