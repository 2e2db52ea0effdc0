//! What survives a restart, on SQLite and on PostgreSQL: subscriptions,
//! alerts, silences, what each group was told (so repeat_interval goes on
//! rather than starting over), and undelivered notifications.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{self, alert, Receiver, Service, ALICE};

async fn repeat_interval_and_state_survive_a_restart(db_url: &str) {
    let mut c = support::config(db_url);
    c.route.repeat_interval = Duration::from_secs(4);
    let rx = Receiver::start().await;
    let s = Service::start(c.clone()).await;
    s.subscribe(ALICE, support::webhook_sub("ops", "", &rx.url))
        .await;
    s.post_alerts(json!([alert(&[("alertname", "Disk"), ("host", "h1")])]))
        .await;
    let first = rx.wait_delivered(1, Duration::from_secs(10)).await[0].at;
    s.stop().await;

    let s = Service::start(c).await;
    let (_, subs) = s.get("/api/v1/subscriptions", Some(ALICE)).await;
    assert_eq!(subs.as_array().map(Vec::len), Some(1), "subscription kept");
    let (_, alerts) = s.get("/api/v2/alerts", None).await;
    assert_eq!(alerts.as_array().map(Vec::len), Some(1), "alert kept");
    // A restarted Alertmanager would notify again after group_wait; we
    // remember the notification and wait for repeat_interval.
    let d = rx.wait_delivered(2, Duration::from_secs(10)).await;
    let gap = d[1].at - first;
    assert!(
        gap >= Duration::from_millis(3900),
        "repeat came {gap:?} after the first"
    );
    s.stop().await;
}

async fn an_undelivered_notification_survives_a_restart_and_goes_out_once(db_url: &str) {
    let c = support::config(db_url);
    let rx = Receiver::scripted(|_| (503, None)).await;
    let s = Service::start(c.clone()).await;
    s.subscribe(ALICE, support::webhook_sub("ops", "", &rx.url))
        .await;
    s.post_alerts(json!([alert(&[("alertname", "Disk"), ("host", "h1")])]))
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while rx.calls().is_empty() {
        assert!(Instant::now() < deadline, "no attempt within 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    s.stop().await;
    rx.set_script(|_| (200, None));
    let s = Service::start(c).await;
    let d = rx.wait_delivered(1, Duration::from_secs(10)).await;
    assert_eq!(d[0].json()["alerts"][0]["labels"]["alertname"], "Disk");
    rx.stays_at(1, Duration::from_secs(2)).await;
    s.stop().await;
}

#[tokio::test]
async fn sqlite_keeps_repeat_interval_across_restarts() {
    let db = support::sqlite();
    repeat_interval_and_state_survive_a_restart(&db.url).await;
}

#[tokio::test]
async fn sqlite_keeps_undelivered_notifications_across_restarts() {
    let db = support::sqlite();
    an_undelivered_notification_survives_a_restart_and_goes_out_once(&db.url).await;
}

#[tokio::test]
async fn postgres_keeps_repeat_interval_across_restarts() {
    let pg = testkit::Postgres::start().await;
    repeat_interval_and_state_survive_a_restart(pg.url()).await;
}

#[tokio::test]
async fn postgres_keeps_undelivered_notifications_across_restarts() {
    let pg = testkit::Postgres::start().await;
    an_undelivered_notification_survives_a_restart_and_goes_out_once(pg.url()).await;
}
