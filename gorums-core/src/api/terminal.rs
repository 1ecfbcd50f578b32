//! The terminal methods of [`Responses`]: waiting for a quorum (`first`, `majority`,
//! `all`, `threshold` and their `async_*` forms), folding replies under a quorum
//! (`fold`), and collecting or filtering the raw outcomes. Every quorum is decided by the
//! one judge, [`Tally`].
//!
//! The futures and streams returned by value capture `T` (and `filter`'s closure) but no
//! lifetime (`use<..>`), so a caller in any edition can return them from its own
//! `impl Trait`.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::call::{Responses, futures_next};
use super::intercept::NodeResponse;
use crate::engine::{Cause, NodeError, NodeId, QuorumCallError};
use crate::quorum::{Quorum, Tally, Verdict};

impl<T: prost::Message + Default + 'static> Responses<T> {
    /// Waits until `k` nodes have succeeded and returns the first successful reply, or
    /// fails as soon as `k` successes cannot happen.
    pub async fn threshold(self, k: usize) -> Result<T, QuorumCallError> {
        self.until(Quorum::Threshold(k)).await
    }

    /// Waits for the first successful reply.
    pub async fn first(self) -> Result<T, QuorumCallError> {
        self.until(Quorum::First).await
    }

    /// Waits for a majority (`n / 2 + 1`) of successful replies.
    pub async fn majority(self) -> Result<T, QuorumCallError> {
        self.until(Quorum::Majority).await
    }

    /// Waits for every node to succeed.
    pub async fn all(self) -> Result<T, QuorumCallError> {
        self.until(Quorum::All).await
    }

    /// Sends now and returns a future of [`first`](Self::first).
    pub fn async_first(
        mut self,
    ) -> impl Future<Output = Result<T, QuorumCallError>> + Send + 'static + use<T>
    where
        T: Send + 'static,
    {
        self.start_for(Some(Quorum::First));
        self.first()
    }

    /// Sends now and returns a future of [`majority`](Self::majority).
    pub fn async_majority(
        mut self,
    ) -> impl Future<Output = Result<T, QuorumCallError>> + Send + 'static + use<T>
    where
        T: Send + 'static,
    {
        self.start_for(Some(Quorum::Majority));
        self.majority()
    }

    /// Sends now and returns a future of [`all`](Self::all).
    pub fn async_all(
        mut self,
    ) -> impl Future<Output = Result<T, QuorumCallError>> + Send + 'static + use<T>
    where
        T: Send + 'static,
    {
        self.start_for(Some(Quorum::All));
        self.all()
    }

    /// Sends now and returns a future of [`threshold`](Self::threshold).
    pub fn async_threshold(
        mut self,
        k: usize,
    ) -> impl Future<Output = Result<T, QuorumCallError>> + Send + 'static + use<T>
    where
        T: Send + 'static,
    {
        self.start_for(Some(Quorum::Threshold(k)));
        self.threshold(k)
    }

    async fn until(self, quorum: Quorum) -> Result<T, QuorumCallError> {
        let first = self
            .fold(quorum, None, |first, _, reply| first.or(Some(reply)))
            .await?;
        // A zero threshold is met with no reply at all.
        Ok(first.unwrap_or_default())
    }

    /// The next node's outcome, decoded and passed through the interceptors, as it
    /// arrives; `None` once the call is over (every node has answered or failed, or the
    /// deadline passed). Starts the call if it has not started.
    ///
    /// Cancellation: dropping the future loses no outcome; dropping the `Responses`
    /// cancels the call.
    pub async fn next(&mut self) -> Option<NodeResponse<T>> {
        futures_next(self).await
    }

    /// Folds the successful replies, as they arrive, into `init` with `f`, until
    /// `quorum` is met (then returns the folded value) or cannot be met any more (then
    /// a [`QuorumCallError`] with cause `Incomplete`, or the deadline's cause, and every
    /// node error seen). The terminal methods are folds: [`first`](Self::first) is
    /// `fold(Quorum::First, None, |acc, _, r| acc.or(Some(r)))`.
    ///
    /// The decision is the [`Tally`]'s, the same judge every call kind uses: a reply
    /// that fails to decode or that a per-outcome interceptor
    /// ([`intercept`](Self::intercept)) rejects counts as that node's failure, a reply
    /// a [`ReplyInterceptor`](super::ReplyInterceptor) drops is not counted, and a node
    /// skipped by [`map_request`](Self::map_request) can never answer.
    ///
    /// ```
    /// use gorums_core::api::{QuorumCallError, Responses};
    /// use gorums_core::quorum::Quorum;
    ///
    /// // The largest value among a majority of replies (prost encodes a `u64` as
    /// // google.protobuf.UInt64Value).
    /// async fn largest(replies: Responses<u64>) -> Result<u64, QuorumCallError> {
    ///     replies.fold(Quorum::Majority, 0, |max, _node, v| max.max(v)).await
    /// }
    /// ```
    pub async fn fold<A>(
        mut self,
        quorum: Quorum,
        init: A,
        mut f: impl FnMut(A, NodeId, T) -> A,
    ) -> Result<A, QuorumCallError> {
        let n = self.config().len();
        let mut tally = Tally::new(quorum.required(n), n);
        self.start_for(Some(quorum));
        for _ in 0..self.skipped() {
            tally.closed();
        }
        let mut acc = init;
        let mut errors = Vec::new();
        loop {
            match tally.verdict() {
                Verdict::Met => {
                    self.mark_met();
                    return Ok(acc);
                }
                Verdict::Impossible => {
                    // Report every failure already known, not just the one that decided.
                    errors.extend(self.ready_failures());
                    return Err(QuorumCallError::new(Cause::Incomplete, errors));
                }
                Verdict::Pending => {}
            }
            match futures_next(&mut self).await {
                Some(NodeResponse {
                    node,
                    result: Ok(reply),
                }) => {
                    tally.success();
                    acc = f(acc, node, reply);
                }
                Some(NodeResponse {
                    node,
                    result: Err(failure),
                }) => {
                    tally.failure();
                    errors.push(NodeError { node, failure });
                }
                None => {
                    errors.extend(self.stalled_nodes());
                    return Err(QuorumCallError::new(self.end_cause(), errors));
                }
            }
        }
    }

    /// The failures that have arrived and not been looked at yet (through the
    /// interceptors), without waiting.
    fn ready_failures(&mut self) -> Vec<NodeError> {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut failures = Vec::new();
        while let Poll::Ready(Some(r)) = Pin::new(&mut *self).poll_next(&mut cx) {
            if let Err(failure) = r.result {
                failures.push(NodeError {
                    node: r.node,
                    failure,
                });
            }
        }
        failures
    }

    /// Every node's outcome, until the call is over (all answered, or the deadline).
    pub async fn collect_all(mut self) -> Vec<NodeResponse<T>> {
        let mut out = Vec::new();
        while let Some(r) = futures_next(&mut self).await {
            out.push(r);
        }
        out
    }

    /// The first `n` outcomes (fewer if the call ends first); the rest are not awaited.
    pub async fn collect_n(mut self, n: usize) -> Vec<NodeResponse<T>> {
        let mut out = Vec::new();
        while out.len() < n {
            match futures_next(&mut self).await {
                Some(r) => out.push(r),
                None => break,
            }
        }
        self.mark_met();
        out
    }

    /// Only the successful replies, as `(node, reply)`: a stream that also has
    /// `collect_n` and `collect_all`, so the helpers chain
    /// (`ignore_errors().collect_n(k)`: the first k successes).
    pub fn ignore_errors(self) -> Successes<T> {
        Successes(self)
    }

    /// Only the outcomes `keep` accepts.
    pub fn filter<F>(self, mut keep: F) -> impl Stream<Item = NodeResponse<T>> + Unpin + use<T, F>
    where
        F: FnMut(&NodeResponse<T>) -> bool + Unpin,
    {
        FilterMap(self, move |r: NodeResponse<T>| keep(&r).then_some(r))
    }
}

struct FilterMap<S, F>(S, F);

impl<S: Stream + Unpin, B, F: FnMut(S::Item) -> Option<B> + Unpin> Stream for FilterMap<S, F> {
    type Item = B;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<B>> {
        let this = self.get_mut();
        loop {
            match Pin::new(&mut this.0).poll_next(cx) {
                Poll::Ready(Some(item)) => {
                    if let Some(b) = (this.1)(item) {
                        return Poll::Ready(Some(b));
                    }
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// The successful replies of a call, as `(node, reply)`, in arrival order: what
/// [`Responses::ignore_errors`] returns. Dropping it cancels the call unless it is over.
#[derive(Debug)]
pub struct Successes<T>(Responses<T>);

impl<T: prost::Message + Default + 'static> Successes<T> {
    /// The next successful reply; `None` once the call is over.
    pub async fn next(&mut self) -> Option<(NodeId, T)> {
        futures_next(self).await
    }

    /// The first `n` successful replies (fewer if the call ends first).
    pub async fn collect_n(mut self, n: usize) -> Vec<(NodeId, T)> {
        let mut out = Vec::new();
        while out.len() < n {
            match futures_next(&mut self).await {
                Some(reply) => out.push(reply),
                None => break,
            }
        }
        self.0.mark_met();
        out
    }

    /// Every successful reply, until the call is over.
    pub async fn collect_all(mut self) -> Vec<(NodeId, T)> {
        let mut out = Vec::new();
        while let Some(reply) = futures_next(&mut self).await {
            out.push(reply);
        }
        out
    }
}

impl<T: prost::Message + Default + 'static> Stream for Successes<T> {
    type Item = (NodeId, T);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<(NodeId, T)>> {
        let this = self.get_mut();
        loop {
            match Pin::new(&mut this.0).poll_next(cx) {
                Poll::Ready(Some(NodeResponse {
                    node,
                    result: Ok(reply),
                })) => return Poll::Ready(Some((node, reply))),
                Poll::Ready(Some(_)) => {}
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<T> Unpin for Successes<T> {}
