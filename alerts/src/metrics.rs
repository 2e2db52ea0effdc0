//! The alert service's own `/metrics`.

use common::metrics::{Counter, Gauge, Registry};

use crate::model::Origin;

#[derive(Clone)]
pub struct AlertMetrics {
    pub registry: Registry,
    pub alerts_firing: Gauge,
    pub alerts_held: Gauge,
    pub groups: Gauge,
    pub notifications: Counter,
    pub engine_errors: Counter,
    pub outbox_pending: Gauge,
    pub feed_connected: Gauge,
    pub feed_events: Counter,
    pub feed_gaps: Counter,
}

impl AlertMetrics {
    pub fn new(registry: Registry) -> Self {
        let r = &registry;
        Self {
            alerts_firing: r.gauge("hostwatch_alerts_firing", "Alerts firing now.", &[]),
            alerts_held: r.gauge(
                "hostwatch_alerts_held",
                "Alerts in memory, firing or recently resolved.",
                &[],
            ),
            groups: r.gauge("hostwatch_alerts_groups", "Notification groups.", &[]),
            notifications: r.counter(
                "hostwatch_alerts_notifications_total",
                "Notifications queued for delivery (one per group flush).",
                &[],
            ),
            engine_errors: r.counter(
                "hostwatch_alerts_engine_errors_total",
                "Notifications that could not be queued (database errors); retried next tick.",
                &[],
            ),
            outbox_pending: r.gauge(
                "hostwatch_alerts_outbox_pending",
                "Deliveries waiting in the outbox.",
                &[],
            ),
            feed_connected: r.gauge(
                "hostwatch_alerts_feed_connected",
                "1 while the edge's event feed is connected.",
                &[],
            ),
            feed_events: r.counter(
                "hostwatch_alerts_feed_events_total",
                "Anomaly events received from the edge's feed.",
                &[],
            ),
            feed_gaps: r.counter(
                "hostwatch_alerts_feed_gaps_total",
                "Reconnects where the edge no longer held every event since our position.",
                &[],
            ),
            registry,
        }
    }

    pub fn received(&self, origin: Origin) {
        self.registry
            .counter(
                "hostwatch_alerts_received_total",
                "Alert reports received, by origin.",
                &[("origin", origin.as_str())],
            )
            .inc();
    }

    pub fn rejected(&self, reason: &'static str) {
        self.registry
            .counter(
                "hostwatch_alerts_rejected_total",
                "Alert reports, silences or subscriptions refused, by reason.",
                &[("reason", reason)],
            )
            .inc();
    }

    /// One delivery attempt's outcome: delivered, retry, failed.
    pub fn delivery(&self, channel: &'static str, outcome: &'static str) {
        self.registry
            .counter(
                "hostwatch_alerts_deliveries_total",
                "Delivery attempts by channel and outcome (delivered, retry, failed).",
                &[("channel", channel), ("outcome", outcome)],
            )
            .inc();
    }

    pub fn refused_target(&self) {
        self.registry
            .counter(
                "hostwatch_alerts_refused_targets_total",
                "Webhook deliveries refused because the target is a private, loopback or link-local address.",
                &[],
            )
            .inc();
    }
}
