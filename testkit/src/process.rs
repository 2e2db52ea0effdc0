//! Running server binaries for tests: finding them, running them as an
//! unprivileged user when the tests run as root, free ports, and the watchdog
//! that cleans up when the test process dies without running `Drop`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

/// The account servers run as when the tests run as root: `initdb` and
/// `postgres` refuse to run as root, and a throwaway server has no business
/// with root's rights anyway. Debian's `postgresql` package creates it; we
/// create it when it is missing.
pub(crate) const SERVER_USER: &str = "postgres";

/// True when this process runs as root.
pub(crate) fn is_root() -> bool {
    static ROOT: OnceLock<bool> = OnceLock::new();
    *ROOT.get_or_init(|| output("id", &["-u"]).is_some_and(|s| s.trim() == "0"))
}

/// Trimmed stdout of a command that succeeded.
fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Finds `name` on `PATH`, then in the newest `/usr/lib/postgresql/*/bin`
/// (Debian installs the server binaries there, off `PATH`).
pub(crate) fn find_binary(name: &str) -> Option<PathBuf> {
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    path_dirs
        .into_iter()
        .chain(postgres_bin_dirs())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// `/usr/lib/postgresql/<major>/bin`, newest major first.
fn postgres_bin_dirs() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") else {
        return Vec::new();
    };
    let mut versions: Vec<(u32, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse().ok()?;
            Some((major, e.path().join("bin")))
        })
        .collect();
    versions.sort_by_key(|v| std::cmp::Reverse(v.0));
    versions.into_iter().map(|(_, dir)| dir).collect()
}

/// A TCP port on 127.0.0.1 that was free a moment ago. Another process may
/// take it before the server binds it, so callers retry with a new port when
/// the server fails to start.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("testkit: no free loopback port: {e}"))
}

/// A fresh temporary directory the server will own. As root it lives under
/// `/tmp` (every user can reach it; `$TMPDIR` may be under `/root`) and is
/// handed to [`SERVER_USER`].
pub(crate) fn server_dir(prefix: &str) -> tempfile::TempDir {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix);
    let dir = if is_root() {
        builder.tempdir_in("/tmp")
    } else {
        builder.tempdir()
    }
    .unwrap_or_else(|e| panic!("testkit: creating a temporary directory: {e}"));
    if is_root() {
        let (uid, gid) = server_user();
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
            .unwrap_or_else(|e| panic!("testkit: chown {}: {e}", dir.path().display()));
    }
    dir
}

/// (uid, gid) of [`SERVER_USER`], creating the account when it is missing.
fn server_user() -> (u32, u32) {
    static USER: OnceLock<(u32, u32)> = OnceLock::new();
    *USER.get_or_init(|| {
        if output("id", &["-u", SERVER_USER]).is_none() {
            // A system account without a login or home, as Debian's package makes it.
            let created = output(
                "useradd",
                &[
                    "--system",
                    "--user-group",
                    "--no-create-home",
                    "--home-dir",
                    "/nonexistent",
                    "--shell",
                    "/usr/sbin/nologin",
                    SERVER_USER,
                ],
            )
            .is_some();
            if !created {
                let _ = output("adduser", &["--system", "--group", SERVER_USER]);
            }
        }
        let id = |flag| {
            output("id", &[flag, SERVER_USER])
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| {
                    panic!("testkit: running as root needs a `{SERVER_USER}` user and could not create one")
                })
        };
        (id("-u"), id("-g"))
    })
}

/// A command running `program` as [`SERVER_USER`] when we are root (with
/// `runuser`, or `su` where it is missing), else as ourselves. Callers add
/// the program's arguments.
pub(crate) fn server_command(program: &Path, cwd: &Path) -> Command {
    let mut cmd = if !is_root() {
        Command::new(program)
    } else if find_binary("runuser").is_some() {
        let mut c = Command::new("runuser");
        c.args(["-u", SERVER_USER, "--"]).arg(program);
        c
    } else {
        // su hands the words after the user name to the shell as $0, $1, ...
        let mut c = Command::new("su");
        c.args(["-s", "/bin/sh", "-c", "exec \"$0\" \"$@\"", SERVER_USER])
            .arg(program);
        c
    };
    // The server user may not be able to enter our working directory.
    cmd.current_dir(cwd);
    cmd
}

/// Runs a command to completion; panics with its output if it fails.
pub(crate) async fn run(what: &str, cmd: Command) -> String {
    let out = tokio::process::Command::from(cmd)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap_or_else(|e| panic!("testkit: {what}: cannot run: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        panic!("testkit: {what} failed ({}):\n{text}", out.status);
    }
    text
}

/// Quotes `s` for `sh`.
pub(crate) fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A `sh` that waits on a pipe from this process and runs `cleanup` when the
/// pipe closes: when this process dies without unwinding (SIGKILL, abort, a
/// test runner's timeout), the kernel closes the pipe and the server is
/// stopped anyway. Dropping the watchdog kills it without running `cleanup`
/// (the owner's `Drop` cleans up itself). Our pipe ends are close-on-exec, so
/// the servers we start do not hold the pipe open.
pub(crate) struct Watchdog {
    child: Child,
}

impl Watchdog {
    pub(crate) fn spawn(cleanup: &str) -> Self {
        // Ignore SIGINT/SIGHUP: Ctrl-C on the test run reaches the whole
        // process group, and the cleanup must still happen after it.
        let script = format!("trap '' INT HUP; read _ || true; {cleanup}");
        let child = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("testkit: starting the watchdog: {e}"));
        Self { child }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
