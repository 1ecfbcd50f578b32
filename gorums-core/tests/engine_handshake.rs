//! Before a peer's hello is accepted, a connection holds little: its first frame is
//! limited to `max_handshake_frame_len`, its decoder to `handshake_hold_limit` bytes,
//! and at most `max_handshaking` accepted connections are in their handshake at once.

#![allow(clippy::unwrap_used)]

mod support;

use bytes::{Bytes, BytesMut};
use gorums_core::engine::{
    CallKind, CallSpec, ConnId, ConnectionError, Endpoint, EndpointConfig, Event, NodeId, Payload,
};
use gorums_core::wire::{self, WireError, proto};
use support::World;

const MIB: usize = 1024 * 1024;

/// A server (id 1) and a client connected to it; returns the world and both indices.
fn pair(config: EndpointConfig) -> (World, usize, usize) {
    let mut w = World::new();
    let server = w.add_with(
        EndpointConfig {
            node_id: NodeId(1),
            ..config
        },
        "s1",
    );
    let client = w.add(0, "client");
    w.connect(client, &[server]);
    (w, server, client)
}

/// The preface and a frame header announcing a body of `len` bytes.
fn preface_and_header(len: usize) -> Vec<u8> {
    let mut bytes = wire::PREFACE.to_vec();
    bytes.extend_from_slice(&u32::try_from(len).unwrap().to_be_bytes());
    bytes
}

/// The reason `conn` was closed, among the events `ep` has for the driver.
fn close_reason(ep: &mut Endpoint, conn: ConnId) -> Option<ConnectionError> {
    let mut reason = None;
    while let Some(e) = ep.poll_event() {
        if let Event::Close { conn: c, reason: r } = e
            && c == conn
        {
            reason = Some(r);
        }
    }
    reason
}

/// An RPC from the client to the server succeeds (the server answers it).
fn rpc_succeeds(w: &mut World, server: usize, client: usize, payload: Bytes) {
    let now = w.now;
    let spec = CallSpec::new(
        CallKind::Rpc,
        "test.Svc.Method",
        vec![NodeId(1)],
        Payload::Shared(payload),
    );
    let started = w.ep(client).start_call(now, spec).unwrap();
    assert!(
        started.send_failures.is_empty(),
        "{:?}",
        started.send_failures
    );
    w.drive();
    let requests = w.requests(server);
    assert_eq!(requests.len(), 1, "the server got the request");
    let now = w.now;
    for r in requests {
        w.ep(server)
            .respond(now, r.id, Ok(Bytes::from_static(b"ok")))
            .unwrap();
    }
    w.drive();
    let events = w.call_events(client, started.id);
    assert!(
        events.iter().any(|e| matches!(
            e,
            gorums_core::engine::CallEvent::Reply { result: Ok(_), .. }
        )),
        "{events:?}"
    );
}

#[test]
fn a_first_frame_announcing_4_mib_is_refused_before_its_body_is_buffered() {
    let (mut w, server, client) = pair(EndpointConfig::default());
    let now = w.now;
    let bad = w.ep(server).handle_accepted(now, "attacker");
    let mut bytes = preface_and_header(4 * MIB);
    bytes.resize(bytes.len() + MIB, 0xab);
    w.ep(server).handle_bytes(now, bad, &bytes);
    let reason = close_reason(w.ep(server), bad).expect("the connection is closed");
    assert_eq!(
        reason,
        ConnectionError::Wire(WireError::FrameTooLarge {
            len: 4 * MIB,
            max: 64 * 1024
        })
    );
    assert_eq!(w.ep(server).handshake_bytes(), 0);
    assert_eq!(w.ep(server).handshaking(), 0);
    rpc_succeeds(&mut w, server, client, Bytes::from_static(b"req"));
}

#[test]
fn a_slow_large_first_frame_holds_at_most_the_hold_limit() {
    let (mut w, server, _client) = pair(EndpointConfig::default());
    let limit = w.procs[server].config.handshake_hold_limit();
    let now = w.now;
    let slow = w.ep(server).handle_accepted(now, "slow");
    let max = w.procs[server].config.max_handshake_frame_len;
    w.ep(server)
        .handle_bytes(now, slow, &preface_and_header(max));
    let mut most = 0;
    // The body, minus its last byte, a few KiB at a time, then more bytes in one piece
    // than the frame needs: the frame completes (and fails as a hello), the rest is
    // never buffered.
    for _ in 0..(max - 1) / 3000 {
        w.ep(server).handle_bytes(now, slow, &[7u8; 3000]);
        most = most.max(w.ep(server).handshake_bytes());
    }
    assert!(most > max / 2, "the body is held while it arrives: {most}");
    assert!(most <= limit, "{most} > {limit}");
    assert!(close_reason(w.ep(server), slow).is_none());
    w.ep(server).handle_bytes(now, slow, &vec![7u8; 4 * MIB]);
    let reason = close_reason(w.ep(server), slow).expect("the garbage hello closes it");
    assert!(
        matches!(reason, ConnectionError::Wire(WireError::Undecodable { .. })),
        "{reason}"
    );
    assert_eq!(w.ep(server).handshake_bytes(), 0);
}

#[test]
fn connections_past_max_handshaking_are_refused_and_the_held_bytes_stay_under_the_bound() {
    let config = EndpointConfig {
        max_handshaking: 4,
        ..EndpointConfig::default()
    };
    let bound = config.handshake_memory_bound();
    let (mut w, server, client) = pair(config);
    let now = w.now;
    let conns: Vec<ConnId> = (0..6)
        .map(|i| w.ep(server).handle_accepted(now, format!("flood{i}")))
        .collect();
    let mut refused = Vec::new();
    while let Some(e) = w.ep(server).poll_event() {
        if let Event::Close { conn, reason } = e {
            refused.push((conn, reason));
        }
    }
    let limit = ConnectionError::TooManyHandshakes { limit: 4 };
    assert_eq!(
        refused,
        vec![(conns[4], limit.clone()), (conns[5], limit.clone())]
    );
    assert!(limit.to_string().contains("4 connections"), "{limit}");
    let max = w.procs[server].config.max_handshake_frame_len;
    for &conn in &conns[..4] {
        w.ep(server)
            .handle_bytes(now, conn, &preface_and_header(max));
        w.ep(server).handle_bytes(now, conn, &vec![1u8; max - 10]);
    }
    let held = w.ep(server).handshake_bytes();
    assert!(held > 4 * (max - 10), "{held}");
    assert!(held <= bound, "{held} > {bound}");
    assert_eq!(w.ep(server).handshaking(), 4);
    // Calls on the authenticated connection go on meanwhile, with frames far over the
    // handshake limit.
    rpc_succeeds(&mut w, server, client, Bytes::from(vec![3u8; MIB]));
    // A finished handshake frees a place: the next connection is taken.
    let mut hello = BytesMut::new();
    wire::encode_preface(&mut hello);
    let h = proto::Hello {
        protocol_version: u32::from(wire::PROTOCOL_VERSION),
        ..proto::Hello::default()
    };
    wire::encode_frame(&h, usize::MAX, &mut hello).unwrap();
    let now = w.now;
    let good = w.ep(server).handle_accepted(now, "late");
    assert_eq!(close_reason(w.ep(server), good), Some(limit));
    w.ep(server)
        .handle_closed(now, conns[0], ConnectionError::ClosedByPeer);
    let good = w.ep(server).handle_accepted(now, "late");
    w.ep(server).handle_bytes(now, good, &hello);
    assert_eq!(close_reason(w.ep(server), good), None);
    assert!(
        w.ep(server).peer_of(good).is_some(),
        "its hello was accepted"
    );
    assert_eq!(w.ep(server).handshaking(), 3);
}

#[test]
fn the_handshake_frame_limit_is_configurable() {
    let config = EndpointConfig {
        max_handshake_frame_len: 100,
        ..EndpointConfig::default()
    };
    assert_eq!(config.handshake_hold_limit(), 112);
    let (mut w, server, _client) = pair(config);
    let now = w.now;
    let conn = w.ep(server).handle_accepted(now, "peer");
    w.ep(server)
        .handle_bytes(now, conn, &preface_and_header(101));
    assert_eq!(
        close_reason(w.ep(server), conn),
        Some(ConnectionError::Wire(WireError::FrameTooLarge {
            len: 101,
            max: 100
        }))
    );
}
