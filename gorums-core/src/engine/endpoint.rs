//! [`Endpoint`]: one process's whole protocol state, driven by its inputs. It owns the
//! sub-states and routes every input and command to them.

use std::collections::{BTreeMap, VecDeque};
use std::io;

use bytes::{Bytes, BytesMut};

use super::calls::{Call, Calls, ShareOutcome};
use super::conn::FrameSeq;
use super::conns::{Connections, HelloOutcome};
use super::outputs::Outputs;
use super::stats::NodeStatsTable;
use super::timers::Timer;
use super::{
    Authenticated, CallSpec, Cause, ConnId, ConnectionError, EndpointConfig, Event, Instant, MsgId,
    NodeError, NodeFailure, NodeId, NodeInfo, Payload, RequestId, RequestKind, StartedCall, Status,
    UsageError,
};
use crate::wire::proto::{self, Kind, MetadataEntry};
use crate::wire::{self, EnvelopeRef};

/// One process's gorums protocol: its connections, its calls in flight and its server
/// side, as a pure state machine.
///
/// It coordinates three sub-states, each in its own module: the connection table
/// (`conns`: registry, dialling, handshake, membership), the call table (`calls`: ids,
/// shares, reply routing) and each connection's server queue (`server`: per-sender
/// FIFO). Inputs are routed to them here; they report through one event queue.
///
/// # Driving it
///
/// The endpoint does no IO, reads no clock and spawns nothing. A driver (an adapter, the
/// simulator, a test) feeds it inputs and drains its outputs:
///
/// 1. **Inputs**, each carrying `now` (never earlier than the last one):
///    [`handle_accepted`](Self::handle_accepted), [`handle_connected`](Self::handle_connected),
///    [`handle_connect_failed`](Self::handle_connect_failed),
///    [`handle_bytes`](Self::handle_bytes), [`handle_written`](Self::handle_written),
///    [`handle_closed`](Self::handle_closed), [`handle_timeout`](Self::handle_timeout);
///    and **commands**:
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
///   `max_frame_len` incoming; before a peer's hello is accepted, by
///   [`EndpointConfig::handshake_hold_limit`] incoming, for at most
///   [`EndpointConfig::max_handshaking`] accepted connections at once
///   ([`handshake_bytes`](Self::handshake_bytes) says what they hold).
/// - Iteration order never depends on a random seed: the same inputs give the same
///   outputs.
/// - A call's cost does not grow with the calls in flight: settling, finishing and
///   cancelling touch that call's shares only, and closing a connection only the shares
///   waiting on it.
/// - It does not judge quorums: a call ends when every node has answered or failed, at
///   its deadline, or when the caller ends it ([`finish`](Self::finish) once its
///   [`Tally`](crate::quorum::Tally) is met, [`cancel`](Self::cancel)).
#[derive(Debug)]
pub struct Endpoint {
    config: EndpointConfig,
    now: Instant,
    conns: Connections,
    calls: Calls,
    out: Outputs,
    stats: NodeStatsTable,
    /// Messages to ourselves, handed over once the command that sent them is done.
    local_inbox: VecDeque<proto::Message>,
    /// What each registered method's requests expect back, for requests from a wire
    /// that does not say ([`Kind::Untyped`]).
    method_kinds: BTreeMap<Vec<u8>, RequestKind>,
}

impl Endpoint {
    /// A new endpoint, with no connections, at time `now`.
    pub fn new(config: EndpointConfig, now: Instant) -> Endpoint {
        let mut stats = NodeStatsTable::default();
        if !config.node_id.is_anonymous() {
            stats.track(config.node_id);
        }
        Endpoint {
            conns: Connections::new(&config),
            config,
            now,
            calls: Calls::new(),
            out: Outputs::default(),
            stats,
            local_inbox: VecDeque::new(),
            method_kinds: BTreeMap::new(),
        }
    }

    /// Records what requests for `method` expect back. A request from a wire that carries
    /// no kind (Go Gorums' gRPC stream, [`Kind::Untyped`]) is served as the kind of its
    /// method; a method never recorded is served as [`RequestKind::Unary`].
    pub fn set_method_kind(&mut self, method: &str, kind: RequestKind) {
        self.method_kinds.insert(method.as_bytes().to_vec(), kind);
    }

    /// This process's node id.
    pub fn node_id(&self) -> NodeId {
        self.config.node_id
    }

    /// Sets whether this endpoint's hellos from now on (connections dialled after this
    /// call) say it serves requests on the connections it dials (true until told
    /// otherwise). An acceptor keeps an anonymous dialler that does not out of its
    /// [`clients`](Self::clients): it is served but cannot be called back.
    pub fn set_serving(&mut self, serves: bool) {
        self.conns.set_serving(serves);
    }

    /// The configuration this endpoint was made with.
    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    // ----- connections -------------------------------------------------------------

    /// Registers a node at `addr` and starts dialling it: an [`Event::Connect`] follows.
    /// Requests to it wait in its send queue while it connects. This process's own id
    /// is recorded (so [`node_addr`](Self::node_addr) knows it) and served in-process.
    pub fn add_node(
        &mut self,
        now: Instant,
        node: NodeId,
        addr: impl Into<String>,
    ) -> Result<(), UsageError> {
        self.advance(now);
        self.conns
            .add_node(&self.config, self.now, node, addr.into(), &mut self.out)?;
        self.stats.track(node);
        Ok(())
    }

    /// Forgets a registered node: its connection is closed ([`Event::Close`]) and its
    /// shares of pending calls fail.
    pub fn remove_node(&mut self, now: Instant, node: NodeId) {
        self.advance(now);
        if let Some(conn) = self.conns.remove_node(node) {
            self.close(conn, ConnectionError::Closed(format!("{node} removed")));
        }
    }

    /// The address `node` was registered with ([`add_node`](Self::add_node)).
    pub fn node_addr(&self, node: NodeId) -> Option<&str> {
        self.conns.addr_of(node)
    }

    /// Every registered node with its address, this process included, in id order.
    pub fn node_addrs(&self) -> Vec<(NodeId, &str)> {
        self.conns.addrs()
    }

    /// Closes `conn` at the application's request (shutting down, say): an
    /// [`Event::Close`] follows and everything waiting on it fails.
    pub fn close_connection(&mut self, now: Instant, conn: ConnId, reason: &str) {
        self.advance(now);
        if Some(conn) != self.conns.local() {
            self.close(conn, ConnectionError::Closed(reason.to_owned()));
        }
    }

    /// The driver accepted a connection from `addr`: returns its id. The peer's preface
    /// and hello are expected within the connect timeout. While
    /// [`max_handshaking`](EndpointConfig::max_handshaking) accepted connections are
    /// still in their handshake, a new one is closed at once ([`Event::Close`] with
    /// [`ConnectionError::TooManyHandshakes`]).
    pub fn handle_accepted(&mut self, now: Instant, addr: impl Into<String>) -> ConnId {
        self.advance(now);
        let addr = addr.into();
        let (conn, refused) =
            self.conns
                .accept(&self.config, self.now, addr.clone(), &mut self.out);
        if let Some(reason) = refused {
            tracing::warn!(%conn, %addr, %reason, "connection refused");
            self.close(conn, reason);
        }
        conn
    }

    /// The transport of the accepted `conn` proved `proved` about its peer (the API's
    /// identity rule read the peer's certificate). Call it before the connection's first
    /// bytes; its hello is then checked against it, and a spoofed id is refused
    /// ([`ConnectionError::SpoofedId`]).
    pub fn handle_authenticated(&mut self, now: Instant, conn: ConnId, proved: Authenticated) {
        self.advance(now);
        self.conns.authenticated(conn, proved);
    }

    /// The dial for `conn` succeeded: its queued bytes (preface, hello, requests) can be
    /// written.
    pub fn handle_connected(&mut self, now: Instant, conn: ConnId) {
        self.advance(now);
        self.conns.connected(conn, &mut self.out);
    }

    /// The dial for `conn` failed; the node is redialled after a backoff.
    pub fn handle_connect_failed(&mut self, now: Instant, conn: ConnId, error: io::Error) {
        self.advance(now);
        self.drop_conn(conn, ConnectionError::io("connect", error));
    }

    /// Bytes arrived on `conn`. A protocol violation closes that connection
    /// ([`Event::Close`]) and fails what was waiting on it.
    ///
    /// Until the peer's hello is accepted, the bytes are taken in pieces that keep the
    /// connection's decoder within [`EndpointConfig::handshake_hold_limit`].
    pub fn handle_bytes(&mut self, now: Instant, conn: ConnId, bytes: &[u8]) {
        self.advance(now);
        let mut rest = bytes;
        while let Some(c) = self.conns.get_mut(conn) {
            if rest.is_empty() {
                break;
            }
            let take = rest.len().min(c.decoder.room()).max(1);
            c.decoder.push(&rest[..take]);
            rest = &rest[take..];
            self.decode_frames(conn);
        }
        self.flush_local();
    }

    /// Handles every whole frame `conn`'s decoder holds.
    fn decode_frames(&mut self, conn: ConnId) {
        while let Some(c) = self.conns.get_mut(conn) {
            let open = c.phase == super::conn::Phase::Open;
            let body = match c.decoder.next_frame() {
                Ok(Some(body)) => body,
                Ok(None) => break,
                Err(err) => {
                    self.close(conn, ConnectionError::Wire(err));
                    break;
                }
            };
            if open {
                match wire::decode_message(body) {
                    Ok(msg) => self.on_message(conn, msg),
                    Err(err) => self.close(conn, ConnectionError::Wire(err)),
                }
            } else {
                self.on_hello(conn, body);
            }
        }
    }

    /// The driver saw `conn` close: the peer ended the stream
    /// ([`ConnectionError::ClosedByPeer`]) or the transport failed
    /// ([`ConnectionError::io`]).
    pub fn handle_closed(&mut self, now: Instant, conn: ConnId, error: ConnectionError) {
        self.advance(now);
        // A stream that ends inside a frame is the peer's protocol error.
        let error = match self.conns.get(conn).map(|c| c.decoder.finish()) {
            Some(Err(truncated)) if error == ConnectionError::ClosedByPeer => {
                ConnectionError::Wire(truncated)
            }
            _ => error,
        };
        self.drop_conn(conn, error);
    }

    /// The driver wrote `bytes` more of what [`poll_transmit`](Self::poll_transmit) gave
    /// it for `conn` to the connection. Each request now written whole whose caller waits
    /// for that ([`CallSpec::report_written`]) is reported
    /// ([`CallEvent::Written`](super::CallEvent::Written)). A driver takes the next bytes
    /// only once it has written the last; calling `poll_transmit` again says so.
    pub fn handle_written(&mut self, now: Instant, conn: ConnId, bytes: usize) {
        self.advance(now);
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        for (call, node) in c.written(bytes) {
            self.settle(call, node, ShareOutcome::Written);
        }
    }

    /// Fires every timer due at `now`: call deadlines, connect timeouts, redials.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        while let Some((at, timer)) = self.out.timers.pop_due(self.now) {
            match timer {
                Timer::CallDeadline(call) => {
                    self.calls
                        .finish(call, Err(Cause::DeadlineExceeded), &mut self.out);
                }
                Timer::OpenDeadline(conn) => {
                    if self.conns.open_deadline_due(conn, at) {
                        self.close(conn, ConnectionError::HandshakeTimeout);
                    }
                }
                Timer::Redial(node) => {
                    self.conns
                        .redial(&self.config, self.now, node, &mut self.out);
                }
            }
        }
        self.flush_local();
    }

    // ----- outputs -----------------------------------------------------------------

    /// The next event, or `None` when there is nothing more to do before the next input.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.out.events.pop_front()
    }

    /// Appends every byte queued for `conn` to `buf` (many frames in one write) and
    /// returns how many. Zero if the connection is unknown or not yet connected.
    pub fn poll_transmit(&mut self, conn: ConnId, buf: &mut BytesMut) -> usize {
        self.poll_transmit_up_to(conn, buf, usize::MAX)
    }

    /// Like [`poll_transmit`](Self::poll_transmit), but takes whole frames up to `max`
    /// bytes (at least one frame, however long) and leaves the rest queued. The driver
    /// must take again once it has written these, until it gets zero: what stays queued
    /// is not signalled again by itself (an [`Event::Transmit`] comes only when more is
    /// queued).
    /// A driver that takes in bounded batches keeps one batch in its own buffer instead
    /// of a copy of the whole queue: with 100 000 calls in flight, 15 MB per connection.
    pub fn poll_transmit_up_to(&mut self, conn: ConnId, buf: &mut BytesMut, max: usize) -> usize {
        self.conns
            .get_mut(conn)
            .map_or(0, |c| c.take_transmit(buf, max))
    }

    /// Whether bytes the driver took from `conn` hold a request whose caller waits for
    /// it to be written ([`CallSpec::report_written`]): the driver then reports each
    /// write of them with [`handle_written`](Self::handle_written). A driver may report
    /// every write; one that reports none never completes such calls.
    pub fn awaits_write(&self, conn: ConnId) -> bool {
        self.conns.get(conn).is_some_and(|c| c.awaits_write())
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.out.timers.next()
    }

    // ----- queries -----------------------------------------------------------------

    /// What the engine knows of `node`: connection, latency, last error, counters.
    pub fn node_info(&self, node: NodeId) -> Option<NodeInfo> {
        let mut info = self.stats.get(node)?.clone();
        info.connected = self.conns.is_connected(node, &self.stats);
        Some(info)
    }

    /// The peers a call can reach now, and this process itself (if it has an id), in id
    /// order: nodes we dial whose connection is up, and peers we do not dial that
    /// connected to us (calls to a node we dial go on our own connection only, so that
    /// one sender's requests never switch connections and overtake each other).
    pub fn connected_peers(&self) -> Vec<NodeId> {
        self.conns.connected_peers()
    }

    /// Anonymous clients connected now, by the ids given to them, in id order.
    pub fn clients(&self) -> Vec<NodeId> {
        self.conns.clients()
    }

    /// The peer on `conn`, its hello metadata and address, once its hello arrived.
    pub fn peer_of(&self, conn: ConnId) -> Option<(NodeId, &[MetadataEntry], &str)> {
        let c = self.conns.get(conn)?;
        (c.phase == super::conn::Phase::Open).then_some((
            c.peer,
            c.peer_metadata.as_slice(),
            c.addr.as_str(),
        ))
    }

    /// The bytes of memory held for accepted connections whose peer's hello has not
    /// been accepted yet (their decoders' buffers). It never passes
    /// [`EndpointConfig::handshake_memory_bound`].
    pub fn handshake_bytes(&self) -> usize {
        self.conns.handshake_bytes()
    }

    /// The number of accepted connections whose peer's hello has not been accepted yet
    /// (at most [`EndpointConfig::max_handshaking`]).
    pub fn handshaking(&self) -> usize {
        self.conns.handshaking()
    }

    /// Bytes queued on all connections and not yet taken by the driver.
    pub fn queued_bytes(&self) -> usize {
        self.conns.queued_bytes()
    }

    /// The number of calls the engine still holds state for (two-way calls, and one-way
    /// calls waiting to be written).
    pub fn live_calls(&self) -> usize {
        self.calls.len()
    }

    /// The number of connections the engine holds (the self connection included).
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    // ----- client commands ---------------------------------------------------------

    /// Starts a call: enqueues its request for every node now, in node order, so that
    /// calls started one after another reach each node in that order.
    ///
    /// Nodes that cannot be sent to (not connected, waiting to reconnect, send queue
    /// full) fail at once and are listed in [`StartedCall::send_failures`]; the others
    /// report through [`Event::Call`]. A two-way call ends with
    /// [`CallEvent::Finished`](super::CallEvent::Finished); a one-way call keeps no
    /// state once enqueued, unless it asked to hear when it is written
    /// ([`CallSpec::report_written`]: one [`CallEvent::Written`](super::CallEvent::Written)
    /// per node, then `Finished`).
    pub fn start_call(&mut self, now: Instant, spec: CallSpec) -> Result<StartedCall, UsageError> {
        self.advance(now);
        spec.validate()?;
        let id = self.calls.next_id();
        let kind = spec.kind.request_kind();
        let mut failures = Vec::new();
        let mut call = Call::new(spec.kind, self.now, spec.deadline);
        let mut written_now = Vec::new();
        // A request the same for every node is encoded once and its frame shared by the
        // nodes' send queues, so a call to n nodes holds its request once, not n times.
        // The frame gets an allocation of its own, not a piece of one connection's
        // chunk: a stalled connection must not keep another's chunks alive.
        let share_frame = matches!(spec.payload, Payload::Shared(_)) && spec.nodes.len() > 1;
        let mut shared: Option<(u64, Bytes)> = None;
        for (i, &node) in spec.nodes.iter().enumerate() {
            let payload = match &spec.payload {
                Payload::Shared(p) => Some(p.clone()),
                Payload::PerNode(list) => list.get(i).cloned().flatten(),
            };
            let Some(payload) = payload else {
                continue;
            };
            let sent = self.conns.route(node, &self.stats).and_then(|conn| {
                let wire_id = self.conns.get(conn).map_or(id.0, |c| c.wire_id(id));
                let envelope = EnvelopeRef {
                    id: wire_id,
                    method: &spec.method,
                    status: None,
                    metadata: &spec.metadata,
                    payload: &payload,
                    kind,
                };
                if !share_frame || Some(conn) == self.conns.local() {
                    return self.enqueue(conn, &envelope).map(|frame| (conn, frame));
                }
                let frame = match &shared {
                    // The id differs only between connections we dialled and accepted.
                    Some((id, frame)) if *id == wire_id => frame.clone(),
                    _ => {
                        let frame = encode_alone(&envelope, self.config.max_frame_len)?;
                        shared = Some((wire_id, frame.clone()));
                        frame
                    }
                };
                self.conns
                    .enqueue_frame(&self.config, conn, frame, &mut self.out)
                    .map(|frame| (conn, Some(frame)))
            });
            match sent {
                Ok((conn, frame)) => {
                    self.stats.sent(node);
                    call.wait_for(node, conn, frame);
                    if spec.report_written && !spec.kind.is_two_way() {
                        match (frame, self.conns.get_mut(conn)) {
                            (Some(seq), Some(c)) => c.watch_written(seq, (id, node)),
                            // To ourselves: handed over, nothing to write.
                            _ => written_now.push(node),
                        }
                    }
                }
                Err(failure) => {
                    self.stats.failed(node, &failure);
                    failures.push(NodeError { node, failure });
                }
            }
        }
        if spec.is_tracked() {
            call.record_failures(&failures);
            let over = self.calls.insert(id, call, &mut self.out);
            for node in written_now {
                self.settle(id, node, ShareOutcome::Written);
            }
            if over {
                self.calls.finish(id, Ok(()), &mut self.out);
            } else if spec.deadline.is_some_and(|d| d <= self.now) {
                // A deadline already due fails the call now, not when the driver's timer
                // next runs (a reply could otherwise beat it).
                self.calls
                    .finish(id, Err(Cause::DeadlineExceeded), &mut self.out);
            }
        }
        self.flush_local();
        Ok(StartedCall {
            id,
            send_failures: failures,
        })
    }

    /// Cancels a call: requests not yet taken by the driver are taken back, the call's
    /// state is freed, and replies still to come are dropped. No event follows.
    /// Connections are untouched. Costs what the call owns: O(its shares).
    pub fn cancel(&mut self, now: Instant, call: super::CallId) {
        self.advance(now);
        // Messages to ourselves are handed over before every command returns, so none
        // of this call's can still be waiting here.
        debug_assert!(self.local_inbox.is_empty());
        let Some(state) = self.calls.forget(call, &mut self.out) else {
            return;
        };
        for (conn, frame) in state.queued_frames() {
            if let Some(c) = self.conns.get_mut(conn) {
                c.take_back(frame);
            }
        }
    }

    /// Ends a call the caller no longer needs (its quorum was met): its state is freed
    /// and later replies are dropped, but requests already queued are still sent.
    pub fn finish(&mut self, now: Instant, call: super::CallId) {
        self.advance(now);
        self.calls.forget(call, &mut self.out);
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
        let method = self.echo_method(request);
        let kind = self.answer(request)?;
        let outcome = match kind {
            RequestKind::OneWay => Ok(()),
            RequestKind::Unary | RequestKind::Stream => {
                self.send_reply(request, Kind::Reply, result, &method)
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
            .get(request.conn)
            .ok_or(UsageError::ConnectionClosed)?;
        c.server
            .check_stream(request.msg)
            .map_err(|e| e.usage(request))?;
        let method = self.echo_method(request);
        let outcome = self.send_reply(request, Kind::StreamItem, Ok(payload), &method);
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
        if let Some(c) = self.conns.get(request.conn)
            && c.server
                .kind_of(request.msg)
                .is_some_and(|k| k != RequestKind::Stream)
        {
            return Err(UsageError::NotAStream(request));
        }
        let method = self.echo_method(request);
        self.answer(request)?;
        let outcome = self.send_reply(
            request,
            Kind::StreamEnd,
            result.map(|()| Bytes::new()),
            &method,
        );
        self.next_turn(request.conn);
        self.flush_local();
        outcome
    }

    /// Lets the sender's next request start before this one is answered. The request
    /// stays open: answer it later as usual.
    pub fn release(&mut self, now: Instant, request: RequestId) {
        self.advance(now);
        if let Some(c) = self.conns.get_mut(request.conn)
            && let Some(next) = c.server.release(request.msg)
        {
            self.out.push(Event::Request(next));
        }
        self.flush_local();
    }

    // ----- internals ---------------------------------------------------------------

    fn advance(&mut self, now: Instant) {
        debug_assert!(
            now >= self.now,
            "time went backwards: {now:?} < {:?}",
            self.now
        );
        self.now = self.now.max(now);
    }

    /// Closes `conn` on the engine's own initiative: the driver is told to drop it.
    fn close(&mut self, conn: ConnId, reason: ConnectionError) {
        if self.conns.contains(conn) {
            tracing::debug!(%conn, %reason, "closing connection");
            self.drop_conn(conn, reason.clone());
            self.out.push(Event::Close { conn, reason });
        }
    }

    /// Forgets `conn`: the shares waiting on it fail, then the connection table lets it
    /// go (and redials, for a node we dial).
    fn drop_conn(&mut self, conn: ConnId, error: ConnectionError) {
        let Some(taken) = self.conns.take(conn, error) else {
            return;
        };
        for (call, node) in self.calls.waiting_on(taken.id) {
            self.settle(call, node, ShareOutcome::Failed(taken.failure.clone()));
        }
        self.calls.forget_conn(taken.id);
        self.conns.forget(
            &self.config,
            self.now,
            taken,
            &mut self.stats,
            &mut self.out,
        );
    }

    /// Settles one share, and finishes its call if no share is left open.
    fn settle(&mut self, call: super::CallId, node: NodeId, outcome: ShareOutcome) {
        let over = self.calls.settle_share(
            self.now,
            call,
            node,
            outcome,
            &mut self.stats,
            &mut self.out,
        );
        if over {
            self.calls.finish(call, Ok(()), &mut self.out);
        }
    }

    fn on_hello(&mut self, conn: ConnId, body: Bytes) {
        let outcome = self
            .conns
            .on_hello(&self.config, conn, body, &mut self.stats, &mut self.out);
        match outcome {
            Err(error) | Ok(Some(HelloOutcome::Refused(error))) => {
                if matches!(
                    error,
                    ConnectionError::SpoofedId { .. } | ConnectionError::Unauthenticated(_)
                ) {
                    let addr = self
                        .conns
                        .get(conn)
                        .map(|c| c.addr.clone())
                        .unwrap_or_default();
                    tracing::warn!(%conn, %addr, %error, "hello refused");
                }
                self.close(conn, error)
            }
            Ok(Some(HelloOutcome::Accepted { info, replaces })) => {
                if let Some(old) = replaces {
                    let node = info.node;
                    self.close(old, ConnectionError::Closed(format!("{node} reconnected")));
                }
                self.out.push(Event::PeerConnected(info));
            }
            Ok(Some(HelloOutcome::Served) | None) => {}
        }
    }

    fn on_message(&mut self, conn: ConnId, msg: proto::Message) {
        match Kind::try_from(msg.kind) {
            Ok(Kind::Request) => self.on_request(conn, msg, RequestKind::Unary, false),
            Ok(Kind::StreamRequest) => self.on_request(conn, msg, RequestKind::Stream, false),
            Ok(Kind::OneWay) => self.on_request(conn, msg, RequestKind::OneWay, false),
            Ok(kind @ (Kind::Reply | Kind::StreamItem | Kind::StreamEnd)) => {
                self.on_reply(conn, msg, kind)
            }
            Ok(Kind::Untyped) => self.on_untyped(conn, msg),
            Err(_) => self.close(
                conn,
                ConnectionError::Violation(format!("unknown message kind {}", msg.kind)),
            ),
        }
    }

    /// A message that does not say what it is: a reply if its id carries our side's
    /// mark (of the kind the call expects: an item of a correctable call, else the one
    /// reply), else a request of the kind its method was registered with.
    fn on_untyped(&mut self, conn: ConnId, msg: proto::Message) {
        let Some(c) = self.conns.get(conn) else {
            return;
        };
        if c.call_of_reply(msg.message_seq_no).is_some() {
            return self.on_reply(conn, msg, Kind::Untyped);
        }
        let kind = self
            .method_kinds
            .get(msg.method.as_ref())
            .copied()
            .unwrap_or(RequestKind::Unary);
        self.on_request(conn, msg, kind, true)
    }

    fn on_reply(&mut self, conn: ConnId, msg: proto::Message, kind: Kind) {
        let Some(c) = self.conns.get(conn) else {
            return;
        };
        let node = c.peer;
        let routed = c
            .call_of_reply(msg.message_seq_no)
            .and_then(|call| Some((call, self.calls.expects(call, node, conn)?)));
        let Some((call, streaming)) = routed else {
            self.stats.dropped(node);
            return;
        };
        let kind = match kind {
            Kind::Untyped if streaming => Kind::StreamItem,
            Kind::Untyped => Kind::Reply,
            kind => kind,
        };
        match ShareOutcome::of_reply(streaming, kind, msg) {
            Some(outcomes) => {
                for outcome in outcomes {
                    self.settle(call, node, outcome);
                }
            }
            None => self.stats.dropped(node),
        }
    }

    fn on_request(&mut self, conn: ConnId, msg: proto::Message, kind: RequestKind, echo: bool) {
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        match c.server.receive(
            RequestId {
                conn,
                msg: MsgId(msg.message_seq_no),
            },
            c.peer,
            kind,
            msg,
            echo,
        ) {
            Ok(Some(next)) => self.out.push(Event::Request(next)),
            Ok(None) => {}
            Err(violation) => self.close(conn, violation),
        }
    }

    /// Queues `envelope` on `conn` (or hands it to ourselves on the local connection);
    /// returns where it sits in the send queue.
    fn enqueue(
        &mut self,
        conn: ConnId,
        envelope: &EnvelopeRef<'_>,
    ) -> Result<Option<FrameSeq>, NodeFailure> {
        if Some(conn) == self.conns.local() {
            self.local_inbox.push_back(envelope.to_message());
            return Ok(None);
        }
        self.conns
            .enqueue(&self.config, conn, envelope, &mut self.out)
            .map(Some)
    }

    /// Hands the local connection's messages to ourselves, after the command that
    /// produced them has finished with its state.
    fn flush_local(&mut self) {
        while let Some(msg) = self.local_inbox.pop_front() {
            if let Some(local) = self.conns.local() {
                self.on_message(local, msg);
            }
        }
    }

    /// The method name a reply to `request` carries: empty, unless the request came
    /// untyped (Go Gorums decodes a reply by its method name).
    fn echo_method(&self, request: RequestId) -> String {
        self.conns
            .get(request.conn)
            .map(|c| c.server.echo_method(request.msg).to_owned())
            .unwrap_or_default()
    }

    fn answer(&mut self, request: RequestId) -> Result<RequestKind, UsageError> {
        let c = self
            .conns
            .get_mut(request.conn)
            .ok_or(UsageError::ConnectionClosed)?;
        c.server.answer(request.msg).map_err(|e| e.usage(request))
    }

    fn send_reply(
        &mut self,
        request: RequestId,
        kind: Kind,
        result: Result<Bytes, Status>,
        method: &str,
    ) -> Result<(), UsageError> {
        let envelope = EnvelopeRef {
            id: request.msg.0,
            method,
            status: result
                .as_ref()
                .err()
                .map(|s| (s.code.as_i32(), s.message.as_str())),
            metadata: &[],
            payload: result.as_ref().map_or(&[][..], |p| &p[..]),
            kind,
        };
        match self.enqueue(request.conn, &envelope) {
            Ok(_) => Ok(()),
            Err(NodeFailure::SendQueueFull) => {
                // A reply that cannot be queued (the requester is not reading) ends that
                // connection: the requester would otherwise wait for it forever.
                self.close(request.conn, ConnectionError::RequesterNotReading);
                Err(UsageError::ConnectionClosed)
            }
            Err(NodeFailure::Encode(too_large)) if kind == Kind::Reply && result.is_ok() => {
                // A reply over the frame limit fails that one call, as gRPC does; the
                // connection and the sender's other calls go on.
                tracing::debug!(%too_large, "reply over the frame limit");
                let status = Status::new(
                    super::Code::ResourceExhausted,
                    format!("reply not sent: {too_large}"),
                );
                self.send_reply(request, kind, Err(status), method)
            }
            Err(failure) => {
                tracing::debug!(%failure, "reply not sent");
                self.close(
                    request.conn,
                    ConnectionError::Closed(format!("reply not sent: {failure}")),
                );
                Err(UsageError::ConnectionClosed)
            }
        }
    }

    /// Hands out the next waiting request of `conn` if no request holds its turn.
    fn next_turn(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(conn)
            && let Some(next) = c.server.next_turn()
        {
            self.out.push(Event::Request(next));
        }
    }
}

/// `envelope` as one frame in an allocation of exactly its size.
fn encode_alone(envelope: &EnvelopeRef<'_>, max_frame_len: usize) -> Result<Bytes, NodeFailure> {
    let mut frame = BytesMut::with_capacity(envelope.frame_len());
    envelope
        .encode_frame(max_frame_len, &mut frame)
        .map_err(NodeFailure::Encode)?;
    Ok(frame.freeze())
}
