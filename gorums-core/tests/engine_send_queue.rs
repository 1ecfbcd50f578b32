//! A connection's bounded send queue, as a caller and a driver see it: a request that
//! would pass `send_queue_limit` fails for that node with `SendQueueFull`, a cancelled
//! request frees its room and never reaches the wire, and the driver is told once that
//! there are bytes to take.

#![allow(clippy::unwrap_used)]

use bytes::{Bytes, BytesMut};
use gorums_core::engine::{
    CallId, CallKind, CallSpec, ConnId, Endpoint, EndpointConfig, Event, FailureKind, Instant,
    NodeId, Payload, StartedCall,
};
use gorums_core::wire::{self, FrameDecoder, proto};

const NODE: NodeId = NodeId(1);

/// A client with `send_queue_limit` that has registered node 1 and not yet connected
/// to it: its connection and the events it queued.
fn client(send_queue_limit: usize) -> (Endpoint, ConnId) {
    let config = EndpointConfig {
        send_queue_limit,
        ..EndpointConfig::default()
    };
    let mut ep = Endpoint::new(config, Instant::ZERO);
    ep.add_node(Instant::ZERO, NODE, "s1").unwrap();
    let conn = events(&mut ep)
        .into_iter()
        .find_map(|e| match e {
            Event::Connect { conn, .. } => Some(conn),
            _ => None,
        })
        .expect("a dial");
    (ep, conn)
}

fn events(ep: &mut Endpoint) -> Vec<Event> {
    std::iter::from_fn(|| ep.poll_event()).collect()
}

fn transmits(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::Transmit(_)))
        .count()
}

fn rpc(ep: &mut Endpoint) -> StartedCall {
    let spec = CallSpec::new(
        CallKind::Rpc,
        "m",
        vec![NODE],
        Payload::Shared(Bytes::from_static(b"x")),
    );
    ep.start_call(Instant::ZERO, spec).unwrap()
}

fn sent(call: &StartedCall) -> bool {
    call.send_failures.is_empty()
}

fn queue_full(call: &StartedCall) -> bool {
    matches!(&call.send_failures[..], [e] if e.node == NODE && e.failure.kind() == FailureKind::SendQueueFull)
}

/// The handshake bytes a fresh connection queues, and the frame length of one `rpc`.
fn sizes() -> (usize, usize) {
    let (mut ep, _) = client(usize::MAX);
    let handshake = ep.queued_bytes();
    rpc(&mut ep);
    (handshake, ep.queued_bytes() - handshake)
}

/// The ids of the requests in the bytes a driver took; the connection's first bytes
/// (`first`) open with the preface and the hello.
fn request_ids(bytes: &[u8], first: bool) -> Vec<CallId> {
    let mut decoder = if first {
        FrameDecoder::new(wire::DEFAULT_MAX_FRAME_LEN)
    } else {
        FrameDecoder::without_preface(wire::DEFAULT_MAX_FRAME_LEN)
    };
    decoder.push(bytes);
    if first {
        let hello = decoder.next_frame().unwrap().expect("the hello");
        wire::decode_hello(hello).unwrap();
    }
    let mut ids = Vec::new();
    while let Some(frame) = decoder.next_frame().unwrap() {
        let msg: proto::Message = wire::decode_message(frame).unwrap();
        assert_eq!(msg.kind, proto::Kind::Request as i32);
        ids.push(CallId(msg.message_seq_no));
    }
    ids
}

#[test]
fn requests_fill_the_queue_to_its_limit_exactly_and_the_next_fails_with_send_queue_full() {
    let (handshake, frame) = sizes();
    assert!(handshake > 0 && frame > 0);
    let (mut ep, _) = client(handshake + 3 * frame);
    let calls: Vec<StartedCall> = (0..3).map(|_| rpc(&mut ep)).collect();
    assert!(calls.iter().all(sent), "three frames fit exactly");
    assert_eq!(ep.queued_bytes(), handshake + 3 * frame);
    let over = rpc(&mut ep);
    assert!(queue_full(&over), "{:?}", over.send_failures);
    assert_eq!(
        ep.queued_bytes(),
        handshake + 3 * frame,
        "nothing of it queued"
    );
    let info = ep.node_info(NODE).unwrap();
    assert_eq!((info.sent, info.failed), (3, 1));
    assert_eq!(
        info.last_error.map(|f| f.kind()),
        Some(FailureKind::SendQueueFull)
    );
}

#[test]
fn a_cancelled_request_frees_its_room_and_never_reaches_the_wire() {
    let (handshake, frame) = sizes();
    let (mut ep, conn) = client(handshake + 3 * frame);
    let first = rpc(&mut ep);
    let second = rpc(&mut ep);
    let third = rpc(&mut ep);
    assert!(queue_full(&rpc(&mut ep)));
    ep.cancel(Instant::ZERO, second.id);
    assert_eq!(ep.queued_bytes(), handshake + 2 * frame);
    let fourth = rpc(&mut ep);
    assert!(sent(&fourth), "the cancelled request's room is free again");
    assert!(queue_full(&rpc(&mut ep)));

    ep.handle_connected(Instant::ZERO, conn);
    let mut out = BytesMut::new();
    assert_eq!(ep.poll_transmit(conn, &mut out), handshake + 3 * frame);
    assert_eq!(out.len(), handshake + 3 * frame);
    assert_eq!(request_ids(&out, true), [first.id, third.id, fourth.id]);
    assert_eq!(ep.queued_bytes(), 0);

    // Once taken, the whole limit is free again; cancelling a request already written
    // takes back nothing queued after it.
    let later: Vec<StartedCall> = (0..3).map(|_| rpc(&mut ep)).collect();
    assert!(later.iter().all(sent));
    ep.cancel(Instant::ZERO, first.id);
    ep.cancel(Instant::ZERO, third.id);
    assert_eq!(ep.queued_bytes(), 3 * frame);
    let mut out = BytesMut::new();
    assert_eq!(ep.poll_transmit(conn, &mut out), 3 * frame);
    let ids: Vec<CallId> = later.iter().map(|c| c.id).collect();
    assert_eq!(request_ids(&out, false), ids);
}

#[test]
fn nothing_is_written_before_the_dial_succeeds_and_the_driver_is_told_once_per_batch() {
    let (mut ep, conn) = client(usize::MAX);
    rpc(&mut ep);
    assert_eq!(transmits(&events(&mut ep)), 0, "still dialling");
    let mut out = BytesMut::new();
    assert_eq!(ep.poll_transmit(conn, &mut out), 0, "still dialling");
    assert!(out.is_empty());

    ep.handle_connected(Instant::ZERO, conn);
    rpc(&mut ep);
    assert_eq!(
        transmits(&events(&mut ep)),
        1,
        "one signal for the handshake and both requests"
    );
    let queued = ep.queued_bytes();
    assert!(queued > 0);
    assert_eq!(ep.poll_transmit(conn, &mut out), queued);
    assert_eq!(ep.poll_transmit(conn, &mut out), 0, "nothing left");
    assert_eq!(transmits(&events(&mut ep)), 0);

    rpc(&mut ep);
    rpc(&mut ep);
    assert_eq!(transmits(&events(&mut ep)), 1, "signalled again once taken");
}

/// A one-way call that asks to hear of its write (`report_written`) is told once its
/// request has left whole, not when part of it has, and then finishes; the connection
/// then awaits no more writes.
#[test]
fn a_one_way_call_that_reports_writes_hears_once_its_request_is_written_whole() {
    let (mut ep, conn) = client(usize::MAX);
    let mut spec = CallSpec::new(
        CallKind::Multicast,
        "m",
        vec![NODE],
        Payload::Shared(Bytes::from_static(b"one way")),
    );
    spec.report_written = true;
    let call = ep.start_call(Instant::ZERO, spec).unwrap();
    assert!(sent(&call));
    ep.handle_connected(Instant::ZERO, conn);
    events(&mut ep);
    let mut out = BytesMut::new();
    let taken = ep.poll_transmit(conn, &mut out);
    assert!(taken > 1);
    assert!(
        ep.awaits_write(conn),
        "its request is among the bytes taken"
    );
    let of_call = |events: Vec<Event>| -> Vec<gorums_core::engine::CallEvent> {
        events
            .into_iter()
            .filter_map(|e| match e {
                Event::Call { call: id, event } if id == call.id => Some(event),
                _ => None,
            })
            .collect()
    };
    ep.handle_written(Instant::ZERO, conn, taken - 1);
    assert!(
        of_call(events(&mut ep)).is_empty(),
        "one byte is still to go"
    );
    assert!(ep.awaits_write(conn));
    ep.handle_written(Instant::ZERO, conn, 1);
    let told = of_call(events(&mut ep));
    assert!(
        matches!(
            &told[..],
            [
                gorums_core::engine::CallEvent::Written {
                    node: NODE,
                    result: Ok(())
                },
                gorums_core::engine::CallEvent::Finished(Ok(())),
            ]
        ),
        "{told:?}"
    );
    assert!(!ep.awaits_write(conn), "nothing more to report");
}

/// A call's deadline leaves the engine's timers with the call: once it is cancelled the
/// driver is not asked to wake for it.
#[test]
fn a_finished_call_leaves_no_timer_behind() {
    let (mut ep, conn) = client(usize::MAX);
    ep.handle_connected(Instant::ZERO, conn);
    events(&mut ep);
    // The connection's own timers (its hello's, say) may be set: the deadline comes
    // before them, so it is the next timer while the call lives.
    let before = ep.poll_timeout();
    let deadline = Instant::ZERO + std::time::Duration::from_micros(1);
    assert!(before.is_none_or(|t| t > deadline), "{before:?}");
    let mut spec = CallSpec::new(
        CallKind::Rpc,
        "m",
        vec![NODE],
        Payload::Shared(Bytes::from_static(b"x")),
    );
    spec.deadline = Some(deadline);
    let call = ep.start_call(Instant::ZERO, spec).unwrap();
    assert_eq!(ep.poll_timeout(), Some(deadline));
    ep.cancel(Instant::ZERO, call.id);
    assert_eq!(ep.poll_timeout(), before, "the deadline went with the call");
}

/// Only a call that asks for it makes the driver report writes: after a plain one-way
/// call (and a two-way one) are taken, the connection awaits none.
#[test]
fn calls_that_ask_for_no_write_report_leave_the_driver_none_to_make() {
    let (mut ep, conn) = client(usize::MAX);
    ep.handle_connected(Instant::ZERO, conn);
    for kind in [CallKind::Multicast, CallKind::Rpc] {
        let spec = CallSpec::new(
            kind,
            "m",
            vec![NODE],
            Payload::Shared(Bytes::from_static(b"x")),
        );
        assert!(sent(&ep.start_call(Instant::ZERO, spec).unwrap()));
    }
    let mut out = BytesMut::new();
    assert!(ep.poll_transmit(conn, &mut out) > 0);
    assert!(!ep.awaits_write(conn), "no caller waits for a write");
}

/// A quorum call's request is encoded once and its frame shared by the nodes' queues:
/// each queue is still bounded on its own, to the byte, and a call that does not fit
/// fails on every node with `SendQueueFull` and queues nothing.
#[test]
fn a_frame_shared_by_two_nodes_fills_each_queue_to_its_limit_exactly() {
    let two_nodes = |send_queue_limit| {
        let config = EndpointConfig {
            send_queue_limit,
            ..EndpointConfig::default()
        };
        let mut ep = Endpoint::new(config, Instant::ZERO);
        ep.add_node(Instant::ZERO, NodeId(1), "s1").unwrap();
        ep.add_node(Instant::ZERO, NodeId(2), "s2").unwrap();
        events(&mut ep);
        ep
    };
    let quorum_call = |ep: &mut Endpoint| {
        let spec = CallSpec::new(
            CallKind::QuorumCall,
            "m",
            vec![NodeId(1), NodeId(2)],
            Payload::Shared(Bytes::from_static(b"x")),
        );
        ep.start_call(Instant::ZERO, spec).unwrap()
    };
    let (handshake, frame) = {
        let mut ep = two_nodes(usize::MAX);
        let handshake = ep.queued_bytes() / 2;
        quorum_call(&mut ep);
        (handshake, (ep.queued_bytes() - 2 * handshake) / 2)
    };
    assert!(handshake > 0 && frame > 0);

    let mut ep = two_nodes(handshake + 3 * frame);
    for i in 0..3 {
        let call = quorum_call(&mut ep);
        assert!(sent(&call), "call {i}: {:?}", call.send_failures);
    }
    assert_eq!(ep.queued_bytes(), 2 * (handshake + 3 * frame));
    let over = quorum_call(&mut ep);
    let failed: Vec<(NodeId, FailureKind)> = over
        .send_failures
        .iter()
        .map(|e| (e.node, e.failure.kind()))
        .collect();
    assert_eq!(
        failed,
        [
            (NodeId(1), FailureKind::SendQueueFull),
            (NodeId(2), FailureKind::SendQueueFull)
        ]
    );
    assert_eq!(ep.queued_bytes(), 2 * (handshake + 3 * frame));
}
