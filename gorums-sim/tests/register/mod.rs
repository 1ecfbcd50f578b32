//! What the register tests (`abd.rs`, `leader.rs`) share: the timestamped value and
//! the empty message they send, and a run's history judged linearizable.

use gorums_sim::{History, Operation, RegisterOp, describe_operations, shortest_violation};

/// A timestamped value: ordered by (ts, writer).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Stamped {
    #[prost(uint64, tag = "1")]
    pub(crate) ts: u64,
    #[prost(uint64, tag = "2")]
    pub(crate) writer: u64,
    #[prost(uint64, tag = "3")]
    pub(crate) value: u64,
}

impl Stamped {
    pub(crate) fn key(&self) -> (u64, u64) {
        (self.ts, self.writer)
    }
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Empty {}

/// One run: its history and its event hash.
pub(crate) struct Run {
    pub(crate) history: History,
    pub(crate) hash: u64,
}

/// `Ok` if the run's history is linearizable, else why not: a shortest part of the
/// history that shows it.
pub(crate) fn linearizable(run: &Run) -> Result<(), String> {
    let ops = run.history.operations();
    match shortest_violation(&ops, 0) {
        None => Ok(()),
        Some(witness) => Err(format!(
            "not linearizable: {} of its {} operations show it:\n{}",
            witness.len(),
            ops.len(),
            describe_operations(&witness)
        )),
    }
}

/// What a register run reached that makes its check worth something, as `sometimes`
/// goals: (a read overlapped a write, a write never returned, a read returned a value
/// whose write had not returned yet).
pub(crate) fn contested(ops: &[Operation]) -> (bool, bool, bool) {
    let writes = || ops.iter().filter(|o| matches!(o.op, RegisterOp::Write(_)));
    let reads = || {
        ops.iter().filter_map(|o| match (o.op, o.ret) {
            (RegisterOp::Read(Some(v)), Some(ret)) => Some((o.invoke, ret, v)),
            _ => None,
        })
    };
    let overlapped = reads().any(|(invoke, ret, _)| {
        writes().any(|w| w.invoke < ret && w.ret.is_none_or(|r| r > invoke))
    });
    let unfinished = writes().any(|w| w.ret.is_none());
    let read_early = reads().any(|(_, ret, v)| {
        writes().any(|w| w.op == RegisterOp::Write(v) && w.ret.is_none_or(|r| r > ret))
    });
    (overlapped, unfinished, read_early)
}
