//! What one `handle_bytes` allocates for a connection still in its handshake, measured
//! with a counting allocator: a flood of bytes in one read is taken in pieces that keep
//! the connection's decoder within its hold limit, even for a moment.

#![allow(clippy::unwrap_used, unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use gorums_core::engine::{Endpoint, EndpointConfig, Event, Instant, NodeId};
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
