//! A hub with `security.auth = "required"`, driven by a raw gRPC client:
//! what a Hello must carry, what the Welcome gives back, and revocation
//! cutting an open stream.

use std::time::Duration;

use hub::auth::admin;
use hub::config::AuthMode;
use proto::ingest_client::IngestClient;
use proto::{agent_message, hub_message, AgentMessage, HubMessage};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::support::{def, row, TestHub};

/// An open stream after a Welcome.
struct Stream {
    tx: mpsc::Sender<AgentMessage>,
    rx: tonic::Streaming<HubMessage>,
    welcome: proto::Welcome,
}

async fn hello(hub: &TestHub, agent_id: &str, credentials: &str) -> Result<Stream, tonic::Status> {
    let mut client = IngestClient::connect(format!("http://{}", hub.grpc))
        .await
        .expect("connect");
    let (tx, rx) = mpsc::channel(16);
    tx.send(AgentMessage {
        msg: Some(agent_message::Msg::Hello(proto::Hello {
            agent_id: agent_id.into(),
            host: Some(proto::HostFacts {
                hostname: agent_id.into(),
                ..Default::default()
            }),
            site: String::new(),
            credentials: credentials.into(),
            last_seq: 0,
        })),
    })
    .await
    .expect("send hello");
    let mut rx = client.stream(ReceiverStream::new(rx)).await?.into_inner();
    let first = tokio::time::timeout(Duration::from_secs(10), rx.message())
        .await
        .expect("an answer in time")?;
    match first {
        Some(HubMessage {
            msg: Some(hub_message::Msg::Welcome(welcome)),
        }) => Ok(Stream { tx, rx, welcome }),
        other => panic!("expected a welcome, got {other:?}"),
    }
}

impl Stream {
    /// Sends batch `seq`; `define` on the first batch of a stream.
    async fn send(&self, seq: u64, define: bool) {
        self.tx
            .send(AgentMessage {
                msg: Some(agent_message::Msg::Batch(proto::Batch {
                    seq,
                    new_series: if define {
                        vec![def(1, "system.cpu.utilization")]
                    } else {
                        Vec::new()
                    },
                    rows: vec![row(1, 0.25)],
                    top_processes: Vec::new(),
                })),
            })
            .await
            .expect("send batch");
    }

    async fn reply(&mut self, within: Duration) -> Result<u64, tonic::Status> {
        let m = tokio::time::timeout(within, self.rx.message())
            .await
            .expect("a reply in time")?;
        match m {
            Some(HubMessage {
                msg: Some(hub_message::Msg::Ack(a)),
            }) => Ok(a.seq),
            other => panic!("expected an ack, got {other:?}"),
        }
    }
}

async fn hub_with_auth() -> (TestHub, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir").keep();
    let db = dir.join("hub.db");
    let path = db.clone();
    let hub = TestHub::start_with(move |c| {
        c.database_path = path;
        c.security.auth = AuthMode::Required;
    })
    .await;
    // Ready means migrated: the admin store must not race the hub's first
    // migration on a fresh file.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !hub.get("/readyz").await.starts_with("HTTP/1.0 200") {
        assert!(tokio::time::Instant::now() < deadline, "hub not ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (hub, db)
}

async fn admin_store(db: &std::path::Path) -> std::sync::Arc<dyn hub::auth::store::AuthStore> {
    admin::open(&hub::Config {
        database_path: db.to_owned(),
        ..Default::default()
    })
    .await
    .expect("admin store")
}

fn unauthenticated(r: Result<Stream, tonic::Status>, contains: &str) {
    match r {
        Ok(_) => panic!("expected UNAUTHENTICATED ({contains}), got a welcome"),
        Err(s) => {
            assert_eq!(s.code(), tonic::Code::Unauthenticated, "{s:?}");
            assert!(
                s.message().contains(contains),
                "{:?} lacks {contains:?}",
                s.message()
            );
        }
    }
}

#[tokio::test]
async fn token_becomes_a_credential_bound_to_the_agent_and_revocation_cuts_the_stream() {
    let (hub, db) = hub_with_auth().await;
    let admin = admin_store(&db).await;

    unauthenticated(hello(&hub, "a", "").await, "requires authentication");
    unauthenticated(hello(&hub, "a", "password").await, "neither");
    unauthenticated(
        hello(&hub, "a", "hwc_0000").await,
        "not enrolled at this hub",
    );
    let refused = "hostwatch_hub_rejected_total{reason=\"unauthenticated\"}";
    assert_eq!(hub.metric(refused).await, 3.0);

    let (token, _) = admin::create_token(admin.as_ref(), Duration::from_secs(60), 1, "")
        .await
        .expect("token");
    let mut s = hello(&hub, "a", &token).await.expect("enrol");
    let credential = s.welcome.credential.clone();
    assert!(credential.starts_with("hwc_"), "{credential:?}");
    s.send(1, true).await;
    assert_eq!(s.reply(Duration::from_secs(10)).await.expect("ack"), 1);
    assert_eq!(hub.metric("hostwatch_hub_enrolments_total").await, 1.0);

    // The token is spent; the credential works and is not re-issued.
    unauthenticated(hello(&hub, "b", &token).await, "no uses left");
    drop(s);
    let mut s = hello(&hub, "a", &credential).await.expect("credential");
    assert!(s.welcome.credential.is_empty());
    s.send(2, true).await;
    assert_eq!(s.reply(Duration::from_secs(10)).await.expect("ack"), 2);
    // Bound to "a": useless under another id.
    unauthenticated(hello(&hub, "b", &credential).await, "not enrolled");

    // Revoked by another process (the admin CLI's way): the open stream
    // ends with UNAUTHENTICATED within a few poll intervals.
    assert!(admin.revoke("a", common::now_ms()).await.expect("revoke"));
    let err = s
        .reply(hub::auth::POLL_INTERVAL * 5)
        .await
        .expect_err("stream cut");
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    assert!(err.message().contains("revoked"), "{}", err.message());
    assert_eq!(hub.metric("hostwatch_hub_streams_revoked_total").await, 1.0);
    unauthenticated(hello(&hub, "a", &credential).await, "revoked");
    hub.stop().await;
    let _ = std::fs::remove_dir_all(db.parent().expect("dir"));
}

#[tokio::test]
async fn with_auth_off_credentials_are_ignored_and_none_is_issued() {
    let hub = TestHub::start_with(|_| {}).await;
    let mut s = hello(&hub, "a", "hwt_whatever").await.expect("welcome");
    assert!(s.welcome.credential.is_empty());
    s.send(1, true).await;
    assert_eq!(s.reply(Duration::from_secs(10)).await.expect("ack"), 1);
    let s2 = hello(&hub, "b", "")
        .await
        .expect("welcome without credentials");
    drop((s, s2));
    hub.stop().await;
}
