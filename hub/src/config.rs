//! The hub's `Config`: defaults < TOML file < `HOSTWATCH_HUB_*` env < flags.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

pub const DEFAULT_GRPC_ADDR: &str = "127.0.0.1:7400";
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:7401";
pub const DEFAULT_DATABASE_PATH: &str = "hostwatch-hub.db";
pub const DEFAULT_SITE: &str = "default";
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = proto::MAX_MESSAGE_BYTES;
pub const DEFAULT_MAX_SERIES_PER_AGENT: usize = 10_000;
pub const DEFAULT_MAX_LABELS_PER_SERIES: usize = 30;
pub const DEFAULT_MAX_NAME_LEN: usize = 200;
pub const DEFAULT_MAX_LABEL_VALUE_LEN: usize = 512;
pub const DEFAULT_MAX_ROWS_PER_BATCH: usize = 100_000;
/// Bytes of batches held between "received" and "durable" across all agents
/// before ingest streams wait (and agents spool).
pub const DEFAULT_MAX_BUFFERED_BYTES: u64 = 256 << 20;
/// Samples further than this in the future are rejected (clock skew guard).
pub const DEFAULT_MAX_FUTURE: Duration = Duration::from_secs(5 * 60);
/// Samples older than this are rejected (absurd timestamps, e.g. 1970).
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(400 * 86_400);
pub const DEFAULT_UPLINK_OUTBOX_FRAMES: usize = 100_000;
/// Batches allowed in the Redis stream ahead of history before ingest refuses
/// more (about 3 min of 1,000 agents at 1 s).
pub const DEFAULT_REDIS_MAX_BACKLOG: usize = 200_000;
/// PostgreSQL connections: the writer, the maintenance task and queries.
pub const DEFAULT_POSTGRES_MAX_CONNECTIONS: u32 = 8;
/// Raw samples are kept this long (whole daily partitions are dropped).
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 86_400);
/// 1-minute rollups are kept this long.
pub const DEFAULT_RETENTION_1M: Duration = Duration::from_secs(90 * 86_400);
/// 1-hour rollups are kept this long.
pub const DEFAULT_RETENTION_1H: Duration = Duration::from_secs(730 * 86_400);
/// How often the hub maintains partitions, retention and rollups.
pub const DEFAULT_MAINTENANCE_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    /// Embedded SQLite history file; `:memory:` keeps history in RAM only.
    pub database_path: PathBuf,
    /// `postgres://…` history database (PostgreSQL, TimescaleDB when present);
    /// empty keeps the embedded SQLite history.
    pub database_url: String,
    /// Name of this hub's site; agents may name their own.
    pub site: String,
    /// Identity of this hub on the uplink; defaults to the site name.
    pub hub_id: String,
    /// Collection interval to ask agents for; 0 lets each agent keep its own.
    #[serde(with = "common::config::duration_str")]
    pub agent_interval: Duration,
    /// Per-agent overrides of `agent_interval`: agent id or a pattern with `*`
    /// (e.g. `"sim-db-*" = "10s"`) → interval. An exact id wins, then the
    /// pattern with the longest literal text.
    pub agent_intervals: std::collections::BTreeMap<String, String>,
    /// Run anomaly detection on every stored row.
    pub detect_anomalies: bool,
    /// Trend and capacity forecasts of filesystems, inodes, memory, swap and
    /// file descriptors (`/api/v1/forecasts`).
    pub forecast_capacity: bool,
    /// How often detector models are snapshotted (to Redis, else the history
    /// database) so a restart resumes warm; they are also saved at shutdown.
    /// 0 turns snapshots off.
    #[serde(with = "common::config::duration_str")]
    pub model_snapshot_interval: Duration,
    /// The detection engine's parameters (one set for every series; the
    /// defaults are the ones scored on NAB, see bench/README.md). Models
    /// snapshotted under other parameters start cold.
    pub detection: crate::detect::Config,
    /// Freshness gauges and host-down events (`[freshness]`).
    pub freshness: crate::freshness::FreshnessConfig,
    /// The price model of the hourly cost estimate (`[cost]`).
    pub cost: crate::cost::CostConfig,
    /// The periodic anomaly/load correlation (`[correlation]`).
    pub correlation: crate::correlation::CorrelationConfig,
    pub limits: Limits,
    pub uplink: UplinkConfig,
    pub redis: RedisConfig,
    pub postgres: PostgresConfig,
    pub security: SecurityConfig,
}

/// Whether agents must authenticate on the ingest stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Any agent that reaches the gRPC port is accepted (the demo, tests, a
    /// trusted LAN); credentials in a Hello are ignored.
    #[default]
    Off,
    /// Every Hello must carry this agent's credential or a valid enrolment
    /// token (see `hub::auth`).
    Required,
}

impl std::str::FromStr for AuthMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "off" => Ok(AuthMode::Off),
            "required" => Ok(AuthMode::Required),
            other => Err(format!(
                "auth must be \"off\" or \"required\", not {other:?}"
            )),
        }
    }
}

/// TLS on the gRPC port and agent authentication.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityConfig {
    pub auth: AuthMode,
    /// PEM certificate chain served on the gRPC port; with `tls_key_file`
    /// turns TLS on (agents then use `https://`).
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
    /// PEM CA certificate(s): when set, clients must present a certificate
    /// signed by one of them (mutual TLS).
    pub tls_client_ca_file: Option<PathBuf>,
}

impl SecurityConfig {
    pub fn tls_enabled(&self) -> bool {
        self.tls_cert_file.is_some()
    }
}

/// History in PostgreSQL (used when `database_url` is set).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PostgresConfig {
    pub max_connections: u32,
    /// Raw samples older than this are dropped.
    #[serde(with = "common::config::duration_str")]
    pub retention: Duration,
    /// 1-minute rollups older than this are dropped.
    #[serde(with = "common::config::duration_str")]
    pub retention_1m: Duration,
    /// 1-hour rollups older than this are dropped.
    #[serde(with = "common::config::duration_str")]
    pub retention_1h: Duration,
    /// Partitions, retention and rollups are maintained this often; `0s` turns
    /// it off in this hub (when another hub on the same database does it).
    #[serde(with = "common::config::duration_str")]
    pub maintenance_interval: Duration,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_POSTGRES_MAX_CONNECTIONS,
            retention: DEFAULT_RETENTION,
            retention_1m: DEFAULT_RETENTION_1M,
            retention_1h: DEFAULT_RETENTION_1H,
            maintenance_interval: DEFAULT_MAINTENANCE_INTERVAL,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://host:port/db`; empty keeps the in-process buffer (ack after commit).
    pub url: String,
    /// Batches waiting for history before ingest answers "unavailable".
    pub max_backlog: usize,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            max_backlog: DEFAULT_REDIS_MAX_BACKLOG,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    pub max_message_bytes: usize,
    pub max_series_per_agent: usize,
    pub max_labels_per_series: usize,
    pub max_name_len: usize,
    pub max_label_value_len: usize,
    pub max_rows_per_batch: usize,
    /// Memory bound of batches on their way to durability, all agents together.
    pub max_buffered_bytes: u64,
    #[serde(with = "common::config::duration_str")]
    pub max_future: Duration,
    #[serde(with = "common::config::duration_str")]
    pub max_age: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UplinkConfig {
    /// `ws://` or `wss://` URL of the edge's `/uplink`; empty turns the uplink off.
    pub edge_url: String,
    /// Site credential presented to the edge.
    pub credentials: String,
    /// Frames kept for the edge while it is unreachable; oldest dropped (and
    /// counted) beyond this.
    pub outbox_frames: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            grpc_addr: parse_addr(DEFAULT_GRPC_ADDR),
            http_addr: parse_addr(DEFAULT_HTTP_ADDR),
            database_path: PathBuf::from(DEFAULT_DATABASE_PATH),
            database_url: String::new(),
            site: DEFAULT_SITE.to_owned(),
            hub_id: String::new(),
            agent_interval: Duration::ZERO,
            agent_intervals: Default::default(),
            detect_anomalies: true,
            forecast_capacity: true,
            model_snapshot_interval: Duration::from_secs(600),
            detection: Default::default(),
            freshness: Default::default(),
            cost: Default::default(),
            correlation: Default::default(),
            limits: Limits::default(),
            uplink: UplinkConfig::default(),
            redis: RedisConfig::default(),
            postgres: PostgresConfig::default(),
            security: SecurityConfig::default(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_series_per_agent: DEFAULT_MAX_SERIES_PER_AGENT,
            max_labels_per_series: DEFAULT_MAX_LABELS_PER_SERIES,
            max_name_len: DEFAULT_MAX_NAME_LEN,
            max_label_value_len: DEFAULT_MAX_LABEL_VALUE_LEN,
            max_rows_per_batch: DEFAULT_MAX_ROWS_PER_BATCH,
            max_buffered_bytes: DEFAULT_MAX_BUFFERED_BYTES,
            max_future: DEFAULT_MAX_FUTURE,
            max_age: DEFAULT_MAX_AGE,
        }
    }
}

impl Default for UplinkConfig {
    fn default() -> Self {
        Self {
            edge_url: String::new(),
            credentials: String::new(),
            outbox_frames: DEFAULT_UPLINK_OUTBOX_FRAMES,
        }
    }
}

impl Config {
    /// Checks what serde cannot; call after all layers are applied.
    /// The collection interval to ask `agent_id` for (zero: keep its own).
    pub fn interval_for(&self, agent_id: &str) -> Duration {
        if let Some(d) = self.agent_intervals.get(agent_id) {
            return common::config::parse_duration(d).unwrap_or(self.agent_interval);
        }
        self.agent_intervals
            .iter()
            .filter(|(p, _)| p.contains('*') && glob_match(p, agent_id))
            .max_by_key(|(p, _)| p.len() - p.matches('*').count())
            .and_then(|(_, d)| common::config::parse_duration(d).ok())
            .unwrap_or(self.agent_interval)
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.site.is_empty() {
            return Err("site must not be empty".into());
        }
        for (pattern, d) in &self.agent_intervals {
            common::config::parse_duration(d)
                .map_err(|e| format!("agent_intervals.{pattern:?}: {e}"))?;
        }
        self.detection.validate()?;
        self.freshness.validate()?;
        self.cost.validate()?;
        self.correlation.validate()?;
        if self.limits.max_message_bytes < 1024 {
            return Err("limits.max_message_bytes must be at least 1024".into());
        }
        let url = &self.uplink.edge_url;
        if !(url.is_empty() || url.starts_with("ws://") || url.starts_with("wss://")) {
            return Err(format!(
                "uplink.edge_url {url:?} must start with ws:// or wss://"
            ));
        }
        let db = &self.database_url;
        if !(db.is_empty() || db.starts_with("postgres://") || db.starts_with("postgresql://")) {
            // Not echoed: the URL may carry a password.
            return Err("database_url must start with postgres:// or postgresql://".into());
        }
        let pg = &self.postgres;
        if pg.max_connections < 2 {
            return Err("postgres.max_connections must be at least 2".into());
        }
        if pg.retention < Duration::from_secs(86_400) {
            return Err("postgres.retention must be at least 1d".into());
        }
        let sec = &self.security;
        if sec.tls_cert_file.is_some() != sec.tls_key_file.is_some() {
            return Err(
                "security.tls_cert_file and security.tls_key_file go together: set both or neither"
                    .into(),
            );
        }
        if sec.tls_client_ca_file.is_some() && !sec.tls_enabled() {
            return Err(
                "security.tls_client_ca_file (mutual TLS) needs tls_cert_file and tls_key_file"
                    .into(),
            );
        }
        Ok(())
    }

    pub fn hub_id(&self) -> &str {
        if self.hub_id.is_empty() {
            &self.site
        } else {
            &self.hub_id
        }
    }
}

fn parse_addr(s: &str) -> SocketAddr {
    // The constants above are literal socket addresses; a typo there is a bug
    // caught by the config tests, not a runtime condition.
    #[allow(clippy::unwrap_used)]
    s.parse().unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_unknown_keys_are_refused() {
        Config::default().validate().expect("defaults are valid");
        let err = common::config::parse::<Config>("nope = 1", "x.toml".as_ref());
        assert!(err.is_err());
        let c: Config = common::config::parse(
            "site = \"eu\"\n[limits]\nmax_future = \"1m\"\n",
            "x.toml".as_ref(),
        )
        .expect("parses");
        assert_eq!(c.limits.max_future, Duration::from_secs(60));
        assert_eq!(c.hub_id(), "eu");
    }

    #[test]
    fn security_section_parses_and_half_a_tls_pair_is_refused() {
        let c: Config = common::config::parse(
            "[security]\nauth = \"required\"\ntls_cert_file = \"c.pem\"\ntls_key_file = \"k.pem\"\n",
            "x.toml".as_ref(),
        )
        .expect("parses");
        assert_eq!(c.security.auth, AuthMode::Required);
        c.validate().expect("valid");
        let half: Config =
            common::config::parse("[security]\ntls_cert_file = \"c.pem\"\n", "x.toml".as_ref())
                .expect("parses");
        assert!(half
            .validate()
            .expect_err("half a pair")
            .contains("go together"));
        assert!(common::config::parse::<Config>(
            "[security]\nauth = \"maybe\"\n",
            "x.toml".as_ref()
        )
        .is_err());
    }
}

/// `*` matches any run of characters (none included); everything else is literal.
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, rest) = match parts.split_first() {
        Some(x) => x,
        None => return text.is_empty(),
    };
    let Some(mut tail) = text.strip_prefix(first) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return tail.is_empty();
    };
    for part in middle {
        match tail.find(part) {
            Some(i) => tail = &tail[i + part.len()..],
            None => return false,
        }
    }
    tail.len() >= last.len() && tail.ends_with(last)
}

#[cfg(test)]
mod interval_tests {
    use super::*;

    #[test]
    fn globs_match_like_shells() {
        assert!(glob_match("sim-*", "sim-db-001"));
        assert!(glob_match("*-001", "sim-db-001"));
        assert!(glob_match("sim-*-0*1", "sim-db-001"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("sim-*", "web-1"));
        assert!(!glob_match("a*b", "ab-"));
        assert!(!glob_match("ab*ba", "aba"), "overlapping prefix and suffix");
    }

    #[test]
    fn exact_id_then_longest_pattern_then_default() {
        let c = Config {
            agent_interval: Duration::from_secs(1),
            agent_intervals: [("sim-*", "5s"), ("sim-db-*", "10s"), ("sim-db-007", "1m")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            ..Default::default()
        };
        c.validate().expect("valid");
        assert_eq!(c.interval_for("sim-db-007"), Duration::from_secs(60));
        assert_eq!(c.interval_for("sim-db-001"), Duration::from_secs(10));
        assert_eq!(c.interval_for("sim-web-001"), Duration::from_secs(5));
        assert_eq!(c.interval_for("laptop"), Duration::from_secs(1));
        let bad = Config {
            agent_intervals: [("x".to_owned(), "soon".to_owned())].into_iter().collect(),
            ..Default::default()
        };
        assert!(bad.validate().is_err());
    }
}
