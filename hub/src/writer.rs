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
pub const WRITE_QUEUE_CAPACITY: usize = 1024;
/// Most batches grouped into one transaction.
pub const MAX_GROUP: usize = 1024;

pub struct WriteRequest {
    pub batch: WriteBatch,
    pub site: String,
    pub reply: oneshot::Sender<Result<Outcome>>,
    /// Shared by the requests of one `write_all`: set when one of them failed
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
        let mut waiting = Vec::with_capacity(batches.len());
        let chain = Arc::new(AtomicBool::new(false));
        for (batch, site) in batches {
            let (reply, rx) = oneshot::channel();
            let request = WriteRequest {
                batch,
                site,
                reply,
                chain: Some(chain.clone()),
            };
            let sent = self.tx.send(request).await;
            waiting.push(sent.map(|()| rx));
        }
        let mut out = Vec::with_capacity(waiting.len());
        for w in waiting {
            out.push(match w {
                Ok(rx) => rx.await.unwrap_or(Err(Error::ShuttingDown)),
                Err(_) => Err(Error::ShuttingDown),
            });
        }
        out
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
