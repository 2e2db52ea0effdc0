//! `amtool`, Alertmanager's own command-line client, as a real client of an
//! Alertmanager-compatible API (v2) under test.
//!
//! Debian's 0.25 checks the server's version first (`GET /api/v2/status`; a
//! failure there is only a warning), then e.g. `silence add` is
//! `POST /api/v2/silences`, `silence query` is `GET /api/v2/silences` and
//! `silence expire ID` is `DELETE /api/v2/silence/ID`.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// Runs `amtool --alertmanager.url=URL ARGS…` and returns what it did; the
/// caller checks the status and output.
///
/// Blocks the calling thread until amtool exits: in a `#[tokio::test]` (one
/// thread) whose Alertmanager runs on the same runtime, use [`amtool_async`],
/// or the server never gets to answer.
///
/// # Panics
/// When `amtool` is missing or cannot run.
pub fn amtool(alertmanager_url: &str, args: &[&str]) -> Output {
    command(alertmanager_url, args)
        .output()
        .unwrap_or_else(|e| panic!("testkit: running amtool: {e}"))
}

/// [`amtool`] without blocking the runtime.
pub async fn amtool_async(alertmanager_url: &str, args: &[&str]) -> Output {
    tokio::process::Command::from(command(alertmanager_url, args))
        .output()
        .await
        .unwrap_or_else(|e| panic!("testkit: running amtool: {e}"))
}

fn command(alertmanager_url: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(binary());
    // amtool reads defaults (output format, author, ...) from
    // $HOME/.config/prometheus/amtool.yml: keep a developer's from changing
    // what the tests see. /etc/prometheus/amtool.yml still applies; Debian's
    // package does not ship one.
    cmd.env("HOME", "/nonexistent")
        .arg(format!("--alertmanager.url={alertmanager_url}"));
    // Well below amtool's 30s default, so a server that never answers fails
    // the test soon. amtool refuses a repeated flag: the caller's wins.
    if !args.iter().any(|a| a.starts_with("--timeout")) {
        cmd.arg("--timeout=10s");
    }
    cmd.args(args).stdin(Stdio::null());
    cmd
}

fn binary() -> PathBuf {
    crate::process::find_binary("amtool").unwrap_or_else(|| {
        panic!("testkit: amtool not found on PATH (scripts/setup installs prometheus-alertmanager, which ships it)")
    })
}
