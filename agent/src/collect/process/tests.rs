//! Processes read from fake `/proc` trees (exact numbers) and from the real
//! one (a stopped child).

use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use super::*;

/// Writes a fake `/proc/PID/{stat,status,cmdline}`.
fn fake(root: &Path, pid: u32, comm: &str, state: char, cpu_ticks: u64, rss_pages: u64, uid: u32) {
    let dir = root.join(pid.to_string());
    std::fs::create_dir_all(&dir).expect("mkdir");
    let stat = format!(
        "{pid} ({comm}) {state} 1 1 1 0 -1 0 0 0 0 0 {cpu_ticks} 0 0 0 20 0 1 0 {start} 1000 {rss_pages} 0"
    , start = 100 + pid);
    std::fs::write(dir.join("stat"), stat).expect("stat");
    std::fs::write(
        dir.join("status"),
        format!("Name:\t{comm}\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n"),
    )
    .expect("status");
    std::fs::write(
        dir.join("cmdline"),
        format!("/usr/bin/{comm}-and-more\0--flag\0"),
    )
    .expect("cmdline");
}

fn count(samples: &[Sample], status: &str) -> f64 {
    samples
        .iter()
        .find(|s| s.labels["status"] == status)
        .map_or(f64::NAN, |s| s.value)
}

#[test]
fn top_list_from_a_fake_proc_tree() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (proc_root, passwd) = (dir.path().join("proc"), dir.path().join("passwd"));
    std::fs::write(
        &passwd,
        "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/:/bin/sh\n",
    )
    .expect("passwd");
    // 25 idle processes with growing memory, one busy, one zombie, one kernel thread.
    for pid in 100..125 {
        fake(&proc_root, pid, "idle", 'S', 0, u64::from(pid), 1000);
    }
    fake(&proc_root, 7, "a-very-long-nam", 'R', 1000, 5, 0);
    fake(&proc_root, 8, "defunct", 'Z', 0, 0, 0);
    fake(&proc_root, 9, "kworker/0:1", 'I', 0, 0, 0);
    std::fs::create_dir_all(proc_root.join("self")).expect("not a pid");

    let mut processes = Processes::with_paths(&proc_root, &passwd);
    processes.ticks_per_second = 100.0;
    processes.page_size = 4096;
    let start = Instant::now();
    let counts = processes.refresh(start).expect("readable");
    assert_eq!(count(&counts, "sleeping"), 25.0);
    assert_eq!(count(&counts, "running"), 1.0);
    assert_eq!(count(&counts, "zombie"), 1.0);
    assert_eq!(count(&counts, "idle"), 1.0);
    assert_eq!(count(&counts, "stopped"), 0.0);
    assert_eq!(counts.len(), STATUSES.len());
    assert!(processes.top().is_empty(), "CPU shares need two readings");

    // The busy one used 150 ticks (1.5 s of CPU) in 2 s; one pid exited.
    fake(&proc_root, 7, "a-very-long-nam", 'R', 1150, 5, 0);
    std::fs::remove_dir_all(proc_root.join("100")).expect("exit");
    processes
        .refresh(start + Duration::from_secs(2))
        .expect("readable");
    let top = processes.top();
    assert_eq!(top.len(), 11, "{top:?}");
    assert_eq!(
        top[0],
        ProcessInfo {
            pid: 7,
            name: "a-very-long-nam-and-more".into(),
            user: "root".into(),
            cpu_utilization: 0.75,
            memory_bytes: 5 * 4096,
        }
    );
    let by_memory: Vec<u32> = top[1..].iter().map(|p| p.pid).collect();
    assert_eq!(by_memory, (115..125).rev().collect::<Vec<_>>());
    assert!(top[1..]
        .iter()
        .all(|p| p.user == "alice" && p.name == "idle" && p.cpu_utilization == 0.0));
}

#[test]
fn a_reused_pid_is_a_new_process() {
    let dir = tempfile::tempdir().expect("temp dir");
    let proc_root = dir.path().join("proc");
    fake(&proc_root, 7, "old", 'R', 1000, 5, 0);
    let mut processes = Processes::with_paths(&proc_root, dir.path().join("passwd"));
    let start = Instant::now();
    processes.refresh(start).expect("readable");
    // Same pid, later start time, fewer ticks: no negative or bogus share.
    let stat = std::fs::read_to_string(proc_root.join("7/stat")).expect("stat");
    std::fs::write(
        proc_root.join("7/stat"),
        stat.replace(" 107 ", " 5000 ").replace(" 1000 ", " 10 "),
    )
    .expect("stat");
    processes
        .refresh(start + Duration::from_secs(1))
        .expect("readable");
    assert_eq!(processes.top()[0].cpu_utilization, 0.0);
    assert_eq!(processes.top()[0].user, "0");
}

/// Stops its child on drop, whatever the test did.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_stopped_real_process_is_counted_as_stopped() {
    let child = Reaped(
        Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep"),
    );
    let pid = child.0.id();
    let mut processes = Processes::new();
    let before = count(
        &processes.refresh(Instant::now()).expect("readable"),
        "stopped",
    );
    let status = Command::new("kill")
        .args(["-STOP", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    // The signal is delivered asynchronously; wait until the kernel says so.
    let stat = format!("/proc/{pid}/stat");
    for _ in 0..1000 {
        if std::fs::read_to_string(&stat).is_ok_and(|s| s.contains(") T ")) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let after = count(
        &processes.refresh(Instant::now()).expect("readable"),
        "stopped",
    );
    // Other processes may stop or resume meanwhile, but ours is in the count.
    assert!(after >= 1.0, "before {before}, after {after}");
    assert_eq!(
        parse_stat(&std::fs::read_to_string(&stat).expect("stat"))
            .expect("valid")
            .state,
        'T'
    );
}

#[test]
fn watched_names_are_counted_zeros_included() {
    let dir = tempfile::tempdir().expect("temp dir");
    let proc_root = dir.path().join("proc");
    fake(&proc_root, 10, "nginx", 'S', 0, 1, 0);
    fake(&proc_root, 11, "nginx", 'S', 0, 1, 0);
    fake(&proc_root, 12, "postgres", 'S', 0, 1, 0);
    // comm keeps 15 bytes: a longer watched name matches its truncation.
    fake(&proc_root, 13, "prometheus-aler", 'S', 0, 1, 0);
    let mut processes = Processes::with_paths(&proc_root, dir.path().join("passwd"));
    processes.watch(&[
        "nginx".into(),
        "redis-server".into(),
        "prometheus-alertmanager".into(),
    ]);
    let samples = processes.refresh(Instant::now()).expect("readable");
    let watched: Vec<(String, f64)> = samples
        .iter()
        .filter(|s| s.name == WATCHED)
        .map(|s| (s.labels["name"].clone(), s.value))
        .collect();
    assert_eq!(
        watched,
        [
            ("nginx".to_owned(), 2.0),
            ("redis-server".to_owned(), 0.0),
            ("prometheus-alertmanager".to_owned(), 1.0)
        ]
    );
}
