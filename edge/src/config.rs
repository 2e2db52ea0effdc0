//! The edge's `Config`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8080";
/// How much of every series the edge keeps in memory.
pub const DEFAULT_HOT_WINDOW: Duration = Duration::from_secs(3600);
/// Cap on points kept per series, whatever the window (1 Hz for an hour).
pub const DEFAULT_MAX_POINTS_PER_SERIES: usize = 3600;
pub const DEFAULT_MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub http_addr: SocketAddr,
    #[serde(with = "common::config::duration_str")]
    pub hot_window: Duration,
    pub max_points_per_series: usize,
    /// Largest uplink frame accepted.
    pub max_frame_bytes: usize,
    /// Site → credential a hub of that site must present. Empty: any hub is
    /// accepted (only sensible on loopback and in the demo; a warning is logged).
    pub site_credentials: BTreeMap<String, String>,
    /// Serve the dashboard in demo mode (no login; the page says so).
    pub demo: bool,
    /// Bearer token the alert service presents on `/api/v1/events/feed`;
    /// unset: anyone may read the feed (warned at start-up).
    pub feed_token: Option<String>,
    /// The alert service's URL as browsers reach it, for the dashboard's
    /// Alerts page; unset hides the page.
    pub alerts_url: Option<String>,
    /// Dashboard login (`[auth]`); outside demo mode, without a users file
    /// every dashboard API request is refused, saying how to create a user.
    pub auth: gateway::auth::Config,
}

/// Written by hand so a logged or panicked config never shows a site
/// credential or the feed token: sites are listed, secrets are not.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("http_addr", &self.http_addr)
            .field("hot_window", &self.hot_window)
            .field("max_points_per_series", &self.max_points_per_series)
            .field("max_frame_bytes", &self.max_frame_bytes)
            .field(
                "site_credentials",
                &self
                    .site_credentials
                    .keys()
                    .map(|site| (site, "<redacted>"))
                    .collect::<BTreeMap<_, _>>(),
            )
            .field("demo", &self.demo)
            .field(
                "feed_token",
                &self.feed_token.as_ref().map(|_| "<redacted>"),
            )
            .field("alerts_url", &self.alerts_url)
            .field("auth", &self.auth)
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            // A literal address; covered by the config tests.
            #[allow(clippy::unwrap_used)]
            http_addr: DEFAULT_HTTP_ADDR.parse().unwrap(),
            hot_window: DEFAULT_HOT_WINDOW,
            max_points_per_series: DEFAULT_MAX_POINTS_PER_SERIES,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            site_credentials: BTreeMap::new(),
            demo: false,
            feed_token: None,
            alerts_url: None,
            auth: gateway::auth::Config::default(),
        }
    }
}

impl Config {
    pub fn validate(&self) -> Result<(), String> {
        self.auth.validate()?;
        if self.max_points_per_series == 0 {
            return Err("max_points_per_series must be positive".into());
        }
        if self.hot_window.is_zero() {
            return Err("hot_window must be positive".into());
        }
        if self
            .feed_token
            .as_deref()
            .is_some_and(|t| t.trim().is_empty())
        {
            return Err("feed_token must not be empty (leave it out to allow anyone)".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::Config;

    fn parse(text: &str) -> Config {
        common::config::parse(text, Path::new("edge.toml")).expect("parses")
    }

    #[test]
    fn debug_output_names_sites_but_not_secrets() {
        let c = parse(
            r#"feed_token = "feed-s3cret"
            [site_credentials]
            eu = "site-s3cret""#,
        );
        let text = format!("{c:?}");
        assert!(text.contains("eu"), "{text}");
        assert!(!text.contains("s3cret"), "{text}");
    }

    #[test]
    fn feed_token_is_optional_and_never_empty() {
        assert_eq!(parse("").feed_token, None);
        let c = parse(r#"feed_token = "s3cret""#);
        assert_eq!(c.feed_token.as_deref(), Some("s3cret"));
        assert!(c.validate().is_ok());
        assert!(parse(r#"feed_token = " ""#).validate().is_err());
    }
}
