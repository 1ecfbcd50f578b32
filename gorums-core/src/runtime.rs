//! The small trait an executor implements so the API can run on it: tokio
//! (`gorums-tokio`), smol (`gorums-smol`) and the simulator (`gorums-sim`).
//!
//! It is object safe: the API holds a [`RuntimeHandle`] (`Arc<dyn Runtime>`), so the API
//! types are the same whichever runtime drives them. Time is the engine's
//! [`Instant`]: a runtime counts it from a start of its own
//! choosing (real time for TCP adapters, virtual time in the simulator).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;

use futures_io::{AsyncRead, AsyncWrite};

use crate::engine::Instant;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A shared handle to a runtime.
pub type RuntimeHandle = Arc<dyn Runtime>;

/// The reading half of a connection.
pub type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;

/// The writing half of a connection.
pub type WriteHalf = Box<dyn AsyncWrite + Send + Unpin>;

/// A connected byte stream, split so that one task can read while another writes.
pub struct Connection {
    /// Bytes from the peer.
    pub reader: ReadHalf,
    /// Bytes to the peer. Writers write many frames at once: the runtime should not
    /// delay small writes (TCP_NODELAY).
    pub writer: WriteHalf,
    /// The peer's address, for logs and for the server's view of its clients.
    pub peer_addr: String,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("peer_addr", &self.peer_addr)
            .finish_non_exhaustive()
    }
}

/// A bound listening socket.
pub trait Listener: Send {
    /// Waits for the next inbound connection.
    fn accept(&mut self) -> BoxFuture<'_, io::Result<Connection>>;

    /// The address it is bound to (with the real port if port 0 was asked for).
    fn local_addr(&self) -> String;
}

/// What the API needs from an executor: time, timers, tasks, and byte streams.
///
/// Implementations must be cheap to call from any thread the runtime runs tasks on, and
/// must never block the caller.
pub trait Runtime: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Instant;

    /// A future that completes at `deadline` (at once if it has passed).
    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()>;

    /// Runs `task` to completion in the background.
    fn spawn(&self, task: BoxFuture<'static, ()>);

    /// Opens a connection to `addr`.
    fn connect(&self, addr: &str) -> BoxFuture<'static, io::Result<Connection>>;

    /// Binds a listener on `addr` (port 0 picks a free port).
    fn listen(&self, addr: &str) -> BoxFuture<'static, io::Result<Box<dyn Listener>>>;
}
