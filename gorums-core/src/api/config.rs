//! [`Configuration`]: the set of nodes a call goes to, and [`Node`], one of them.

use std::sync::Arc;
use std::time::Duration;

use super::shared::{Handle, Inner, System};
use crate::engine::{
    ConfigError, FailureKind, NodeFailure, NodeId, NodeInfo, NodeSet, NodeStats, QuorumCallError,
};

/// The nodes to build a configuration from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeList {
    /// Addresses; ids are given in list order, starting one above the highest id the
    /// system already knows (1, 2, 3, ... for a fresh system). An address the system
    /// already knows keeps its id.
    Addrs(Vec<String>),
    /// Ids with their addresses, used as given.
    Map(Vec<(NodeId, String)>),
}

impl NodeList {
    /// A list of addresses.
    pub fn addrs<S: Into<String>>(addrs: impl IntoIterator<Item = S>) -> NodeList {
        NodeList::Addrs(addrs.into_iter().map(Into::into).collect())
    }

    /// A map of ids to addresses.
    pub fn map<S: Into<String>>(nodes: impl IntoIterator<Item = (u32, S)>) -> NodeList {
        NodeList::Map(
            nodes
                .into_iter()
                .map(|(id, a)| (NodeId(id), a.into()))
                .collect(),
        )
    }
}

impl NodeList {
    /// The ids of this list on a fresh system (addresses: 1, 2, 3, ... in list order; a
    /// map: as given), checked as [`System::configuration`] checks them: for
    /// [`SystemOptions::known_peers`](super::SystemOptions::known_peers).
    pub fn ids(&self) -> Result<Vec<NodeId>, ConfigError> {
        Ok(resolve(&[], self.clone())?
            .into_iter()
            .map(|(id, _)| id)
            .collect())
    }
}

/// Normalises an address so that `127.0.0.1:80` and ` 127.0.0.1:80 ` compare equal
/// (an IP address in canonical form; host names lower-cased).
fn normalise(addr: &str) -> String {
    let addr = addr.trim();
    match addr.parse::<std::net::SocketAddr>() {
        Ok(sock) => sock.to_string(),
        Err(_) => addr.to_ascii_lowercase(),
    }
}

/// A set of nodes that calls go to: immutable, ordered by node id, cheap to clone.
///
/// Every configuration of one [`System`] shares its connections; the set operations
/// build new configurations and never change this one.
#[derive(Clone)]
pub struct Configuration {
    pub(crate) inner: Arc<Inner>,
    pub(crate) keep: Option<Arc<Handle>>,
    pub(crate) set: NodeSet,
    pub(crate) timeout: Option<Duration>,
}

impl std::fmt::Debug for Configuration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Configuration{}", self.set)
    }
}

impl PartialEq for Configuration {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner) && self.set == other.set
    }
}

impl Configuration {
    pub(crate) fn from_ids(inner: Arc<Inner>, ids: Vec<NodeId>) -> Configuration {
        let set = NodeSet::empty()
            .extend(ids)
            .unwrap_or_else(|_| NodeSet::empty());
        let timeout = inner.options.call_timeout;
        Configuration {
            inner,
            keep: None,
            set,
            timeout,
        }
    }

    fn derive(&self, set: NodeSet) -> Configuration {
        Configuration {
            inner: self.inner.clone(),
            keep: self.keep.clone(),
            set,
            timeout: self.timeout,
        }
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// The quorum size of a majority, [`Quorum::Majority`](crate::quorum::Quorum) of
    /// this configuration: `n / 2 + 1`.
    pub fn majority(&self) -> usize {
        crate::quorum::Quorum::Majority.required(self.set.len())
    }

    /// The node ids, in order.
    pub fn ids(&self) -> &[NodeId] {
        self.set.nodes()
    }

    /// The nodes, in id order.
    pub fn nodes(&self) -> Vec<Node> {
        self.set.iter().map(|id| self.node_handle(id)).collect()
    }

    /// The node with `id`, if it is in this configuration.
    pub fn node(&self, id: NodeId) -> Option<Node> {
        self.set.contains(id).then(|| self.node_handle(id))
    }

    fn node_handle(&self, id: NodeId) -> Node {
        let addr = self
            .inner
            .lock()
            .ep
            .node_addr(id)
            .map(str::to_owned)
            .unwrap_or_default();
        Node {
            config: self.derive(
                NodeSet::empty()
                    .extend([id])
                    .unwrap_or_else(|_| NodeSet::empty()),
            ),
            id,
            addr,
        }
    }

    /// The same nodes with a default call deadline of `timeout` (from each call's start).
    pub fn with_timeout(&self, timeout: Duration) -> Configuration {
        Configuration {
            timeout: Some(timeout),
            ..self.clone()
        }
    }

    /// The system this configuration's connections belong to.
    pub fn system(&self) -> Option<System> {
        self.keep.clone().map(|handle| System { handle })
    }

    /// This configuration and `other`'s nodes.
    pub fn union(&self, other: &Configuration) -> Configuration {
        self.derive(self.set.union(&other.set))
    }

    /// This configuration without `other`'s nodes.
    pub fn difference(&self, other: &Configuration) -> Configuration {
        self.derive(self.set.difference(&other.set))
    }

    /// The nodes of this configuration that `keep` accepts.
    pub fn filter(&self, keep: impl Fn(&Node) -> bool) -> Configuration {
        let ids: Vec<NodeId> = self
            .nodes()
            .iter()
            .filter(|n| keep(n))
            .map(Node::id)
            .collect();
        let set = NodeSet::empty()
            .extend(ids)
            .unwrap_or_else(|_| NodeSet::empty());
        self.derive(set)
    }

    /// This configuration without node `id`.
    pub fn remove(&self, id: NodeId) -> Configuration {
        self.derive(self.set.remove(id))
    }

    /// This configuration without any of `ids`.
    pub fn without(&self, ids: impl IntoIterator<Item = NodeId>) -> Configuration {
        let gone: Vec<NodeId> = ids.into_iter().collect();
        self.filter(|n| !gone.contains(&n.id()))
    }

    /// Whether node `id` is in this configuration.
    pub fn contains(&self, id: NodeId) -> bool {
        self.set.contains(id)
    }

    /// This configuration with the nodes at `addrs` added: addresses the system knows
    /// keep their ids, new ones get the next ids and are dialled (as
    /// [`System::configuration`] does).
    pub fn extend_addrs<S: Into<String>>(
        &self,
        addrs: impl IntoIterator<Item = S>,
    ) -> Result<Configuration, ConfigError> {
        let ids = register(&self.inner, NodeList::addrs(addrs))?;
        self.extend(ids)
    }

    /// This configuration with nodes of the same system added by id (unknown ids are
    /// reached as anonymous clients or fail as not connected).
    pub fn extend(
        &self,
        ids: impl IntoIterator<Item = NodeId>,
    ) -> Result<Configuration, ConfigError> {
        let set = self.set.extend(ids)?;
        Ok(self.derive(set))
    }

    /// This configuration without the nodes that failed in `err` (only those failures of
    /// `kinds`, if any are given).
    pub fn without_errors(&self, err: &QuorumCallError, kinds: &[FailureKind]) -> Configuration {
        self.derive(self.set.without_errors(err, kinds))
    }

    /// The first `k` nodes in the order `cmp` asks, as a configuration (Go Gorums'
    /// `SortBy(cmp)[:k]`): say, the two fastest by latency.
    pub fn take_sorted(
        &self,
        k: usize,
        cmp: impl Fn(&NodeStats, &NodeStats) -> std::cmp::Ordering,
    ) -> Configuration {
        let ids: Vec<NodeId> = self.sort_by(cmp).iter().take(k).map(Node::id).collect();
        self.filter(|n| ids.contains(&n.id()))
    }

    /// The nodes in the order `cmp` asks (ties by id); the configuration is unchanged.
    /// Compose the comparators of [`engine`](crate::engine) (`by_latency`,
    /// `by_last_error`, ...) with `Ordering::then_with`.
    pub fn sort_by(&self, cmp: impl Fn(&NodeStats, &NodeStats) -> std::cmp::Ordering) -> Vec<Node> {
        let st = self.inner.lock();
        let order = self.set.sort_by(
            |id| stats_of(&st.ep.node_info(id).unwrap_or_default(), id),
            cmp,
        );
        drop(st);
        order.into_iter().map(|id| self.node_handle(id)).collect()
    }
}

fn stats_of(info: &NodeInfo, id: NodeId) -> NodeStats {
    NodeStats {
        id,
        latency: info.latency,
        last_error: info.last_error.as_ref().map(NodeFailure::kind),
    }
}

/// Resolves `nodes` against the system's address registry and registers (and dials)
/// those it does not know yet; returns their ids, in the order given.
pub(crate) fn register(inner: &Arc<Inner>, nodes: NodeList) -> Result<Vec<NodeId>, ConfigError> {
    inner.with(|st, now| {
        let resolved = resolve(&st.ep.node_addrs(), nodes)?;
        for (id, addr) in &resolved {
            if st.ep.node_addr(*id).is_none() {
                // Cannot fail: the id is new and not zero.
                let _ = st.ep.add_node(now, *id, addr.clone());
            }
        }
        Ok(resolved.into_iter().map(|(id, _)| id).collect())
    })
}

/// Gives ids to `nodes` against the addresses already `known` (in id order) and checks
/// them: no id 0, no id or address twice, no id known with another address.
pub(crate) fn resolve(
    known: &[(NodeId, &str)],
    nodes: NodeList,
) -> Result<Vec<(NodeId, String)>, ConfigError> {
    let mut next = known.last().map_or(1, |(id, _)| id.0 + 1);
    let list: Vec<(NodeId, String)> = match nodes {
        NodeList::Map(map) => map.into_iter().map(|(id, a)| (id, normalise(&a))).collect(),
        NodeList::Addrs(addrs) => addrs
            .iter()
            .map(|a| {
                let addr = normalise(a);
                let id = known
                    .iter()
                    .find(|(_, k)| *k == addr)
                    .map(|&(id, _)| id)
                    .unwrap_or_else(|| {
                        let id = NodeId(next);
                        next += 1;
                        id
                    });
                (id, addr)
            })
            .collect(),
    };
    if list.is_empty() {
        return Err(ConfigError::Empty);
    }
    let mut ids = std::collections::BTreeSet::new();
    let mut addrs = std::collections::BTreeSet::new();
    for (id, addr) in &list {
        if id.is_anonymous() {
            return Err(ConfigError::ReservedId);
        }
        if !ids.insert(*id) {
            return Err(ConfigError::DuplicateId(*id));
        }
        if !addrs.insert(addr.clone()) {
            return Err(ConfigError::DuplicateAddr(addr.clone()));
        }
        if let Some(&(_, k)) = known.iter().find(|(known_id, _)| known_id == id)
            && k != addr
        {
            return Err(ConfigError::Conflict {
                id: *id,
                known: k.to_owned(),
                given: addr.clone(),
            });
        }
    }
    Ok(list)
}

/// One node of a configuration: its id, address, state, and the calls that go to one
/// node (RPC and unicast).
#[derive(Clone, Debug)]
pub struct Node {
    pub(crate) config: Configuration,
    id: NodeId,
    addr: String,
}

impl Node {
    /// The node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The node's address (empty for an anonymous client).
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Connection, latency, last error and counters.
    pub fn info(&self) -> NodeInfo {
        self.config
            .inner
            .lock()
            .ep
            .node_info(self.id)
            .unwrap_or_default()
    }

    /// The latency estimate (EWMA of successful replies); `None` until measured.
    pub fn latency(&self) -> Option<Duration> {
        self.info().latency
    }

    /// The node's last failure.
    pub fn last_error(&self) -> Option<NodeFailure> {
        self.info().last_error
    }

    /// Whether a connection to the node is usable now.
    pub fn is_connected(&self) -> bool {
        self.info().connected
    }
}
