//! One feed connection. After the hello and the welcome, a send task pumps
//! entries (the replay from the log, then live ones, within the ack window)
//! and a receive task reads acks. When the receive task ends (the client left
//! or broke the protocol) it tells the send task, which says why in a close
//! frame; whichever task survives is then aborted.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use common::metrics::Gauge;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, oneshot, watch};
use tracing::Instrument;

use super::log::FeedEntry;
use super::{parse, replay, FromClient, ToClient, FEED_WINDOW, HELLO_TIMEOUT};
use crate::Edge;

/// How long the send task may take to deliver a close frame once the
/// receive task has ended.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Entries read from the log at a time while catching up.
const READ_STEP: usize = 256;
/// Close code "policy violation": the client broke the protocol.
const POLICY_VIOLATION: u16 = 1008;
/// Close code "going away": the edge is stopping.
const GOING_AWAY: u16 = 1001;
/// Close reasons are limited to 123 bytes by the WebSocket protocol.
const MAX_CLOSE_REASON: usize = 123;

type Sink = SplitSink<WebSocket, Message>;
type Stream = SplitStream<WebSocket>;

/// The socket is gone (or the feed ended): nothing more to send.
struct Gone;

/// Why the edge closes a connection: the close frame, and the reason it is
/// counted under in `hostwatch_edge_feed_errors_total` (none for a shutdown).
struct Close {
    code: u16,
    text: String,
    counted_as: Option<&'static str>,
}

impl Close {
    fn violation(reason: &'static str, text: impl Into<String>) -> Self {
        Self {
            code: POLICY_VIOLATION,
            text: text.into(),
            counted_as: Some(reason),
        }
    }

    fn going_away() -> Self {
        Self {
            code: GOING_AWAY,
            text: "the edge is shutting down".into(),
            counted_as: None,
        }
    }
}

/// `hostwatch_edge_feed_clients`, one while this connection lives.
struct Connected(Gauge);

impl Connected {
    fn new(g: &Gauge) -> Self {
        g.add(1.0);
        Self(g.clone())
    }
}

impl Drop for Connected {
    fn drop(&mut self) {
        self.0.add(-1.0);
    }
}

pub(super) async fn session(socket: WebSocket, edge: Arc<Edge>) {
    let _connected = Connected::new(&edge.metrics.feed_clients);
    let (mut sink, mut stream) = socket.split();
    let hello = tokio::select! {
        h = tokio::time::timeout(HELLO_TIMEOUT, next_message(&mut stream)) => h,
        _ = edge.shutdown.cancelled() => return close(&mut sink, Close::going_away(), &edge).await,
    };
    let (epoch, after) = match hello {
        Ok(Some(Ok(FromClient::Hello { epoch, after }))) => (epoch, after),
        Ok(Some(Ok(FromClient::Ack { .. }))) => {
            let c = Close::violation("unexpected", "expected a hello first, got an ack");
            return close(&mut sink, c, &edge).await;
        }
        Ok(Some(Err(text))) => {
            return close(&mut sink, Close::violation("malformed", text), &edge).await
        }
        Ok(None) => {
            edge.metrics.feed_error("no_hello");
            tracing::debug!("feed client left before its hello");
            return;
        }
        Err(_) => {
            let c = Close::violation("no_hello", "no hello within 10 s");
            return close(&mut sink, c, &edge).await;
        }
    };

    // Subscribed in the same instant the bounds are read: whatever is logged
    // later reaches `live`, and the pump skips what it already sent from the log.
    let (live, bounds) = edge.fleet.feed_subscribe();
    let edge_epoch = edge.fleet.feed_epoch();
    let plan = replay(edge_epoch, bounds, epoch.as_deref(), after);
    if plan.gap {
        edge.metrics.feed_gaps.inc();
        tracing::warn!(
            after,
            first_seq = bounds.first_seq,
            "feed client's position has left the log; the entries in between are lost to it"
        );
    }
    let welcome = ToClient::Welcome {
        epoch: edge_epoch,
        first_seq: bounds.first_seq,
        last_seq: bounds.last_seq,
        gap: plan.gap,
    };
    if send_json(&mut sink, &welcome).await.is_err() {
        return;
    }
    tracing::info!(
        epoch = ?epoch,
        after,
        from = plan.from,
        last_seq = bounds.last_seq,
        gap = plan.gap,
        "feed client connected"
    );

    // Before anything is sent, the client may ack up to where the replay
    // starts (its own position); those acks change nothing.
    let start = plan.from.saturating_sub(1);
    let sent = Arc::new(AtomicU64::new(start));
    let (ack_tx, ack_rx) = watch::channel(start);
    let (stop_tx, stop_rx) = oneshot::channel();
    let pump = Pump {
        edge: edge.clone(),
        sink,
        live,
        acks: ack_rx,
        sent: sent.clone(),
        in_flight: VecDeque::new(),
        next: plan.from,
    };
    let mut send_task = tokio::spawn(send_side(pump, stop_rx).in_current_span());
    let mut recv_task = tokio::spawn(receive_side(stream, ack_tx, sent, stop_tx).in_current_span());
    tokio::select! {
        _ = &mut send_task => recv_task.abort(),
        _ = &mut recv_task => {
            // The send task has been told and is closing; a client that does
            // not read does not get to keep it.
            if tokio::time::timeout(CLOSE_GRACE, &mut send_task).await.is_err() {
                send_task.abort();
            }
        }
    }
    tracing::info!("feed client gone");
}

/// Sends entries until the socket goes, the receive side stops it (with a
/// reason to close, or none when the client left) or the edge shuts down.
async fn send_side(mut pump: Pump, mut stop: oneshot::Receiver<Close>) {
    let shutdown = pump.edge.shutdown.clone();
    let why = tokio::select! {
        _ = pump.run() => return,
        s = &mut stop => match s {
            Ok(why) => why,
            Err(_) => return,
        },
        _ = shutdown.cancelled() => Close::going_away(),
    };
    close(&mut pump.sink, why, &pump.edge).await;
}

/// Reads acks; ends at the first message that is not a well-formed ack, and
/// tells the send side why.
async fn receive_side(
    mut stream: Stream,
    acks: watch::Sender<u64>,
    sent: Arc<AtomicU64>,
    stop: oneshot::Sender<Close>,
) {
    let why = loop {
        match next_message(&mut stream).await {
            // The client left; dropping `stop` tells the send side.
            None => return,
            Some(Ok(FromClient::Ack { seq })) => {
                if seq > sent.load(Ordering::Acquire) {
                    break Close::violation(
                        "bad_ack",
                        format!("ack of seq {seq}, which was not sent"),
                    );
                }
                acks.send_if_modified(|acked| {
                    let newer = seq > *acked;
                    if newer {
                        *acked = seq;
                    }
                    newer
                });
            }
            Some(Ok(FromClient::Hello { .. })) => {
                break Close::violation("unexpected", "a second hello")
            }
            Some(Err(text)) => break Close::violation("malformed", text),
        }
    };
    let _ = stop.send(why);
}

/// The send side's state: where it is in the seqs, and the window.
struct Pump {
    edge: Arc<Edge>,
    sink: Sink,
    live: broadcast::Receiver<Arc<FeedEntry>>,
    acks: watch::Receiver<u64>,
    /// The highest seq sent, for the receive side to check acks against.
    sent: Arc<AtomicU64>,
    /// Seqs sent and not acked yet, oldest first; at most `FEED_WINDOW`.
    in_flight: VecDeque<u64>,
    /// The next seq to send.
    next: u64,
}

impl Pump {
    /// The replay, then live entries; the log again whenever the live
    /// channel lagged or skipped ahead.
    async fn run(&mut self) -> Result<(), Gone> {
        self.catch_up().await?;
        loop {
            match self.live.recv().await {
                // Sent already, from the log.
                Ok(e) if e.seq < self.next => {}
                Ok(e) if e.seq == self.next => self.send(&e).await?,
                Ok(_) => self.catch_up().await?,
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(
                        missed,
                        "feed client behind the live channel; reading the log"
                    );
                    self.catch_up().await?;
                }
                Err(RecvError::Closed) => return Err(Gone),
            }
        }
    }

    /// Sends what the log holds from `next` on until caught up with its
    /// newest entry. Entries that left the log before they could be sent are
    /// skipped and counted as a gap.
    async fn catch_up(&mut self) -> Result<(), Gone> {
        loop {
            let room = self.wait_for_room().await?;
            let (first_seq, entries) = self.edge.fleet.feed_read(self.next, room.min(READ_STEP));
            if first_seq > self.next {
                self.edge.metrics.feed_gaps.inc();
                tracing::warn!(
                    from = self.next,
                    to = first_seq - 1,
                    "feed entries left the log before they were sent"
                );
                self.next = first_seq;
            }
            if entries.is_empty() {
                return Ok(());
            }
            for e in &entries {
                self.send(e).await?;
            }
        }
    }

    async fn send(&mut self, e: &FeedEntry) -> Result<(), Gone> {
        self.wait_for_room().await?;
        // Published before the message leaves, so an ack racing back is
        // never taken for one of an entry not sent.
        self.sent.store(e.seq, Ordering::Release);
        self.in_flight.push_back(e.seq);
        self.next = e.seq + 1;
        let msg = ToClient::Event {
            seq: e.seq,
            hub: &e.hub,
            event: &e.event,
        };
        self.edge.metrics.feed_sent.inc();
        send_json(&mut self.sink, &msg).await
    }

    /// Waits until fewer than `FEED_WINDOW` entries are unacked; the room left.
    async fn wait_for_room(&mut self) -> Result<usize, Gone> {
        loop {
            let acked = *self.acks.borrow_and_update();
            while self.in_flight.front().is_some_and(|s| *s <= acked) {
                self.in_flight.pop_front();
            }
            if self.in_flight.len() < FEED_WINDOW {
                return Ok(FEED_WINDOW - self.in_flight.len());
            }
            // The receive side is gone when its sender is dropped.
            self.acks.changed().await.map_err(|_| Gone)?;
        }
    }
}

/// The next client message; `None` once the socket ended, `Err` with what to
/// tell the client for anything that is not one.
async fn next_message(stream: &mut Stream) -> Option<Result<FromClient, String>> {
    loop {
        match stream.next().await? {
            Ok(Message::Text(t)) => return Some(parse(&t)),
            Ok(Message::Binary(_)) => {
                return Some(Err(
                    "binary messages are not part of the feed protocol".into()
                ))
            }
            Ok(Message::Close(_)) | Err(_) => return None,
            // Answered by the WebSocket layer itself.
            Ok(Message::Ping(_) | Message::Pong(_)) => {}
        }
    }
}

async fn send_json(sink: &mut Sink, msg: &ToClient<'_>) -> Result<(), Gone> {
    let text = serde_json::to_string(msg).map_err(|e| {
        tracing::error!(error = %e, "feed message not serializable");
        Gone
    })?;
    sink.send(Message::Text(text.into()))
        .await
        .map_err(|_| Gone)
}

async fn close(sink: &mut Sink, why: Close, edge: &Edge) {
    if let Some(reason) = why.counted_as {
        edge.metrics.feed_error(reason);
        tracing::warn!(reason, detail = %why.text, "closing feed connection");
    }
    let frame = CloseFrame {
        code: why.code,
        reason: truncate(&why.text, MAX_CLOSE_REASON).into(),
    };
    let _ = sink.send(Message::Close(Some(frame))).await;
}

/// `text` cut to at most `max` bytes, at a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    #[test]
    fn close_reasons_are_cut_at_a_character_boundary() {
        assert_eq!(super::truncate("short", 123), "short");
        assert_eq!(super::truncate("ééé", 5), "éé");
        assert_eq!(super::truncate(&"x".repeat(200), 123).len(), 123);
    }
}
