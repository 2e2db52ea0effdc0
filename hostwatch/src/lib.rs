//! The `hostwatch` server binary's library side: composition of the
//! components. [`demo`] runs every component in one process (the monolithic
//! mode); [`detect_cmd`] replays CSV series through the hub's detection
//! engine (`hostwatch detect`); the other subcommands call each component's
//! own `run`.

pub mod demo;
pub mod detect_cmd;
