//! The engine's protocol stories, told with engines wired through in-memory pipes and a
//! hand-driven clock (see `support`).

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use bytes::Bytes;
use gorums_core::engine::{
    CallEvent, CallKind, CallSpec, Cause, Code, ConnectionError, EndpointConfig, Event,
    FailureKind, Instant, NodeFailure, NodeId, Payload, RequestKind, StartedCall, Status,
};
use gorums_core::quorum::Quorum;
use gorums_core::wire::WireError;
use support::World;

/// A client (anonymous) connected to `n` servers with ids 1..=n; returns the world, the
/// client's index and the servers' indices.
fn cluster(n: u32) -> (World, usize, Vec<usize>) {
    let mut w = World::new();
    let servers: Vec<usize> = (1..=n).map(|id| w.add(id, &format!("s{id}"))).collect();
    let client = w.add(0, "client");
    w.connect(client, &servers);
    (w, client, servers)
}

fn ids(n: u32) -> Vec<NodeId> {
    (1..=n).map(NodeId).collect()
}

fn start(
    w: &mut World,
    p: usize,
    kind: CallKind,
    nodes: Vec<NodeId>,
    quorum: Option<Quorum>,
    deadline: Option<Duration>,
) -> StartedCall {
    let mut spec = CallSpec::new(
        kind,
        "test.Svc.Method",
        nodes,
        Payload::Shared(Bytes::from_static(b"req")),
    );
    spec.deadline = deadline.map(|d| w.now + d);
    let n = spec.nodes.len();
    let now = w.now;
    let started = w.ep(p).start_call(now, spec).expect("valid call");
    if let Some(quorum) = quorum {
        w.judge(p, &started, quorum, (n, 0), kind == CallKind::Correctable);
    }
    w.drive();
    started
}

/// Each server answers its pending requests with its own node id as payload.
fn answer(w: &mut World, server: usize) {
    let now = w.now;
    let me = w.procs[server].config.node_id.0;
    for req in w.requests(server) {
        w.ep(server)
            .respond(now, req.id, Ok(Bytes::from(me.to_string())))
            .unwrap();
    }
    w.drive();
}

fn finished(events: &[CallEvent]) -> Option<&Result<(), gorums_core::engine::QuorumCallError>> {
    events.iter().find_map(|e| match e {
        CallEvent::Finished(r) => Some(r),
        _ => None,
    })
}

fn replies(events: &[CallEvent]) -> Vec<(u32, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            CallEvent::Reply {
                node,
                result: Ok(p),
            } => Some((node.0, String::from_utf8_lossy(p).into_owned())),
            _ => None,
        })
        .collect()
}

#[test]
fn handshake_connects_every_node() {
    let (mut w, client, servers) = cluster(3);
    for id in ids(3) {
        assert!(w.ep(client).node_info(id).unwrap().connected, "{id}");
    }
    for &s in &servers {
        assert!(
            w.procs[s]
                .log
                .iter()
                .any(|e| matches!(e, Event::PeerConnected(p) if p.anonymous))
        );
    }
}

#[test]
fn quorum_call_reaches_every_node_and_meets_majority() {
    let (mut w, client, servers) = cluster(3);
    let call = start(
        &mut w,
        client,
        CallKind::QuorumCall,
        ids(3),
        Some(Quorum::Majority),
        None,
    );
    assert!(call.send_failures.is_empty());
    for &s in &servers {
        let reqs = w.requests(s);
        assert_eq!(reqs.len(), 1);
        assert_eq!(reqs[0].method, "test.Svc.Method");
        assert_eq!(reqs[0].kind, RequestKind::Unary);
        assert_eq!(&reqs[0].payload[..], b"req");
        w.procs[s].log.push(Event::Request(reqs[0].clone()));
    }
    answer(&mut w, servers[0]);
    assert_eq!(
        finished(&w.call_events(client, call.id)),
        None,
        "one reply is not a majority of 3"
    );
    answer(&mut w, servers[1]);
    let events = w.call_events(client, call.id);
    assert_eq!(replies(&events), vec![(2, "2".into())]);
    assert_eq!(finished(&events), Some(&Ok(())));
    assert_eq!(w.ep(client).live_calls(), 0);
}

#[test]
fn rpc_unicast_and_multicast() {
    let (mut w, client, servers) = cluster(3);
    let rpc = start(&mut w, client, CallKind::Rpc, vec![NodeId(2)], None, None);
    answer(&mut w, servers[1]);
    let events = w.call_events(client, rpc.id);
    assert_eq!(replies(&events), vec![(2, "2".into())]);
    assert_eq!(finished(&events), Some(&Ok(())));

    let uni = start(
        &mut w,
        client,
        CallKind::Unicast,
        vec![NodeId(3)],
        None,
        None,
    );
    let reqs = w.requests(servers[2]);
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].kind, RequestKind::OneWay);
    let now = w.now;
    w.ep(servers[2])
        .respond(now, reqs[0].id, Ok(Bytes::new()))
        .unwrap();
    w.drive();
    assert!(
        w.call_events(client, uni.id).is_empty(),
        "one-way calls report nothing"
    );

    let multi = start(&mut w, client, CallKind::Multicast, ids(3), None, None);
    assert!(multi.send_failures.is_empty());
    for &s in &servers {
        assert_eq!(
            w.requests(s)
                .iter()
                .filter(|r| r.kind == RequestKind::OneWay)
                .count(),
            1
        );
    }
    assert_eq!(w.ep(client).live_calls(), 0, "one-way calls keep no state");
    let now = w.now;
    assert!(
        w.ep(client)
            .start_call(
                now,
                CallSpec::new(CallKind::Rpc, "m", ids(2), Payload::Shared(Bytes::new()))
            )
            .is_err()
    );
}

#[test]
fn replies_out_of_order_reach_their_own_nodes() {
    let (mut w, client, servers) = cluster(3);
    let call = start(
        &mut w,
        client,
        CallKind::QuorumCall,
        ids(3),
        Some(Quorum::All),
        None,
    );
    for &s in servers.iter().rev() {
        answer(&mut w, s);
    }
    let events = w.call_events(client, call.id);
    assert_eq!(
        replies(&events),
        vec![(3, "3".into()), (2, "2".into()), (1, "1".into())]
    );
    assert_eq!(finished(&events), Some(&Ok(())));
}

#[test]
fn a_silent_node_is_not_needed_for_majority_but_all_fails_at_the_deadline() {
    let (mut w, client, servers) = cluster(3);
    let majority = start(
        &mut w,
        client,
        CallKind::QuorumCall,
        ids(3),
        Some(Quorum::Majority),
        Some(Duration::from_secs(1)),
    );
    let all = start(
        &mut w,
        client,
        CallKind::QuorumCall,
        ids(3),
        Some(Quorum::All),
        Some(Duration::from_secs(1)),
    );
    answer(&mut w, servers[0]);
    answer(&mut w, servers[1]);
    assert_eq!(finished(&w.call_events(client, majority.id)), Some(&Ok(())));
    assert_eq!(finished(&w.call_events(client, all.id)), None);
    w.advance(Duration::from_millis(999));
    assert_eq!(finished(&w.call_events(client, all.id)), None);
    w.advance(Duration::from_millis(1));
    let err = finished(&w.call_events(client, all.id))
        .cloned()
        .unwrap()
        .unwrap_err();
    assert_eq!(err.cause, Cause::DeadlineExceeded);
    assert_eq!(w.ep(client).live_calls(), 0);
}

#[test]
fn a_connection_lost_mid_call_fails_only_that_share_then_the_call_when_hopeless() {
    let (mut w, client, servers) = cluster(3);
    let call = start(
        &mut w,
        client,
        CallKind::QuorumCall,
        ids(3),
        Some(Quorum::Majority),
        None,
    );
    w.sever(client, servers[2]);
    let events = w.call_events(client, call.id);
    assert!(
        matches!(
            &events[..],
            [CallEvent::Reply {
                node: NodeId(3),
                result: Err(NodeFailure::ConnectionLost(_))
            }]
        ),
        "{events:?}"
    );
    answer(&mut w, servers[0]);
    answer(&mut w, servers[1]);
    assert_eq!(finished(&w.call_events(client, call.id)), Some(&Ok(())));

    // Two of three lost: the majority is out of reach at once, before any deadline.
    let (mut w, client, servers) = cluster(3);
    let call = start(
        &mut w,
        client,
        CallKind::QuorumCall,
        ids(3),
        Some(Quorum::Majority),
        Some(Duration::from_secs(60)),
    );
    w.sever(client, servers[0]);
    assert_eq!(finished(&w.call_events(client, call.id)), None);
    w.sever(client, servers[1]);
    let err = finished(&w.call_events(client, call.id))
        .cloned()
        .unwrap()
        .unwrap_err();
    assert_eq!(err.cause, Cause::Incomplete);
    assert_eq!(
        err.failed_nodes().collect::<Vec<_>>(),
        vec![NodeId(1), NodeId(2)]
    );
    assert!(err.has_kind(FailureKind::ConnectionLost));
    // Nothing is re-sent after the reconnect: the server that answers late is ignored.
    answer(&mut w, servers[2]);
    assert_eq!(w.ep(client).node_info(NodeId(3)).unwrap().dropped, 1);
}

#[test]
fn cancel_before_send_takes_the_request_back_and_after_send_drops_the_reply() {
    let (mut w, client, servers) = cluster(2);
    let now = w.now;
    let spec = CallSpec::new(
        CallKind::QuorumCall,
        "m",
        ids(2),
        Payload::Shared(Bytes::from_static(b"x")),
    );
    let call = w.ep(client).start_call(now, spec).unwrap();
    w.ep(client).cancel(now, call.id);
    w.drive();
    for &s in &servers {
        assert!(
            w.requests(s).is_empty(),
            "a cancelled, unsent request never leaves"
        );
    }
    assert_eq!(w.ep(client).live_calls(), 0);

    let call = start(&mut w, client, CallKind::QuorumCall, ids(2), None, None);
    assert_eq!(w.ep(client).live_calls(), 1);
    let now = w.now;
    w.ep(client).cancel(now, call.id);
    assert_eq!(
        w.ep(client).live_calls(),
        0,
        "cancel frees the call's state"
    );
    answer(&mut w, servers[0]);
    assert!(w.call_events(client, call.id).is_empty());
    assert_eq!(w.ep(client).node_info(NodeId(1)).unwrap().dropped, 1);
    // The connection survives the cancel.
    let again = start(
        &mut w,
        client,
        CallKind::QuorumCall,
        ids(2),
        Some(Quorum::All),
        None,
    );
    answer(&mut w, servers[0]);
    answer(&mut w, servers[1]);
    answer(&mut w, servers[1]);
    assert_eq!(finished(&w.call_events(client, again.id)), Some(&Ok(())));
}

#[test]
fn a_reply_after_the_call_ended_is_dropped_and_counted() {
    let (mut w, client, servers) = cluster(3);
    let call = start(
        &mut w,
        client,
        CallKind::QuorumCall,
        ids(3),
        Some(Quorum::First),
        None,
    );
    answer(&mut w, servers[1]);
    assert_eq!(finished(&w.call_events(client, call.id)), Some(&Ok(())));
    answer(&mut w, servers[0]);
    answer(&mut w, servers[2]);
    assert!(w.call_events(client, call.id).is_empty());
    assert_eq!(w.ep(client).node_info(NodeId(1)).unwrap().dropped, 1);
    assert_eq!(w.ep(client).node_info(NodeId(3)).unwrap().dropped, 1);
    assert_eq!(w.ep(client).node_info(NodeId(2)).unwrap().dropped, 0);
}

#[test]
fn a_correctable_call_reaches_levels_one_to_n_and_ends_with_the_streams() {
    let (mut w, client, servers) = cluster(3);
    let call = start(&mut w, client, CallKind::Correctable, ids(3), None, None);
    let mut level = 0;
    for &s in &servers {
        let reqs = w.requests(s);
        assert_eq!(reqs[0].kind, RequestKind::Stream);
        let now = w.now;
        w.ep(s)
            .send_item(now, reqs[0].id, Bytes::from_static(b"v1"))
            .unwrap();
        w.drive();
        let items = w
            .call_events(client, call.id)
            .iter()
            .filter(|e| matches!(e, CallEvent::Item { .. }))
            .count();
        level += items;
        w.procs[s].log.push(Event::Request(reqs[0].clone()));
    }
    assert_eq!(level, 3);
    for &s in &servers {
        let req = w.requests(s).remove(0);
        let now = w.now;
        w.ep(s).end_stream(now, req.id, Ok(())).unwrap();
        w.drive();
    }
    let events = w.call_events(client, call.id);
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, CallEvent::End { result: Ok(()), .. }))
            .count(),
        3
    );
    assert_eq!(
        finished(&events),
        Some(&Ok(())),
        "ends as soon as every stream ended"
    );

    // With a threshold, the engine finishes the call at that level.
    let call = start(
        &mut w,
        client,
        CallKind::Correctable,
        ids(3),
        Some(Quorum::Threshold(2)),
        None,
    );
    let req = w.requests(servers[0]).remove(0);
    let now = w.now;
    w.ep(servers[0])
        .send_item(now, req.id, Bytes::from_static(b"a"))
        .unwrap();
    w.drive();
    assert_eq!(finished(&w.call_events(client, call.id)), None);
    w.ep(servers[0])
        .send_item(now, req.id, Bytes::from_static(b"b"))
        .unwrap();
    w.drive();
    assert_eq!(finished(&w.call_events(client, call.id)), Some(&Ok(())));
}

#[test]
fn the_server_hands_out_one_request_per_sender_at_a_time_and_release_lets_the_next_start() {
    let (mut w, client, servers) = cluster(1);
    let s = servers[0];
    let calls: Vec<_> = (0..3)
        .map(|_| start(&mut w, client, CallKind::Rpc, vec![NodeId(1)], None, None))
        .collect();
    let first = w.requests(s);
    assert_eq!(first.len(), 1, "FIFO: only the first request runs");
    let now = w.now;
    w.ep(s)
        .respond(now, first[0].id, Ok(Bytes::from_static(b"1")))
        .unwrap();
    w.drive();
    let second = w.requests(s);
    assert_eq!(second.len(), 1);
    w.ep(s).release(now, second[0].id);
    w.drive();
    let third = w.requests(s);
    assert_eq!(third.len(), 1, "release lets the next request start");
    assert!(
        third[0].id.msg > second[0].id.msg && second[0].id.msg > first[0].id.msg,
        "in issue order"
    );
    // Answer out of order: the released request is still open.
    w.ep(s)
        .respond(now, third[0].id, Ok(Bytes::from_static(b"3")))
        .unwrap();
    w.ep(s)
        .respond(now, second[0].id, Ok(Bytes::from_static(b"2")))
        .unwrap();
    w.drive();
    for (i, call) in calls.iter().enumerate() {
        let events = w.call_events(client, call.id);
        assert_eq!(replies(&events), vec![(1, (i + 1).to_string())]);
    }
    assert_eq!(
        w.ep(s).respond(now, second[0].id, Ok(Bytes::new())),
        Err(gorums_core::engine::UsageError::UnknownRequest(
            second[0].id
        ))
    );
}

#[test]
fn a_lost_node_is_redialled_after_a_backoff_and_used_again() {
    let (mut w, client, servers) = cluster(2);
    w.kill(servers[1]);
    assert!(w.procs[client].log.iter().any(|e| matches!(
        e,
        Event::NodeDown {
            node: NodeId(2),
            ..
        }
    )));
    // While it waits to redial, its share fails at once with the last error.
    let call = start(&mut w, client, CallKind::QuorumCall, ids(2), None, None);
    assert_eq!(call.send_failures.len(), 1);
    assert_eq!(call.send_failures[0].node, NodeId(2));
    assert!(matches!(
        call.send_failures[0].failure,
        NodeFailure::NotConnected(_)
    ));
    answer(&mut w, servers[0]);
    assert_eq!(finished(&w.call_events(client, call.id)), Some(&Ok(())));

    // The redial fails while the server is down, and backs off further each time.
    w.advance(Duration::from_millis(500));
    assert!(!w.ep(client).node_info(NodeId(2)).unwrap().connected);
    w.restart(servers[1]);
    w.advance(Duration::from_secs(10));
    assert!(
        w.ep(client).node_info(NodeId(2)).unwrap().connected,
        "redialled after restart"
    );
    let call = start(
        &mut w,
        client,
        CallKind::QuorumCall,
        ids(2),
        Some(Quorum::All),
        None,
    );
    answer(&mut w, servers[0]);
    answer(&mut w, servers[1]);
    assert_eq!(finished(&w.call_events(client, call.id)), Some(&Ok(())));
}

#[test]
fn a_full_send_queue_fails_that_node_only() {
    let mut w = World::new();
    let s = w.add(1, "s1");
    let client = w.add_with(
        EndpointConfig {
            send_queue_limit: 300,
            ..EndpointConfig::default()
        },
        "client",
    );
    let now = w.now;
    w.ep(client).add_node(now, NodeId(1), "s1").unwrap();
    // Not driven: the node is still connecting, so requests wait in its bounded queue.
    let payload = Bytes::from(vec![7u8; 100]);
    let mut failures = 0;
    for _ in 0..5 {
        let spec = CallSpec::new(
            CallKind::Rpc,
            "m",
            vec![NodeId(1)],
            Payload::Shared(payload.clone()),
        );
        let started = w.ep(client).start_call(now, spec).unwrap();
        failures += started
            .send_failures
            .iter()
            .filter(|e| e.failure == NodeFailure::SendQueueFull)
            .count();
    }
    assert!(failures >= 3, "{failures} of 5 over a 300-byte queue");
    w.drive();
    assert_eq!(
        w.requests(s).len(),
        1,
        "the queued ones arrive (FIFO hands out one)"
    );
}

#[test]
fn garbage_closes_that_connection_only() {
    let (mut w, client, servers) = cluster(1);
    let now = w.now;
    let bad = w.ep(servers[0]).handle_accepted(now, "attacker");
    w.ep(servers[0])
        .handle_bytes(now, bad, b"GET / HTTP/1.1\r\n\r\n");
    let mut closed = None;
    while let Some(e) = w.ep(servers[0]).poll_event() {
        if let Event::Close { conn, reason } = e {
            closed = Some((conn, reason));
        }
    }
    let (conn, reason) = closed.expect("the bad connection is closed");
    assert_eq!(conn, bad);
    assert!(
        matches!(reason, ConnectionError::Wire(WireError::BadPreface { .. })),
        "{reason}"
    );
    assert!(reason.to_string().contains("bad preface"), "{reason}");
    let call = start(&mut w, client, CallKind::Rpc, vec![NodeId(1)], None, None);
    answer(&mut w, servers[0]);
    assert_eq!(finished(&w.call_events(client, call.id)), Some(&Ok(())));
}

#[test]
fn a_request_whose_method_is_not_utf8_closes_that_connection() {
    use gorums_core::wire::{self, proto};
    let (mut w, _client, servers) = cluster(1);
    let now = w.now;
    let bad = w.ep(servers[0]).handle_accepted(now, "peer");
    let mut bytes = bytes::BytesMut::new();
    wire::encode_preface(&mut bytes);
    let hello = proto::Hello {
        protocol_version: u32::from(wire::PROTOCOL_VERSION),
        ..proto::Hello::default()
    };
    wire::encode_frame(&hello, usize::MAX, &mut bytes).unwrap();
    let request = proto::Message {
        message_seq_no: 1,
        method: Bytes::from_static(&[0xff, 0xfe]),
        kind: proto::Kind::Request as i32,
        ..proto::Message::default()
    };
    wire::encode_frame(&request, usize::MAX, &mut bytes).unwrap();
    w.ep(servers[0]).handle_bytes(now, bad, &bytes);
    let mut closed = None;
    while let Some(e) = w.ep(servers[0]).poll_event() {
        assert!(!matches!(e, Event::Request(_)), "no request is handed out");
        if let Event::Close { conn, reason } = e {
            closed = Some((conn, reason));
        }
    }
    let (conn, reason) = closed.expect("the connection is closed");
    assert_eq!(conn, bad);
    assert!(matches!(reason, ConnectionError::Violation(_)), "{reason}");
    assert!(reason.to_string().contains("not UTF-8"), "{reason}");
}

#[test]
fn anonymous_clients_get_ids_and_can_be_called_back_over_their_own_connection() {
    let mut w = World::new();
    let server = w.add(1, "s1");
    let c1 = w.add(0, "c1");
    let c2 = w.add(0, "c2");
    w.connect(c1, &[server]);
    w.connect(c2, &[server]);
    let clients = w.ep(server).clients();
    let first = NodeId::FIRST_CLIENT.0;
    assert_eq!(clients, vec![NodeId(first), NodeId(first + 1)]);
    let call = start(
        &mut w,
        server,
        CallKind::QuorumCall,
        clients.clone(),
        Some(Quorum::All),
        None,
    );
    for c in [c1, c2] {
        let reqs = w.requests(c);
        assert_eq!(
            reqs.len(),
            1,
            "reverse-direction request reaches the client"
        );
        assert_eq!(reqs[0].from, NodeId(1));
        assert_ne!(
            reqs[0].id.msg.0 & (1 << 63),
            0,
            "ids the acceptor starts carry the top bit"
        );
        let now = w.now;
        w.ep(c)
            .respond(now, reqs[0].id, Ok(Bytes::from_static(b"ok")))
            .unwrap();
    }
    w.drive();
    assert_eq!(finished(&w.call_events(server, call.id)), Some(&Ok(())));
    // A client that leaves leaves the client configuration.
    w.sever(c1, server);
    assert_eq!(w.ep(server).clients(), vec![NodeId(first + 1)]);
    assert!(w.procs[server].log.iter().any(|e| matches!(
        e,
        Event::PeerDisconnected {
            node,
            anonymous: true
        } if node.0 == first
    )));
}

#[test]
fn a_peer_claiming_an_anonymous_clients_id_is_refused() {
    let mut w = World::new();
    let server = w.add(1, "s1");
    let client = w.add(0, "c1");
    w.connect(client, &[server]);
    let first = NodeId::FIRST_CLIENT;
    assert_eq!(w.ep(server).clients(), vec![first]);
    let impostor = w.add(first.0, "p");
    w.connect(impostor, &[server]);
    assert_eq!(
        w.ep(server).clients(),
        vec![first],
        "the client keeps its id"
    );
    assert!(
        !w.procs[server]
            .log
            .iter()
            .any(|e| matches!(e, Event::PeerDisconnected { .. })),
        "the client's connection was not taken away"
    );
    assert!(
        !w.procs[server]
            .log
            .iter()
            .any(|e| matches!(e, Event::PeerConnected(info) if !info.anonymous)),
        "the impostor was not admitted"
    );
}

#[test]
fn a_process_calls_itself_without_a_socket() {
    let (mut w, _client, servers) = cluster(2);
    let s1 = servers[0];
    w.connect(s1, &[servers[1]]);
    assert_eq!(w.ep(s1).connected_peers(), ids(2));
    let call = start(
        &mut w,
        s1,
        CallKind::QuorumCall,
        ids(2),
        Some(Quorum::All),
        None,
    );
    let own = w.requests(s1);
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].from, NodeId(1));
    let now = w.now;
    w.ep(s1)
        .respond(now, own[0].id, Ok(Bytes::from_static(b"self")))
        .unwrap();
    answer(&mut w, servers[1]);
    let events = w.call_events(s1, call.id);
    assert_eq!(replies(&events).len(), 2);
    assert_eq!(finished(&events), Some(&Ok(())));
}

#[test]
fn an_error_status_is_that_nodes_failure() {
    let (mut w, client, servers) = cluster(2);
    let call = start(
        &mut w,
        client,
        CallKind::QuorumCall,
        ids(2),
        Some(Quorum::All),
        None,
    );
    let req = w.requests(servers[0]).remove(0);
    let now = w.now;
    w.ep(servers[0])
        .respond(
            now,
            req.id,
            Err(Status::new(Code::Internal, "handler panicked")),
        )
        .unwrap();
    w.drive();
    let err = finished(&w.call_events(client, call.id))
        .cloned()
        .unwrap()
        .unwrap_err();
    assert_eq!(err.cause, Cause::Incomplete);
    assert_eq!(
        err.node_error(NodeId(1)).unwrap().failure,
        NodeFailure::Status(Status::new(Code::Internal, "handler panicked"))
    );
}

#[test]
fn latency_is_measured_from_replies() {
    let (mut w, client, servers) = cluster(1);
    assert_eq!(w.ep(client).node_info(NodeId(1)).unwrap().latency, None);
    let _call = start(&mut w, client, CallKind::Rpc, vec![NodeId(1)], None, None);
    w.advance(Duration::from_millis(10));
    answer(&mut w, servers[0]);
    assert_eq!(
        w.ep(client).node_info(NodeId(1)).unwrap().latency,
        Some(Duration::from_millis(10))
    );
    let _call = start(&mut w, client, CallKind::Rpc, vec![NodeId(1)], None, None);
    w.advance(Duration::from_millis(20));
    answer(&mut w, servers[0]);
    assert_eq!(
        w.ep(client).node_info(NodeId(1)).unwrap().latency,
        Some(Duration::from_millis(12))
    );
}

#[test]
fn same_seed_same_backoff() {
    fn redial_times(seed: u64) -> Vec<Instant> {
        let mut w = World::new();
        let client = w.add_with(
            EndpointConfig {
                seed,
                ..EndpointConfig::default()
            },
            "c",
        );
        let now = w.now;
        w.ep(client).add_node(now, NodeId(1), "nowhere").unwrap();
        w.drive();
        let mut times = Vec::new();
        for _ in 0..5 {
            let at = w.ep(client).poll_timeout().unwrap();
            times.push(at);
            w.advance(at - w.now);
        }
        times
    }
    assert_eq!(redial_times(7), redial_times(7));
    assert_ne!(redial_times(7), redial_times(8));
}

#[test]
fn a_deadline_already_due_fails_the_call_at_start() {
    let (mut w, client, servers) = cluster(2);
    // No timer runs between the start and the replies: the deadline is still honoured.
    let call = start(
        &mut w,
        client,
        CallKind::QuorumCall,
        ids(2),
        None,
        Some(Duration::ZERO),
    );
    answer(&mut w, servers[0]);
    answer(&mut w, servers[1]);
    let events = w.call_events(client, call.id);
    assert!(replies(&events).is_empty(), "{events:?}");
    assert!(
        matches!(finished(&events), Some(Err(e)) if e.cause == Cause::DeadlineExceeded),
        "{events:?}"
    );
    assert_eq!(w.ep(client).live_calls(), 0);
}

#[test]
fn a_nodes_counters_count_sent_replied_and_failed_shares_and_keep_its_last_error() {
    let (mut w, client, servers) = cluster(2);
    let call = start(&mut w, client, CallKind::QuorumCall, ids(2), None, None);
    answer(&mut w, servers[0]);
    let now = w.now;
    for req in w.requests(servers[1]) {
        w.ep(servers[1])
            .respond(now, req.id, Err(Status::new(Code::NotFound, "gone")))
            .unwrap();
    }
    w.drive();
    assert!(finished(&w.call_events(client, call.id)).is_some());
    let start_again = start(&mut w, client, CallKind::QuorumCall, ids(2), None, None);
    answer(&mut w, servers[0]);
    answer(&mut w, servers[1]);
    assert!(finished(&w.call_events(client, start_again.id)).is_some());
    let one = w.ep(client).node_info(NodeId(1)).unwrap();
    let two = w.ep(client).node_info(NodeId(2)).unwrap();
    assert_eq!((one.sent, one.replied, one.failed), (2, 2, 0));
    assert_eq!((two.sent, two.replied, two.failed), (2, 1, 1));
    assert!(
        matches!(&two.last_error, Some(NodeFailure::Status(s)) if s.code == Code::NotFound),
        "{:?}",
        two.last_error
    );
    assert!(one.last_error.is_none());
}

#[test]
fn a_duplicate_request_id_is_dropped_and_stream_commands_only_answer_stream_requests() {
    use gorums_core::engine::UsageError;
    use gorums_core::wire::{self, proto};

    let (mut w, _client, servers) = cluster(1);
    let s = servers[0];
    let now = w.now;
    let raw = w.ep(s).handle_accepted(now, "raw");
    let mut bytes = bytes::BytesMut::new();
    wire::encode_preface(&mut bytes);
    let hello = proto::Hello {
        protocol_version: u32::from(wire::PROTOCOL_VERSION),
        ..proto::Hello::default()
    };
    wire::encode_frame(&hello, usize::MAX, &mut bytes).unwrap();
    let request = proto::Message {
        message_seq_no: 7,
        method: Bytes::from_static(b"m"),
        kind: proto::Kind::Request as i32,
        ..proto::Message::default()
    };
    // The same id twice while the first is open: the second is dropped.
    wire::encode_frame(&request, usize::MAX, &mut bytes).unwrap();
    wire::encode_frame(&request, usize::MAX, &mut bytes).unwrap();
    w.ep(s).handle_bytes(now, raw, &bytes);
    let mut handed = Vec::new();
    while let Some(e) = w.ep(s).poll_event() {
        if let Event::Request(r) = e {
            handed.push(r);
        }
    }
    assert_eq!(handed.len(), 1, "{handed:?}");
    let id = handed[0].id;
    // A unary request takes no stream item and no stream end.
    assert_eq!(
        w.ep(s).send_item(now, id, Bytes::new()),
        Err(UsageError::NotAStream(id))
    );
    assert_eq!(
        w.ep(s).end_stream(now, id, Ok(())),
        Err(UsageError::NotAStream(id))
    );
    assert_eq!(w.ep(s).respond(now, id, Ok(Bytes::new())), Ok(()));
    // The dropped duplicate is not handed out once the first is answered.
    while let Some(e) = w.ep(s).poll_event() {
        assert!(!matches!(e, Event::Request(_)), "the duplicate ran: {e:?}");
    }
}

/// Under `HigherIds` node 2 reaches node 3 over the connection it dialled and node 1
/// over the one node 1 dialled to it: a call to both shares one encoded request only
/// where the wire id is the same, so each reply still finds the call.
#[test]
fn a_call_over_a_dialled_and_an_accepted_connection_hears_both() {
    let mut w = World::new();
    let procs: Vec<usize> = (1..=3)
        .map(|id| {
            let config = EndpointConfig {
                node_id: NodeId(id),
                dial: gorums_core::engine::DialPolicy::HigherIds,
                ..EndpointConfig::default()
            };
            w.add_with(config, &format!("s{id}"))
        })
        .collect();
    for &p in &procs {
        let others: Vec<usize> = procs.iter().copied().filter(|&q| q != p).collect();
        w.connect(p, &others);
    }
    let call = start(
        &mut w,
        procs[1],
        CallKind::QuorumCall,
        vec![NodeId(1), NodeId(3)],
        Some(Quorum::All),
        None,
    );
    answer(&mut w, procs[0]);
    answer(&mut w, procs[2]);
    let events = w.call_events(procs[1], call.id);
    let mut heard = replies(&events);
    heard.sort();
    assert_eq!(
        heard,
        [(1, "1".to_owned()), (3, "3".to_owned())],
        "{events:?}"
    );
    assert_eq!(finished(&events), Some(&Ok(())));
}

/// A lost connection is the node's last error even with no call to fail: what an
/// operator reads in its `NodeInfo` after the node went away between calls.
#[test]
fn a_connection_lost_between_calls_is_the_nodes_last_error() {
    let (mut w, client, servers) = cluster(1);
    let info = w.ep(client).node_info(NodeId(1)).unwrap();
    assert!(info.connected && info.last_error.is_none(), "{info:?}");
    w.sever(client, servers[0]);
    let info = w.ep(client).node_info(NodeId(1)).unwrap();
    assert!(!info.connected);
    assert_eq!(
        info.last_error.as_ref().map(|f| f.kind()),
        Some(FailureKind::ConnectionLost),
        "{info:?}"
    );
    assert_eq!(info.failed, 0, "no share failed");
}
