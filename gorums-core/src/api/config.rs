//! [`Configuration`]: the set of nodes a call goes to, and [`Node`], one of them.

use std::sync::Arc;
use std::time::Duration;

use super::system::{Handle, Inner, System, SystemOptions};
use crate::engine::{self, FailureKind, NodeFailure, NodeId, NodeInfo, NodeStats, QuorumCallError};
use crate::runtime::RuntimeHandle;

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

/// Why a configuration could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No nodes were given.
    #[error("a configuration needs at least one node")]
    Empty,
    /// Node id 0 is reserved for anonymous clients.
    #[error("node id 0 is reserved")]
    ReservedId,
    /// The same id appears twice.
    #[error("node id {0} is given twice")]
    DuplicateId(u32),
    /// The same address appears twice.
    #[error("address {0} is given twice")]
    DuplicateAddr(String),
    /// The id is already known with another address.
    #[error("node id {id} is already {known}, not {given}")]
    Conflict {
        /// The id.
        id: u32,
        /// Its known address.
        known: String,
        /// The address given now.
        given: String,
    },
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
    keep: Option<Arc<Handle>>,
    pub(crate) set: engine::Configuration,
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
    /// Connects to `nodes` as an anonymous client on `runtime` (a new [`System`] with
    /// `options`) and returns their configuration.
    pub fn new(
        runtime: RuntimeHandle,
        nodes: NodeList,
        options: SystemOptions,
    ) -> Result<Configuration, ConfigError> {
        System::new(runtime, options).configuration(nodes)
    }

    pub(crate) fn from_ids(inner: Arc<Inner>, ids: Vec<NodeId>) -> Configuration {
        let set = engine::Configuration::empty()
            .extend(ids)
            .unwrap_or_else(|_| engine::Configuration::empty());
        let timeout = inner.options.call_timeout;
        Configuration {
            inner,
            keep: None,
            set,
            timeout,
        }
    }

    fn derive(&self, set: engine::Configuration) -> Configuration {
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

    /// The quorum size of a majority: `n / 2 + 1`.
    pub fn majority(&self) -> usize {
        self.set.len() / 2 + 1
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
            .known
            .get(&id)
            .cloned()
            .unwrap_or_default();
        Node {
            config: self.derive(
                engine::Configuration::empty()
                    .extend([id])
                    .unwrap_or_else(|_| engine::Configuration::empty()),
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
        let set = engine::Configuration::empty()
            .extend(ids)
            .unwrap_or_else(|_| engine::Configuration::empty());
        self.derive(set)
    }

    /// This configuration without node `id`.
    pub fn remove(&self, id: NodeId) -> Configuration {
        self.derive(self.set.remove(id))
    }

    /// This configuration with nodes of the same system added by id (unknown ids are
    /// reached as anonymous clients or fail as not connected).
    pub fn extend(
        &self,
        ids: impl IntoIterator<Item = NodeId>,
    ) -> Result<Configuration, ConfigError> {
        let set = self.set.extend(ids).map_err(|_| ConfigError::ReservedId)?;
        Ok(self.derive(set))
    }

    /// This configuration without the nodes that failed in `err` (only those failures of
    /// `kinds`, if any are given).
    pub fn without_errors(&self, err: &QuorumCallError, kinds: &[FailureKind]) -> Configuration {
        self.derive(self.set.without_errors(err, kinds))
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

impl System {
    /// A configuration of `nodes`, dialling those this system does not know yet. This
    /// system's own id, if listed, is served in-process (no socket).
    pub fn configuration(&self, nodes: NodeList) -> Result<Configuration, ConfigError> {
        let inner = self.inner().clone();
        let ids = inner.with(|st, now| {
            let resolved = resolve(&st.known, nodes)?;
            for (id, addr) in &resolved {
                if st.known.contains_key(id) {
                    continue;
                }
                st.known.insert(*id, addr.clone());
                if *id != inner.options.node_id {
                    // Cannot fail: the id is new and not zero.
                    let _ = st.ep.add_node(now, *id, addr.clone());
                }
            }
            Ok::<_, ConfigError>(resolved.into_iter().map(|(id, _)| id).collect::<Vec<_>>())
        })?;
        let mut config = Configuration::from_ids(inner, ids);
        config.keep = Some(self.handle.clone());
        Ok(config)
    }
}

fn resolve(
    known: &std::collections::BTreeMap<NodeId, String>,
    nodes: NodeList,
) -> Result<Vec<(NodeId, String)>, ConfigError> {
    let mut next = known.keys().next_back().map_or(1, |id| id.0 + 1);
    let list: Vec<(NodeId, String)> = match nodes {
        NodeList::Map(map) => map.into_iter().map(|(id, a)| (id, normalise(&a))).collect(),
        NodeList::Addrs(addrs) => addrs
            .iter()
            .map(|a| {
                let addr = normalise(a);
                let id = known
                    .iter()
                    .find(|(_, k)| **k == addr)
                    .map(|(&id, _)| id)
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
            return Err(ConfigError::DuplicateId(id.0));
        }
        if !addrs.insert(addr.clone()) {
            return Err(ConfigError::DuplicateAddr(addr.clone()));
        }
        if let Some(k) = known.get(id)
            && k != addr
        {
            return Err(ConfigError::Conflict {
                id: id.0,
                known: k.clone(),
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
