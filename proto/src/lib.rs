//! The wire contract between hostwatch components, package `hostwatch.v1`.
//!
//! - `ingest.proto`: agent → hub, one bidirectional stream per agent (`Ingest.Stream`).
//! - `query.proto`: the hub's read API (`Query`), used by the site gateway.
//! - `uplink.proto`: hub ↔ edge frames carried over a WebSocket.
//! - `buffer.proto`: hub-internal Redis stream entries.
//!
//! Components convert these prost types into `common` domain types at their edge;
//! nothing deeper (storage, detection) sees prost types.

#[allow(clippy::all, clippy::unwrap_used, missing_docs)]
mod generated {
    tonic::include_proto!("hostwatch.v1");
}

pub use generated::*;

/// Default limit on one encoded message, in bytes (DESIGN: 4 MiB).
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
