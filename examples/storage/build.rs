//! Generates the storage service's messages, client traits and server trait from
//! `proto/storage.proto` (no `protoc` needed). The generated code names the API through
//! `gorums_core::api`, which both adapters re-export, so it runs on tokio and smol alike.

fn main() {
    println!("cargo:rerun-if-changed=proto/storage.proto");
    gorums_build::Builder::new()
        .gorums_path("::gorums_core::api")
        .compile(&["proto/storage.proto"], &["proto"])
        .expect("storage.proto compiles");
}
