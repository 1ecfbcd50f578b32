//! [`Correctable`]: a call whose replies rise in level as nodes stream them.

use super::call::{NodeResponse, Responses, futures_next};
use crate::engine::{Cause, NodeError, QuorumCallError};
use crate::quorum::{Tally, Verdict};

/// A correctable call in flight: every successful reply (each streamed item) raises the
/// level by one; the call is done at its target level or when every node has ended its
/// stream.
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

impl<T: prost::Message + Default + Clone + 'static> Correctable<T> {
    /// The current level: the number of successful replies so far.
    pub fn level(&self) -> usize {
        self.tally.level()
    }

    /// Whether the call is done (target level reached, or every stream ended).
    pub fn is_done(&self) -> bool {
        self.ended || self.tally.verdict() != Verdict::Pending
    }

    async fn step(&mut self) {
        self.catch_up_closes();
        match futures_next(&mut self.responses).await {
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
        self.catch_up_closes();
    }

    fn catch_up_closes(&mut self) {
        let closed = self.responses.closed_quietly();
        for _ in self.closed..closed {
            self.tally.closed();
        }
        self.closed = closed;
    }

    /// Waits until the level is at least `level` (or the call is done) and returns the
    /// newest reply with its level.
    pub async fn watch(&mut self, level: usize) -> Result<(T, usize), QuorumCallError> {
        while self.tally.level() < level && !self.is_done() {
            self.step().await;
        }
        self.current()
    }

    /// Waits until the call is done and returns the newest reply with its level.
    pub async fn get(mut self) -> Result<(T, usize), QuorumCallError> {
        while !self.is_done() {
            self.step().await;
        }
        self.responses.mark_met();
        self.current()
    }

    fn current(&self) -> Result<(T, usize), QuorumCallError> {
        match &self.value {
            Some(v) => Ok((v.clone(), self.tally.level())),
            None => Err(QuorumCallError::new(
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
