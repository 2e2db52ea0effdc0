//! The alert service driven over its real HTTP API, with real receivers:
//! an HTTP server counting webhook calls, aiosmtpd for email, PostgreSQL,
//! Prometheus and amtool.

mod api;
mod delivery;
mod email;
mod persistence;
mod prometheus;
mod routing;
mod support;
