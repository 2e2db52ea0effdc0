//! What the bench binaries share: the plumbing for measuring hostwatch
//! services run as their own processes (ports, a tiny HTTP client, CPU and
//! memory from `/proc`).

pub mod process;
