//! The durable half of a host's [`Queue`](super::Queue): unacked batches in
//! append-only segment files, so a `kill -9` or a long hub outage loses at most
//! the batch being collected.
//!
//! One directory per host (`<spool_dir>/<agent id>/`) holds:
//! - `<first seq, 20 digits>.seg`: an 8-byte magic, then [`record`] frames in
//!   seq order. A new segment starts when the current one would pass
//!   1/8 of the budget, and at every start (old segments are never appended to).
//! - `acked`: the highest seq the hub acked, as decimal text. Segments whose
//!   records are all acked are deleted.
//! - `lock`: held (`flock`) while an agent uses the directory.
//!
//! Every batch is written and `fsync`ed before it is offered for sending: one
//! fsync per batch per interval (≥ 100 ms) is cheap next to collecting it, and
//! group commit would widen what a crash loses to the whole group. The ack file
//! is replaced by rename without fsync: losing its last update only means a few
//! acked batches are reloaded, and the hub's `Welcome` (its stored seq) acks
//! them again before anything is resent.
//!
//! When the spool passes its budget the oldest segment is deleted and its
//! unacked batches are counted as dropped. On open, a torn or corrupt record
//! (a crash mid-write) ends its segment: the file is truncated there.

mod record;

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::transport::queue::Rows;

const MAGIC: &[u8; 8] = b"HWSPOOL1";
const SEGMENTS_PER_BUDGET: u64 = 8;
const ACK_FILE: &str = "acked";

/// The spool directory of one host: its id with anything but `[A-Za-z0-9._-]`
/// replaced, so an id can never climb out of `root`.
pub fn host_dir(root: &Path, agent_id: &str) -> PathBuf {
    let mut name: String = agent_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() || name.starts_with('.') {
        name.insert(0, '_');
    }
    root.join(name)
}

pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    /// Oldest first; every one but an open writer's holds unacked records.
    segments: VecDeque<Segment>,
    /// Appends to `segments.back()` when set.
    writer: Option<File>,
    total_bytes: u64,
    pending: usize,
    acked: u64,
    _lock: File,
}

struct Segment {
    path: PathBuf,
    bytes: u64,
    /// Unacked records: (seq, offset of the frame).
    records: VecDeque<(u64, u64)>,
}

impl Spool {
    /// Opens (or creates) a host's spool and reloads what it holds. Returns the
    /// spool and the highest seq it has seen, acked or not.
    pub fn open(dir: &Path, max_bytes: u64) -> io::Result<(Self, u64)> {
        fs::create_dir_all(dir)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("lock"))?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive).map_err(
            |e| io::Error::other(format!("{} is in use by another agent: {e}", dir.display())),
        )?;
        let acked = read_ack(dir);
        let mut spool = Spool {
            dir: dir.to_owned(),
            max_bytes,
            segment_bytes: (max_bytes / SEGMENTS_PER_BUDGET).max(MAGIC.len() as u64 + 1),
            segments: VecDeque::new(),
            writer: None,
            total_bytes: 0,
            pending: 0,
            acked,
            _lock: lock,
        };
        let mut paths: Vec<PathBuf> = fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "seg"))
            .collect();
        // Zero-padded first seqs: name order is seq order.
        paths.sort();
        let mut last = acked;
        for path in paths {
            last = spool.reload(path, last)?;
        }
        Ok((spool, last))
    }

    fn reload(&mut self, path: PathBuf, mut last: u64) -> io::Result<u64> {
        let bytes = fs::read(&path)?;
        if bytes.len() < MAGIC.len() || bytes[..MAGIC.len()] != MAGIC[..] {
            if MAGIC.starts_with(&bytes) {
                // Created, then the crash came before its header was written.
                fs::remove_file(&path)?;
            } else {
                tracing::warn!(path = %path.display(), "not a spool segment; ignored");
            }
            return Ok(last);
        }
        let (found, valid) = scan(&bytes);
        if valid < bytes.len() {
            tracing::warn!(path = %path.display(), kept = valid, dropped_bytes = bytes.len() - valid, "spool segment ends in a torn or corrupt record; truncated");
            let f = OpenOptions::new().write(true).open(&path)?;
            f.set_len(valid as u64)?;
            f.sync_all()?;
        }
        let mut records = VecDeque::new();
        for (seq, offset) in found {
            // `last` starts at the acked seq, so this skips acked batches;
            // and seqs only grow, anything else is not ours to trust.
            if seq <= last {
                continue;
            }
            last = seq;
            records.push_back((seq, offset));
        }
        if records.is_empty() {
            fs::remove_file(&path)?;
        } else {
            self.total_bytes += valid as u64;
            self.pending += records.len();
            self.segments.push_back(Segment {
                path,
                bytes: valid as u64,
                records,
            });
        }
        Ok(last)
    }

    /// Unacked batches held.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// The oldest unacked seq.
    pub fn first_seq(&self) -> Option<u64> {
        self.segments
            .iter()
            .find_map(|s| s.records.front().map(|(seq, _)| *seq))
    }

    /// The first unacked seq greater than `after`.
    pub fn next_after(&self, after: u64) -> Option<u64> {
        self.segments.iter().find_map(|s| {
            let i = s.records.partition_point(|(seq, _)| *seq <= after);
            s.records.get(i).map(|(seq, _)| *seq)
        })
    }

    /// Writes and fsyncs one batch; returns the seqs of the old batches that
    /// were dropped to stay within the budget, oldest first. On error nothing
    /// of the batch is kept.
    pub fn append(&mut self, seq: u64, rows: &Rows) -> io::Result<Vec<u64>> {
        let frame = record::encode(seq, rows);
        let roll = match (self.segments.back(), &self.writer) {
            (Some(s), Some(_)) => {
                s.bytes + frame.len() as u64 > self.segment_bytes && !s.records.is_empty()
            }
            _ => true,
        };
        if roll {
            self.roll(seq)?;
        }
        let (Some(seg), Some(w)) = (self.segments.back_mut(), self.writer.as_mut()) else {
            return Err(io::Error::other("spool has no open segment"));
        };
        let offset = seg.bytes;
        if let Err(e) = w.write_all(&frame).and_then(|()| w.sync_data()) {
            // Leave no partial record for the next append to follow.
            let _ = w.set_len(offset);
            return Err(e);
        }
        seg.bytes += frame.len() as u64;
        seg.records.push_back((seq, offset));
        self.total_bytes += frame.len() as u64;
        self.pending += 1;
        Ok(self.enforce_budget())
    }

    fn roll(&mut self, seq: u64) -> io::Result<()> {
        if self.writer.take().is_some()
            && self.segments.back().is_some_and(|s| s.records.is_empty())
        {
            if let Some(s) = self.segments.pop_back() {
                self.remove(&s);
            }
        }
        let path = self.dir.join(format!("{seq:020}.seg"));
        let mut f = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)?;
        f.write_all(MAGIC)?;
        f.sync_data()?;
        // The new name must survive a crash too.
        File::open(&self.dir)?.sync_all()?;
        self.total_bytes += MAGIC.len() as u64;
        self.segments.push_back(Segment {
            path,
            bytes: MAGIC.len() as u64,
            records: VecDeque::new(),
        });
        self.writer = Some(f);
        Ok(())
    }

    fn enforce_budget(&mut self) -> Vec<u64> {
        let mut dropped = Vec::new();
        while self.total_bytes > self.max_bytes && self.segments.len() > 1 {
            if let Some(s) = self.segments.pop_front() {
                dropped.extend(s.records.iter().map(|(seq, _)| *seq));
                self.pending -= s.records.len();
                self.remove(&s);
            }
        }
        if !dropped.is_empty() {
            tracing::warn!(dir = %self.dir.display(), dropped = dropped.len(), "spool full; dropped the oldest batches");
        }
        dropped
    }

    fn remove(&mut self, s: &Segment) {
        self.total_bytes -= s.bytes;
        if let Err(e) = fs::remove_file(&s.path) {
            tracing::warn!(path = %s.path.display(), error = %e, "could not delete spool segment");
        }
    }

    /// The hub has everything up to `seq`; returns how many batches that acked.
    pub fn ack(&mut self, seq: u64) -> usize {
        if seq <= self.acked {
            return 0;
        }
        self.acked = seq;
        // Recorded before segments go, so a crash in between cannot make
        // the restarted agent number below what the hub has.
        if let Err(e) = write_ack(&self.dir, seq) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "could not record the acked seq");
        }
        let mut n = 0;
        let has_writer = self.writer.is_some();
        while let Some(front) = self.segments.front_mut() {
            while front.records.front().is_some_and(|(s, _)| *s <= seq) {
                front.records.pop_front();
                n += 1;
            }
            if !front.records.is_empty() || (has_writer && self.segments.len() == 1) {
                break;
            }
            if let Some(s) = self.segments.pop_front() {
                self.remove(&s);
            }
        }
        self.pending -= n;
        n
    }

    /// Forgets the oldest unacked batch (the hub refused it). Everything
    /// before it is gone already, so for the spool this is an ack: recorded,
    /// it keeps the batch from coming back after a restart.
    pub fn skip_head(&mut self) -> Option<u64> {
        let seq = self.first_seq()?;
        self.ack(seq);
        Some(seq)
    }

    /// Reads up to `limit` unacked batches with seq greater than `after`, oldest
    /// first. A segment that cannot be read is deleted; the second value counts
    /// its batches, which are lost.
    pub fn read_after(&mut self, after: u64, limit: usize) -> (Vec<(u64, Rows)>, usize) {
        let mut out = Vec::new();
        let mut bad = None;
        'segments: for (i, seg) in self.segments.iter().enumerate() {
            if out.len() >= limit {
                break;
            }
            if seg.records.back().is_none_or(|(s, _)| *s <= after) {
                continue;
            }
            let read = File::open(&seg.path).and_then(|f| {
                let mut got = Vec::new();
                let first = seg.records.partition_point(|(s, _)| *s <= after);
                for &(seq, offset) in seg.records.range(first..) {
                    if out.len() + got.len() >= limit {
                        break;
                    }
                    got.push((seq, read_at(&f, offset)?));
                }
                Ok(got)
            });
            match read {
                Ok(got) => out.extend(got),
                Err(e) => {
                    tracing::error!(path = %seg.path.display(), error = %e, "unreadable spool segment; its batches are lost");
                    bad = Some(i);
                    break 'segments;
                }
            }
        }
        let Some(i) = bad else { return (out, 0) };
        if i + 1 == self.segments.len() {
            self.writer = None;
        }
        let Some(s) = self.segments.remove(i) else {
            return (out, 0);
        };
        self.pending -= s.records.len();
        self.remove(&s);
        (out, s.records.len())
    }
}

/// Valid frames after the magic: (seq, offset) of each, and where the valid
/// part ends.
fn scan(bytes: &[u8]) -> (Vec<(u64, u64)>, usize) {
    let mut pos = MAGIC.len();
    let mut found = Vec::new();
    while pos < bytes.len() {
        match record::frame(&bytes[pos..]) {
            Ok((payload, n)) => {
                found.push((record::seq_of(payload), pos as u64));
                pos += n;
            }
            Err(_) => break,
        }
    }
    (found, pos)
}

fn read_at(f: &File, offset: u64) -> io::Result<Rows> {
    let mut header = [0u8; record::FRAME_HEADER];
    f.read_exact_at(&mut header, offset)?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    if len > record::MAX_PAYLOAD {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "implausible record length",
        ));
    }
    let mut buf = vec![0u8; record::FRAME_HEADER + len];
    f.read_exact_at(&mut buf, offset)?;
    let bad = |e: record::DecodeError| io::Error::new(io::ErrorKind::InvalidData, format!("{e:?}"));
    let (payload, _) = record::frame(&buf).map_err(bad)?;
    Ok(record::decode(payload).map_err(bad)?.1)
}

fn read_ack(dir: &Path) -> u64 {
    match fs::read_to_string(dir.join(ACK_FILE)) {
        Ok(s) => s.trim().parse().unwrap_or_else(|_| {
            tracing::warn!(dir = %dir.display(), "unreadable ack file; assuming nothing was acked");
            0
        }),
        Err(_) => 0,
    }
}

fn write_ack(dir: &Path, seq: u64) -> io::Result<()> {
    let tmp = dir.join("acked.tmp");
    fs::write(&tmp, format!("{seq}\n"))?;
    fs::rename(tmp, dir.join(ACK_FILE))
}

#[cfg(test)]
mod tests;
