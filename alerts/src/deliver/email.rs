//! Email over SMTP with STARTTLS (rustls), through the `[smtp]` relay.
//! Permanent SMTP refusals (5xx) are not retried; the rest are.

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::Outcome;
use crate::config::{Smtp, StartTls};
use crate::notify::Payload;

#[derive(Clone)]
pub struct EmailSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl EmailSender {
    pub fn new(cfg: &Smtp, timeout: std::time::Duration) -> Result<Self, String> {
        let mut tls = TlsParameters::builder(cfg.host.clone());
        if let Some(path) = &cfg.ca_file {
            let pem =
                std::fs::read(path).map_err(|e| format!("smtp.ca_file {}: {e}", path.display()))?;
            let cert = Certificate::from_pem(&pem)
                .map_err(|e| format!("smtp.ca_file {}: {e}", path.display()))?;
            tls = tls.add_root_certificate(cert);
        }
        let tls = tls
            .build_rustls()
            .map_err(|e| format!("smtp TLS settings: {e}"))?;
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.host)
            .port(cfg.port)
            .timeout(Some(timeout))
            .tls(match cfg.starttls {
                StartTls::Required => Tls::Required(tls),
                StartTls::Opportunistic => Tls::Opportunistic(tls),
                StartTls::None => Tls::None,
            });
        if let Some(user) = &cfg.username {
            let password = match &cfg.password_file {
                Some(p) => std::fs::read_to_string(p)
                    .map_err(|e| format!("smtp.password_file {}: {e}", p.display()))?
                    .trim_end()
                    .to_owned(),
                None => String::new(),
            };
            b = b.credentials(Credentials::new(user.clone(), password));
        }
        let from = cfg
            .from
            .parse()
            .map_err(|e| format!("smtp.from {:?}: {e}", cfg.from))?;
        Ok(Self {
            transport: b.build(),
            from,
        })
    }

    pub async fn send(&self, to: &str, delivery_id: &str, payload: &Payload) -> Outcome {
        let to: Mailbox = match to.parse() {
            Ok(m) => m,
            Err(e) => return Outcome::Fail(format!("address {to:?}: {e}")),
        };
        // The Message-ID is the outbox id: a resend after a crash carries the
        // same one, which mail clients and archives use to fold duplicates.
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(payload.title())
            .message_id(Some(format!("<{delivery_id}@hostwatch-alerts>")))
            .header(ContentType::TEXT_PLAIN)
            .body(payload.text());
        let message = match message {
            Ok(m) => m,
            Err(e) => return Outcome::Fail(format!("building the message: {e}")),
        };
        match self.transport.send(message).await {
            Ok(_) => Outcome::Delivered,
            Err(e) if e.is_permanent() => Outcome::Fail(format!("smtp refused: {e}")),
            Err(e) => Outcome::Retry {
                after: None,
                error: format!("smtp: {e}"),
            },
        }
    }
}
