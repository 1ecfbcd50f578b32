//! [`Correctable`]: a call whose replies rise in level as nodes stream them, watched by
//! any number of callers at once.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};

use futures_core::Stream;

use super::call::Responses;
use super::intercept::NodeResponse;
use crate::engine::{Cause, NodeError, QuorumCallError};
use crate::quorum::{Tally, Verdict};

/// A correctable call in flight: every successful reply (each streamed item) raises the
/// level by one; the call is done at its target level or when every node has ended its
/// stream (below the target it fails with `Incomplete`, as in Go Gorums).
///
/// Sent at once when made, so it keeps its place in each node's order. Cheap to clone:
/// every clone is the same call, so several tasks can watch it at once (as Go's
/// `Correctable.Watch` hands out a channel per watcher), each woken as the level rises.
/// Replies that arrive while nobody waits are kept and taken in by the next look
/// ([`snapshot`](Self::snapshot), [`watch`](Self::watch)). Dropping the last clone
/// cancels the call.
pub struct Correctable<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Correctable<T> {
    fn clone(&self) -> Self {
        Correctable {
            shared: self.shared.clone(),
        }
    }
}

impl<T> std::fmt::Debug for Correctable<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Correctable").finish_non_exhaustive()
    }
}

/// The call's state, and the watchers parked on it.
struct Shared<T> {
    state: Mutex<State<T>>,
    watchers: Arc<Watchers>,
}

struct State<T> {
    responses: Responses<T>,
    tally: Tally,
    /// How many quiet closes (skipped nodes, ended streams) the tally has been told of.
    closed: usize,
    value: Option<T>,
    errors: Vec<NodeError>,
    ended: bool,
}

/// The wakers of every watcher waiting now, by watcher id. The call's replies wake one
/// waker, this set's, which wakes them all: each then takes in what arrived.
#[derive(Default)]
struct Watchers {
    wakers: Mutex<BTreeMap<u64, Waker>>,
    next: std::sync::atomic::AtomicU64,
}

impl Wake for Watchers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let wakers = std::mem::take(&mut *self.wakers.lock().unwrap_or_else(|p| p.into_inner()));
        for waker in wakers.into_values() {
            waker.wake();
        }
    }
}

impl<T: prost::Message + Default + 'static> Responses<T> {
    /// Turns the call into a [`Correctable`] that is done at level `k`; sends now.
    pub fn correctable(mut self, k: usize) -> Correctable<T> {
        self.start_for(Some(crate::quorum::Quorum::Threshold(k)));
        let n = self.config().len();
        Correctable {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    responses: self,
                    tally: Tally::streaming(k, n),
                    closed: 0,
                    value: None,
                    errors: Vec::new(),
                    ended: false,
                }),
                watchers: Arc::default(),
            }),
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

impl<T: prost::Message + Default + 'static> State<T> {
    fn is_done(&self) -> bool {
        self.ended || self.tally.verdict() != Verdict::Pending
    }

    /// Takes in every outcome that has arrived, without waiting; polls with `waker`,
    /// which is woken when more arrive.
    fn catch_up(&mut self, waker: &Waker) {
        let mut cx = Context::from_waker(waker);
        while !self.is_done() {
            self.catch_up_closes();
            match Pin::new(&mut self.responses).poll_next(&mut cx) {
                Poll::Ready(outcome) => self.absorb(outcome),
                Poll::Pending => break,
            }
        }
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
}

impl<T: prost::Message + Default + Clone + 'static> State<T> {
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

impl<T: prost::Message + Default + Clone + 'static> Correctable<T> {
    fn state(&self) -> MutexGuard<'_, State<T>> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes in what has arrived (waking the watchers when more does) and returns the
    /// state.
    fn caught_up(&self) -> MutexGuard<'_, State<T>> {
        let mut state = self.state();
        state.catch_up(&Waker::from(self.shared.watchers.clone()));
        state
    }

    /// The current level: the number of successful replies so far (those arrived are
    /// taken in first).
    pub fn level(&self) -> usize {
        self.caught_up().tally.level()
    }

    /// Whether the call is done (target level reached, or every stream ended).
    pub fn is_done(&self) -> bool {
        self.caught_up().is_done()
    }

    /// The value, level and whether the call is done, without waiting: the replies that
    /// have arrived are taken in first.
    pub fn snapshot(&self) -> CorrectableState<T> {
        let state = self.caught_up();
        CorrectableState {
            value: state.value.clone(),
            level: state.tally.level(),
            done: state.is_done(),
        }
    }

    /// Waits until the level is at least `level` and returns the newest reply with its
    /// level; fails with `Incomplete` (and every node error seen) if the call ends below
    /// `level`, as Go Gorums' correctables do. Any number of watches may wait at once,
    /// from any clones.
    ///
    /// Cancellation: dropping the future stops waiting; the call goes on.
    pub fn watch(
        &self,
        level: usize,
    ) -> impl Future<Output = Result<(T, usize), QuorumCallError>> + Send + 'static + use<T>
    where
        T: Send,
    {
        Watch {
            call: self.clone(),
            level: Some(level),
            id: None,
        }
    }

    /// Waits until the call is done and returns the newest reply with its level; fails
    /// with `Incomplete` if every stream ended below the target level.
    pub async fn get(self) -> Result<(T, usize), QuorumCallError>
    where
        T: Send,
    {
        Watch {
            call: self,
            level: None,
            id: None,
        }
        .await
    }
}

/// The future of [`Correctable::watch`] (`level`) and [`Correctable::get`] (`None`:
/// until done).
struct Watch<T> {
    call: Correctable<T>,
    level: Option<usize>,
    /// Its entry among the watchers while it waits.
    id: Option<u64>,
}

impl<T> Unpin for Watch<T> {}

impl<T: prost::Message + Default + Clone + 'static> Future for Watch<T> {
    type Output = Result<(T, usize), QuorumCallError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let watchers = this.call.shared.watchers.clone();
        // Parked before looking, so a reply that arrives meanwhile wakes this watcher.
        let id = *this.id.get_or_insert_with(|| {
            watchers
                .next
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        });
        watchers
            .wakers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, cx.waker().clone());
        let mut state = this.call.caught_up();
        let ready = match this.level {
            Some(level) => state.tally.level() >= level || state.is_done(),
            None => state.is_done(),
        };
        if !ready {
            return Poll::Pending;
        }
        let level = match this.level {
            Some(level) => level,
            None => {
                state.responses.mark_met();
                state.tally.required()
            }
        };
        let result = state.reached(level);
        drop(state);
        Poll::Ready(result)
    }
}

impl<T> Drop for Watch<T> {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.call
                .shared
                .watchers
                .wakers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
        }
    }
}
