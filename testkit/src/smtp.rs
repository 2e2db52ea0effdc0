//! A throwaway SMTP server: aiosmtpd from hostwatch's venv, storing every
//! message it receives as a file, for tests of code that sends mail.
//!
//! The server is a small Python script (`smtp.py`, written into the server's
//! temporary directory) that binds a port the kernel picks and reports it in a
//! file, so there is no race for a free port. It runs as ourselves even as
//! root, like `redis-server`: it needs no rights, refuses nothing, and the
//! venv usually lives under `/root/.cache`, which the unprivileged server user
//! could not read.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

use crate::process::{self, Watchdog};

/// The server script; see its docstring.
const SCRIPT: &str = include_str!("smtp.py");
/// How long Python gets to import aiosmtpd, listen and greet.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How often [`Smtp::wait_for_messages`] looks at the message directory.
const POLL: Duration = Duration::from_millis(20);

/// One message the server accepted: the SMTP envelope and the raw data
/// (headers and body as sent, CRLF line ends, dot-stuffing undone).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Message {
    /// `MAIL FROM` address (empty for a null sender).
    pub from: String,
    /// `RCPT TO` addresses, in order.
    pub to: Vec<String>,
    /// Everything between `DATA` and the final `.`, decoded as UTF-8
    /// (invalid bytes replaced).
    pub data: String,
}

/// An SMTP server on 127.0.0.1 that exists for the life of this value.
pub struct Smtp {
    port: u16,
    child: Child,
    watchdog: Option<Watchdog>,
    /// Last: removed after the server is gone.
    dir: tempfile::TempDir,
}

impl Smtp {
    /// A plain SMTP server (no TLS, no authentication).
    ///
    /// # Panics
    /// When the venv or aiosmtpd is missing, or the server does not start.
    pub async fn start() -> Self {
        Self::spawn(None).await
    }

    /// A server that offers STARTTLS with this certificate chain and key (PEM
    /// files; the test makes them, e.g. with rcgen and a throwaway CA) and
    /// refuses `MAIL` before the client has started TLS.
    pub async fn start_with_starttls(
        cert_pem: impl AsRef<Path>,
        key_pem: impl AsRef<Path>,
    ) -> Self {
        Self::spawn(Some((cert_pem.as_ref(), key_pem.as_ref()))).await
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The messages received so far, in arrival order.
    pub fn messages(&self) -> Vec<Message> {
        let dir = self.messages_dir();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("testkit: reading {}: {e}", dir.display()))
            .flatten()
            .map(|e| e.path())
            // Files being written are dot-files until they are complete.
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|path| {
                let text = std::fs::read_to_string(path)
                    .unwrap_or_else(|e| panic!("testkit: reading {}: {e}", path.display()));
                serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("testkit: parsing {}: {e}", path.display()))
            })
            .collect()
    }

    /// Waits until at least `n` messages have arrived; returns all of them.
    ///
    /// # Panics
    /// When fewer than `n` arrive within `timeout`, listing those that did and
    /// the server's log.
    pub async fn wait_for_messages(&self, n: usize, timeout: Duration) -> Vec<Message> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages();
            if messages.len() >= n {
                return messages;
            }
            if Instant::now() >= deadline {
                let list: String = messages
                    .iter()
                    .enumerate()
                    .map(|(i, m)| format!("  {}. {}\n", i + 1, summary(m)))
                    .collect();
                panic!(
                    "testkit: the SMTP server on {} received {} of {n} messages within {timeout:?}:\n{list}server log:\n{}",
                    self.addr(),
                    messages.len(),
                    self.log()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn spawn(tls: Option<(&Path, &Path)>) -> Self {
        let python = venv_python();
        let dir = tempfile::Builder::new()
            .prefix("hostwatch-smtp-")
            .tempdir()
            .unwrap_or_else(|e| panic!("testkit: creating a temporary directory: {e}"));
        let script = dir.path().join("smtp.py");
        let messages = dir.path().join("messages");
        std::fs::write(&script, SCRIPT)
            .and_then(|()| std::fs::create_dir(&messages))
            .unwrap_or_else(|e| panic!("testkit: preparing {}: {e}", dir.path().display()));
        let log = std::fs::File::create(dir.path().join("server.log"))
            .unwrap_or_else(|e| panic!("testkit: creating the SMTP server's log: {e}"));
        let mut cmd = Command::new(&python);
        cmd.arg(&script).arg(&messages).arg(dir.path().join("port"));
        if let Some((cert, key)) = tls {
            // The server runs in its own directory: relative paths would miss.
            for pem in [cert, key] {
                let pem = std::path::absolute(pem)
                    .unwrap_or_else(|e| panic!("testkit: locating {}: {e}", pem.display()));
                cmd.arg(pem);
            }
        }
        let child = cmd
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("testkit: cannot run {}: {e}", python.display()));
        let watchdog = Watchdog::spawn(&watchdog_cleanup(child.id(), dir.path()));
        let mut smtp = Self {
            port: 0,
            child,
            watchdog: Some(watchdog),
            dir,
        };
        if let Err(why) = smtp.wait_ready().await {
            panic!(
                "testkit: the SMTP server did not start: {why} (scripts/setup installs aiosmtpd into {}):\n{}",
                venv().display(),
                smtp.log()
            );
        }
        smtp
    }

    /// Waits for the port file, then for the `220` greeting on that port.
    async fn wait_ready(&mut self) -> Result<(), String> {
        let started = Instant::now();
        let port_file = self.dir.path().join("port");
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("it exited ({status})"));
            }
            if self.port == 0 {
                if let Ok(text) = std::fs::read_to_string(&port_file) {
                    self.port = text.trim().parse().unwrap_or(0);
                }
            }
            if self.port != 0 && greets(self.port).await {
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(format!("no 220 greeting within {READY_TIMEOUT:?}"));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    fn messages_dir(&self) -> PathBuf {
        self.dir.path().join("messages")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        // Our own cleanup follows; the watchdog is only for when we cannot run.
        self.watchdog.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// hostwatch's venv, found as scripts/setup finds it: `HOSTWATCH_VENV`, else
/// `${XDG_CACHE_HOME:-$HOME/.cache}/hostwatch-venv` (empty counts as unset,
/// as with the shell's `:-`).
fn venv() -> PathBuf {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(venv) = var("HOSTWATCH_VENV") {
        return venv.into();
    }
    let cache = var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|home| Path::new(&home).join(".cache")))
        .unwrap_or_else(|| {
            panic!("testkit: neither HOSTWATCH_VENV, XDG_CACHE_HOME nor HOME is set")
        });
    cache.join("hostwatch-venv")
}

fn venv_python() -> PathBuf {
    let python = venv().join("bin").join("python");
    if !python.is_file() {
        panic!(
            "testkit: {} not found (scripts/setup creates the venv and installs aiosmtpd)",
            python.display()
        );
    }
    python
}

/// True when the server on `port` sends its `220` greeting.
async fn greets(port: u16) -> bool {
    let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let mut buf = [0u8; 128];
    match tokio::time::timeout(Duration::from_secs(1), s.read(&mut buf)).await {
        Ok(Ok(n)) => buf[..n].starts_with(b"220"),
        _ => false,
    }
}

/// One line about a message for a panic: envelope and subject.
fn summary(m: &Message) -> String {
    let subject = m
        .data
        .lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.strip_prefix("Subject:"))
        .map_or("(no subject)", str::trim);
    format!(
        "from <{}> to {:?}: {subject} ({} bytes)",
        m.from,
        m.to,
        m.data.len()
    )
}

fn watchdog_cleanup(pid: u32, dir: &Path) -> String {
    let dir = process::sh_quote(&dir.display().to_string());
    format!("kill -9 {pid} 2>/dev/null; rm -rf {dir}")
}
