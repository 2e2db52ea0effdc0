//! `alerts-route`: the alert service's cost, against 1,000 subscriptions.
//!
//! 1. Routing (CPU only): new alerts sorted into the groups of 1,000
//!    subscriptions with mixed matchers (equality, regex, severity), then the
//!    same alerts re-sent (Prometheus's resend, the common case), then one
//!    flush of every group. Peer in the same run: parsing the alerts' JSON.
//! 2. Latency on loopback: the time from `POST /api/v2/alerts` to the first
//!    request of the resulting webhook reaching a receiver, group_wait 0,
//!    for our service (SQLite, synchronous=FULL) and for the real
//!    Alertmanager 0.25 (Debian's `prometheus-alertmanager`) with the same
//!    1,000 routes, the same receiver, in the same run.
//!
//!     cargo run --release -p bench --bin alerts-route [-- ALERTS LATENCY_SAMPLES]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alerts::config::Route;
use alerts::dispatch::Dispatcher;
use alerts::matcher::parse_list;
use alerts::model::{Alert, LabelSet, Origin};
use alerts::subscription::{Channel, Subscription};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const SUBSCRIPTIONS: usize = 1000;

fn subscription(i: usize) -> Subscription {
    let m = match i % 4 {
        0 => format!("site=site-{},severity>=high", i % 10),
        1 => format!("host=~\"web-{}.*\"", i % 50),
        2 => format!("alertname=Alert{}", i % 100),
        _ => format!("team=t{},severity>=medium", i % 20),
    };
    Subscription {
        id: format!("sub-{i}"),
        owner: format!("user-{}", i % 100),
        name: format!("sub-{i}"),
        matchers: parse_list(&m).expect("matchers"),
        channels: vec![Channel::Live],
        group_by: None,
        timing: None,
        send_resolved: true,
        quiet_hours: None,
        created_at_ms: 0,
    }
}

fn labels(j: usize) -> LabelSet {
    let sev = ["low", "medium", "high", "critical"][j % 4];
    [
        ("alertname", format!("Alert{}", j % 100)),
        ("host", format!("web-{}", j % 500)),
        ("site", format!("site-{}", j % 10)),
        ("team", format!("t{}", j % 20)),
        ("severity", sev.to_owned()),
        ("instance", format!("i{j}")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn routing(n: usize) {
    let mut d = Dispatcher::new(Route::default());
    for i in 0..SUBSCRIPTIONS {
        d.set_subscription(Arc::new(subscription(i)), [], 0);
    }
    let alerts: Vec<Alert> = (0..n)
        .map(|j| Alert::new(labels(j), Origin::Api, 0))
        .collect();
    let json: Vec<String> = alerts
        .iter()
        .map(|a| {
            serde_json::json!({ "labels": a.labels, "annotations": { "summary": "x" } }).to_string()
        })
        .collect();

    let t = Instant::now();
    let mut memberships = 0;
    for a in &alerts {
        memberships += d.on_alert(a, 0);
    }
    let new = t.elapsed();
    let t = Instant::now();
    for a in &alerts {
        d.on_alert(a, 1);
    }
    let resend = t.elapsed();
    let t = Instant::now();
    let mut parsed = 0usize;
    for j in &json {
        let v: serde_json::Value = serde_json::from_str(j).expect("json");
        parsed += v["labels"].as_object().map_or(0, |o| o.len());
    }
    let parse = t.elapsed();
    let map: HashMap<_, _> = alerts.iter().map(|a| (a.fingerprint, a.clone())).collect();
    let t = Instant::now();
    let out = d.flush(60_000, &map, &|_| false);
    let flush = t.elapsed();

    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!("routing: {n} alerts × {SUBSCRIPTIONS} subscriptions ({memberships} memberships, {} groups, {parsed} labels parsed)", d.group_count());
    println!("| step | time | alerts/s | vs JSON parse of the same alerts |");
    println!("|---|---|---|---|");
    println!(
        "| JSON parse (peer) | {parse:.2?} | {:.0} | 1.00 |",
        rate(parse)
    );
    println!(
        "| new alert, matched against 1,000 subscriptions | {new:.2?} | {:.0} | {:.2} |",
        rate(new),
        new.as_secs_f64() / parse.as_secs_f64()
    );
    println!(
        "| resend of a known alert | {resend:.2?} | {:.0} | {:.2} |",
        rate(resend),
        resend.as_secs_f64() / parse.as_secs_f64()
    );
    println!(
        "| flush of every group ({} notifications) | {flush:.2?} | — | — |",
        out.len()
    );
}

/// Records when each alertname's first webhook request arrived.
#[derive(Clone, Default)]
struct Arrivals(Arc<Mutex<HashMap<String, Instant>>>);

async fn receiver(arrivals: Arrivals) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let app = axum::Router::new().fallback(move |body: String| {
        let at = Instant::now();
        let a = arrivals.clone();
        async move {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&body) {
                for alert in v["alerts"].as_array().into_iter().flatten() {
                    if let Some(name) = alert["labels"]["alertname"].as_str() {
                        a.0.lock()
                            .expect("lock")
                            .entry(name.to_owned())
                            .or_insert(at);
                    }
                }
            }
            "ok"
        }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

async fn wait_ready(http: &reqwest::Client, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if http
            .get(url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} not ready in 30 s");
}

/// Fires `samples` alerts one at a time, 50 ms apart, each matching one of
/// the 1,000 routes; returns the latencies to the webhook, sorted.
async fn fire(api: &str, samples: usize, arrivals: &Arrivals, tag: &str) -> Vec<Duration> {
    let http = reqwest::Client::new();
    let mut sent = Vec::with_capacity(samples);
    for k in 0..samples {
        let name = format!("{tag}{k}");
        let body = serde_json::json!([{ "labels": { "alertname": name, "host": format!("h{}", k % SUBSCRIPTIONS) } }]);
        let t0 = Instant::now();
        let r = http
            .post(format!("{api}/api/v2/alerts"))
            .json(&body)
            .send()
            .await
            .expect("post");
        assert!(r.status().is_success(), "{tag}: {}", r.status());
        sent.push((name, t0));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let all = {
            let a = arrivals.0.lock().expect("lock");
            sent.iter().all(|(n, _)| a.contains_key(n))
        };
        if all || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let a = arrivals.0.lock().expect("lock");
    let mut lat: Vec<Duration> = sent
        .iter()
        .filter_map(|(n, t0)| a.get(n).map(|t| t.saturating_duration_since(*t0)))
        .collect();
    lat.sort();
    assert_eq!(lat.len(), samples, "{tag}: every alert reached the webhook");
    lat
}

fn pct(v: &[Duration], p: f64) -> Duration {
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

async fn ours(samples: usize, hook: &str, arrivals: &Arrivals) -> Vec<Duration> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = alerts::Config {
        database_url: format!("sqlite://{}", dir.path().join("alerts.db").display()),
        allow_private_targets: true,
        demo: true,
        ..Default::default()
    };
    c.route.group_by = vec!["...".into()];
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let api = format!("http://{}", listener.local_addr().expect("addr"));
    let stop = CancellationToken::new();
    let task = tokio::spawn(alerts::run(c, listener, stop.clone()));
    let http = reqwest::Client::new();
    wait_ready(&http, &format!("{api}/healthz")).await;
    for i in 0..SUBSCRIPTIONS {
        let body = serde_json::json!({
            "name": format!("r{i}"),
            "match": format!("host=h{i}"),
            "channels": [{ "type": "webhook", "url": hook }],
            "timing": { "group_wait": "0s", "group_interval": "1s", "repeat_interval": "1h" },
        });
        let r = http
            .post(format!("{api}/api/v1/subscriptions"))
            .json(&body)
            .send()
            .await
            .expect("subscribe");
        assert!(r.status().is_success(), "{}", r.status());
    }
    let lat = fire(&api, samples, arrivals, "ours").await;
    stop.cancel();
    let _ = task.await;
    lat
}

async fn alertmanager(samples: usize, hook: &str, arrivals: &Arrivals) -> Option<Vec<Duration>> {
    let bin = ["/usr/bin/prometheus-alertmanager", "/usr/bin/alertmanager"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())?;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut routes = String::new();
    for i in 0..SUBSCRIPTIONS {
        routes.push_str(&format!(
            "    - matchers: ['host=\"h{i}\"']\n      receiver: hook\n"
        ));
    }
    let config = format!(
        "route:\n  receiver: hook\n  group_by: ['...']\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\n  routes:\n{routes}receivers:\n  - name: hook\n    webhook_configs:\n      - url: '{hook}'\n"
    );
    std::fs::write(dir.path().join("am.yml"), config).expect("config");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let mut child = std::process::Command::new(bin)
        .arg(format!(
            "--config.file={}",
            dir.path().join("am.yml").display()
        ))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn alertmanager");
    let api = format!("http://127.0.0.1:{port}");
    wait_ready(&reqwest::Client::new(), &format!("{api}/-/ready")).await;
    let lat = fire(&api, samples, arrivals, "am").await;
    let _ = child.kill();
    let _ = child.wait();
    Some(lat)
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let samples: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(200);
    routing(n);

    let arrivals = Arrivals::default();
    let hook = receiver(arrivals.clone()).await;
    let us = ours(samples, &hook, &arrivals).await;
    let am = alertmanager(samples, &hook, &arrivals).await;
    println!();
    println!("latency, POST /api/v2/alerts → first webhook request, {samples} alerts, {SUBSCRIPTIONS} routes, group_wait 0");
    println!("| service | p50 | p90 | p99 | max |");
    println!("|---|---|---|---|---|");
    let row = |name: &str, v: &[Duration]| {
        println!(
            "| {name} | {:.1?} | {:.1?} | {:.1?} | {:.1?} |",
            pct(v, 0.5),
            pct(v, 0.9),
            pct(v, 0.99),
            v[v.len() - 1]
        );
    };
    row("hostwatch alerts (SQLite, fsync per commit)", &us);
    match &am {
        Some(am) => {
            row("Alertmanager 0.25", am);
            println!(
                "p99 ratio hostwatch / Alertmanager: {:.2}",
                pct(&us, 0.99).as_secs_f64() / pct(am, 0.99).as_secs_f64()
            );
        }
        None => {
            println!("(Alertmanager not installed: scripts/setup installs prometheus-alertmanager)")
        }
    }
}
