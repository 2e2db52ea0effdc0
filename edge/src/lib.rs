//! The cloud edge: accepts hub uplinks from many sites, keeps a hot window of
//! every series in memory, and serves the gateway's API and dashboard over it.
//!
//! - [`uplink`]: the `/uplink` WebSocket (hello, credentials, seq/ack).
//! - [`fleet`]: multi-site live state and hot window.
//! - [`feed`]: `/api/v1/events/feed`, anomaly events numbered for the alert
//!   service (seq/ack, replay after a reconnect).
//! - [`hubs`]: connected hubs and requests sent down their uplinks.
//! - [`source`]: the gateway `DataSource` over the fleet.
//!
//! Invariant: the edge never writes history; older ranges come from the hubs.

pub mod config;
pub mod error;
pub mod feed;
pub mod fleet;
pub mod hubs;
pub mod metrics;
pub mod source;
pub mod uplink;

use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use common::metrics::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::Config;
pub use error::{Error, Result};

use fleet::Fleet;
use hubs::Hubs;
use metrics::EdgeMetrics;

pub struct Edge {
    pub config: Config,
    pub fleet: Arc<Fleet>,
    pub hubs: Hubs,
    pub metrics: EdgeMetrics,
    /// Cancelled when the edge stops; long-lived sockets (the event feed)
    /// close on it.
    pub shutdown: CancellationToken,
}

impl Edge {
    /// Checks a hub's credential for its site. With no credentials configured
    /// every hub is accepted (warned about at start-up).
    pub fn authorize(&self, hello: &proto::UplinkHello) -> Result<(), &'static str> {
        if self.config.site_credentials.is_empty() {
            return Ok(());
        }
        match self.config.site_credentials.get(&hello.site) {
            None => Err("unknown site"),
            Some(expected)
                if constant_time_eq(expected.as_bytes(), hello.credentials.as_bytes()) =>
            {
                Ok(())
            }
            Some(_) => Err("wrong credentials"),
        }
    }
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Runs the edge on `listener` until `shutdown`.
pub async fn run(config: Config, listener: TcpListener, shutdown: CancellationToken) -> Result<()> {
    config.validate().map_err(Error::Config)?;
    if config.site_credentials.is_empty() {
        tracing::warn!("no site_credentials configured: any hub may connect to /uplink");
    }
    if config.feed_token.is_none() {
        tracing::warn!("no feed_token configured: anyone may read /api/v1/events/feed");
    }
    let registry = Registry::new();
    let edge = Arc::new(Edge {
        fleet: Arc::new(Fleet::new(config.hot_window, config.max_points_per_series)),
        hubs: Hubs::default(),
        metrics: EdgeMetrics::new(registry.clone()),
        shutdown: shutdown.child_token(),
        config,
    });
    let mode = if edge.config.demo {
        gateway::Mode::Demo
    } else {
        gateway::Mode::Edge
    };
    let source = Arc::new(source::EdgeSource(edge.clone()));
    let app = Router::new()
        .route("/uplink", get(uplink::upgrade))
        .route("/api/v1/events/feed", get(feed::upgrade))
        .with_state(edge.clone())
        .merge(gateway::ops_router(registry.clone()))
        .merge(gateway::router_with(
            source,
            gateway::Options {
                mode,
                alerts_url: edge.config.alerts_url.clone(),
                auth: edge.config.auth.clone(),
            },
            &registry,
        ));
    tracing::info!(addr = ?listener.local_addr().ok(), "edge listening");
    let token = shutdown.clone();
    // The peer address feeds the dashboard's login rate limit per client.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move { token.cancelled().await })
    .await
    .map_err(|e| Error::Server(e.to_string()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn constant_time_eq_matches_eq() {
        assert!(super::constant_time_eq(b"abc", b"abc"));
        assert!(!super::constant_time_eq(b"abc", b"abd"));
        assert!(!super::constant_time_eq(b"abc", b"ab"));
    }
}
