//! The connection commands and queries an application uses on an [`Endpoint`]:
//! removing a node, closing a connection, what a close in the middle of a frame is
//! reported as, the registry of node addresses, and how a reply that does not say its
//! kind (Go Gorums' wire) is read, told with one client and one server whose bytes this
//! test carries by hand.

#![allow(clippy::unwrap_used)]

use std::io;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use gorums_core::engine::{
    CallEvent, CallKind, CallSpec, ConnId, ConnectionError, Endpoint, EndpointConfig, Event,
    Instant, NodeFailure, NodeId, Payload, StartedCall, UsageError,
};
use gorums_core::wire::{self, WireError, proto};

const SERVER: NodeId = NodeId(1);

/// A client connected to server 1, with the bytes carried between them by `pump`.
struct Pair {
    now: Instant,
    client: Endpoint,
    server: Endpoint,
    client_conn: ConnId,
    server_conn: ConnId,
    /// Every client event `pump` did not consume itself.
    client_events: Vec<Event>,
    /// Every server event `pump` did not consume itself.
    server_events: Vec<Event>,
}

impl Pair {
    fn new() -> Pair {
        let now = Instant::ZERO;
        let mut client = Endpoint::new(EndpointConfig::default(), now);
        let server_config = EndpointConfig {
            node_id: SERVER,
            ..EndpointConfig::default()
        };
        let mut server = Endpoint::new(server_config, now);
        client.add_node(now, SERVER, "s1").unwrap();
        let client_conn = std::iter::from_fn(|| client.poll_event())
            .find_map(|e| match e {
                Event::Connect { conn, .. } => Some(conn),
                _ => None,
            })
            .expect("a dial");
        let server_conn = server.handle_accepted(now, "client");
        client.handle_connected(now, client_conn);
        let mut pair = Pair {
            now,
            client,
            server,
            client_conn,
            server_conn,
            client_events: Vec::new(),
            server_events: Vec::new(),
        };
        pair.pump();
        assert!(pair.client.node_info(SERVER).unwrap().connected);
        pair
    }

    /// Carries bytes both ways until neither side has anything more to say.
    fn pump(&mut self) {
        loop {
            let mut progress = false;
            while let Some(e) = self.client.poll_event() {
                progress = true;
                match e {
                    Event::Transmit(conn) if conn == self.client_conn => {
                        let mut buf = BytesMut::new();
                        self.client.poll_transmit(conn, &mut buf);
                        self.server.handle_bytes(self.now, self.server_conn, &buf);
                    }
                    other => self.client_events.push(other),
                }
            }
            while let Some(e) = self.server.poll_event() {
                progress = true;
                match e {
                    Event::Transmit(conn) if conn == self.server_conn => {
                        let mut buf = BytesMut::new();
                        self.server.poll_transmit(conn, &mut buf);
                        self.client.handle_bytes(self.now, self.client_conn, &buf);
                    }
                    other => self.server_events.push(other),
                }
            }
            if !progress {
                break;
            }
        }
    }

    /// Starts an RPC to the server and delivers it (the server does not answer).
    fn pending_rpc(&mut self) -> StartedCall {
        let spec = CallSpec::new(
            CallKind::Rpc,
            "test.Svc.Method",
            vec![SERVER],
            Payload::Shared(Bytes::from_static(b"req")),
        );
        let started = self.client.start_call(self.now, spec).unwrap();
        assert!(started.send_failures.is_empty());
        self.pump();
        assert!(
            self.server_events
                .iter()
                .any(|e| matches!(e, Event::Request(_))),
            "the request arrived"
        );
        started
    }

    /// The reasons the client was told to drop its connections for.
    fn client_closes(&mut self) -> Vec<(ConnId, ConnectionError)> {
        self.pump();
        self.client_events
            .iter()
            .filter_map(|e| match e {
                Event::Close { conn, reason } => Some((*conn, reason.clone())),
                _ => None,
            })
            .collect()
    }

    /// What the client's call said about the server's share.
    fn share_result(&self, call: &StartedCall) -> Option<Result<Bytes, NodeFailure>> {
        self.client_events.iter().find_map(|e| match e {
            Event::Call {
                call: id,
                event: CallEvent::Reply { node, result },
            } if *id == call.id && *node == SERVER => Some(result.clone()),
            _ => None,
        })
    }

    /// Moves the clock on by `d`, firing the client's timers.
    fn advance(&mut self, d: Duration) {
        self.now = self.now + d;
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
        self.pump();
    }
}

#[test]
fn a_removed_node_is_closed_its_shares_fail_and_it_is_never_redialled() {
    let mut p = Pair::new();
    let conns_before = p.client.connection_count();
    let call = p.pending_rpc();
    p.client.remove_node(p.now, SERVER);
    let removed = ConnectionError::Closed("node 1 removed".into());
    assert_eq!(p.client_closes(), [(p.client_conn, removed.clone())]);
    assert_eq!(
        p.share_result(&call),
        Some(Err(NodeFailure::ConnectionLost(removed)))
    );
    assert_eq!(p.client.live_calls(), 0);
    assert_eq!(p.client.connection_count(), conns_before - 1);
    assert_eq!(p.client.node_addr(SERVER), None);
    assert!(p.client.node_addrs().is_empty());

    p.client_events.clear();
    p.advance(Duration::from_secs(60));
    assert!(
        !p.client_events
            .iter()
            .any(|e| matches!(e, Event::Connect { .. })),
        "{:?}",
        p.client_events
    );
    let spec = CallSpec::new(
        CallKind::Rpc,
        "test.Svc.Method",
        vec![SERVER],
        Payload::Shared(Bytes::from_static(b"req")),
    );
    let again = p.client.start_call(p.now, spec).unwrap();
    assert_eq!(
        again.send_failures.len(),
        1,
        "a removed node cannot be called"
    );
}

#[test]
fn closing_a_connection_fails_what_waits_on_it_with_the_applications_reason() {
    let mut p = Pair::new();
    let call = p.pending_rpc();
    p.client
        .close_connection(p.now, p.client_conn, "shutting down");
    let reason = ConnectionError::Closed("shutting down".into());
    assert_eq!(p.client_closes(), [(p.client_conn, reason.clone())]);
    assert_eq!(
        p.share_result(&call),
        Some(Err(NodeFailure::ConnectionLost(reason.clone())))
    );
    assert!(!p.client.node_info(SERVER).unwrap().connected);
    assert!(p.client_events.iter().any(|e| matches!(
        e,
        Event::NodeDown { node, error: NodeFailure::ConnectionLost(r) } if *node == SERVER && *r == reason
    )));
    // The node is still registered: it is dialled again.
    assert_eq!(p.client.node_addr(SERVER), Some("s1"));
    // Closing it again, or a connection that never was, tells the driver nothing.
    p.client.close_connection(p.now, p.client_conn, "again");
    p.client.close_connection(p.now, ConnId(999), "never was");
    assert_eq!(p.client_closes(), [(p.client_conn, reason.clone())]);
    // Until it is back, a call to it fails at once and says why it went down.
    let spec = CallSpec::new(
        CallKind::Rpc,
        "test.Svc.Method",
        vec![SERVER],
        Payload::Shared(Bytes::from_static(b"req")),
    );
    let started = p.client.start_call(p.now, spec).unwrap();
    assert_eq!(
        started
            .send_failures
            .iter()
            .map(|e| &e.failure)
            .collect::<Vec<_>>(),
        [&NodeFailure::NotConnected(Some(reason))]
    );
}

/// Each failed dial of a node doubles the wait before the next (with jitter: between
/// half and all of it), so a node that is down is not hammered.
#[test]
fn a_node_that_keeps_refusing_is_redialled_ever_later() {
    let config = EndpointConfig::default();
    let initial = config.initial_backoff;
    let mut ep = Endpoint::new(config, Instant::ZERO);
    ep.add_node(Instant::ZERO, SERVER, "s1").unwrap();
    let mut now = Instant::ZERO;
    let mut waits = Vec::new();
    for _ in 0..4 {
        let conn = std::iter::from_fn(|| ep.poll_event())
            .find_map(|e| match e {
                Event::Connect { conn, .. } => Some(conn),
                _ => None,
            })
            .expect("a dial");
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        ep.handle_connect_failed(now, conn, refused);
        let at = ep.poll_timeout().expect("a redial");
        waits.push(at.saturating_duration_since(now));
        now = at;
        ep.handle_timeout(now);
    }
    for (k, wait) in (0u32..).zip(&waits) {
        let full = initial * (1 << k);
        assert!(
            full / 2 <= *wait && *wait <= full,
            "dial {} waited {wait:?}, not within half of {full:?}: {waits:?}",
            k + 1
        );
    }
}

/// Which nodes are dialled: every one by default; under `HigherIds` only those above
/// our own id (the lower ones dial us), and every one by an anonymous client.
#[test]
fn under_higher_ids_a_node_dials_only_the_nodes_above_it_and_a_client_dials_all() {
    use gorums_core::engine::DialPolicy;
    let dialled = |me: u32, dial: DialPolicy| {
        let config = EndpointConfig {
            node_id: NodeId(me),
            dial,
            ..EndpointConfig::default()
        };
        let mut ep = Endpoint::new(config, Instant::ZERO);
        for node in [1, 2, 3] {
            if node != me {
                ep.add_node(Instant::ZERO, NodeId(node), format!("s{node}"))
                    .unwrap();
            }
        }
        std::iter::from_fn(|| ep.poll_event())
            .filter_map(|e| match e {
                Event::Connect { addr, .. } => Some(addr),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(dialled(2, DialPolicy::HigherIds), ["s3"]);
    assert_eq!(dialled(2, DialPolicy::Every), ["s1", "s3"]);
    assert_eq!(dialled(0, DialPolicy::HigherIds), ["s1", "s2", "s3"]);
}

/// A call's node list may come in any order, but may not name a node twice.
#[test]
fn a_call_to_a_node_named_twice_is_refused_in_any_order() {
    let mut p = Pair::new();
    let spec = |nodes: &[u32]| {
        CallSpec::new(
            CallKind::QuorumCall,
            "test.Svc.Method",
            nodes.iter().copied().map(NodeId).collect::<Vec<_>>(),
            Payload::Shared(Bytes::from_static(b"req")),
        )
    };
    for nodes in [&[1, 1][..], &[3, 2, 3]] {
        let refused = p.client.start_call(p.now, spec(nodes)).map(|c| c.id);
        assert!(
            matches!(refused, Err(UsageError::DuplicateNode(n)) if n == NodeId(nodes[0])),
            "{nodes:?}: {refused:?}"
        );
    }
    for nodes in [&[3, 1, 2][..], &[1, 2, 3]] {
        let started = p.client.start_call(p.now, spec(nodes));
        assert!(started.is_ok(), "{nodes:?}: {:?}", started.map(|c| c.id));
    }
}

#[test]
fn a_peer_that_closes_inside_a_frame_broke_the_protocol() {
    let mut p = Pair::new();
    let call = p.pending_rpc();
    // A frame header announcing 9 bytes, then 2 of them, then the end of the stream.
    p.client
        .handle_bytes(p.now, p.client_conn, &[0, 0, 0, 9, 1, 2]);
    p.client
        .handle_closed(p.now, p.client_conn, ConnectionError::ClosedByPeer);
    p.pump();
    match p.share_result(&call) {
        Some(Err(NodeFailure::ConnectionLost(ConnectionError::Wire(WireError::Truncated {
            ..
        })))) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_transport_error_inside_a_frame_stays_a_transport_error_and_a_clean_close_a_close() {
    let mut p = Pair::new();
    let call = p.pending_rpc();
    p.client
        .handle_bytes(p.now, p.client_conn, &[0, 0, 0, 9, 1, 2]);
    let reset = ConnectionError::io("read", io::Error::from(io::ErrorKind::ConnectionReset));
    p.client.handle_closed(p.now, p.client_conn, reset.clone());
    p.pump();
    assert_eq!(
        p.share_result(&call),
        Some(Err(NodeFailure::ConnectionLost(reset)))
    );

    let mut p = Pair::new();
    let call = p.pending_rpc();
    p.client
        .handle_closed(p.now, p.client_conn, ConnectionError::ClosedByPeer);
    p.pump();
    assert_eq!(
        p.share_result(&call),
        Some(Err(NodeFailure::ConnectionLost(
            ConnectionError::ClosedByPeer
        )))
    );
}

#[test]
fn the_registry_knows_every_node_and_this_process_by_address_in_id_order() {
    let config = EndpointConfig {
        node_id: NodeId(3),
        ..EndpointConfig::default()
    };
    let mut ep = Endpoint::new(config, Instant::ZERO);
    assert_eq!(ep.node_id(), NodeId(3));
    assert_eq!(ep.config().node_id, NodeId(3));
    ep.add_node(Instant::ZERO, NodeId(2), "b").unwrap();
    ep.add_node(Instant::ZERO, NodeId(3), "me").unwrap();
    ep.add_node(Instant::ZERO, NodeId(1), "a").unwrap();
    assert_eq!(
        ep.node_addrs(),
        [(NodeId(1), "a"), (NodeId(2), "b"), (NodeId(3), "me")]
    );
    assert_eq!(ep.node_addr(NodeId(2)), Some("b"));
    assert_eq!(ep.node_addr(NodeId(4)), None);
    assert!(ep.add_node(Instant::ZERO, NodeId(2), "b2").is_err());
    assert_eq!(
        ep.node_addr(NodeId(2)),
        Some("b"),
        "a second add changes nothing"
    );
}

#[test]
fn a_server_knows_who_is_on_a_connection_once_its_hello_arrived() {
    let now = Instant::ZERO;
    let mut server = Endpoint::new(
        EndpointConfig {
            node_id: SERVER,
            ..EndpointConfig::default()
        },
        now,
    );
    let conn = server.handle_accepted(now, "peer-addr");
    assert_eq!(server.peer_of(conn), None, "no hello yet");
    assert_eq!(server.handshaking(), 1);
    let p = Pair::new();
    let (node, metadata, addr) = p.server.peer_of(p.server_conn).expect("hello done");
    assert!(node.is_anonymous() || node != SERVER);
    assert!(metadata.is_empty());
    assert_eq!(addr, "client");
    assert_eq!(p.server.handshaking(), 0);
    assert_eq!(p.server.handshake_bytes(), 0);
}

/// A reply that does not say its kind (Go Gorums' gRPC stream) is read as the kind the
/// call waits for: an item of a correctable call, whose stream stays open for more, and
/// the one reply of any other call.
#[test]
fn an_untyped_reply_is_an_item_of_a_correctable_call_and_the_reply_of_any_other() {
    let mut pair = Pair::new();
    let rpc = pair.pending_rpc();
    let spec = CallSpec::new(
        CallKind::Correctable,
        "test.Svc.Watch",
        vec![SERVER],
        Payload::Shared(Bytes::from_static(b"req")),
    );
    let watch = pair.client.start_call(pair.now, spec).unwrap();
    assert!(watch.send_failures.is_empty());
    pair.pump();
    // On a connection the client dialled, a request's id is its call's id.
    for (call, payload) in [
        (watch.id, "item 1"),
        (watch.id, "item 2"),
        (rpc.id, "reply"),
    ] {
        let reply = proto::Message {
            message_seq_no: call.0,
            payload: Bytes::from(payload),
            kind: proto::Kind::Untyped as i32,
            ..proto::Message::default()
        };
        let mut bytes = BytesMut::new();
        wire::encode_frame(&reply, wire::DEFAULT_MAX_FRAME_LEN, &mut bytes).unwrap();
        pair.client.handle_bytes(pair.now, pair.client_conn, &bytes);
    }
    pair.pump();
    assert!(
        matches!(pair.share_result(&rpc), Some(Ok(ref p)) if p == "reply"),
        "{:?}",
        pair.client_events
    );
    let watched: Vec<String> = pair
        .client_events
        .iter()
        .filter_map(|e| match e {
            Event::Call { call, event } if *call == watch.id => Some(match event {
                CallEvent::Item { payload, .. } => String::from_utf8_lossy(payload).into_owned(),
                other => format!("{other:?}"),
            }),
            _ => None,
        })
        .collect();
    assert_eq!(
        watched,
        ["item 1", "item 2"],
        "items, and the stream not ended"
    );
    assert_eq!(pair.client.live_calls(), 1, "the correctable call waits on");
}
