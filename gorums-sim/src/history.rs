//! A history of register operations as clients saw them (one register, or a key-value
//! map of them): when each was invoked, when (and with what) it returned. The
//! linearizability checker reads it.

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
    ops: Recorder<()>,
}

impl History {
    /// An empty history.
    pub fn new() -> History {
        History::default()
    }

    /// Records that `client` invoked `op` at `at`.
    pub fn invoke(&self, client: u64, op: RegisterOp, at: Duration) -> OpId {
        self.ops.invoke((), client, op, at)
    }

    /// Records that a write returned at `at`.
    pub fn write_ok(&self, id: OpId, at: Duration) {
        self.ops.write_ok(id, at);
    }

    /// Records that a read returned `value` at `at`.
    pub fn read_ok(&self, id: OpId, value: u64, at: Duration) {
        self.ops.read_ok(id, value, at);
    }

    /// Every operation so far, in invocation order.
    pub fn operations(&self) -> Vec<Operation> {
        self.ops.lock().iter().map(|(_, o)| *o).collect()
    }

    /// How many operations returned.
    pub fn completed(&self) -> usize {
        self.ops.completed()
    }
}

/// A recorder for a key-value map: a [`History`] whose every operation names the key it
/// reads or writes (each key a register of its own, checked by
/// [`check_kv`](crate::check_kv)). Cheap to clone; every clone records into the same
/// history.
#[derive(Clone, Debug)]
pub struct KvHistory<K> {
    ops: Recorder<K>,
}

impl<K> Default for KvHistory<K> {
    fn default() -> KvHistory<K> {
        KvHistory {
            ops: Recorder::default(),
        }
    }
}

impl<K: Clone> KvHistory<K> {
    /// An empty history.
    pub fn new() -> KvHistory<K> {
        KvHistory::default()
    }

    /// Records that `client` invoked `op` on `key` at `at`.
    pub fn invoke(&self, client: u64, key: K, op: RegisterOp, at: Duration) -> OpId {
        self.ops.invoke(key, client, op, at)
    }

    /// Records that a write returned at `at`.
    pub fn write_ok(&self, id: OpId, at: Duration) {
        self.ops.write_ok(id, at);
    }

    /// Records that a read returned `value` at `at`.
    pub fn read_ok(&self, id: OpId, value: u64, at: Duration) {
        self.ops.read_ok(id, value, at);
    }

    /// Every operation so far with its key, in invocation order.
    pub fn operations(&self) -> Vec<(K, Operation)> {
        self.ops.lock().clone()
    }

    /// How many operations returned.
    pub fn completed(&self) -> usize {
        self.ops.completed()
    }
}

/// The shared, locked list both recorders keep: each operation beside its key.
#[derive(Debug)]
struct Recorder<K> {
    ops: Arc<Mutex<Vec<(K, Operation)>>>,
}

impl<K> Clone for Recorder<K> {
    fn clone(&self) -> Recorder<K> {
        Recorder {
            ops: self.ops.clone(),
        }
    }
}

impl<K> Default for Recorder<K> {
    fn default() -> Recorder<K> {
        Recorder {
            ops: Arc::default(),
        }
    }
}

impl<K> Recorder<K> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(K, Operation)>> {
        self.ops.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn invoke(&self, key: K, client: u64, op: RegisterOp, at: Duration) -> OpId {
        let mut ops = self.lock();
        ops.push((
            key,
            Operation {
                client,
                op,
                invoke: nanos(at),
                ret: None,
            },
        ));
        OpId(ops.len() - 1)
    }

    fn write_ok(&self, id: OpId, at: Duration) {
        if let Some((_, op)) = self.lock().get_mut(id.0) {
            op.ret = Some(nanos(at));
        }
    }

    fn read_ok(&self, id: OpId, value: u64, at: Duration) {
        if let Some((_, op)) = self.lock().get_mut(id.0) {
            op.ret = Some(nanos(at));
            op.op = RegisterOp::Read(Some(value));
        }
    }

    fn completed(&self) -> usize {
        self.lock().iter().filter(|(_, o)| o.ret.is_some()).count()
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
