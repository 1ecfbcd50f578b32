//! The engine: the gorums protocol as a pure state machine.
//!
//! [`Endpoint`] holds one process's connections, calls in flight and server-side
//! queues. It performs no IO, reads no clock, spawns nothing and draws randomness only
//! from the seed in its [`EndpointConfig`]: every input carries `now`, and every output
//! is drained by polling. The [`Endpoint`] docs give the exact driving order.
//!
//! The engine routes and reports; it does not judge quorums. Every node's outcome of a
//! call is reported as a [`CallEvent`], and the caller decides with the one judge,
//! [`Tally`](crate::quorum::Tally), when enough have come (the API does this for every
//! call kind, after decoding and interceptors, so a reply the user never sees as a
//! success never counts as one).
//!
//! Alongside it live the pure value types the API builds on: [`Configuration`] (an
//! immutable set of nodes and its algebra), ids, statuses and errors.

mod call;
mod call_error;
mod config;
mod conn;
mod endpoint;
mod event;
mod ids;
mod status;
mod time;

pub use call::{CallKind, CallSpec, Payload, StartedCall};
pub use call_error::{Cause, QuorumCallError};
pub use config::{ConfigError, Configuration, NodeStats, by_id, by_last_error, by_latency};
pub use endpoint::{Endpoint, EndpointConfig, NodeInfo, UsageError};
pub use event::{CallEvent, Event, MethodName, PeerInfo, Request, RequestKind};
pub use ids::{CallId, ConnId, MsgId, NodeId, RequestId};
pub use status::{Code, FailureKind, NodeError, NodeFailure, Status};

pub use time::Instant;
