//! Client interceptors: [`ReplyInterceptor`]s over a call's reply stream (Go Gorums'
//! `QuorumInterceptor`), the per-outcome ones built on them, and the chain a call's
//! outcomes pass through before the judge counts them.

use std::collections::VecDeque;

use bytes::Bytes;

use super::config::Configuration;
use crate::engine::{NodeFailure, NodeId};

/// One node's outcome in a call: its decoded reply, or why it failed.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeResponse<T> {
    /// The node.
    pub node: NodeId,
    /// Its reply, or its failure.
    pub result: Result<T, NodeFailure>,
}

/// What a client interceptor knows of the call it watches.
#[derive(Clone, Debug)]
pub struct CallInfo {
    /// The full method name.
    pub method: String,
    /// The configuration the call goes to.
    pub config: Configuration,
    /// The encoded request (before any per-node mapping).
    pub request: Bytes,
}

/// A client interceptor over a call's reply stream, as Go Gorums' `QuorumInterceptor`
/// wraps its response iterator: for each outcome that reaches it, it pushes onto `out`
/// what the next interceptor (and in the end the caller and the judge) sees: nothing
/// (the outcome is dropped), the outcome, a changed one, or several. It may keep
/// outcomes back and push them later, in any order, or when the call's replies have
/// run out ([`on_end`](Self::on_end)).
///
/// **What counts.** The judge counts only what the last interceptor passes on. An
/// outcome dropped here is neither a success nor a failure of its node: as in Go
/// Gorums, where it is simply not yielded, the call goes on waiting for the other
/// nodes and fails with `Incomplete` if the replies run out below its quorum (a
/// per-outcome [`Responses::intercept`](super::Responses::intercept) instead turns a
/// dropped outcome into that node's failure). An outcome added here counts like any
/// other.
///
/// A closure `FnMut(&CallInfo, NodeResponse<T>, &mut VecDeque<NodeResponse<T>>)` is a
/// `ReplyInterceptor` that keeps nothing back.
///
/// ```
/// use std::collections::VecDeque;
/// use gorums_core::api::{CallInfo, NodeResponse, ReplyInterceptor};
///
/// /// Holds every reply back until the call's replies run out, then passes them on
/// /// with the highest node id first.
/// struct HighestIdFirst<T>(Vec<NodeResponse<T>>);
///
/// impl<T: Send + 'static> ReplyInterceptor<T> for HighestIdFirst<T> {
///     fn on_reply(&mut self, _: &CallInfo, r: NodeResponse<T>, _: &mut VecDeque<NodeResponse<T>>) {
///         self.0.push(r);
///     }
///     fn on_end(&mut self, _: &CallInfo, out: &mut VecDeque<NodeResponse<T>>) {
///         self.0.sort_by_key(|r| std::cmp::Reverse(r.node));
///         out.extend(self.0.drain(..));
///     }
/// }
/// ```
pub trait ReplyInterceptor<T>: Send + 'static {
    /// One outcome reached this interceptor; push what goes on onto `out`.
    fn on_reply(
        &mut self,
        call: &CallInfo,
        reply: NodeResponse<T>,
        out: &mut VecDeque<NodeResponse<T>>,
    );

    /// The outcomes before this interceptor have run out (every node answered or
    /// failed, or the deadline passed): push anything held back onto `out`. Not called
    /// when the caller stops reading first (its quorum was met, or it dropped the call).
    fn on_end(&mut self, call: &CallInfo, out: &mut VecDeque<NodeResponse<T>>) {
        let _ = (call, out);
    }
}

impl<T, F> ReplyInterceptor<T> for F
where
    F: FnMut(&CallInfo, NodeResponse<T>, &mut VecDeque<NodeResponse<T>>) + Send + 'static,
{
    fn on_reply(
        &mut self,
        call: &CallInfo,
        reply: NodeResponse<T>,
        out: &mut VecDeque<NodeResponse<T>>,
    ) {
        self(call, reply, out);
    }
}

/// A per-outcome interceptor as a [`ReplyInterceptor`]: `None` is that node's failure
/// ([`NodeFailure::Rejected`]), so it still counts.
pub(crate) struct PerOutcome<F>(pub(crate) F);

impl<T, F> ReplyInterceptor<T> for PerOutcome<F>
where
    F: FnMut(&CallInfo, NodeResponse<T>) -> Option<NodeResponse<T>> + Send + 'static,
{
    fn on_reply(
        &mut self,
        call: &CallInfo,
        reply: NodeResponse<T>,
        out: &mut VecDeque<NodeResponse<T>>,
    ) {
        let node = reply.node;
        out.push_back((self.0)(call, reply).unwrap_or(NodeResponse {
            node,
            result: Err(NodeFailure::Rejected(String::from("filtered out"))),
        }));
    }
}

/// The interceptors of one call, in the order added, and what has come out of the last
/// one and not been read yet.
pub(crate) struct Chain<T> {
    stages: Vec<Box<dyn ReplyInterceptor<T>>>,
    ready: VecDeque<NodeResponse<T>>,
    ended: bool,
}

impl<T> Default for Chain<T> {
    fn default() -> Self {
        Chain {
            stages: Vec::new(),
            ready: VecDeque::new(),
            ended: false,
        }
    }
}

impl<T: 'static> Chain<T> {
    pub(crate) fn push(&mut self, stage: Box<dyn ReplyInterceptor<T>>) {
        self.stages.push(stage);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// The next outcome out of the last interceptor, if one is ready.
    pub(crate) fn pop(&mut self) -> Option<NodeResponse<T>> {
        self.ready.pop_front()
    }

    /// Whether the outcomes have run out and every interceptor has been told.
    pub(crate) fn is_ended(&self) -> bool {
        self.ended
    }

    /// Passes one outcome through every interceptor.
    pub(crate) fn feed(&mut self, call: &CallInfo, reply: NodeResponse<T>) {
        self.run_from(0, call, VecDeque::from([reply]));
    }

    /// Tells every interceptor, first to last, that the outcomes before it have run out;
    /// what one pushes then still passes through those after it.
    pub(crate) fn end(&mut self, call: &CallInfo) {
        for i in 0..self.stages.len() {
            let mut out = VecDeque::new();
            self.stages[i].on_end(call, &mut out);
            self.run_from(i + 1, call, out);
        }
        self.ended = true;
    }

    fn run_from(&mut self, first: usize, call: &CallInfo, mut batch: VecDeque<NodeResponse<T>>) {
        for stage in self.stages.iter_mut().skip(first) {
            let mut out = VecDeque::new();
            for reply in batch.drain(..) {
                stage.on_reply(call, reply, &mut out);
            }
            batch = out;
        }
        self.ready.extend(batch);
    }
}
