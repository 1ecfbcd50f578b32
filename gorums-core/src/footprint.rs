//! What one call in flight holds in the structures it lives in, as upper bounds: a
//! regression guard for memory per call in flight (`gorums-bench --sweep-in-flight`).
//! Each of these is held by every call in flight for most of its life, so a field
//! added inline costs every one of them; put what few calls use behind a `Box`.

use std::mem::size_of;

use crate::api::Responses;
use crate::api::shared::CallSlot;
use crate::engine::calls::Call;
use crate::wire::proto::Message;

/// The caller's handle: a configuration, where the call is, and a box for extras.
#[test]
fn a_calls_handle_stays_small() {
    let size = size_of::<Responses<Message>>();
    assert!(
        size <= 152,
        "Responses is {size} B (was 512 before its extras were boxed)"
    );
}

/// The API's slot of a call: its events, not inline (they come late and go soon), and
/// its waker.
#[test]
fn a_calls_slot_stays_small() {
    let size = size_of::<CallSlot>();
    assert!(
        size <= 48,
        "CallSlot is {size} B (was 280 with four events inline)"
    );
}

/// The engine's state of a call: up to five shares inline, 24 B each, and its node
/// errors boxed.
#[test]
fn the_engines_call_state_stays_small() {
    let size = size_of::<Call>();
    assert!(
        size <= 160,
        "Call is {size} B (was 296 with seven 40 B shares inline)"
    );
}
