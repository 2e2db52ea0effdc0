//! `agent-footprint`: what watching one host costs the host, ours against
//! Prometheus `node_exporter`, in the same run on the same machine.
//!
//! Runs, side by side for the same window:
//! - `hostwatch-agent` at a 1 s interval with its full metric set and an
//!   on-disk spool (the installed configuration), streaming to a local
//!   `hostwatch hub` (embedded storage; the hub's own cost is not counted);
//! - `prometheus-node-exporter` with its default collectors, scraped once per
//!   second over HTTP by this process (the scrape's parsing cost is on the
//!   Prometheus side, so it is not counted either).
//!
//! and reports CPU seconds per minute (utime + stime from `/proc/PID/stat`,
//! measured over the window after a warm-up) and peak RSS (`VmHWM`) of each,
//! and the ratios. Absolute figures drift on a shared machine; the ratio is the
//! result.
//!
//! Binaries are looked up next to this one (`target/release/`), so build them
//! first: see bench/README.md.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";

struct Args {
    seconds: u64,
    warmup: u64,
    interval_ms: u64,
    /// Off: unacked batches in memory only (the installed agent spools).
    spool: bool,
}

fn parse_args() -> Args {
    let mut a = Args {
        seconds: 120,
        warmup: 10,
        interval_ms: 1000,
        spool: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--no-spool" {
            a.spool = false;
            continue;
        }
        let value = it.next().and_then(|v| v.parse::<u64>().ok());
        match (flag.as_str(), value) {
            ("--seconds", Some(v)) => a.seconds = v.max(5),
            ("--warmup", Some(v)) => a.warmup = v,
            ("--interval-ms", Some(v)) => a.interval_ms = v.max(100),
            _ => {
                eprintln!(
                    "usage: agent-footprint [--seconds N (120)] [--warmup N (10)] [--interval-ms N (1000)] [--no-spool]"
                );
                std::process::exit(2);
            }
        }
    }
    a
}

/// Kills the child when dropped, so an early exit leaves nothing running.
struct Proc {
    name: &'static str,
    child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    fn spawn(name: &'static str, cmd: &mut Command) -> Self {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| fail(&format!("cannot start {name}: {e}")));
        Self { name, child }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("agent-footprint: {msg}");
    std::process::exit(1);
}

fn free_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| fail(&format!("bind: {e}")));
    l.local_addr()
        .unwrap_or_else(|e| fail(&format!("local_addr: {e}")))
}

fn bin_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| fail("cannot locate the target directory"))
}

/// Clock ticks of CPU (user + system) the process has used.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after
    // the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after ')'.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// `VmHWM` (peak resident set) or `VmRSS` in KiB.
fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// `/proc/PID/stat` counts in USER_HZ, which Linux fixes at 100 for user
/// space on every architecture we ship for (the kernel's own HZ may differ).
const USER_HZ: f64 = 100.0;

/// One HTTP/1.0 GET; returns the body length (what a scrape transfers).
fn scrape(addr: SocketAddr) -> std::io::Result<usize> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut body = Vec::with_capacity(128 << 10);
    s.read_to_end(&mut body)?;
    Ok(body.len())
}

fn wait_listening(addr: SocketAddr, what: &str, p: &mut Proc) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if !p.alive() {
            fail(&format!("{what} exited during start-up"));
        }
        if Instant::now() > deadline {
            fail(&format!("{what} not listening on {addr} after 20 s"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct Usage {
    cpu_secs_per_min: f64,
    peak_rss_mib: f64,
}

fn main() {
    let args = parse_args();
    if !Path::new(NODE_EXPORTER).exists() {
        fail(&format!(
            "{NODE_EXPORTER} is missing: apt-get install prometheus-node-exporter (see bench/README.md)"
        ));
    }
    let bins = bin_dir();
    let hostwatch = bins.join("hostwatch");
    let agent_bin = bins.join("hostwatch-agent");
    for b in [&hostwatch, &agent_bin] {
        if !b.exists() {
            fail(&format!(
                "{} is missing: cargo build --release -p hostwatch -p agent",
                b.display()
            ));
        }
    }
    let dir = tempfile::tempdir().unwrap_or_else(|e| fail(&format!("tempdir: {e}")));

    let grpc = free_port();
    let hub_http = free_port();
    let mut hub = Proc::spawn(
        "hub",
        Command::new(&hostwatch)
            .args(["hub", "--grpc", &grpc.to_string()])
            .args(["--http", &hub_http.to_string()])
            .arg("--database-path")
            .arg(dir.path().join("hub.db"))
            .env("RUST_LOG", "warn")
            .env_remove("DATABASE_URL")
            .env_remove("REDIS_URL"),
    );
    wait_listening(grpc, "hub", &mut hub);

    let ne_addr = free_port();
    let mut node_exporter = Proc::spawn(
        "node_exporter",
        Command::new(NODE_EXPORTER)
            .arg(format!("--web.listen-address={ne_addr}"))
            .stderr(Stdio::null()),
    );
    wait_listening(ne_addr, "node_exporter", &mut node_exporter);

    let mut agent_cmd = Command::new(&agent_bin);
    agent_cmd
        .args(["--hub", &format!("http://{grpc}")])
        .args(["--interval", &format!("{}ms", args.interval_ms)])
        .env("RUST_LOG", "warn");
    if args.spool {
        agent_cmd.arg("--spool-dir").arg(dir.path().join("spool"));
    }
    // Other agent settings come from the environment (HOSTWATCH_AGENT_*),
    // e.g. HOSTWATCH_AGENT_COMPRESSION=none.
    let mut agent = Proc::spawn("hostwatch-agent", &mut agent_cmd);

    let period = Duration::from_millis(args.interval_ms);
    let total = args.warmup + args.seconds;
    eprintln!(
        "agent-footprint: warm-up {} s, then measuring {} s (interval {} ms)",
        args.warmup, args.seconds, args.interval_ms
    );
    let start = Instant::now();
    let mut begin: Option<(Instant, u64, u64)> = None;
    let mut scrapes = 0u64;
    let mut scrape_errors = 0u64;
    let mut scrape_bytes = 0usize;
    let mut next = start;
    let mut last_progress = start;
    while start.elapsed() < Duration::from_secs(total) {
        for p in [&mut agent, &mut node_exporter, &mut hub] {
            if !p.alive() {
                fail(&format!("{} exited during the run", p.name));
            }
        }
        if begin.is_none() && start.elapsed() >= Duration::from_secs(args.warmup) {
            let a = cpu_ticks(agent.pid()).unwrap_or_else(|| fail("reading agent cpu"));
            let n = cpu_ticks(node_exporter.pid()).unwrap_or_else(|| fail("reading ne cpu"));
            begin = Some((Instant::now(), a, n));
        }
        match scrape(ne_addr) {
            Ok(n) => {
                scrapes += 1;
                scrape_bytes = n;
            }
            Err(_) => scrape_errors += 1,
        }
        if last_progress.elapsed() >= Duration::from_secs(15) {
            last_progress = Instant::now();
            eprintln!(
                "agent-footprint: {:>4.0} s of {total} s, {scrapes} scrapes",
                start.elapsed().as_secs_f64()
            );
        }
        next += period;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let (t0, a0, n0) = begin.unwrap_or_else(|| fail("window too short"));
    let window = t0.elapsed().as_secs_f64();
    let a1 = cpu_ticks(agent.pid()).unwrap_or_else(|| fail("reading agent cpu"));
    let n1 = cpu_ticks(node_exporter.pid()).unwrap_or_else(|| fail("reading ne cpu"));
    let usage = |ticks: u64, pid: u32| Usage {
        cpu_secs_per_min: ticks as f64 / USER_HZ / window * 60.0,
        peak_rss_mib: status_kib(pid, "VmHWM:").unwrap_or(0) as f64 / 1024.0,
    };
    let ours = usage(a1 - a0, agent.pid());
    let theirs = usage(n1 - n0, node_exporter.pid());
    let ours_rss_now = status_kib(agent.pid(), "VmRSS:").unwrap_or(0) as f64 / 1024.0;
    let ne_version = Command::new(NODE_EXPORTER)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).to_string()
                + &String::from_utf8_lossy(&o.stderr);
            text.lines().next().map(str::to_owned)
        })
        .unwrap_or_default();

    println!(
        "agent-footprint: {window:.0} s window, interval {} ms",
        args.interval_ms
    );
    println!("{ne_version}");
    println!(
        "node_exporter scrapes: {scrapes} ok, {scrape_errors} failed, last body {scrape_bytes} bytes"
    );
    println!();
    println!("| process | CPU s/min | peak RSS MiB |");
    println!("|---|---|---|");
    println!(
        "| hostwatch-agent | {:.3} | {:.1} (now {:.1}) |",
        ours.cpu_secs_per_min, ours.peak_rss_mib, ours_rss_now
    );
    println!(
        "| node_exporter | {:.3} | {:.1} |",
        theirs.cpu_secs_per_min, theirs.peak_rss_mib
    );
    let ratio = if theirs.cpu_secs_per_min > 0.0 {
        ours.cpu_secs_per_min / theirs.cpu_secs_per_min
    } else {
        f64::NAN
    };
    println!();
    println!("CPU ratio agent / node_exporter: {ratio:.3} (target <= 0.333)");
    println!(
        "agent peak RSS {:.1} MiB (target <= 12 MiB)",
        ours.peak_rss_mib
    );
    drop(agent);
    drop(node_exporter);
    drop(hub);
}
