//! What the register tests (`abd.rs`, `leader.rs`) share: the timestamped value and
//! the empty message they send, and a run's history judged linearizable.

use gorums_sim::{History, check_register};

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

/// `Ok` if the run's history is linearizable, else why not.
pub(crate) fn linearizable(run: &Run) -> Result<(), String> {
    let ops = run.history.operations();
    if check_register(&ops, 0).is_ok() {
        Ok(())
    } else {
        Err(format!(
            "not linearizable ({} operations): {ops:?}",
            ops.len()
        ))
    }
}
