//! Compiles `proto/hostwatch/v1/*.proto` with protox (pure Rust), so building
//! needs no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/hostwatch/v1/common.proto",
        "proto/hostwatch/v1/ingest.proto",
        "proto/hostwatch/v1/query.proto",
        "proto/hostwatch/v1/uplink.proto",
        "proto/hostwatch/v1/buffer.proto",
    ];
    for f in files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["proto"])?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}
