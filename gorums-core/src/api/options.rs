//! [`SystemOptions`]: how a system connects, what it announces, and its default call
//! deadline.

use std::time::Duration;

use super::identity::IdentityRule;
use crate::engine::{EndpointConfig, NodeId};
use crate::wire::proto::MetadataEntry;

/// How a [`System`](super::System) connects and what it announces; every field has a
/// default.
///
/// ```
/// use std::time::Duration;
/// use gorums_core::api::{NodeId, SystemOptions};
///
/// let mut options = SystemOptions::with_id(NodeId(1));
/// options.endpoint.connect_timeout = Duration::from_millis(500);
/// options.call_timeout = Some(Duration::from_secs(1));
/// ```
#[derive(Clone, Debug, Default)]
pub struct SystemOptions {
    /// The engine's settings: this process's node id (0, the default, for an anonymous
    /// client), the hello metadata, frame and send-queue limits, connect timeout,
    /// redial backoff and the seed of its random choices.
    pub endpoint: EndpointConfig,
    /// The default deadline of calls made through configurations of this system
    /// (`None`: no deadline).
    pub call_timeout: Option<Duration>,
    /// Record client and server metrics through the `metrics` facade (off by default:
    /// no cost then). The application installs the recorder; the names and labels are
    /// listed in the `metrics` module docs of gorums-core's API.
    pub metrics: bool,
    /// How the node ids of peers that dial this system are bound to their certificates
    /// (mutual TLS; `None`, the default: the id a hello claims is trusted as sent).
    pub identity: Option<IdentityRule>,
}

impl SystemOptions {
    /// Default options for a process with node id `id`.
    pub fn with_id(id: NodeId) -> SystemOptions {
        SystemOptions {
            endpoint: EndpointConfig {
                node_id: id,
                ..EndpointConfig::default()
            },
            call_timeout: None,
            metrics: false,
            identity: None,
        }
    }

    /// These options with a hello metadata entry added (the peer's connect callback
    /// sees it).
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> SystemOptions {
        self.endpoint.metadata.push(MetadataEntry {
            key: key.into(),
            value: value.into(),
        });
        self
    }

    /// These options with `peers` declared as the known peers (Go Gorums'
    /// `WithConfig(myID, nodes)`; ids from a node list with [`NodeList::ids`]): the
    /// configuration of connected known peers ([`ServerCtx::config`],
    /// [`System::wait_for_config`]) holds only connected members of the list and this
    /// process, and a peer announcing another id is served but is in no configuration
    /// and cannot be called back (see [`EndpointConfig::known_peers`]).
    ///
    /// [`NodeList::ids`]: super::NodeList::ids
    /// [`ServerCtx::config`]: super::ServerCtx::config
    /// [`System::wait_for_config`]: super::System::wait_for_config
    pub fn known_peers(mut self, peers: impl IntoIterator<Item = NodeId>) -> SystemOptions {
        self.endpoint.known_peers = Some(peers.into_iter().collect());
        self
    }

    /// This process's node id.
    pub fn node_id(&self) -> NodeId {
        self.endpoint.node_id
    }
}
