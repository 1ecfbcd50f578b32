//! [`Timers`]: every deadline the engine waits for, in one ordered set.

use std::collections::BTreeSet;

use super::{CallId, ConnId, Instant, NodeId};

/// What a deadline is for.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) enum Timer {
    /// A call gives up (`DeadlineExceeded`).
    CallDeadline(CallId),
    /// A connect or handshake gives up.
    OpenDeadline(ConnId),
    /// A node is dialled again after its backoff.
    Redial(NodeId),
}

/// Deadlines ordered by time, then by what they are for (so equal instants fire in a
/// fixed order). Setting and clearing one is O(log n).
#[derive(Debug, Default)]
pub(crate) struct Timers(BTreeSet<(Instant, Timer)>);

impl Timers {
    pub(crate) fn set(&mut self, at: Instant, timer: Timer) {
        self.0.insert((at, timer));
    }

    pub(crate) fn clear(&mut self, at: Instant, timer: Timer) {
        self.0.remove(&(at, timer));
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.0.first().map(|&(at, _)| at)
    }

    /// Takes the earliest timer due at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, Timer)> {
        let &(at, _) = self.0.first()?;
        if at > now {
            return None;
        }
        self.0.pop_first()
    }
}
