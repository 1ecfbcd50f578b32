//! [`Endpoint`]: one process's whole protocol state, driven by its inputs.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use super::call::{Call, Share, Shares};
use super::conn::{Conn, Phase, Side};
use crate::rng::SplitMix64;
use super::{
    CallEvent, CallId, CallKind, CallSpec, Cause, ConnId, Event, Instant, MsgId, NodeError,
    NodeFailure, NodeId, Payload, PeerInfo, QuorumCallError, Request, RequestId, RequestKind,
    StartedCall, Status,
};
use crate::wire::proto::{self, Kind, MetadataEntry};
use crate::wire::{self, DEFAULT_MAX_FRAME_LEN, EnvelopeRef, PROTOCOL_VERSION};

/// How an [`Endpoint`] behaves; every field has a sensible default.
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
    /// [`NodeFailure::SendQueueFull`] (default 16 MiB).
    pub send_queue_limit: usize,
    /// How long a dial plus the hello exchange may take (default 5 s).
    pub connect_timeout: Duration,
    /// The first redial delay after a connection to a node fails (default 50 ms); it
    /// doubles per failed attempt, with jitter, up to `max_backoff`.
    pub initial_backoff: Duration,
    /// The longest redial delay (default 5 s).
    pub max_backoff: Duration,
    /// The seed of every random choice the engine makes (backoff jitter).
    pub seed: u64,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            node_id: NodeId::ANONYMOUS,
            metadata: Vec::new(),
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            send_queue_limit: 16 * 1024 * 1024,
            connect_timeout: Duration::from_secs(5),
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(5),
            seed: 0,
        }
    }
}

/// A command the engine refused because it was used wrongly (never because of anything
/// a peer did).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
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

/// A node's state as the engine sees it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeInfo {
    /// Whether a connection to the node is usable now.
    pub connected: bool,
    /// The latency estimate: an EWMA (smoothing 0.2) of successful replies' round trips;
    /// `None` until the first.
    pub latency: Option<Duration>,
    /// The node's last failure, if any.
    pub last_error: Option<NodeFailure>,
    /// Requests enqueued for it.
    pub sent: u64,
    /// Successful replies (or first stream items) from it.
    pub replied: u64,
    /// Call shares it failed.
    pub failed: u64,
    /// Replies from it that matched no waiting call (late, duplicate or unknown) and
    /// were dropped.
    pub dropped: u64,
}

#[derive(Debug)]
struct OutboundNode {
    addr: String,
    conn: Option<ConnId>,
    ready: bool,
    attempts: u32,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Timer {
    CallDeadline(CallId),
    OpenDeadline(ConnId),
    Redial(NodeId),
}

/// One process's gorums protocol: its connections, its calls in flight and its server
/// side, as a pure state machine.
///
/// # Driving it
///
/// The endpoint does no IO, reads no clock and spawns nothing. A driver (an adapter, the
/// simulator, a test) feeds it inputs and drains its outputs:
///
/// 1. **Inputs**, each carrying `now` (never earlier than the last one):
///    [`handle_accepted`](Self::handle_accepted), [`handle_connected`](Self::handle_connected),
///    [`handle_connect_failed`](Self::handle_connect_failed),
///    [`handle_bytes`](Self::handle_bytes), [`handle_closed`](Self::handle_closed),
///    [`handle_timeout`](Self::handle_timeout); and **commands**:
///    [`add_node`](Self::add_node), [`start_call`](Self::start_call),
///    [`cancel`](Self::cancel), [`finish`](Self::finish), [`respond`](Self::respond),
///    [`send_item`](Self::send_item), [`end_stream`](Self::end_stream),
///    [`release`](Self::release).
/// 2. **Outputs**, after every input or command, drained completely:
///    [`poll_event`](Self::poll_event) until `None` (dial, transmit, close, call progress,
///    requests, membership), [`poll_transmit`](Self::poll_transmit) for each connection an
///    [`Event::Transmit`] named, and finally [`poll_timeout`](Self::poll_timeout): call
///    [`handle_timeout`](Self::handle_timeout) at that instant (calling it early is
///    harmless).
///
/// # Guarantees
///
/// - A request is sent at most once. When a connection closes, every call share waiting
///   on it fails at once with [`NodeFailure::ConnectionLost`]; nothing is re-sent.
/// - Every reply is routed by (connection, message id) to the call and node it answers;
///   a reply that matches no waiting share (late, duplicate, unknown) is dropped and
///   counted in [`NodeInfo::dropped`], never misrouted.
/// - Requests from one sender (one connection) are handed out in the order received, one
///   at a time: the next only after the current one is answered or released.
/// - Frames leave each connection in the order they were enqueued, so calls reach every
///   node in issue order, whatever their type.
/// - Memory is bounded: per connection by `send_queue_limit` outgoing and
///   `max_frame_len` incoming.
/// - Iteration order never depends on a random seed: the same inputs give the same
///   outputs.
#[derive(Debug)]
pub struct Endpoint {
    config: EndpointConfig,
    now: Instant,
    rng: SplitMix64,
    next_conn: u64,
    next_call: u64,
    last_assigned: u32,
    conns: BTreeMap<ConnId, Conn>,
    nodes: BTreeMap<NodeId, OutboundNode>,
    inbound: BTreeMap<NodeId, ConnId>,
    local: Option<ConnId>,
    calls: BTreeMap<CallId, Call>,
    timers: BTreeSet<(Instant, Timer)>,
    events: VecDeque<Event>,
    local_inbox: VecDeque<proto::Message>,
    info: BTreeMap<NodeId, NodeInfo>,
    scratch: BytesMut,
}

impl Endpoint {
    /// A new endpoint, with no connections, at time `now`.
    pub fn new(config: EndpointConfig, now: Instant) -> Endpoint {
        let mut endpoint = Endpoint {
            rng: SplitMix64::new(config.seed),
            config,
            now,
            next_conn: 1,
            next_call: 1,
            last_assigned: 0,
            conns: BTreeMap::new(),
            nodes: BTreeMap::new(),
            inbound: BTreeMap::new(),
            local: None,
            calls: BTreeMap::new(),
            timers: BTreeSet::new(),
            events: VecDeque::new(),
            local_inbox: VecDeque::new(),
            info: BTreeMap::new(),
            scratch: BytesMut::new(),
        };
        let me = endpoint.config.node_id;
        if !me.is_anonymous() {
            endpoint.info.insert(me, NodeInfo::default());
            let id = endpoint.new_conn_id();
            let mut conn = Conn::new(Side::Local, String::from("local"), me, 0);
            conn.phase = Phase::Open;
            endpoint.conns.insert(id, conn);
            endpoint.local = Some(id);
        }
        endpoint
    }

    /// This process's node id.
    pub fn node_id(&self) -> NodeId {
        self.config.node_id
    }

    /// The configuration this endpoint was made with.
    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    // ----- connections -------------------------------------------------------------

    /// Registers an outbound node and starts dialling it: an [`Event::Connect`] follows.
    /// Requests to it wait in its send queue while it connects.
    pub fn add_node(
        &mut self,
        now: Instant,
        node: NodeId,
        addr: impl Into<String>,
    ) -> Result<(), UsageError> {
        self.advance(now);
        if node.is_anonymous() {
            return Err(UsageError::ReservedNodeId);
        }
        if self.nodes.contains_key(&node) || node == self.config.node_id {
            return Err(UsageError::DuplicateNode(node));
        }
        self.nodes.insert(
            node,
            OutboundNode {
                addr: addr.into(),
                conn: None,
                ready: false,
                attempts: 0,
            },
        );
        self.info.entry(node).or_default();
        self.dial(node);
        Ok(())
    }

    /// Forgets an outbound node: its connection is closed ([`Event::Close`]) and its
    /// shares of pending calls fail.
    pub fn remove_node(&mut self, now: Instant, node: NodeId) {
        self.advance(now);
        if let Some(n) = self.nodes.remove(&node)
            && let Some(conn) = n.conn
        {
            self.close(conn, format!("{node} removed"));
        }
    }

    /// Closes `conn` at the application's request (shutting down, say): an
    /// [`Event::Close`] follows and everything waiting on it fails.
    pub fn close_connection(&mut self, now: Instant, conn: ConnId, reason: &str) {
        self.advance(now);
        if Some(conn) != self.local {
            self.close(conn, reason.to_owned());
        }
    }

    /// The driver accepted a connection from `addr`: returns its id. The peer's preface
    /// and hello are expected within the connect timeout.
    pub fn handle_accepted(&mut self, now: Instant, addr: impl Into<String>) -> ConnId {
        self.advance(now);
        let id = self.new_conn_id();
        let mut conn = Conn::new(
            Side::Accepted,
            addr.into(),
            NodeId::ANONYMOUS,
            self.config.max_frame_len,
        );
        conn.phase = Phase::AwaitingHello;
        self.set_open_deadline(&mut conn, id);
        self.conns.insert(id, conn);
        id
    }

    /// The dial for `conn` succeeded: its queued bytes (preface, hello, requests) can be
    /// written.
    pub fn handle_connected(&mut self, now: Instant, conn: ConnId) {
        self.advance(now);
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.phase == Phase::Connecting {
            c.phase = Phase::AwaitingHello;
            Self::signal_transmit(&mut self.events, conn, c);
        }
    }

    /// The dial for `conn` failed; the node is redialled after a backoff.
    pub fn handle_connect_failed(&mut self, now: Instant, conn: ConnId, reason: &str) {
        self.advance(now);
        self.drop_conn(conn, format!("connect failed: {reason}"));
    }

    /// Bytes arrived on `conn`. A protocol violation closes that connection
    /// ([`Event::Close`]) and fails what was waiting on it.
    pub fn handle_bytes(&mut self, now: Instant, conn: ConnId, bytes: &[u8]) {
        self.advance(now);
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.decoder.push(bytes);
        while let Some(c) = self.conns.get_mut(&conn) {
            let body = match c.decoder.next_frame() {
                Ok(Some(body)) => body,
                Ok(None) => break,
                Err(err) => {
                    self.close(conn, err.to_string());
                    break;
                }
            };
            if c.phase == Phase::Open {
                match wire::decode_message(body) {
                    Ok(msg) => self.on_message(conn, msg),
                    Err(err) => self.close(conn, err.to_string()),
                }
            } else {
                self.on_hello(conn, body);
            }
        }
        self.flush_local();
    }

    /// The driver saw `conn` close (end of stream or an IO error).
    pub fn handle_closed(&mut self, now: Instant, conn: ConnId, reason: &str) {
        self.advance(now);
        let reason = match self.conns.get(&conn).map(|c| c.decoder.finish()) {
            Some(Err(err)) => format!("{reason}: {err}"),
            _ => reason.to_owned(),
        };
        self.drop_conn(conn, reason);
    }

    /// Fires every timer due at `now`: call deadlines, connect timeouts, redials.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        while let Some(&(at, timer)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            match timer {
                Timer::CallDeadline(call) => self.finish_call(call, Err(Cause::DeadlineExceeded)),
                Timer::OpenDeadline(conn) => {
                    let due = self
                        .conns
                        .get(&conn)
                        .is_some_and(|c| c.phase != Phase::Open && c.open_deadline == Some(at));
                    if due {
                        self.close(conn, String::from("connect timeout: no hello in time"));
                    }
                }
                Timer::Redial(node) => {
                    if self.nodes.get(&node).is_some_and(|n| n.conn.is_none()) {
                        self.dial(node);
                    }
                }
            }
        }
        self.flush_local();
    }

    // ----- outputs -----------------------------------------------------------------

    /// The next event, or `None` when there is nothing more to do before the next input.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Appends every byte queued for `conn` to `buf` (many frames in one write) and
    /// returns how many. Zero if the connection is unknown or not yet connected.
    pub fn poll_transmit(&mut self, conn: ConnId, buf: &mut BytesMut) -> usize {
        let Some(c) = self.conns.get_mut(&conn) else {
            return 0;
        };
        if !c.can_write() {
            return 0;
        }
        let taken = c.out_bytes;
        buf.reserve(taken);
        for frame in c.out.drain(..) {
            buf.extend_from_slice(&frame.bytes);
        }
        c.out_bytes = 0;
        c.transmit_signalled = false;
        taken
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|&(at, _)| at)
    }

    // ----- queries -----------------------------------------------------------------

    /// What the engine knows of `node`: connection, latency, last error, counters.
    pub fn node_info(&self, node: NodeId) -> Option<NodeInfo> {
        let mut info = self.info.get(&node)?.clone();
        info.connected = self.route(node).is_ok_and(|conn| {
            self.conns
                .get(&conn)
                .is_some_and(|c| c.phase == Phase::Open)
        });
        Some(info)
    }

    /// The peers a call can reach now, and this process itself (if it has an id), in id
    /// order: nodes we dial whose connection is up, and peers we do not dial that
    /// connected to us (calls to a node we dial go on our own connection only, so that
    /// one sender's requests never switch connections and overtake each other).
    pub fn connected_peers(&self) -> Vec<NodeId> {
        let mut peers: BTreeSet<NodeId> = self
            .inbound
            .iter()
            .filter(|&(node, conn)| {
                !self.nodes.contains_key(node)
                    && self.conns.get(conn).is_some_and(|c| !c.anonymous_peer)
            })
            .map(|(&n, _)| n)
            .collect();
        peers.extend(
            self.nodes
                .iter()
                .filter(|(_, n)| n.ready)
                .map(|(&id, _)| id),
        );
        if self.local.is_some() {
            peers.insert(self.config.node_id);
        }
        peers.into_iter().collect()
    }

    /// Anonymous clients connected now, by the ids given to them, in id order.
    pub fn clients(&self) -> Vec<NodeId> {
        self.inbound
            .iter()
            .filter(|&(_, conn)| self.conns.get(conn).is_some_and(|c| c.anonymous_peer))
            .map(|(&n, _)| n)
            .collect()
    }

    /// The peer on `conn`, its hello metadata and address, once its hello arrived.
    pub fn peer_of(&self, conn: ConnId) -> Option<(NodeId, &[MetadataEntry], &str)> {
        let c = self.conns.get(&conn)?;
        (c.phase == Phase::Open).then_some((c.peer, c.peer_metadata.as_slice(), c.addr.as_str()))
    }

    /// Bytes queued on all connections and not yet taken by the driver.
    pub fn queued_bytes(&self) -> usize {
        self.conns.values().map(|c| c.out_bytes).sum()
    }

    /// The number of two-way calls the engine still holds state for.
    pub fn live_calls(&self) -> usize {
        self.calls.len()
    }

    /// The number of connections the engine holds (the self connection included).
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    // ----- internals: time and ids ---------------------------------------------------

    fn advance(&mut self, now: Instant) {
        debug_assert!(
            now >= self.now,
            "time went backwards: {now:?} < {:?}",
            self.now
        );
        self.now = self.now.max(now);
    }

    fn new_conn_id(&mut self) -> ConnId {
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        id
    }

    fn set_open_deadline(&mut self, conn: &mut Conn, id: ConnId) {
        let at = self.now + self.config.connect_timeout;
        conn.open_deadline = Some(at);
        self.timers.insert((at, Timer::OpenDeadline(id)));
    }

    // ----- internals: dialling and closing --------------------------------------------

    fn dial(&mut self, node: NodeId) {
        let id = self.new_conn_id();
        let Some(n) = self.nodes.get_mut(&node) else {
            return;
        };
        n.conn = Some(id);
        n.ready = false;
        let addr = n.addr.clone();
        let mut conn = Conn::new(
            Side::Dialled(node),
            addr.clone(),
            node,
            self.config.max_frame_len,
        );
        let hello = proto::Hello {
            protocol_version: u32::from(PROTOCOL_VERSION),
            node_id: self.config.node_id.0,
            metadata: self.config.metadata.clone(),
            assigned_node_id: 0,
        };
        self.push_preface_and_hello(&mut conn, &hello);
        self.set_open_deadline(&mut conn, id);
        self.conns.insert(id, conn);
        self.events.push_back(Event::Connect {
            conn: id,
            node,
            addr,
        });
    }

    fn push_preface_and_hello(&mut self, conn: &mut Conn, hello: &proto::Hello) {
        wire::encode_preface(&mut self.scratch);
        // A hello is a few bytes plus the configured metadata; if the metadata alone
        // breaks the frame limit the peer will say so when it closes the connection.
        let _ = wire::encode_frame(hello, usize::MAX, &mut self.scratch);
        conn.push_frame(None, self.scratch.split());
    }

    /// Closes `conn` on the engine's own initiative: the driver is told to drop it.
    fn close(&mut self, conn: ConnId, reason: String) {
        if self.conns.contains_key(&conn) {
            tracing::debug!(%conn, %reason, "closing connection");
            self.drop_conn(conn, reason.clone());
            self.events.push_back(Event::Close { conn, reason });
        }
    }

    /// Forgets `conn` and everything waiting on it.
    fn drop_conn(&mut self, conn: ConnId, reason: String) {
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        let never_connected = c.phase == Phase::Connecting;
        let failure = if never_connected {
            NodeFailure::NotConnected(reason.clone())
        } else {
            NodeFailure::ConnectionLost(reason.clone())
        };
        let waiting: Vec<(CallId, NodeId)> = self
            .calls
            .iter()
            .flat_map(|(&call, state)| {
                state
                    .shares
                    .iter()
                    .filter_map(move |(&node, share)| match share {
                        Share::Waiting(on) | Share::Streaming(on) if *on == conn => {
                            Some((call, node))
                        }
                        _ => None,
                    })
            })
            .collect();
        for (call, node) in waiting {
            self.fail_share(call, node, failure.clone());
        }
        match c.side {
            Side::Dialled(node) => {
                if let Some(n) = self.nodes.get_mut(&node)
                    && n.conn == Some(conn)
                {
                    n.conn = None;
                    n.ready = false;
                    n.attempts += 1;
                    let delay = backoff_delay(&self.config, n.attempts, &mut self.rng);
                    self.timers.insert((self.now + delay, Timer::Redial(node)));
                    self.info.entry(node).or_default().last_error = Some(failure.clone());
                    self.events.push_back(Event::NodeDown {
                        node,
                        error: failure,
                    });
                }
            }
            Side::Accepted => {
                if self.inbound.get(&c.peer) == Some(&conn) {
                    self.inbound.remove(&c.peer);
                    self.events.push_back(Event::PeerDisconnected {
                        node: c.peer,
                        anonymous: c.anonymous_peer,
                    });
                }
            }
            Side::Local => {}
        }
    }

    // ----- internals: incoming frames ------------------------------------------------

    fn on_hello(&mut self, conn: ConnId, body: Bytes) {
        let hello = match wire::decode_hello(body) {
            Ok(hello) => hello,
            Err(err) => return self.close(conn, err.to_string()),
        };
        if hello.protocol_version != u32::from(PROTOCOL_VERSION) {
            return self.close(
                conn,
                format!("hello speaks protocol version {}", hello.protocol_version),
            );
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.phase = Phase::Open;
        c.open_deadline = None;
        c.peer_metadata = hello.metadata;
        match c.side {
            Side::Dialled(node) => {
                if hello.node_id != 0 && hello.node_id != node.0 {
                    tracing::debug!(%node, peer_says = hello.node_id, "dialled node announces another id");
                }
                if let Some(n) = self.nodes.get_mut(&node) {
                    n.ready = true;
                    n.attempts = 0;
                }
                self.events.push_back(Event::NodeUp { node });
            }
            Side::Accepted => self.accept_hello(conn, NodeId(hello.node_id)),
            Side::Local => {}
        }
    }

    fn accept_hello(&mut self, conn: ConnId, claimed: NodeId) {
        let me = self.config.node_id;
        if !me.is_anonymous() && claimed == me {
            return self.close(conn, format!("peer claims our own id {}", me.0));
        }
        let anonymous = claimed.is_anonymous();
        // An id this server gave an anonymous client is that client's while it is
        // connected: a peer claiming it must not take its connection away.
        let held_by_client = self
            .inbound
            .get(&claimed)
            .and_then(|held| self.conns.get(held))
            .is_some_and(|held| held.anonymous_peer);
        if !anonymous && held_by_client {
            return self.close(
                conn,
                format!("peer claims id {}, held by an anonymous client", claimed.0),
            );
        }
        let node = if anonymous {
            self.assign_client_id()
        } else {
            claimed
        };
        let previous = self.inbound.insert(node, conn);
        let hello = proto::Hello {
            protocol_version: u32::from(PROTOCOL_VERSION),
            node_id: me.0,
            metadata: self.config.metadata.clone(),
            assigned_node_id: if anonymous { node.0 } else { 0 },
        };
        let Some(mut c) = self.conns.remove(&conn) else {
            return;
        };
        c.peer = node;
        c.anonymous_peer = anonymous;
        self.push_preface_and_hello(&mut c, &hello);
        Self::signal_transmit(&mut self.events, conn, &mut c);
        let info = PeerInfo {
            node,
            conn,
            anonymous,
            metadata: c.peer_metadata.clone(),
            addr: c.addr.clone(),
        };
        self.conns.insert(conn, c);
        self.info.entry(node).or_default();
        // The newer connection is registered first, so the old one's cleanup leaves it be.
        if let Some(old) = previous.filter(|&old| old != conn) {
            self.close(old, format!("{node} reconnected"));
        }
        self.events.push_back(Event::PeerConnected(info));
    }

    fn assign_client_id(&mut self) -> NodeId {
        let first = NodeId::FIRST_CLIENT.0;
        let mut id = self.last_assigned.max(first - 1);
        // Ids are handed out in order and reused only after the whole range has wrapped,
        // skipping any still in use; far fewer than 2^31 connections exist at once.
        loop {
            id = id.checked_add(1).unwrap_or(first);
            let taken = NodeId(id) == self.config.node_id
                || self.inbound.contains_key(&NodeId(id))
                || self.nodes.contains_key(&NodeId(id));
            if !taken {
                break;
            }
        }
        self.last_assigned = id;
        NodeId(id)
    }

    fn on_message(&mut self, conn: ConnId, msg: proto::Message) {
        match Kind::try_from(msg.kind) {
            Ok(Kind::Request) => self.on_request(conn, msg, RequestKind::Unary),
            Ok(Kind::StreamRequest) => self.on_request(conn, msg, RequestKind::Stream),
            Ok(Kind::OneWay) => self.on_request(conn, msg, RequestKind::OneWay),
            Ok(kind @ (Kind::Reply | Kind::StreamItem | Kind::StreamEnd)) => {
                self.on_reply(conn, msg, kind)
            }
            Err(_) => self.close(conn, format!("unknown message kind {}", msg.kind)),
        }
    }

    fn on_reply(&mut self, conn: ConnId, msg: proto::Message, kind: Kind) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let node = c.peer;
        let routed = c.call_of_reply(msg.message_seq_no).and_then(|call| {
            let state = self.calls.get(&call)?;
            match state.shares.get(&node)? {
                Share::Waiting(on) | Share::Streaming(on) if *on == conn => {
                    Some((call, state.streaming()))
                }
                _ => None,
            }
        });
        let Some((call, streaming)) = routed else {
            self.info.entry(node).or_default().dropped += 1;
            return;
        };
        let status = msg
            .status
            .filter(|s| s.code != 0)
            .map(|s| NodeFailure::Status(Status::new(super::Code::from_i32(s.code), s.message)));
        match (streaming, kind, status) {
            (_, _, Some(failure)) => self.fail_share(call, node, failure),
            (false, Kind::Reply, None) => self.succeed_share(call, node, msg.payload),
            (true, Kind::StreamItem, None) => self.stream_item(call, node, msg.payload),
            (true, Kind::Reply, None) => {
                self.stream_item(call, node, msg.payload);
                self.end_share(call, node);
            }
            (true, Kind::StreamEnd, None) => self.end_share(call, node),
            _ => {
                self.info.entry(node).or_default().dropped += 1;
                return;
            }
        }
        self.settle(call);
    }

    fn on_request(&mut self, conn: ConnId, msg: proto::Message, kind: RequestKind) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let id = RequestId {
            conn,
            msg: MsgId(msg.message_seq_no),
        };
        if c.server.open.contains_key(&id.msg) {
            tracing::debug!(%conn, ?id, "duplicate request id dropped");
            return;
        }
        let Some(method) = super::MethodName::new(msg.method) else {
            return self.close(conn, String::from("a request's method name is not UTF-8"));
        };
        c.server.waiting.push_back(Request {
            id,
            from: c.peer,
            kind,
            method,
            metadata: msg.metadata,
            payload: msg.payload,
        });
        self.next_turn(conn);
    }

    // ----- internals: call progress -------------------------------------------------

    fn succeed_share(&mut self, call: CallId, node: NodeId, payload: Bytes) {
        let now = self.now;
        let Some(state) = self.calls.get_mut(&call) else {
            return;
        };
        state.shares.insert(node, Share::Done);
        state.waiting -= 1;
        record_reply(&mut self.info, node, now - state.started);
        self.events.push_back(Event::Call {
            call,
            event: CallEvent::Reply {
                node,
                result: Ok(payload),
            },
        });
    }

    fn stream_item(&mut self, call: CallId, node: NodeId, payload: Bytes) {
        let now = self.now;
        let Some(state) = self.calls.get_mut(&call) else {
            return;
        };
        if let Some(Share::Waiting(conn)) = state.shares.get(&node).copied() {
            state.shares.insert(node, Share::Streaming(conn));
            record_reply(&mut self.info, node, now - state.started);
        }
        self.events.push_back(Event::Call {
            call,
            event: CallEvent::Item { node, payload },
        });
    }

    fn end_share(&mut self, call: CallId, node: NodeId) {
        let Some(state) = self.calls.get_mut(&call) else {
            return;
        };
        state.shares.insert(node, Share::Done);
        state.waiting -= 1;
        self.events.push_back(Event::Call {
            call,
            event: CallEvent::End {
                node,
                result: Ok(()),
            },
        });
    }

    /// Fails `node`'s share of `call` (the caller settles the call afterwards, or the
    /// call is settled here when reached from a connection loss).
    fn fail_share(&mut self, call: CallId, node: NodeId, failure: NodeFailure) {
        let Some(state) = self.calls.get_mut(&call) else {
            return;
        };
        state.shares.insert(node, Share::Done);
        state.waiting -= 1;
        state.errors.push(NodeError {
            node,
            failure: failure.clone(),
        });
        let event = if state.streaming() {
            CallEvent::End {
                node,
                result: Err(failure.clone()),
            }
        } else {
            CallEvent::Reply {
                node,
                result: Err(failure.clone()),
            }
        };
        let info = self.info.entry(node).or_default();
        info.failed += 1;
        info.last_error = Some(failure);
        self.events.push_back(Event::Call { call, event });
        self.settle(call);
    }

    /// Finishes `call` if its quorum is decided or no node is left to hear from.
    fn settle(&mut self, call: CallId) {
        let Some(state) = self.calls.get(&call) else {
            return;
        };
        if state.waiting == 0 {
            self.finish_call(call, Ok(()));
        }
    }

    fn finish_call(&mut self, call: CallId, outcome: Result<(), Cause>) {
        let Some(state) = self.calls.remove(&call) else {
            return;
        };
        if let Some(deadline) = state.deadline {
            self.timers.remove(&(deadline, Timer::CallDeadline(call)));
        }
        let result = outcome.map_err(|cause| QuorumCallError::new(cause, state.errors));
        self.events.push_back(Event::Call {
            call,
            event: CallEvent::Finished(result),
        });
    }

    // ----- internals: sending ---------------------------------------------------------

    /// The connection a request to `node` goes on: ourselves, the connection we dialled,
    /// or the one the node dialled to us.
    fn route(&self, node: NodeId) -> Result<ConnId, NodeFailure> {
        if node == self.config.node_id
            && let Some(local) = self.local
        {
            return Ok(local);
        }
        if let Some(n) = self.nodes.get(&node) {
            return n.conn.ok_or_else(|| {
                let last = self.info.get(&node).and_then(|i| i.last_error.clone());
                NodeFailure::NotConnected(match last {
                    Some(err) => format!("waiting to reconnect after: {err}"),
                    None => String::from("waiting to reconnect"),
                })
            });
        }
        if let Some(&conn) = self.inbound.get(&node) {
            return Ok(conn);
        }
        Err(NodeFailure::NotConnected(format!(
            "no connection to {node}"
        )))
    }

    /// Queues `msg` on `conn` (or hands it to ourselves on the local connection).
    fn enqueue(
        &mut self,
        conn: ConnId,
        call: Option<CallId>,
        envelope: &EnvelopeRef<'_>,
    ) -> Result<(), NodeFailure> {
        if Some(conn) == self.local {
            self.local_inbox.push_back(envelope.to_message());
            return Ok(());
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return Err(NodeFailure::NotConnected(format!("{conn} is closed")));
        };
        c.queue_envelope(
            call,
            envelope,
            self.config.max_frame_len,
            self.config.send_queue_limit,
        )?;
        Self::signal_transmit(&mut self.events, conn, c);
        Ok(())
    }

    fn signal_transmit(events: &mut VecDeque<Event>, id: ConnId, conn: &mut Conn) {
        if conn.can_write() && !conn.transmit_signalled && !conn.out.is_empty() {
            conn.transmit_signalled = true;
            events.push_back(Event::Transmit(id));
        }
    }

    /// Hands the local connection's messages to ourselves, after the command that
    /// produced them has finished with its state.
    fn flush_local(&mut self) {
        while let Some(msg) = self.local_inbox.pop_front() {
            if let Some(local) = self.local {
                self.on_message(local, msg);
            }
        }
    }

    // ----- client commands ---------------------------------------------------------

    /// Starts a call: enqueues its request for every node now, in node order, so that
    /// calls started one after another reach each node in that order.
    ///
    /// Nodes that cannot be sent to (not connected, waiting to reconnect, send queue
    /// full) fail at once and are listed in [`StartedCall::send_failures`]; the others
    /// report through [`Event::Call`]. A two-way call ends with
    /// [`CallEvent::Finished`]; a one-way call keeps no state once enqueued.
    pub fn start_call(&mut self, now: Instant, spec: CallSpec) -> Result<StartedCall, UsageError> {
        self.advance(now);
        validate(&spec)?;
        let id = CallId(self.next_call);
        self.next_call += 1;
        let kind = match spec.kind {
            CallKind::Rpc | CallKind::QuorumCall => Kind::Request,
            CallKind::Correctable => Kind::StreamRequest,
            CallKind::Unicast | CallKind::Multicast => Kind::OneWay,
        };
        let mut shares = Shares::default();
        let mut failures = Vec::new();
        for (i, &node) in spec.nodes.iter().enumerate() {
            let payload = match &spec.payload {
                Payload::Shared(p) => Some(p.clone()),
                Payload::PerNode(list) => list.get(i).cloned().flatten(),
            };
            let Some(payload) = payload else {
                continue;
            };
            let sent = self.route(node).and_then(|conn| {
                let wire_id = self.conns.get(&conn).map_or(id.0, |c| c.wire_id(id));
                let envelope = EnvelopeRef {
                    id: wire_id,
                    method: &spec.method,
                    status: None,
                    metadata: &spec.metadata,
                    payload: &payload,
                    kind,
                };
                self.enqueue(conn, Some(id), &envelope).map(|()| conn)
            });
            let info = self.info.entry(node).or_default();
            match sent {
                Ok(conn) => {
                    info.sent += 1;
                    shares.insert(node, Share::Waiting(conn));
                }
                Err(failure) => {
                    info.failed += 1;
                    info.last_error = Some(failure.clone());
                    failures.push(NodeError { node, failure });
                }
            }
        }
        if spec.kind.is_two_way() {
            if let Some(deadline) = spec.deadline {
                self.timers.insert((deadline, Timer::CallDeadline(id)));
            }
            let waiting = shares.len();
            self.calls.insert(
                id,
                Call {
                    kind: spec.kind,
                    started: self.now,
                    deadline: spec.deadline,
                    shares,
                    waiting,
                    errors: failures.clone(),
                },
            );
            self.settle(id);
        }
        self.flush_local();
        Ok(StartedCall {
            id,
            send_failures: failures,
        })
    }

    /// Cancels a call: requests not yet taken by the driver are taken back, the call's
    /// state is freed, and replies still to come are dropped. No event follows.
    /// Connections are untouched.
    pub fn cancel(&mut self, now: Instant, call: CallId) {
        self.advance(now);
        for conn in self.conns.values_mut() {
            conn.unqueue_call(call);
        }
        self.local_inbox
            .retain(|m| m.message_seq_no & !MsgId::ACCEPTOR_BIT != call.0);
        self.forget(call);
    }

    /// Ends a call the caller no longer needs (its quorum was met): its state is freed
    /// and later replies are dropped, but requests already queued are still sent.
    pub fn finish(&mut self, now: Instant, call: CallId) {
        self.advance(now);
        self.forget(call);
    }

    fn forget(&mut self, call: CallId) {
        if let Some(state) = self.calls.remove(&call)
            && let Some(deadline) = state.deadline
        {
            self.timers.remove(&(deadline, Timer::CallDeadline(call)));
        }
    }

    // ----- server commands -----------------------------------------------------------

    /// Answers a request: a reply (or error status) for a unary request, a one-item
    /// stream for a stream request, nothing on the wire for a one-way message. Either
    /// way the sender's next request is handed out if this one held its turn.
    pub fn respond(
        &mut self,
        now: Instant,
        request: RequestId,
        result: Result<Bytes, Status>,
    ) -> Result<(), UsageError> {
        self.advance(now);
        let kind = self.close_request(request)?;
        let outcome = match kind {
            RequestKind::OneWay => Ok(()),
            RequestKind::Unary | RequestKind::Stream => {
                self.send_reply(request, Kind::Reply, result)
            }
        };
        self.next_turn(request.conn);
        self.flush_local();
        outcome
    }

    /// Sends one item of a stream request's reply stream.
    pub fn send_item(
        &mut self,
        now: Instant,
        request: RequestId,
        payload: Bytes,
    ) -> Result<(), UsageError> {
        self.advance(now);
        let c = self
            .conns
            .get(&request.conn)
            .ok_or(UsageError::ConnectionClosed)?;
        match c.server.open.get(&request.msg) {
            Some(RequestKind::Stream) => {}
            Some(_) => return Err(UsageError::NotAStream(request)),
            None => return Err(UsageError::UnknownRequest(request)),
        }
        let outcome = self.send_reply(request, Kind::StreamItem, Ok(payload));
        self.flush_local();
        outcome
    }

    /// Ends a stream request's reply stream, with an error status or none.
    pub fn end_stream(
        &mut self,
        now: Instant,
        request: RequestId,
        result: Result<(), Status>,
    ) -> Result<(), UsageError> {
        self.advance(now);
        if let Some(c) = self.conns.get(&request.conn)
            && let Some(kind) = c.server.open.get(&request.msg)
            && *kind != RequestKind::Stream
        {
            return Err(UsageError::NotAStream(request));
        }
        self.close_request(request)?;
        let outcome = self.send_reply(request, Kind::StreamEnd, result.map(|()| Bytes::new()));
        self.next_turn(request.conn);
        self.flush_local();
        outcome
    }

    /// Lets the sender's next request start before this one is answered. The request
    /// stays open: answer it later as usual.
    pub fn release(&mut self, now: Instant, request: RequestId) {
        self.advance(now);
        if let Some(c) = self.conns.get_mut(&request.conn)
            && c.server.turn == Some(request.msg)
        {
            c.server.turn = None;
            self.next_turn(request.conn);
        }
        self.flush_local();
    }

    fn close_request(&mut self, request: RequestId) -> Result<RequestKind, UsageError> {
        let c = self
            .conns
            .get_mut(&request.conn)
            .ok_or(UsageError::ConnectionClosed)?;
        let kind = c
            .server
            .open
            .remove(&request.msg)
            .ok_or(UsageError::UnknownRequest(request))?;
        if c.server.turn == Some(request.msg) {
            c.server.turn = None;
        }
        Ok(kind)
    }

    fn send_reply(
        &mut self,
        request: RequestId,
        kind: Kind,
        result: Result<Bytes, Status>,
    ) -> Result<(), UsageError> {
        let envelope = EnvelopeRef {
            id: request.msg.0,
            method: "",
            status: result
                .as_ref()
                .err()
                .map(|s| (s.code.as_i32(), s.message.as_str())),
            metadata: &[],
            payload: result.as_ref().map_or(&[][..], |p| &p[..]),
            kind,
        };
        match self.enqueue(request.conn, None, &envelope) {
            Ok(()) => Ok(()),
            Err(failure) => {
                // A reply that cannot be queued (the requester is not reading) ends that
                // connection: the requester would otherwise wait for it forever.
                self.close(request.conn, format!("reply not sent: {failure}"));
                Err(UsageError::ConnectionClosed)
            }
        }
    }

    /// Hands out the next waiting request of `conn` if no request holds its turn.
    fn next_turn(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.server.turn.is_some() {
            return;
        }
        if let Some(request) = c.server.waiting.pop_front() {
            c.server.turn = Some(request.id.msg);
            c.server.open.insert(request.id.msg, request.kind);
            self.events.push_back(Event::Request(request));
        }
    }
}

fn validate(spec: &CallSpec) -> Result<(), UsageError> {
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

/// The redial delay after `attempts` failures in a row: doubling from the initial
/// backoff up to the maximum, then jittered down by up to half, from the seeded RNG.
fn backoff_delay(config: &EndpointConfig, attempts: u32, rng: &mut SplitMix64) -> Duration {
    let doublings = attempts.saturating_sub(1).min(32);
    let full = config
        .initial_backoff
        .saturating_mul(1u32 << doublings.min(31))
        .min(config.max_backoff);
    let nanos = u64::try_from(full.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(nanos / 2 + rng.below(nanos / 2 + 1))
}

/// Counts a successful reply from `node` and folds its round trip into the latency
/// estimate (EWMA, smoothing 0.2).
fn record_reply(info: &mut BTreeMap<NodeId, NodeInfo>, node: NodeId, sample: Duration) {
    let info = info.entry(node).or_default();
    info.replied += 1;
    info.latency = Some(match info.latency {
        None => sample,
        // 0.8 old + 0.2 sample, in integer nanoseconds (no float conversion per reply).
        Some(old) => {
            let nanos = (old.as_nanos() * 4 + sample.as_nanos()) / 5;
            Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
        }
    });
}
