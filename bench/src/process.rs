//! Services under test run as their own processes (the release `hostwatch`
//! binaries next to the bench's own), so their CPU and memory are their own
//! and read from `/proc`, never from the bench's process.

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A release binary built beside the running bench (`hostwatch`,
/// `hostwatch-agent`), with the command that builds it in the error.
pub fn sibling(name: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe()
        .map_err(|e| format!("locating the bench binary: {e}"))?
        .with_file_name(name);
    if exe.exists() {
        Ok(exe)
    } else {
        Err(format!(
            "{} not found (build it: cargo build --release -p hostwatch -p agent -p bench)",
            exe.display()
        ))
    }
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> String {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "127.0.0.1:17999".into())
}

/// `GET path` over HTTP/1.0: status line, headers and body, as text.
pub async fn http_get(addr: &str, path: &str) -> std::io::Result<String> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .await?;
    let mut out = String::new();
    s.read_to_string(&mut out).await?;
    Ok(out)
}

/// Waits until `path` answers 200 (20 s at most).
pub async fn wait_ok(addr: &str, path: &str, what: &str) -> Result<(), String> {
    for _ in 0..400 {
        if http_get(addr, path)
            .await
            .is_ok_and(|r| r.starts_with("HTTP/1.0 200") || r.starts_with("HTTP/1.1 200"))
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("{what} did not answer 200 on {addr}{path}"))
}

/// The value of the `/metrics` line starting with `prefix`; 0 when absent.
pub fn metric(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// utime + stime of a process, in seconds (Linux /proc).
pub fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name, which is in parentheses and may hold spaces.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat; 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// A `/proc/<pid>/status` size field (`VmHWM`, `VmRSS`), in KiB.
pub fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix(field)
                    .and_then(|v| v.strip_prefix(':'))
                    .map(|v| v.trim().trim_end_matches(" kB").trim().parse().unwrap_or(0))
            })
        })
        .unwrap_or(0)
}

/// Peak resident set size of a process, in KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmHWM")
}

/// Stops a child with SIGTERM (its clean shutdown), then reaps it.
pub fn terminate(child: &mut std::process::Child) {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}
