//! The API users write against: [`System`]s, [`Configuration`]s, calls and their
//! [`Responses`], servers and their handlers.
//!
//! Written once over the [`Runtime`](crate::runtime::Runtime) trait: it never names an
//! executor and reads time only through the runtime, so the same code runs on tokio,
//! smol and the simulator. It holds no protocol logic of its own: it feeds the engine
//! and turns the engine's events into woken futures. The engine sits behind one lock,
//! never held across an `.await`; futures are woken after it is released.

mod call;
mod config;
mod correctable;
mod driver;
mod local;
mod membership;
mod server;
mod system;
mod watch;

pub use call::{CallInfo, NodeResponse, Responses};
pub use config::{ConfigError, Configuration, Node, NodeList};
pub use correctable::Correctable;
pub use local::local_systems;
pub use membership::Stopped;
pub use server::{
    ConfigChangeCallback, ConnectCallback, Next, Outcome, ServerCtx, ServerInterceptor,
    ServerOptions,
};
pub use system::{System, SystemOptions};
pub use watch::ConfigWatch;

pub use crate::engine::{
    Cause, Code, FailureKind, NodeError, NodeFailure, NodeId, NodeInfo, QuorumCallError, Status,
};
