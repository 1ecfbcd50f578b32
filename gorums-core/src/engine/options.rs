//! [`EndpointConfig`], how an endpoint behaves, and [`UsageError`], the commands it
//! refuses.

use std::collections::BTreeSet;
use std::time::Duration;

use super::{CallKind, NodeId, RequestId};
use crate::wire::proto::MetadataEntry;
use crate::wire::{DEFAULT_MAX_FRAME_LEN, FRAME_HEADER_LEN, PREFACE};

/// How an [`Endpoint`](super::Endpoint) behaves; every field has a sensible default.
#[derive(Clone, Debug)]
pub struct EndpointConfig {
    /// This process's node id; [`NodeId::ANONYMOUS`] for a client without one. A
    /// non-zero id also lets the process call itself (self dispatch, no socket).
    pub node_id: NodeId,
    /// Metadata sent in this process's hello on every connection.
    pub metadata: Vec<MetadataEntry>,
    /// The largest frame body sent or accepted (default 4 MiB).
    pub max_frame_len: usize,
    /// The most bytes queued on one connection and not yet taken by the driver; a
    /// request that would exceed it fails for that node with
    /// [`NodeFailure::SendQueueFull`](super::NodeFailure::SendQueueFull) (default 16 MiB).
    pub send_queue_limit: usize,
    /// How long a dial plus the hello exchange may take (default 5 s); for an accepted
    /// connection, the time from accept to the peer's hello (a TLS handshake included).
    pub connect_timeout: Duration,
    /// The largest frame accepted before the peer's hello is accepted (default 64 KiB):
    /// the hello itself must fit. Until then a connection's decoder holds at most the
    /// preface, one frame header and this many bytes.
    pub max_handshake_frame_len: usize,
    /// The most accepted connections whose hello has not yet been accepted (default
    /// 64); a connection accepted beyond it is closed at once with
    /// [`ConnectionError::TooManyHandshakes`](super::ConnectionError::TooManyHandshakes).
    pub max_handshaking: usize,
    /// The first redial delay after a connection to a node fails (default 50 ms); it
    /// doubles per failed attempt, with jitter, up to `max_backoff`.
    pub initial_backoff: Duration,
    /// The longest redial delay (default 5 s).
    pub max_backoff: Duration,
    /// The seed of every random choice the engine makes (backoff jitter).
    pub seed: u64,
    /// Which registered nodes this endpoint dials (default: all of them).
    pub dial: DialPolicy,
    /// The declared known peers (Go Gorums' `WithConfig(myID, nodes)`); `None`, the
    /// default: every peer that announces an id is a known peer. With a set, the
    /// configuration of connected known peers holds only its members (and this process);
    /// a peer whose hello announces another non-zero id is served on the connection it
    /// opened, as Go's inbound manager serves it, but is neither a known peer nor an
    /// anonymous client: it is in no configuration, fires no connect callback, and
    /// cannot be called back.
    pub known_peers: Option<BTreeSet<NodeId>>,
}

/// Which of its registered nodes an endpoint dials.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum DialPolicy {
    /// Every registered node: two peers that both dial hold two connections.
    #[default]
    Every,
    /// Only the nodes with a higher id than this endpoint's own; a node with a lower id
    /// is reached over the connection it opened to us. A cluster of n replicas then holds
    /// n(n-1)/2 connections, not n(n-1), as the Gorums design lays out. An anonymous
    /// client (id 0) dials every node whatever the policy.
    HigherIds,
}

/// The default [`EndpointConfig::max_handshake_frame_len`]: 64 KiB.
pub const DEFAULT_MAX_HANDSHAKE_FRAME_LEN: usize = 64 * 1024;

impl EndpointConfig {
    /// The most bytes one connection's decoder holds before its peer's hello is
    /// accepted: the preface, a frame header and
    /// [`max_handshake_frame_len`](Self::max_handshake_frame_len).
    pub fn handshake_hold_limit(&self) -> usize {
        PREFACE.len() + FRAME_HEADER_LEN + self.max_handshake_frame_len
    }

    /// The bound on [`Endpoint::handshake_bytes`](super::Endpoint::handshake_bytes):
    /// [`max_handshaking`](Self::max_handshaking) connections of
    /// [`handshake_hold_limit`](Self::handshake_hold_limit) bytes each (4 MiB and 768
    /// bytes with the defaults).
    pub fn handshake_memory_bound(&self) -> usize {
        self.max_handshaking
            .saturating_mul(self.handshake_hold_limit())
    }
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            node_id: NodeId::ANONYMOUS,
            metadata: Vec::new(),
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            send_queue_limit: 16 * 1024 * 1024,
            connect_timeout: Duration::from_secs(5),
            max_handshake_frame_len: DEFAULT_MAX_HANDSHAKE_FRAME_LEN,
            max_handshaking: 64,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(5),
            seed: 0,
            dial: DialPolicy::Every,
            known_peers: None,
        }
    }
}

/// A command the engine refused because it was used wrongly (never because of anything
/// a peer did).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// Node id 0 is reserved for anonymous clients.
    #[error("node id 0 is reserved")]
    ReservedNodeId,
    /// The node is already registered, or listed twice in one call.
    #[error("{0} is given twice")]
    DuplicateNode(NodeId),
    /// RPC and unicast go to exactly one node.
    #[error("a {kind:?} call goes to exactly one node, not {count}")]
    WrongNodeCount {
        /// The call type.
        kind: CallKind,
        /// How many nodes were given.
        count: usize,
    },
    /// A per-node payload list must match the node list.
    #[error("{payloads} payloads for {nodes} nodes")]
    PayloadCount {
        /// Nodes given.
        nodes: usize,
        /// Payloads given.
        payloads: usize,
    },
    /// The request's connection has closed: the reply cannot be delivered.
    #[error("the requester's connection is closed")]
    ConnectionClosed,
    /// The request is unknown, or already answered.
    #[error("no open request {0:?}")]
    UnknownRequest(RequestId),
    /// Stream items go only to stream requests.
    #[error("request {0:?} is not a stream request")]
    NotAStream(RequestId),
}
