//! Compiles `proto/benchmark.proto` twice, with no `protoc`: with gorums-build for the
//! gorums-rs service (typed client and server trait), and with tonic-prost-build for the
//! tonic peer (the Gorums method options mean nothing to it).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/benchmark.proto");
    println!("cargo:rerun-if-changed=../proto/gorums.proto");
    let mut prost = gorums_build::prost_build::Config::new();
    // Payloads as `Bytes`: a request's payload is shared, not copied, by every clone.
    prost.bytes(["."]);
    let gorums_out = std::path::PathBuf::from(std::env::var("OUT_DIR")?).join("gorums");
    std::fs::create_dir_all(&gorums_out)?;
    gorums_build::Builder::new()
        .gorums_path("::gorums_core::api")
        .out_dir(&gorums_out)
        .prost_config(prost)
        .compile(&["proto/benchmark.proto"], &["proto"])?;

    let mut fds = protox::compile(["benchmark.proto"], ["proto", "../proto"])?;
    // Only our own file: gorums.proto carries method options, nothing tonic needs.
    fds.file.retain(|f| f.name() == "benchmark.proto");
    tonic_prost_build::configure().bytes(".").compile_fds(fds)?;
    Ok(())
}
