//! The core of gorums-rs: the wire codec, the quorum-call engine, the one quorum judge
//! and the runtime-agnostic API that users write against.
//!
//! gorums-rs builds fault-tolerant distributed systems out of *quorum calls*: one call
//! sends a request to every node of a configuration and hands the caller the replies as
//! they arrive, until enough of them form a quorum. This crate holds everything that does
//! not depend on how bytes move or how tasks run:
//!
//! | module | what lives there | pure |
//! |---|---|---|
//! | [`wire`] | the preface, length-prefixed frames and the protobuf envelope | yes |
//! | [`engine`] | [`Endpoint`](engine::Endpoint), the protocol as a state machine: connections, calls, server queues; ids, statuses, errors, node sets | yes |
//! | [`quorum`] | [`Quorum`](quorum::Quorum) and [`Tally`](quorum::Tally), the one judge of every call | yes |
//! | [`rng`] | [`SplitMix64`](rng::SplitMix64), the seeded generator of the engine and the simulator | yes |
//! | [`runtime`] | the small trait an executor implements (tokio, smol, the simulator) | n/a |
//! | [`disk`] | [`Disk`](disk::Disk), the small trait stable storage implements (a file on tokio and smol, the simulator's disk) | n/a |
//! | [`api`] | what users write against: systems, configurations, calls, responses, servers | no: wakers and locks |
//!
//! What this crate is not: it performs no IO, reads no clock and spawns no task of its
//! own (the file calls of [`disk::FileDisk`] run on the blocking pool an adapter hands
//! it, never on the caller's thread); its pure layers do not even know there is an executor (a test reads their
//! sources and keeps them so). Pick an adapter (`gorums-tokio`, `gorums-smol`) to run
//! over TCP, or `gorums-sim` to run in a deterministic simulation; each re-exports
//! [`api`], so users name this crate only for the engine itself.

pub mod api;
pub mod disk;
pub mod engine;
#[cfg(test)]
mod footprint;
pub mod quorum;
pub mod rng;
pub mod runtime;
#[cfg(feature = "rustls")]
pub mod tls;
pub mod wire;
mod x509;
