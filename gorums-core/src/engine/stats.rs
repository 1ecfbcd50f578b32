//! [`NodeInfo`]: what the engine counts and estimates per node (latency EWMA, last
//! error, counters), kept in one table.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{NodeFailure, NodeId};

/// A node's state as the engine sees it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeInfo {
    /// Whether a connection to the node is usable now.
    pub connected: bool,
    /// The latency estimate: an EWMA (smoothing 0.2) of successful replies' round trips;
    /// `None` until the first.
    pub latency: Option<Duration>,
    /// The node's last failure, if any.
    pub last_error: Option<NodeFailure>,
    /// Requests enqueued for it.
    pub sent: u64,
    /// Successful replies (or first stream items) from it.
    pub replied: u64,
    /// Call shares it failed.
    pub failed: u64,
    /// Replies from it that matched no waiting call (late, duplicate or unknown) and
    /// were dropped.
    pub dropped: u64,
}

/// Every node's [`NodeInfo`], by id.
#[derive(Debug, Default)]
pub(crate) struct NodeStatsTable(BTreeMap<NodeId, NodeInfo>);

impl NodeStatsTable {
    pub(crate) fn get(&self, node: NodeId) -> Option<&NodeInfo> {
        self.0.get(&node)
    }

    /// Makes sure `node` has an entry (all zero).
    pub(crate) fn track(&mut self, node: NodeId) {
        self.0.entry(node).or_default();
    }

    /// Drops `node`'s entry: for an anonymous client gone, whose id is never given out
    /// again (else every client that ever connected would keep an entry).
    pub(crate) fn forget(&mut self, node: NodeId) {
        self.0.remove(&node);
    }

    pub(crate) fn sent(&mut self, node: NodeId) {
        self.0.entry(node).or_default().sent += 1;
    }

    pub(crate) fn dropped(&mut self, node: NodeId) {
        self.0.entry(node).or_default().dropped += 1;
    }

    /// Counts a failed share and remembers it as the node's last error.
    pub(crate) fn failed(&mut self, node: NodeId, failure: &NodeFailure) {
        let info = self.0.entry(node).or_default();
        info.failed += 1;
        info.last_error = Some(failure.clone());
    }

    /// Remembers a connection failure as the node's last error (no share failed).
    pub(crate) fn last_error(&mut self, node: NodeId, failure: NodeFailure) {
        self.0.entry(node).or_default().last_error = Some(failure);
    }

    /// Counts a successful reply from `node` and folds its round trip into the latency
    /// estimate (EWMA, smoothing 0.2).
    pub(crate) fn replied(&mut self, node: NodeId, sample: Duration) {
        let info = self.0.entry(node).or_default();
        info.replied += 1;
        info.latency = Some(match info.latency {
            None => sample,
            // 0.8 old + 0.2 sample, in integer nanoseconds (no float conversion per reply).
            Some(old) => {
                let nanos = (old.as_nanos() * 4 + sample.as_nanos()) / 5;
                Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
            }
        });
    }
}
