//! What the engine tells its driver and application: [`Event`]s drained with
//! [`Endpoint::poll_event`](super::Endpoint::poll_event).

use bytes::Bytes;

use super::{CallId, ConnId, ConnectionError, NodeFailure, NodeId, QuorumCallError, RequestId};
use crate::wire::proto::MetadataEntry;

/// Something the driver must do, or the application should know.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// Dial `addr` for `conn`; then call
    /// [`handle_connected`](super::Endpoint::handle_connected) or
    /// [`handle_connect_failed`](super::Endpoint::handle_connect_failed).
    Connect {
        /// The connection the socket belongs to.
        conn: ConnId,
        /// The node being dialled.
        node: NodeId,
        /// The address to dial.
        addr: String,
    },
    /// `conn` has bytes to write: take them with
    /// [`poll_transmit`](super::Endpoint::poll_transmit). Sent once each time the
    /// connection's queue goes from empty to non-empty.
    Transmit(ConnId),
    /// The engine closed `conn` (a protocol error, a timeout, a replaced connection, or
    /// a node removed): drop its socket. The engine has already forgotten it.
    Close {
        /// The connection to drop.
        conn: ConnId,
        /// Why.
        reason: ConnectionError,
    },
    /// Progress of a call started with
    /// [`start_call`](super::Endpoint::start_call).
    Call {
        /// The call.
        call: CallId,
        /// What happened.
        event: CallEvent,
    },
    /// A request for this process's server side. Answer it with
    /// [`respond`](super::Endpoint::respond) (or stream with
    /// [`send_item`](super::Endpoint::send_item) and
    /// [`end_stream`](super::Endpoint::end_stream)); the next request from the same
    /// sender is handed out only after that, or after
    /// [`release`](super::Endpoint::release).
    Request(Request),
    /// A peer finished its hello on a connection it dialled to us.
    PeerConnected(PeerInfo),
    /// A peer's inbound connection closed (and no newer one replaced it).
    PeerDisconnected {
        /// The peer.
        node: NodeId,
        /// Whether it was an anonymous client.
        anonymous: bool,
    },
    /// An outbound node finished its handshake and is ready.
    NodeUp {
        /// The node.
        node: NodeId,
    },
    /// An outbound node's connection failed or closed; it will be redialled after a
    /// backoff.
    NodeDown {
        /// The node.
        node: NodeId,
        /// Why.
        error: NodeFailure,
    },
}

/// A peer that dialled us and said hello.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerInfo {
    /// The peer's id (given by us if it was anonymous).
    pub node: NodeId,
    /// The connection it dialled.
    pub conn: ConnId,
    /// Whether it announced itself as anonymous (id 0).
    pub anonymous: bool,
    /// The metadata of its hello.
    pub metadata: Vec<MetadataEntry>,
    /// The address the driver gave for the connection.
    pub addr: String,
}

/// Progress of one call.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum CallEvent {
    /// A node's one reply to a plain call, or its failure. Each node of a call is reported
    /// once: here, or in the [`StartedCall`](super::StartedCall) if it failed at once.
    Reply {
        /// The node.
        node: NodeId,
        /// Its reply payload, or why it failed.
        result: Result<Bytes, NodeFailure>,
    },
    /// One streamed item from a node of a correctable call.
    Item {
        /// The node.
        node: NodeId,
        /// The item's payload.
        payload: Bytes,
    },
    /// A node's stream ended (`Ok`) or failed (`Err`) in a correctable call.
    End {
        /// The node.
        node: NodeId,
        /// How it ended.
        result: Result<(), NodeFailure>,
    },
    /// A one-way call started with
    /// [`report_written`](super::CallSpec::report_written): the node's request was
    /// written to its connection (`Ok`; to ourselves: handed over), or the connection
    /// closed before it was (`Err`, [`NodeFailure::ConnectionLost`]). Each node is
    /// reported once, here or in the [`StartedCall`](super::StartedCall).
    Written {
        /// The node.
        node: NodeId,
        /// Whether its request left.
        result: Result<(), NodeFailure>,
    },
    /// The call is over and the engine has forgotten it: later replies are dropped and
    /// counted. `Ok` once every node has answered or failed, `Err` at the deadline. The
    /// engine does not judge quorums: the caller feeds each node's outcome to a
    /// [`Tally`](crate::quorum::Tally) and ends the call with
    /// [`Endpoint::finish`](super::Endpoint::finish) once it is decided. Not sent for
    /// cancelled calls, nor for one-way calls but those that report when written.
    Finished(Result<(), QuorumCallError>),
}

/// A request delivered to the server side.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// Its id: pass it to `respond`, `send_item`, `end_stream`, `release`.
    pub id: RequestId,
    /// The sender's node id (0 if unknown).
    pub from: NodeId,
    /// What the sender expects back.
    pub kind: RequestKind,
    /// The full method name.
    pub method: MethodName,
    /// Per-message metadata.
    pub metadata: Vec<MetadataEntry>,
    /// The encoded request message.
    pub payload: Bytes,
}

/// A request's full method name, kept as a slice of the frame it came in.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MethodName(Bytes);

impl MethodName {
    /// `bytes` as a method name, if they are UTF-8.
    pub fn new(bytes: Bytes) -> Option<MethodName> {
        std::str::from_utf8(&bytes)
            .is_ok()
            .then_some(MethodName(bytes))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        // Checked in `new`; the fallback is never taken.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::ops::Deref for MethodName {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Display for MethodName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for MethodName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq<str> for MethodName {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for MethodName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// What the sender of a [`Request`] expects back.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum RequestKind {
    /// One reply.
    Unary,
    /// A stream of items, then an end.
    Stream,
    /// Nothing (unicast or multicast).
    OneWay,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A handler matches and prints the method name it was asked for.
    #[test]
    fn a_method_name_reads_compares_and_prints_as_its_text() {
        let name = MethodName::new(Bytes::from_static(b"proto.Storage.Read")).expect("UTF-8");
        assert_eq!(name.as_str(), "proto.Storage.Read");
        assert_eq!(name.len(), "proto.Storage.Read".len(), "derefs to the text");
        assert!(name == "proto.Storage.Read");
        assert!(name != "proto.Storage.Write");
        assert!(*"proto.Storage.Read" == *name.as_str());
        assert!(name == *"proto.Storage.Read");
        assert!(name != *"proto.Storage.Write");
        assert_eq!(name.to_string(), "proto.Storage.Read");
        assert_eq!(format!("{name:?}"), "\"proto.Storage.Read\"");
        assert!(MethodName::new(Bytes::from_static(b"\xff\xfe")).is_none());
    }
}
