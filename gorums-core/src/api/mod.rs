//! The API users write against: [`System`]s, [`Configuration`]s, calls and their
//! [`Responses`], servers and their handlers.
//!
//! Written once over the [`Runtime`](crate::runtime::Runtime) trait: it never names an
//! executor and reads time only through the runtime, so the same code runs on tokio,
//! smol and the simulator. It holds no protocol logic of its own: it feeds the engine
//! and turns the engine's events into woken futures. The engine sits behind one lock,
//! never held across an `.await`; futures are woken after it is released.
//!
//! Where things live (no two modules import each other):
//!
//! | module | owns |
//! |---|---|
//! | `shared` | the leaf: the engine behind its lock, call slots, and the one place an engine step's effects run (through the upcalls the system installs) |
//! | `options`, `signal` | [`SystemOptions`]; the signal a connection's task parks on |
//! | `identity` | [`IdentityRule`]: a peer's node id bound to its certificate |
//! | `system` | every method of [`System`], and how its parts are joined |
//! | `config` | [`Configuration`], [`Node`], [`NodeList`] and address resolution |
//! | `call`, `terminal`, `correctable` | starting calls and [`Responses`]; its terminal methods and `fold`; [`Correctable`] |
//! | `intercept` | client interceptors: [`ReplyInterceptor`] and the chain a call's outcomes pass through |
//! | `server` | handlers, [`ServerCtx`], interceptors, dispatch (panics caught) |
//! | `driver` | the connection tasks (dial, accept, read/write) and the timer task |
//! | `metrics` | what is recorded through the `metrics` facade when a system asks for it |
//! | `membership`, `watch`, `local` | waiting for peers and graceful stop; [`ConfigWatch`]; [`local_systems`] |

pub mod buggify;
mod call;
mod config;
mod correctable;
mod driver;
mod identity;
mod intercept;
mod local;
mod membership;
mod metrics;
mod options;
mod server;
pub(crate) mod shared;
mod signal;
mod system;
mod terminal;
mod watch;
mod written;

pub use call::{CallOptions, Responses};
pub use config::{Configuration, Node, NodeList};
pub use correctable::{Correctable, CorrectableState};
pub use identity::{AnonymousClients, IdentityRule};
pub use intercept::{CallInfo, NodeResponse, ReplyInterceptor};
pub use local::{LocalSystems, local_systems, local_systems_with};
pub use membership::Stopped;
pub use options::SystemOptions;
pub use server::{
    ConfigChangeCallback, ConnectCallback, ItemSender, Next, Outcome, ServerCtx, ServerInterceptor,
    ServerOptions,
};
pub use shared::System;
pub use terminal::Successes;
pub use watch::ConfigWatch;

pub use crate::engine::{
    Authenticated, Cause, Code, ConfigError, ConnectionError, DialPolicy, EndpointConfig,
    FailureKind, Instant, NodeError, NodeFailure, NodeId, NodeInfo, NodeStats, PeerInfo,
    QuorumCallError, RequestKind, Status, by_id, by_last_error, by_latency,
};
pub use crate::quorum::{Quorum, Tally, Verdict};
pub use crate::runtime::{PeerIdentity, TlsError};
pub use crate::wire::proto::MetadataEntry;
