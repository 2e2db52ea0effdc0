//! `hostwatch demo`: hub + edge + alert service + this machine's agent +
//! simulated hosts in one process on loopback, embedded storage, no services
//! needed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub const DEFAULT_HTTP: &str = "127.0.0.1:8080";
/// The alert service's port in the demo: Alertmanager's, so
/// `hostwatch alerts subscribe` and Prometheus find it without flags.
pub const DEFAULT_ALERTS_HTTP: &str = "127.0.0.1:9093";
pub const DEFAULT_SIMULATE: usize = 10;
pub const DEFAULT_SITES: usize = 3;
/// Lively but sane: a few incidents an hour across the default fleet.
pub const DEFAULT_SCENARIO: &str = "demo";
/// The demo's first anomaly/load correlation runs this soon after start
/// (then every 10 min as on any hub), so the dashboard's "Anomalies vs load"
/// panel has something to show while someone is looking. That first one
/// weighs the window's anomalies (the backfill's too) against the load
/// sampled in its first minute only (each host's `load_samples` says so),
/// and a host still backfilling then is not sampled (its newest data is old).
pub const FIRST_CORRELATION: Duration = Duration::from_secs(60);
/// Load is sampled this often, so the first analysis has a few samples.
pub const CORRELATION_SAMPLE_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct DemoConfig {
    pub simulate: usize,
    pub sites: usize,
    pub interval: Duration,
    pub seed: u64,
    /// Anomaly scenario of the simulated hosts (see the agent's README).
    pub scenario: String,
    /// Keep history here; `None` uses a temporary directory removed at exit.
    pub data_dir: Option<PathBuf>,
    /// Collect this machine too (off in some tests).
    pub collect_local: bool,
    /// Where the alert service listens (port 0: any free one).
    pub alerts_http: SocketAddr,
    /// History generated for the simulated hosts before they go live, so
    /// the hub's detectors are warm when the demo opens (0: none).
    pub backfill: Duration,
    /// Incidents injected into the simulated hosts, `KIND@HOST[+DELAY][/DURATION][*SEVERITY]`
    /// (agent's `--inject`); the delay counts from the demo's start.
    pub inject: Vec<String>,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            simulate: DEFAULT_SIMULATE,
            sites: DEFAULT_SITES,
            interval: Duration::from_secs(1),
            seed: agent::config::DEFAULT_SEED,
            scenario: DEFAULT_SCENARIO.to_owned(),
            data_dir: None,
            collect_local: true,
            alerts_http: SocketAddr::from(([127, 0, 0, 1], 0)),
            backfill: Duration::ZERO,
            inject: Vec::new(),
        }
    }
}

/// Addresses the demo ended up on (ports may have been chosen by the OS).
#[derive(Debug, Clone)]
pub struct DemoAddrs {
    pub dashboard: SocketAddr,
    pub hub_grpc: SocketAddr,
    pub hub_http: SocketAddr,
    pub alerts: SocketAddr,
    /// The `inject` incidents: which host, and when.
    pub injected: Vec<agent::simulate::PlannedInjection>,
}

/// Starts every component and returns once they are listening; they run
/// until `shutdown`, and the returned handle resolves when all have stopped.
pub async fn start(
    config: DemoConfig,
    http: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<(DemoAddrs, tokio::task::JoinHandle<anyhow::Result<()>>)> {
    let (data_dir, temp) = match &config.data_dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            (d.clone(), None)
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix("hostwatch-demo-")
                .tempdir()?;
            (t.path().to_owned(), Some(t))
        }
    };
    let dashboard = http.local_addr()?;
    let hub_listeners = hub::Listeners {
        grpc: TcpListener::bind("127.0.0.1:0").await?,
        http: TcpListener::bind("127.0.0.1:0").await?,
    };
    let alerts_listener = TcpListener::bind(config.alerts_http)
        .await
        .with_context(|| format!("binding the alert service to {}", config.alerts_http))?;
    let alerts = alerts_listener.local_addr()?;
    let hub_grpc = hub_listeners.grpc.local_addr()?;
    let hub_http = hub_listeners.http.local_addr()?;

    let edge_config = edge::Config {
        http_addr: dashboard,
        demo: true,
        alerts_url: Some(format!("http://{alerts}")),
        ..Default::default()
    };
    let hub_config = hub::Config {
        grpc_addr: hub_grpc,
        http_addr: hub_http,
        database_path: data_dir.join("hub.db"),
        site: "demo".into(),
        correlation: hub::correlation::CorrelationConfig {
            first: FIRST_CORRELATION,
            sample_every: CORRELATION_SAMPLE_EVERY,
            ..Default::default()
        },
        uplink: hub::config::UplinkConfig {
            edge_url: format!("ws://{dashboard}/uplink"),
            ..Default::default()
        },
        ..Default::default()
    };
    let alerts_config = demo_alerts_config(&data_dir, dashboard);
    let agent_config = agent::Config {
        hub_url: format!("http://{hub_grpc}"),
        interval: config.interval,
        simulate: config.simulate,
        sites: config.sites,
        seed: config.seed,
        scenario: config.scenario.clone(),
        collect_local: config.collect_local,
        site: "site-local".into(),
        backfill: config.backfill,
        // Pinned to now, so the injections listed below are the agent's own.
        start: common::now_ms().to_string(),
        inject: config.inject.clone(),
        ..Default::default()
    };
    agent_config.validate().map_err(anyhow::Error::msg)?;
    let injected = agent_config.injections().map_err(anyhow::Error::msg)?;

    let edge_task = tokio::spawn(
        edge::run(edge_config, http, shutdown.child_token())
            .instrument(tracing::info_span!("edge")),
    );
    let hub_task = tokio::spawn(
        hub::run(hub_config, hub_listeners, shutdown.child_token())
            .instrument(tracing::info_span!("hub")),
    );
    let alerts_task = tokio::spawn(
        alerts::run(alerts_config, alerts_listener, shutdown.child_token())
            .instrument(tracing::info_span!("alerts")),
    );
    let agent = agent::Agent::start(agent_config, shutdown.child_token())?;
    let all = tokio::spawn(async move {
        let _ = agent.join().await;
        let hub_res = hub_task.await;
        let edge_res = edge_task.await;
        let alerts_res = alerts_task.await;
        // Removing the temporary history only after the hub closed it.
        drop(temp);
        hub_res.context("hub task")?.context("hub")?;
        edge_res.context("edge task")?.context("edge")?;
        alerts_res.context("alerts task")?.context("alerts")?;
        Ok(())
    });
    Ok((
        DemoAddrs {
            dashboard,
            hub_grpc,
            hub_http,
            alerts,
            injected,
        },
        all,
    ))
}

/// The demo's alert service: no login, the edge's event feed, the dashboard's
/// origin allowed, and timers short enough to see something happen.
fn demo_alerts_config(data_dir: &std::path::Path, dashboard: SocketAddr) -> alerts::Config {
    let mut c = alerts::Config {
        database_url: format!("sqlite://{}", data_dir.join("alerts.db").display()),
        edge_url: Some(format!("http://{dashboard}")),
        demo: true,
        cors_origins: vec![
            format!("http://{dashboard}"),
            format!("http://localhost:{}", dashboard.port()),
        ],
        ..Default::default()
    };
    c.route.group_wait = Duration::from_secs(5);
    c.route.group_interval = Duration::from_secs(60);
    c
}
