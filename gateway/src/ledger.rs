//! `GET /api/v1/ledger`: the hubs' per-agent exactly-once ledger — what each
//! agent sent (by seq) against what is in history. Hubs answer rows without a
//! site or a last-seen time (`proto::AgentLedger`), so both are taken here from
//! the host statuses the source lists, in one place ([`entries`]) for the
//! gateway and the edge alike.

use common::model::HostStatus;
use serde::Serialize;

/// One agent's row of a hub's ledger.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LedgerEntry {
    pub agent_id: String,
    pub host: String,
    /// The host's site; empty when no host status names the host (the ledger
    /// outlives a host's state).
    pub site: String,
    /// Highest seq of the agent's that is stored.
    pub stored_seq: u64,
    /// Distinct batches stored, each seq at most once.
    pub batches_stored: u64,
    pub rows_stored: u64,
    /// Seqs below `stored_seq` that never arrived: `stored_seq - batches_stored`.
    pub missing_batches: u64,
    /// Resends that were acked but not stored again.
    pub duplicates: u64,
    /// `batches_stored / stored_seq` in [0, 1]; null before any batch.
    pub completeness: Option<f64>,
    /// When the host's newest data is from, if this agent is the host's
    /// current one; null otherwise.
    pub last_seen_ms: Option<i64>,
}

impl LedgerEntry {
    pub fn from_proto(l: &proto::AgentLedger) -> Self {
        Self {
            agent_id: l.agent_id.clone(),
            host: l.host.clone(),
            site: String::new(),
            stored_seq: l.last_seq,
            batches_stored: l.batches,
            rows_stored: l.rows,
            missing_batches: l.missing,
            duplicates: l.duplicates,
            // The hub says 1 before any batch; nothing stored is not "complete".
            completeness: (l.last_seq > 0).then(|| l.completeness.clamp(0.0, 1.0)),
            last_seen_ms: None,
        }
    }
}

/// The rows of `host` and of `site` (all when `None`), with site and last-seen
/// from `hosts`, sorted by site, host and agent. A host status gives its last
/// seen only to the row of its own agent (or to every row of the host when it
/// names none): an agent the host had before is not seen now.
pub fn entries(
    rows: Vec<LedgerEntry>,
    hosts: &[HostStatus],
    host: Option<&str>,
    site: Option<&str>,
) -> Vec<LedgerEntry> {
    let by_host: std::collections::HashMap<&str, &HostStatus> =
        hosts.iter().map(|h| (h.host.as_str(), h)).collect();
    let mut out: Vec<LedgerEntry> = rows
        .into_iter()
        .filter(|r| host.is_none_or(|h| r.host == h))
        .map(|mut r| {
            if let Some(st) = by_host.get(r.host.as_str()) {
                r.site.clone_from(&st.site);
                if st.agent_id.is_empty() || st.agent_id == r.agent_id {
                    r.last_seen_ms = Some(st.last_seen_ms);
                }
            }
            r
        })
        .filter(|r| site.is_none_or(|s| r.site == s))
        .collect();
    out.sort_by(|a, b| (&a.site, &a.host, &a.agent_id).cmp(&(&b.site, &b.host, &b.agent_id)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hub's row: (agent, host, last seq, batches).
    fn row(agent: &str, host: &str, last_seq: u64, batches: u64) -> LedgerEntry {
        let completeness = if last_seq == 0 {
            1.0
        } else {
            batches as f64 / last_seq as f64
        };
        LedgerEntry::from_proto(&proto::AgentLedger {
            agent_id: agent.into(),
            host: host.into(),
            last_seq,
            batches,
            rows: batches * 10,
            duplicates: 0,
            missing: last_seq.saturating_sub(batches),
            completeness,
        })
    }

    fn status(host: &str, site: &str, agent: &str, last_seen_ms: i64) -> HostStatus {
        HostStatus {
            host: host.into(),
            site: site.into(),
            agent_id: agent.into(),
            last_seen_ms,
            ..Default::default()
        }
    }

    /// Joins `rows` with the statuses and compares (agent, site, last seen).
    fn check(
        rows: Vec<LedgerEntry>,
        host: Option<&str>,
        site: Option<&str>,
        expected: &[(&str, &str, Option<i64>)],
    ) {
        let hosts = [
            status("web-1", "eu", "agent-web", 5_000),
            status("db-1", "us", "agent-db", 7_000),
            status("new-1", "us", "", 9_000),
        ];
        let got = entries(rows, &hosts, host, site);
        let got: Vec<_> = got
            .iter()
            .map(|e| (e.agent_id.as_str(), e.site.as_str(), e.last_seen_ms))
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn rows_get_their_hosts_site_and_last_seen() {
        let rows = || {
            vec![
                row("agent-db", "db-1", 10, 10),
                row("agent-web", "web-1", 3, 2),
                // Reinstalled: the host's old agent is not what was seen last.
                row("agent-web-old", "web-1", 40, 40),
                row("agent-new", "new-1", 1, 1),
                // A host no status names anymore.
                row("agent-gone", "gone-1", 5, 5),
            ]
        };
        check(
            rows(),
            None,
            None,
            &[
                ("agent-gone", "", None),
                ("agent-web", "eu", Some(5_000)),
                ("agent-web-old", "eu", None),
                ("agent-db", "us", Some(7_000)),
                ("agent-new", "us", Some(9_000)),
            ],
        );
        check(
            rows(),
            Some("web-1"),
            None,
            &[
                ("agent-web", "eu", Some(5_000)),
                ("agent-web-old", "eu", None),
            ],
        );
        check(
            rows(),
            None,
            Some("us"),
            &[
                ("agent-db", "us", Some(7_000)),
                ("agent-new", "us", Some(9_000)),
            ],
        );
        check(rows(), Some("web-1"), Some("us"), &[]);
    }

    #[test]
    fn completeness_is_null_before_any_batch() {
        let none = row("a", "h", 0, 0);
        assert_eq!((none.completeness, none.missing_batches), (None, 0));
        let some = row("a", "h", 4, 3);
        assert_eq!(some.completeness, Some(0.75));
        assert_eq!((some.stored_seq, some.batches_stored), (4, 3));
        assert_eq!((some.missing_batches, some.rows_stored), (1, 30));
    }
}
