//! [`ConnectionError`]: why a connection failed, closed, or was never made.

use std::io;
use std::sync::Arc;

use crate::wire::WireError;

/// Why a connection failed, closed, or was never made. Carried by
/// [`NodeFailure::ConnectionLost`](super::NodeFailure::ConnectionLost) and
/// [`NodeFailure::NotConnected`](super::NodeFailure::NotConnected), and by
/// [`Event::Close`](super::Event::Close).
///
/// Transport errors keep their [`io::Error`] (and so its [`io::ErrorKind`]) as
/// [`source`](std::error::Error::source); wire errors keep their [`WireError`].
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// The transport failed while `doing` (dialling, reading, writing).
    #[error("{doing} failed: {source}")]
    Io {
        /// What the driver was doing: `connect`, `read` or `write`.
        doing: &'static str,
        /// The transport's error.
        #[source]
        source: Arc<io::Error>,
    },
    /// The peer closed the connection.
    #[error("connection closed by peer")]
    ClosedByPeer,
    /// The peer's bytes are not valid gorums wire traffic.
    #[error("protocol error: {0}")]
    Wire(#[source] WireError),
    /// The peer broke a rule of the handshake or of the message exchange (a hello that
    /// claims another's id, an unknown message kind, ...).
    #[error("protocol violation: {0}")]
    Violation(String),
    /// No hello arrived within the connect timeout.
    #[error("connect timeout: no hello in time")]
    HandshakeTimeout,
    /// A reply could not be queued for a requester that does not read: the connection
    /// is closed rather than leave it waiting forever.
    #[error("reply not sent: the requester's send queue is full")]
    RequesterNotReading,
    /// Closed on this side, for `reason` (the system stopped, the node was removed, the
    /// peer reconnected on a newer connection, ...).
    #[error("closed: {0}")]
    Closed(String),
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
            (Violation(a), Violation(b)) | (Closed(a), Closed(b)) => a == b,
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
