//! The small trait an executor implements so the API can run on it: tokio
//! (`gorums-tokio`), smol (`gorums-smol`) and the simulator (`gorums-sim`).
//!
//! It is object safe: the API holds a [`RuntimeHandle`] (`Arc<dyn Runtime>`), so the API
//! types are the same whichever runtime drives them. Time is the engine's
//! [`Instant`]: a runtime counts it from a start of its own
//! choosing (real time for TCP adapters, virtual time in the simulator).
//!
//! What sits between a socket and the bytes (TLS, in the TCP adapters) is the runtime's
//! business; it hands up only the peer's certified [`PeerIdentity`], and the rule that
//! binds a node id to it lives in the API, above every runtime.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;

use futures_io::{AsyncRead, AsyncWrite};

use crate::engine::{CallId, CallKind, Instant, NodeId};

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A shared handle to a runtime.
pub type RuntimeHandle = Arc<dyn Runtime>;

/// The reading half of a connection.
pub type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;

/// The writing half of a connection.
pub type WriteHalf = Box<dyn AsyncWrite + Send + Unpin>;

/// A connected byte stream, split so that one task can read while another writes.
///
/// Build it with [`Connection::new`] (plain) and [`with_identity`](Connection::with_identity).
pub struct Connection {
    /// Bytes from the peer.
    pub reader: ReadHalf,
    /// Bytes to the peer. Writers write many frames at once: the runtime should not
    /// delay small writes (TCP_NODELAY).
    pub writer: WriteHalf,
    /// The peer's address, for logs and for the server's view of its clients.
    pub peer_addr: String,
    /// The identity the peer proved (its verified TLS certificate chain), if any.
    pub identity: Option<PeerIdentity>,
}

impl Connection {
    /// A connection whose peer proved no identity.
    pub fn new(reader: ReadHalf, writer: WriteHalf, peer_addr: String) -> Connection {
        Connection {
            reader,
            writer,
            peer_addr,
            identity: None,
        }
    }

    /// This connection, its peer having proved `identity`.
    pub fn with_identity(mut self, identity: Option<PeerIdentity>) -> Connection {
        self.identity = identity;
        self
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("peer_addr", &self.peer_addr)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

/// What a peer proved about itself: its certificate chain, verified by the transport
/// against the roots it trusts (end-entity certificate first, DER-encoded). A simulated
/// runtime may hand up simulated certificates; the API only reads them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerIdentity {
    /// The DER certificates, the peer's own first.
    pub chain: Vec<Vec<u8>>,
}

impl PeerIdentity {
    /// The peer's own certificate (DER), if the chain is not empty.
    pub fn end_entity(&self) -> Option<&[u8]> {
        self.chain.first().map(Vec::as_slice)
    }

    /// The DNS names in the subject alternative names of the peer's own certificate, in
    /// the certificate's order (empty if it has none or cannot be read).
    pub fn dns_names(&self) -> Vec<String> {
        self.end_entity()
            .and_then(crate::x509::dns_names)
            .unwrap_or_default()
    }
}

/// A transport error that is TLS's: a certificate signed by an unknown authority,
/// expired, for another name, missing, or a failed TLS handshake. Adapters return it
/// inside an [`io::Error`] (`io::Error::other(TlsError::new(...))`); the API reports it
/// as [`ConnectionError::Tls`](crate::engine::ConnectionError::Tls).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct TlsError {
    /// What went wrong, as the TLS library says it.
    pub reason: String,
}

impl TlsError {
    /// A TLS error saying `reason`.
    pub fn new(reason: impl Into<String>) -> TlsError {
        TlsError {
            reason: reason.into(),
        }
    }

    /// The TLS error inside `error`, if it carries one.
    pub fn of(error: &io::Error) -> Option<&TlsError> {
        error.get_ref().and_then(|e| e.downcast_ref::<TlsError>())
    }
}

/// A connection a listener took, whose transport handshake (TLS) may not be done yet:
/// the API registers it first (so its handshake deadline and the limit on connections
/// in their handshake cover the transport's handshake too), then awaits `establish`.
pub struct Incoming {
    /// The peer's address.
    pub peer_addr: String,
    /// Finishes the transport's handshake.
    pub establish: BoxFuture<'static, io::Result<Connection>>,
}

impl Incoming {
    /// An incoming connection that is ready as it is (no transport handshake).
    pub fn ready(connection: Connection) -> Incoming {
        Incoming {
            peer_addr: connection.peer_addr.clone(),
            establish: Box::pin(std::future::ready(Ok(connection))),
        }
    }
}

impl std::fmt::Debug for Incoming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Incoming")
            .field("peer_addr", &self.peer_addr)
            .finish_non_exhaustive()
    }
}

/// A bound listening socket.
pub trait Listener: Send {
    /// Waits for the next inbound connection, its transport handshake done.
    fn accept(&mut self) -> BoxFuture<'_, io::Result<Connection>>;

    /// Waits for the next inbound connection and returns it before its transport
    /// handshake, so a slow peer does not hold up the next one. The default is
    /// [`accept`](Self::accept), ready at once.
    fn accept_incoming(&mut self) -> BoxFuture<'_, io::Result<Incoming>> {
        let accept = self.accept();
        Box::pin(async move { accept.await.map(Incoming::ready) })
    }

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

    /// Whether the fault-injection point `site` fires here ("buggify", after
    /// FoundationDB's simulator): code under test asks at a place where a rare
    /// behaviour is legal (a slow path, an early timeout), a simulator answers from its
    /// seed, and every other runtime keeps this default, `false`, so on tokio and smol a
    /// point costs one call that returns at once. The API's own points are named in
    /// [`api::buggify`](crate::api::buggify).
    fn buggify(&self, site: &'static str) -> bool {
        let _ = site;
        false
    }

    /// A two-way call (RPC, quorum or correctable call) has just started: its requests
    /// are queued and none of its replies has been read. A simulator uses it to know
    /// each call's nodes and threshold (which the wire does not carry) so that an
    /// adversary can choose which replies lag; every other runtime keeps this default,
    /// which does nothing.
    fn call_started(&self, call: &CallStart<'_>) {
        let _ = call;
    }
}

/// What [`Runtime::call_started`] tells a runtime about a call that starts.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct CallStart<'a> {
    /// The call's id: its message id on every connection (with
    /// [`MsgId::ACCEPTOR_BIT`](crate::engine::MsgId::ACCEPTOR_BIT) set on the ones the
    /// caller accepted).
    pub id: CallId,
    /// The call type.
    pub kind: CallKind,
    /// The full method name.
    pub method: &'a str,
    /// The nodes of the call's configuration, in its order.
    pub nodes: &'a [NodeId],
    /// How many successes end it, when the caller said so as it started (a terminal
    /// method, `fold`, an `async_*` method, or the level of `correctable(k)`); `None`
    /// for a raw reply stream or an RPC.
    pub threshold: Option<usize>,
}
