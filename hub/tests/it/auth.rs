//! Agent authentication: the token/credential store on both back-ends
//! (`auth/store.rs`), and the ingest stream of a hub with
//! `security.auth = "required"` driven by a raw gRPC client (`auth/stream.rs`).

mod store;
mod stream;
