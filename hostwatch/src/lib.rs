//! The `hostwatch` server binary's library side: composition of the
//! components. [`demo`] runs every component in one process (the monolithic
//! mode); [`detect_cmd`] replays CSV series through the hub's detection
//! engine (`hostwatch detect`); [`admin`] manages enrolment tokens and agent
//! credentials (`hostwatch hub token|agents`); [`alerts_cmd`] is the client
//! side of `hostwatch alerts subscribe|subscriptions|unsubscribe`; [`dev_certs`] makes a
//! throwaway CA and certificates (`hostwatch tls make-dev-certs`); [`user_cmd`]
//! edits the dashboard's users file (`hostwatch user|token`); the other
//! subcommands call each component's own `run`. [`allocator`] picks the
//! binary's allocator (mimalloc unless built without the `mimalloc` feature).

pub mod admin;
pub mod alerts_cmd;
pub mod allocator;
pub mod demo;
pub mod detect_cmd;
pub mod dev_certs;
pub mod user_cmd;
