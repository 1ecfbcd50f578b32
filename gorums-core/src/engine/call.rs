//! What a caller asks for, and the engine's state of one call in flight.

use std::borrow::Cow;
use std::sync::Arc;

use smallvec::SmallVec;

use bytes::Bytes;

use super::{CallId, ConnId, Instant, NodeError, NodeId};
use crate::wire::proto::MetadataEntry;

/// The call types of Gorums.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum CallKind {
    /// One request to one node, one reply.
    Rpc,
    /// A one-way message to one node.
    Unicast,
    /// A one-way message to every node given.
    Multicast,
    /// A request to every node given; one reply from each.
    QuorumCall,
    /// A request to every node given; each may stream several replies, then ends.
    Correctable,
}

impl CallKind {
    /// Whether replies are expected.
    pub fn is_two_way(self) -> bool {
        !matches!(self, CallKind::Unicast | CallKind::Multicast)
    }
}

/// The request payload of a call: one for every node, or one per node.
#[derive(Clone, Debug)]
pub enum Payload {
    /// The same encoded request to every node.
    Shared(Bytes),
    /// One encoded request per node, in the order of [`CallSpec::nodes`]; `None` skips
    /// that node (it is sent nothing and never replies, but still counts in the
    /// configuration's size).
    PerNode(Vec<Option<Bytes>>),
}

/// Everything [`Endpoint::start_call`](super::Endpoint::start_call) needs.
#[derive(Clone, Debug)]
pub struct CallSpec {
    /// The call type.
    pub kind: CallKind,
    /// The full method name, such as `proto.Storage.ReadQC`.
    pub method: Cow<'static, str>,
    /// Per-message metadata sent with every request.
    pub metadata: Vec<MetadataEntry>,
    /// The nodes to call, each once.
    pub nodes: Arc<[NodeId]>,
    /// What to send them.
    pub payload: Payload,
    /// When the engine gives up on the call (`DeadlineExceeded`).
    pub deadline: Option<Instant>,
}

impl CallSpec {
    /// A spec with no metadata and no deadline.
    pub fn new(
        kind: CallKind,
        method: impl Into<Cow<'static, str>>,
        nodes: impl Into<Arc<[NodeId]>>,
        payload: Payload,
    ) -> CallSpec {
        CallSpec {
            kind,
            method: method.into(),
            metadata: Vec::new(),
            nodes: nodes.into(),
            payload,
            deadline: None,
        }
    }
}

/// What [`Endpoint::start_call`](super::Endpoint::start_call) returns.
#[derive(Clone, Debug, PartialEq)]
pub struct StartedCall {
    /// The call's id, for its events and for `cancel`/`finish`.
    pub id: CallId,
    /// Nodes whose share failed at once (not connected, send queue full, ...). They are
    /// not reported again as events.
    pub send_failures: Vec<NodeError>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Share {
    /// Waiting for the node's reply (or its next stream item) on `conn`.
    Waiting(ConnId),
    /// A correctable call's node has sent items and may send more on `conn`.
    Streaming(ConnId),
    /// The node has answered or failed.
    Done,
}

#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) kind: CallKind,
    pub(crate) started: Instant,
    pub(crate) deadline: Option<Instant>,
    pub(crate) shares: Shares,
    pub(crate) waiting: usize,
    pub(crate) errors: Vec<NodeError>,
}

impl Call {
    pub(crate) fn streaming(&self) -> bool {
        self.kind == CallKind::Correctable
    }
}

/// Each node's share of a call, sorted by node id; inline for up to seven nodes, so a
/// call allocates nothing for them.
#[derive(Debug, Default)]
pub(crate) struct Shares(SmallVec<[(NodeId, Share); 7]>);

impl Shares {
    pub(crate) fn get(&self, node: &NodeId) -> Option<&Share> {
        self.0
            .binary_search_by_key(node, |(n, _)| *n)
            .ok()
            .map(|i| &self.0[i].1)
    }

    pub(crate) fn insert(&mut self, node: NodeId, share: Share) {
        match self.0.binary_search_by_key(&node, |(n, _)| *n) {
            Ok(i) => self.0[i].1 = share,
            Err(i) => self.0.insert(i, (node, share)),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&NodeId, &Share)> {
        self.0.iter().map(|(n, s)| (n, s))
    }
}
