//! `/api/v1/auth/*`: what the login form talks to.
//!
//! - `GET /api/v1/auth/session` → 200 `{"open", "user", "csrf_token",
//!   "problem"}` always (so the page can ask without logging an error):
//!   `open` in demo mode, `user` and `csrf_token` with a live session,
//!   `problem` when the server has no usable users file.
//! - `POST /api/v1/auth/login` `{"username", "password"}` → 200 `{"user",
//!   "csrf_token", "expires_in_s"}` and the session cookie; 401 for a wrong
//!   name or password (one message for both), 429 with `Retry-After` while
//!   backing off, 403 from another origin, 503 without users.
//! - `POST /api/v1/auth/logout` (with `X-CSRF-Token`) → 204, cookie cleared.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::{cookie, csrf, facts, password, session_cookie, Auth, Refusal};

/// Largest login body read.
const MAX_LOGIN_BODY: usize = 8 * 1024;

pub fn router(auth: Arc<Auth>) -> Router {
    Router::new()
        .route("/api/v1/auth/session", get(session))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/logout", post(logout))
        .with_state(auth)
}

#[derive(Deserialize)]
struct LoginBody {
    username: String,
    password: String,
}

/// A hash of no one's password, verified for unknown users so that a wrong
/// name costs as long as a wrong password and reveals nothing.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| password::hash("no user has this password").unwrap_or_default())
}

async fn session(State(auth): State<Arc<Auth>>, req: Request) -> Json<serde_json::Value> {
    if auth.open {
        return Json(
            serde_json::json!({ "open": true, "user": null, "csrf_token": null, "problem": null }),
        );
    }
    let users = auth.users.current().await;
    let problem = users.as_ref().as_ref().err().cloned();
    let live = session_cookie(req.headers())
        .and_then(|id| auth.sessions.get(id, Instant::now()))
        .filter(|s| users.as_ref().as_ref().is_ok_and(|i| i.has_user(&s.user)));
    Json(serde_json::json!({
        "open": false,
        "user": live.as_ref().map(|s| &s.user),
        "csrf_token": live.as_ref().map(|s| &s.csrf),
        "problem": problem,
    }))
}

async fn login(State(auth): State<Arc<Auth>>, req: Request) -> Response {
    match try_login(&auth, req).await {
        Ok(r) => r,
        Err(refusal) => refusal.into_response(),
    }
}

async fn try_login(auth: &Auth, req: Request) -> Result<Response, Refusal> {
    if auth.open {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "demo mode: no login needed",
        ));
    }
    let users = auth.users.current().await;
    let index = users.as_ref().as_ref().map_err(|e| {
        auth.metrics.refused_unconfigured.inc();
        Refusal::new(StatusCode::SERVICE_UNAVAILABLE, e.clone())
    })?;
    let (parts, body) = req.into_parts();
    let h = &parts.headers;
    if let Err(why) = csrf::same_origin(&facts(
        parts.method.as_str(),
        h,
        auth.config.trust_forwarded_for,
    )) {
        auth.metrics.refused_csrf.inc();
        return Err(Refusal::new(StatusCode::FORBIDDEN, why));
    }
    let json = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        // Also what keeps a plain HTML form on another site from posting here.
        return Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the login as application/json",
        ));
    }
    let bytes: Bytes = axum::body::to_bytes(body, MAX_LOGIN_BODY)
        .await
        .map_err(|_| Refusal::new(StatusCode::PAYLOAD_TOO_LARGE, "login body too large"))?;
    let LoginBody { username, password } = serde_json::from_slice(&bytes).map_err(|e| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            format!("login body must be {{\"username\", \"password\"}}: {e}"),
        )
    })?;

    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let client = auth.client(h, peer);
    let user_key = format!("user:{username}");
    if let Some(wait) = auth.login_wait(&[&client, &user_key]) {
        auth.metrics.logins_limited.inc();
        tracing::info!(client = %client, "login refused while backing off");
        return Err(Refusal::limited(wait, "failed logins"));
    }

    let phc = index
        .password_of(&username)
        .map_or_else(|| dummy_hash().to_owned(), str::to_owned);
    let known = index.has_user(&username);
    let ok = {
        // A slot per hash: argon2 is memory- and CPU-hard on purpose, so a
        // flood of logins queues here instead of exhausting the machine.
        let busy = || Refusal {
            retry_after: Some(std::time::Duration::from_secs(1)),
            ..Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many logins at once: retry",
            )
        };
        let _slot = tokio::time::timeout(super::VERIFY_QUEUE_WAIT, auth.verify_slots.acquire())
            .await
            .map_err(|_| busy())?
            .map_err(|_| busy())?;
        tokio::task::spawn_blocking(move || password::verify(&password, &phc))
            .await
            .unwrap_or(false)
    };
    if !(ok && known) {
        auth.login_failed(&[&client, &user_key]);
        auth.metrics.logins_bad.inc();
        tracing::info!(client = %client, known_user = known, "failed login");
        return Err(Refusal::new(
            StatusCode::UNAUTHORIZED,
            "wrong user name or password",
        ));
    }
    auth.login_limits
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .success(&user_key);
    let (id, s) = auth.sessions.create(&username, Instant::now());
    auth.metrics.logins_ok.inc();
    auth.metrics.sessions.set(auth.sessions.len() as f64);
    tracing::info!(user = %username, client = %client, "logged in");
    let mut r = Json(serde_json::json!({
        "user": s.user,
        "csrf_token": s.csrf,
        "expires_in_s": auth.sessions.ttl().as_secs(),
    }))
    .into_response();
    let set = cookie::set(&id, auth.sessions.ttl(), auth.secure(h));
    let value = HeaderValue::from_str(&set)
        .map_err(|_| Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, "cookie"))?;
    r.headers_mut().insert(header::SET_COOKIE, value);
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

async fn logout(State(auth): State<Arc<Auth>>, req: Request) -> Response {
    let h = req.headers();
    let secure = auth.secure(h);
    if let Some(id) = session_cookie(h) {
        if let Some(s) = auth.sessions.get(id, Instant::now()) {
            if let Err(why) = csrf::check_session(
                &facts(req.method().as_str(), h, auth.config.trust_forwarded_for),
                &s.csrf,
            ) {
                auth.metrics.refused_csrf.inc();
                return Refusal::new(StatusCode::FORBIDDEN, why).into_response();
            }
            auth.sessions.remove(id);
            auth.api_limits
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .forget(&format!("session:{}", s.key));
            auth.metrics.sessions.set(auth.sessions.len() as f64);
            tracing::info!(user = %s.user, "logged out");
        }
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie::clear(secure)) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}
