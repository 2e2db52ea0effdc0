//! A hub on port 0 with a temporary SQLite history (or the history a test
//! configures), and a hand-driven agent stream.

use std::net::SocketAddr;
use std::time::Duration;

use proto::ingest_client::IngestClient;
use proto::{agent_message, hub_message, AgentMessage, HubMessage};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

pub struct TestHub {
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    pub token: CancellationToken,
    task: tokio::task::JoinHandle<hub::Result<()>>,
    _dir: tempfile::TempDir,
}

impl TestHub {
    pub async fn start(limits: hub::config::Limits) -> Self {
        Self::start_with(|c| c.limits = limits).await
    }

    /// A hub whose config is the test default (SQLite in a temporary
    /// directory) changed by `configure`.
    pub async fn start_with(configure: impl FnOnce(&mut hub::Config)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let listeners = hub::Listeners {
            grpc: tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind"),
            http: tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind"),
        };
        let grpc = listeners.grpc.local_addr().expect("addr");
        let http = listeners.http.local_addr().expect("addr");
        let mut config = hub::Config {
            database_path: dir.path().join("hub.db"),
            ..Default::default()
        };
        configure(&mut config);
        let token = CancellationToken::new();
        let task = tokio::spawn(hub::run(config, listeners, token.clone()));
        Self {
            grpc,
            http,
            token,
            task,
            _dir: dir,
        }
    }

    pub async fn stop(self) {
        self.token.cancel();
        self.task.await.expect("hub task").expect("hub ran cleanly");
    }

    /// GET over plain HTTP/1.0 (no client library needed for a text page).
    pub async fn get(&self, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(self.http)
            .await
            .expect("connect http");
        s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read");
        out
    }

    /// The value of one line of `/metrics`, 0 when absent.
    pub async fn metric(&self, line_prefix: &str) -> f64 {
        let text = self.get("/metrics").await;
        text.lines()
            .find_map(|l| {
                l.strip_prefix(line_prefix)
                    .and_then(|v| v.trim().parse().ok())
            })
            .unwrap_or(0.0)
    }

    pub async fn query(&self) -> proto::query_client::QueryClient<tonic::transport::Channel> {
        proto::query_client::QueryClient::connect(format!("http://{}", self.grpc))
            .await
            .expect("query client")
    }
}

/// One agent stream driven message by message.
pub struct RawAgent {
    pub tx: mpsc::Sender<AgentMessage>,
    pub rx: tonic::Streaming<HubMessage>,
}

impl RawAgent {
    /// Opens a stream and says hello; returns the hub's stored seq.
    pub async fn connect(hub: &TestHub, agent_id: &str) -> (Self, u64) {
        let (agent, welcome) = Self::connect_welcome(hub, agent_id).await;
        (agent, welcome.stored_seq)
    }

    /// Opens a stream and says hello; returns the hub's whole Welcome.
    pub async fn connect_welcome(hub: &TestHub, agent_id: &str) -> (Self, proto::Welcome) {
        let mut client = IngestClient::connect(format!("http://{}", hub.grpc))
            .await
            .expect("connect")
            .max_encoding_message_size(64 * 1024 * 1024);
        let (tx, rx) = mpsc::channel(16);
        tx.send(AgentMessage {
            msg: Some(agent_message::Msg::Hello(proto::Hello {
                agent_id: agent_id.into(),
                host: Some(proto::HostFacts {
                    hostname: agent_id.into(),
                    ..Default::default()
                }),
                site: "test".into(),
                credentials: String::new(),
                last_seq: 0,
            })),
        })
        .await
        .expect("send hello");
        let mut rx = client
            .stream(ReceiverStream::new(rx))
            .await
            .expect("open stream")
            .into_inner();
        let welcome = match rx.message().await.expect("welcome").expect("a message") {
            HubMessage {
                msg: Some(hub_message::Msg::Welcome(w)),
            } => w,
            other => panic!("expected welcome, got {other:?}"),
        };
        (Self { tx, rx }, welcome)
    }

    pub async fn send(&self, batch: proto::Batch) {
        self.tx
            .send(AgentMessage {
                msg: Some(agent_message::Msg::Batch(batch)),
            })
            .await
            .expect("send batch");
    }

    /// The next reply: Ok(acked seq) or the stream's error status.
    pub async fn reply(&mut self) -> Result<u64, tonic::Status> {
        let m = tokio::time::timeout(Duration::from_secs(10), self.rx.message())
            .await
            .expect("reply in time")?;
        match m {
            Some(HubMessage {
                msg: Some(hub_message::Msg::Ack(a)),
            }) => Ok(a.seq),
            other => panic!("expected ack, got {other:?}"),
        }
    }
}

pub fn def(id: u32, name: &str) -> proto::SeriesDef {
    proto::SeriesDef {
        id,
        name: name.into(),
        labels: Vec::new(),
        host: String::new(),
    }
}

pub fn row(id: u32, value: f64) -> proto::Row {
    proto::Row {
        series_id: id,
        timestamp_ms: common::now_ms(),
        value,
    }
}
