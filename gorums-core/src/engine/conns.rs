//! [`Connections`]: every connection of one endpoint and the nodes they reach: the
//! address registry, dialling with backoff, the handshake (preface, hello, identity),
//! the peers that dialled us, and the known peers and anonymous clients reachable now.
//!
//! It never touches a call: when a connection goes, the [`Endpoint`](super::Endpoint)
//! fails the shares waiting on it (the call table's index names them) and then lets this
//! table forget the connection.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use super::conn::{Conn, FrameSeq, Phase, Side};
use super::outputs::Outputs;
use super::stats::NodeStatsTable;
use super::timers::Timer;
use super::{
    Authenticated, ConnId, ConnectionError, DialPolicy, EndpointConfig, Event, Instant,
    NodeFailure, NodeId, PeerInfo, UsageError,
};
use crate::rng::SplitMix64;
use crate::wire::{self, EnvelopeRef, PROTOCOL_VERSION, proto};

/// A registered node: its address and, if this endpoint dials it, its current
/// connection.
#[derive(Debug)]
struct OutboundNode {
    addr: String,
    /// This endpoint dials the node (else the node's own connection to us is used).
    dialled: bool,
    conn: Option<ConnId>,
    /// The connection's hello has arrived: calls to the node can be answered.
    ready: bool,
    /// Failed connects in a row (for the backoff).
    attempts: u32,
}

/// What a hello on an accepted connection resolves to.
pub(crate) enum HelloOutcome {
    /// The peer is in: announce it.
    Accepted {
        info: PeerInfo,
        /// An older connection of the same peer, to close.
        replaces: Option<ConnId>,
    },
    /// The peer is refused: close the connection.
    Refused(ConnectionError),
    /// The peer is served on this connection only, announced to no one (an id outside
    /// the declared known peers).
    Served,
}

/// A connection taken out of the table, and what the shares waiting on it fail with.
pub(crate) struct Taken {
    pub(crate) id: ConnId,
    conn: Conn,
    pub(crate) failure: NodeFailure,
}

/// The connection table of one endpoint.
#[derive(Debug)]
pub(crate) struct Connections {
    me: NodeId,
    next_conn: u64,
    last_assigned: u32,
    rng: SplitMix64,
    conns: BTreeMap<ConnId, Conn>,
    /// The address registry: every node this endpoint dials, by id.
    nodes: BTreeMap<NodeId, OutboundNode>,
    /// This process's own address, if a configuration listed it.
    own_addr: Option<String>,
    /// Peers that dialled us, by the id they announced (or were given).
    inbound: BTreeMap<NodeId, ConnId>,
    /// Accepted connections whose hello has not been accepted yet (at most
    /// `max_handshaking`, which bounds the memory they hold).
    handshaking: BTreeSet<ConnId>,
    local: Option<ConnId>,
    /// The declared known peers, if any ([`EndpointConfig::known_peers`]).
    known: Option<BTreeSet<NodeId>>,
    /// Our hello says we serve requests on the connections we dial.
    serves: bool,
    scratch: BytesMut,
}

impl Connections {
    pub(crate) fn new(config: &EndpointConfig) -> Connections {
        let mut table = Connections {
            me: config.node_id,
            next_conn: 1,
            last_assigned: 0,
            rng: SplitMix64::new(config.seed),
            conns: BTreeMap::new(),
            nodes: BTreeMap::new(),
            own_addr: None,
            inbound: BTreeMap::new(),
            handshaking: BTreeSet::new(),
            local: None,
            known: config.known_peers.clone(),
            serves: true,
            scratch: BytesMut::new(),
        };
        if !config.node_id.is_anonymous() {
            let id = table.new_conn_id();
            let mut conn = Conn::new(Side::Local, String::from("local"), config.node_id, 0, 0);
            conn.open(0);
            table.conns.insert(id, conn);
            table.local = Some(id);
        }
        table
    }

    pub(crate) fn get(&self, conn: ConnId) -> Option<&Conn> {
        self.conns.get(&conn)
    }

    pub(crate) fn get_mut(&mut self, conn: ConnId) -> Option<&mut Conn> {
        self.conns.get_mut(&conn)
    }

    pub(crate) fn contains(&self, conn: ConnId) -> bool {
        self.conns.contains_key(&conn)
    }

    /// The in-process connection to ourselves, if we have an id.
    pub(crate) fn local(&self) -> Option<ConnId> {
        self.local
    }

    fn new_conn_id(&mut self) -> ConnId {
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        id
    }

    // ----- the address registry --------------------------------------------------------

    /// Registers `node` at `addr` and dials it. Our own id is recorded and served
    /// in-process, never dialled.
    pub(crate) fn add_node(
        &mut self,
        cfg: &EndpointConfig,
        now: Instant,
        node: NodeId,
        addr: String,
        out: &mut Outputs,
    ) -> Result<(), UsageError> {
        if node.is_anonymous() {
            return Err(UsageError::ReservedNodeId);
        }
        if node == self.me {
            if self.own_addr.is_some() {
                return Err(UsageError::DuplicateNode(node));
            }
            self.own_addr = Some(addr);
            return Ok(());
        }
        if self.nodes.contains_key(&node) {
            return Err(UsageError::DuplicateNode(node));
        }
        let dialled = match cfg.dial {
            DialPolicy::Every => true,
            DialPolicy::HigherIds => self.me.is_anonymous() || node > self.me,
        };
        self.nodes.insert(
            node,
            OutboundNode {
                addr,
                dialled,
                conn: None,
                ready: false,
                attempts: 0,
            },
        );
        if dialled {
            self.dial(cfg, now, node, out);
        }
        Ok(())
    }

    /// Forgets `node`; returns its connection, for the caller to close.
    pub(crate) fn remove_node(&mut self, node: NodeId) -> Option<ConnId> {
        self.nodes.remove(&node).and_then(|n| n.conn)
    }

    /// Every registered node's address, our own included, in id order.
    pub(crate) fn addrs(&self) -> Vec<(NodeId, &str)> {
        let mut all: Vec<(NodeId, &str)> = self
            .nodes
            .iter()
            .map(|(&id, n)| (id, n.addr.as_str()))
            .collect();
        if let Some(own) = &self.own_addr {
            let at = all.partition_point(|(id, _)| *id < self.me);
            all.insert(at, (self.me, own.as_str()));
        }
        all
    }

    /// The address `node` was registered with.
    pub(crate) fn addr_of(&self, node: NodeId) -> Option<&str> {
        if node == self.me {
            return self.own_addr.as_deref();
        }
        self.nodes.get(&node).map(|n| n.addr.as_str())
    }

    // ----- dialling and accepting ------------------------------------------------------

    fn dial(&mut self, cfg: &EndpointConfig, now: Instant, node: NodeId, out: &mut Outputs) {
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
            cfg.max_handshake_frame_len,
            cfg.handshake_hold_limit(),
        );
        let hello = hello(cfg, NodeId::ANONYMOUS, self.serves);
        self.push_preface_and_hello(&mut conn, &hello);
        set_open_deadline(cfg, now, &mut conn, id, out);
        self.conns.insert(id, conn);
        out.push(Event::Connect {
            conn: id,
            node,
            addr,
        });
    }

    /// Dials `node` again after its backoff, unless it has a connection meanwhile.
    pub(crate) fn redial(
        &mut self,
        cfg: &EndpointConfig,
        now: Instant,
        node: NodeId,
        out: &mut Outputs,
    ) {
        if self.nodes.get(&node).is_some_and(|n| n.conn.is_none()) {
            self.dial(cfg, now, node, out);
        }
    }

    /// Takes a connection a peer dialled; also returns why it must be closed at once
    /// (too many connections are in their handshake already).
    pub(crate) fn accept(
        &mut self,
        cfg: &EndpointConfig,
        now: Instant,
        addr: String,
        out: &mut Outputs,
    ) -> (ConnId, Option<ConnectionError>) {
        let id = self.new_conn_id();
        let mut conn = Conn::new(
            Side::Accepted,
            addr,
            NodeId::ANONYMOUS,
            cfg.max_handshake_frame_len,
            cfg.handshake_hold_limit(),
        );
        conn.phase = Phase::AwaitingHello;
        let refused = (self.handshaking.len() >= cfg.max_handshaking).then_some(
            ConnectionError::TooManyHandshakes {
                limit: cfg.max_handshaking,
            },
        );
        if refused.is_none() {
            set_open_deadline(cfg, now, &mut conn, id, out);
        }
        self.handshaking.insert(id);
        self.conns.insert(id, conn);
        (id, refused)
    }

    /// The bytes held by accepted connections whose hello has not been accepted yet: at
    /// most [`EndpointConfig::handshake_memory_bound`].
    pub(crate) fn handshake_bytes(&self) -> usize {
        self.handshaking
            .iter()
            .filter_map(|id| self.conns.get(id))
            .map(|c| c.decoder.held())
            .sum()
    }

    /// Records what the transport proved about the peer of the accepted `conn`; its
    /// hello is checked against it.
    pub(crate) fn authenticated(&mut self, conn: ConnId, proved: Authenticated) {
        if let Some(c) = self.conns.get_mut(&conn)
            && c.side == Side::Accepted
        {
            c.authenticated = Some(proved);
        }
    }

    /// The number of accepted connections whose hello has not been accepted yet.
    pub(crate) fn handshaking(&self) -> usize {
        self.handshaking.len()
    }

    /// The dial of `conn` succeeded: its queued bytes can go.
    pub(crate) fn connected(&mut self, conn: ConnId, out: &mut Outputs) {
        if let Some(c) = self.conns.get_mut(&conn)
            && c.phase == Phase::Connecting
        {
            c.phase = Phase::AwaitingHello;
            if c.needs_transmit_signal() {
                out.transmit(conn);
            }
        }
    }

    /// Whether the open deadline of `conn` that fired at `at` is still its deadline.
    pub(crate) fn open_deadline_due(&self, conn: ConnId, at: Instant) -> bool {
        self.conns
            .get(&conn)
            .is_some_and(|c| c.phase != Phase::Open && c.open_deadline == Some(at))
    }

    fn push_preface_and_hello(&mut self, conn: &mut Conn, hello: &proto::Hello) {
        wire::encode_preface(&mut self.scratch);
        // A hello is a few bytes plus the configured metadata; if the metadata alone
        // breaks the frame limit the peer will say so when it closes the connection.
        let _ = wire::encode_frame(hello, usize::MAX, &mut self.scratch);
        conn.push_frame(self.scratch.split());
    }

    // ----- the handshake ---------------------------------------------------------------

    /// A hello arrived on `conn` (not yet open). For a dialled connection the node is
    /// now up; for an accepted one the peer is admitted or refused.
    pub(crate) fn on_hello(
        &mut self,
        cfg: &EndpointConfig,
        conn: ConnId,
        body: Bytes,
        stats: &mut NodeStatsTable,
        out: &mut Outputs,
    ) -> Result<Option<HelloOutcome>, ConnectionError> {
        let hello = wire::decode_hello(body).map_err(ConnectionError::Wire)?;
        if hello.protocol_version != u32::from(PROTOCOL_VERSION) {
            return Err(ConnectionError::Violation(format!(
                "hello speaks protocol version {}",
                hello.protocol_version
            )));
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return Ok(None);
        };
        c.open(cfg.max_frame_len);
        c.peer_metadata = hello.metadata;
        self.handshaking.remove(&conn);
        match c.side {
            Side::Dialled(node) => {
                if hello.node_id != 0 && hello.node_id != node.0 {
                    tracing::debug!(%node, peer_says = hello.node_id, "dialled node announces another id");
                }
                if let Some(n) = self.nodes.get_mut(&node) {
                    n.ready = true;
                    n.attempts = 0;
                }
                out.push(Event::NodeUp { node });
                Ok(None)
            }
            Side::Accepted => Ok(Some(self.admit(
                cfg,
                conn,
                NodeId(hello.node_id),
                hello.serves,
                stats,
                out,
            ))),
            Side::Local => Ok(None),
        }
    }

    /// Admits the peer that sent a hello claiming `claimed` on `conn`, or refuses it.
    fn admit(
        &mut self,
        cfg: &EndpointConfig,
        conn: ConnId,
        claimed: NodeId,
        serves: bool,
        stats: &mut NodeStatsTable,
        out: &mut Outputs,
    ) -> HelloOutcome {
        if !self.me.is_anonymous() && claimed == self.me {
            return HelloOutcome::Refused(ConnectionError::Violation(format!(
                "peer claims our own id {}",
                self.me.0
            )));
        }
        let anonymous = claimed.is_anonymous();
        let proved = self.conns.get(&conn).and_then(|c| c.authenticated);
        match proved {
            Some(Authenticated::Node(certified)) if !anonymous && claimed != certified => {
                return HelloOutcome::Refused(ConnectionError::SpoofedId { claimed, certified });
            }
            Some(Authenticated::Anonymous) if !anonymous => {
                return HelloOutcome::Refused(ConnectionError::Unauthenticated(format!(
                    "a peer whose certificate names no node claims {claimed}"
                )));
            }
            _ => {}
        }
        // An id this server gave an anonymous client is that client's while it is
        // connected: a peer claiming it must not take its connection away.
        let held_by_client = self
            .inbound
            .get(&claimed)
            .and_then(|held| self.conns.get(held))
            .is_some_and(|held| held.anonymous_peer);
        if !anonymous && held_by_client {
            return HelloOutcome::Refused(ConnectionError::Violation(format!(
                "peer claims id {}, held by an anonymous client",
                claimed.0
            )));
        }
        if !anonymous && !self.is_known(claimed) {
            return self.serve_only(cfg, conn, claimed, NodeId::ANONYMOUS, out);
        }
        if anonymous && !serves {
            // A client with no server of its own: served, with an id of its own for
            // its requests, but it cannot be called back (Go keeps such a client out of
            // its client configuration too).
            let node = self.assign_client_id();
            return self.serve_only(cfg, conn, node, node, out);
        }
        let node = if anonymous {
            self.assign_client_id()
        } else {
            claimed
        };
        let previous = self.inbound.insert(node, conn);
        let reply = hello(
            cfg,
            if anonymous { node } else { NodeId::ANONYMOUS },
            self.serves,
        );
        let Some(mut c) = self.conns.remove(&conn) else {
            return HelloOutcome::Refused(ConnectionError::Closed(String::from("gone")));
        };
        c.peer = node;
        c.anonymous_peer = anonymous;
        self.push_preface_and_hello(&mut c, &reply);
        if c.needs_transmit_signal() {
            out.transmit(conn);
        }
        let info = PeerInfo {
            node,
            conn,
            anonymous,
            metadata: c.peer_metadata.clone(),
            addr: c.addr.clone(),
        };
        self.conns.insert(conn, c);
        stats.track(node);
        HelloOutcome::Accepted {
            info,
            // The newer connection is registered first, so the old one's cleanup leaves
            // it be.
            replaces: previous.filter(|&old| old != conn),
        }
    }

    /// Sets whether our hellos from now on say we serve requests on the connections we
    /// dial (see [`Endpoint::set_serving`](super::Endpoint::set_serving)).
    pub(crate) fn set_serving(&mut self, serves: bool) {
        self.serves = serves;
    }

    /// Whether `node` may be a known peer: it is declared, or no peers are declared.
    fn is_known(&self, node: NodeId) -> bool {
        self.known
            .as_ref()
            .is_none_or(|known| known.contains(&node))
    }

    /// Whether `node`'s counters outlive its connections: it is one of our nodes or a
    /// declared known peer.
    fn keeps_stats_of(&self, node: NodeId) -> bool {
        self.nodes.contains_key(&node)
            || self
                .known
                .as_ref()
                .is_some_and(|known| known.contains(&node))
    }

    /// Serves the peer on `conn` as `node` (telling it `assigned`), as Go Gorums'
    /// inbound manager serves a peer outside its known peers or a client without a
    /// server: its requests are handled and answered on its connection, but it joins no
    /// configuration and nothing can call it.
    fn serve_only(
        &mut self,
        cfg: &EndpointConfig,
        conn: ConnId,
        node: NodeId,
        assigned: NodeId,
        out: &mut Outputs,
    ) -> HelloOutcome {
        tracing::debug!(%conn, %node, "peer served only: not a known peer, cannot be called back");
        let reply = hello(cfg, assigned, self.serves);
        let Some(mut c) = self.conns.remove(&conn) else {
            return HelloOutcome::Refused(ConnectionError::Closed(String::from("gone")));
        };
        c.peer = node;
        self.push_preface_and_hello(&mut c, &reply);
        if c.needs_transmit_signal() {
            out.transmit(conn);
        }
        self.conns.insert(conn, c);
        HelloOutcome::Served
    }

    fn assign_client_id(&mut self) -> NodeId {
        let first = NodeId::FIRST_CLIENT.0;
        let mut id = self.last_assigned.max(first - 1);
        // Ids are handed out in order and reused only after the whole range has wrapped,
        // skipping any still in use; far fewer than 2^31 connections exist at once.
        loop {
            id = id.checked_add(1).unwrap_or(first);
            let taken = NodeId(id) == self.me
                || self.inbound.contains_key(&NodeId(id))
                || self.nodes.contains_key(&NodeId(id));
            if !taken {
                break;
            }
        }
        self.last_assigned = id;
        NodeId(id)
    }

    // ----- closing ---------------------------------------------------------------------

    /// Takes `conn` out of the table; the caller fails what waited on it with the
    /// [`Taken::failure`], then calls [`forget`](Self::forget).
    pub(crate) fn take(&mut self, conn: ConnId, error: ConnectionError) -> Option<Taken> {
        let c = self.conns.remove(&conn)?;
        self.handshaking.remove(&conn);
        let failure = if c.phase == Phase::Connecting {
            NodeFailure::NotConnected(Some(error))
        } else {
            NodeFailure::ConnectionLost(error)
        };
        Some(Taken {
            id: conn,
            conn: c,
            failure,
        })
    }

    /// Unregisters a connection taken out with [`take`](Self::take): a dialled node is
    /// redialled after a backoff, a peer that dialled us is gone.
    pub(crate) fn forget(
        &mut self,
        cfg: &EndpointConfig,
        now: Instant,
        taken: Taken,
        stats: &mut NodeStatsTable,
        out: &mut Outputs,
    ) {
        let Taken {
            id: conn,
            conn: c,
            failure,
        } = taken;
        match c.side {
            Side::Dialled(node) => {
                let Some(n) = self.nodes.get_mut(&node).filter(|n| n.conn == Some(conn)) else {
                    return;
                };
                n.conn = None;
                n.ready = false;
                n.attempts += 1;
                let delay = backoff_delay(cfg, n.attempts, &mut self.rng);
                out.timers.set(now + delay, Timer::Redial(node));
                stats.last_error(node, failure.clone());
                out.push(Event::NodeDown {
                    node,
                    error: failure,
                });
            }
            Side::Accepted => {
                if self.inbound.get(&c.peer) == Some(&conn) {
                    self.inbound.remove(&c.peer);
                    // Counters are kept for the nodes we know by name; any other peer
                    // is gone for good (an anonymous id is never given out again), and
                    // keeping its entry would let a peer that reconnects under ever
                    // new ids grow this table without bound.
                    if !self.keeps_stats_of(c.peer) {
                        stats.forget(c.peer);
                    }
                    out.push(Event::PeerDisconnected {
                        node: c.peer,
                        anonymous: c.anonymous_peer,
                    });
                }
            }
            Side::Local => {}
        }
    }

    /// Encodes `envelope` onto `conn`'s send queue (tells the driver if it has bytes to
    /// take now); returns where it sits.
    pub(crate) fn enqueue(
        &mut self,
        cfg: &EndpointConfig,
        conn: ConnId,
        envelope: &EnvelopeRef<'_>,
        out: &mut Outputs,
    ) -> Result<FrameSeq, NodeFailure> {
        self.queue_on(conn, out, |c| {
            c.queue_envelope(envelope, cfg.max_frame_len, cfg.send_queue_limit)
        })
    }

    /// Queues a frame already encoded onto `conn`'s send queue, as
    /// [`enqueue`](Self::enqueue) does an envelope.
    pub(crate) fn enqueue_frame(
        &mut self,
        cfg: &EndpointConfig,
        conn: ConnId,
        frame: Bytes,
        out: &mut Outputs,
    ) -> Result<FrameSeq, NodeFailure> {
        self.queue_on(conn, out, |c| c.queue_frame(frame, cfg.send_queue_limit))
    }

    /// Queues onto `conn` with `queue`, and tells the driver if it has bytes to take now.
    fn queue_on(
        &mut self,
        conn: ConnId,
        out: &mut Outputs,
        queue: impl FnOnce(&mut Conn) -> Result<FrameSeq, NodeFailure>,
    ) -> Result<FrameSeq, NodeFailure> {
        let c = self
            .conns
            .get_mut(&conn)
            .ok_or(NodeFailure::NotConnected(None))?;
        let frame = queue(c)?;
        if c.needs_transmit_signal() {
            out.transmit(conn);
        }
        Ok(frame)
    }

    // ----- reaching nodes --------------------------------------------------------------

    /// The connection a request to `node` goes on: ourselves, the connection we dialled,
    /// or the one the node dialled to us.
    pub(crate) fn route(
        &self,
        node: NodeId,
        stats: &NodeStatsTable,
    ) -> Result<ConnId, NodeFailure> {
        if node == self.me
            && let Some(local) = self.local
        {
            return Ok(local);
        }
        if let Some(n) = self.nodes.get(&node).filter(|n| n.dialled) {
            return n.conn.ok_or_else(|| {
                let last = stats.get(node).and_then(|i| i.last_error.clone());
                NodeFailure::NotConnected(last.and_then(|failure| match failure {
                    NodeFailure::ConnectionLost(e) | NodeFailure::NotConnected(Some(e)) => Some(e),
                    _ => None,
                }))
            });
        }
        self.inbound
            .get(&node)
            .copied()
            .ok_or(NodeFailure::NotConnected(None))
    }

    /// Whether a request to `node` can be answered now (its connection is open).
    pub(crate) fn is_connected(&self, node: NodeId, stats: &NodeStatsTable) -> bool {
        self.route(node, stats).is_ok_and(|conn| {
            self.conns
                .get(&conn)
                .is_some_and(|c| c.phase == Phase::Open)
        })
    }

    /// The known peers a call can reach now, and this process itself (if it has an id),
    /// in id order: nodes we dial whose connection is up, and peers we do not dial that
    /// connected to us, only those declared if known peers are declared (calls to a node we dial go on our own connection only, so that
    /// one sender's requests never switch connections and overtake each other).
    pub(crate) fn connected_peers(&self) -> Vec<NodeId> {
        let mut peers: BTreeSet<NodeId> = self
            .inbound
            .iter()
            .filter(|&(node, conn)| {
                !self.dials(*node) && self.conns.get(conn).is_some_and(|c| !c.anonymous_peer)
            })
            .map(|(&n, _)| n)
            .collect();
        peers.extend(
            self.nodes
                .iter()
                .filter(|(_, n)| n.ready)
                .map(|(&id, _)| id),
        );
        peers.retain(|&node| self.is_known(node));
        if self.local.is_some() {
            peers.insert(self.me);
        }
        peers.into_iter().collect()
    }

    /// Whether this endpoint dials `node` itself (then only that connection is used).
    fn dials(&self, node: NodeId) -> bool {
        self.nodes.get(&node).is_some_and(|n| n.dialled)
    }

    /// Anonymous clients connected now, by the ids given to them, in id order.
    pub(crate) fn clients(&self) -> Vec<NodeId> {
        self.inbound
            .iter()
            .filter(|&(_, conn)| self.conns.get(conn).is_some_and(|c| c.anonymous_peer))
            .map(|(&n, _)| n)
            .collect()
    }

    /// Bytes queued on all connections and not yet taken by the driver.
    pub(crate) fn queued_bytes(&self) -> usize {
        self.conns.values().map(Conn::queued_bytes).sum()
    }

    /// The number of connections (the self connection included).
    pub(crate) fn len(&self) -> usize {
        self.conns.len()
    }
}

/// Our hello: our id and metadata; `assigned` is the id given to an anonymous client.
fn hello(cfg: &EndpointConfig, assigned: NodeId, serves: bool) -> proto::Hello {
    proto::Hello {
        protocol_version: u32::from(PROTOCOL_VERSION),
        node_id: cfg.node_id.0,
        metadata: cfg.metadata.clone(),
        assigned_node_id: assigned.0,
        serves,
    }
}

fn set_open_deadline(
    cfg: &EndpointConfig,
    now: Instant,
    conn: &mut Conn,
    id: ConnId,
    out: &mut Outputs,
) {
    let at = now + cfg.connect_timeout;
    conn.open_deadline = Some(at);
    out.timers.set(at, Timer::OpenDeadline(id));
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
