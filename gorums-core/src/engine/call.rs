//! What a caller asks for when it starts a call ([`CallSpec`]), and what it gets back.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;

use super::{CallId, Instant, NodeError, NodeId, UsageError};
use crate::wire::proto::{Kind, MetadataEntry};

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

    /// The kind its requests carry on the wire.
    pub(crate) fn request_kind(self) -> Kind {
        match self {
            CallKind::Rpc | CallKind::QuorumCall => Kind::Request,
            CallKind::Correctable => Kind::StreamRequest,
            CallKind::Unicast | CallKind::Multicast => Kind::OneWay,
        }
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
    /// One-way calls only: keep the call until each node's request is written to its
    /// connection ([`CallEvent::Written`](super::CallEvent::Written), then
    /// [`CallEvent::Finished`](super::CallEvent::Finished)) instead of forgetting it once
    /// queued. The driver reports writes with
    /// [`Endpoint::handle_written`](super::Endpoint::handle_written). Two-way calls
    /// ignore it.
    pub report_written: bool,
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
            report_written: false,
        }
    }
}

impl CallSpec {
    /// Whether the engine keeps the call's state until it ends: every two-way call, and
    /// one-way calls that report when they are written.
    pub(crate) fn is_tracked(&self) -> bool {
        self.kind.is_two_way() || self.report_written
    }

    /// Checks the spec before anything is sent: node count, payload count, ids.
    pub(crate) fn validate(&self) -> Result<(), UsageError> {
        let spec = self;
        if matches!(spec.kind, CallKind::Rpc | CallKind::Unicast) && spec.nodes.len() != 1 {
            return Err(UsageError::WrongNodeCount {
                kind: spec.kind,
                count: spec.nodes.len(),
            });
        }
        if let Payload::PerNode(list) = &spec.payload
            && list.len() != spec.nodes.len()
        {
            return Err(UsageError::PayloadCount {
                nodes: spec.nodes.len(),
                payloads: list.len(),
            });
        }
        if spec.nodes.iter().any(|n| n.is_anonymous()) {
            return Err(UsageError::ReservedNodeId);
        }
        // Configurations list their nodes in id order, so duplicates are neighbours; other
        // lists are sorted in a copy first.
        if !spec.nodes.windows(2).all(|w| w[0] < w[1]) {
            let mut sorted: smallvec::SmallVec<[NodeId; 8]> = spec.nodes.iter().copied().collect();
            sorted.sort_unstable();
            if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
                return Err(UsageError::DuplicateNode(w[0]));
            }
        }
        Ok(())
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
