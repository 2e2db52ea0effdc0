//! `hostwatch-agent`: loads config, sets up logging, runs the agent library; or
//! installs/uninstalls it as a systemd service (`agent::install`).

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "hostwatch-agent",
    version,
    about = "Collects host metrics and streams them to a hostwatch hub",
    // `hostwatch-agent --hub X install …` would silently drop --hub.
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
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

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Install this binary as a hardened systemd service: config, unit, state
    /// directory, service user; then enable and start it.
    Install(agent::install::InstallArgs),
    /// Stop the service and remove its unit and binary (--purge: config and state too).
    Uninstall(agent::install::UninstallArgs),
}

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let done = match &cli.cmd {
        Some(Cmd::Install(args)) => agent::install::install(args, &mut std::io::stdout()),
        Some(Cmd::Uninstall(args)) => agent::install::uninstall(args, &mut std::io::stdout()),
        None => {
            // The agent proper runs on tokio; install/uninstall only do blocking
            // file work and need no runtime.
            tokio::runtime::Runtime::new()
                .context("starting the async runtime")?
                .block_on(run(cli))?;
            return Ok(ExitCode::SUCCESS);
        }
    };
    // One line for an operator, not an anyhow report with a backtrace.
    Ok(match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hostwatch-agent: {e}");
            ExitCode::FAILURE
        }
    })
}

async fn run(cli: Cli) -> anyhow::Result<()> {
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
