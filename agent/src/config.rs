//! The agent's `Config`: defaults < TOML file < `HOSTWATCH_AGENT_*` env < flags.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

pub const DEFAULT_HUB_URL: &str = "http://127.0.0.1:7400";
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
pub const DEFAULT_SITES: usize = 3;
pub const DEFAULT_SEED: u64 = 42;
/// Unacked batches kept per host while the hub is away (1 h at 1 s); beyond
/// it the oldest are dropped and counted.
pub const DEFAULT_QUEUE_BATCHES: usize = 3600;
/// On-disk spool budget per host when `spool_dir` is set.
pub const DEFAULT_SPOOL_BYTES: u64 = 64 << 20;
/// Below this a spool holds too few batches to be worth a directory.
pub const MIN_SPOOL_BYTES: u64 = 64 << 10;
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// On SIGTERM the agent stops collecting and ships what it holds for this long
/// (systemd's TimeoutStopSec in infra/ leaves room for it).
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Simulated hosts run without anomalies unless a scenario is named.
pub const DEFAULT_SCENARIO: &str = "normal";

/// How batches are compressed on the wire (gRPC message compression).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    /// The default: on steady-state batches (about 44 rows) it came out a
    /// little smaller than zstd (`bench --bin wire-bytes`), and it is pure
    /// Rust.
    #[default]
    Gzip,
    Zstd,
}

impl std::str::FromStr for Compression {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(Compression::None),
            "gzip" => Ok(Compression::Gzip),
            "zstd" => Ok(Compression::Zstd),
            other => Err(format!(
                "compression must be \"gzip\", \"zstd\" or \"none\", not {other:?}"
            )),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// gRPC URL of the site's hub.
    pub hub_url: String,
    #[serde(with = "common::config::duration_str")]
    pub interval: Duration,
    /// Site this host belongs to; empty lets the hub use its own.
    pub site: String,
    /// Stable identity; defaults to the hostname.
    pub agent_id: String,
    /// Per-agent credential given directly (automation that manages its own
    /// secrets). Usually empty: the agent enrols instead, see below.
    pub credentials: String,
    /// One-time enrolment token issued by the hub; exchanged on first contact for
    /// a per-agent credential, which is stored in `credential_file`.
    pub enrolment_token: String,
    /// Where the per-agent credential lives (written with mode 0600).
    pub credential_file: Option<PathBuf>,
    /// Collect this machine's own metrics (off for a pure simulator).
    pub collect_local: bool,
    /// Simulated hosts to run beside the real one.
    pub simulate: usize,
    /// Sites the simulated hosts are spread over.
    pub sites: usize,
    pub seed: u64,
    /// Unacked batches kept in memory per host when there is no spool.
    pub queue_batches: usize,
    /// Directory of the on-disk spool (one subdirectory per host). None keeps
    /// unacked batches in memory only, lost on a crash.
    pub spool_dir: Option<PathBuf>,
    /// Spool budget per host in bytes; beyond it the oldest batches are
    /// dropped and counted.
    pub spool_bytes: u64,
    /// PEM CA certificate(s) that an `https://` hub's certificate must chain
    /// to; unset uses the system's trust store. `hostwatch-agent install
    /// --ca-file` copies it to `/etc/hostwatch/ca.pem` and sets this.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate for a hub that requires mutual TLS.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
    /// Name to verify the hub's certificate against when it differs from
    /// the host in `hub_url` (e.g. connecting by IP address); empty = that host.
    pub tls_server_name: String,
    /// Compression of batches on the wire: "gzip", "zstd" or "none".
    pub compression: Compression,
    /// After a stop signal, how long to keep shipping what is held before
    /// exiting (what is left stays in the spool, or is lost without one).
    #[serde(with = "common::config::duration_str")]
    pub drain_timeout: Duration,
    /// Anomaly scenario of the simulated hosts: normal, production, chaos,
    /// temperature, network, dev or demo.
    pub scenario: String,
    /// Write every anomaly the simulated hosts show here, one JSON line each.
    pub ground_truth: Option<PathBuf>,
    /// Generate this much history for the simulated hosts before going live
    /// (one batch per `interval`); 0 starts live at once.
    #[serde(with = "common::config::duration_str")]
    pub backfill: Duration,
    /// Pins "now" for the simulator (RFC 3339 or unix ms); empty is the clock.
    pub start: String,
    /// Write the simulated hosts' batches to this file as JSON lines instead of
    /// sending them (`-` is stdout); with `backfill`, exit when it is done.
    pub dump: Option<PathBuf>,
    /// Process names counted every process refresh into
    /// `system.processes.watched{name}` (0 when none runs), for "process not
    /// running" alerts.
    pub watch_processes: Vec<String>,
    /// Incidents to inject into the simulated hosts beside the scenario's,
    /// each `KIND@HOST[+DELAY][/DURATION][*SEVERITY]` (see
    /// [`crate::simulate::Injection`]); the delay counts from `start`, or from
    /// when the agent starts. They go to the ground truth like the others.
    pub inject: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            hub_url: DEFAULT_HUB_URL.to_owned(),
            interval: DEFAULT_INTERVAL,
            site: String::new(),
            agent_id: String::new(),
            credentials: String::new(),
            enrolment_token: String::new(),
            credential_file: None,
            collect_local: true,
            simulate: 0,
            sites: DEFAULT_SITES,
            seed: DEFAULT_SEED,
            queue_batches: DEFAULT_QUEUE_BATCHES,
            spool_dir: None,
            spool_bytes: DEFAULT_SPOOL_BYTES,
            ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
            tls_server_name: String::new(),
            compression: Compression::default(),
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            scenario: DEFAULT_SCENARIO.to_owned(),
            ground_truth: None,
            backfill: Duration::ZERO,
            start: String::new(),
            dump: None,
            watch_processes: Vec::new(),
            inject: Vec::new(),
        }
    }
}

impl Config {
    pub fn validate(&self) -> Result<(), String> {
        if !(self.hub_url.starts_with("http://") || self.hub_url.starts_with("https://")) {
            return Err(format!(
                "hub_url {:?} must start with http:// or https://",
                self.hub_url
            ));
        }
        if self.interval < MIN_INTERVAL {
            return Err(format!("interval must be at least {MIN_INTERVAL:?}"));
        }
        if self.sites == 0 {
            return Err("sites must be at least 1".into());
        }
        if self.queue_batches == 0 {
            return Err("queue_batches must be at least 1".into());
        }
        if self.spool_bytes < MIN_SPOOL_BYTES {
            return Err(format!("spool_bytes must be at least {MIN_SPOOL_BYTES}"));
        }
        let https = self.hub_url.starts_with("https://");
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            return Err("tls_cert_file and tls_key_file go together: set both or neither".into());
        }
        if !https
            && (self.ca_file.is_some()
                || self.tls_cert_file.is_some()
                || !self.tls_server_name.is_empty())
        {
            return Err(format!(
                "ca_file, tls_cert_file and tls_server_name need an https:// hub_url, not {:?}",
                self.hub_url
            ));
        }
        if !self.collect_local && self.simulate == 0 {
            return Err("nothing to do: collect_local is off and simulate is 0".into());
        }
        crate::simulate::Scenario::parse(&self.scenario)?;
        self.start_ms()?;
        if !self.backfill.is_zero() && self.simulate == 0 {
            return Err("backfill needs simulated hosts (simulate > 0)".into());
        }
        if !self.inject.is_empty() {
            if self.simulate == 0 {
                return Err("inject needs simulated hosts (simulate > 0)".into());
            }
            self.injections()?;
        }
        if self.dump.is_some() && (self.collect_local || self.simulate == 0) {
            return Err("dump writes simulated hosts only: set simulate and turn collect_local off (--no-local)".into());
        }
        Ok(())
    }

    /// The `inject` incidents, pinned to their hosts and to times counted
    /// from the pinned start, or from now.
    pub fn injections(&self) -> Result<Vec<crate::simulate::PlannedInjection>, String> {
        let fleet = crate::simulate::FleetConfig {
            hosts: self.simulate,
            sites: self.sites,
            seed: self.seed,
            scenario: crate::simulate::Scenario::parse(&self.scenario)?,
        };
        let base = self.start_ms()?.unwrap_or_else(common::now_ms);
        self.inject
            .iter()
            .map(|spec| {
                spec.parse::<crate::simulate::Injection>()?
                    .plan(&fleet, base)
            })
            .collect()
    }

    /// The pinned start (`start`), or `None` to use the clock.
    pub fn start_ms(&self) -> Result<Option<i64>, String> {
        if self.start.trim().is_empty() {
            return Ok(None);
        }
        crate::simulate::calendar::parse_time(&self.start).map(Some)
    }
}
