//! The agent's command-line flags, shared by `hostwatch-agent` and
//! `hostwatch agent` so both accept the same options. Each flag also reads a
//! `HOSTWATCH_AGENT_*` variable and overrides the config file.

use std::path::PathBuf;
use std::time::Duration;

use crate::Config;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct Flags {
    /// TOML config file (see config/agent.example.toml).
    #[arg(long, env = "HOSTWATCH_AGENT_CONFIG")]
    pub config: Option<PathBuf>,
    /// gRPC URL of the hub.
    #[arg(long, env = "HOSTWATCH_AGENT_HUB")]
    pub hub: Option<String>,
    /// Collection interval, e.g. 1s, 500ms, 5m.
    #[arg(long, env = "HOSTWATCH_AGENT_INTERVAL", value_parser = common::config::parse_duration)]
    pub interval: Option<Duration>,
    /// Site this host belongs to.
    #[arg(long, env = "HOSTWATCH_AGENT_SITE")]
    pub site: Option<String>,
    /// Enrolment token or credential.
    #[arg(long, env = "HOSTWATCH_AGENT_CREDENTIALS", hide_env_values = true)]
    pub credentials: Option<String>,
    /// Also run N simulated hosts.
    #[arg(long, env = "HOSTWATCH_AGENT_SIMULATE")]
    pub simulate: Option<usize>,
    /// Sites the simulated hosts are spread over.
    #[arg(long, env = "HOSTWATCH_AGENT_SITES")]
    pub sites: Option<usize>,
    /// Seed of the simulator (same seed, same data).
    #[arg(long, env = "HOSTWATCH_AGENT_SEED")]
    pub seed: Option<u64>,
    /// Directory of the on-disk spool of unacked batches (none: memory only).
    #[arg(long, env = "HOSTWATCH_AGENT_SPOOL_DIR")]
    pub spool_dir: Option<PathBuf>,
    /// Only simulated hosts; do not collect this machine.
    #[arg(long)]
    pub no_local: bool,
    /// One-time enrolment token from `hostwatch hub token create`.
    #[arg(long, env = "HOSTWATCH_AGENT_ENROLMENT_TOKEN", hide_env_values = true)]
    pub enrolment_token: Option<String>,
    /// Where the credential issued by the hub is kept (mode 0600).
    #[arg(long, env = "HOSTWATCH_AGENT_CREDENTIAL_FILE")]
    pub credential_file: Option<PathBuf>,
    /// PEM CA certificate the https:// hub's certificate must chain to
    /// (default: the system's trust store).
    #[arg(long, env = "HOSTWATCH_AGENT_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate, for a hub that requires mutual TLS.
    #[arg(long, env = "HOSTWATCH_AGENT_TLS_CERT_FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "HOSTWATCH_AGENT_TLS_KEY_FILE")]
    pub tls_key: Option<PathBuf>,
    /// Name in the hub's certificate, when it differs from the URL's host.
    #[arg(long, env = "HOSTWATCH_AGENT_TLS_SERVER_NAME")]
    pub tls_server_name: Option<String>,
    /// Batch compression on the wire: gzip (default), zstd or none.
    #[arg(long, env = "HOSTWATCH_AGENT_COMPRESSION")]
    pub compression: Option<crate::config::Compression>,
    /// Anomaly scenario of the simulated hosts: normal, production, chaos,
    /// temperature, network, dev, demo.
    #[arg(long, env = "HOSTWATCH_AGENT_SCENARIO")]
    pub scenario: Option<String>,
    /// Write every injected anomaly to this file as JSON lines.
    #[arg(long, env = "HOSTWATCH_AGENT_GROUND_TRUTH")]
    pub ground_truth: Option<PathBuf>,
    /// Generate this much history (e.g. 14d) at --interval steps, then go live.
    #[arg(long, env = "HOSTWATCH_AGENT_BACKFILL", value_parser = common::config::parse_duration)]
    pub backfill: Option<Duration>,
    /// Pin the simulator's "now": RFC 3339 (2025-03-01T12:00:00Z) or unix ms.
    #[arg(long, env = "HOSTWATCH_AGENT_START")]
    pub start: Option<String>,
    /// Write batches to this file as JSON lines instead of a hub (- = stdout).
    #[arg(long, env = "HOSTWATCH_AGENT_DUMP")]
    pub dump: Option<PathBuf>,
    /// Count processes named NAME (system.processes.watched{name}); repeatable,
    /// or comma-separated.
    #[arg(
        long = "watch-process",
        env = "HOSTWATCH_AGENT_WATCH_PROCESSES",
        value_delimiter = ','
    )]
    pub watch_processes: Vec<String>,
    /// Inject an incident into a simulated host:
    /// KIND@HOST[+DELAY][/DURATION][*SEVERITY], e.g. cpu_spike@sim-web-001+60s/3m
    /// or cpu_spike@1+60s (HOST by name or number; DELAY from the start,
    /// default 0; DURATION default 5m; SEVERITY 0–1, default 1). Kinds:
    /// cpu_spike, memory_leak, temperature_rise, network_saturation,
    /// power_spike, latency_spike, error_rate_spike, host_crash. Repeatable.
    #[arg(
        long = "inject",
        value_name = "SPEC",
        env = "HOSTWATCH_AGENT_INJECT",
        value_delimiter = ','
    )]
    pub inject: Vec<String>,
}

impl Flags {
    /// Loads the config file (or defaults) and applies the flags on top.
    pub fn load(&self) -> common::Result<Config> {
        let mut c: Config = common::config::load(self.config.as_deref())?;
        if let Some(v) = &self.hub {
            c.hub_url = v.clone();
        }
        if let Some(v) = self.interval {
            c.interval = v;
        }
        if let Some(v) = &self.site {
            c.site = v.clone();
        }
        if let Some(v) = &self.credentials {
            c.credentials = v.clone();
        }
        if let Some(v) = self.simulate {
            c.simulate = v;
        }
        if let Some(v) = self.sites {
            c.sites = v;
        }
        if let Some(v) = self.seed {
            c.seed = v;
        }
        if let Some(v) = &self.spool_dir {
            c.spool_dir = Some(v.clone());
        }
        if self.no_local {
            c.collect_local = false;
        }
        if let Some(v) = &self.enrolment_token {
            c.enrolment_token = v.clone();
        }
        if let Some(v) = &self.credential_file {
            c.credential_file = Some(v.clone());
        }
        if let Some(v) = &self.ca_file {
            c.ca_file = Some(v.clone());
        }
        if let Some(v) = &self.tls_cert {
            c.tls_cert_file = Some(v.clone());
        }
        if let Some(v) = &self.tls_key {
            c.tls_key_file = Some(v.clone());
        }
        if let Some(v) = &self.tls_server_name {
            c.tls_server_name = v.clone();
        }
        if let Some(v) = self.compression {
            c.compression = v;
        }
        if let Some(v) = &self.scenario {
            c.scenario = v.clone();
        }
        if let Some(v) = &self.ground_truth {
            c.ground_truth = Some(v.clone());
        }
        if let Some(v) = self.backfill {
            c.backfill = v;
        }
        if let Some(v) = &self.start {
            c.start = v.clone();
        }
        if let Some(v) = &self.dump {
            c.dump = Some(v.clone());
        }
        if !self.watch_processes.is_empty() {
            c.watch_processes = self.watch_processes.clone();
        }
        if !self.inject.is_empty() {
            c.inject = self.inject.clone();
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        flags: Flags,
    }

    #[test]
    fn flags_override_defaults() {
        let w = Wrap::try_parse_from(["x", "--interval", "250ms", "--simulate", "3", "--no-local"])
            .expect("parses");
        let c = w.flags.load().expect("defaults load");
        assert_eq!(c.interval, Duration::from_millis(250));
        assert_eq!(c.simulate, 3);
        assert!(!c.collect_local);
        assert_eq!(c.hub_url, crate::config::DEFAULT_HUB_URL);
        assert!(Wrap::try_parse_from(["x", "--interval", "5"]).is_err());
    }

    #[test]
    fn simulator_flags_reach_the_config_and_are_validated() {
        let w = Wrap::try_parse_from([
            "x",
            "--no-local",
            "--simulate",
            "3",
            "--scenario",
            "chaos",
            "--backfill",
            "1h",
            "--start",
            "2025-03-01T12:00:00Z",
            "--dump",
            "-",
        ])
        .expect("parses");
        let c = w.flags.load().expect("loads");
        assert_eq!(c.scenario, "chaos");
        assert_eq!(c.backfill, Duration::from_secs(3600));
        assert_eq!(c.start_ms(), Ok(Some(1_740_830_400_000)));
        assert_eq!(c.validate(), Ok(()));
        let bad = |args: &[&str]| {
            let mut all = vec!["x", "--simulate", "2"];
            all.extend_from_slice(args);
            let w = Wrap::try_parse_from(all).expect("parses");
            w.flags.load().expect("loads").validate()
        };
        assert!(bad(&["--scenario", "nope"]).is_err_and(|e| e.contains("chaos")));
        assert!(bad(&["--start", "yesterday"]).is_err());
        assert!(bad(&["--dump", "out.jsonl"]).is_err_and(|e| e.contains("--no-local")));
        assert_eq!(bad(&["--no-local", "--dump", "out.jsonl"]), Ok(()));
        assert_eq!(bad(&["--inject", "cpu_spike@2+1m/3m"]), Ok(()));
        assert!(bad(&["--inject", "cpu_spike@3"]).is_err_and(|e| e.contains("fleet has 2")));
        assert!(bad(&["--inject", "meltdown@1"]).is_err_and(|e| e.contains("host_crash")));
    }

    #[test]
    fn inject_is_repeatable_and_comma_separated() {
        let w = Wrap::try_parse_from([
            "x",
            "--simulate",
            "3",
            "--inject",
            "cpu_spike@1+30s,memory_leak@2",
            "--inject",
            "host_crash@3/1m",
        ])
        .expect("parses");
        let c = w.flags.load().expect("loads");
        assert_eq!(
            c.inject,
            ["cpu_spike@1+30s", "memory_leak@2", "host_crash@3/1m"]
        );
        let planned = c.injections().expect("plans");
        assert_eq!(
            planned.iter().map(|p| p.index).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        assert_eq!(planned[0].start_ms - planned[1].start_ms, 30_000);
        assert_eq!(planned[2].end_ms - planned[2].start_ms, 60_000);
    }
}
