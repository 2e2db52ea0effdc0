//! The hostwatch agent: collects host metrics and streams them to a hub.
//!
//! - [`collect`]: real host metrics via sysinfo, one file per family.
//! - [`simulate`]: virtual hosts (baseline, daily cycle, noise) for demos and tests.
//! - [`transport`]: the ingest stream to the hub: hello/welcome, symbol table,
//!   unacked queue, replay after reconnect, backoff with full jitter.
//! - [`config`]: the agent's `Config`.
//!
//! The agent never links a database or Redis client: it must stay small.

pub mod collect;
pub mod simulate;
