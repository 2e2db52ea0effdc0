//! `--dump` through the real binary: the same seed, scenario and start give
//! the same bytes; a signal stops a long backfill cleanly.

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const START: &str = "2025-03-01T12:00:00Z";
const START_MS: i64 = 1_740_830_400_000;
/// Generous: a debug build on a busy machine.
const DEADLINE: Duration = Duration::from_secs(180);

fn agent(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_hostwatch-agent"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start hostwatch-agent")
}

/// Waits for `child`, killing it (and failing) past the deadline.
fn finish(mut child: Child) -> ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("hostwatch-agent did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The dump and ground truth of a one-hour chaos backfill of three hosts.
fn dump(dir: &Path, name: &str, seed: &str) -> (Vec<u8>, Vec<u8>) {
    let out = dir.join(format!("{name}.jsonl"));
    let truth = dir.join(format!("{name}.truth.jsonl"));
    let child = agent(&[
        "--no-local",
        "--simulate",
        "3",
        "--scenario",
        "chaos",
        "--seed",
        seed,
        "--backfill",
        "1h",
        "--interval",
        "10s",
        "--start",
        START,
        "--dump",
        out.to_str().expect("utf-8 path"),
        "--ground-truth",
        truth.to_str().expect("utf-8 path"),
    ]);
    let status = finish(child);
    assert!(status.success(), "{status}");
    (
        std::fs::read(&out).expect("dump"),
        std::fs::read(&truth).expect("truth"),
    )
}

fn lines(bytes: &[u8]) -> Vec<Value> {
    std::str::from_utf8(bytes)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[test]
fn same_seed_same_bytes_and_another_seed_differs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (first, first_truth) = dump(dir.path(), "a", "7");
    let (second, second_truth) = dump(dir.path(), "b", "7");
    let (other, _) = dump(dir.path(), "c", "8");
    assert!(first == second, "two runs of seed 7 differ");
    assert_eq!(first_truth, second_truth);
    assert!(first != other, "seeds 7 and 8 gave the same data");

    // 360 steps of 10 s ending at the start, one line per host and step,
    // except while a host is down.
    let batches = lines(&first);
    let truth = lines(&first_truth);
    let crashed: Vec<(String, i64, i64)> = truth
        .iter()
        .filter(|r| r["kind"] == "host_crash")
        .map(|r| {
            (
                r["host"].as_str().expect("host").to_owned(),
                r["start"].as_i64().expect("start"),
                r["end"].as_i64().expect("end"),
            )
        })
        .collect();
    let mut hosts = std::collections::BTreeSet::new();
    for b in &batches {
        let t = b["timestamp_ms"].as_i64().expect("timestamp");
        let host = b["host"].as_str().expect("host");
        hosts.insert(host.to_owned());
        assert_eq!(t % 10_000, 0);
        assert!(t > START_MS - 3_600_000 && t <= START_MS, "{t}");
        assert!(b["samples"].as_array().expect("samples").len() > 100);
        assert!(
            !crashed
                .iter()
                .any(|(h, s, e)| h == host && (*s..*e).contains(&t)),
            "{host} reported at {t} while down"
        );
    }
    assert_eq!(hosts.len(), 3);
    let down_steps: i64 = crashed
        .iter()
        .map(|(_, s, e)| {
            (START_MS - 3_590_000..=START_MS)
                .step_by(10_000)
                .filter(|t| (*s..*e).contains(t))
                .count() as i64
        })
        .sum();
    assert_eq!(batches.len() as i64, 3 * 360 - down_steps);
    assert!(
        !truth.is_empty(),
        "an hour of chaos on three hosts injects something"
    );
}

#[test]
fn a_signal_stops_a_long_backfill_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("long.jsonl");
    let child = agent(&[
        "--no-local",
        "--simulate",
        "2",
        "--backfill",
        "30d",
        "--interval",
        "10s",
        "--dump",
        out.to_str().expect("utf-8 path"),
    ]);
    // Wait until it is well under way, then ask it to stop.
    let started = Instant::now();
    while std::fs::metadata(&out).map_or(0, |m| m.len()) < 1 << 20 {
        assert!(started.elapsed() < DEADLINE, "no output");
        std::thread::sleep(Duration::from_millis(20));
    }
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let status = finish(child);
    assert!(status.success(), "{status}");
    let written = lines(&std::fs::read(&out).expect("dump"));
    // 30 days at 10 s for two hosts would be 518,400 lines.
    assert!(
        !written.is_empty() && written.len() < 518_400,
        "{}",
        written.len()
    );
}
