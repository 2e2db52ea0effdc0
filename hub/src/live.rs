//! Redis pub/sub for live subscribers outside the hub (edge replicas, a
//! dashboard of our own or someone's script): with Redis configured, every
//! host update and anomaly event the hub's own live watchers get is also
//! published, as JSON:
//!
//! - `hostwatch:live:<site>:<host>`: the host's status after each stored
//!   batch (`HostStatus`: headline CPU/memory/disk, seq, rows, completeness
//!   inputs); `PSUBSCRIBE hostwatch:live:eu:*` follows one site;
//! - `hostwatch:events:<site>`: each anomaly event as it opens, worsens and
//!   closes (the same event, by id, several times).
//!
//! Pub/sub is fire-and-forget by nature: a subscriber that is not connected
//! misses messages (history and `Query` have everything). When Redis is slow
//! the bridge skips updates rather than queueing them (counted), so it never
//! holds the write path back.

use std::sync::Arc;

use redis::aio::ConnectionManager;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::metrics::HubMetrics;
use crate::state::State;

pub const HOST_CHANNEL_PREFIX: &str = "hostwatch:live:";
pub const EVENT_CHANNEL_PREFIX: &str = "hostwatch:events:";

/// Forwards the state's live updates to Redis until `token` is cancelled.
pub async fn publish(
    state: Arc<State>,
    conn: ConnectionManager,
    metrics: HubMetrics,
    token: CancellationToken,
) {
    let mut hosts = state.subscribe();
    let mut events = state.subscribe_events();
    loop {
        let (channel, payload) = tokio::select! {
            _ = token.cancelled() => return,
            h = hosts.recv() => match h {
                Ok(h) => (
                    format!("{HOST_CHANNEL_PREFIX}{}:{}", h.site, h.host),
                    serde_json::to_string(&h),
                ),
                Err(RecvError::Lagged(n)) => {
                    metrics.live_skipped.add(n);
                    continue;
                }
                Err(RecvError::Closed) => return,
            },
            e = events.recv() => match e {
                Ok(e) => (
                    format!("{EVENT_CHANNEL_PREFIX}{}", e.site),
                    serde_json::to_string(&e),
                ),
                Err(RecvError::Lagged(n)) => {
                    metrics.live_skipped.add(n);
                    continue;
                }
                Err(RecvError::Closed) => return,
            },
        };
        let Ok(payload) = payload else {
            metrics.live_skipped.inc();
            continue;
        };
        let mut c = conn.clone();
        let sent: redis::RedisResult<i64> = redis::cmd("PUBLISH")
            .arg(&channel)
            .arg(payload)
            .query_async(&mut c)
            .await;
        match sent {
            Ok(_) => metrics.live_published.inc(),
            Err(e) => {
                metrics.live_skipped.inc();
                tracing::debug!(error = %e, channel, "publishing a live update failed");
            }
        }
    }
}
