//! Node sets: the immutable sets of node ids a configuration is made of, and their
//! algebra. (The API's `Configuration` is a node set bound to a system's connections.)
//!
//! This module owns [`NodeSet`] (a sorted, duplicate-free, cheaply cloned set of
//! [`NodeId`]s with union, intersection, difference and friends), the [`ConfigError`]
//! its constructors fail with, and the node ordering helpers: [`NodeStats`] and the
//! comparators [`by_id`], [`by_latency`] and [`by_last_error`] that
//! [`NodeSet::sort_by`] takes. Every operation builds a new value; none changes
//! the configuration it is called on.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::{FailureKind, NodeId, QuorumCallError};

/// Why a [`NodeSet`] could not be built.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No node ids were given.
    #[error("a configuration needs at least one node")]
    Empty,
    /// Node id 0 was given; it is reserved for anonymous clients.
    #[error("node id 0 is reserved")]
    ReservedId,
    /// The same id was given more than once.
    #[error("node id {} is given twice", .0.0)]
    DuplicateId(NodeId),
    /// The same address was given more than once.
    #[error("address {0} is given twice")]
    DuplicateAddr(String),
    /// The id is already known with another address.
    #[error("node id {} is already {known}, not {given}", .id.0)]
    Conflict {
        /// The id.
        id: NodeId,
        /// Its known address.
        known: String,
        /// The address given now.
        given: String,
    },
}

/// An immutable set of nodes, always sorted by id and without duplicates.
///
/// Cloning is cheap (the ids are shared). Two configurations are equal, and hash alike,
/// exactly when they hold the same ids. The set operations ([`union`](Self::union),
/// [`intersection`](Self::intersection), [`difference`](Self::difference),
/// [`remove`](Self::remove), [`extend`](Self::extend),
/// [`without_errors`](Self::without_errors)) return new configurations and never change
/// `self`; their results may be empty even though [`new`](Self::new) rejects an empty
/// list.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct NodeSet {
    /// Sorted ascending, no duplicates, never containing [`NodeId::ANONYMOUS`].
    ids: Arc<[NodeId]>,
}

impl NodeSet {
    /// The ids, shared (a reference-count increment, no copy).
    pub fn shared_ids(&self) -> Arc<[NodeId]> {
        self.ids.clone()
    }

    /// A configuration of `ids`, in any order.
    ///
    /// Fails with [`ConfigError::Empty`] if no ids are given, else with
    /// [`ConfigError::ReservedId`] if id 0 is among them, else with
    /// [`ConfigError::DuplicateId`] naming the smallest id given more than once.
    pub fn new(ids: impl IntoIterator<Item = NodeId>) -> Result<NodeSet, ConfigError> {
        let mut ids: Vec<NodeId> = ids.into_iter().collect();
        if ids.is_empty() {
            return Err(ConfigError::Empty);
        }
        if ids.iter().any(|id| id.is_anonymous()) {
            return Err(ConfigError::ReservedId);
        }
        ids.sort_unstable();
        if let Some(pair) = ids.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(ConfigError::DuplicateId(pair[0]));
        }
        Ok(NodeSet::from_sorted(ids))
    }

    /// The configuration with no nodes.
    pub fn empty() -> NodeSet {
        NodeSet::from_sorted(Vec::new())
    }

    /// Wraps ids the caller has already sorted and deduplicated.
    fn from_sorted(ids: Vec<NodeId>) -> NodeSet {
        debug_assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
        NodeSet { ids: ids.into() }
    }

    /// The node ids, in id order.
    pub fn nodes(&self) -> &[NodeId] {
        &self.ids
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Whether `id` is one of the nodes.
    pub fn contains(&self, id: NodeId) -> bool {
        self.ids.binary_search(&id).is_ok()
    }

    /// The node ids, in id order.
    pub fn iter(&self) -> std::iter::Copied<std::slice::Iter<'_, NodeId>> {
        self.ids.iter().copied()
    }

    /// This configuration with `ids` added.
    ///
    /// Ids already present, or given more than once, are merged, not errors. Fails with
    /// [`ConfigError::ReservedId`] if id 0 is among `ids`.
    pub fn extend(&self, ids: impl IntoIterator<Item = NodeId>) -> Result<NodeSet, ConfigError> {
        let mut added: Vec<NodeId> = ids.into_iter().collect();
        if added.iter().any(|id| id.is_anonymous()) {
            return Err(ConfigError::ReservedId);
        }
        added.sort_unstable();
        added.dedup();
        Ok(NodeSet::from_sorted(merge(&self.ids, &added)))
    }

    /// The nodes in this configuration or in `other`.
    pub fn union(&self, other: &NodeSet) -> NodeSet {
        NodeSet::from_sorted(merge(&self.ids, &other.ids))
    }

    /// The nodes in both this configuration and `other`.
    pub fn intersection(&self, other: &NodeSet) -> NodeSet {
        self.retain(|id| other.contains(id))
    }

    /// The nodes in this configuration but not in `other`.
    pub fn difference(&self, other: &NodeSet) -> NodeSet {
        self.retain(|id| !other.contains(id))
    }

    /// This configuration without node `id` (unchanged if `id` is not a member).
    pub fn remove(&self, id: NodeId) -> NodeSet {
        self.retain(|member| member != id)
    }

    /// This configuration without the nodes that failed in `err`.
    ///
    /// With `kinds` empty every node listed in `err.node_errors` is removed; otherwise
    /// only those whose failure's [`kind`](super::NodeFailure::kind) is one of `kinds`
    /// (as Go Gorums' `WithoutErrors(err, types...)`). Failed nodes that are not members
    /// are ignored.
    pub fn without_errors(&self, err: &QuorumCallError, kinds: &[FailureKind]) -> NodeSet {
        let failed: Vec<NodeId> = err
            .node_errors
            .iter()
            .filter(|e| kinds.is_empty() || kinds.contains(&e.failure.kind()))
            .map(|e| e.node)
            .collect();
        self.retain(|id| !failed.contains(&id))
    }

    /// The nodes in the order `cmp` asks, given each node's `stats`; the configuration
    /// itself is unchanged.
    ///
    /// `stats` is asked once per node. Nodes `cmp` finds equal are ordered by id, so the
    /// result is deterministic. Compose the comparators of this module with
    /// [`Ordering::then_with`]:
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use gorums_core::engine::{
    ///     NodeSet, FailureKind, NodeId, NodeStats, by_last_error, by_latency,
    /// };
    ///
    /// let config = NodeSet::new([NodeId(1), NodeId(2), NodeId(3), NodeId(4)])?;
    /// let stats = |id: NodeId| NodeStats {
    ///     id,
    ///     latency: match id.0 {
    ///         1 => Some(Duration::from_millis(5)),
    ///         2 => Some(Duration::from_millis(20)),
    ///         3 => Some(Duration::from_millis(10)),
    ///         _ => None,
    ///     },
    ///     last_error: (id.0 == 1).then_some(FailureKind::ConnectionLost),
    /// };
    ///
    /// // Healthy nodes first, fastest first within each group, unmeasured last.
    /// let order = config.sort_by(stats, |a, b| {
    ///     by_last_error(a, b).then_with(|| by_latency(a, b))
    /// });
    /// assert_eq!(order, [NodeId(3), NodeId(2), NodeId(4), NodeId(1)]);
    /// assert_eq!(config.nodes(), [NodeId(1), NodeId(2), NodeId(3), NodeId(4)]);
    /// # Ok::<(), gorums_core::engine::ConfigError>(())
    /// ```
    pub fn sort_by(
        &self,
        stats: impl Fn(NodeId) -> NodeStats,
        cmp: impl Fn(&NodeStats, &NodeStats) -> Ordering,
    ) -> Vec<NodeId> {
        let mut keyed: Vec<(NodeId, NodeStats)> = self.iter().map(|id| (id, stats(id))).collect();
        keyed.sort_by(|(a_id, a), (b_id, b)| cmp(a, b).then_with(|| a_id.cmp(b_id)));
        keyed.into_iter().map(|(id, _)| id).collect()
    }

    /// The members `keep` accepts, in order.
    fn retain(&self, keep: impl Fn(NodeId) -> bool) -> NodeSet {
        NodeSet::from_sorted(self.iter().filter(|&id| keep(id)).collect())
    }
}

impl Default for NodeSet {
    /// The empty configuration.
    fn default() -> NodeSet {
        NodeSet::empty()
    }
}

impl<'a> IntoIterator for &'a NodeSet {
    type Item = NodeId;
    type IntoIter = std::iter::Copied<std::slice::Iter<'a, NodeId>>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl fmt::Display for NodeSet {
    /// The ids in order, as `{1, 2, 3}` (`{}` when empty).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, id) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}", id.0)?;
        }
        f.write_str("}")
    }
}

/// Merges two sorted, duplicate-free slices into one sorted, duplicate-free vector.
fn merge(a: &[NodeId], b: &[NodeId]) -> Vec<NodeId> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            Ordering::Less => {
                out.push(a[i]);
                i += 1;
            }
            Ordering::Greater => {
                out.push(b[j]);
                j += 1;
            }
            Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// What [`NodeSet::sort_by`] knows of a node when ordering it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NodeStats {
    /// The node.
    pub id: NodeId,
    /// Its latency estimate; `None` until measured.
    pub latency: Option<Duration>,
    /// The kind of its last failure, if any.
    pub last_error: Option<FailureKind>,
}

/// Orders nodes by id, lowest first.
pub fn by_id(a: &NodeStats, b: &NodeStats) -> Ordering {
    a.id.cmp(&b.id)
}

/// Orders nodes by latency, lowest first; unmeasured nodes (`latency: None`) come last
/// and are equal among themselves.
pub fn by_latency(a: &NodeStats, b: &NodeStats) -> Ordering {
    match (a.latency, b.latency) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// Orders nodes without a last error before nodes with one; nodes with errors are equal
/// among themselves whatever their kinds, as are nodes without.
pub fn by_last_error(a: &NodeStats, b: &NodeStats) -> Ordering {
    a.last_error.is_some().cmp(&b.last_error.is_some())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;
    use crate::engine::{Cause, ConnectionError, NodeError, NodeFailure};

    fn ids(raw: &[u32]) -> Vec<NodeId> {
        raw.iter().copied().map(NodeId).collect()
    }

    fn cfg(raw: &[u32]) -> NodeSet {
        NodeSet::new(ids(raw)).expect("valid configuration")
    }

    fn stats(id: u32, latency_ms: Option<u64>, last_error: Option<FailureKind>) -> NodeStats {
        NodeStats {
            id: NodeId(id),
            latency: latency_ms.map(Duration::from_millis),
            last_error,
        }
    }

    fn node_error(id: u32, failure: NodeFailure) -> NodeError {
        NodeError {
            node: NodeId(id),
            failure,
        }
    }

    #[test]
    fn new_sorts_and_accepts_valid_ids() {
        let c = cfg(&[3, 1, 2]);
        assert_eq!(c.nodes(), ids(&[1, 2, 3]).as_slice());
        assert_eq!(c.len(), 3);
        assert!(!c.is_empty());
        assert!(c.contains(NodeId(2)));
        assert!(!c.contains(NodeId(4)));
        assert_eq!(c.iter().collect::<Vec<_>>(), ids(&[1, 2, 3]));
        assert_eq!((&c).into_iter().count(), 3);
        assert_eq!(c.to_string(), "{1, 2, 3}");
    }

    #[test]
    fn new_rejects_empty_reserved_and_duplicates() {
        assert_eq!(NodeSet::new([]), Err(ConfigError::Empty));
        assert_eq!(NodeSet::new(ids(&[1, 0])), Err(ConfigError::ReservedId));
        assert_eq!(
            NodeSet::new(ids(&[5, 2, 5, 2, 7])),
            Err(ConfigError::DuplicateId(NodeId(2)))
        );
        // Reserved is reported before duplicates.
        assert_eq!(NodeSet::new(ids(&[0, 0])), Err(ConfigError::ReservedId));
    }

    #[test]
    fn errors_display_lower_case_without_period() {
        assert_eq!(
            ConfigError::Empty.to_string(),
            "a configuration needs at least one node"
        );
        assert_eq!(ConfigError::ReservedId.to_string(), "node id 0 is reserved");
        assert_eq!(
            ConfigError::DuplicateId(NodeId(4)).to_string(),
            "node id 4 is given twice"
        );
    }

    #[test]
    fn empty_behaviour() {
        let e = NodeSet::empty();
        assert!(e.is_empty());
        assert_eq!(e.len(), 0);
        assert_eq!(e.nodes(), &[] as &[NodeId]);
        assert_eq!(e.iter().count(), 0);
        assert_eq!(e.to_string(), "{}");
        assert_eq!(e, NodeSet::default());
        assert!(e.sort_by(|id| stats(id.0, None, None), by_id).is_empty());

        let c = cfg(&[1, 2]);
        assert_eq!(e.union(&c), c);
        assert_eq!(c.union(&e), c);
        assert_eq!(c.intersection(&e), e);
        assert_eq!(c.difference(&e), c);
        assert_eq!(e.difference(&c), e);
        assert_eq!(e.extend(ids(&[2, 1])), Ok(c.clone()));
        assert_eq!(e.remove(NodeId(1)), e);
        assert_eq!(c.remove(NodeId(1)).remove(NodeId(2)), e);
    }

    #[test]
    fn extend_merges_duplicates_and_rejects_reserved() {
        let c = cfg(&[1, 3]);
        assert_eq!(c.extend(ids(&[3, 2, 2, 5])), Ok(cfg(&[1, 2, 3, 5])));
        assert_eq!(c.extend([]), Ok(c.clone()));
        assert_eq!(c.extend(ids(&[2, 0])), Err(ConfigError::ReservedId));
    }

    #[test]
    fn operations_do_not_change_the_original() {
        let c = cfg(&[1, 2, 3, 4]);
        let before = c.clone();
        let other = cfg(&[3, 4, 5]);
        let err = QuorumCallError::new(
            Cause::Incomplete,
            vec![node_error(1, NodeFailure::SendQueueFull)],
        );

        assert_eq!(c.union(&other), cfg(&[1, 2, 3, 4, 5]));
        assert_eq!(c.intersection(&other), cfg(&[3, 4]));
        assert_eq!(c.difference(&other), cfg(&[1, 2]));
        assert_eq!(c.remove(NodeId(2)), cfg(&[1, 3, 4]));
        assert_eq!(c.extend(ids(&[9])), Ok(cfg(&[1, 2, 3, 4, 9])));
        assert_eq!(c.without_errors(&err, &[]), cfg(&[2, 3, 4]));
        let _ = c.sort_by(|id| stats(id.0, None, None), |a, b| by_id(b, a));

        assert_eq!(c, before);
        assert_eq!(c.nodes(), ids(&[1, 2, 3, 4]).as_slice());
        assert_eq!(other, cfg(&[3, 4, 5]));
    }

    #[test]
    fn without_errors_all_kinds() {
        let c = cfg(&[1, 2, 3, 4]);
        let err = QuorumCallError::new(
            Cause::Incomplete,
            vec![
                node_error(
                    3,
                    NodeFailure::ConnectionLost(ConnectionError::ClosedByPeer),
                ),
                node_error(1, NodeFailure::SendQueueFull),
                // Not a member: ignored.
                node_error(9, NodeFailure::NotConnected(None)),
            ],
        );
        assert_eq!(c.without_errors(&err, &[]), cfg(&[2, 4]));
    }

    #[test]
    fn without_errors_selected_kinds() {
        let c = cfg(&[1, 2, 3, 4]);
        let err = QuorumCallError::new(
            Cause::Incomplete,
            vec![
                node_error(1, NodeFailure::SendQueueFull),
                node_error(
                    3,
                    NodeFailure::ConnectionLost(ConnectionError::ClosedByPeer),
                ),
                node_error(4, NodeFailure::NotConnected(None)),
            ],
        );
        assert_eq!(
            c.without_errors(&err, &[FailureKind::ConnectionLost]),
            cfg(&[1, 2, 4])
        );
        assert_eq!(
            c.without_errors(
                &err,
                &[FailureKind::ConnectionLost, FailureKind::NotConnected]
            ),
            cfg(&[1, 2])
        );
        assert_eq!(c.without_errors(&err, &[FailureKind::InvalidReply]), c);
        let none = QuorumCallError::new(Cause::DeadlineExceeded, Vec::new());
        assert_eq!(c.without_errors(&none, &[]), c);
    }

    #[test]
    fn by_id_orders_by_id() {
        assert_eq!(
            by_id(&stats(1, None, None), &stats(2, Some(1), None)),
            Ordering::Less
        );
        assert_eq!(
            by_id(&stats(2, None, None), &stats(2, Some(1), None)),
            Ordering::Equal
        );
        let c = cfg(&[1, 2, 3]);
        let reversed = c.sort_by(|id| stats(id.0, None, None), |a, b| by_id(b, a));
        assert_eq!(reversed, ids(&[3, 2, 1]));
    }

    #[test]
    fn by_latency_puts_unmeasured_last() {
        let fast = stats(1, Some(5), None);
        let slow = stats(2, Some(50), None);
        let unmeasured = stats(3, None, None);
        assert_eq!(by_latency(&fast, &slow), Ordering::Less);
        assert_eq!(by_latency(&slow, &fast), Ordering::Greater);
        assert_eq!(by_latency(&slow, &unmeasured), Ordering::Less);
        assert_eq!(by_latency(&unmeasured, &fast), Ordering::Greater);
        assert_eq!(
            by_latency(&unmeasured, &stats(4, None, None)),
            Ordering::Equal
        );

        let c = cfg(&[1, 2, 3, 4, 5]);
        let latency = |id: NodeId| match id.0 {
            1 => stats(1, None, None),
            2 => stats(2, Some(30), None),
            3 => stats(3, Some(10), None),
            4 => stats(4, None, None),
            n => stats(n, Some(10), None),
        };
        // Ties (3 and 5; 1 and 4) are broken by id.
        assert_eq!(c.sort_by(latency, by_latency), ids(&[3, 5, 2, 1, 4]));
    }

    #[test]
    fn by_last_error_puts_healthy_first() {
        let healthy = stats(1, None, None);
        let failed = stats(2, Some(1), Some(FailureKind::Status));
        let other = stats(3, None, Some(FailureKind::Encode));
        assert_eq!(by_last_error(&healthy, &failed), Ordering::Less);
        assert_eq!(by_last_error(&failed, &healthy), Ordering::Greater);
        assert_eq!(by_last_error(&failed, &other), Ordering::Equal);
        assert_eq!(
            by_last_error(&healthy, &stats(4, None, None)),
            Ordering::Equal
        );
    }

    #[test]
    fn error_then_latency_composition() {
        let c = cfg(&[1, 2, 3, 4, 5]);
        let table = |id: NodeId| match id.0 {
            1 => stats(1, Some(1), Some(FailureKind::ConnectionLost)),
            2 => stats(2, Some(40), None),
            3 => stats(3, None, None),
            4 => stats(4, Some(20), None),
            n => stats(n, None, Some(FailureKind::Status)),
        };
        let order = c.sort_by(table, |a, b| {
            by_last_error(a, b).then_with(|| by_latency(a, b))
        });
        assert_eq!(order, ids(&[4, 2, 3, 1, 5]));
        assert_eq!(c.sort_by(table, by_latency), ids(&[1, 4, 2, 3, 5]));
    }

    fn id_set() -> impl Strategy<Value = BTreeSet<u32>> {
        prop::collection::btree_set(1u32..40, 0..25)
    }

    fn from_model(model: &BTreeSet<u32>) -> NodeSet {
        NodeSet::empty()
            .extend(model.iter().copied().map(NodeId))
            .expect("ids in 1..40")
    }

    fn to_model(c: &NodeSet) -> BTreeSet<u32> {
        c.iter().map(|id| id.0).collect()
    }

    fn strictly_sorted(c: &NodeSet) -> bool {
        c.nodes().windows(2).all(|pair| pair[0] < pair[1])
    }

    proptest! {
        #[test]
        fn operations_agree_with_model(a in id_set(), b in id_set(), id in 1u32..40) {
            let (ca, cb) = (from_model(&a), from_model(&b));
            let results = [
                (ca.union(&cb), a.union(&b).copied().collect::<BTreeSet<u32>>()),
                (ca.intersection(&cb), a.intersection(&b).copied().collect()),
                (ca.difference(&cb), a.difference(&b).copied().collect()),
                (ca.remove(NodeId(id)), a.iter().copied().filter(|&x| x != id).collect()),
            ];
            for (result, model) in results {
                prop_assert!(strictly_sorted(&result));
                prop_assert_eq!(to_model(&result), model.clone());
                prop_assert_eq!(result.len(), model.len());
            }
            prop_assert_eq!(ca.contains(NodeId(id)), a.contains(&id));
            prop_assert_eq!(to_model(&ca), a);
            prop_assert_eq!(to_model(&cb), b);
        }

        #[test]
        fn extend_agrees_with_model(a in id_set(), added in prop::collection::vec(1u32..40, 0..30)) {
            let ca = from_model(&a);
            let extended = ca.extend(added.iter().copied().map(NodeId)).expect("no reserved id");
            let mut model = a.clone();
            model.extend(added.iter().copied());
            prop_assert!(strictly_sorted(&extended));
            prop_assert_eq!(to_model(&extended), model);
            prop_assert_eq!(to_model(&ca), a);
        }

        #[test]
        fn new_agrees_with_model(raw in prop::collection::vec(0u32..40, 0..30)) {
            let model: BTreeSet<u32> = raw.iter().copied().collect();
            let result = NodeSet::new(raw.iter().copied().map(NodeId));
            if raw.is_empty() {
                prop_assert_eq!(result, Err(ConfigError::Empty));
            } else if model.contains(&0) {
                prop_assert_eq!(result, Err(ConfigError::ReservedId));
            } else if model.len() < raw.len() {
                let mut sorted = raw.clone();
                sorted.sort_unstable();
                let smallest_dup = sorted.windows(2).find(|p| p[0] == p[1]).map(|p| p[0]);
                prop_assert_eq!(result.err(), smallest_dup.map(|d| ConfigError::DuplicateId(NodeId(d))));
            } else {
                prop_assert_eq!(result.map(|c| to_model(&c)), Ok(model));
            }
        }

        #[test]
        fn union_is_commutative_and_associative(a in id_set(), b in id_set(), c in id_set()) {
            let (ca, cb, cc) = (from_model(&a), from_model(&b), from_model(&c));
            prop_assert_eq!(ca.union(&cb), cb.union(&ca));
            prop_assert_eq!(ca.union(&cb).union(&cc), ca.union(&cb.union(&cc)));
        }

        #[test]
        fn difference_laws(a in id_set(), b in id_set()) {
            let (ca, cb) = (from_model(&a), from_model(&b));
            // What the difference removed is the intersection; adding it back restores a.
            let removed = ca.intersection(&cb);
            prop_assert_eq!(ca.difference(&cb).union(&removed), ca.clone());
            prop_assert!(ca.difference(&ca).is_empty());
            prop_assert_eq!(ca.difference(&cb).intersection(&cb), NodeSet::empty());
            prop_assert_eq!(ca.intersection(&cb), cb.intersection(&ca));
        }

        #[test]
        fn sort_by_is_a_deterministic_permutation(a in id_set(), latencies in prop::collection::vec(prop::option::of(0u64..5), 40)) {
            let ca = from_model(&a);
            let table = |id: NodeId| stats(id.0, latencies[id.0 as usize], None);
            let order = ca.sort_by(table, by_latency);
            let mut sorted = order.clone();
            sorted.sort_unstable();
            prop_assert_eq!(sorted.as_slice(), ca.nodes());
            for pair in order.windows(2) {
                let (x, y) = (table(pair[0]), table(pair[1]));
                prop_assert!(by_latency(&x, &y).then_with(|| by_id(&x, &y)) == Ordering::Less);
            }
        }
    }
}
