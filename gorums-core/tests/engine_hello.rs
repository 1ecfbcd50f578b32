//! The checks a server makes on a peer's hello, and the reason it closes the connection
//! with when one fails: what an operator reads in the log of a refused peer. Then what a
//! server does for a peer that speaks as Go Gorums does (requests that do not say their
//! kind, replies that must name their method) and with a reply over its frame limit.

#![allow(clippy::unwrap_used)]

use bytes::{Bytes, BytesMut};
use gorums_core::engine::{
    Authenticated, Code, ConnId, ConnectionError, Endpoint, EndpointConfig, Event, Instant, NodeId,
    Request, RequestKind, UsageError,
};
use gorums_core::wire::{self, FrameDecoder, proto};

const ME: NodeId = NodeId(1);

fn server() -> Endpoint {
    Endpoint::new(
        EndpointConfig {
            node_id: ME,
            ..EndpointConfig::default()
        },
        Instant::ZERO,
    )
}

fn hello(node_id: u32) -> proto::Hello {
    proto::Hello {
        protocol_version: u32::from(wire::PROTOCOL_VERSION),
        node_id,
        serves: true,
        ..proto::Hello::default()
    }
}

/// Accepts a connection on `ep` (proved `proved` by its transport, if given), feeds it
/// the preface and `hello`, and returns it with the events that followed.
fn say_hello(
    ep: &mut Endpoint,
    proved: Option<Authenticated>,
    hello: &proto::Hello,
) -> (ConnId, Vec<Event>) {
    let conn = ep.handle_accepted(Instant::ZERO, "peer");
    if let Some(proved) = proved {
        ep.handle_authenticated(Instant::ZERO, conn, proved);
    }
    let mut bytes = BytesMut::new();
    wire::encode_preface(&mut bytes);
    wire::encode_frame(hello, wire::DEFAULT_MAX_FRAME_LEN, &mut bytes).unwrap();
    ep.handle_bytes(Instant::ZERO, conn, &bytes);
    (conn, std::iter::from_fn(|| ep.poll_event()).collect())
}

fn closes(events: &[Event]) -> Vec<(ConnId, ConnectionError)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Close { conn, reason } => Some((*conn, reason.clone())),
            _ => None,
        })
        .collect()
}

fn connected(events: &[Event]) -> Vec<NodeId> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::PeerConnected(info) => Some(info.node),
            _ => None,
        })
        .collect()
}

/// `hello` is refused on its connection, with `reason` read as `text`.
fn refused(proved: Option<Authenticated>, hello: &proto::Hello, text: &str) {
    let mut ep = server();
    let (conn, events) = say_hello(&mut ep, proved, hello);
    let closed = closes(&events);
    assert_eq!(closed.len(), 1, "{events:?}");
    assert_eq!(closed[0].0, conn);
    assert_eq!(closed[0].1.to_string(), text);
    assert!(connected(&events).is_empty());
    assert_eq!(ep.peer_of(conn), None);
    assert_eq!(ep.handshaking(), 0, "nothing is held for it");
}

#[test]
fn a_hello_of_another_protocol_version_is_refused() {
    let mut other = hello(2);
    other.protocol_version = 2;
    refused(
        None,
        &other,
        "protocol violation: hello speaks protocol version 2",
    );
}

#[test]
fn a_peer_claiming_the_servers_own_id_is_refused() {
    refused(
        None,
        &hello(ME.0),
        "protocol violation: peer claims our own id 1",
    );
}

#[test]
fn a_peer_whose_certificate_is_another_nodes_is_refused_as_spoofed() {
    refused(
        Some(Authenticated::Node(NodeId(2))),
        &hello(3),
        "refused: hello claims node 3, its certificate is node 2's",
    );
}

#[test]
fn a_peer_with_no_node_certificate_may_not_claim_an_id() {
    refused(
        Some(Authenticated::Anonymous),
        &hello(2),
        "unauthenticated: a peer whose certificate names no node claims node 2",
    );
}

#[test]
fn a_peer_proving_the_id_it_claims_is_admitted_and_anonymous_peers_get_ids() {
    let mut ep = server();
    let (conn, events) = say_hello(&mut ep, Some(Authenticated::Node(NodeId(2))), &hello(2));
    assert!(closes(&events).is_empty(), "{events:?}");
    assert_eq!(connected(&events), [NodeId(2)]);
    assert_eq!(ep.peer_of(conn).map(|(node, ..)| node), Some(NodeId(2)));

    let (_, events) = say_hello(&mut ep, Some(Authenticated::Anonymous), &hello(0));
    assert!(closes(&events).is_empty(), "{events:?}");
    let given = connected(&events);
    assert_eq!(given.len(), 1);
    assert!(!given[0].is_anonymous() && given[0] != ME && given[0] != NodeId(2));
    assert_eq!(ep.clients(), given);
}

#[test]
fn a_peer_that_reconnects_replaces_its_older_connection() {
    let mut ep = server();
    let (old, events) = say_hello(&mut ep, None, &hello(2));
    assert_eq!(connected(&events), [NodeId(2)]);
    let (new, events) = say_hello(&mut ep, None, &hello(2));
    assert_eq!(
        closes(&events),
        [(old, ConnectionError::Closed("node 2 reconnected".into()))]
    );
    assert_eq!(connected(&events), [NodeId(2)]);
    assert!(ep.peer_of(new).is_some());
    assert_eq!(ep.peer_of(old), None);
}

/// The hello a client sends on its first connection to node 1, decoded.
fn client_hello(serving: Option<bool>) -> proto::Hello {
    let mut client = Endpoint::new(EndpointConfig::default(), Instant::ZERO);
    if let Some(serves) = serving {
        client.set_serving(serves);
    }
    client.add_node(Instant::ZERO, ME, "s1").unwrap();
    let conn = std::iter::from_fn(|| client.poll_event())
        .find_map(|e| match e {
            Event::Connect { conn, .. } => Some(conn),
            _ => None,
        })
        .expect("a dial");
    client.handle_connected(Instant::ZERO, conn);
    let mut bytes = BytesMut::new();
    client.poll_transmit(conn, &mut bytes);
    let mut decoder = wire::FrameDecoder::new(wire::DEFAULT_MAX_FRAME_LEN);
    decoder.push(&bytes);
    wire::decode_hello(decoder.next_frame().unwrap().expect("a hello")).unwrap()
}

#[test]
fn a_client_says_in_its_hello_whether_it_serves_and_a_server_keeps_non_serving_clients_out_of_its_clients()
 {
    assert!(client_hello(None).serves, "serving unless told otherwise");
    assert!(client_hello(Some(true)).serves);
    let quiet = client_hello(Some(false));
    assert!(!quiet.serves);

    let mut ep = server();
    let (conn, events) = say_hello(&mut ep, None, &quiet);
    assert!(closes(&events).is_empty(), "served: {events:?}");
    assert!(ep.clients().is_empty(), "it cannot be called back");
    assert!(ep.peer_of(conn).is_some());
}

/// A request from a wire that does not say its kind (Go Gorums' gRPC stream) is served as
/// the kind its method was registered with, and as unary otherwise.
#[test]
fn an_untyped_request_is_served_as_its_methods_kind() {
    let mut ep = server();
    ep.set_method_kind("test.Svc.Watch", RequestKind::Stream);
    let (conn, _) = say_hello(&mut ep, None, &hello(0));
    let mut kinds = Vec::new();
    for (id, method) in [(1, "test.Svc.Watch"), (2, "test.Svc.Read")] {
        let msg = proto::Message {
            message_seq_no: id,
            method: method.to_owned().into(),
            kind: proto::Kind::Untyped as i32,
            ..proto::Message::default()
        };
        let mut bytes = BytesMut::new();
        wire::encode_frame(&msg, wire::DEFAULT_MAX_FRAME_LEN, &mut bytes).unwrap();
        ep.handle_bytes(Instant::ZERO, conn, &bytes);
        let events: Vec<Event> = std::iter::from_fn(|| ep.poll_event()).collect();
        for e in events {
            if let Event::Request(r) = e {
                kinds.push((r.method.to_string(), r.kind));
                ep.release(Instant::ZERO, r.id);
            }
        }
    }
    assert_eq!(
        kinds,
        [
            ("test.Svc.Watch".to_owned(), RequestKind::Stream),
            ("test.Svc.Read".to_owned(), RequestKind::Unary)
        ]
    );
}

#[test]
fn with_known_peers_declared_a_peer_claiming_another_id_is_served_but_in_no_configuration() {
    let mut ep = Endpoint::new(
        EndpointConfig {
            node_id: ME,
            known_peers: Some([NodeId(2)].into()),
            ..EndpointConfig::default()
        },
        Instant::ZERO,
    );
    let (stranger, events) = say_hello(&mut ep, None, &hello(5));
    assert!(closes(&events).is_empty(), "served: {events:?}");
    assert!(
        connected(&events).is_empty(),
        "no connect callback: {events:?}"
    );
    assert_eq!(ep.peer_of(stranger).map(|(node, ..)| node), Some(NodeId(5)));

    let (_, events) = say_hello(&mut ep, None, &hello(2));
    assert_eq!(connected(&events), [NodeId(2)], "a declared peer is one");
    let (_, events) = say_hello(&mut ep, None, &hello(0));
    let given = connected(&events);
    assert_eq!(
        given.len(),
        1,
        "an anonymous client still gets an id: {events:?}"
    );
    assert_eq!(ep.clients(), given);
    let peers = ep.connected_peers();
    assert!(
        peers.contains(&NodeId(2)) && !peers.contains(&NodeId(5)),
        "{peers:?}"
    );
}

/// A server with one peer past its hello, whose bytes the test writes and reads by hand.
struct Peer {
    ep: Endpoint,
    conn: ConnId,
    /// The server's bytes to the peer, past the preface and the server's hello.
    from_server: FrameDecoder,
}

impl Peer {
    fn new(config: EndpointConfig) -> Peer {
        let mut ep = Endpoint::new(config, Instant::ZERO);
        let (conn, events) = say_hello(&mut ep, None, &hello(0));
        assert!(closes(&events).is_empty(), "{events:?}");
        let mut peer = Peer {
            ep,
            conn,
            from_server: FrameDecoder::new(wire::DEFAULT_MAX_FRAME_LEN),
        };
        peer.take_bytes();
        let hello = peer.from_server.next_frame().unwrap().expect("a hello");
        wire::decode_hello(hello).unwrap();
        peer
    }

    fn take_bytes(&mut self) {
        let mut bytes = BytesMut::new();
        self.ep.poll_transmit(self.conn, &mut bytes);
        self.from_server.push(&bytes);
    }

    /// Sends a request of `kind` with id `id`; returns the server's events.
    fn send(&mut self, id: u64, method: &str, kind: proto::Kind) -> Vec<Event> {
        let msg = proto::Message {
            message_seq_no: id,
            method: method.to_owned().into(),
            kind: kind as i32,
            ..proto::Message::default()
        };
        let mut bytes = BytesMut::new();
        wire::encode_frame(&msg, wire::DEFAULT_MAX_FRAME_LEN, &mut bytes).unwrap();
        self.ep.handle_bytes(Instant::ZERO, self.conn, &bytes);
        std::iter::from_fn(|| self.ep.poll_event()).collect()
    }

    /// Sends a request and returns it as the server hands it out.
    fn request(&mut self, id: u64, method: &str, kind: proto::Kind) -> Request {
        let events = self.send(id, method, kind);
        events
            .into_iter()
            .find_map(|e| match e {
                Event::Request(r) => Some(r),
                _ => None,
            })
            .expect("the request handed out")
    }

    /// The messages the server sent since last asked.
    fn read(&mut self) -> Vec<proto::Message> {
        self.take_bytes();
        std::iter::from_fn(|| self.from_server.next_frame().unwrap())
            .map(|frame| wire::decode_message(frame).unwrap())
            .collect()
    }
}

fn server_config() -> EndpointConfig {
    EndpointConfig {
        node_id: ME,
        ..EndpointConfig::default()
    }
}

/// Go Gorums decodes a reply by the method name it carries, so a reply to a request
/// that came untyped names the request's method; a typed peer reads the kind and is sent
/// no name.
#[test]
fn a_reply_to_an_untyped_request_names_its_method_and_one_to_a_typed_request_does_not() {
    let mut peer = Peer::new(server_config());
    peer.ep
        .set_method_kind("test.Svc.Watch", RequestKind::Stream);
    let now = Instant::ZERO;
    for (id, kind) in [(1, proto::Kind::Untyped), (3, proto::Kind::Request)] {
        let r = peer.request(id, "test.Svc.Read", kind);
        peer.ep
            .respond(now, r.id, Ok(Bytes::from_static(b"ok")))
            .unwrap();
    }
    let r = peer.request(5, "test.Svc.Watch", proto::Kind::Untyped);
    peer.ep
        .send_item(now, r.id, Bytes::from_static(b"1"))
        .unwrap();
    peer.ep.end_stream(now, r.id, Ok(())).unwrap();
    let named: Vec<(u64, String)> = peer
        .read()
        .iter()
        .map(|m| {
            (
                m.message_seq_no,
                String::from_utf8_lossy(&m.method).into_owned(),
            )
        })
        .collect();
    let name = |s: &str| s.to_owned();
    assert_eq!(
        named,
        [
            (1, name("test.Svc.Read")),
            (3, name("")),
            (5, name("test.Svc.Watch")),
            (5, name("test.Svc.Watch")),
        ]
    );
}

/// A reply too large for the frame limit fails that one call with `ResourceExhausted`,
/// as gRPC does, and the connection goes on; a stream item too large cannot be turned
/// into a status (the stream would look ended), so the connection closes.
#[test]
fn a_reply_over_the_frame_limit_becomes_resource_exhausted_and_an_item_over_it_closes() {
    let mut peer = Peer::new(EndpointConfig {
        max_frame_len: 256,
        ..server_config()
    });
    let now = Instant::ZERO;
    let big = Bytes::from(vec![7u8; 1000]);
    let r = peer.request(1, "test.Svc.Read", proto::Kind::Request);
    peer.ep.respond(now, r.id, Ok(big.clone())).unwrap();
    let events: Vec<Event> = std::iter::from_fn(|| peer.ep.poll_event()).collect();
    assert!(closes(&events).is_empty(), "{events:?}");
    let replies = peer.read();
    assert_eq!(replies.len(), 1, "{replies:?}");
    let status = replies[0].status.clone().expect("a status");
    assert_eq!(
        (replies[0].message_seq_no, replies[0].kind),
        (1, proto::Kind::Reply as i32)
    );
    assert_eq!(status.code, Code::ResourceExhausted.as_i32());
    assert!(status.message.starts_with("reply not sent: "), "{status:?}");
    assert!(replies[0].payload.is_empty());

    let r = peer.request(2, "test.Svc.Read", proto::Kind::Request);
    peer.ep
        .respond(now, r.id, Ok(Bytes::from_static(b"small")))
        .unwrap();
    let replies = peer.read();
    assert_eq!(replies.len(), 1, "the connection goes on: {replies:?}");
    assert_eq!(replies[0].payload, "small");

    let r = peer.request(3, "test.Svc.Watch", proto::Kind::StreamRequest);
    let sent = peer.ep.send_item(now, r.id, big);
    assert!(
        matches!(sent, Err(UsageError::ConnectionClosed)),
        "{sent:?}"
    );
    let events: Vec<Event> = std::iter::from_fn(|| peer.ep.poll_event()).collect();
    let closed = closes(&events);
    assert_eq!(closed.len(), 1, "{events:?}");
    assert_eq!(closed[0].0, peer.conn);
    assert!(
        closed[0].1.to_string().contains("reply not sent"),
        "{}",
        closed[0].1
    );
}

/// A peer that connects and never says hello is closed when the connect timeout runs
/// out; one whose hello arrived in time is kept when its timer fires.
#[test]
fn a_peer_silent_past_the_connect_timeout_is_closed_and_one_that_said_hello_is_kept() {
    let mut ep = server();
    let (greeted, _) = say_hello(&mut ep, None, &hello(2));
    let silent = ep.handle_accepted(Instant::ZERO, "silent");
    let timeout = ep.config().connect_timeout;
    ep.handle_timeout(Instant::ZERO + timeout / 2);
    let early: Vec<Event> = std::iter::from_fn(|| ep.poll_event()).collect();
    assert!(closes(&early).is_empty(), "{early:?}");
    ep.handle_timeout(Instant::ZERO + timeout);
    let events: Vec<Event> = std::iter::from_fn(|| ep.poll_event()).collect();
    assert_eq!(
        closes(&events),
        [(silent, ConnectionError::HandshakeTimeout)]
    );
    assert!(ep.peer_of(greeted).is_some());
    assert_eq!(ep.handshaking(), 0);
}

/// A node this server dials is called on its own connection only: the node's connection
/// to us does not make it reachable while our dial is not up.
#[test]
fn a_node_we_dial_is_not_reachable_over_its_connection_to_us() {
    let mut ep = server();
    ep.add_node(Instant::ZERO, NodeId(2), "s2").unwrap();
    let (_, events) = say_hello(&mut ep, None, &hello(2));
    assert!(closes(&events).is_empty(), "{events:?}");
    assert!(
        !ep.connected_peers().contains(&NodeId(2)),
        "{:?}",
        ep.connected_peers()
    );
    let (_, events) = say_hello(&mut ep, None, &hello(3));
    assert!(closes(&events).is_empty(), "{events:?}");
    assert!(
        ep.connected_peers().contains(&NodeId(3)),
        "one we do not dial is"
    );
}

/// An id given to an anonymous client is never one a registered node or a connected peer
/// already holds.
#[test]
fn a_client_is_never_given_an_id_a_node_or_a_peer_holds() {
    let first = NodeId::FIRST_CLIENT.0;
    let mut ep = server();
    ep.add_node(Instant::ZERO, NodeId(first), "n").unwrap();
    let (_, events) = say_hello(&mut ep, None, &hello(first + 1));
    assert!(closes(&events).is_empty(), "{events:?}");
    let (_, events) = say_hello(&mut ep, None, &hello(0));
    assert_eq!(connected(&events), [NodeId(first + 2)], "{events:?}");
}

/// A peer's counters last as long as it may come back under its id: a declared known
/// peer's and one of our nodes' outlive their connections; a peer that only claimed an id
/// (no known peers declared) and an anonymous client lose theirs with their connection,
/// so a peer that reconnects under ever new ids cannot grow the server's tables.
#[test]
fn only_known_peers_keep_their_counters_once_their_connection_closes() {
    let mut ep = Endpoint::new(
        EndpointConfig {
            node_id: ME,
            known_peers: Some([NodeId(2), NodeId(5)].into()),
            ..EndpointConfig::default()
        },
        Instant::ZERO,
    );
    let mut open = Endpoint::new(
        EndpointConfig {
            node_id: ME,
            ..EndpointConfig::default()
        },
        Instant::ZERO,
    );
    open.add_node(Instant::ZERO, NodeId(3), "node 3").unwrap();
    let gone = || ConnectionError::ClosedByPeer;
    let close_after_hello = |ep: &mut Endpoint, id: u32| {
        let (conn, events) = say_hello(ep, None, &hello(id));
        assert!(closes(&events).is_empty(), "{events:?}");
        let node = ep.peer_of(conn).map(|(node, ..)| node).unwrap();
        assert!(
            ep.node_info(node).is_some(),
            "node {id} is counted while connected"
        );
        ep.handle_closed(Instant::ZERO, conn, gone());
        node
    };
    let known = close_after_hello(&mut ep, 2);
    assert!(
        ep.node_info(known).is_some(),
        "a declared peer's counters stay"
    );
    let ours = close_after_hello(&mut open, 3);
    assert!(
        open.node_info(ours).is_some(),
        "our own node's counters stay"
    );
    let stranger = close_after_hello(&mut open, 7);
    assert_eq!(open.node_info(stranger), None);
    let anonymous = close_after_hello(&mut open, 0);
    assert_eq!(open.node_info(anonymous), None);
}
