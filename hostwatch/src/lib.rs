//! The `hostwatch` server binary's library side: composition of the
//! components. [`demo`] runs every component in one process (the monolithic
//! mode); the other subcommands call each component's own `run`.

pub mod demo;
