//! The hub's own `/metrics`. Handles are created once and cloned into tasks;
//! label sets are low-cardinality (reasons, outcomes), never host names.

use common::metrics::{Counter, Gauge, Registry, SecondsCounter};

#[derive(Clone)]
pub struct HubMetrics {
    pub registry: Registry,
    pub streams_active: Gauge,
    pub batches_stored: Counter,
    pub batches_duplicate: Counter,
    pub rows_stored: Counter,
    pub commits: Counter,
    pub storage_errors: Counter,
    pub uplink_connected: Gauge,
    pub uplink_frames_sent: Counter,
    pub uplink_frames_acked: Counter,
    pub uplink_outbox_frames: Gauge,
    pub uplink_outbox_dropped: Counter,
    pub uplink_connects: Counter,
    pub buffer_backlog: Gauge,
    pub buffered_bytes: Gauge,
    pub buffer_waits: Counter,
    pub buffer_errors: Counter,
    pub detection_rows: Counter,
    pub detection_skipped: Counter,
    pub detection_events: Counter,
    pub models_saved: Counter,
    pub models_restored: Counter,
    pub host_models_restored: Counter,
    pub models_discarded: Counter,
    pub model_errors: Counter,
    pub bands_stored: Counter,
    pub bands_dropped: Counter,
    pub live_published: Counter,
    pub live_skipped: Counter,
    pub ledger_missing: Gauge,
    pub ledger_agents: Gauge,
    pub ledger_agents_complete: Gauge,
    /// Where the history path's time goes (see [`history_seconds`]).
    pub history_after_commit: SecondsCounter,
    pub history_decode: SecondsCounter,
    pub history_ack: SecondsCounter,
    pub history_commit_wait: SecondsCounter,
}

/// `hostwatch_hub_history_seconds_total{phase}`: time spent in one step of
/// moving rows into history. Steps of one task add up to its busy time, so
/// `rate()` per phase shows which one bounds the path.
pub fn history_seconds(registry: &Registry, phase: &str) -> SecondsCounter {
    registry.seconds(
        "hostwatch_hub_history_seconds_total",
        "Time spent moving rows into history, by step (pg_*: inside the PostgreSQL commit).",
        &[("phase", phase)],
    )
}

impl HubMetrics {
    pub fn new() -> Self {
        let r = Registry::new();
        let batches = |outcome| {
            r.counter(
                "hostwatch_hub_batches_total",
                "Agent batches committed, by outcome (a duplicate is acked but not stored again).",
                &[("outcome", outcome)],
            )
        };
        Self {
            streams_active: r.gauge(
                "hostwatch_hub_ingest_streams",
                "Agent ingest streams currently open.",
                &[],
            ),
            batches_stored: batches("stored"),
            batches_duplicate: batches("duplicate"),
            rows_stored: r.counter(
                "hostwatch_hub_rows_stored_total",
                "Rows written to history.",
                &[],
            ),
            commits: r.counter(
                "hostwatch_hub_commits_total",
                "History transactions committed (each may group many batches).",
                &[],
            ),
            storage_errors: r.counter(
                "hostwatch_hub_storage_errors_total",
                "Failed history transactions; their batches were not acked.",
                &[],
            ),
            uplink_connected: r.gauge(
                "hostwatch_hub_uplink_connected",
                "1 while the edge uplink is up.",
                &[],
            ),
            uplink_frames_sent: r.counter(
                "hostwatch_hub_uplink_frames_sent_total",
                "Frames sent to the edge (resends included).",
                &[],
            ),
            uplink_frames_acked: r.counter(
                "hostwatch_hub_uplink_frames_acked_total",
                "Outbox frames the edge acknowledged.",
                &[],
            ),
            uplink_outbox_frames: r.gauge(
                "hostwatch_hub_uplink_outbox_frames",
                "Frames waiting for the edge's ack.",
                &[],
            ),
            uplink_outbox_dropped: r.counter(
                "hostwatch_hub_uplink_outbox_dropped_total",
                "Frames dropped because the outbox was full while the edge was away.",
                &[],
            ),
            uplink_connects: r.counter(
                "hostwatch_hub_uplink_connects_total",
                "Uplink connections established.",
                &[],
            ),
            buffered_bytes: r.gauge(
                "hostwatch_hub_buffered_bytes",
                "Bytes of agent batches received but not yet durable (bounded by limits.max_buffered_bytes).",
                &[],
            ),
            buffer_waits: r.counter(
                "hostwatch_hub_buffer_waits_total",
                "Batches that waited for room in limits.max_buffered_bytes (history or Redis slower than ingest).",
                &[],
            ),
            buffer_backlog: r.gauge(
                "hostwatch_hub_buffer_backlog",
                "Batches in the Redis ingest stream not yet committed to history.",
                &[],
            ),
            buffer_errors: r.counter(
                "hostwatch_hub_buffer_errors_total",
                "Failed rounds moving batches from Redis to history (retried).",
                &[],
            ),
            detection_rows: r.counter(
                "hostwatch_hub_detection_rows_total",
                "Rows analysed by detection.",
                &[],
            ),
            detection_skipped: r.counter(
                "hostwatch_hub_detection_skipped_rows_total",
                "Rows not analysed: detection fell behind, or the series cap was reached.",
                &[],
            ),
            detection_events: r.counter(
                "hostwatch_hub_anomaly_events_total",
                "Incidents opened by detection.",
                &[],
            ),
            models_saved: r.counter(
                "hostwatch_hub_detection_models_saved_total",
                "Detector model snapshots written (periodically and at shutdown).",
                &[],
            ),
            models_restored: r.counter(
                "hostwatch_hub_detection_models_restored_total",
                "Series whose detector resumed from a snapshot instead of starting cold.",
                &[],
            ),
            host_models_restored: r.counter(
                "hostwatch_hub_detection_host_models_restored_total",
                "Hosts whose multivariate detector resumed from a snapshot instead of starting cold.",
                &[],
            ),
            models_discarded: r.counter(
                "hostwatch_hub_detection_models_discarded_total",
                "Snapshots not used: another format version or another detection config.",
                &[],
            ),
            model_errors: r.counter(
                "hostwatch_hub_detection_model_errors_total",
                "Failed loads or saves of detector model snapshots (detection goes on cold).",
                &[],
            ),
            bands_stored: r.counter(
                "hostwatch_hub_detection_band_points_stored_total",
                "Expected-band points written to history (one per series and minute the band moved).",
                &[],
            ),
            bands_dropped: r.counter(
                "hostwatch_hub_detection_band_points_dropped_total",
                "Expected-band points not written: the store failed or fell behind (charts lack the band there).",
                &[],
            ),
            live_published: r.counter(
                "hostwatch_hub_live_published_total",
                "Host updates and events published on Redis pub/sub (with Redis).",
                &[],
            ),
            live_skipped: r.counter(
                "hostwatch_hub_live_skipped_total",
                "Live updates not published: Redis slow (the bridge fell behind) or failing.",
                &[],
            ),
            ledger_missing: r.gauge(
                "hostwatch_hub_ledger_missing_batches",
                "Batches below agents' highest stored seq that never arrived (dropped by agents).",
                &[],
            ),
            ledger_agents: r.gauge(
                "hostwatch_hub_ledger_agents",
                "Agents in the delivery ledger.",
                &[],
            ),
            ledger_agents_complete: r.gauge(
                "hostwatch_hub_ledger_agents_complete",
                "Agents whose every batch up to their highest seq is in history.",
                &[],
            ),
            history_after_commit: history_seconds(&r, "after_commit"),
            history_decode: history_seconds(&r, "buffer_decode"),
            history_ack: history_seconds(&r, "buffer_ack"),
            history_commit_wait: history_seconds(&r, "buffer_commit_wait"),
            registry: r,
        }
    }

    /// Counts an input rejected for `reason` (a fixed, small set of words).
    pub fn rejected(&self, reason: &'static str) {
        self.registry
            .counter(
                "hostwatch_hub_rejected_total",
                "Agent input refused, by reason; the sender got an error status.",
                &[("reason", reason)],
            )
            .inc();
    }
}

impl Default for HubMetrics {
    fn default() -> Self {
        Self::new()
    }
}
