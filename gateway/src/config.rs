//! The standalone gateway's `Config` (the site's LAN dashboard).

use std::net::SocketAddr;

use serde::Deserialize;

pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8080";
pub const DEFAULT_HUB_URL: &str = "http://127.0.0.1:7400";

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub http_addr: SocketAddr,
    /// The hub's gRPC address.
    pub hub_url: String,
    /// Dashboard login; without a users file every API request is refused.
    pub auth: crate::auth::Config,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            // A literal address; covered by the config tests.
            #[allow(clippy::unwrap_used)]
            http_addr: DEFAULT_HTTP_ADDR.parse().unwrap(),
            hub_url: DEFAULT_HUB_URL.to_owned(),
            auth: crate::auth::Config::default(),
        }
    }
}

impl Config {
    pub fn validate(&self) -> Result<(), String> {
        self.auth.validate()?;
        if !(self.hub_url.starts_with("http://") || self.hub_url.starts_with("https://")) {
            return Err(format!(
                "hub_url {:?} must start with http:// or https://",
                self.hub_url
            ));
        }
        Ok(())
    }
}
