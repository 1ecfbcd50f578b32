//! The fault-injection points inside the API, by name: what a simulator may make them
//! do when it answers [`Runtime::buggify`](crate::runtime::Runtime::buggify) with yes.
//! Each is a behaviour the API is allowed to have anyway (a slow write, a deadline met
//! early), made frequent so a protocol that silently relies on its absence fails in
//! simulation. On tokio and smol no point ever fires.
//!
//! A protocol's own points use its own names (not starting with `gorums.`), asked
//! through the runtime or [`ServerCtx::buggify`](crate::api::ServerCtx::buggify).

/// A call's deadline is a quarter of what was asked (the call then ends early with
/// `DeadlineExceeded` for the nodes that had not answered, as it would on a slow
/// network).
pub const EARLY_TIMEOUT: &str = "gorums.early-timeout";

/// A connection's next write is held for [`DELAYED_FLUSH_HOLD`] before it leaves (as
/// a congested socket would): replies and requests on it arrive late, in order.
pub const DELAYED_FLUSH: &str = "gorums.delayed-flush";

/// How long [`DELAYED_FLUSH`] holds a write.
pub const DELAYED_FLUSH_HOLD: std::time::Duration = std::time::Duration::from_millis(5);

/// Every point of the API, for a simulator that enables them as a group.
pub const SITES: [&str; 2] = [EARLY_TIMEOUT, DELAYED_FLUSH];
