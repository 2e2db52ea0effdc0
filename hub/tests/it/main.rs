//! Hub integration tests: a real hub on ephemeral ports driven by a raw gRPC
//! client, so every message on the wire is under the test's control.

mod auth;
mod bad_input;
mod bands;
mod correlations;
mod costs;
mod forecasts;
mod freshness;
mod live;
mod models;
mod processes;
mod storage;
mod support;
