//! The demo wiring (agent → hub → uplink → edge → gateway API): hosts are
//! listed, the live WebSocket pushes an update for new data, history ranges
//! come back (through the uplink request path), and the standalone gateway
//! serves the same API from the hub's gRPC Query service.

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::support::eventually;

async fn get_json(url: &str) -> Value {
    get_json_as(url, None).await
}

/// As `get_json`, with `Authorization: Bearer TOKEN` when given.
async fn get_json_as(url: &str, token: Option<&str>) -> Value {
    let mut req = reqwest::Client::new().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert!(resp.status().is_success(), "GET {url}: {}", resp.status());
    resp.json().await.expect("json body")
}

async fn hosts_at_least(base: &str, n: usize, token: Option<&str>) -> Option<Vec<Value>> {
    let v = get_json_as(&format!("{base}/api/v1/hosts"), token).await;
    let hosts = v.as_array()?.clone();
    (hosts.len() >= n && hosts.iter().all(|h| h["cpu_percent"].is_number())).then_some(hosts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_serves_hosts_live_updates_and_history() {
    let token = CancellationToken::new();
    let http = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let config = hostwatch::demo::DemoConfig {
        simulate: 2,
        sites: 2,
        interval: Duration::from_millis(200),
        collect_local: false,
        ..Default::default()
    };
    let (addrs, done) = hostwatch::demo::start(config, http, token.clone())
        .await
        .expect("demo starts");
    let base = format!("http://{}", addrs.dashboard);

    let hosts = eventually(Duration::from_secs(20), "two hosts with values", || {
        hosts_at_least(&base, 2, None)
    })
    .await;
    let sites: std::collections::BTreeSet<_> = hosts
        .iter()
        .map(|h| h["site"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(sites.len(), 2, "hosts spread over two sites: {hosts:?}");
    let host = hosts[0]["host"].as_str().expect("host name").to_owned();

    // Live: a snapshot first, then an update pushed for new data.
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/api/v1/live", addrs.dashboard))
            .await
            .expect("websocket");
    let mut kinds = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while kinds.len() < 2 {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("live message in time");
        if let Some(Ok(Message::Text(t))) = msg {
            let v: Value = serde_json::from_str(&t).expect("json message");
            kinds.push(v["type"].as_str().unwrap_or("").to_owned());
            if v["type"] == "host" {
                assert!(v["host"]["last_seen_ms"].as_i64().unwrap_or(0) > 0);
            }
        }
    }
    assert_eq!(kinds, vec!["snapshot", "host"]);

    let series = get_json(&format!("{base}/api/v1/hosts/{host}/series")).await;
    assert!(series
        .as_array()
        .is_some_and(|s| s.iter().any(|x| x["name"] == "system.cpu.utilization")));

    // The default range (15 min) is older than the edge's memory, so the edge
    // asks the hub down the uplink.
    let range = get_json(&format!(
        "{base}/api/v1/series?host={host}&name=system.cpu.utilization"
    ))
    .await;
    let total = range
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|s| s["labels"].as_object().is_some_and(|l| l.is_empty()))
        })
        .expect("total cpu series");
    assert!(total["points"].as_array().is_some_and(|p| !p.is_empty()));
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("hostwatch_edge_hubs_connected 1"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("hostwatch_edge_remote_queries_total 0"),
        "{metrics}"
    );

    // Bands come from the hub's history down the uplink (none yet: the
    // detectors are still warming up, but the path answers).
    let bands = get_json(&format!(
        "{base}/api/v1/bands?host={host}&name=system.cpu.utilization"
    ))
    .await;
    assert!(bands.is_array(), "{bands}");
    let events = get_json(&format!("{base}/api/v1/events?limit=10")).await;
    assert!(events.is_array(), "{events}");
    // The correlation comes down the uplink, labelled with the hub (its
    // report may still be null: the demo's first analysis is 60 s in).
    let corr = get_json(&format!("{base}/api/v1/correlations")).await;
    assert_eq!(corr["hubs"][0]["hub"], "demo", "{corr}");
    assert_eq!(corr["hubs"][0]["every_s"], 600.0, "{corr}");
    assert!(corr["top_per_load"].is_array(), "{corr}");

    let bad = reqwest::get(format!("{base}/api/v1/hosts/no-such-host/series"))
        .await
        .expect("request");
    assert_eq!(bad.status(), 404);
    let page = reqwest::get(format!("{base}/"))
        .await
        .expect("index")
        .text()
        .await
        .expect("html");
    assert!(page.contains("<script"), "dashboard page served");

    // The standalone gateway serves the same API from the hub's Query service.
    let gw_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let gw_base = format!("http://{}", gw_listener.local_addr().expect("addr"));
    // Not a demo: its API wants a login or an API token from the users file.
    let users = tempfile::tempdir().expect("tmp");
    let users_file = users.path().join("users.toml");
    let mut file = gateway::auth::users::UsersFile::default();
    let api_token = file.add_token("live-api-test", 0).expect("token");
    file.write(&users_file).expect("users file");
    let mut gw_config = gateway::Config {
        hub_url: format!("http://{}", addrs.hub_grpc),
        ..Default::default()
    };
    gw_config.auth.users_file = Some(users_file);
    let gw = tokio::spawn(gateway::run(gw_config, gw_listener, token.child_token()));
    let gw_hosts = eventually(Duration::from_secs(10), "gateway hosts", || {
        hosts_at_least(&gw_base, 2, Some(&api_token))
    })
    .await;
    assert_eq!(gw_hosts.len(), 2);
    let gw_series = format!("{gw_base}/api/v1/series?host={host}&name=system.cpu.utilization");
    let anonymous = reqwest::get(&gw_series).await.expect("GET");
    assert_eq!(
        anonymous.status(),
        401,
        "the gateway's API needs credentials"
    );
    let gw_range = get_json_as(&gw_series, Some(&api_token)).await;
    assert!(gw_range.as_array().is_some_and(|a| !a.is_empty()));
    let gw_bands = get_json_as(
        &format!("{gw_base}/api/v1/bands?host={host}&name=system.cpu.utilization"),
        Some(&api_token),
    )
    .await;
    assert!(gw_bands.is_array(), "{gw_bands}");
    let gw_corr = get_json_as(&format!("{gw_base}/api/v1/correlations"), Some(&api_token)).await;
    let hubs: Vec<_> = gw_corr["hubs"]
        .as_array()
        .expect("hubs")
        .iter()
        .map(|h| (h["hub"].clone(), h["site"].clone()))
        .collect();
    assert_eq!(hubs, [("demo".into(), "demo".into())], "{gw_corr}");

    token.cancel();
    gw.await
        .expect("gateway task")
        .expect("gateway ran cleanly");
    done.await.expect("demo task").expect("demo ran cleanly");
}

/// `demo --backfill --inject`: the injection is planned on the named host
/// from the demo's start, and with a backfill running this machine still
/// reports live (it has no history to make up) while the simulated host's
/// history fills in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_backfills_injects_and_keeps_this_machine_live() {
    let token = CancellationToken::new();
    let http = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let before = common::now_ms();
    let config = hostwatch::demo::DemoConfig {
        simulate: 1,
        sites: 1,
        interval: Duration::from_millis(200),
        backfill: Duration::from_secs(20),
        inject: vec!["cpu_spike@1+30s/1m".into()],
        ..Default::default()
    };
    let (addrs, done) = hostwatch::demo::start(config, http, token.clone())
        .await
        .expect("demo starts");
    let [i] = addrs.injected.as_slice() else {
        panic!("one injection: {:?}", addrs.injected)
    };
    assert_eq!((i.index, i.kind.name()), (0, "cpu_spike"));
    assert!(
        i.host.starts_with("sim-") && i.host.ends_with("-001"),
        "{i:?}"
    );
    assert!(i.start_ms >= before / 1000 * 1000 + 30_000, "{i:?}");
    assert_eq!(i.end_ms - i.start_ms, 60_000);

    let base = format!("http://{}", addrs.dashboard);
    let sim = i.host.clone();
    eventually(
        Duration::from_secs(60),
        "this machine and the backfilled host stored",
        || {
            let (base, sim) = (base.clone(), sim.clone());
            async move {
                let hosts = get_json(&format!("{base}/api/v1/hosts")).await;
                let stored = |h: &Value| h["batches_stored"].as_u64().unwrap_or(0);
                let hosts = hosts.as_array()?.clone();
                let local = hosts.iter().find(|h| h["host"] != sim.as_str())?;
                let simulated = hosts.iter().find(|h| h["host"] == sim.as_str())?;
                // 20 s at 200 ms: 100 batches of history before the live ones.
                (stored(local) > 0 && stored(simulated) > 100).then_some(())
            }
        },
    )
    .await;
    token.cancel();
    done.await.expect("join").expect("demo stops cleanly");
}
