//! Status codes and node errors: what a call's share on one node ended with.

use std::fmt;

use super::{ConnectionError, NodeId, UsageError};
use crate::wire::WireError;

/// A status code, numbered as gRPC's (and `google.rpc.Code`), so statuses map one to one
/// onto a gRPC transport.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[non_exhaustive]
pub enum Code {
    /// Success.
    Ok,
    /// The operation was cancelled.
    Cancelled,
    /// An unknown error.
    Unknown,
    /// The client sent an invalid argument.
    InvalidArgument,
    /// The deadline passed before the operation completed.
    DeadlineExceeded,
    /// Something requested was not found.
    NotFound,
    /// Something to be created already exists.
    AlreadyExists,
    /// The caller may not do this.
    PermissionDenied,
    /// A resource (a queue, a quota) is exhausted.
    ResourceExhausted,
    /// The system is not in a state to do this.
    FailedPrecondition,
    /// The operation was aborted.
    Aborted,
    /// Out of the valid range.
    OutOfRange,
    /// The method is not implemented or not registered.
    Unimplemented,
    /// An internal error (a handler panicked, an invariant broke).
    Internal,
    /// The service is unavailable.
    Unavailable,
    /// Unrecoverable data loss.
    DataLoss,
    /// The caller is not authenticated.
    Unauthenticated,
}

impl Code {
    /// The code for a number on the wire; unknown numbers are [`Code::Unknown`].
    pub fn from_i32(n: i32) -> Code {
        use Code::*;
        match n {
            0 => Ok,
            1 => Cancelled,
            2 => Unknown,
            3 => InvalidArgument,
            4 => DeadlineExceeded,
            5 => NotFound,
            6 => AlreadyExists,
            7 => PermissionDenied,
            8 => ResourceExhausted,
            9 => FailedPrecondition,
            10 => Aborted,
            11 => OutOfRange,
            12 => Unimplemented,
            13 => Internal,
            14 => Unavailable,
            15 => DataLoss,
            16 => Unauthenticated,
            _ => Unknown,
        }
    }

    /// The number this code has on the wire.
    pub fn as_i32(self) -> i32 {
        self as i32
    }
}

/// A status: a code and a message, as a handler or the engine reports it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Status {
    /// What kind of outcome this is.
    pub code: Code,
    /// A human-readable explanation.
    pub message: String,
}

impl Status {
    /// A status with `code` and `message`.
    pub fn new(code: Code, message: impl Into<String>) -> Status {
        Status {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

impl std::error::Error for Status {}

/// Why a call's share on one node failed.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeFailure {
    /// The node answered with an error status (its handler failed, panicked, or the
    /// method is not registered there).
    #[error("node replied with status {0}")]
    Status(Status),
    /// The connection closed while the call was pending; the request is not re-sent.
    #[error("connection lost: {0}")]
    ConnectionLost(#[source] ConnectionError),
    /// The node could not be reached: no connection to it, its connect failed (the
    /// error), or it is waiting to reconnect after its last error.
    #[error("not connected{}", .0.as_ref().map(|e| format!(": {e}")).unwrap_or_default())]
    NotConnected(#[source] Option<ConnectionError>),
    /// The node's bounded send queue was full.
    #[error("send queue full")]
    SendQueueFull,
    /// The request could not be encoded (for instance, larger than the frame limit).
    #[error("request not sent: {0}")]
    Encode(#[source] WireError),
    /// The reply did not decode as the method's reply type.
    #[error("invalid reply: {0}")]
    InvalidReply(#[source] prost::DecodeError),
    /// The call's deadline passed before the node replied.
    #[error("no reply within the deadline")]
    NoReply,
    /// The call was refused before anything was sent, because it was used wrongly.
    #[error("usage error: {0}")]
    Usage(#[source] UsageError),
    /// A client interceptor filtered the reply out or rejected it.
    #[error("rejected by a client interceptor: {0}")]
    Rejected(String),
}

/// The kind of a [`NodeFailure`], for matching without its details (as
/// `without_errors` does).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum FailureKind {
    /// [`NodeFailure::Status`].
    Status,
    /// [`NodeFailure::ConnectionLost`].
    ConnectionLost,
    /// [`NodeFailure::NotConnected`].
    NotConnected,
    /// [`NodeFailure::SendQueueFull`].
    SendQueueFull,
    /// [`NodeFailure::Encode`].
    Encode,
    /// [`NodeFailure::InvalidReply`].
    InvalidReply,
    /// [`NodeFailure::Rejected`].
    Rejected,
    /// [`NodeFailure::NoReply`].
    NoReply,
    /// [`NodeFailure::Usage`].
    Usage,
}

impl NodeFailure {
    /// This failure's kind.
    pub fn kind(&self) -> FailureKind {
        match self {
            NodeFailure::Status(_) => FailureKind::Status,
            NodeFailure::ConnectionLost(_) => FailureKind::ConnectionLost,
            NodeFailure::NotConnected(_) => FailureKind::NotConnected,
            NodeFailure::SendQueueFull => FailureKind::SendQueueFull,
            NodeFailure::Encode(_) => FailureKind::Encode,
            NodeFailure::InvalidReply(_) => FailureKind::InvalidReply,
            NodeFailure::Rejected(_) => FailureKind::Rejected,
            NodeFailure::NoReply => FailureKind::NoReply,
            NodeFailure::Usage(_) => FailureKind::Usage,
        }
    }
}

/// One node's failure in a call.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("{node}: {failure}")]
pub struct NodeError {
    /// The node that failed.
    pub node: NodeId,
    /// Why.
    #[source]
    pub failure: NodeFailure,
}
