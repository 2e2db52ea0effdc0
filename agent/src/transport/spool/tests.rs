//! The spool as data: torn tails, budgets, and a randomized model of the queue
//! it backs (push/ack/reject/reload against a plain `VecDeque`).

use std::collections::VecDeque;
use std::sync::Arc;

use common::model::SeriesKey;

use super::*;
use crate::transport::queue::{Queue, Rows};

fn rows(seed: u64) -> Rows {
    let a = Arc::new(SeriesKey::new("system.cpu.utilization"));
    let b =
        Arc::new(SeriesKey::new("system.network.io").label("device", format!("eth{}", seed % 3)));
    (0..seed % 4)
        .map(|i| {
            (
                if i % 2 == 0 { a.clone() } else { b.clone() },
                (seed * 1000 + i) as i64,
                seed as f64 / 7.0,
            )
        })
        .collect()
}

fn seqs(q: &Queue) -> Vec<u64> {
    q.after(0, usize::MAX).iter().map(|(s, _)| *s).collect()
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    v.sort();
    v
}

#[test]
fn reload_continues_numbering_and_keeps_only_unacked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let q = Queue::with_spool(dir.path(), 1 << 20).expect("open");
    for i in 1..=5 {
        assert_eq!(q.push(rows(i)), i);
    }
    q.ack(2);
    drop(q);
    let q = Queue::with_spool(dir.path(), 1 << 20).expect("reopen");
    assert_eq!(
        q.last_seq(),
        5,
        "Hello carries the highest seq of the last run"
    );
    let got = q.after(0, 10);
    assert_eq!(
        got.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        vec![3, 4, 5]
    );
    assert_eq!(*got[0].1, rows(3), "rows come back as written");
    assert_eq!(q.push(rows(6)), 6);
    assert_eq!(q.stats().pending, 4);
}

#[test]
fn torn_tail_is_truncated_not_trusted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let q = Queue::with_spool(dir.path(), 1 << 20).expect("open");
    for i in 1..=3 {
        q.push(rows(i + 4));
    }
    drop(q);
    let seg = segments(dir.path()).pop().expect("a segment");
    let full = fs::read(&seg).expect("read");
    let last = record::encode(3, &rows(7)).len();
    // A crash mid-write of the third record: every possible cut keeps the
    // first two and never panics.
    for cut in 1..last {
        fs::write(&seg, &full[..full.len() - cut]).expect("write");
        let q = Queue::with_spool(dir.path(), 1 << 20).expect("reopen");
        assert_eq!(seqs(&q), vec![1, 2], "cut {cut}");
        assert_eq!(q.last_seq(), 2);
        drop(q);
        let segs = segments(dir.path());
        assert_eq!(
            fs::metadata(&segs[0]).expect("meta").len() as usize,
            full.len() - last
        );
        // The next run's writes go to a fresh segment; drop it for the next cut.
        for s in &segs[1..] {
            fs::remove_file(s).expect("rm");
        }
    }
    // A flipped bit inside the second record ends the segment there.
    let mut bad = full.clone();
    let second = MAGIC.len() + record::encode(1, &rows(5)).len() + record::FRAME_HEADER + 3;
    bad[second] ^= 1;
    fs::write(&seg, &bad).expect("write");
    let q = Queue::with_spool(dir.path(), 1 << 20).expect("reopen");
    assert_eq!(seqs(&q), vec![1]);
}

#[test]
fn damaged_files_never_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("00000000000000000001.seg"), b"HWSP").expect("write");
    fs::write(
        dir.path().join("00000000000000000002.seg"),
        b"something else entirely",
    )
    .expect("write");
    let mut junk = MAGIC.to_vec();
    junk.extend((0..4000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    fs::write(dir.path().join("00000000000000000003.seg"), junk).expect("write");
    fs::write(dir.path().join(ACK_FILE), "not a number").expect("write");
    let q = Queue::with_spool(dir.path(), 1 << 20).expect("opens anyway");
    assert!(
        !dir.path().join("00000000000000000001.seg").exists(),
        "torn header removed"
    );
    assert_eq!(q.push(rows(1)), 1);
}

#[test]
fn a_second_agent_cannot_share_a_spool() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _q = Queue::with_spool(dir.path(), 1 << 20).expect("open");
    assert!(Queue::with_spool(dir.path(), 1 << 20).is_err());
}

#[test]
fn full_spool_drops_oldest_segment_and_counts_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let budget = 4096;
    let q = Queue::with_spool(dir.path(), budget).expect("open");
    for i in 1..=200 {
        q.push(rows(i));
    }
    let s = q.stats();
    let held = seqs(&q);
    assert!(s.dropped_batches > 0);
    assert_eq!(
        s.dropped_batches + held.len() as u64,
        200,
        "dropped = missing: {s:?}"
    );
    assert_eq!(
        held,
        ((200 - held.len() as u64 + 1)..=200).collect::<Vec<_>>(),
        "the newest survive"
    );
    let bytes: u64 = segments(dir.path())
        .iter()
        .map(|p| fs::metadata(p).expect("meta").len())
        .sum();
    assert!(bytes <= budget, "{bytes} bytes on disk");
}

#[test]
fn host_dirs_stay_inside_the_root() {
    let root = Path::new("/spool");
    assert_eq!(host_dir(root, "sim-web-001"), root.join("sim-web-001"));
    assert_eq!(host_dir(root, "../etc"), root.join("_.._etc"));
    assert_eq!(host_dir(root, "a/b c"), root.join("a_b_c"));
    assert_eq!(host_dir(root, ""), root.join("_"));
}

/// xorshift64*: deterministic, so a failure replays exactly.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

#[test]
fn matches_a_model_across_acks_rejects_overflow_and_restarts() {
    for seed in 1..=12u64 {
        let dir = tempfile::tempdir().expect("tempdir");
        // Half the runs get a budget small enough to overflow.
        let budget = if seed % 2 == 0 { 1500 } else { 1 << 20 };
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut q = Queue::with_spool(dir.path(), budget).expect("open");
        let mut model: VecDeque<(u64, Rows)> = VecDeque::new();
        let mut next = 1u64;
        let mut overflowed = false;
        for step in 0..400 {
            let ctx = format!("seed {seed} step {step}");
            match rng.below(10) {
                0..=5 => {
                    let r = rows(rng.below(1000));
                    assert_eq!(q.push(r.clone()), next, "{ctx}");
                    model.push_back((next, r));
                    next += 1;
                    // Overflow drops from the front. Everything was handed out
                    // (see `after` below), so the count waits for the hub's
                    // answer (queue.rs tests that); the batches are gone at once.
                    let first = q.after(0, 1).first().map(|(s, _)| *s);
                    while model.front().is_some_and(|(s, _)| Some(*s) < first) {
                        model.pop_front();
                        overflowed = true;
                    }
                }
                6 => {
                    let k = rng.below(model.len() as u64 + 1) as usize;
                    if k > 0 {
                        let seq = model[k - 1].0;
                        q.ack(seq);
                        model.drain(..k);
                    }
                }
                7 => assert_eq!(q.reject_head(), model.pop_front().map(|(s, _)| s), "{ctx}"),
                8 => {
                    let from = if model.is_empty() {
                        0
                    } else {
                        model[rng.below(model.len() as u64) as usize].0
                    };
                    let limit = rng.below(5) as usize + 1;
                    let want: Vec<_> = model
                        .iter()
                        .filter(|(s, _)| *s > from)
                        .take(limit)
                        .cloned()
                        .collect();
                    let got: Vec<_> = q
                        .after(from, limit)
                        .into_iter()
                        .map(|(s, r)| (s, (*r).clone()))
                        .collect();
                    assert_eq!(got, want, "{ctx}");
                }
                _ => {
                    // Restart (a crash leaves the same files: each push was fsynced).
                    drop(q);
                    q = Queue::with_spool(dir.path(), budget).expect("reopen");
                    let last = q.last_seq();
                    assert!(
                        last < next && model.back().is_none_or(|(s, _)| *s <= last),
                        "{ctx}: last_seq {last}"
                    );
                    next = last + 1;
                }
            }
            let got: Vec<_> = q
                .after(0, usize::MAX)
                .into_iter()
                .map(|(s, r)| (s, (*r).clone()))
                .collect();
            assert_eq!(got, Vec::from(model.clone()), "{ctx}");
            assert_eq!(q.stats().pending, model.len(), "{ctx}");
        }
        assert_eq!(
            overflowed,
            budget < 4096,
            "seed {seed}: overflow exercised iff the budget is small"
        );
    }
}
