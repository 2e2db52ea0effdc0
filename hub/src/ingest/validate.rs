//! Checks on everything an agent sends, as a pure function of the batch, the
//! stream's symbol table and the limits — testable without a server. A
//! violation rejects the whole batch with a reason (a metric label) and a
//! message for the sender; nothing is silently dropped.

use std::collections::HashMap;
use std::sync::Arc;

use common::model::{KeyedRow, SeriesKey};

use crate::config::Limits;

/// Why an input was refused: `reason` labels the counter, `message` goes to the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: &'static str,
    pub message: String,
}

fn reject(reason: &'static str, message: String) -> Rejection {
    Rejection { reason, message }
}

/// Series defined on one stream: agent-chosen id → key.
#[derive(Debug, Default)]
pub struct SymbolTable {
    defs: HashMap<u32, Arc<SeriesKey>>,
}

impl SymbolTable {
    pub fn len(&self) -> usize {
        self.defs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }

    pub fn get(&self, id: u32) -> Option<&Arc<SeriesKey>> {
        self.defs.get(&id)
    }

    pub fn insert(&mut self, id: u32, key: Arc<SeriesKey>) {
        self.defs.insert(id, key);
    }
}

/// Validates the series definitions of a batch; returns them as keys to resolve.
pub fn check_defs(
    defs: &[proto::SeriesDef],
    table: &SymbolTable,
    limits: &Limits,
) -> Result<Vec<(u32, SeriesKey)>, Rejection> {
    let mut out: Vec<(u32, SeriesKey)> = Vec::with_capacity(defs.len());
    if table.len() + defs.len() > limits.max_series_per_agent {
        return Err(reject(
            "too_many_series",
            format!(
                "agent would have {} series, limit is {}",
                table.len() + defs.len(),
                limits.max_series_per_agent
            ),
        ));
    }
    for d in defs {
        if table.get(d.id).is_some() || out.iter().any(|(id, _)| *id == d.id) {
            return Err(reject(
                "duplicate_series_id",
                format!("series id {} defined twice on this stream", d.id),
            ));
        }
        if d.name.is_empty() || d.name.len() > limits.max_name_len {
            return Err(reject(
                "bad_name",
                format!(
                    "series {}: name must be 1..={} bytes",
                    d.id, limits.max_name_len
                ),
            ));
        }
        if d.labels.len() > limits.max_labels_per_series {
            return Err(reject(
                "too_many_labels",
                format!(
                    "series {} ({}): {} labels, limit is {}",
                    d.id,
                    d.name,
                    d.labels.len(),
                    limits.max_labels_per_series
                ),
            ));
        }
        for l in &d.labels {
            if l.key.is_empty()
                || l.key.len() > limits.max_name_len
                || l.value.len() > limits.max_label_value_len
            {
                return Err(reject(
                    "label_too_long",
                    format!(
                        "series {} ({}): label {:?} must have a 1..={} byte key and a value of at most {} bytes",
                        d.id, d.name, l.key, limits.max_name_len, limits.max_label_value_len
                    ),
                ));
            }
        }
        let key = SeriesKey {
            name: d.name.clone(),
            labels: common::convert::labels_from_proto(&d.labels),
        };
        out.push((d.id, key));
    }
    Ok(out)
}

/// Validates the rows of a batch against a table that already holds the
/// batch's own definitions.
pub fn check_rows(
    seq: u64,
    rows: &[proto::Row],
    table: &SymbolTable,
    limits: &Limits,
    now_ms: i64,
) -> Result<Vec<KeyedRow>, Rejection> {
    if seq == 0 {
        return Err(reject("bad_seq", "batch seq must start at 1".into()));
    }
    if rows.len() > limits.max_rows_per_batch {
        return Err(reject(
            "too_many_rows",
            format!(
                "batch {seq}: {} rows, limit is {}",
                rows.len(),
                limits.max_rows_per_batch
            ),
        ));
    }
    let newest = now_ms.saturating_add(limits.max_future.as_millis() as i64);
    let oldest = now_ms.saturating_sub(limits.max_age.as_millis() as i64);
    let mut out = Vec::with_capacity(rows.len());
    for (i, r) in rows.iter().enumerate() {
        let Some(key) = table.get(r.series_id) else {
            return Err(reject(
                "undefined_series",
                format!(
                    "batch {seq} row {i}: series id {} was never defined on this stream",
                    r.series_id
                ),
            ));
        };
        if !r.value.is_finite() {
            return Err(reject(
                "non_finite",
                format!(
                    "batch {seq} row {i}: value {} of {} is not a finite number",
                    r.value, key.name
                ),
            ));
        }
        if r.timestamp_ms > newest {
            return Err(reject(
                "future_timestamp",
                format!(
                    "batch {seq} row {i}: timestamp {} is more than {} s in the future",
                    r.timestamp_ms,
                    limits.max_future.as_secs()
                ),
            ));
        }
        if r.timestamp_ms < oldest {
            return Err(reject(
                "old_timestamp",
                format!(
                    "batch {seq} row {i}: timestamp {} is older than {} days",
                    r.timestamp_ms,
                    limits.max_age.as_secs() / 86_400
                ),
            ));
        }
        out.push((key.clone(), r.timestamp_ms, r.value));
    }
    Ok(out)
}

/// Most processes one top list may hold (the agent sends 10 by CPU plus 10 by
/// memory; room for agents configured wider).
pub const MAX_TOP_PROCESSES: usize = 100;

/// A top-process list: bounded length, bounded strings.
pub fn check_processes(
    list: &[proto::ProcessInfo],
    limits: &Limits,
) -> Result<Vec<common::model::ProcessInfo>, Rejection> {
    if list.len() > MAX_TOP_PROCESSES {
        return Err(reject(
            "too_many_processes",
            format!(
                "{} processes in one top list; at most {MAX_TOP_PROCESSES}",
                list.len()
            ),
        ));
    }
    for p in list {
        if p.name.len() > limits.max_label_value_len || p.user.len() > limits.max_label_value_len {
            return Err(reject(
                "value_too_long",
                format!(
                    "process {} has a name or user longer than {} bytes",
                    p.pid, limits.max_label_value_len
                ),
            ));
        }
    }
    Ok(list
        .iter()
        .map(common::convert::process_from_proto)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    fn table() -> SymbolTable {
        let mut t = SymbolTable::default();
        t.insert(1, Arc::new(SeriesKey::new("system.cpu.utilization")));
        t
    }

    fn row(id: u32, ts: i64, v: f64) -> proto::Row {
        proto::Row {
            series_id: id,
            timestamp_ms: ts,
            value: v,
        }
    }

    /// The only caller of `check_rows` in tests: Ok(n rows) or Err(reason).
    fn check(rows: &[proto::Row], expected: Result<usize, &str>) {
        let got = check_rows(1, rows, &table(), &Limits::default(), NOW)
            .map(|r| r.len())
            .map_err(|r| r.reason);
        assert_eq!(got, expected, "rows {rows:?}");
    }

    #[test]
    fn rows_as_data() {
        check(&[row(1, NOW, 0.5)], Ok(1));
        check(&[row(2, NOW, 0.5)], Err("undefined_series"));
        check(&[row(1, NOW, f64::NAN)], Err("non_finite"));
        check(&[row(1, NOW, f64::INFINITY)], Err("non_finite"));
        check(&[row(1, NOW + 4 * 60_000, 1.0)], Ok(1));
        check(&[row(1, NOW + 6 * 60_000, 1.0)], Err("future_timestamp"));
        check(&[row(1, 0, 1.0)], Err("old_timestamp"));
        check(
            &[row(1, NOW, 1.0), row(1, NOW, f64::NAN)],
            Err("non_finite"),
        );
    }

    #[test]
    fn defs_limits() {
        let limits = Limits {
            max_series_per_agent: 2,
            max_labels_per_series: 1,
            ..Limits::default()
        };
        let def = |id: u32, labels: usize| proto::SeriesDef {
            id,
            name: "m".into(),
            labels: (0..labels)
                .map(|i| proto::Label {
                    key: format!("k{i}"),
                    value: "v".into(),
                })
                .collect(),
            host: String::new(),
        };
        let t = table();
        assert!(check_defs(&[def(2, 1)], &t, &limits).is_ok());
        assert_eq!(
            check_defs(&[def(2, 2)], &t, &limits).map_err(|r| r.reason),
            Err("too_many_labels")
        );
        assert_eq!(
            check_defs(&[def(1, 0)], &t, &limits).map_err(|r| r.reason),
            Err("duplicate_series_id")
        );
        assert_eq!(
            check_defs(&[def(2, 0), def(3, 0)], &t, &limits).map_err(|r| r.reason),
            Err("too_many_series")
        );
        assert_eq!(
            check_rows(0, &[], &t, &limits, NOW).map_err(|r| r.reason),
            Err("bad_seq")
        );
    }

    #[test]
    fn top_process_lists_are_bounded() {
        let limits = Limits::default();
        let p = |name: String| proto::ProcessInfo {
            pid: 1,
            name,
            user: "root".into(),
            cpu_utilization: f64::NAN,
            memory_bytes: 1,
        };
        let ok = check_processes(&[p("init".into())], &limits).expect("fine");
        assert_eq!(ok[0].cpu_utilization, 0.0, "NaN is not passed on");
        let long = p("x".repeat(limits.max_label_value_len + 1));
        assert_eq!(
            check_processes(&[long], &limits)
                .expect_err("too long")
                .reason,
            "value_too_long"
        );
        let many: Vec<_> = (0..=MAX_TOP_PROCESSES).map(|_| p("a".into())).collect();
        assert_eq!(
            check_processes(&many, &limits)
                .expect_err("too many")
                .reason,
            "too_many_processes"
        );
    }
}
