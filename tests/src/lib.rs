//! The gorums-rs conformance suite: one set of tests, written against the
//! runtime-agnostic API, run against every adapter (tokio, smol, and the simulator where
//! it applies).
//!
//! Not yet built: the suite lands with the API and the tokio adapter.
