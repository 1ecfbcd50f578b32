//! The core of gorums-rs: the wire codec, the quorum-call engine, and (later) the
//! runtime-agnostic API that users write against.
//!
//! gorums-rs builds fault-tolerant distributed systems out of *quorum calls*: one call
//! sends a request to every node of a configuration and hands the caller the replies as
//! they arrive, until enough of them form a quorum. This crate holds everything that does
//! not depend on how bytes move or how tasks run:
//!
//! - [`wire`]: the preface, length-prefixed frames and the protobuf envelope. Pure.
//!
//! What this crate is not: it performs no IO, reads no clock and spawns no task in its
//! pure layers. Pick an adapter (`gorums-tokio`, `gorums-smol`) to run over TCP, or
//! `gorums-sim` to run in a deterministic simulation.

pub mod api;
pub mod engine;
pub mod quorum;
pub mod rng;
pub mod runtime;
pub mod wire;
