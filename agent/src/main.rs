//! `hostwatch-agent`: loads config, sets up logging, runs the agent library.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "hostwatch-agent",
    version,
    about = "Collects host metrics and streams them to a hostwatch hub"
)]
struct Cli {
    /// TOML config file (see config/agent.example.toml).
    #[arg(long, env = "HOSTWATCH_AGENT_CONFIG")]
    config: Option<PathBuf>,
    /// gRPC URL of the hub.
    #[arg(long, env = "HOSTWATCH_AGENT_HUB")]
    hub: Option<String>,
    /// Collection interval, e.g. 1s, 500ms, 5m.
    #[arg(long, env = "HOSTWATCH_AGENT_INTERVAL", value_parser = common::config::parse_duration)]
    interval: Option<Duration>,
    /// Site this host belongs to.
    #[arg(long, env = "HOSTWATCH_AGENT_SITE")]
    site: Option<String>,
    /// Enrolment token or credential.
    #[arg(long, env = "HOSTWATCH_AGENT_CREDENTIALS", hide_env_values = true)]
    credentials: Option<String>,
    /// Also run N simulated hosts.
    #[arg(long, env = "HOSTWATCH_AGENT_SIMULATE")]
    simulate: Option<usize>,
    /// Sites the simulated hosts are spread over.
    #[arg(long, env = "HOSTWATCH_AGENT_SITES")]
    sites: Option<usize>,
    /// Seed of the simulator (same seed, same data).
    #[arg(long, env = "HOSTWATCH_AGENT_SEED")]
    seed: Option<u64>,
    /// Only simulated hosts; do not collect this machine.
    #[arg(long)]
    no_local: bool,
    /// Print one snapshot of this machine and exit.
    #[arg(long)]
    once: bool,
    /// Output of --once: json or text.
    #[arg(long, default_value = "json")]
    format: String,
    /// Log format: text or json.
    #[arg(long, env = "HOSTWATCH_LOG_FORMAT", default_value = "text")]
    log_format: common::telemetry::LogFormat,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    common::telemetry::init(cli.log_format)?;
    let mut config: agent::Config = common::config::load(cli.config.as_deref())?;
    if let Some(v) = cli.hub {
        config.hub_url = v;
    }
    if let Some(v) = cli.interval {
        config.interval = v;
    }
    if let Some(v) = cli.site {
        config.site = v;
    }
    if let Some(v) = cli.credentials {
        config.credentials = v;
    }
    if let Some(v) = cli.simulate {
        config.simulate = v;
    }
    if let Some(v) = cli.sites {
        config.sites = v;
    }
    if let Some(v) = cli.seed {
        config.seed = v;
    }
    if cli.no_local {
        config.collect_local = false;
    }

    if cli.once {
        let snap = agent::snapshot_once(config.interval).await?;
        let mut out = std::io::stdout().lock();
        match cli.format.as_str() {
            "json" => writeln!(out, "{}", serde_json::to_string(&snap)?)?,
            "text" => {
                for s in &snap.samples {
                    let labels: Vec<String> =
                        s.labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
                    writeln!(out, "{}{{{}}} {}", s.name, labels.join(","), s.value)?;
                }
            }
            other => anyhow::bail!("unknown --format {other:?} (json or text)"),
        }
        return Ok(());
    }
    let token = common::shutdown::on_signals();
    agent::run(config, token).await.context("agent failed")
}
