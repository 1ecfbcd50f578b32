//! gorums-rs on tokio: the runtime adapter that drives the gorums-core engine over TCP
//! with tokio's sockets, timers and tasks, and re-exports the API.
//!
//! Not yet built: this crate holds only its place in the workspace until the API and
//! the tokio adapter land.
