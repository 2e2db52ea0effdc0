//! `hostwatch`: the server binary. Each subcommand loads its component's
//! config (defaults < TOML file < `HOSTWATCH_*` env < flags), sets up logging,
//! binds and calls the component's `run`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use tokio::net::TcpListener;

#[derive(Parser, Debug)]
#[command(
    name = "hostwatch",
    version,
    about = "Fleet monitoring: hub, edge, gateway and the all-in-one demo"
)]
struct Cli {
    /// Log format: text or json.
    #[arg(
        long,
        global = true,
        env = "HOSTWATCH_LOG_FORMAT",
        default_value = "text"
    )]
    log_format: common::telemetry::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Everything in one process with embedded storage: the quickest look.
    Demo(DemoArgs),
    /// A site hub: gRPC ingest and query, history, uplink to the edge.
    Hub(HubArgs),
    /// The cloud edge: hub uplinks, dashboard and API.
    Edge(EdgeArgs),
    /// A site's LAN dashboard against one hub.
    Gateway(GatewayArgs),
    /// The agent (same as the `hostwatch-agent` binary, without --once).
    Agent(agent::cli::Flags),
    /// Score NAB-style CSVs (`timestamp,value`) with the hub's detection engine.
    Detect(DetectArgs),
}

#[derive(Args, Debug)]
struct DetectArgs {
    /// A CSV file, or a folder searched recursively for *.csv.
    #[arg(long)]
    input: PathBuf,
    /// Where `timestamp,anomaly_score` CSVs go, under the same relative paths.
    #[arg(long)]
    output: PathBuf,
    /// TOML with detection settings (default: the built-in ones).
    #[arg(long, env = "HOSTWATCH_DETECT_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct DemoArgs {
    /// Dashboard address.
    #[arg(long, env = "HOSTWATCH_DEMO_HTTP", default_value = hostwatch::demo::DEFAULT_HTTP)]
    http: SocketAddr,
    /// Simulated hosts beside this machine.
    #[arg(long, default_value_t = hostwatch::demo::DEFAULT_SIMULATE)]
    simulate: usize,
    /// Sites the simulated hosts are spread over.
    #[arg(long, default_value_t = hostwatch::demo::DEFAULT_SITES)]
    sites: usize,
    /// Collection interval.
    #[arg(long, default_value = "1s", value_parser = common::config::parse_duration)]
    interval: Duration,
    /// Anomaly scenario of the simulated hosts: normal, production, chaos,
    /// temperature, network, dev, demo.
    #[arg(long, default_value = hostwatch::demo::DEFAULT_SCENARIO)]
    scenario: String,
    /// Keep history in this directory (default: a temporary one, removed at exit).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct HubArgs {
    #[arg(long, env = "HOSTWATCH_HUB_CONFIG")]
    config: Option<PathBuf>,
    /// gRPC ingest and query address.
    #[arg(long, env = "HOSTWATCH_HUB_GRPC")]
    grpc: Option<SocketAddr>,
    /// /metrics and health address.
    #[arg(long, env = "HOSTWATCH_HUB_HTTP")]
    http: Option<SocketAddr>,
    /// ws:// URL of the edge's /uplink; turns the uplink on.
    #[arg(long, env = "HOSTWATCH_HUB_EDGE")]
    edge: Option<String>,
    /// Credential for the edge.
    #[arg(long, env = "HOSTWATCH_HUB_EDGE_CREDENTIALS", hide_env_values = true)]
    edge_credentials: Option<String>,
    /// This hub's site.
    #[arg(long, env = "HOSTWATCH_HUB_SITE")]
    site: Option<String>,
    /// Embedded SQLite history file.
    #[arg(long, env = "HOSTWATCH_HUB_DATABASE_PATH")]
    database_path: Option<PathBuf>,
    /// Redis buffer (`redis://HOST:PORT`); unset keeps the in-process buffer.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
    /// PostgreSQL history (`postgres://USER@HOST/DB`); unset keeps the SQLite file.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
}

#[derive(Args, Debug)]
struct EdgeArgs {
    #[arg(long, env = "HOSTWATCH_EDGE_CONFIG")]
    config: Option<PathBuf>,
    #[arg(long, env = "HOSTWATCH_EDGE_HTTP")]
    http: Option<SocketAddr>,
}

#[derive(Args, Debug)]
struct GatewayArgs {
    #[arg(long, env = "HOSTWATCH_GATEWAY_CONFIG")]
    config: Option<PathBuf>,
    /// gRPC URL of the hub, e.g. http://127.0.0.1:7400.
    #[arg(long, env = "HOSTWATCH_GATEWAY_HUB")]
    hub: Option<String>,
    #[arg(long, env = "HOSTWATCH_GATEWAY_HTTP")]
    http: Option<SocketAddr>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    common::telemetry::init(cli.log_format)?;
    let token = common::shutdown::on_signals();
    match cli.command {
        Command::Demo(a) => {
            let http = bind(a.http).await?;
            let config = hostwatch::demo::DemoConfig {
                simulate: a.simulate,
                sites: a.sites,
                interval: a.interval,
                scenario: a.scenario,
                data_dir: a.data_dir,
                ..Default::default()
            };
            let (addrs, done) = hostwatch::demo::start(config, http, token).await?;
            println!(
                "hostwatch demo running: dashboard at http://{}/  (Ctrl-C to stop)",
                addrs.dashboard
            );
            println!(
                "  hub gRPC {}  hub metrics http://{}/metrics",
                addrs.hub_grpc, addrs.hub_http
            );
            done.await.context("demo task")??;
        }
        Command::Hub(a) => {
            let mut c: hub::Config = common::config::load(a.config.as_deref())?;
            if let Some(v) = a.grpc {
                c.grpc_addr = v;
            }
            if let Some(v) = a.http {
                c.http_addr = v;
            }
            if let Some(v) = a.edge {
                c.uplink.edge_url = v;
            }
            if let Some(v) = a.edge_credentials {
                c.uplink.credentials = v;
            }
            if let Some(v) = a.site {
                c.site = v;
            }
            if let Some(v) = a.redis_url {
                c.redis.url = v;
            }
            if let Some(v) = a.database_path {
                c.database_path = v;
            }
            if let Some(v) = a.database_url {
                c.database_url = v;
            }
            c.validate().map_err(anyhow::Error::msg)?;
            let listeners = hub::Listeners::bind(&c).await?;
            hub::run(c, listeners, token).await?;
        }
        Command::Edge(a) => {
            let mut c: edge::Config = common::config::load(a.config.as_deref())?;
            if let Some(v) = a.http {
                c.http_addr = v;
            }
            c.validate().map_err(anyhow::Error::msg)?;
            let listener = bind(c.http_addr).await?;
            println!(
                "hostwatch edge: dashboard at http://{}/",
                listener.local_addr()?
            );
            edge::run(c, listener, token).await?;
        }
        Command::Gateway(a) => {
            let mut c: gateway::Config = common::config::load(a.config.as_deref())?;
            if let Some(v) = a.hub {
                c.hub_url = v;
            }
            if let Some(v) = a.http {
                c.http_addr = v;
            }
            c.validate().map_err(anyhow::Error::msg)?;
            let listener = bind(c.http_addr).await?;
            println!(
                "hostwatch gateway: dashboard at http://{}/",
                listener.local_addr()?
            );
            gateway::run(c, listener, token).await?;
        }
        Command::Agent(flags) => {
            agent::run(flags.load()?, token).await?;
        }
        Command::Detect(a) => detect(a)?,
    }
    Ok(())
}

/// Runs `hostwatch detect`, showing progress on stderr.
fn detect(a: DetectArgs) -> anyhow::Result<()> {
    let config: hub::detect::Config = common::config::load(a.config.as_deref())?;
    let started = std::time::Instant::now();
    let mut progress = |done: usize, total: usize, file: &std::path::Path| {
        eprint!("\r\x1b[2K[{done}/{total}] {}", file.display());
        if done == total {
            eprintln!();
        }
    };
    let s = hostwatch::detect_cmd::run(&a.input, &a.output, &config, &mut progress)?;
    let engine = s.engine_time.as_secs_f64();
    eprintln!(
        "{} files, {} rows ({} malformed) in {:.2} s; engine {:.3} s = {:.0} rows/s",
        s.files,
        s.rows,
        s.malformed,
        started.elapsed().as_secs_f64(),
        engine,
        s.rows as f64 / engine.max(1e-9)
    );
    Ok(())
}

async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))
}
