//! Integration tests of the `hostwatch-agent` binary.

mod dump;
