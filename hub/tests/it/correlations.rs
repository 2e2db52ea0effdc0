//! The anomaly/load correlation through the real hub: the actor samples the
//! hosts' CPU load from the state, analyses on its schedule, and
//! `Query.Correlations` (what the uplink's correlations request also
//! answers) carries the same report as the hub's own HTTP JSON, labelled
//! with the hub's identity.

use std::time::Duration;

use crate::support::{def, row, RawAgent, TestHub};

#[tokio::test]
async fn query_correlations_carries_the_newest_report_with_the_hubs_identity() {
    let hub = TestHub::start_with(|c| {
        c.site = "lab".into();
        c.hub_id = "hub-lab".into();
        // Analyse every second over the last hour, sampling load often, so
        // a report naming both hosts comes soon.
        c.correlation = common::config::parse(
            r#"
            every = "1s"
            window = "1h"
            sample_every = "100ms"
            "#,
            "correlation.toml".as_ref(),
        )
        .expect("correlation config");
    })
    .await;
    let (mut a, _) = RawAgent::connect(&hub, "busy").await;
    let (mut b, _) = RawAgent::connect(&hub, "idle").await;
    for (agent, cpu) in [(&mut a, 0.75), (&mut b, 0.25)] {
        agent
            .send(proto::Batch {
                seq: 1,
                new_series: vec![def(1, "system.cpu.utilization")],
                rows: vec![row(1, cpu)],
                top_processes: vec![],
            })
            .await;
        assert_eq!(agent.reply().await.expect("ack"), 1);
    }

    let mut q = hub.query().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let got = loop {
        let got = q
            .correlations(proto::CorrelationsRequest {})
            .await
            .expect("correlations")
            .into_inner();
        if got
            .report
            .as_ref()
            .is_some_and(|r| r.fleet.as_ref().is_some_and(|f| f.n == 2))
        {
            break got;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no report over both hosts: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!((got.hub_id.as_str(), got.site.as_str()), ("hub-lab", "lab"));
    assert_eq!((got.every_s, got.window_s), (1.0, 3600.0));
    let r = got.report.expect("report");
    assert_eq!(r.window_end_ms - r.window_start_ms, 3_600_000, "{r:?}");
    assert!(r.load_metric.starts_with("system.cpu.utilization"));
    // Loads as sent; no anomalies, so the rates are constant and no
    // correlation is computed (null, not NaN), and nobody tops the list.
    let mut loads: Vec<(&str, &str, f64, u32)> = r
        .hosts
        .iter()
        .map(|h| {
            (
                h.host.as_str(),
                h.site.as_str(),
                (h.mean_load * 1e9).round() / 1e9,
                h.events,
            )
        })
        .collect();
    loads.sort_by(|x, y| x.0.cmp(y.0));
    assert_eq!(
        loads,
        [("busy", "test", 0.75, 0), ("idle", "test", 0.25, 0)]
    );
    assert!(r.hosts.iter().all(|h| h.load_samples >= 1));
    let fleet = r.fleet.expect("fleet");
    assert_eq!((fleet.pearson, fleet.spearman), (None, None));
    assert_eq!(r.sites.len(), 1);
    assert_eq!(r.sites[0].site, "test");
    assert!(r.top_per_load.is_empty());
    assert_eq!(r.events, 0);

    // The hub's HTTP JSON says the same.
    let page = hub.get("/api/v1/correlations").await;
    let body = page.split("\r\n\r\n").nth(1).expect("a body");
    let json: serde_json::Value = serde_json::from_str(body).expect("json");
    assert_eq!(json["every_s"], 1.0);
    assert!(json["report"]["fleet"]["n"].as_u64() >= Some(2), "{json}");
    hub.stop().await;
}

#[tokio::test]
async fn with_the_analysis_off_the_answer_says_so_and_has_no_report() {
    let hub = TestHub::start_with(|c| c.correlation.every = Duration::ZERO).await;
    let got = hub
        .query()
        .await
        .correlations(proto::CorrelationsRequest {})
        .await
        .expect("correlations")
        .into_inner();
    assert_eq!(got.every_s, 0.0);
    assert!(got.report.is_none());
    // hub_id defaults to the site.
    assert_eq!(got.hub_id, got.site);
    hub.stop().await;
}
