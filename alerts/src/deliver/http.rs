//! Deliveries over HTTP: the generic webhook (Alertmanager's JSON, signed),
//! Slack-compatible webhooks and ntfy. Status codes decide retries: 2xx is
//! done, 5xx, 408 and transport errors are retried, 429 and 503 wait for
//! `Retry-After`, other 4xx are the receiver refusing and are not retried.

use std::time::{Duration, SystemTime};

use hmac::{Hmac, Mac};
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use sha2::Sha256;

use super::target;
use super::Outcome;
use crate::notify::Payload;
use crate::subscription::Channel;

pub const USER_AGENT: &str = concat!("hostwatch-alerts/", env!("CARGO_PKG_VERSION"));
/// Header carrying the outbox id: the same on every retry of one
/// notification, so a receiver can drop a repeat after our crash.
pub const DELIVERY_HEADER: &str = "X-Hostwatch-Delivery";
pub const TIMESTAMP_HEADER: &str = "X-Hostwatch-Timestamp";
/// `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub const SIGNATURE_HEADER: &str = "X-Hostwatch-Signature";

#[derive(Clone)]
pub struct HttpSender {
    client: reqwest::Client,
    /// Internal targets allowed (operator's choice, or demo mode).
    allow_internal: bool,
}

impl HttpSender {
    pub fn new(timeout: Duration, allow_internal: bool) -> Result<Self, String> {
        let mut b = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(USER_AGENT)
            // A redirect could lead anywhere, the inside included.
            .redirect(reqwest::redirect::Policy::none());
        if !allow_internal {
            b = b.dns_resolver(std::sync::Arc::new(target::PublicOnly));
        }
        let client = b
            .build()
            .map_err(|e| format!("building the HTTP client: {e}"))?;
        Ok(Self {
            client,
            allow_internal,
        })
    }

    pub async fn send(
        &self,
        channel: &Channel,
        delivery_id: &str,
        payload_json: &str,
        payload: &Payload,
    ) -> Outcome {
        let Some(raw) = channel.url() else {
            return Outcome::Fail("not an HTTP channel".into());
        };
        let url = match url::Url::parse(raw) {
            Ok(u) => u,
            Err(e) => return Outcome::Fail(format!("url {raw:?}: {e}")),
        };
        if !self.allow_internal {
            if let Err(e) = target::check_url(&url) {
                return Outcome::Refused(e);
            }
        }
        let (body, headers) = match channel {
            Channel::Webhook { secret, .. } => (
                payload_json.to_owned(),
                webhook_headers(delivery_id, payload_json, secret.as_deref()),
            ),
            Channel::Slack { .. } => (slack_body(payload), json_headers(delivery_id)),
            Channel::Ntfy { token, .. } => (
                payload.text(),
                ntfy_headers(delivery_id, payload, token.as_deref()),
            ),
            Channel::Email { .. } | Channel::Live => {
                return Outcome::Fail("not an HTTP channel".into())
            }
        };
        let resp = match self
            .client
            .post(url)
            .headers(headers)
            .body(body)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => {
                let refused = e.is_connect() && format!("{e:?}").contains("internal addresses");
                if refused {
                    return Outcome::Refused(format!("{raw}: resolves only to internal addresses"));
                }
                return Outcome::Retry {
                    after: None,
                    error: error_chain(&e),
                };
            }
        };
        classify(resp.status(), resp.headers().get(RETRY_AFTER))
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

/// Retry decision from a response.
pub fn classify(status: reqwest::StatusCode, retry_after: Option<&HeaderValue>) -> Outcome {
    let code = status.as_u16();
    if status.is_success() {
        return Outcome::Delivered;
    }
    let after = retry_after
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    match code {
        429 | 503 => Outcome::Retry {
            after,
            error: format!("receiver answered {status}"),
        },
        408 | 500..=599 => Outcome::Retry {
            after: None,
            error: format!("receiver answered {status}"),
        },
        _ => Outcome::Fail(format!("receiver answered {status}; not retried")),
    }
}

/// `Retry-After`: seconds, or an HTTP date.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    if let Ok(secs) = v.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v.trim()).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

fn json_headers(delivery_id: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(delivery_id) {
        h.insert(DELIVERY_HEADER, v);
    }
    h
}

/// Signs `<timestamp>.<body>`: the timestamp inside the signature lets a
/// receiver refuse replays of an old, captured request.
pub fn signature(secret: &str, timestamp: u64, body: &str) -> String {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn webhook_headers(delivery_id: &str, body: &str, secret: Option<&str>) -> HeaderMap {
    let mut h = json_headers(delivery_id);
    let ts = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    h.insert(TIMESTAMP_HEADER, HeaderValue::from(ts));
    if let Some(secret) = secret {
        if let Ok(v) = HeaderValue::from_str(&signature(secret, ts, body)) {
            h.insert(SIGNATURE_HEADER, v);
        }
    }
    h
}

fn slack_body(p: &Payload) -> String {
    let emoji = if p.status == "firing" {
        ":rotating_light:"
    } else {
        ":white_check_mark:"
    };
    serde_json::json!({
        "text": format!("{emoji} *{}*\n```{}```", p.title(), p.text().trim_end()),
    })
    .to_string()
}

fn ntfy_headers(delivery_id: &str, p: &Payload, token: Option<&str>) -> HeaderMap {
    use crate::model::Severity;
    let mut h = HeaderMap::new();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(delivery_id) {
        h.insert(DELIVERY_HEADER, v);
    }
    // Header values must be visible ASCII; titles with other text are cut.
    let title: String = p
        .title()
        .chars()
        .filter(|c| c.is_ascii() && !c.is_ascii_control())
        .collect();
    if let Ok(v) = HeaderValue::from_str(&title) {
        h.insert("Title", v);
    }
    let priority = match p.worst_severity() {
        Some(Severity::Critical) => "5",
        Some(Severity::High) => "4",
        Some(Severity::Medium) => "3",
        _ => "2",
    };
    h.insert("Priority", HeaderValue::from_static(priority));
    h.insert(
        "Tags",
        HeaderValue::from_static(if p.status == "firing" {
            "rotating_light"
        } else {
            "white_check_mark"
        }),
    );
    if let Some(t) = token {
        if let Ok(v) = HeaderValue::from_str(&format!("Bearer {t}")) {
            h.insert(reqwest::header::AUTHORIZATION, v);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    #[test]
    fn status_codes_decide_retries() {
        let retry_in = |o: Outcome| match o {
            Outcome::Retry { after, .. } => Some(after),
            _ => None,
        };
        assert!(matches!(classify(StatusCode::OK, None), Outcome::Delivered));
        assert!(matches!(
            classify(StatusCode::NO_CONTENT, None),
            Outcome::Delivered
        ));
        assert_eq!(
            retry_in(classify(StatusCode::INTERNAL_SERVER_ERROR, None)),
            Some(None)
        );
        assert_eq!(
            retry_in(classify(StatusCode::REQUEST_TIMEOUT, None)),
            Some(None)
        );
        let ra = HeaderValue::from_static("7");
        assert_eq!(
            retry_in(classify(StatusCode::TOO_MANY_REQUESTS, Some(&ra))),
            Some(Some(Duration::from_secs(7)))
        );
        assert!(matches!(
            classify(StatusCode::BAD_REQUEST, None),
            Outcome::Fail(_)
        ));
        assert!(matches!(
            classify(StatusCode::NOT_FOUND, None),
            Outcome::Fail(_)
        ));
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(60));
        let d = parse_retry_after(&later).expect("a date");
        assert!(
            d <= Duration::from_secs(60) && d >= Duration::from_secs(58),
            "{d:?}"
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn signature_is_hmac_sha256_over_timestamp_and_body() {
        // Checked with: printf '1700000000.{}' | openssl dgst -sha256 -hmac s3cret
        assert_eq!(
            signature("s3cret", 1_700_000_000, "{}"),
            "sha256=97926816e98fbb41ccb1673225ff29a2f35369099990e1b1561651e7bd097ebf"
        );
    }
}
