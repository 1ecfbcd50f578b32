//! [`Correctable`]: a call whose replies rise in level as nodes stream them.

use futures_core::Stream;

use super::call::{Responses, futures_next};
use super::intercept::NodeResponse;
use crate::engine::{Cause, NodeError, QuorumCallError};
use crate::quorum::{Tally, Verdict};

/// A correctable call in flight: every successful reply (each streamed item) raises the
/// level by one; the call is done at its target level or when every node has ended its
/// stream (below the target it fails with `Incomplete`, as in Go Gorums).
///
/// Sent at once when made, so it keeps its place in each node's order. Dropping it
/// cancels the call.
#[derive(Debug)]
pub struct Correctable<T> {
    responses: Responses<T>,
    tally: Tally,
    /// How many quiet closes (skipped nodes, ended streams) the tally has been told of.
    closed: usize,
    value: Option<T>,
    errors: Vec<NodeError>,
    ended: bool,
}

impl<T: prost::Message + Default + 'static> Responses<T> {
    /// Turns the call into a [`Correctable`] that is done at level `k`; sends now.
    pub fn correctable(mut self, k: usize) -> Correctable<T> {
        self.start();
        let n = self.config().len();
        Correctable {
            responses: self,
            tally: Tally::streaming(k, n),
            closed: 0,
            value: None,
            errors: Vec::new(),
            ended: false,
        }
    }
}

/// What a correctable call has reached so far: see [`Correctable::snapshot`].
#[derive(Clone, Debug, PartialEq)]
pub struct CorrectableState<T> {
    /// The newest successful reply, if any.
    pub value: Option<T>,
    /// The level: the number of successful replies so far.
    pub level: usize,
    /// Whether the call is over (its target level reached, or every stream ended).
    pub done: bool,
}

impl<T: prost::Message + Default + Clone + 'static> Correctable<T> {
    /// The current level: the number of successful replies so far.
    pub fn level(&self) -> usize {
        self.tally.level()
    }

    /// Whether the call is done (target level reached, or every stream ended).
    pub fn is_done(&self) -> bool {
        self.ended || self.tally.verdict() != Verdict::Pending
    }

    /// The value, level and whether the call is done, without waiting: the replies that
    /// have arrived are taken in first.
    pub fn snapshot(&mut self) -> CorrectableState<T> {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        while !self.is_done() {
            self.catch_up_closes();
            match std::pin::Pin::new(&mut self.responses).poll_next(&mut cx) {
                std::task::Poll::Ready(outcome) => self.absorb(outcome),
                std::task::Poll::Pending => break,
            }
        }
        self.catch_up_closes();
        CorrectableState {
            value: self.value.clone(),
            level: self.tally.level(),
            done: self.is_done(),
        }
    }

    async fn step(&mut self) {
        self.catch_up_closes();
        let outcome = futures_next(&mut self.responses).await;
        self.absorb(outcome);
        self.catch_up_closes();
    }

    fn absorb(&mut self, outcome: Option<NodeResponse<T>>) {
        match outcome {
            Some(NodeResponse { result: Ok(v), .. }) => {
                self.tally.item();
                self.value = Some(v);
            }
            Some(NodeResponse {
                node,
                result: Err(failure),
            }) => {
                self.tally.failure();
                self.errors.push(NodeError { node, failure });
            }
            None => self.ended = true,
        }
    }

    fn catch_up_closes(&mut self) {
        let closed = self.responses.closed_quietly();
        for _ in self.closed..closed {
            self.tally.closed();
        }
        self.closed = closed;
    }

    /// Waits until the level is at least `level` and returns the newest reply with its
    /// level; fails with `Incomplete` (and every node error seen) if the call ends below
    /// `level`, as Go Gorums' correctables do.
    pub async fn watch(&mut self, level: usize) -> Result<(T, usize), QuorumCallError> {
        while self.tally.level() < level && !self.is_done() {
            self.step().await;
        }
        self.reached(level)
    }

    /// Waits until the call is done and returns the newest reply with its level; fails
    /// with `Incomplete` if every stream ended below the target level.
    pub async fn get(mut self) -> Result<(T, usize), QuorumCallError> {
        while !self.is_done() {
            self.step().await;
        }
        self.responses.mark_met();
        let target = self.tally.required();
        self.reached(target)
    }

    fn reached(&self, level: usize) -> Result<(T, usize), QuorumCallError> {
        match &self.value {
            Some(v) if self.tally.level() >= level => Ok((v.clone(), self.tally.level())),
            _ => Err(QuorumCallError::new(
                if self.ended {
                    self.responses.end_cause()
                } else {
                    Cause::Incomplete
                },
                self.errors.clone(),
            )),
        }
    }
}
