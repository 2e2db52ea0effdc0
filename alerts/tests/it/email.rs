//! Email through a real SMTP server (aiosmtpd, started by testkit): plain
//! on loopback, and with STARTTLS required against a throwaway CA.

use std::time::Duration;

use alerts::config::{Smtp, StartTls};
use serde_json::json;
use testkit::Smtp as SmtpServer;

use crate::support::{self, alert, Service, ALICE};

fn email_sub(to: &str) -> serde_json::Value {
    json!({
        "name": "mail",
        "match": "severity>=high",
        "channels": [{ "type": "email", "to": to }],
    })
}

fn relay(port: u16, starttls: StartTls, ca_file: Option<std::path::PathBuf>) -> Smtp {
    Smtp {
        host: "localhost".into(),
        port,
        starttls,
        ca_file,
        username: None,
        password_file: None,
        from: "hostwatch <alerts@example.org>".into(),
    }
}

async fn one_email_arrives(server: &SmtpServer, smtp: Smtp) {
    let db = support::sqlite();
    let mut c = support::config(&db.url);
    c.smtp = Some(smtp);
    let s = Service::start(c).await;
    let (st, body) = s.subscribe(ALICE, email_sub("oncall@example.org")).await;
    assert_eq!(st, axum::http::StatusCode::CREATED, "{body}");
    s.post_alerts(json!([
        alert(&[
            ("alertname", "DiskFull"),
            ("host", "db1"),
            ("severity", "critical")
        ]),
        alert(&[("alertname", "Noise"), ("host", "db1"), ("severity", "low")]),
    ]))
    .await;
    let got = server.wait_for_messages(1, Duration::from_secs(15)).await;
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!(m.to, ["oncall@example.org"]);
    assert_eq!(m.from, "alerts@example.org");
    assert!(
        m.data
            .contains("Subject: [FIRING:1] alertname=DiskFull host=db1"),
        "{}",
        m.data
    );
    assert!(m.data.contains("FIRING DiskFull critical"), "{}", m.data);
    assert!(!m.data.contains("Noise"), "low severity is not subscribed");
    assert!(
        m.data.contains("@hostwatch-alerts>"),
        "Message-ID from the delivery id"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(server.messages().len(), 1, "exactly one email");
    s.stop().await;
}

#[tokio::test]
async fn email_reaches_a_plain_relay_on_loopback() {
    let server = SmtpServer::start().await;
    one_email_arrives(&server, relay(server.port(), StartTls::None, None)).await;
}

#[tokio::test]
async fn email_goes_over_starttls_verified_against_the_configured_ca() {
    let certs = tempfile::tempdir().expect("tempdir");
    let ca = throwaway_ca(certs.path());
    let server = SmtpServer::start_with_starttls(
        certs.path().join("cert.pem"),
        certs.path().join("key.pem"),
    )
    .await;
    one_email_arrives(&server, relay(server.port(), StartTls::Required, Some(ca))).await;
}

/// A CA and a `localhost` certificate signed by it, as PEM files in `dir`;
/// returns the CA file's path.
fn throwaway_ca(dir: &std::path::Path) -> std::path::PathBuf {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = params.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(params, ca_key);
    let key = KeyPair::generate().expect("server key");
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .expect("server params")
        .signed_by(&key, &issuer)
        .expect("server certificate");
    std::fs::write(dir.join("cert.pem"), cert.pem()).expect("cert");
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).expect("key");
    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, ca.pem()).expect("ca");
    ca_path
}
