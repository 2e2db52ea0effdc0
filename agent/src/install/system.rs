//! The running host's side of an install onto `/`: the service user and
//! systemctl. Nothing here is called for any other root.

use std::path::Path;
use std::process::Command;

use super::error::{Error, Result};
use super::layout;

/// systemd's own test for "booted with systemd" (`sd_booted()`).
pub fn systemd_running() -> bool {
    Path::new("/run/systemd/system").exists()
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// uid and gid of `name` from the user database (NSS included, via getent).
pub fn lookup_user(name: &str) -> Option<(u32, u32)> {
    let out = Command::new("getent")
        .args(["passwd", name])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let line = String::from_utf8_lossy(&out.stdout);
    let mut fields = line.trim_end().split(':').skip(2);
    let uid = fields.next()?.parse().ok()?;
    let gid = fields.next()?.parse().ok()?;
    Some((uid, gid))
}

/// Creates the unit's system user and its group, home the state directory, no
/// login shell. The .deb's postinst runs the same command.
pub fn create_user() -> Result<()> {
    run(
        "useradd",
        &[
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            layout::STATE_DIR,
            "--shell",
            "/usr/sbin/nologin",
            "--comment",
            "hostwatch agent",
            layout::USER,
        ],
    )
}

pub fn systemctl(args: &[&str]) -> Result<()> {
    run("systemctl", args)
}

fn run(program: &str, args: &[&str]) -> Result<()> {
    let command = format!("{program} {}", args.join(" "));
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| Error::Command {
            command: command.clone(),
            detail: e.to_string(),
        })?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    Err(Error::Command {
        command,
        detail: format!("{}: {}", out.status, stderr.trim()),
    })
}
