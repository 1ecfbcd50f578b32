//! Generates the storage service's messages, client types and server trait from
//! `proto/storage.proto`: Go Gorums' own examples/storage/proto/storage.proto, unchanged
//! (edition 2024; no `protoc` to install, gorums-build brings what it needs). The generated code names the API through
//! `gorums_core::api`, which both adapters re-export, so it runs on tokio and smol alike.

fn main() {
    println!("cargo:rerun-if-changed=proto/storage.proto");
    gorums_build::Builder::new()
        .gorums_path("::gorums_core::api")
        .compile(&["proto/storage.proto"], &["proto"])
        .expect("storage.proto compiles");
}
