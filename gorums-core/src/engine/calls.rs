//! [`Calls`]: the client calls in flight: their ids, each node's share, the routing of
//! every reply to its share, and the one place a share is settled.
//!
//! Costs are what a call or connection owns: settling a share is O(log n) at most,
//! finishing or cancelling a call O(shares log n), and closing a connection touches only
//! the shares waiting on it (an index by connection), never a scan of all calls. The
//! hash maps have a fixed hasher, so their order never depends on a random seed; where
//! order shows (the shares failed by a closing connection) it is call order.

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use smallvec::SmallVec;

use super::conn::FrameSeq;
use super::outputs::Outputs;
use super::stats::NodeStatsTable;
use super::timers::Timer;
use super::{
    CallEvent, CallId, CallKind, Cause, Code, ConnId, Event, Instant, NodeError, NodeFailure,
    NodeId, QuorumCallError, Status,
};
use crate::wire::proto::{self, Kind};

/// One node's share of a call.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Share {
    /// Waiting for the node's reply (or its first stream item) on `conn`; `frame` is
    /// where the request sits in that connection's send queue (`None` in-process).
    Waiting {
        conn: ConnId,
        frame: Option<FrameSeq>,
    },
    /// A correctable call's node has sent items and may send more on `conn`.
    Streaming(ConnId),
    /// The node has answered or failed.
    Done,
}

/// How a [`Share`] is stored: the node, the share's state and its fields side by side,
/// 24 bytes where a `(NodeId, Share)` takes 40, so that a call's shares fit inline in
/// less room (a call in flight sits in [`CallTable`] for its whole life).
#[derive(Clone, Copy, Debug)]
struct ShareEntry {
    node: NodeId,
    state: ShareState,
    /// The connection of a waiting or streaming share (unused once done).
    conn: ConnId,
    /// Where the request sits in the send queue, for [`ShareState::Queued`] only.
    frame: FrameSeq,
}

/// Which [`Share`] a [`ShareEntry`] holds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ShareState {
    /// `Share::Waiting` with no frame (in-process).
    Waiting,
    /// `Share::Waiting` with its frame.
    Queued,
    Streaming,
    Done,
}

impl ShareEntry {
    fn new(node: NodeId, share: Share) -> ShareEntry {
        let (state, conn, frame) = match share {
            Share::Waiting { conn, frame: None } => {
                (ShareState::Waiting, conn, FrameSeq::default())
            }
            Share::Waiting {
                conn,
                frame: Some(frame),
            } => (ShareState::Queued, conn, frame),
            Share::Streaming(conn) => (ShareState::Streaming, conn, FrameSeq::default()),
            Share::Done => (ShareState::Done, ConnId(0), FrameSeq::default()),
        };
        ShareEntry {
            node,
            state,
            conn,
            frame,
        }
    }

    fn share(self) -> Share {
        match self.state {
            ShareState::Waiting => Share::Waiting {
                conn: self.conn,
                frame: None,
            },
            ShareState::Queued => Share::Waiting {
                conn: self.conn,
                frame: Some(self.frame),
            },
            ShareState::Streaming => Share::Streaming(self.conn),
            ShareState::Done => Share::Done,
        }
    }

    fn set(&mut self, share: Share) {
        *self = ShareEntry::new(self.node, share);
    }
}

impl Share {
    fn conn(self) -> Option<ConnId> {
        match self {
            Share::Waiting { conn, .. } | Share::Streaming(conn) => Some(conn),
            Share::Done => None,
        }
    }
}

/// How a node's share ends, or moves on.
#[derive(Debug)]
pub(crate) enum ShareOutcome {
    /// The node's one reply (a plain call).
    Reply(Bytes),
    /// One item of the node's reply stream (a correctable call).
    Item(Bytes),
    /// The node's stream ended.
    End,
    /// The node's request was written (a one-way call that reports it).
    Written,
    /// The node failed.
    Failed(NodeFailure),
}

impl ShareOutcome {
    /// What a reply message of `kind` means for a share (`streaming`: of a correctable
    /// call): one outcome, or an item and the end (a one-item stream); `None` when the
    /// message does not fit the call (dropped and counted).
    pub(crate) fn of_reply(
        streaming: bool,
        kind: Kind,
        msg: proto::Message,
    ) -> Option<SmallVec<[ShareOutcome; 2]>> {
        let status = msg
            .status
            .filter(|s| s.code != 0)
            .map(|s| NodeFailure::Status(Status::new(Code::from_i32(s.code), s.message)));
        let outcomes: SmallVec<[ShareOutcome; 2]> = match (streaming, kind, status) {
            (_, _, Some(failure)) => smallvec::smallvec![ShareOutcome::Failed(failure)],
            (false, Kind::Reply, None) => smallvec::smallvec![ShareOutcome::Reply(msg.payload)],
            (true, Kind::StreamItem, None) => smallvec::smallvec![ShareOutcome::Item(msg.payload)],
            (true, Kind::Reply, None) => {
                smallvec::smallvec![ShareOutcome::Item(msg.payload), ShareOutcome::End]
            }
            (true, Kind::StreamEnd, None) => smallvec::smallvec![ShareOutcome::End],
            _ => return None,
        };
        Some(outcomes)
    }
}

/// The shares a [`Call`] holds without an allocation: configurations of up to five
/// nodes, the usual quorum systems (3 and 5 nodes, 4 for Byzantine ones).
const INLINE_SHARES: usize = 5;

/// The engine's state of one two-way call (or one-way call that reports when written).
#[derive(Debug)]
pub(crate) struct Call {
    kind: CallKind,
    /// Shares not yet done (a `u32` beside `kind`: it fills their padding).
    waiting: u32,
    started: Instant,
    /// The deadline, if `has_deadline`: a flag beside `kind` and `waiting` costs no
    /// room, where an `Option<Instant>` takes 16 bytes.
    deadline: Instant,
    has_deadline: bool,
    /// Each node's share, sorted by node id; inline for up to [`INLINE_SHARES`] nodes,
    /// so a call allocates nothing for them. More inline would cost every call in flight
    /// the room whether it uses it or not.
    shares: SmallVec<[ShareEntry; INLINE_SHARES]>,
    /// The nodes that failed, boxed: most calls have none, and an empty `Vec` inline
    /// would cost every call in flight 24 bytes.
    // The box is the point: one pointer inline instead of a `Vec`'s three words.
    #[allow(clippy::box_collection)]
    errors: Option<Box<Vec<NodeError>>>,
}

impl Call {
    /// A call started at `started`, with no shares yet.
    pub(crate) fn new(kind: CallKind, started: Instant, deadline: Option<Instant>) -> Call {
        Call {
            kind,
            started,
            deadline: deadline.unwrap_or(Instant::ZERO),
            has_deadline: deadline.is_some(),
            shares: SmallVec::new(),
            waiting: 0,
            errors: None,
        }
    }

    /// Records the nodes the call could not be sent to (they are not shares).
    pub(crate) fn record_failures(&mut self, failures: &[NodeError]) {
        if !failures.is_empty() {
            self.errors().extend_from_slice(failures);
        }
    }

    fn errors(&mut self) -> &mut Vec<NodeError> {
        self.errors.get_or_insert_with(Box::default)
    }

    fn deadline(&self) -> Option<Instant> {
        self.has_deadline.then_some(self.deadline)
    }

    /// Adds a share waiting on `conn`; nodes come in id order.
    pub(crate) fn wait_for(&mut self, node: NodeId, conn: ConnId, frame: Option<FrameSeq>) {
        debug_assert!(self.shares.last().is_none_or(|last| last.node < node));
        self.shares
            .push(ShareEntry::new(node, Share::Waiting { conn, frame }));
        self.waiting += 1;
    }

    fn share(&self, node: NodeId) -> Option<(usize, Share)> {
        let i = self.shares.binary_search_by_key(&node, |e| e.node).ok()?;
        Some((i, self.shares[i].share()))
    }

    fn streaming(&self) -> bool {
        self.kind == CallKind::Correctable
    }

    /// The frames of shares still waiting, by connection (for a cancel to take back).
    pub(crate) fn queued_frames(&self) -> impl Iterator<Item = (ConnId, FrameSeq)> + '_ {
        self.shares.iter().filter_map(|entry| match entry.share() {
            Share::Waiting {
                conn,
                frame: Some(frame),
            } => Some((conn, frame)),
            _ => None,
        })
    }
}

/// A hash map whose order is fixed by its history alone (no random seed).
type FixedMap<K, V> = hashbrown::HashMap<K, V, foldhash::fast::FixedState>;

fn fixed_map<K, V>() -> FixedMap<K, V> {
    FixedMap::with_hasher(foldhash::fast::FixedState::with_seed(0))
}

/// The calls in flight, side by side in chunks of [`SLOT_CHUNK`] slots whose freed slots
/// are reused, found by id through a map of slot numbers.
///
/// Why not a map of the calls themselves: a hash map holds 1.1 to 2.3 times the room of
/// its entries (its load factor, and the tombstones that removed calls leave make it
/// double early), and for a moment twice that while it grows, so each call in flight
/// cost up to 2.6 times its size (1.2 KB at 100 000 in flight). Here the calls' room
/// grows like a `Vec` (grown in place by `realloc`, when the allocator can), and only the
/// map of 16-byte entries pays the hash map's overhead. The room grows a chunk at a time,
/// not by doubling: a `Vec` of 100 000 calls would hold room for 131 072, and while it
/// moved, old and new room both (25 MB at the peak of 100 000 in flight, not 16 MB).
/// Slots are reused last freed first, an order fixed by the calls' history alone.
#[derive(Debug)]
struct CallTable {
    /// Every chunk but the last holds [`SLOT_CHUNK`] slots; the first grows as a `Vec`
    /// does up to that, so a few calls cost a few slots.
    slots: Vec<Vec<Option<Call>>>,
    free: Vec<usize>,
    index: FixedMap<CallId, usize>,
}

impl CallTable {
    fn new() -> CallTable {
        CallTable {
            slots: Vec::new(),
            free: Vec::new(),
            index: fixed_map(),
        }
    }

    fn len(&self) -> usize {
        self.index.len()
    }

    fn slot(&self, slot: usize) -> Option<&Option<Call>> {
        self.slots.get(slot / SLOT_CHUNK)?.get(slot % SLOT_CHUNK)
    }

    fn slot_mut(&mut self, slot: usize) -> Option<&mut Option<Call>> {
        self.slots
            .get_mut(slot / SLOT_CHUNK)?
            .get_mut(slot % SLOT_CHUNK)
    }

    fn get(&self, id: &CallId) -> Option<&Call> {
        let &slot = self.index.get(id)?;
        self.slot(slot)?.as_ref()
    }

    fn get_mut(&mut self, id: &CallId) -> Option<&mut Call> {
        let &slot = self.index.get(id)?;
        self.slot_mut(slot)?.as_mut()
    }

    /// Stores `call` in a free slot, or a new one; returns its number.
    fn store(&mut self, call: Call) -> usize {
        if let Some(slot) = self.free.pop()
            && let Some(free) = self.slot_mut(slot)
        {
            *free = Some(call);
            return slot;
        }
        if self
            .slots
            .last()
            .is_none_or(|chunk| chunk.len() == SLOT_CHUNK)
        {
            let room = if self.slots.is_empty() { 0 } else { SLOT_CHUNK };
            self.slots.push(Vec::with_capacity(room));
        }
        let chunks = self.slots.len();
        let last = &mut self.slots[chunks - 1];
        last.push(Some(call));
        (chunks - 1) * SLOT_CHUNK + last.len() - 1
    }

    /// Stores `call` under `id` (a fresh id: ids are never reused).
    fn insert(&mut self, id: CallId, call: Call) {
        let slot = self.store(call);
        if let Some(old) = self.index.insert(id, slot) {
            // Not reached (ids are fresh); if it were, the old call's slot is freed
            // rather than leaked.
            if let Some(stale) = self.slot_mut(old) {
                *stale = None;
            }
            self.free.push(old);
        }
    }

    fn remove(&mut self, id: &CallId) -> Option<Call> {
        let slot = self.index.remove(id)?;
        let call = self.slot_mut(slot)?.take();
        self.free.push(slot);
        call
    }
}

/// The slots of a [`CallTable`] chunk: 160 KB of calls, so the room past the calls in
/// flight is at most one chunk.
const SLOT_CHUNK: usize = 1024;

/// The calls with a share waiting on one connection (all of them shares of one node: a
/// connection goes to one peer).
///
/// A sorted set, not a hash map: 8-byte entries in nodes about two-thirds full (about
/// 12 bytes per share), where a hash map of call and node held 44 bytes per share at
/// its peak (its load factor, and both tables while it grows), and the order is the
/// call order a closing connection fails them in.
#[derive(Debug)]
struct Waiting {
    node: NodeId,
    calls: BTreeSet<CallId>,
}

/// Every two-way call in flight, and the one-way calls waiting to be written.
#[derive(Debug)]
pub(crate) struct Calls {
    next_call: u64,
    calls: CallTable,
    /// The shares waiting on each connection, and their nodes: closing one touches only
    /// these.
    by_conn: FixedMap<ConnId, Waiting>,
}

impl Calls {
    pub(crate) fn new() -> Calls {
        Calls {
            next_call: 1,
            calls: CallTable::new(),
            by_conn: fixed_map(),
        }
    }

    fn index(&mut self, conn: ConnId, call: CallId, node: NodeId) {
        let waiting = self.by_conn.entry(conn).or_insert_with(|| Waiting {
            node,
            calls: BTreeSet::new(),
        });
        debug_assert_eq!(waiting.node, node, "a connection carries one node's shares");
        waiting.calls.insert(call);
    }

    fn unindex(&mut self, conn: ConnId, call: CallId) {
        // An emptied index stays until its connection goes.
        if let Some(waiting) = self.by_conn.get_mut(&conn) {
            waiting.calls.remove(&call);
        }
    }

    /// Forgets the index of a connection that is gone (its shares settled already).
    pub(crate) fn forget_conn(&mut self, conn: ConnId) {
        self.by_conn.remove(&conn);
    }

    /// The id the next call gets.
    pub(crate) fn next_id(&mut self) -> CallId {
        let id = CallId(self.next_call);
        self.next_call += 1;
        id
    }

    pub(crate) fn len(&self) -> usize {
        self.calls.len()
    }

    /// Starts tracking `call`; its deadline is set. Returns whether it is already over
    /// (no share to wait for).
    pub(crate) fn insert(&mut self, id: CallId, call: Call, out: &mut Outputs) -> bool {
        for entry in &call.shares {
            if let Some(conn) = entry.share().conn() {
                self.index(conn, id, entry.node);
            }
        }
        if let Some(deadline) = call.deadline() {
            out.timers.set(deadline, Timer::CallDeadline(id));
        }
        let over = call.waiting == 0;
        self.calls.insert(id, call);
        over
    }

    /// Whether a reply from `node` on `conn` answers a share of `call` still open, and
    /// whether that call streams.
    pub(crate) fn expects(&self, call: CallId, node: NodeId, conn: ConnId) -> Option<bool> {
        let state = self.calls.get(&call)?;
        // A one-way call expects no reply: a message with its id is the peer's mistake.
        if !state.kind.is_two_way() {
            return None;
        }
        let (_, share) = state.share(node)?;
        (share.conn() == Some(conn)).then_some(state.streaming())
    }

    /// The shares waiting on `conn`, in call order.
    pub(crate) fn waiting_on(&self, conn: ConnId) -> Vec<(CallId, NodeId)> {
        self.by_conn
            .get(&conn)
            .map(|w| w.calls.iter().map(|&call| (call, w.node)).collect())
            .unwrap_or_default()
    }

    /// Settles `node`'s share of `call` with `outcome`: records it, counts it in the
    /// node's stats and reports it. Returns whether the call has no share left open (the
    /// caller then finishes it).
    pub(crate) fn settle_share(
        &mut self,
        now: Instant,
        call: CallId,
        node: NodeId,
        outcome: ShareOutcome,
        stats: &mut NodeStatsTable,
        out: &mut Outputs,
    ) -> bool {
        let Some(state) = self.calls.get_mut(&call) else {
            return false;
        };
        let Some((i, share)) = state.share(node) else {
            return false;
        };
        let Some(conn) = share.conn() else {
            return false;
        };
        let elapsed: Duration = now - state.started;
        let event = match outcome {
            ShareOutcome::Item(payload) => {
                if let Share::Waiting { .. } = share {
                    state.shares[i].set(Share::Streaming(conn));
                    stats.replied(node, elapsed);
                }
                out.push(Event::Call {
                    call,
                    event: CallEvent::Item { node, payload },
                });
                return false;
            }
            ShareOutcome::Reply(payload) => {
                stats.replied(node, elapsed);
                CallEvent::Reply {
                    node,
                    result: Ok(payload),
                }
            }
            ShareOutcome::End => CallEvent::End {
                node,
                result: Ok(()),
            },
            ShareOutcome::Written => CallEvent::Written {
                node,
                result: Ok(()),
            },
            ShareOutcome::Failed(failure) => {
                stats.failed(node, &failure);
                state.errors().push(NodeError {
                    node,
                    failure: failure.clone(),
                });
                if state.streaming() {
                    CallEvent::End {
                        node,
                        result: Err(failure),
                    }
                } else if !state.kind.is_two_way() {
                    CallEvent::Written {
                        node,
                        result: Err(failure),
                    }
                } else {
                    CallEvent::Reply {
                        node,
                        result: Err(failure),
                    }
                }
            }
        };
        state.shares[i].set(Share::Done);
        state.waiting -= 1;
        let over = state.waiting == 0;
        out.push(Event::Call { call, event });
        self.unindex(conn, call);
        over
    }

    /// Ends `call` and reports how: `Ok` when every node has answered or failed, the
    /// cause otherwise (with every node error seen).
    pub(crate) fn finish(&mut self, call: CallId, outcome: Result<(), Cause>, out: &mut Outputs) {
        let Some(state) = self.forget(call, out) else {
            return;
        };
        let result = outcome.map_err(|cause| {
            let mut errors = state.errors.map(|e| *e).unwrap_or_default();
            if cause == Cause::DeadlineExceeded {
                // The nodes still owing their reply are named too: a stalled node is
                // why the deadline passed, and the caller should see which one.
                let stalled = state.shares.iter().filter_map(|entry| {
                    matches!(entry.share(), Share::Waiting { .. }).then_some(NodeError {
                        node: entry.node,
                        failure: NodeFailure::NoReply,
                    })
                });
                errors.extend(stalled);
            }
            QuorumCallError::new(cause, errors)
        });
        out.push(Event::Call {
            call,
            event: CallEvent::Finished(result),
        });
    }

    /// Stops tracking `call` without a word: its deadline is cleared and its shares
    /// leave the connection index. Returns its state (a cancel takes back its frames).
    pub(crate) fn forget(&mut self, call: CallId, out: &mut Outputs) -> Option<Call> {
        let state = self.calls.remove(&call)?;
        if let Some(deadline) = state.deadline() {
            out.timers.clear(deadline, Timer::CallDeadline(call));
        }
        for entry in &state.shares {
            if let Some(conn) = entry.share().conn() {
                self.unindex(conn, call);
            }
        }
        Some(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> Call {
        Call::new(CallKind::QuorumCall, Instant::ZERO, None)
    }

    /// Across chunks, with slots freed and reused: every call is found by its id, and
    /// the room stays within a chunk of the most calls held at once.
    #[test]
    fn the_call_table_finds_every_call_across_chunks() {
        let mut table = CallTable::new();
        let ids: Vec<CallId> = (1..=3 * SLOT_CHUNK as u64 + 5).map(CallId).collect();
        for &id in &ids {
            table.insert(id, call());
        }
        for id in ids.iter().step_by(2) {
            assert!(table.remove(id).is_some());
            assert!(table.remove(id).is_none(), "removed once");
        }
        let again: Vec<CallId> = (10_000..10_000 + ids.len() as u64 / 2)
            .map(CallId)
            .collect();
        for &id in &again {
            table.insert(id, call());
        }
        for id in ids.iter().skip(1).step_by(2).chain(&again) {
            assert!(table.get(id).is_some(), "{id:?} is held");
            assert!(table.get_mut(id).is_some());
        }
        assert_eq!(table.len(), ids.len() / 2 + again.len());
        let room: usize = table.slots.iter().map(Vec::capacity).sum();
        assert!(
            room < ids.len() + SLOT_CHUNK,
            "{room} slots for {} calls",
            ids.len()
        );
        assert!(table.get(&CallId(1)).is_none());
    }
}
