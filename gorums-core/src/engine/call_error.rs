//! The error a quorum call fails with.

use std::fmt;

use super::{FailureKind, NodeError, NodeId, UsageError};

/// Why a call failed as a whole.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum Cause {
    /// Too few nodes succeeded, and the rest had failed, so the threshold could no longer
    /// be met. Reported as soon as that is known, not at the deadline.
    Incomplete,
    /// The request could not be sent to enough nodes.
    SendFailure,
    /// The call's deadline passed first.
    DeadlineExceeded,
    /// The call was cancelled by its caller.
    Cancelled,
    /// The call was refused before anything was sent, because it was used wrongly.
    Usage(UsageError),
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Cause::Incomplete => "incomplete call",
            Cause::SendFailure => "send failure",
            Cause::DeadlineExceeded => "deadline exceeded",
            Cause::Cancelled => "call cancelled",
            Cause::Usage(e) => return write!(f, "usage error: {e}"),
        })
    }
}

/// A failed call: its [`Cause`] and every node error seen before it ended.
///
/// `node_errors` is in node-id order. Use it with
/// [`NodeSet::without_errors`](super::NodeSet::without_errors) to build a
/// configuration without the nodes that failed.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct QuorumCallError {
    /// Why the call failed.
    pub cause: Cause,
    /// Each failed node and its failure, in node-id order.
    pub node_errors: Vec<NodeError>,
}

impl QuorumCallError {
    /// A call error with `cause` and `node_errors` (sorted here by node id).
    pub fn new(cause: Cause, mut node_errors: Vec<NodeError>) -> QuorumCallError {
        node_errors.sort_by_key(|e| e.node);
        QuorumCallError { cause, node_errors }
    }

    /// A call refused before anything was sent: no node failed.
    pub fn usage(error: UsageError) -> QuorumCallError {
        QuorumCallError::new(Cause::Usage(error), Vec::new())
    }

    /// The ids of the nodes that failed.
    pub fn failed_nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.node_errors.iter().map(|e| e.node)
    }

    /// The failure of `node`, if it failed.
    pub fn node_error(&self, node: NodeId) -> Option<&NodeError> {
        self.node_errors.iter().find(|e| e.node == node)
    }

    /// Whether any node failed with a failure of `kind`.
    pub fn has_kind(&self, kind: FailureKind) -> bool {
        self.node_errors.iter().any(|e| e.failure.kind() == kind)
    }
}

impl fmt::Display for QuorumCallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "quorum call error: {}", self.cause)?;
        if !self.node_errors.is_empty() {
            write!(f, " (")?;
            for (i, e) in self.node_errors.iter().enumerate() {
                if i > 0 {
                    write!(f, "; ")?;
                }
                write!(f, "{e}")?;
            }
            write!(f, ")")?;
        }
        Ok(())
    }
}

impl std::error::Error for QuorumCallError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        if let Cause::Usage(e) = &self.cause {
            return Some(e);
        }
        self.node_errors
            .first()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
