//! The binary's allocator: mimalloc with the `mimalloc` feature (on by
//! default), else the system's. The hub's ingest path allocates per row (decoded messages,
//! Redis replies, COPY buffers), which glibc malloc serves slower; see
//! bench/README.md, "Hub ingest". `hostwatch-agent` is a separate binary and
//! always uses the system allocator.

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
