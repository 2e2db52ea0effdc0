//! The edge's own `/metrics`.

use common::metrics::{Counter, Gauge, Registry};

#[derive(Clone)]
pub struct EdgeMetrics {
    pub registry: Registry,
    pub hubs_connected: Gauge,
    pub frames_applied: Counter,
    pub frames_duplicate: Counter,
    pub rows_received: Counter,
    pub remote_queries: Counter,
    pub feed_clients: Gauge,
    pub feed_sent: Counter,
    pub feed_gaps: Counter,
}

impl EdgeMetrics {
    pub fn new(registry: Registry) -> Self {
        let r = &registry;
        Self {
            hubs_connected: r.gauge(
                "hostwatch_edge_hubs_connected",
                "Hub uplinks currently connected.",
                &[],
            ),
            frames_applied: r.counter(
                "hostwatch_edge_frames_applied_total",
                "Uplink batch frames applied and acked.",
                &[],
            ),
            frames_duplicate: r.counter(
                "hostwatch_edge_frames_duplicate_total",
                "Uplink frames at or below the acked seq (resends), acked and ignored.",
                &[],
            ),
            rows_received: r.counter("hostwatch_edge_rows_total", "Rows received from hubs.", &[]),
            remote_queries: r.counter(
                "hostwatch_edge_remote_queries_total",
                "Range queries answered by asking the owning hub over its uplink.",
                &[],
            ),
            feed_clients: r.gauge(
                "hostwatch_edge_feed_clients",
                "Clients connected to /api/v1/events/feed.",
                &[],
            ),
            feed_sent: r.counter(
                "hostwatch_edge_feed_sent_total",
                "Event feed entries sent (replays included).",
                &[],
            ),
            feed_gaps: r.counter(
                "hostwatch_edge_feed_gaps_total",
                "Times entries a feed client had not seen had left the log before they could be sent.",
                &[],
            ),
            registry,
        }
    }

    /// Counts an event-feed connection refused or closed for `reason`.
    pub fn feed_error(&self, reason: &'static str) {
        self.registry
            .counter(
                "hostwatch_edge_feed_errors_total",
                "Event feed connections refused (unauthorized) or closed for a protocol error, by reason.",
                &[("reason", reason)],
            )
            .inc();
    }

    /// Counts an uplink refused or cut for `reason`.
    pub fn uplink_error(&self, reason: &'static str) {
        self.registry
            .counter(
                "hostwatch_edge_uplink_errors_total",
                "Uplink connections refused or ended by a protocol error, by reason.",
                &[("reason", reason)],
            )
            .inc();
    }
}
