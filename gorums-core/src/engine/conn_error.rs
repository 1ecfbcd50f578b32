//! [`ConnectionError`]: why a connection failed, closed, or was never made.

use std::fmt;
use std::io;
use std::sync::Arc;

use super::NodeId;
use crate::wire::WireError;

/// Why a connection failed, closed, or was never made. Carried by
/// [`NodeFailure::ConnectionLost`](super::NodeFailure::ConnectionLost) and
/// [`NodeFailure::NotConnected`](super::NodeFailure::NotConnected), and by
/// [`Event::Close`](super::Event::Close).
///
/// Transport errors keep their [`io::Error`] (and so its [`io::ErrorKind`]) as
/// [`source`](std::error::Error::source); wire errors keep their [`WireError`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ConnectionError {
    /// The transport failed while `doing` (dialling, reading, writing).
    Io {
        /// What the driver was doing: `connect`, `read` or `write`.
        doing: &'static str,
        /// The transport's error.
        source: Arc<io::Error>,
    },
    /// The peer closed the connection.
    ClosedByPeer,
    /// The peer's bytes are not valid gorums wire traffic.
    Wire(WireError),
    /// The peer broke a rule of the handshake or of the message exchange (a hello that
    /// claims another's id, an unknown message kind, ...).
    Violation(String),
    /// No hello arrived within the connect timeout.
    HandshakeTimeout,
    /// Accepted while `limit` other connections were still in their handshake: refused
    /// at once, so that connections that have not said who they are hold bounded
    /// memory.
    TooManyHandshakes {
        /// The configured [`max_handshaking`](super::EndpointConfig::max_handshaking).
        limit: usize,
    },
    /// A reply could not be queued for a requester that does not read: the connection
    /// is closed rather than leave it waiting forever.
    RequesterNotReading,
    /// The TLS layer refused the connection or failed: an unknown certificate
    /// authority, an expired certificate, a wrong name, a missing client certificate,
    /// a failed TLS handshake.
    Tls {
        /// What went wrong, as the TLS library says it.
        reason: String,
    },
    /// The peer's hello claims node id `claimed`, but its certificate binds it to
    /// `certified` (a spoofed id): refused.
    SpoofedId {
        /// The id the hello claims.
        claimed: NodeId,
        /// The id the peer's certificate is bound to.
        certified: NodeId,
    },
    /// The peer proved no identity the server accepts: it has no certificate (or one
    /// the identity rule binds to no node) and claims a node id, or anonymous clients
    /// are not allowed.
    Unauthenticated(String),
    /// Closed on this side, for `reason` (the system stopped, the node was removed, the
    /// peer reconnected on a newer connection, ...).
    Closed(String),
}

impl fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectionError::Io { doing, source } => write!(f, "{doing} failed: {source}"),
            ConnectionError::ClosedByPeer => f.write_str("connection closed by peer"),
            ConnectionError::Wire(e) => write!(f, "protocol error: {e}"),
            ConnectionError::Violation(what) => write!(f, "protocol violation: {what}"),
            ConnectionError::HandshakeTimeout => f.write_str("connect timeout: no hello in time"),
            ConnectionError::TooManyHandshakes { limit } => write!(
                f,
                "refused: {limit} connections are already in their handshake"
            ),
            ConnectionError::RequesterNotReading => {
                f.write_str("reply not sent: the requester's send queue is full")
            }
            ConnectionError::Tls { reason } => write!(f, "tls: {reason}"),
            ConnectionError::SpoofedId { claimed, certified } => write!(
                f,
                "refused: hello claims {claimed}, its certificate is {certified}'s"
            ),
            ConnectionError::Unauthenticated(why) => write!(f, "unauthenticated: {why}"),
            ConnectionError::Closed(reason) => write!(f, "closed: {reason}"),
        }
    }
}

impl std::error::Error for ConnectionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConnectionError::Io { source, .. } => Some(&**source),
            ConnectionError::Wire(e) => Some(e),
            _ => None,
        }
    }
}

impl ConnectionError {
    /// A transport error while `doing` (`connect`, `read`, `write`).
    pub fn io(doing: &'static str, error: io::Error) -> ConnectionError {
        ConnectionError::Io {
            doing,
            source: Arc::new(error),
        }
    }

    /// The io error kind, for a transport error.
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            ConnectionError::Io { source, .. } => Some(source.kind()),
            _ => None,
        }
    }
}

/// Equal when of the same variant with the same details; transport errors compare by
/// what was done and the io error kind (io errors themselves have no equality).
impl PartialEq for ConnectionError {
    fn eq(&self, other: &Self) -> bool {
        use ConnectionError::*;
        match (self, other) {
            (
                Io {
                    doing: a,
                    source: x,
                },
                Io {
                    doing: b,
                    source: y,
                },
            ) => a == b && x.kind() == y.kind(),
            (ClosedByPeer, ClosedByPeer)
            | (HandshakeTimeout, HandshakeTimeout)
            | (RequesterNotReading, RequesterNotReading) => true,
            (Wire(a), Wire(b)) => a == b,
            (TooManyHandshakes { limit: a }, TooManyHandshakes { limit: b }) => a == b,
            (Violation(a), Violation(b))
            | (Closed(a), Closed(b))
            | (Unauthenticated(a), Unauthenticated(b))
            | (Tls { reason: a }, Tls { reason: b }) => a == b,
            (
                SpoofedId {
                    claimed: a,
                    certified: x,
                },
                SpoofedId {
                    claimed: b,
                    certified: y,
                },
            ) => a == b && x == y,
            _ => false,
        }
    }
}

impl Eq for ConnectionError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_keep_their_kind_and_chain() {
        let err = ConnectionError::io("connect", io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(err.io_kind(), Some(io::ErrorKind::ConnectionRefused));
        let source = std::error::Error::source(&err).expect("a source");
        let io = source.downcast_ref::<io::Error>().expect("an io error");
        assert_eq!(io.kind(), io::ErrorKind::ConnectionRefused);
        assert!(err.to_string().starts_with("connect failed: "), "{err}");
    }
}
