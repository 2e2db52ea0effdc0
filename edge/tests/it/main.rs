//! The edge over real sockets: an edge on an ephemeral port, fed by a fake
//! hub speaking the real uplink protocol, read by real WebSocket clients.

mod auth;
mod correlations;
mod costs;
mod feed;
mod forecasts;
mod ledger;
mod support;
