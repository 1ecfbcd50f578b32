//! Compiles `proto/benchmark.proto` for the tonic peer (no `protoc` needed: protox).
//! The gorums service is hand-bound in `src/service.rs` until `gorums-build` lands.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/benchmark.proto");
    println!("cargo:rerun-if-changed=../proto/gorums.proto");
    let mut fds = protox::compile(["benchmark.proto"], ["proto", "../proto"])?;
    // Only our own file: gorums.proto carries method options, nothing tonic needs.
    fds.file.retain(|f| f.name() == "benchmark.proto");
    tonic_prost_build::configure().bytes(".").compile_fds(fds)?;
    Ok(())
}
