//! A running edge, a fake hub on its `/uplink`, and its `/metrics`.

use std::net::SocketAddr;
use std::time::Duration;

use common::model::{AnomalyEvent, HostStatus};
use futures::{SinkExt, StreamExt};
use prost::Message as _;
use proto::{edge_frame, uplink_frame, EdgeFrame, UplinkFrame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

/// How long a test waits for any one thing before failing.
pub const WAIT: Duration = Duration::from_secs(20);

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub struct TestEdge {
    pub addr: SocketAddr,
    token: CancellationToken,
    task: tokio::task::JoinHandle<edge::Result<()>>,
}

impl TestEdge {
    pub async fn start(config: edge::Config) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind edge");
        let addr = listener.local_addr().expect("addr");
        let token = CancellationToken::new();
        let task = tokio::spawn(edge::run(config, listener, token.clone()));
        Self { addr, token, task }
    }

    pub async fn stop(self) {
        self.token.cancel();
        let r = tokio::time::timeout(WAIT, self.task)
            .await
            .expect("the edge stops");
        r.expect("edge task").expect("edge run");
    }

    /// The value of the first `/metrics` line starting with `prefix` (0 when
    /// there is none).
    pub async fn metric(&self, prefix: &str) -> f64 {
        let mut s = TcpStream::connect(self.addr).await.expect("connect");
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n")
            .await
            .expect("request");
        let mut text = String::new();
        s.read_to_string(&mut text).await.expect("response");
        text.lines()
            .find_map(|l| l.strip_prefix(prefix).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0.0)
    }
}

/// A hub on the edge's `/uplink`, sending anomaly events as a real hub does.
pub struct FakeHub {
    ws: Ws,
    seq: u64,
}

impl FakeHub {
    pub async fn connect(edge: SocketAddr, hub_id: &str) -> Self {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{edge}/uplink"))
            .await
            .expect("uplink");
        let hello = UplinkFrame {
            seq: 0,
            msg: Some(uplink_frame::Msg::Hello(proto::UplinkHello {
                hub_id: hub_id.into(),
                site: "eu".into(),
                credentials: String::new(),
                epoch: 1,
            })),
        };
        ws.send(Message::Binary(hello.encode_to_vec().into()))
            .await
            .expect("hello");
        let mut hub = Self { ws, seq: 0 };
        match hub.next_frame().await {
            edge_frame::Msg::Welcome(_) => hub,
            other => panic!("expected a welcome, got {other:?}"),
        }
    }

    /// Sends `events`, then an empty batch, and returns once the edge acks
    /// the batch: it handles a hub's frames in order, so by then every event
    /// has been applied.
    pub async fn send_events(&mut self, events: impl IntoIterator<Item = AnomalyEvent>) {
        for ev in events {
            let f = UplinkFrame {
                seq: 0,
                msg: Some(uplink_frame::Msg::Event(common::convert::event_to_proto(
                    &ev,
                ))),
            };
            self.ws
                .feed(Message::Binary(f.encode_to_vec().into()))
                .await
                .expect("event frame");
        }
        self.barrier().await;
    }

    /// Sends an empty batch and returns once the edge acks it: the edge
    /// handles a session's frames in order, so everything fed before is applied.
    async fn barrier(&mut self) {
        self.seq += 1;
        let batch = UplinkFrame {
            seq: self.seq,
            msg: Some(uplink_frame::Msg::Batch(proto::UplinkBatch::default())),
        };
        self.ws
            .send(Message::Binary(batch.encode_to_vec().into()))
            .await
            .expect("batch frame");
        loop {
            match self.next_frame().await {
                edge_frame::Msg::Ack(a) if a.seq == self.seq => return,
                _ => {}
            }
        }
    }

    /// Sends `statuses` as a hub does on a host's first data, then an empty
    /// batch, and returns once the edge acks it (so every status is applied).
    pub async fn send_statuses(&mut self, statuses: impl IntoIterator<Item = HostStatus>) {
        for st in statuses {
            let f = UplinkFrame {
                seq: 0,
                msg: Some(uplink_frame::Msg::HostStatus(
                    common::convert::status_to_proto(&st),
                )),
            };
            self.ws
                .feed(Message::Binary(f.encode_to_vec().into()))
                .await
                .expect("status frame");
        }
        self.barrier().await;
    }

    /// Waits for the edge's next request down the uplink and sends back
    /// what `answer` makes of it, as a hub's uplink task does.
    pub async fn answer(
        &mut self,
        answer: impl FnOnce(&proto::UplinkRequest) -> proto::UplinkResponse,
    ) {
        let req = loop {
            if let edge_frame::Msg::Request(r) = self.next_frame().await {
                break r;
            }
        };
        let mut resp = answer(&req);
        resp.request_id = req.request_id;
        let f = UplinkFrame {
            seq: 0,
            msg: Some(uplink_frame::Msg::Response(resp)),
        };
        self.ws
            .send(Message::Binary(f.encode_to_vec().into()))
            .await
            .expect("response frame");
    }

    async fn next_frame(&mut self) -> edge_frame::Msg {
        loop {
            let m = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("an edge frame in time")
                .expect("uplink open")
                .expect("uplink frame");
            if let Message::Binary(b) = m {
                if let Some(msg) = EdgeFrame::decode(b.as_ref()).expect("edge frame").msg {
                    return msg;
                }
            }
        }
    }
}

/// An incident of host `h<id>`; ids are unique per test, so each is news.
pub fn event(id: u64) -> AnomalyEvent {
    AnomalyEvent {
        id,
        host: format!("h{id}"),
        site: "eu".into(),
        name: "system.cpu.utilization".into(),
        labels: Default::default(),
        start_ms: 1_000 * id as i64,
        last_ms: 1_000 * id as i64,
        end_ms: None,
        severity: "high".into(),
        score: 0.9,
        actual: 0.97,
        expected: Some(0.3),
        evidence: vec!["level 4σ above".into()],
        top_processes: Vec::new(),
    }
}

pub fn events(ids: std::ops::RangeInclusive<u64>) -> impl Iterator<Item = AnomalyEvent> {
    ids.map(event)
}
