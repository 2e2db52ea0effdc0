//! The real Prometheus (Debian's package) fires a rule at us as at an
//! Alertmanager, the notification reaches a webhook; amtool, Alertmanager's
//! own CLI, silences and unsilences it.

use std::time::{Duration, Instant};

use testkit::{amtool_async, Prometheus};

use crate::support::{self, Receiver, Service, ALICE};

const RULES: &str = r#"
groups:
  - name: hostwatch-test
    rules:
      - alert: AlwaysFiring
        expr: vector(1)
        labels:
          severity: high
          site: eu
        annotations:
          summary: "a rule that always fires"
"#;

#[tokio::test]
async fn prometheus_fires_through_us_to_a_webhook_and_amtool_silences_it() {
    let db = support::sqlite();
    let mut c = support::config(&db.url);
    c.route.group_interval = Duration::from_millis(500);
    let s = Service::start(c).await;
    let rx = Receiver::start().await;
    s.subscribe(
        ALICE,
        support::webhook_sub("oncall", "site=eu,severity>=high", &rx.url),
    )
    .await;
    let prom = Prometheus::start(s.url.trim_start_matches("http://"), RULES).await;

    let calls = rx.wait_delivered(1, Duration::from_secs(30)).await;
    let body = calls[0].json();
    assert_eq!(body["status"], "firing", "{body}");
    let a = &body["alerts"][0];
    assert_eq!(a["labels"]["alertname"], "AlwaysFiring");
    assert_eq!(a["annotations"]["summary"], "a rule that always fires");
    assert!(
        a["generatorURL"].as_str().unwrap_or("").contains("/graph?"),
        "Prometheus's link comes through: {a}"
    );

    // amtool: add a silence, see it listed and the alert suppressed.
    let out = amtool_async(
        &s.url,
        &[
            "silence",
            "add",
            "alertname=AlwaysFiring",
            "--comment=maintenance",
            "--duration=1h",
            "--author=test",
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "amtool silence add: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(id.len(), 36, "amtool prints the silence id: {id:?}");
    let out = amtool_async(&s.url, &["silence", "query", "-o", "json"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["comment"], "maintenance");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, alerts) = s.get("/api/v2/alerts", None).await;
        if alerts[0]["status"]["state"] == "suppressed" {
            break;
        }
        assert!(Instant::now() < deadline, "not suppressed: {alerts}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A silenced group that changes (its only alert muted) sends nothing.
    let before = rx.delivered().len();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(rx.delivered().len(), before, "nothing while silenced");

    let out = amtool_async(&s.url, &["silence", "expire", &id]).await;
    assert!(
        out.status.success(),
        "amtool silence expire: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = amtool_async(&s.url, &["alert", "query", "-o", "json"]).await;
    assert!(
        out.status.success(),
        "amtool alert query: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let alerts: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(alerts[0]["labels"]["alertname"], "AlwaysFiring", "{alerts}");
    drop(prom);
    s.stop().await;
}
