//! Generates the gRPC code for every contract under `proto/` with the pure-Rust `protox`
//! compiler, so a fresh machine builds with cargo alone (no system `protoc`).

use std::path::PathBuf;

use prost::Message;

const PROTOS: &[&str] = &[
    "pmd/common/v1/common.proto",
    "pmd/storage/v1/storage.proto",
    "pmd/ingestion/v1/ingestion.proto",
    "pmd/consent/v1/consent.proto",
    "pmd/audit/v1/audit.proto",
    "pmd/statistics/v1/statistics.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    println!("cargo:rerun-if-changed={}", root.display());
    let files: Vec<PathBuf> = PROTOS.iter().map(|p| root.join(p)).collect();
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    let fds = protox::compile(&files, [&root])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("pmd_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)?;
    Ok(())
}
