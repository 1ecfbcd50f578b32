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
//! Where things live:
//!
//! | module | owns |
//! |---|---|
//! | `endpoint` | [`Endpoint`]: routes inputs and commands to the sub-states below |
//! | `conns`, `conn` | the connection table (registry, dialling, handshake, membership) and one connection (decoder, send queue) |
//! | `calls`, `call` | the call table (ids, shares, reply routing, the one `settle_share`) and [`CallSpec`] |
//! | `server` | one sender's request queue (per-sender FIFO and the release rule) |
//! | `timers`, `outputs`, `stats` | deadlines, the event queue, per-node [`NodeInfo`] |
//! | `options` | [`EndpointConfig`] and [`UsageError`] |
//! | `node_set` | [`NodeSet`], an immutable set of node ids and its algebra |
//! | `status`, `conn_error`, `call_error` | [`Status`], [`NodeFailure`], [`ConnectionError`], [`QuorumCallError`] |
//! | `event`, `ids`, `time` | [`Event`], the id newtypes, [`Instant`] |

mod call;
mod call_error;
pub(crate) mod calls;
mod conn;
mod conn_error;
mod conns;
mod endpoint;
mod event;
mod ids;
mod node_set;
mod options;
mod outputs;
mod server;
mod stats;
mod status;
mod time;
mod timers;

pub use call::{CallKind, CallSpec, Payload, StartedCall};
pub use call_error::{Cause, QuorumCallError};
pub use conn_error::ConnectionError;
pub use endpoint::Endpoint;
pub use event::{CallEvent, Event, MethodName, PeerInfo, Request, RequestKind};
pub use ids::{Authenticated, CallId, ConnId, MsgId, NodeId, RequestId};
pub use node_set::{ConfigError, NodeSet, NodeStats, by_id, by_last_error, by_latency};
pub use options::{DEFAULT_MAX_HANDSHAKE_FRAME_LEN, DialPolicy, EndpointConfig, UsageError};
pub use stats::NodeInfo;
pub use status::{Code, FailureKind, NodeError, NodeFailure, Status};
pub use time::Instant;
