//! Dashboard and API authentication, outside demo mode.
//!
//! - [`users`]: the users file (argon2 password hashes, API token hashes) and
//!   the [`users::Store`] that follows it.
//! - [`password`]: argon2id hashing and verification.
//! - [`session`]: in-memory login sessions with a fixed lifetime.
//! - [`cookie`]: the `HttpOnly; SameSite=Strict` session cookie.
//! - [`csrf`]: what a cookie-authenticated request must also show.
//! - [`ratelimit`]: login backoff per client address and per user, token
//!   buckets per session and per API token.
//! - [`handlers`]: `/api/v1/auth/login`, `/logout`, `/session`.
//!
//! [`guard`] wraps the gateway's router: every `/api/` path except
//! `/api/v1/info`, `/api/v1/auth/*` and the API description
//! (`/api/openapi.json`, `/api/docs`) needs a session cookie or an
//! `Authorization: Bearer` API token; static files stay public (the login
//! form is one of them). In demo mode everything is open and the page says so.
//! With no users configured every protected request is refused with a message
//! saying how to create one: there is no default password.

pub mod cookie;
pub mod csrf;
pub mod handlers;
pub mod password;
pub mod ratelimit;
pub mod session;
pub mod users;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use common::metrics::{Counter, Gauge, Registry};
use serde::Deserialize;

use ratelimit::{Backoff, BackoffPolicy, BucketPolicy, Buckets};
use session::Sessions;

pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
pub const DEFAULT_LOGIN_FREE_FAILURES: u32 = 5;
pub const DEFAULT_LOGIN_MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);
pub const DEFAULT_API_REQUESTS_PER_SECOND: f64 = 20.0;
pub const DEFAULT_API_BURST: u32 = 200;
/// The first wait once the free failures are used up; it doubles per failure.
const LOGIN_BACKOFF_BASE: Duration = Duration::from_secs(1);
/// Failures older than this are forgotten.
const LOGIN_FORGET: Duration = Duration::from_secs(15 * 60);
/// Keys each limiter tracks at most.
const MAX_LIMITER_KEYS: usize = 50_000;
/// Password checks running at once: each costs ~19 MiB and tens of ms of CPU.
const MAX_CONCURRENT_VERIFIES: usize = 2;
/// How long a login waits for one of those before it is told to retry.
const VERIFY_QUEUE_WAIT: Duration = Duration::from_secs(5);

/// `[auth]` of the edge's and the standalone gateway's config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The users file (`hostwatch user add NAME --users-file PATH` creates it).
    /// Unset outside demo mode: every API request is refused, saying so.
    pub users_file: Option<PathBuf>,
    /// How long a login lasts.
    #[serde(with = "common::config::duration_str")]
    pub session_ttl: Duration,
    /// Mark the session cookie `Secure`. Unset: when the request came over
    /// TLS, as a reverse proxy says with `X-Forwarded-Proto: https`, or the
    /// page's `Origin` is `https://`.
    pub secure_cookie: Option<bool>,
    /// Failed logins per client address and per user before backoff starts.
    pub login_free_failures: u32,
    /// The longest a client or user is made to wait after failed logins.
    #[serde(with = "common::config::duration_str")]
    pub login_max_backoff: Duration,
    /// Sustained API requests per second per session or token.
    pub api_requests_per_second: f64,
    pub api_burst: u32,
    /// Take the client address from the last `X-Forwarded-For` entry and the
    /// host the page was loaded from from `X-Forwarded-Host` (set this behind a
    /// reverse proxy, or every client shares the proxy's login limit).
    pub trust_forwarded_for: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            users_file: None,
            session_ttl: DEFAULT_SESSION_TTL,
            secure_cookie: None,
            login_free_failures: DEFAULT_LOGIN_FREE_FAILURES,
            login_max_backoff: DEFAULT_LOGIN_MAX_BACKOFF,
            api_requests_per_second: DEFAULT_API_REQUESTS_PER_SECOND,
            api_burst: DEFAULT_API_BURST,
            trust_forwarded_for: false,
        }
    }
}

impl Config {
    pub fn validate(&self) -> Result<(), String> {
        if self.session_ttl < Duration::from_secs(60) {
            return Err("auth.session_ttl must be at least 1m".into());
        }
        if !(self.api_requests_per_second > 0.0 && self.api_requests_per_second.is_finite()) {
            return Err("auth.api_requests_per_second must be positive".into());
        }
        if self.api_burst == 0 {
            return Err("auth.api_burst must be positive".into());
        }
        Ok(())
    }
}

pub struct AuthMetrics {
    pub logins_ok: Counter,
    pub logins_bad: Counter,
    pub logins_limited: Counter,
    pub refused_no_credentials: Counter,
    pub refused_bad_token: Counter,
    pub refused_bad_session: Counter,
    pub refused_csrf: Counter,
    pub refused_unconfigured: Counter,
    pub api_limited: Counter,
    pub sessions: Gauge,
}

impl AuthMetrics {
    fn new(r: &Registry) -> Self {
        let login = |result| {
            r.counter(
                "hostwatch_gateway_logins_total",
                "Dashboard login attempts by result.",
                &[("result", result)],
            )
        };
        let refused = |reason| {
            r.counter(
                "hostwatch_gateway_auth_refused_total",
                "API requests refused before reaching the API, by reason.",
                &[("reason", reason)],
            )
        };
        Self {
            logins_ok: login("ok"),
            logins_bad: login("bad_credentials"),
            logins_limited: login("rate_limited"),
            refused_no_credentials: refused("no_credentials"),
            refused_bad_token: refused("bad_token"),
            refused_bad_session: refused("bad_session"),
            refused_csrf: refused("csrf"),
            refused_unconfigured: refused("unconfigured"),
            api_limited: refused("rate_limited"),
            sessions: r.gauge(
                "hostwatch_gateway_sessions",
                "Dashboard login sessions held in memory.",
                &[],
            ),
        }
    }
}

/// Who a request is from, put in its extensions by [`guard`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// Demo mode: nobody logged in, nobody needs to.
    Open,
    User(String),
    Token(String),
}

pub struct Auth {
    /// Demo mode: no login.
    pub open: bool,
    config: Config,
    users: users::Store,
    sessions: Sessions,
    login_limits: Mutex<Backoff>,
    api_limits: Mutex<Buckets>,
    verify_slots: tokio::sync::Semaphore,
    pub metrics: AuthMetrics,
}

/// A refusal: status, message for the client, optional `Retry-After`.
#[derive(Debug)]
pub struct Refusal {
    pub status: StatusCode,
    pub message: String,
    pub retry_after: Option<Duration>,
    pub clear_cookie: Option<bool>,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
            clear_cookie: None,
        }
    }

    fn limited(wait: Duration, what: &str) -> Self {
        Self {
            retry_after: Some(wait),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "too many {what}: retry in {} s",
                    ratelimit::retry_after_secs(wait)
                ),
            )
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            axum::Json(serde_json::json!({ "error": self.message })),
        )
            .into_response();
        let h = r.headers_mut();
        if let Some(wait) = self.retry_after {
            h.insert(
                header::RETRY_AFTER,
                HeaderValue::from(ratelimit::retry_after_secs(wait)),
            );
        }
        if self.status == StatusCode::UNAUTHORIZED {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"hostwatch\""),
            );
        }
        if let Some(secure) = self.clear_cookie {
            if let Ok(v) = HeaderValue::from_str(&cookie::clear(secure)) {
                h.append(header::SET_COOKIE, v);
            }
        }
        r
    }
}

/// Whether `path` needs credentials (outside demo mode).
pub fn protected(path: &str) -> bool {
    // The API's description is public: it holds no data, and tools fetch it
    // before they have a token.
    path.starts_with("/api/")
        && !matches!(path, "/api/v1/info" | "/api/openapi.json" | "/api/docs")
        && !path.starts_with("/api/v1/auth/")
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn header_str(h: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// `forwarded`: take the host from `X-Forwarded-Host` when a trusted proxy sets it.
fn facts<'a>(method: &'a str, h: &'a HeaderMap, forwarded: bool) -> csrf::Facts<'a> {
    let proxied = forwarded
        .then(|| header_str(h, "x-forwarded-host"))
        .flatten();
    csrf::Facts {
        method,
        host: proxied.or_else(|| header_str(h, header::HOST)),
        origin: header_str(h, header::ORIGIN),
        sec_fetch_site: header_str(h, "sec-fetch-site"),
        csrf_header: header_str(h, csrf::HEADER),
    }
}

fn session_cookie(h: &HeaderMap) -> Option<&str> {
    cookie::find(
        h.get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok()),
        cookie::SESSION_COOKIE,
    )
}

impl Auth {
    /// `open`: demo mode. Loads the users file now (and warns when there is
    /// none), then follows it.
    pub fn new(open: bool, config: Config, registry: &Registry) -> Arc<Self> {
        let users = users::Store::open(if open {
            None
        } else {
            config.users_file.clone()
        });
        let backoff = BackoffPolicy {
            free: config.login_free_failures,
            base: LOGIN_BACKOFF_BASE,
            max: config.login_max_backoff,
            forget: LOGIN_FORGET.max(config.login_max_backoff),
        };
        let buckets = BucketPolicy {
            rate: config.api_requests_per_second,
            burst: f64::from(config.api_burst),
        };
        let auth = Arc::new(Self {
            open,
            sessions: Sessions::new(config.session_ttl, session::MAX_SESSIONS),
            login_limits: Mutex::new(Backoff::new(backoff, MAX_LIMITER_KEYS)),
            api_limits: Mutex::new(Buckets::new(buckets, MAX_LIMITER_KEYS)),
            verify_slots: tokio::sync::Semaphore::new(MAX_CONCURRENT_VERIFIES),
            metrics: AuthMetrics::new(registry),
            users,
            config,
        });
        if open {
            tracing::warn!("demo mode: the dashboard and its API need no login");
        } else if let Err(e) = auth.users.loaded().as_ref() {
            tracing::error!(error = %e, "dashboard API refused until this is fixed");
        }
        auth
    }

    fn secure(&self, h: &HeaderMap) -> bool {
        self.config.secure_cookie.unwrap_or_else(|| {
            header_str(h, "x-forwarded-proto").is_some_and(|p| p.eq_ignore_ascii_case("https"))
                || header_str(h, header::ORIGIN).is_some_and(|o| o.starts_with("https://"))
        })
    }

    /// The client's address, for the login limits.
    fn client(&self, req_headers: &HeaderMap, peer: Option<SocketAddr>) -> String {
        if self.config.trust_forwarded_for {
            if let Some(last) = header_str(req_headers, "x-forwarded-for")
                .and_then(|v| v.rsplit(',').next())
                .map(str::trim)
                .filter(|v| !v.is_empty())
            {
                return format!("ip:{last}");
            }
        }
        peer.map_or_else(|| "ip:unknown".to_owned(), |p| format!("ip:{}", p.ip()))
    }

    fn login_wait(&self, keys: &[&str]) -> Option<Duration> {
        let now = Instant::now();
        let limits = self.login_limits.lock().unwrap_or_else(|p| p.into_inner());
        keys.iter().filter_map(|k| limits.check(k, now).err()).max()
    }

    fn login_failed(&self, keys: &[&str]) {
        let now = Instant::now();
        let mut limits = self.login_limits.lock().unwrap_or_else(|p| p.into_inner());
        for k in keys {
            limits.failure(k, now);
        }
    }

    fn take_api(&self, key: &str) -> Result<(), Refusal> {
        let mut b = self.api_limits.lock().unwrap_or_else(|p| p.into_inner());
        b.take(key, Instant::now()).map_err(|wait| {
            self.metrics.api_limited.inc();
            Refusal::limited(wait, "API requests")
        })
    }

    /// Who sent a request to a protected path, or why it is refused.
    pub async fn authenticate(
        &self,
        method: &str,
        h: &HeaderMap,
        peer: Option<SocketAddr>,
    ) -> Result<Principal, Refusal> {
        if self.open {
            return Ok(Principal::Open);
        }
        let users = self.users.current().await;
        let index = match users.as_ref() {
            Ok(i) => i,
            Err(e) => {
                self.metrics.refused_unconfigured.inc();
                return Err(Refusal::new(StatusCode::SERVICE_UNAVAILABLE, e.clone()));
            }
        };
        if let Some(auth) = header_str(h, header::AUTHORIZATION) {
            let client = self.client(h, peer);
            let token = auth
                .strip_prefix("Bearer ")
                .or_else(|| auth.strip_prefix("bearer "))
                .map(str::trim);
            // Wrong tokens count as failed logins of the client: guessing a
            // 256-bit token is hopeless, but a client that keeps trying is
            // slowed all the same.
            if let Some(wait) = self.login_wait(&[&client]) {
                self.metrics.api_limited.inc();
                return Err(Refusal::limited(wait, "failed attempts"));
            }
            return match token.and_then(|t| index.token_name(t)) {
                Some(name) => {
                    self.take_api(&format!("token:{name}"))?;
                    Ok(Principal::Token(name.to_owned()))
                }
                None => {
                    self.login_failed(&[&client]);
                    self.metrics.refused_bad_token.inc();
                    tracing::info!(client = %client, "API request with an unknown token refused");
                    Err(Refusal::new(
                        StatusCode::UNAUTHORIZED,
                        "invalid API token (Authorization: Bearer hwd_…)",
                    ))
                }
            };
        }
        let Some(id) = session_cookie(h) else {
            self.metrics.refused_no_credentials.inc();
            return Err(Refusal::new(
                StatusCode::UNAUTHORIZED,
                "login required: POST /api/v1/auth/login, or send Authorization: Bearer TOKEN",
            ));
        };
        let session = match self.sessions.get(id, Instant::now()) {
            Some(s) if index.has_user(&s.user) => s,
            other => {
                if let Some(s) = other {
                    // Removed from the users file since logging in.
                    self.sessions.remove_user(&s.user);
                }
                self.metrics.refused_bad_session.inc();
                self.metrics.sessions.set(self.sessions.len() as f64);
                return Err(Refusal {
                    clear_cookie: Some(self.secure(h)),
                    ..Refusal::new(
                        StatusCode::UNAUTHORIZED,
                        "session expired or unknown: log in again",
                    )
                });
            }
        };
        if let Err(why) = csrf::check_session(
            &facts(method, h, self.config.trust_forwarded_for),
            &session.csrf,
        ) {
            self.metrics.refused_csrf.inc();
            return Err(Refusal::new(StatusCode::FORBIDDEN, why));
        }
        self.take_api(&format!("session:{}", session.key))?;
        Ok(Principal::User(session.user))
    }
}

/// The middleware in front of the gateway's routes; see the module docs.
pub async fn guard(State(auth): State<Arc<Auth>>, mut req: Request, next: Next) -> Response {
    if auth.open || !protected(req.uri().path()) {
        return next.run(req).await;
    }
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    match auth
        .authenticate(req.method().as_str(), req.headers(), peer)
        .await
    {
        Ok(who) => {
            req.extensions_mut().insert(who);
            next.run(req).await
        }
        Err(refusal) => refusal.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_paths_are_protected() {
        for (path, want) in [
            ("/api/v1/hosts", true),
            ("/api/v1/live", true),
            ("/api/v1/series", true),
            ("/api/v1/forecasts", true),
            ("/api/v1/info", false),
            ("/api/openapi.json", false),
            ("/api/docs", false),
            ("/api/docs/x", true),
            ("/api/v1/auth/login", false),
            ("/api/v1/auth/session", false),
            ("/", false),
            ("/app.js", false),
            ("/js/login.js", false),
        ] {
            assert_eq!(protected(path), want, "{path}");
        }
    }

    #[test]
    fn the_host_behind_a_trusted_proxy() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        h.insert("x-forwarded-host", HeaderValue::from_static("dash.example"));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://dash.example"),
        );
        for (trusted, host, same) in [
            (false, "127.0.0.1:8080", false),
            (true, "dash.example", true),
        ] {
            let f = facts("GET", &h, trusted);
            assert_eq!(f.host, Some(host));
            assert_eq!(csrf::same_origin(&f).is_ok(), same, "trusted {trusted}");
        }
    }

    #[test]
    fn example_config_values_validate() {
        assert!(Config::default().validate().is_ok());
        let c: Config = common::config::parse(
            "users_file = \"/etc/hostwatch/users.toml\"\nsession_ttl = \"8h\"\nsecure_cookie = true\n",
            std::path::Path::new("auth.toml"),
        )
        .expect("parses");
        assert_eq!(c.session_ttl, Duration::from_secs(8 * 3600));
        assert!(c.validate().is_ok());
        let short = Config {
            session_ttl: Duration::from_secs(1),
            ..Default::default()
        };
        assert!(short.validate().is_err());
    }
}
