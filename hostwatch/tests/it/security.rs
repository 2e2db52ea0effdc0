//! Agent ↔ hub security with the real binaries: `hostwatch hub` over TLS
//! (and mutual TLS) with certificates from `hostwatch tls make-dev-certs`'s
//! code, `hostwatch agent` processes, and enrolment driven by
//! `hostwatch hub token create` / `hostwatch hub agents revoke` on SQLite
//! and PostgreSQL.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::hub_process::HubProcess;
use crate::support::{eventually, metric};

/// A `hostwatch agent` child whose log goes to a file the test can read.
struct AgentProcess {
    child: Option<Child>,
    log: PathBuf,
}

impl AgentProcess {
    fn start(log: &Path, args: &[&str]) -> Self {
        let file = std::fs::File::create(log).expect("agent log");
        let child = Command::new(env!("CARGO_BIN_EXE_hostwatch"))
            .arg("agent")
            .args(["--no-local", "--interval", "200ms"])
            .args(args)
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .env_remove("HOSTWATCH_AGENT_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("spawn hostwatch agent");
        Self {
            child: Some(child),
            log: log.to_owned(),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn wait_for_log(&self, needle: &str) -> String {
        eventually(Duration::from_secs(20), needle, || async {
            let log = self.log();
            log.contains(needle).then_some(log)
        })
        .await
    }

    /// SIGTERM, then wait (the agent drains for up to 5 s).
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let _ = c.wait();
        }
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

const ROWS: &str = "hostwatch_hub_rows_stored_total";

/// Waits until the hub has stored more than `above` rows; returns the count.
async fn rows_above(hub: &HubProcess, above: f64) -> f64 {
    eventually(Duration::from_secs(20), "rows stored", || async {
        let n = metric(hub.http, ROWS).await;
        (n > above).then_some(n)
    })
    .await
}

fn env(pairs: &[(&str, &Path)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.display().to_string()))
        .collect()
}

/// Runs `hostwatch hub <args>` (an admin command) and returns its stdout.
fn hub_admin(db: &Path, database_url: Option<&str>, args: &[&str]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hostwatch"));
    cmd.arg("hub")
        .args(args)
        .arg("--database-path")
        .arg(db)
        .env("RUST_LOG", "warn")
        .env_remove("DATABASE_URL");
    if let Some(url) = database_url {
        cmd.env("DATABASE_URL", url);
    }
    let out = cmd.output().expect("run hostwatch hub admin command");
    assert!(
        out.status.success(),
        "hostwatch hub {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_verifies_the_hub_with_its_ca_file_and_refuses_another_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = hostwatch::dev_certs::make(&dir.path().join("certs"), &[]).expect("certs");
    let other = hostwatch::dev_certs::make(&dir.path().join("other"), &[]).expect("certs");
    let hub = HubProcess::start(
        dir.path(),
        env(&[
            ("HOSTWATCH_HUB_TLS_CERT_FILE", &certs.server_cert),
            ("HOSTWATCH_HUB_TLS_KEY_FILE", &certs.server_key),
        ]),
    )
    .await;
    let url = format!("https://{}", hub.grpc);
    let ca = certs.ca_cert.display().to_string();
    let good = AgentProcess::start(
        &dir.path().join("good.log"),
        &["--hub", &url, "--ca-file", &ca, "--simulate", "1"],
    );
    good.wait_for_log("tls=true").await;
    rows_above(&hub, 0.0).await;

    let wrong_ca = other.ca_cert.display().to_string();
    let bad = AgentProcess::start(
        &dir.path().join("bad.log"),
        &["--hub", &url, "--ca-file", &wrong_ca, "--simulate", "1"],
    );
    let log = bad.wait_for_log("invalid peer certificate").await;
    assert!(log.contains("does not chain to ca_file"), "{log}");
    assert!(!log.contains("connected to hub"), "{log}");

    // Plaintext gRPC against a TLS port does not get in either.
    let plain = AgentProcess::start(
        &dir.path().join("plain.log"),
        &["--hub", &format!("http://{}", hub.grpc), "--simulate", "1"],
    );
    plain.wait_for_log("ingest stream ended").await;
    assert!(!plain.log().contains("connected to hub"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_refuses_an_agent_without_a_client_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = hostwatch::dev_certs::make(&dir.path().join("certs"), &[]).expect("certs");
    let hub = HubProcess::start(
        dir.path(),
        env(&[
            ("HOSTWATCH_HUB_TLS_CERT_FILE", &certs.server_cert),
            ("HOSTWATCH_HUB_TLS_KEY_FILE", &certs.server_key),
            ("HOSTWATCH_HUB_TLS_CLIENT_CA_FILE", &certs.ca_cert),
        ]),
    )
    .await;
    // By name this time: the certificate is for localhost too.
    let url = format!("https://localhost:{}", hub.grpc.port());
    let ca = certs.ca_cert.display().to_string();
    let anonymous = AgentProcess::start(
        &dir.path().join("anonymous.log"),
        &["--hub", &url, "--ca-file", &ca, "--simulate", "1"],
    );
    let log = anonymous
        .wait_for_log("if it requires client certificates")
        .await;
    assert!(!log.contains("connected to hub"), "{log}");
    assert_eq!(metric(hub.http, ROWS).await, 0.0);

    let (cert, key) = (
        certs.client_cert.display().to_string(),
        certs.client_key.display().to_string(),
    );
    let known = AgentProcess::start(
        &dir.path().join("known.log"),
        &[
            "--hub",
            &url,
            "--ca-file",
            &ca,
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
            "--simulate",
            "1",
        ],
    );
    known.wait_for_log("connected to hub").await;
    rows_above(&hub, 0.0).await;
}

/// The operator's path, through the binaries: token → agent enrols and
/// stores its credential (0600) → restarted without the token it still gets
/// in → the token, spent, lets no one else in → revoking cuts the stream.
async fn enrolment_through_the_binaries(database_url: Option<&str>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("hub.db");
    let mut hub_env = vec![("HOSTWATCH_HUB_AUTH".to_owned(), "required".to_owned())];
    if let Some(url) = database_url {
        hub_env.push(("DATABASE_URL".to_owned(), url.to_owned()));
    }
    let hub = HubProcess::start(dir.path(), hub_env).await;
    let token = hub_admin(
        &db,
        database_url,
        &["token", "create", "--uses", "1", "--ttl", "1h"],
    );
    let token = token.trim().to_owned();
    assert!(token.starts_with("hwt_"), "{token:?}");
    let url = format!("http://{}", hub.grpc);
    let cred_file = dir.path().join("state/agent/credentials");
    let cred = cred_file.display().to_string();

    // Nothing presented: refused, clearly.
    let stranger = AgentProcess::start(
        &dir.path().join("stranger.log"),
        &["--hub", &url, "--simulate", "1", "--seed", "9"],
    );
    let log = stranger
        .wait_for_log("hub refused this agent's credentials")
        .await;
    assert!(log.contains("requires authentication"), "{log}");
    drop(stranger);

    let mut first = AgentProcess::start(
        &dir.path().join("first.log"),
        &[
            "--hub",
            &url,
            "--simulate",
            "1",
            "--enrolment-token",
            &token,
            "--credential-file",
            &cred,
        ],
    );
    first
        .wait_for_log("enrolled: the hub issued a credential")
        .await;
    let rows = rows_above(&hub, 0.0).await;
    first.stop();
    let mode = std::fs::metadata(&cred_file)
        .expect("credential file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "credential file mode {mode:o}");
    let dir_mode = std::fs::metadata(cred_file.parent().expect("parent"))
        .expect("dir")
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o777, 0o700, "credential dir mode {dir_mode:o}");
    let saved = std::fs::read_to_string(&cred_file).expect("read credential");
    assert!(saved.contains(" hwc_"), "{saved}");

    // Restarted without the token: the stored credential is enough.
    let again = AgentProcess::start(
        &dir.path().join("again.log"),
        &["--hub", &url, "--simulate", "1", "--credential-file", &cred],
    );
    again.wait_for_log("connected to hub").await;
    rows_above(&hub, rows).await;
    assert!(!again.log().contains("enrolled"), "{}", again.log());
    assert_eq!(
        metric(hub.http, "hostwatch_hub_enrolments_total").await,
        1.0
    );

    // The spent token lets no other agent in.
    let late = AgentProcess::start(
        &dir.path().join("late.log"),
        &[
            "--hub",
            &url,
            "--simulate",
            "2",
            "--seed",
            "7",
            "--enrolment-token",
            &token,
        ],
    );
    late.wait_for_log("no uses left").await;
    assert!(!late.log().contains("connected to hub"), "{}", late.log());
    drop(late);

    let agents = hub_admin(&db, database_url, &["agents", "list"]);
    let agent_id = agents
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .expect("one enrolled agent")
        .to_owned();
    assert!(agents.contains("active"), "{agents}");

    // Revoked by the operator: the open stream ends within seconds.
    let streams = "hostwatch_hub_ingest_streams";
    assert_eq!(metric(hub.http, streams).await, 1.0);
    let said = hub_admin(&db, database_url, &["agents", "revoke", &agent_id]);
    assert!(said.contains("revoked"), "{said}");
    let log = again.wait_for_log("was revoked by an operator").await;
    assert!(
        log.contains("hub refused this agent's credentials"),
        "{log}"
    );
    eventually(Duration::from_secs(10), "stream closed", || async {
        (metric(hub.http, streams).await == 0.0).then_some(())
    })
    .await;
    assert_eq!(
        metric(hub.http, "hostwatch_hub_streams_revoked_total").await,
        1.0
    );
    assert!(hub_admin(&db, database_url, &["agents", "list"]).contains("revoked"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolment_through_the_binaries_on_sqlite() {
    enrolment_through_the_binaries(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolment_through_the_binaries_on_postgres() {
    let pg = testkit::Postgres::start().await;
    enrolment_through_the_binaries(Some(pg.url())).await;
}

/// Refused for want of credentials, an agent keeps collecting into its spool;
/// once the operator hands it a token, every batch reaches the hub.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_agent_keeps_its_batches_and_delivers_them_after_enrolment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("hub.db");
    let hub = HubProcess::start(
        dir.path(),
        vec![("HOSTWATCH_HUB_AUTH".into(), "required".into())],
    )
    .await;
    let config = |token: &str| agent::Config {
        hub_url: format!("http://{}", hub.grpc),
        interval: Duration::from_millis(100),
        collect_local: false,
        simulate: 1,
        spool_dir: Some(dir.path().join("spool")),
        enrolment_token: token.into(),
        ..Default::default()
    };
    let token = CancellationToken::new();
    let refused = agent::Agent::start(config(""), token.clone()).expect("agent");
    eventually(Duration::from_secs(20), "batches piling up", || async {
        let s = &refused.stats()[0].1;
        (s.pending >= 10).then_some(())
    })
    .await;
    token.cancel();
    let (_, before) = refused.join().await.remove(0);
    assert_eq!(before.acked_batches, 0, "{before:?}");
    assert_eq!(before.dropped_batches, 0, "{before:?}");
    assert!(
        metric(
            hub.http,
            "hostwatch_hub_rejected_total{reason=\"unauthenticated\"}"
        )
        .await
            >= 1.0
    );

    let secret = hub_admin(&db, None, &["token", "create"]);
    let token = CancellationToken::new();
    let enrolled = agent::Agent::start(config(secret.trim()), token.clone()).expect("agent");
    eventually(Duration::from_secs(20), "the backlog delivered", || async {
        let s = &enrolled.stats()[0].1;
        (s.acked_seq >= before.last_seq).then_some(())
    })
    .await;
    token.cancel();
    let (_, after) = enrolled.join().await.remove(0);
    assert_eq!(after.dropped_batches, 0, "{after:?}");
    assert_eq!(
        metric(hub.http, "hostwatch_hub_ledger_missing_batches").await,
        0.0,
        "every batch of the refused run arrived"
    );
    assert!(
        metric(hub.http, "hostwatch_hub_batches_total{outcome=\"stored\"}").await
            >= before.last_seq as f64
    );
}
