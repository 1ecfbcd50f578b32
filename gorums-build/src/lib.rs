//! gorums-rs code generation: used from a `build.rs`, it compiles `.proto` services with
//! Gorums method options (no `protoc` needed) into typed clients and server traits.
//!
//! Not yet built: this crate holds only its place in the workspace until the code
//! generator lands.
