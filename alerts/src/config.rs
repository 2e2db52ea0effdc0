//! The alert service's `Config` (`config/alerts.example.toml`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::inhibit::InhibitRule;
use crate::rules::Rule;
use crate::subscription::Timing;

pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:9093";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://hostwatch-alerts.db";
pub const DEFAULT_TICK: Duration = Duration::from_secs(1);
pub const DEFAULT_RESOLVE_TIMEOUT: Duration = Duration::from_secs(300);
pub const DEFAULT_RESOLVED_RETENTION: Duration = Duration::from_secs(3600);
pub const DEFAULT_MAX_ALERTS: usize = 100_000;
pub const DEFAULT_RULES_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_FORECAST_EVERY: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub http_addr: SocketAddr,
    /// `sqlite://PATH` (embedded) or `postgres://…` (production).
    pub database_url: String,
    /// The edge whose anomaly-event feed (`/api/v1/events/feed`) becomes
    /// alerts; unset: only the Alertmanager API and rules feed alerts.
    pub edge_url: Option<String>,
    /// Bearer token for the edge's feed (its `feed_token`).
    pub edge_token: Option<String>,
    /// Demo mode: no login (one user, `demo`) and private webhook targets allowed.
    pub demo: bool,
    /// Allow webhooks to loopback, private and link-local addresses. Off by
    /// default: a subscriber must not be able to make us probe the inside.
    pub allow_private_targets: bool,
    /// How often groups are checked for due notifications.
    #[serde(with = "common::config::duration_str")]
    pub tick: Duration,
    /// An API alert without `endsAt` resolves this long after its last report.
    #[serde(with = "common::config::duration_str")]
    pub resolve_timeout: Duration,
    /// Resolved alerts are kept this long (listing, late resolved notices).
    #[serde(with = "common::config::duration_str")]
    pub resolved_retention: Duration,
    /// Alerts held at once; beyond, new ones are refused and counted.
    pub max_alerts: usize,
    pub route: Route,
    pub delivery: Delivery,
    pub smtp: Option<Smtp>,
    pub inhibit: Vec<InhibitRule>,
    /// People who may manage subscriptions; each sees only their own.
    pub users: Vec<User>,
    /// When set, `POST /api/v2/alerts` and the silence endpoints require
    /// `Authorization: Bearer <ingest_token>` (Prometheus: `authorization:`).
    pub ingest_token: Option<String>,
    /// Origins (`https://dash.example.com`) whose pages may call this API
    /// from a browser; the demo adds its dashboard's.
    pub cors_origins: Vec<String>,
    /// Threshold, absence and forecast rules over the edge's data (`[[rule]]`);
    /// evaluated only with `edge_url`. Default: `Rule::defaults()`.
    #[serde(rename = "rule")]
    pub rules: Vec<Rule>,
    #[serde(with = "common::config::duration_str")]
    pub rules_interval: Duration,
    /// Forecasts read ranges, so they run less often than the other rules.
    #[serde(with = "common::config::duration_str")]
    pub forecast_every: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            // A literal address; covered by the config tests.
            #[allow(clippy::unwrap_used)]
            http_addr: DEFAULT_HTTP_ADDR.parse().unwrap(),
            database_url: DEFAULT_DATABASE_URL.to_owned(),
            edge_url: None,
            edge_token: None,
            demo: false,
            allow_private_targets: false,
            tick: DEFAULT_TICK,
            resolve_timeout: DEFAULT_RESOLVE_TIMEOUT,
            resolved_retention: DEFAULT_RESOLVED_RETENTION,
            max_alerts: DEFAULT_MAX_ALERTS,
            route: Route::default(),
            delivery: Delivery::default(),
            smtp: None,
            inhibit: vec![InhibitRule::host_down()],
            users: Vec::new(),
            ingest_token: None,
            cors_origins: Vec::new(),
            rules: Rule::defaults(),
            rules_interval: DEFAULT_RULES_INTERVAL,
            forecast_every: DEFAULT_FORECAST_EVERY,
        }
    }
}

/// Defaults for subscriptions that do not set their own.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Route {
    pub group_by: Vec<String>,
    #[serde(with = "common::config::duration_str")]
    pub group_wait: Duration,
    #[serde(with = "common::config::duration_str")]
    pub group_interval: Duration,
    #[serde(with = "common::config::duration_str")]
    pub repeat_interval: Duration,
}

impl Default for Route {
    fn default() -> Self {
        let t = Timing::default();
        Self {
            group_by: vec!["alertname".into(), "site".into(), "host".into()],
            group_wait: t.group_wait,
            group_interval: t.group_interval,
            repeat_interval: t.repeat_interval,
        }
    }
}

impl Route {
    pub fn timing(&self) -> Timing {
        Timing {
            group_wait: self.group_wait,
            group_interval: self.group_interval,
            repeat_interval: self.repeat_interval,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Delivery {
    /// Per attempt, connect to last byte.
    #[serde(with = "common::config::duration_str")]
    pub timeout: Duration,
    /// First retry after about this long, doubling up to `retry_max`.
    #[serde(with = "common::config::duration_str")]
    pub retry_base: Duration,
    #[serde(with = "common::config::duration_str")]
    pub retry_max: Duration,
    /// A notification still undelivered this long after it was created is
    /// given up (state `failed`, counted).
    #[serde(with = "common::config::duration_str")]
    pub give_up_after: Duration,
    /// Deliveries in flight at once.
    pub concurrency: usize,
}

impl Default for Delivery {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            give_up_after: Duration::from_secs(24 * 3600),
            concurrency: 16,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StartTls {
    /// Refuse to send unless the server upgrades to TLS.
    #[default]
    Required,
    /// Upgrade when offered.
    Opportunistic,
    /// Plain text (only for a relay on loopback).
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Smtp {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    #[serde(default)]
    pub starttls: StartTls,
    /// PEM file with extra CA certificates to trust (a private relay).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub username: Option<String>,
    /// File holding the password (never the password itself in the config).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    pub from: String,
}

fn default_smtp_port() -> u16 {
    587
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub name: String,
    /// SHA-256 (hex) of the user's API token; `hostwatch alerts hash-token`
    /// prints it. Only the hash is kept.
    pub token_sha256: String,
    /// Sees and manages every subscription.
    #[serde(default)]
    pub admin: bool,
}

impl Config {
    pub fn validate(&self) -> Result<(), String> {
        if !(self.database_url.starts_with("sqlite:")
            || self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://"))
        {
            return Err(format!(
                "database_url {:?} must be sqlite://PATH or postgres://…",
                self.database_url
            ));
        }
        if let Some(u) = &self.edge_url {
            if !["http://", "https://", "ws://", "wss://"]
                .iter()
                .any(|p| u.starts_with(p))
            {
                return Err(format!(
                    "edge_url {u:?} must start with http(s):// or ws(s)://"
                ));
            }
        }
        if self.tick.is_zero() {
            return Err("tick must be above zero".into());
        }
        self.route.timing().validate()?;
        if self.delivery.concurrency == 0 {
            return Err("delivery.concurrency must be at least 1".into());
        }
        if self.delivery.retry_base.is_zero() || self.delivery.retry_max < self.delivery.retry_base
        {
            return Err("delivery.retry_base must be above zero and at most retry_max".into());
        }
        for u in &self.users {
            if u.token_sha256.len() != 64 || hex::decode(&u.token_sha256).is_err() {
                return Err(format!(
                    "user {:?}: token_sha256 must be 64 hex digits (hostwatch alerts hash-token)",
                    u.name
                ));
            }
        }
        if self.rules_interval.is_zero() || self.forecast_every.is_zero() {
            return Err("rules_interval and forecast_every must be above zero".into());
        }
        for r in &self.rules {
            r.validate()?;
        }
        for o in &self.cors_origins {
            if !(o.starts_with("http://") || o.starts_with("https://")) || o.ends_with('/') {
                return Err(format!(
                    "cors_origins entry {o:?} must look like https://host[:port]"
                ));
            }
        }
        if let Some(s) = &self.smtp {
            s.from
                .parse::<lettre::message::Mailbox>()
                .map_err(|e| format!("smtp.from {:?}: {e}", s.from))?;
        }
        Ok(())
    }
}
