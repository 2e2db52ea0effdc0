//! Real servers for hostwatch's tests, started and thrown away per test.
//!
//! - [`Postgres`]: a database on `HOSTWATCH_TEST_DATABASE_URL` (a fresh database
//!   per test), or else a throwaway cluster (`initdb` into a temporary
//!   directory, `postgres` on a free loopback port).
//! - [`Redis`]: `HOSTWATCH_TEST_REDIS_URL`, or else a throwaway `redis-server`
//!   with an append-only file in a temporary directory.
//! - [`Smtp`]: a throwaway SMTP server (aiosmtpd from hostwatch's venv) that
//!   keeps every [`Message`] it receives, optionally offering STARTTLS.
//! - [`Prometheus`]: a throwaway `prometheus` evaluating the test's alerting
//!   rules every second and sending what fires to the test's Alertmanager.
//! - [`amtool()`]: Alertmanager's command-line client, run against the test's
//!   Alertmanager-compatible API.
//! - `process`: finding binaries, running them as an unprivileged user when
//!   the tests run as root, free ports, and the watchdog.
//!
//! Invariant: no server started here outlives the test process. `Drop` stops
//! it; if the process dies without unwinding (SIGKILL, abort), a small
//! watchdog process notices its pipe closing and stops the server instead.
//!
//! Everything here panics with a readable message on failure: it is test code,
//! and a test cannot do anything better with an error than report it.

mod amtool;
mod postgres;
mod process;
mod prometheus;
mod redis;
mod smtp;

pub use amtool::{amtool, amtool_async};
pub use postgres::Postgres;
pub use prometheus::Prometheus;
pub use redis::Redis;
pub use smtp::{Message, Smtp};

/// Environment variable naming an existing PostgreSQL to use instead of a
/// throwaway cluster (each test gets its own database there).
pub const DATABASE_URL_ENV: &str = "HOSTWATCH_TEST_DATABASE_URL";
/// Environment variable naming an existing Redis to use instead of a throwaway
/// `redis-server`.
pub const REDIS_URL_ENV: &str = "HOSTWATCH_TEST_REDIS_URL";

/// The value of `var` when set and non-empty.
fn env_url(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}
