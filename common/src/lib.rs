//! Small shared crate: written once instead of once per component.
//!
//! - [`model`]: domain types (series keys, samples, snapshots, host status) that
//!   storage, the gateway and the dashboard use instead of prost types.
//! - [`convert`]: the one place where `proto` messages become domain types.
//! - [`headline`]: which series make a host's CPU / memory / disk percentages.
//! - [`config`]: TOML file loading under the defaults < file < env < flags rule.
//! - [`metrics`]: a tiny Prometheus text-format registry for our own `/metrics`.
//! - [`telemetry`]: tracing set-up (text or JSON).
//! - [`shutdown`]: SIGINT/SIGTERM → `CancellationToken`.
//! - [`backoff`]: exponential backoff with full jitter for reconnect loops.
//! - [`thin`]: reduce a range to a point budget by time-bucket averages.
//! - [`tls`]: reading PEM certificates and keys with clear errors.

pub mod backoff;
pub mod config;
pub mod convert;
pub mod error;
pub mod headline;
pub mod metrics;
pub mod model;
pub mod shutdown;
pub mod telemetry;
pub mod thin;
pub mod tls;

pub use error::{Error, Result};

/// Milliseconds since the Unix epoch, from the system clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
