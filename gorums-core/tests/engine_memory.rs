//! What the engine allocates, measured with a counting allocator: a flood of bytes in
//! one read before the hello is taken in pieces that keep the connection's decoder
//! within its hold limit, even for a moment; a call to several nodes holds its request
//! once, not once per node; calls that end leave no memory behind.

#![allow(clippy::unwrap_used, unsafe_code)]

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::Bytes;
use gorums_core::engine::{
    CallKind, CallSpec, Endpoint, EndpointConfig, Event, Instant, NodeId, Payload,
};
use gorums_core::wire;

/// Counts this thread's live heap bytes and their peak (tests run on threads of their
/// own, so others' allocations do not count).
struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded to the system allocator unchanged; the counters are
// const-initialised thread locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.with(|l| {
            l.set(l.get() + layout.size());
            l.get()
        });
        PEAK.with(|p| p.set(p.get().max(live)));
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.with(|l| l.set(l.get().saturating_sub(layout.size())));
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

#[test]
fn a_4_mib_read_before_the_hello_never_buffers_more_than_the_hold_limit() {
    let config = EndpointConfig {
        node_id: NodeId(1),
        ..EndpointConfig::default()
    };
    let limit = config.handshake_hold_limit();
    let mut ep = Endpoint::new(config, Instant::ZERO);
    let conn = ep.handle_accepted(Instant::ZERO, "attacker");
    // The preface, a frame header announcing a body just under the limit, and 4 MiB:
    // as if one read had returned all of it.
    let mut bytes = wire::PREFACE.to_vec();
    let len = u32::try_from(limit - 100).unwrap();
    bytes.extend_from_slice(&len.to_be_bytes());
    bytes.resize(4 * 1024 * 1024, 0xab);
    let before = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(before));
    ep.handle_bytes(Instant::ZERO, conn, &bytes);
    let grew = PEAK.with(Cell::get) - before;
    assert!(
        grew < limit + 16 * 1024,
        "one handle_bytes allocated {grew} bytes at its peak (hold limit {limit})"
    );
    let closed = std::iter::from_fn(|| ep.poll_event())
        .any(|e| matches!(e, Event::Close { conn: c, .. } if c == conn));
    assert!(closed, "the garbage hello closes the connection");
}

/// 1 000 calls to three nodes with a 1 KiB request, queued while the nodes are still
/// being dialled: the request's frame is encoded once and shared by the three send
/// queues, so the calls hold about 1 KiB each, not 3 KiB.
#[test]
fn a_call_to_three_nodes_holds_its_request_once() {
    const CALLS: usize = 1000;
    const PAYLOAD: usize = 1024;
    let mut ep = Endpoint::new(EndpointConfig::default(), Instant::ZERO);
    let nodes = [NodeId(1), NodeId(2), NodeId(3)];
    for (i, &node) in nodes.iter().enumerate() {
        ep.add_node(Instant::ZERO, node, format!("s{i}")).unwrap();
    }
    while ep.poll_event().is_some() {}
    let payload = Bytes::from(vec![7u8; PAYLOAD]);
    let before = LIVE.with(Cell::get);
    for _ in 0..CALLS {
        let spec = CallSpec::new(
            CallKind::QuorumCall,
            "m",
            nodes.to_vec(),
            Payload::Shared(payload.clone()),
        );
        let started = ep.start_call(Instant::ZERO, spec).unwrap();
        assert!(started.send_failures.is_empty());
    }
    let per_call = (LIVE.with(Cell::get) - before) / CALLS;
    assert!(
        per_call < PAYLOAD * 3 / 2,
        "each call holds {per_call} B for its {PAYLOAD} B request to three nodes"
    );
    let queued = ep.queued_bytes();
    assert!(
        queued >= 3 * CALLS * PAYLOAD,
        "every node's queue holds every request ({queued} B queued)"
    );
}

/// Three servers (ids 1 to 3) and an anonymous client connected to them all: the
/// world, the client's index and the servers'.
fn three_nodes_and_a_client() -> (support::World, usize, Vec<usize>) {
    let mut w = support::World::new();
    let servers: Vec<usize> = (1..=3).map(|id| w.add(id, &format!("s{id}"))).collect();
    let client = w.add(0, "client");
    w.connect(client, &servers);
    (w, client, servers)
}

/// A long-lived client must not grow with the calls it has made: rounds of 2 000 quorum
/// calls to three connected nodes, each met by two replies and finished, the third
/// node's reply arriving late, and each round leaves the heap where the one before it
/// left it (the first round sets the tables' room).
#[test]
fn calls_that_end_leave_no_memory_behind() {
    const CALLS: usize = 2000;
    let (mut w, client, servers) = three_nodes_and_a_client();
    // One sender's requests are handed out one at a time: answer until none is left.
    let answer = |w: &mut support::World, server: usize| {
        let now = w.now;
        loop {
            let requests = w.requests(server);
            if requests.is_empty() {
                break;
            }
            for req in requests {
                w.ep(server).respond(now, req.id, Ok(Bytes::new())).unwrap();
            }
            w.drive();
        }
    };
    let round = |w: &mut support::World| {
        let now = w.now;
        let calls: Vec<_> = (0..CALLS)
            .map(|_| {
                let spec = CallSpec::new(
                    CallKind::QuorumCall,
                    "m",
                    vec![NodeId(1), NodeId(2), NodeId(3)],
                    Payload::Shared(Bytes::from_static(b"req")),
                );
                w.ep(client).start_call(now, spec).unwrap().id
            })
            .collect();
        w.drive();
        answer(w, servers[0]);
        answer(w, servers[1]);
        for call in calls {
            w.ep(client).finish(now, call);
        }
        answer(w, servers[2]);
        w.procs[client].log.clear();
        w.procs[client].log.shrink_to_fit();
        assert_eq!(w.ep(client).live_calls(), 0);
        LIVE.with(Cell::get)
    };
    round(&mut w);
    round(&mut w);
    let after_one = round(&mut w);
    let after_two = round(&mut w);
    let after_three = round(&mut w);
    let grew = after_three.saturating_sub(after_one);
    assert!(
        grew < 4 * 1024,
        "two more rounds of {CALLS} calls left {grew} B behind (live: {after_one}, {after_two}, {after_three})"
    );
}

/// Nor with the connections it has had: rounds of a quorum call answered by three nodes,
/// then node 1's connection lost and dialled again, leave the heap where the first rounds
/// left it. (The server saw a new anonymous client each time, whose counters it once
/// kept for good: about 180 B for every connection a client ever made.)
#[test]
fn connections_that_close_leave_no_memory_behind() {
    const ROUNDS: usize = 150;
    let (mut w, client, servers) = three_nodes_and_a_client();
    let round = |w: &mut support::World| {
        let now = w.now;
        let spec = CallSpec::new(
            CallKind::QuorumCall,
            "m",
            vec![NodeId(1), NodeId(2), NodeId(3)],
            Payload::Shared(Bytes::from_static(b"req")),
        );
        w.ep(client).start_call(now, spec).unwrap();
        w.drive();
        for &server in &servers {
            for req in w.requests(server) {
                w.ep(server).respond(now, req.id, Ok(Bytes::new())).unwrap();
            }
        }
        w.drive();
        w.sever(client, servers[0]);
        w.advance(std::time::Duration::from_secs(10));
        for p in 0..w.procs.len() {
            w.procs[p].log.clear();
            w.procs[p].log.shrink_to_fit();
        }
        assert_eq!(w.ep(client).live_calls(), 0);
        LIVE.with(Cell::get)
    };
    // Room for every reading first: a growing `Vec` here would count as growth.
    let mut live = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        live.push(round(&mut w));
    }
    let (settled, last) = (live[ROUNDS / 3], live[ROUNDS - 1]);
    let grew = last.saturating_sub(settled);
    assert!(
        grew < 2 * 1024,
        "{} more reconnects left {grew} B behind (live: {settled}, then {last})",
        ROUNDS - 1 - ROUNDS / 3
    );
}
