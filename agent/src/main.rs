//! `hostwatch-agent`: loads config, sets up logging, runs the agent library.

use std::io::Write as _;

use anyhow::Context as _;
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "hostwatch-agent",
    version,
    about = "Collects host metrics and streams them to a hostwatch hub"
)]
struct Cli {
    #[command(flatten)]
    flags: agent::cli::Flags,
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
    let config = cli.flags.load()?;

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
