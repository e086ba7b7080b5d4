//! Compiles `proto/` with protox (pure Rust: no system `protoc`) into tonic code, and keeps
//! the descriptor set for gRPC server reflection.

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["article/v1/article.proto"];
    let descriptors = protox::compile(files, ["../proto"])?;
    let out = std::env::var("OUT_DIR")?;
    std::fs::write(
        format!("{out}/descriptor_set.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    println!("cargo::rerun-if-changed=../proto");
    Ok(())
}
