//! gorums-rs on smol: the runtime adapter that drives the gorums-core engine over TCP
//! with async-io's sockets and timers, and re-exports the API.
//!
//! Not yet built: this crate holds only its place in the workspace until the smol
//! adapter lands.
