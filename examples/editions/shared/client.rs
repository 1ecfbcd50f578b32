//! What a user of the crate's edition writes around the API: functions that hand back
//! the API's own futures and streams behind their own `impl Trait`. Each compiles only
//! if the opaque type it wraps captures no lifetime of the borrowed arguments (in
//! editions before 2024, an `impl Trait` in return position captures no lifetime
//! unless told to). The streams say `use<>` because in edition 2024 the wrapper's own
//! `impl Trait` would otherwise capture the borrows (the futures say `'static`).

use futures_core::Stream;
use gorums_tokio::{Node, NodeError, NodeId, NodeResponse, QuorumCallError};

use crate::fixture::{EchoConfiguration, Ping, Pong, echo_methods};

/// `Say` through the untyped [`Node::rpc`], as the generated `EchoNode::say` calls it.
pub fn say_untyped(
    node: &Node,
    ping: &Ping,
) -> impl std::future::Future<Output = Result<Pong, NodeError>> + Send + 'static {
    node.rpc(echo_methods::SAY, ping)
}

/// `Ask`, sent now, done at a majority.
pub fn ask_majority(
    config: &EchoConfiguration,
    ping: &Ping,
) -> impl std::future::Future<Output = Result<Pong, QuorumCallError>> + Send + 'static {
    config.ask(ping).async_majority()
}

/// `Ask`'s successful replies, as they arrive.
pub fn ask_ok(
    config: &EchoConfiguration,
    ping: &Ping,
) -> impl Stream<Item = (NodeId, Pong)> + Unpin + use<> {
    config.ask(ping).ignore_errors()
}

/// `Ask`'s outcomes from the nodes in `from` only.
pub fn ask_from(
    config: &EchoConfiguration,
    ping: &Ping,
    from: &[NodeId],
) -> impl Stream<Item = NodeResponse<Pong>> + Unpin + use<> {
    let from = from.to_vec();
    config.ask(ping).filter(move |r| from.contains(&r.node))
}
