//! The ground-truth file: one JSON line per injected anomaly, written and flushed
//! when the anomaly starts (its end is decided in advance), so detection can be
//! scored end to end while the simulator runs.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use common::model::Labels;
use serde::{Deserialize, Serialize};

use super::calendar::iso8601;

/// One line of the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub host: String,
    pub site: String,
    /// The series the anomaly shows on first (related ones move too).
    pub metric: String,
    pub labels: Labels,
    pub kind: String,
    /// Unix ms; the anomaly covers `[start, end)`.
    pub start: i64,
    pub end: i64,
    pub start_iso: String,
    pub end_iso: String,
    /// The process to blame, for CPU spikes and memory leaks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<String>,
}

impl Record {
    pub(crate) fn new(
        host: &str,
        site: &str,
        metric: &str,
        labels: &[(&str, &str)],
        kind: &str,
        (start, end): (i64, i64),
        process: Option<&str>,
    ) -> Self {
        Self {
            host: host.to_owned(),
            site: site.to_owned(),
            metric: metric.to_owned(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            kind: kind.to_owned(),
            start,
            end,
            start_iso: iso8601(start),
            end_iso: iso8601(end),
            process: process.map(str::to_owned),
        }
    }
}

/// Shared by every simulated host of an agent.
pub struct GroundTruth {
    path: PathBuf,
    file: Mutex<File>,
    written: AtomicU64,
    failed: AtomicU64,
}

impl GroundTruth {
    /// Creates (or truncates) `path`: the file describes one run.
    pub fn create(path: &Path) -> std::io::Result<Self> {
        Ok(Self {
            path: path.to_owned(),
            file: Mutex::new(File::create(path)?),
            written: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        })
    }

    /// Appends one line and flushes it. A failed write is logged and counted,
    /// never fatal: the simulation itself goes on.
    pub fn record(&self, record: &Record) {
        let mut line = match serde_json::to_string(record) {
            Ok(line) => line,
            Err(e) => {
                tracing::error!(error = %e, "could not encode a ground-truth record");
                self.failed.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        line.push('\n');
        // One write of the whole line, so lines of several hosts never interleave.
        let result = {
            let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
            file.write_all(line.as_bytes()).and_then(|()| file.flush())
        };
        match result {
            Ok(()) => {
                self.written.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                if self.failed.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::error!(path = %self.path.display(), error = %e, "could not write the ground truth");
                }
            }
        }
    }

    /// Lines written and lines lost so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.written.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}
