//! The ingest stream of one host: Hello → Welcome, then batches from the
//! [`Queue`] are sent (at most [`WINDOW`] unacked) and popped on Ack. On any
//! failure the stream is dropped and re-opened with exponential backoff and
//! full jitter; everything unacked is resent on the new stream, where the hub
//! de-duplicates by (agent, seq). With a [`spool`] the queue survives
//! restarts: the Hello's `last_seq` then covers batches of earlier runs.
//!
//! The [`Link`] says how to reach the hub (TLS, compression) and what each
//! Hello presents ([`credential`]). A hub that refuses our credentials
//! (`UNAUTHENTICATED`) is retried only after [`AUTH_RETRY_MIN`] or more:
//! an operator has to act, hammering would not help, and collection goes on
//! into the queue (and spool) meanwhile, so nothing is lost while waiting.

pub mod credential;
pub mod link;
pub mod queue;
pub mod spool;
pub mod tls;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::backoff::Backoff;
use common::model::{HostFacts, KeyedRow, SeriesKey};
use proto::{agent_message, hub_message, AgentMessage};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

pub use link::Link;
pub use queue::Queue;

use credential::Presented;

/// Batches in flight on one stream before waiting for acks.
pub const WINDOW: usize = 64;
const OUTBOUND_CAPACITY: usize = 16;
const WELCOME_TIMEOUT: Duration = Duration::from_secs(15);
/// Least wait after the hub refused our credentials; a jittered extra that
/// doubles per refusal up to [`AUTH_RETRY_CAP`] comes on top.
pub const AUTH_RETRY_MIN: Duration = Duration::from_secs(30);
pub const AUTH_RETRY_CAP: Duration = Duration::from_secs(600);

/// Who this stream speaks for.
#[derive(Debug, Clone)]
pub struct Identity {
    pub agent_id: String,
    pub site: String,
    /// The `credentials` of the config (a credential given directly, or a
    /// token); see [`credential`] for what a Hello presents.
    pub credentials: String,
    pub facts: HostFacts,
}

/// Why a stream ended.
#[derive(Debug)]
enum End {
    Shutdown,
    Failed(String),
    /// The hub refused what we presented (or revoked it mid-stream).
    Unauthenticated(String),
}

pub async fn run(
    link: Arc<Link>,
    id: Identity,
    queue: Arc<Queue>,
    interval: watch::Sender<Duration>,
    token: CancellationToken,
) {
    let mut backoff = Backoff::default();
    let mut auth_backoff = Backoff::new(AUTH_RETRY_MIN, AUTH_RETRY_CAP);
    let mut prefer_token = false;
    loop {
        let presented = link
            .credentials
            .for_hello(&id.agent_id, &id.credentials, prefer_token);
        let mut welcomed = false;
        let end = stream_once(
            &link,
            &id,
            &presented,
            &queue,
            &interval,
            &token,
            &mut welcomed,
        )
        .await;
        if welcomed {
            backoff.reset();
            auth_backoff.reset();
        }
        let delay = match end {
            End::Shutdown => return,
            _ if token.is_cancelled() => return,
            End::Failed(why) => {
                tracing::warn!(agent = %id.agent_id, reason = %why, "ingest stream ended; reconnecting");
                prefer_token = false;
                backoff.next_delay()
            }
            End::Unauthenticated(why) => {
                // A refused credential may be stale (the hub's database was
                // reset): the token, if configured, goes next.
                prefer_token = matches!(presented, Presented::Credential(_));
                let delay = AUTH_RETRY_MIN + auth_backoff.next_delay();
                tracing::error!(
                    agent = %id.agent_id,
                    presented = presented.kind(),
                    reason = %why,
                    retry_in = ?delay,
                    pending = queue.stats().pending,
                    "hub refused this agent's credentials; batches are kept meanwhile. \
                     Give it an enrolment token (`hostwatch hub token create`)"
                );
                delay
            }
        };
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// Ends the stream for an error status from the hub.
fn ended_by(link: &Link, s: &tonic::Status, during: &str) -> End {
    if s.code() == tonic::Code::Unauthenticated {
        return End::Unauthenticated(s.message().to_owned());
    }
    if link.compression_refused(s) {
        tracing::warn!(
            reason = s.message(),
            "hub does not accept compressed batches; sending them uncompressed"
        );
    }
    let mut why = format!("{during}: {:?}: {}", s.code(), s.message());
    if let Some(source) = std::error::Error::source(s) {
        why.push_str(": ");
        why.push_str(&common::tls::error_chain(source));
    }
    if link.tls() && !link.client_cert() && why.contains("connection closed") {
        why.push_str(
            " (the hub closed the TLS connection: if it requires client certificates, \
             set tls_cert_file and tls_key_file)",
        );
    }
    End::Failed(why)
}

async fn stream_once(
    link: &Arc<Link>,
    id: &Identity,
    presented: &Presented,
    queue: &Queue,
    interval: &watch::Sender<Duration>,
    token: &CancellationToken,
    welcomed: &mut bool,
) -> End {
    let mut client = tokio::select! {
        _ = token.cancelled() => return End::Shutdown,
        c = link.connect() => match c {
            Ok(c) => c,
            Err(e) => return End::Failed(e),
        },
    };
    let (tx, rx) = mpsc::channel::<AgentMessage>(OUTBOUND_CAPACITY);
    let hello = AgentMessage {
        msg: Some(agent_message::Msg::Hello(proto::Hello {
            agent_id: id.agent_id.clone(),
            host: Some(common::convert::facts_to_proto(&id.facts)),
            site: id.site.clone(),
            credentials: presented.secret().to_owned(),
            last_seq: queue.last_seq(),
        })),
    };
    if tx.send(hello).await.is_err() {
        return End::Failed("stream closed before hello".into());
    }
    let mut inbound = tokio::select! {
        _ = token.cancelled() => return End::Shutdown,
        r = client.stream(ReceiverStream::new(rx)) => match r {
            Ok(r) => r.into_inner(),
            Err(s) => return ended_by(link, &s, "open stream"),
        },
    };
    let welcome = tokio::select! {
        _ = token.cancelled() => return End::Shutdown,
        m = tokio::time::timeout(WELCOME_TIMEOUT, inbound.message()) => m,
    };
    match welcome {
        Ok(Ok(Some(proto::HubMessage {
            msg: Some(hub_message::Msg::Welcome(w)),
        }))) => {
            queue.welcome(w.stored_seq);
            if w.interval_ms > 0 {
                let wanted =
                    Duration::from_millis(w.interval_ms.into()).max(crate::config::MIN_INTERVAL);
                interval.send_if_modified(|cur| std::mem::replace(cur, wanted) != wanted);
            }
            if !w.credential.is_empty() {
                keep_credential(link, &id.agent_id, &w.credential).await;
            }
            tracing::info!(agent = %id.agent_id, stored_seq = w.stored_seq, tls = link.tls(), "connected to hub");
        }
        Ok(Ok(_)) => return End::Failed("hub did not welcome us".into()),
        Ok(Err(s)) => return ended_by(link, &s, "hello refused"),
        Err(_) => return End::Failed("no welcome in time".into()),
    }
    *welcomed = true;

    let mut symbols: HashMap<Arc<SeriesKey>, u32> = HashMap::new();
    let mut top_version = 0u64;
    let mut top_sent_at: Option<tokio::time::Instant> = None;
    let mut sent = queue.stats().acked_seq;
    // On shutdown the collector stops; the stream keeps going until the queue is
    // empty or the link's drain_timeout passes, so a clean stop loses nothing in flight.
    let drain = tokio::time::sleep(Duration::from_secs(86_400 * 365));
    tokio::pin!(drain);
    let mut draining = false;
    loop {
        // Done only once the collector has stopped (its last batch may still
        // be on the way) and every batch is acked.
        if draining && queue.finished() {
            return End::Shutdown;
        }
        let inflight = sent.saturating_sub(queue.stats().acked_seq) as usize;
        for (seq, rows) in queue.after(sent, WINDOW.saturating_sub(inflight)) {
            let mut batch = encode(seq, &rows, &mut symbols);
            // The first batch of a stream carries the current top list, later
            // ones a changed list at most every TOP_EVERY_MS.
            let due = top_sent_at.is_none_or(|at: tokio::time::Instant| {
                at.elapsed() >= Duration::from_millis(queue::TOP_EVERY_MS as u64)
            });
            if due {
                if let Some((version, list)) = queue.top_since(top_version) {
                    batch.top_processes =
                        list.iter().map(common::convert::process_to_proto).collect();
                    top_version = version;
                    top_sent_at = Some(tokio::time::Instant::now());
                }
            }
            if tx
                .send(AgentMessage {
                    msg: Some(agent_message::Msg::Batch(batch)),
                })
                .await
                .is_err()
            {
                return End::Failed("stream closed while sending".into());
            }
            sent = seq;
        }
        tokio::select! {
            _ = token.cancelled(), if !draining => {
                draining = true;
                drain.as_mut().reset(tokio::time::Instant::now() + link.drain_timeout);
            }
            _ = &mut drain => {
                tracing::warn!(agent = %id.agent_id, pending = queue.stats().pending, "shutdown: hub did not ack everything in time");
                return End::Shutdown;
            }
            _ = queue.notified() => {}
            m = inbound.message() => match m {
                Ok(Some(proto::HubMessage { msg: Some(hub_message::Msg::Ack(a)) })) => queue.ack(a.seq),
                Ok(Some(_)) => {}
                Ok(None) => return End::Failed("hub closed the stream".into()),
                Err(s) if s.code() == tonic::Code::InvalidArgument => {
                    // Our own batches are validated before sending, so this is a
                    // bug or a hub with stricter limits: drop the offending batch
                    // rather than resend it forever.
                    let dropped = queue.reject_head();
                    tracing::error!(agent = %id.agent_id, seq = ?dropped, reason = s.message(), "hub rejected a batch; dropped it");
                    return End::Failed("batch rejected".into());
                }
                Err(s) => return ended_by(link, &s, "stream"),
            },
        }
    }
}

/// Stores the credential the hub issued for our enrolment token. A failed
/// write is loud but not fatal: the credential still works for this run.
async fn keep_credential(link: &Link, agent_id: &str, credential: &str) {
    let creds = &link.credentials;
    match (creds.store(agent_id, credential).await, creds.file()) {
        (Ok(()), Some(path)) => {
            tracing::info!(agent = agent_id, file = %path.display(), "enrolled: the hub issued a credential, stored; the token is no longer needed")
        }
        (Ok(()), None) => tracing::warn!(
            agent = agent_id,
            "enrolled, but credential_file is not set: the credential lives in memory only and a restart needs a new token"
        ),
        (Err(e), path) => tracing::error!(
            agent = agent_id,
            file = ?path,
            error = %e,
            "enrolled, but writing the credential file failed: it lives in memory only until the next restart"
        ),
    }
}

/// Encodes a batch, defining series not yet seen on this stream.
fn encode(seq: u64, rows: &[KeyedRow], symbols: &mut HashMap<Arc<SeriesKey>, u32>) -> proto::Batch {
    let mut batch = proto::Batch {
        seq,
        ..Default::default()
    };
    for (key, ts, v) in rows {
        let next = symbols.len() as u32 + 1;
        let id = *symbols.entry(key.clone()).or_insert_with(|| {
            batch.new_series.push(proto::SeriesDef {
                id: next,
                name: key.name.clone(),
                labels: common::convert::labels_to_proto(&key.labels),
                host: String::new(),
            });
            next
        });
        batch.rows.push(proto::Row {
            series_id: id,
            timestamp_ms: *ts,
            value: *v,
        });
    }
    batch
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_defined_once_per_stream() {
        let a = Arc::new(SeriesKey::new("a"));
        let b = Arc::new(SeriesKey::new("b").label("x", "y"));
        let mut sym = HashMap::new();
        let first = encode(1, &[(a.clone(), 1, 1.0), (b.clone(), 1, 2.0)], &mut sym);
        assert_eq!(first.new_series.len(), 2);
        let second = encode(2, &[(a.clone(), 2, 1.0), (b.clone(), 2, 2.0)], &mut sym);
        assert!(second.new_series.is_empty());
        assert_eq!(second.rows[1].series_id, first.new_series[1].id);
    }
}
