//! Identifier newtypes: nodes, messages, calls, connections and served requests.

use std::fmt;

/// A node's id in a configuration. Id 0 is reserved: an anonymous client announces 0 in
/// its hello and is given an id by the server, from [`NodeId::FIRST_CLIENT`] up.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct NodeId(pub u32);

impl NodeId {
    /// The reserved id an anonymous client announces.
    pub const ANONYMOUS: NodeId = NodeId(0);

    /// The first id a server gives an anonymous client. Clients get ids from the top
    /// half of the range so that they never take the id of a peer that joins later
    /// (node lists number their nodes from 1).
    pub const FIRST_CLIENT: NodeId = NodeId(1 << 31);

    /// Whether this is the reserved anonymous id.
    pub fn is_anonymous(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node {}", self.0)
    }
}

/// A message id on the wire (`message_seq_no`). Ids a side starts on a connection have
/// the top bit clear; ids the other side starts there have it set, so the two never
/// collide.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct MsgId(pub u64);

impl MsgId {
    /// The bit that marks ids started by the accepting side of a connection.
    pub const ACCEPTOR_BIT: u64 = 1 << 63;
}

/// A call started on an [`Endpoint`](super::Endpoint). Never reused by one endpoint.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct CallId(pub u64);

/// A connection of an [`Endpoint`](super::Endpoint), inbound or outbound. Never reused by
/// one endpoint, so a stale id can never reach a newer connection.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn {}", self.0)
    }
}

/// A request being served: the connection it came on and its message id there.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct RequestId {
    /// The connection the request arrived on (replies go back on it).
    pub conn: ConnId,
    /// The request's message id on that connection.
    pub msg: MsgId,
}

/// What the transport proved about a peer that dialled us, as the API's identity rule
/// reads its certificate: given to [`Endpoint::handle_authenticated`](super::Endpoint::handle_authenticated)
/// before the peer's bytes, it is what the peer's hello is checked against.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Authenticated {
    /// The peer is node `0`: a hello claiming another id is refused
    /// ([`ConnectionError::SpoofedId`](super::ConnectionError::SpoofedId)); one claiming
    /// no id makes it an anonymous client.
    Node(NodeId),
    /// The peer proved no node id: it may only be an anonymous client (a hello claiming
    /// an id is refused with [`ConnectionError::Unauthenticated`](super::ConnectionError::Unauthenticated)).
    Anonymous,
}
