//! `hostwatch user add` / `hostwatch token add` make a users file that a real
//! edge then accepts: the password (read from stdin, as a script gives it) logs
//! in, the token printed once works as a bearer, and neither is stored in
//! plain text.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use tokio_util::sync::CancellationToken;

const PASSWORD: &str = "a password long enough";

fn hostwatch(args: &[&str], users_file: &Path, stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hostwatch"))
        .args(args)
        .arg("--users-file")
        .arg(users_file)
        .env_remove("HOSTWATCH_USERS_FILE")
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run hostwatch");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("hostwatch output")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test]
async fn users_and_tokens_made_with_the_cli_are_what_the_edge_accepts() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("users.toml");

    let short = hostwatch(&["user", "add", "alice"], &file, "short\n");
    assert!(!short.status.success());
    assert!(
        text(&short.stderr).contains("at least 10 characters"),
        "{}",
        text(&short.stderr)
    );
    assert!(!file.exists(), "nothing written for a refused password");

    let added = hostwatch(&["user", "add", "alice"], &file, &format!("{PASSWORD}\n"));
    assert!(added.status.success(), "{}", text(&added.stderr));
    let again = hostwatch(&["user", "add", "alice"], &file, &format!("{PASSWORD}\n"));
    assert!(!again.status.success() && text(&again.stderr).contains("exists"));

    let made = hostwatch(&["token", "add", "ci"], &file, "");
    assert!(made.status.success(), "{}", text(&made.stderr));
    let token = text(&made.stdout).trim().to_owned();
    assert!(
        token.starts_with("hwd_") && token.len() == 68,
        "stdout is the token alone: {token:?}"
    );

    let stored = std::fs::read_to_string(&file).expect("users file");
    assert!(stored.contains("$argon2id$"), "{stored}");
    assert!(
        !stored.contains(PASSWORD) && !stored.contains(&token),
        "no plaintext secret: {stored}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let listed = hostwatch(&["user", "list"], &file, "");
    assert_eq!(text(&listed.stdout), "alice\n");

    // A real edge on that file.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let mut config = edge::Config::default();
    config.auth.users_file = Some(file.clone());
    let stop = CancellationToken::new();
    let edge = tokio::spawn(edge::run(config, listener, stop.clone()));
    let http = reqwest::Client::new();
    let hosts = format!("{base}/api/v1/hosts");

    assert_eq!(http.get(&hosts).send().await.expect("GET").status(), 401);
    let login = |password: &'static str| {
        http.post(format!("{base}/api/v1/auth/login"))
            .json(&serde_json::json!({"username": "alice", "password": password}))
            .send()
    };
    assert_eq!(
        login("not the password").await.expect("login").status(),
        401
    );
    let ok = login(PASSWORD).await.expect("login");
    assert_eq!(ok.status(), 200);
    let cookie = ok.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .split(';')
        .next()
        .expect("pair")
        .to_owned();
    let with_cookie = http
        .get(&hosts)
        .header("cookie", &cookie)
        .send()
        .await
        .expect("GET");
    assert_eq!(with_cookie.status(), 200);
    let with_token = http
        .get(&hosts)
        .bearer_auth(&token)
        .send()
        .await
        .expect("GET");
    assert_eq!(with_token.status(), 200);

    // Removing the token takes effect without a restart (the file is looked
    // at again within a second).
    let removed = hostwatch(&["token", "remove", "ci"], &file, "");
    assert!(removed.status.success(), "{}", text(&removed.stderr));
    crate::support::eventually(
        std::time::Duration::from_secs(10),
        "token refused",
        || async {
            let r = http.get(&hosts).bearer_auth(&token).send().await.ok()?;
            (r.status() == 401).then_some(())
        },
    )
    .await;

    // So does removing a user: their session ends (bob stays, so the file
    // still has someone; an empty one refuses everything with 503).
    let bob = hostwatch(&["user", "add", "bob"], &file, &format!("{PASSWORD}\n"));
    assert!(bob.status.success(), "{}", text(&bob.stderr));
    let gone = hostwatch(&["user", "remove", "alice"], &file, "");
    assert!(gone.status.success(), "{}", text(&gone.stderr));
    crate::support::eventually(
        std::time::Duration::from_secs(10),
        "session refused",
        || async {
            let r = http
                .get(&hosts)
                .header("cookie", &cookie)
                .send()
                .await
                .ok()?;
            (r.status() == 401).then_some(())
        },
    )
    .await;
    let hosts_now = http.get(&hosts).send().await.expect("GET");
    assert_eq!(hosts_now.status(), 401, "bob is still there to log in");

    let last = hostwatch(&["user", "remove", "bob"], &file, "");
    assert!(last.status.success(), "{}", text(&last.stderr));
    crate::support::eventually(
        std::time::Duration::from_secs(10),
        "an empty users file refusing everything",
        || async {
            let r = http.get(&hosts).send().await.ok()?;
            (r.status() == 503).then_some(())
        },
    )
    .await;

    stop.cancel();
    edge.await.expect("edge task").expect("edge ran");
}
