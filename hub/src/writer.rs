//! The history writer: one actor that owns all writes, so commits are grouped
//! (many agents' batches per transaction) and the ledger check is never racy.
//!
//! When its queue is full, ingest streams wait on `send` — backpressure reaches
//! agents as missing acks, and agents keep their batches. Nothing is dropped here.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::model::StoredRows;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use crate::detection::Detection;
use crate::forecasting::Forecasting;
use crate::metrics::HubMetrics;
use crate::state::State;
use crate::store::{HistoryStore, Outcome, WriteBatch};
use crate::uplink::Outbox;
use crate::{Error, Result};

/// Batches waiting for the writer before ingest streams block.
pub const WRITE_QUEUE_CAPACITY: usize = 2048;
/// Most batches grouped into one transaction.
pub const MAX_GROUP: usize = 2048;

pub struct WriteRequest {
    pub batch: WriteBatch,
    pub site: String,
    pub reply: oneshot::Sender<Result<Outcome>>,
    /// Shared by the requests of one [`Chain`]: set when one of them failed
    /// to commit, so the ones queued after it are refused instead of committed.
    /// Otherwise a later group could commit a higher seq while an earlier one
    /// failed (the database back between two commits), and the retry of the
    /// earlier batches would be taken for resends: a gap in history.
    pub chain: Option<Arc<AtomicBool>>,
}

/// Cloneable handle; the actor stops when every handle is dropped, after
/// committing what was queued.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<WriteRequest>,
}

impl Writer {
    pub fn spawn(
        store: Arc<dyn HistoryStore>,
        state: Arc<State>,
        outbox: Option<Arc<Outbox>>,
        detection: Option<Detection>,
        forecasting: Option<Forecasting>,
        metrics: HubMetrics,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(WRITE_QUEUE_CAPACITY);
        let actor = WriterActor {
            store,
            state,
            outbox,
            detection,
            forecasting,
            metrics,
        };
        let handle = tokio::spawn(actor.run(rx).instrument(tracing::info_span!("writer")));
        (Self { tx }, handle)
    }

    /// Queues batches in the given order, then waits for all of them. Order
    /// matters: the ledger treats a seq at or below the agent's stored seq as a
    /// resend, so one agent's batches must reach the writer in seq order (a
    /// concurrent `join_all` of single writes does not guarantee that).
    pub async fn write_all(&self, batches: Vec<(WriteBatch, String)>) -> Vec<Result<Outcome>> {
        self.submit(batches, &Chain::default())
            .await
            .outcomes()
            .await
    }

    /// Queues batches in the given order without waiting for their commits,
    /// so a caller can queue the next group while this one commits. Every
    /// group queued under one `chain` is refused once any of them failed:
    /// a later group must never commit past an earlier failure.
    pub async fn submit(&self, batches: Vec<(WriteBatch, String)>, chain: &Chain) -> Pending {
        let mut waiting = Vec::with_capacity(batches.len());
        for (batch, site) in batches {
            let (reply, rx) = oneshot::channel();
            let request = WriteRequest {
                batch,
                site,
                reply,
                chain: Some(chain.0.clone()),
            };
            let sent = self.tx.send(request).await;
            waiting.push(sent.ok().map(|()| rx));
        }
        Pending(waiting)
    }

    /// Queues a batch and waits until it is committed (or found a duplicate).
    pub async fn write(&self, batch: WriteBatch, site: String) -> Result<Outcome> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(WriteRequest {
                batch,
                site,
                reply,
                chain: None,
            })
            .await
            .map_err(|_| Error::ShuttingDown)?;
        rx.await.map_err(|_| Error::ShuttingDown)?
    }
}

/// Groups of requests that stand or fall together ([`Writer::submit`]).
#[derive(Clone, Default)]
pub struct Chain(Arc<AtomicBool>);

/// The outcomes of one [`Writer::submit`], in order.
pub struct Pending(Vec<Option<oneshot::Receiver<Result<Outcome>>>>);

impl Pending {
    pub async fn outcomes(self) -> Vec<Result<Outcome>> {
        let mut out = Vec::with_capacity(self.0.len());
        for w in self.0 {
            out.push(match w {
                Some(rx) => rx.await.unwrap_or(Err(Error::ShuttingDown)),
                None => Err(Error::ShuttingDown),
            });
        }
        out
    }
}

struct WriterActor {
    store: Arc<dyn HistoryStore>,
    state: Arc<State>,
    outbox: Option<Arc<Outbox>>,
    detection: Option<Detection>,
    forecasting: Option<Forecasting>,
    metrics: HubMetrics,
}

impl WriterActor {
    async fn run(self, mut rx: mpsc::Receiver<WriteRequest>) {
        let mut group = Vec::with_capacity(MAX_GROUP);
        while rx.recv_many(&mut group, MAX_GROUP).await > 0 {
            self.commit(std::mem::take(&mut group)).await;
        }
        tracing::debug!("writer drained and stopped");
    }

    async fn commit(&self, group: Vec<WriteRequest>) {
        // Split the requests instead of cloning every batch's rows for the store.
        let mut batches = Vec::with_capacity(group.len());
        let mut replies = Vec::with_capacity(group.len());
        let mut chains = Vec::new();
        for req in group {
            if let Some(chain) = &req.chain {
                if chain.load(Ordering::SeqCst) {
                    let _ = req.reply.send(Err(Error::Server(
                        "an earlier batch of this run failed".into(),
                    )));
                    continue;
                }
                chains.push(chain.clone());
            }
            batches.push(req.batch);
            replies.push((req.site, req.reply));
        }
        if batches.is_empty() {
            return;
        }
        match self.store.commit(&batches).await {
            Ok(outcomes) => {
                let after = std::time::Instant::now();
                self.metrics.commits.inc();
                let mut uplink = Vec::new();
                let mut done = Vec::with_capacity(replies.len());
                for ((batch, (site, reply)), outcome) in
                    batches.into_iter().zip(replies).zip(outcomes)
                {
                    if outcome == Outcome::Stored {
                        self.metrics.batches_stored.inc();
                        self.metrics.rows_stored.add(batch.rows.len() as u64);
                        self.state.apply(&batch.host, batch.seq, &batch.rows);
                        uplink.push(StoredRows {
                            host: batch.host,
                            site,
                            rows: batch.rows,
                        });
                    } else {
                        self.metrics.batches_duplicate.inc();
                    }
                    done.push((reply, outcome));
                }
                // Into the outbox before the replies: once a batch counts as
                // done (and the Redis buffer forgets it), its frame is queued
                // for the edge too.
                if !uplink.is_empty() {
                    // One shared frame for the uplink and detection: no copies.
                    let frame = Arc::new(uplink);
                    if let Some(outbox) = &self.outbox {
                        outbox.push(frame.clone()).await;
                    }
                    if let Some(forecasting) = &self.forecasting {
                        forecasting.offer(frame.clone());
                    }
                    if let Some(detection) = &self.detection {
                        detection.offer(frame);
                    }
                }
                for (reply, outcome) in done {
                    // The stream may have gone away meanwhile; the data is stored
                    // and the agent learns that from Welcome on reconnect.
                    let _ = reply.send(Ok(outcome));
                }
                self.metrics.history_after_commit.since(after);
            }
            Err(e) => {
                for chain in chains {
                    chain.store(true, Ordering::SeqCst);
                }
                self.metrics.storage_errors.inc();
                tracing::error!(error = %e, batches = batches.len(), "history commit failed; batches not acked");
                for (_, reply) in replies {
                    let _ = reply.send(Err(Error::Server(format!("commit failed: {e}"))));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use common::model::SeriesKey;

    use super::*;
    use crate::config::PostgresConfig;
    use crate::store::PostgresStore;

    /// The consumer queues a round while the one before commits; a failed
    /// round must stop every later one of its chain, or a later seq would
    /// commit and the retried earlier batch would be taken for a resend.
    #[tokio::test]
    async fn a_failed_group_refuses_every_later_group_of_its_chain() {
        let pg = testkit::Postgres::start().await;
        let config = PostgresConfig {
            maintenance_interval: Duration::ZERO,
            ..Default::default()
        };
        let store = Arc::new(PostgresStore::open(pg.url(), &config).await.expect("open"));
        let (writer, _task) = Writer::spawn(
            store.clone(),
            Arc::new(State::new()),
            None,
            None,
            None,
            HubMetrics::new(),
        );
        let key = Arc::new(SeriesKey::new("m"));
        let batch = |seq, t| {
            let rows = vec![(key.clone(), t, 1.0)];
            let b = WriteBatch {
                agent_id: "a".into(),
                host: "h".into(),
                seq,
                rows,
            };
            (b, "s".to_owned())
        };
        let now = common::now_ms();
        let chain = Chain::default();
        // Before PostgreSQL's earliest timestamp: the COPY fails.
        let first = writer.submit(vec![batch(1, -10i64.pow(15))], &chain).await;
        // Give the writer time to fail the first group on its own.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let second = writer.submit(vec![batch(2, now)], &chain).await;
        assert!(first.outcomes().await[0].is_err());
        assert!(
            second.outcomes().await[0].is_err(),
            "refused, not committed"
        );
        assert_eq!(store.stored_seq("a").await.expect("ledger"), 0);

        // The retry runs under a new chain and stores both, in order.
        let retry = writer
            .submit(
                vec![batch(1, now - 1_000), batch(2, now)],
                &Chain::default(),
            )
            .await;
        let outcomes: Vec<_> = retry.outcomes().await.into_iter().flatten().collect();
        assert_eq!(outcomes, vec![Outcome::Stored, Outcome::Stored]);
        assert_eq!(store.count_rows("h").await.expect("count"), 2);
    }
}
