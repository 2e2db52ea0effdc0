//! End-to-end tests: real components on ephemeral ports, talking over real
//! sockets (agent → hub over gRPC, hub → edge over WebSocket, browser API).

mod alerts;
mod alerts_pipeline;
mod config_examples;
mod dashboard_login;
mod detect;
mod exactly_once;
mod faults;
mod hub_process;
mod live_api;
mod security;
mod simulate;
mod spool;

mod support;
mod uplink;
