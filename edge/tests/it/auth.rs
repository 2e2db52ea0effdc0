//! Dashboard login on a real edge: outside demo mode the API and the live
//! socket need a session cookie or an API token; bad credentials get 401 and
//! a counter, repeated ones 429; without users every request is refused.

use std::path::Path;

use futures::StreamExt;
use gateway::auth::{password, users::UsersFile};
use reqwest::{header, StatusCode};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::support::{TestEdge, WAIT};

const PASSWORD: &str = "correct horse battery";

/// A users file with alice (PASSWORD) and a token "ci"; → the token.
fn users_file(path: &Path) -> String {
    let mut f = UsersFile::default();
    f.set_user("alice", password::hash(PASSWORD).expect("hash"), false)
        .expect("alice");
    let token = f.add_token("ci", 0).expect("token");
    f.write(path).expect("write users file");
    token
}

struct Setup {
    edge: TestEdge,
    token: String,
    base: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn start(auth: impl FnOnce(&mut gateway::auth::Config)) -> Setup {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("users.toml");
    let token = users_file(&path);
    let mut config = edge::Config::default();
    config.auth.users_file = Some(path);
    auth(&mut config.auth);
    let edge = TestEdge::start(config).await;
    Setup {
        base: format!("http://{}", edge.addr),
        edge,
        token,
        http: reqwest::Client::builder()
            .timeout(WAIT)
            .build()
            .expect("client"),
        _dir: dir,
    }
}

impl Setup {
    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> (StatusCode, Value) {
        let mut r = self.http.get(format!("{}{path}", self.base));
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        let res = r.send().await.expect("GET");
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// → (status, Set-Cookie, Retry-After, body)
    async fn login(
        &self,
        user: &str,
        pw: &str,
    ) -> (StatusCode, Option<String>, Option<String>, Value) {
        let res = self
            .http
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&json!({"username": user, "password": pw}))
            .send()
            .await
            .expect("login");
        let h = |name| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (cookie, retry) = (h(header::SET_COOKIE), h(header::RETRY_AFTER));
        (
            res.status(),
            cookie,
            retry,
            res.json().await.unwrap_or(Value::Null),
        )
    }

    /// The live socket's first message, or the HTTP status it was refused with.
    async fn live(&self, headers: &[(&str, &str)]) -> Result<Value, u16> {
        let mut req = format!("ws://{}/api/v1/live", self.edge.addr)
            .into_client_request()
            .expect("request");
        for (k, v) in headers {
            req.headers_mut().insert(
                header::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                v.parse().expect("value"),
            );
        }
        match tokio_tungstenite::connect_async(req).await {
            Ok((mut ws, _)) => loop {
                let m = tokio::time::timeout(WAIT, ws.next())
                    .await
                    .expect("a message in time")
                    .expect("open")
                    .expect("message");
                if let Message::Text(t) = m {
                    return Ok(serde_json::from_str(&t).expect("JSON"));
                }
            },
            Err(tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
            Err(e) => panic!("live socket: {e}"),
        }
    }
}

/// `hw_session=…` of a Set-Cookie value, for the Cookie header.
fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().expect("pair").to_owned()
}

#[tokio::test]
async fn outside_demo_a_session_or_token_is_needed_and_bad_ones_are_counted() {
    let s = start(|_| {}).await;

    // Anonymous: the page and /api/v1/info are public, the data is not.
    assert_eq!(s.get("/api/v1/info", &[]).await.0, StatusCode::OK);
    let page = s
        .http
        .get(format!("{}/", s.base))
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), StatusCode::OK);
    let (status, body) = s.get("/api/v1/hosts", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("login required")),
        "{body}"
    );
    assert_eq!(
        s.live(&[]).await,
        Err(401),
        "the live socket needs a login too"
    );
    let (_, session) = s.get("/api/v1/auth/session", &[]).await;
    assert_eq!(
        session,
        json!({"open": false, "user": null, "csrf_token": null, "problem": null})
    );

    // A wrong password: 401, one message for a wrong name too, and counted.
    let (status, cookie, _, body) = s.login("alice", "wrong password").await;
    assert_eq!((status, cookie), (StatusCode::UNAUTHORIZED, None), "{body}");
    assert_eq!(body["error"], "wrong user name or password");
    let (status, _, _, body2) = s.login("mallory", PASSWORD).await;
    assert_eq!((status, &body2), (StatusCode::UNAUTHORIZED, &body));
    assert_eq!(
        s.edge
            .metric("hostwatch_gateway_logins_total{result=\"bad_credentials\"} ")
            .await,
        2.0
    );

    // The right one: an HttpOnly, SameSite=Strict cookie that opens the API.
    let (status, set_cookie, _, body) = s.login("alice", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let set_cookie = set_cookie.expect("Set-Cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(set_cookie.contains(attr), "{attr} in {set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "plain HTTP: {set_cookie}");
    assert_eq!(body["user"], "alice");
    let csrf = body["csrf_token"].as_str().expect("csrf token").to_owned();
    let cookie = cookie_pair(&set_cookie);
    let with = [("cookie", cookie.as_str())];
    let (status, hosts) = s.get("/api/v1/hosts", &with).await;
    assert_eq!((status, hosts), (StatusCode::OK, json!([])));
    let (_, session) = s.get("/api/v1/auth/session", &with).await;
    assert_eq!(
        (&session["user"], &session["csrf_token"]),
        (&json!("alice"), &json!(csrf))
    );
    assert_eq!(
        s.live(&with).await.expect("live with the cookie")["type"],
        "snapshot"
    );
    // Another site's page cannot use the cookie, not even for the socket.
    assert_eq!(
        s.live(&[with[0], ("origin", "https://evil.example")]).await,
        Err(403)
    );
    assert_eq!(
        s.get(
            "/api/v1/hosts",
            &[with[0], ("sec-fetch-site", "cross-site")]
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        s.edge
            .metric("hostwatch_gateway_logins_total{result=\"ok\"} ")
            .await,
        1.0
    );

    // An API token works as a bearer; a wrong one is refused and counted.
    let bearer = format!("Bearer {}", s.token);
    assert_eq!(
        s.get("/api/v1/hosts", &[("authorization", &bearer)])
            .await
            .0,
        StatusCode::OK
    );
    assert!(s.live(&[("authorization", &bearer)]).await.is_ok());
    let (status, body) = s
        .get("/api/v1/events", &[("authorization", "Bearer hwd_0000")])
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(
        s.edge
            .metric("hostwatch_gateway_auth_refused_total{reason=\"bad_token\"} ")
            .await,
        1.0
    );

    // Logout needs the CSRF token, then the cookie is worthless.
    let logout = |csrf: Option<&str>| {
        let mut r = s
            .http
            .post(format!("{}/api/v1/auth/logout", s.base))
            .header("cookie", &cookie);
        if let Some(t) = csrf {
            r = r.header("x-csrf-token", t);
        }
        r.send()
    };
    assert_eq!(
        logout(None).await.expect("logout").status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        logout(Some("wrong")).await.expect("logout").status(),
        StatusCode::FORBIDDEN
    );
    let out = logout(Some(&csrf)).await.expect("logout");
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert!(out.headers()[header::SET_COOKIE]
        .to_str()
        .expect("ascii")
        .contains("Max-Age=0"));
    let (status, body) = s.get("/api/v1/hosts", &with).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body["error"]
        .as_str()
        .is_some_and(|e| e.contains("log in again")));
    s.edge.stop().await;
}

#[tokio::test]
async fn repeated_failed_logins_get_429_with_retry_after_even_for_the_right_password() {
    let s = start(|a| a.login_free_failures = 2).await;
    for attempt in 1..=3 {
        let (status, _, _, body) = s.login("alice", "guess").await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}: {body}"
        );
    }
    // The third failure started a one-second backoff for this client and user.
    let (status, cookie, retry, body) = s.login("alice", PASSWORD).await;
    assert_eq!(
        (status, cookie),
        (StatusCode::TOO_MANY_REQUESTS, None),
        "{body}"
    );
    assert_eq!(retry.as_deref(), Some("1"));
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("too many failed logins")),
        "{body}"
    );
    assert_eq!(
        s.edge
            .metric("hostwatch_gateway_logins_total{result=\"rate_limited\"} ")
            .await,
        1.0
    );
    assert_eq!(
        s.edge
            .metric("hostwatch_gateway_logins_total{result=\"bad_credentials\"} ")
            .await,
        3.0
    );
    s.edge.stop().await;
}

#[tokio::test]
async fn api_requests_beyond_the_burst_get_429() {
    let s = start(|a| {
        a.api_burst = 3;
        a.api_requests_per_second = 0.01;
    })
    .await;
    let bearer = format!("Bearer {}", s.token);
    for i in 0..3 {
        assert_eq!(
            s.get("/api/v1/hosts", &[("authorization", &bearer)])
                .await
                .0,
            StatusCode::OK,
            "request {i}"
        );
    }
    let res = s
        .http
        .get(format!("{}/api/v1/hosts", s.base))
        .header("authorization", &bearer)
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = res.headers()[header::RETRY_AFTER]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(
        (99..=101).contains(&retry),
        "one request per 100 s: {retry}"
    );
    // The public parts stay reachable.
    assert_eq!(
        s.get("/api/v1/info", &[("authorization", &bearer)]).await.0,
        StatusCode::OK
    );
    assert_eq!(
        s.edge
            .metric("hostwatch_gateway_auth_refused_total{reason=\"rate_limited\"} ")
            .await,
        1.0
    );
    s.edge.stop().await;
}

#[tokio::test]
async fn without_users_every_api_request_is_refused_saying_how_to_add_one() {
    let edge = TestEdge::start(edge::Config::default()).await;
    let base = format!("http://{}", edge.addr);
    let res = reqwest::get(format!("{base}/api/v1/hosts"))
        .await
        .expect("GET");
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = res.json().await.expect("JSON");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("hostwatch user add")),
        "{body}"
    );
    let session: Value = reqwest::get(format!("{base}/api/v1/auth/session"))
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    assert!(
        session["problem"]
            .as_str()
            .is_some_and(|e| e.contains("hostwatch user add")),
        "{session}"
    );
    let login = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": "admin"}))
        .send()
        .await
        .expect("login");
    assert_eq!(
        login.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "no default password"
    );
    match tokio_tungstenite::connect_async(format!("ws://{}/api/v1/live", edge.addr)).await {
        Err(tungstenite::Error::Http(r)) => assert_eq!(r.status(), 503),
        other => panic!("live socket without users: {:?}", other.map(|_| ())),
    }
    edge.stop().await;

    // The demo is open, and says so.
    let demo = TestEdge::start(edge::Config {
        demo: true,
        ..Default::default()
    })
    .await;
    let base = format!("http://{}", demo.addr);
    let res = reqwest::get(format!("{base}/api/v1/hosts"))
        .await
        .expect("GET");
    assert_eq!(res.status(), StatusCode::OK);
    let session: Value = reqwest::get(format!("{base}/api/v1/auth/session"))
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    assert_eq!(session["open"], true);
    demo.stop().await;
}
