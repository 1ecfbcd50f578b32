//! [`IdentityRule`]: how a peer's node id is bound to the certificate it proved with
//! mutual TLS. It lives above the runtimes, which only hand up the verified
//! [`PeerIdentity`], so every runtime (the simulator's simulated certificates too) runs
//! the same rule.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::engine::{Authenticated, ConnectionError, NodeId};
use crate::runtime::PeerIdentity;

type Bind = dyn Fn(&PeerIdentity) -> Option<NodeId> + Send + Sync;

/// Whether a peer that proves no node id may connect as an anonymous client.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AnonymousClients {
    /// Refused: every peer must prove a node id (the default).
    #[default]
    Refused,
    /// Allowed, as anonymous clients only: such a peer's hello must claim no id.
    Allowed,
}

/// Binds the node id of a peer that dialled us to its certificate: the peer's hello must
/// claim that id, or it is refused
/// ([`ConnectionError::SpoofedId`](crate::engine::ConnectionError::SpoofedId)) and the
/// refusal is logged.
///
/// A peer whose certificate the rule binds to no node, or that has no certificate (the
/// server's TLS settings allow that), is an anonymous client if
/// [`AnonymousClients::Allowed`], else refused
/// ([`ConnectionError::Unauthenticated`](crate::engine::ConnectionError::Unauthenticated)).
/// A connection whose runtime proved no identity at all (no TLS) is refused likewise.
///
/// ```
/// use gorums_core::api::{IdentityRule, NodeId, SystemOptions};
///
/// let mut options = SystemOptions::with_id(NodeId(1));
/// // A certificate for `node-2.gorums` is node 2's.
/// options.identity = Some(IdentityRule::dns_name("node-", ".gorums"));
/// ```
#[derive(Clone)]
pub struct IdentityRule {
    bind: Arc<Bind>,
    /// Whether peers that prove no node id may be anonymous clients.
    pub anonymous_clients: AnonymousClients,
}

impl fmt::Debug for IdentityRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityRule")
            .field("anonymous_clients", &self.anonymous_clients)
            .finish_non_exhaustive()
    }
}

impl IdentityRule {
    /// The id is what `bind` says of the peer's verified certificate chain.
    pub fn from_fn(
        bind: impl Fn(&PeerIdentity) -> Option<NodeId> + Send + Sync + 'static,
    ) -> IdentityRule {
        IdentityRule {
            bind: Arc::new(bind),
            anonymous_clients: AnonymousClients::default(),
        }
    }

    /// The id is `N` for the first DNS name `{prefix}N{suffix}` among the subject
    /// alternative names of the peer's certificate (`N` a decimal node id, not 0 and
    /// below the ids given to anonymous clients).
    pub fn dns_name(prefix: impl Into<String>, suffix: impl Into<String>) -> IdentityRule {
        let (prefix, suffix) = (prefix.into(), suffix.into());
        IdentityRule::from_fn(move |peer| {
            peer.dns_names().iter().find_map(|name| {
                let digits = name.strip_prefix(&prefix)?.strip_suffix(&suffix)?;
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let id = NodeId(digits.parse().ok()?);
                (!id.is_anonymous() && id < NodeId::FIRST_CLIENT).then_some(id)
            })
        })
    }

    /// The id is the one `ids` gives the peer's own certificate (DER).
    pub fn certificates(ids: impl IntoIterator<Item = (Vec<u8>, NodeId)>) -> IdentityRule {
        let ids: BTreeMap<Vec<u8>, NodeId> = ids.into_iter().collect();
        IdentityRule::from_fn(move |peer| peer.end_entity().and_then(|c| ids.get(c)).copied())
    }

    /// This rule, with peers that prove no node id let in as anonymous clients.
    pub fn allow_anonymous_clients(mut self) -> IdentityRule {
        self.anonymous_clients = AnonymousClients::Allowed;
        self
    }

    /// What the peer that proved `identity` is, or why it is refused.
    pub(crate) fn judge(
        &self,
        identity: Option<&PeerIdentity>,
    ) -> Result<Authenticated, ConnectionError> {
        if let Some(node) = identity.and_then(|peer| (self.bind)(peer)) {
            return Ok(Authenticated::Node(node));
        }
        match self.anonymous_clients {
            AnonymousClients::Allowed => Ok(Authenticated::Anonymous),
            AnonymousClients::Refused => Err(ConnectionError::Unauthenticated(String::from(
                match identity {
                    Some(_) => "its certificate names no node",
                    None => "it has no client certificate",
                },
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A peer whose own certificate names `names`.
    fn peer(names: &[&str]) -> PeerIdentity {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let cert = rcgen::generate_simple_self_signed(names).expect("certificate");
        PeerIdentity {
            chain: vec![cert.cert.der().to_vec()],
        }
    }

    /// Only a name of exactly `{prefix}N{suffix}`, `N` a node id in decimal digits (not
    /// 0, below the clients' ids), proves a node; the first such name wins.
    #[test]
    fn dns_name_reads_only_a_node_id_between_prefix_and_suffix() {
        let rule = IdentityRule::dns_name("node-", ".gorums");
        let id = |names: &[&str]| match rule.judge(Some(&peer(names))) {
            Ok(Authenticated::Node(node)) => Some(node.0),
            _ => None,
        };
        assert_eq!(id(&["node-3.gorums"]), Some(3));
        assert_eq!(
            id(&["localhost", "node-7.gorums", "node-8.gorums"]),
            Some(7)
        );
        let first_client = NodeId::FIRST_CLIENT.0;
        for refused in [
            "node-.gorums".to_owned(),
            "node-3x.gorums".to_owned(),
            // `u32`'s parser takes a leading `+`; a name does not.
            "node-+3.gorums".to_owned(),
            "node--3.gorums".to_owned(),
            "node-0.gorums".to_owned(),
            format!("node-{first_client}.gorums"),
            "node-3.gorums.evil".to_owned(),
            "other-3.gorums".to_owned(),
        ] {
            assert_eq!(id(&[refused.as_str()]), None, "{refused}");
        }
        assert_eq!(
            id(&[&format!("node-{}.gorums", first_client - 1)]),
            Some(first_client - 1)
        );
        // Refused, with no anonymous clients allowed: the reason names the certificate.
        let err = rule.judge(Some(&peer(&["localhost"]))).unwrap_err();
        assert!(err.to_string().contains("names no node"), "{err}");
        assert!(format!("{rule:?}").contains("anonymous_clients"));
    }
}
