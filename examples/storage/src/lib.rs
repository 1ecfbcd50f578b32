//! The storage example of Go Gorums, in gorums-rs: replicas of a key/value store whose
//! values carry a timestamp (the newest wins), and a REPL that reads and writes them
//! with RPCs, unicasts, multicasts, quorum calls and correctable calls.
//!
//! The service is declared in `proto/storage.proto` with Gorums method options and
//! turned into typed code by `gorums-build` (see `build.rs`). The binary (`src/main.rs`)
//! parses the command line and picks the runtime; this library holds the parts it runs,
//! so that tests can drive them too. It is an example, not a database: state lives in
//! memory only.

pub mod interceptors;
pub mod proto;
pub mod repl;
pub mod server;
