//! The state every handle and task of one system shares: the engine behind one lock,
//! the futures waiting on it, and the one place where the effects of an engine step run.
//!
//! This is the API's leaf: it imports no other API module but the option and signal
//! types. What must happen above it (spawning a connection's task, running a handler,
//! membership callbacks) comes back from the engine as data ([`Effects`]) and is carried
//! out through [`Upcalls`], which the system installs when it is built (system.rs).

use std::any::Any;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;

use smallvec::SmallVec;

use super::options::SystemOptions;
use super::signal::ConnSignal;
use crate::engine::{CallEvent, CallId, ConnId, Endpoint, Event, Instant, PeerInfo, Request};
use crate::runtime::{BoxFuture, RuntimeHandle};

/// What the shared state calls back into: the parts of a system above it. Installed
/// once, by the system's constructor.
pub(crate) trait Upcalls: Send + Sync + 'static {
    /// The task that dials `addr` for the engine's connection `conn` and then serves it.
    fn dial(
        &self,
        inner: &Arc<Inner>,
        conn: ConnId,
        addr: String,
        signal: Arc<ConnSignal>,
    ) -> BoxFuture<'static, ()>;
    /// Runs the handler of a request the engine handed out (`signal` is its connection's).
    fn dispatch(&self, inner: &Arc<Inner>, request: Request, signal: Option<Arc<ConnSignal>>);
    /// Runs connect and configuration-change callbacks.
    fn membership_changed(&self, inner: &Arc<Inner>, connected: &[PeerInfo]);
    /// How many handlers are running now.
    fn running_handlers(&self) -> usize;
    /// The concrete type, for the system's own use (registering handlers).
    fn as_any(&self) -> &dyn Any;
}

/// What an engine step hands back to run once the lock is released: user code and
/// wake-ups never run under the lock.
#[derive(Default)]
pub(crate) struct Effects {
    pub(crate) wakers: SmallVec<[Waker; 4]>,
    /// Rare (a dial per connect), so a `Vec`: empty costs nothing to make or move.
    pub(crate) dials: Vec<(ConnId, String, Arc<ConnSignal>)>,
    /// Requests to dispatch, each with its connection's signal (none in-process).
    pub(crate) requests: SmallVec<[(Request, Option<Arc<ConnSignal>>); 2]>,
    pub(crate) connected: Vec<PeerInfo>,
    pub(crate) membership_changed: bool,
}

/// The progress of one call, as its future sees it.
#[derive(Default)]
pub(crate) struct CallSlot {
    /// Events not yet taken, oldest first. Not inline: every call in flight would carry
    /// the room for them (four events, 256 B, in a `BTreeMap` node about half full)
    /// from its start, while the events of most calls come late (their requests wait
    /// in queues first) and are taken soon after; one allocation when the first one
    /// comes costs less than that room.
    pub(crate) events: VecDeque<CallEvent>,
    pub(crate) waker: Option<Waker>,
}

/// Everything behind the system's lock.
pub(crate) struct State {
    pub(crate) ep: Endpoint,
    pub(crate) now_floor: Instant,
    pub(crate) listeners: Vec<Arc<ConnSignal>>,
    pub(crate) conns: BTreeMap<ConnId, Arc<ConnSignal>>,
    pub(crate) calls: BTreeMap<CallId, CallSlot>,
    pub(crate) timer_waker: Option<Waker>,
    pub(crate) timer_armed: Option<Instant>,
    /// Wakers of pending `wait_for_config` futures, by waiter id; a future removes its
    /// own entry when dropped.
    pub(crate) membership_waiters: BTreeMap<u64, Waker>,
    pub(crate) next_waiter: u64,
    pub(crate) membership_version: u64,
    pub(crate) stopped: bool,
}

impl State {
    /// A fresh state around `ep`.
    pub(crate) fn new(ep: Endpoint, now: Instant) -> State {
        State {
            ep,
            now_floor: now,
            listeners: Vec::new(),
            conns: BTreeMap::new(),
            calls: BTreeMap::new(),
            timer_waker: None,
            timer_armed: None,
            membership_waiters: BTreeMap::new(),
            next_waiter: 0,
            membership_version: 0,
            stopped: false,
        }
    }

    /// Turns every pending engine event into an effect.
    fn drain(&mut self, fx: &mut Effects) {
        while let Some(event) = self.ep.poll_event() {
            match event {
                Event::Connect { conn, addr, .. } => {
                    let signal = Arc::new(ConnSignal::default());
                    self.conns.insert(conn, signal.clone());
                    fx.dials.push((conn, addr, signal));
                }
                Event::Transmit(conn) => {
                    if let Some(signal) = self.conns.get(&conn) {
                        fx.wakers.extend(signal.take_writer_waker());
                    }
                }
                Event::Close { conn, reason } => {
                    tracing::debug!(%conn, %reason, "engine closed connection");
                    if let Some(signal) = self.conns.remove(&conn) {
                        fx.wakers.extend(signal.close());
                    }
                }
                Event::Call { call, event } => {
                    if let Some(slot) = self.calls.get_mut(&call) {
                        slot.events.push_back(event);
                        fx.wakers.extend(slot.waker.take());
                    }
                }
                Event::Request(request) => {
                    let signal = self.conns.get(&request.id.conn).cloned();
                    fx.requests.push((request, signal));
                }
                Event::PeerConnected(info) => {
                    fx.connected.push(info);
                    fx.membership_changed = true;
                }
                Event::PeerDisconnected { .. } | Event::NodeUp { .. } | Event::NodeDown { .. } => {
                    fx.membership_changed = true;
                }
            }
        }
        if fx.membership_changed {
            self.membership_version += 1;
            fx.wakers
                .extend(std::mem::take(&mut self.membership_waiters).into_values());
        }
        let next = self.ep.poll_timeout();
        if let Some(next) = next
            && self.timer_armed.is_none_or(|armed| next < armed)
        {
            fx.wakers.extend(self.timer_waker.take());
        }
    }
}

/// The shared core every task and handle of one system points to.
pub(crate) struct Inner {
    pub(crate) rt: RuntimeHandle,
    pub(crate) options: SystemOptions,
    pub(crate) upcalls: Arc<dyn Upcalls>,
    /// Writers holding bytes taken from the engine and not yet fully written.
    pub(crate) writing: AtomicUsize,
    state: Mutex<State>,
}

impl Inner {
    pub(crate) fn new(
        rt: RuntimeHandle,
        options: SystemOptions,
        upcalls: Arc<dyn Upcalls>,
        state: State,
    ) -> Inner {
        Inner {
            rt,
            options,
            upcalls,
            writing: AtomicUsize::new(0),
            state: Mutex::new(state),
        }
    }

    pub(crate) fn writes_in_flight(&self) -> usize {
        self.writing.load(Ordering::Acquire)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the engine consistent (every engine call
        // completes or does nothing), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the engine at the runtime's current time, drains every output, and
    /// then, with the lock released, wakes futures, spawns tasks and dispatches requests.
    pub(crate) fn with<R>(self: &Arc<Self>, f: impl FnOnce(&mut State, Instant) -> R) -> R {
        let mut fx = Effects::default();
        let r = {
            let mut st = self.lock();
            // Runtimes are monotonic, but two threads may read the clock in one order
            // and take the lock in the other; the engine must never see time go back.
            let now = self.rt.now().max(st.now_floor);
            st.now_floor = now;
            let r = f(&mut st, now);
            st.drain(&mut fx);
            r
        };
        self.run_effects(fx);
        r
    }

    /// The one place effects run.
    fn run_effects(self: &Arc<Self>, fx: Effects) {
        for (conn, addr, signal) in fx.dials {
            self.rt.spawn(self.upcalls.dial(self, conn, addr, signal));
        }
        for (request, signal) in fx.requests {
            self.upcalls.dispatch(self, request, signal);
        }
        if !fx.connected.is_empty() || fx.membership_changed {
            self.upcalls.membership_changed(self, &fx.connected);
        }
        for waker in fx.wakers {
            waker.wake();
        }
    }

    /// Stops accepting new connections; existing ones go on.
    pub(crate) fn stop_listening(&self) {
        let listeners: Vec<Arc<ConnSignal>> = self.lock().listeners.drain(..).collect();
        for waker in listeners.iter().flat_map(|l| l.close()) {
            waker.wake();
        }
    }

    /// Stops listeners, closes every connection and ends the timer.
    pub(crate) fn shutdown(self: &Arc<Self>) {
        self.stop_listening();
        let mut wakers = Vec::new();
        self.with(|st, now| {
            st.stopped = true;
            wakers.extend(std::mem::take(&mut st.membership_waiters).into_values());
            let conns: Vec<ConnId> = st.conns.keys().copied().collect();
            for conn in conns {
                st.ep.close_connection(now, conn, "system stopped");
            }
            wakers.extend(st.timer_waker.take());
        });
        for waker in wakers {
            waker.wake();
        }
    }
}

/// Keeps a system alive; dropping the last one shuts it down.
pub(crate) struct Handle {
    pub(crate) inner: Arc<Inner>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.inner.shutdown();
    }
}

/// One process's gorums instance: its connections, its calls, its server.
///
/// Cheap to clone; every clone is the same instance. Configurations made from it share
/// its connections. When the last handle (system, configuration or node) is dropped, or
/// [`stop`](Self::stop) is called, its listeners stop and its connections close.
///
/// Its methods are in one place, the system module; this is only its data.
#[derive(Clone)]
pub struct System {
    pub(crate) handle: Arc<Handle>,
}

/// The bytes of an encoded message, for calls and handlers that work untyped.
pub(crate) fn encode<M: prost::Message>(msg: &M) -> bytes::Bytes {
    bytes::Bytes::from(msg.encode_to_vec())
}
