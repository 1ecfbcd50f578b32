//! A history of register operations as clients saw them: when each was invoked, when
//! (and with what) it returned. The linearizability checker reads it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A register operation and, for a read, the value it returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterOp {
    /// Writes the value.
    Write(u64),
    /// Reads; `Some(value)` once it returned, `None` while pending or if it failed.
    Read(Option<u64>),
}

/// One client operation: invocation and (if it returned) response, in nanoseconds of
/// one clock common to all clients (an unskewed process's clock, or [`Sim::now`](crate::Sim::now)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Operation {
    /// The client that made it.
    pub client: u64,
    /// What it did.
    pub op: RegisterOp,
    /// When it was invoked.
    pub invoke: u64,
    /// When it returned; `None` if it never did (a failed or cut-off operation: a
    /// write may or may not have taken effect, a read is ignored).
    pub ret: Option<u64>,
}

/// Identifies an operation in a [`History`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpId(pub usize);

/// A recorder of invocations and responses, shared by every client of a run (cheap to
/// clone; every clone records into the same history).
#[derive(Clone, Debug, Default)]
pub struct History {
    ops: Arc<Mutex<Vec<Operation>>>,
}

impl History {
    /// An empty history.
    pub fn new() -> History {
        History::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Operation>> {
        self.ops.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that `client` invoked `op` at `at`.
    pub fn invoke(&self, client: u64, op: RegisterOp, at: Duration) -> OpId {
        let mut ops = self.lock();
        ops.push(Operation {
            client,
            op,
            invoke: nanos(at),
            ret: None,
        });
        OpId(ops.len() - 1)
    }

    /// Records that a write returned at `at`.
    pub fn write_ok(&self, id: OpId, at: Duration) {
        if let Some(op) = self.lock().get_mut(id.0) {
            op.ret = Some(nanos(at));
        }
    }

    /// Records that a read returned `value` at `at`.
    pub fn read_ok(&self, id: OpId, value: u64, at: Duration) {
        if let Some(op) = self.lock().get_mut(id.0) {
            op.ret = Some(nanos(at));
            op.op = RegisterOp::Read(Some(value));
        }
    }

    /// Every operation so far, in invocation order.
    pub fn operations(&self) -> Vec<Operation> {
        self.lock().clone()
    }

    /// How many operations returned.
    pub fn completed(&self) -> usize {
        self.lock().iter().filter(|o| o.ret.is_some()).count()
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
