//! The SMTP server keeps what a real client sends, over plain SMTP and after
//! STARTTLS with a throwaway CA.

use std::sync::Arc;
use std::time::{Duration, Instant};

use testkit::{Message, Smtp};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio_rustls::rustls;

/// Bound on every reply the tests wait for.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// The client side of an SMTP dialogue, line by line.
struct Dialogue<S> {
    io: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Dialogue<S> {
    fn new(stream: S) -> Self {
        Self {
            io: BufReader::new(stream),
        }
    }

    /// A whole reply (the lines of a multi-line one joined by `\n`).
    async fn reply(&mut self) -> String {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(REPLY_TIMEOUT, self.io.read_line(&mut line))
                .await
                .expect("reply within the timeout")
                .expect("read reply");
            assert!(n > 0, "server closed the connection; so far: {lines:?}");
            let line = line.trim_end().to_owned();
            // "250-more follows" versus "250 last line".
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                return lines.join("\n");
            }
        }
    }

    /// Sends `line` (CRLF added) and returns the reply, checking its code.
    async fn expect(&mut self, line: &str, code: &str) -> String {
        self.io
            .get_mut()
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .expect("write");
        let reply = self.reply().await;
        assert!(
            reply.starts_with(code),
            "{line:?} answered {reply:?}, wanted {code}"
        );
        reply
    }

    /// MAIL, RCPT and DATA for one message.
    async fn send(&mut self, from: &str, to: &[&str], data: &str) {
        self.expect(&format!("MAIL FROM:<{from}>"), "250").await;
        for rcpt in to {
            self.expect(&format!("RCPT TO:<{rcpt}>"), "250").await;
        }
        self.expect("DATA", "354").await;
        self.expect(&format!("{data}."), "250").await;
    }
}

async fn connect(smtp: &Smtp) -> Dialogue<tokio::net::TcpStream> {
    let stream = tokio::net::TcpStream::connect(smtp.addr())
        .await
        .expect("connect");
    let mut d = Dialogue::new(stream);
    let greeting = d.reply().await;
    assert!(greeting.starts_with("220"), "greeting {greeting:?}");
    d
}

#[tokio::test]
async fn smtp_keeps_messages_from_a_raw_dialogue_in_order() {
    let started = Instant::now();
    let smtp = Smtp::start().await;
    eprintln!("smtp started in {:?}", started.elapsed());
    assert_eq!(smtp.addr(), format!("127.0.0.1:{}", smtp.port()));
    assert!(smtp.messages().is_empty());

    let mut d = connect(&smtp).await;
    d.expect("HELO test.example", "250").await;
    // The line starting with a dot is sent dot-stuffed and stored as written.
    let data = "Subject: first\r\n\r\nline one\r\n..dot line\r\n";
    d.send(
        "alice@example.org",
        &["bob@example.org", "carol@example.org"],
        data,
    )
    .await;
    d.send("", &["bob@example.org"], "Subject: second\r\n\r\nbody\r\n")
        .await;
    d.expect("QUIT", "221").await;

    let got = smtp.wait_for_messages(2, Duration::from_secs(10)).await;
    assert_eq!(
        got,
        vec![
            Message {
                from: "alice@example.org".into(),
                to: vec!["bob@example.org".into(), "carol@example.org".into()],
                data: "Subject: first\r\n\r\nline one\r\n.dot line\r\n".into(),
            },
            Message {
                from: String::new(),
                to: vec!["bob@example.org".into()],
                data: "Subject: second\r\n\r\nbody\r\n".into(),
            },
        ]
    );
    assert_eq!(smtp.messages(), got);

    let port = smtp.port();
    drop(smtp);
    assert!(super::wait_closed(port).await, "server gone after drop");
}

/// A CA and a certificate for `localhost` signed by it, as PEM files in
/// `dir`; returns the CA certificate for the client's trust store.
fn throwaway_ca(dir: &std::path::Path) -> rustls::pki_types::CertificateDer<'static> {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().expect("server key");
    let cert = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("server params")
        .signed_by(&key, &issuer)
        .expect("server certificate");
    std::fs::write(dir.join("cert.pem"), cert.pem()).expect("write cert");
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).expect("write key");
    ca.der().clone()
}

#[tokio::test]
async fn smtp_with_starttls_refuses_mail_before_tls_and_keeps_it_after() {
    let certs = tempfile::tempdir().expect("tempdir");
    let ca = throwaway_ca(certs.path());
    let started = Instant::now();
    let smtp =
        Smtp::start_with_starttls(certs.path().join("cert.pem"), certs.path().join("key.pem"))
            .await;
    eprintln!("smtp with STARTTLS started in {:?}", started.elapsed());

    let mut d = connect(&smtp).await;
    let ehlo = d.expect("EHLO test.example", "250").await;
    assert!(ehlo.contains("STARTTLS"), "EHLO offers STARTTLS: {ehlo:?}");
    d.expect("MAIL FROM:<alice@example.org>", "530").await;
    d.expect("STARTTLS", "220").await;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).expect("CA into the trust store");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("server name");
    let tcp = d.io.into_inner();
    let tls = tokio::time::timeout(
        REPLY_TIMEOUT,
        tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await
    .expect("handshake within the timeout")
    .expect("TLS handshake against the throwaway CA");

    let mut d = Dialogue::new(tls);
    d.expect("EHLO test.example", "250").await;
    d.send(
        "alerts@example.org",
        &["oncall@example.org"],
        "Subject: over TLS\r\n\r\nsecret\r\n",
    )
    .await;
    d.expect("QUIT", "221").await;

    let got = smtp.wait_for_messages(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].to, vec!["oncall@example.org".to_owned()]);
    assert!(got[0].data.contains("secret"), "{:?}", got[0]);
}
