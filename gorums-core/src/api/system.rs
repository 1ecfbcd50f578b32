//! [`System`]: one process's gorums instance. It owns the engine behind one lock and
//! turns the engine's events into woken futures and spawned tasks.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;
use std::time::Duration;

use bytes::Bytes;
use smallvec::SmallVec;

use super::driver::{self, ConnSignal};
use super::server::{Handlers, ServerOptions};
use crate::engine::{
    CallEvent, CallId, ConnId, Endpoint, EndpointConfig, Event, Instant, NodeId, PeerInfo, Request,
};
use crate::runtime::{BoxFuture, RuntimeHandle};
use crate::wire::proto::MetadataEntry;

/// How a [`System`] connects and what it announces; every field has a default.
#[derive(Clone, Debug)]
pub struct SystemOptions {
    /// This process's node id; 0 (the default) for an anonymous client.
    pub node_id: NodeId,
    /// Metadata sent in the hello on every connection (the peer's connect callback
    /// sees it).
    pub metadata: Vec<(String, String)>,
    /// How long a dial plus hello may take.
    pub connect_timeout: Duration,
    /// Bytes queued per connection before requests to that node fail with a full queue.
    pub send_queue_limit: usize,
    /// First redial delay after a failure (doubling, with jitter).
    pub initial_backoff: Duration,
    /// Longest redial delay.
    pub max_backoff: Duration,
    /// The largest frame sent or accepted.
    pub max_frame_len: usize,
    /// Seed for the engine's random choices (backoff jitter).
    pub seed: u64,
    /// The default deadline of calls made through configurations of this system
    /// (`None`: no deadline).
    pub call_timeout: Option<Duration>,
}

impl Default for SystemOptions {
    fn default() -> Self {
        let engine = EndpointConfig::default();
        SystemOptions {
            node_id: NodeId::ANONYMOUS,
            metadata: Vec::new(),
            connect_timeout: engine.connect_timeout,
            send_queue_limit: engine.send_queue_limit,
            initial_backoff: engine.initial_backoff,
            max_backoff: engine.max_backoff,
            max_frame_len: engine.max_frame_len,
            seed: 0,
            call_timeout: None,
        }
    }
}

/// What the event loop hands back to run once the lock is released: user code and
/// wake-ups never run under the lock.
#[derive(Default)]
pub(crate) struct Effects {
    pub(crate) wakers: SmallVec<[Waker; 4]>,
    pub(crate) tasks: SmallVec<[BoxFuture<'static, ()>; 1]>,
    pub(crate) requests: SmallVec<[Request; 2]>,
    pub(crate) connected: Vec<PeerInfo>,
    pub(crate) membership_changed: bool,
}

/// The progress of one call, as its future sees it.
#[derive(Default)]
pub(crate) struct CallSlot {
    /// Events not yet taken, oldest first (a few at most: inline, no allocation).
    pub(crate) events: SmallVec<[CallEvent; 4]>,
    pub(crate) waker: Option<Waker>,
}

pub(crate) struct State {
    pub(crate) ep: Endpoint,
    pub(crate) now_floor: Instant,
    pub(crate) known: BTreeMap<NodeId, String>,
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

/// The shared core every task and handle of one system points to.
pub(crate) struct Inner {
    pub(crate) rt: RuntimeHandle,
    pub(crate) options: SystemOptions,
    pub(crate) handlers: Handlers,
    /// Writers holding bytes taken from the engine and not yet fully written.
    pub(crate) writing: std::sync::atomic::AtomicUsize,
    state: Mutex<State>,
}

impl Inner {
    pub(crate) fn writes_in_flight(&self) -> usize {
        self.writing.load(std::sync::atomic::Ordering::Acquire)
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
            st.drain(self, &mut fx);
            r
        };
        self.run_effects(fx);
        r
    }

    fn run_effects(self: &Arc<Self>, fx: Effects) {
        for task in fx.tasks {
            self.rt.spawn(task);
        }
        for request in fx.requests {
            super::server::dispatch(self, request);
        }
        if !fx.connected.is_empty() || fx.membership_changed {
            super::server::notify_membership(self, &fx.connected);
        }
        for waker in fx.wakers {
            waker.wake();
        }
    }
}

impl State {
    /// Turns every pending engine event into an effect.
    pub(crate) fn drain(&mut self, inner: &Arc<Inner>, fx: &mut Effects) {
        while let Some(event) = self.ep.poll_event() {
            match event {
                Event::Connect { conn, addr, .. } => {
                    let signal = Arc::new(ConnSignal::default());
                    self.conns.insert(conn, signal.clone());
                    fx.tasks
                        .push(Box::pin(driver::dial(inner.clone(), conn, addr, signal)));
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
                        slot.events.push(event);
                        fx.wakers.extend(slot.waker.take());
                    }
                }
                Event::Request(request) => fx.requests.push(request),
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

/// One process's gorums instance: its connections, its calls, its server.
///
/// Cheap to clone; every clone is the same instance. Configurations made from it share
/// its connections. When the last handle (system, configuration or node) is dropped, or
/// [`stop`](Self::stop) is called, its listeners stop and its connections close.
#[derive(Clone)]
pub struct System {
    pub(crate) handle: Arc<Handle>,
}

/// Keeps a system alive; dropping the last one shuts it down.
pub(crate) struct Handle {
    pub(crate) inner: Arc<Inner>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        driver::shutdown(&self.inner);
    }
}

impl std::fmt::Debug for System {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("System")
            .field("node_id", &self.node_id())
            .finish_non_exhaustive()
    }
}

impl System {
    /// A new system on `runtime`. It connects to nothing and serves nothing until asked:
    /// see [`configuration`](Self::configuration) and [`listen`](Self::listen).
    pub fn new(runtime: RuntimeHandle, options: SystemOptions) -> System {
        Self::with_server(runtime, options, ServerOptions::default())
    }

    /// A new system whose server side uses `server` options (interceptors, callbacks).
    pub fn with_server(
        runtime: RuntimeHandle,
        options: SystemOptions,
        server: ServerOptions,
    ) -> System {
        let now = runtime.now();
        let config = EndpointConfig {
            node_id: options.node_id,
            metadata: options
                .metadata
                .iter()
                .map(|(key, value)| MetadataEntry {
                    key: key.clone(),
                    value: value.clone(),
                })
                .collect(),
            max_frame_len: options.max_frame_len,
            send_queue_limit: options.send_queue_limit,
            connect_timeout: options.connect_timeout,
            initial_backoff: options.initial_backoff,
            max_backoff: options.max_backoff,
            seed: options.seed,
        };
        let state = State {
            ep: Endpoint::new(config, now),
            now_floor: now,
            known: BTreeMap::new(),
            listeners: Vec::new(),
            conns: BTreeMap::new(),
            calls: BTreeMap::new(),
            timer_waker: None,
            timer_armed: None,
            membership_waiters: BTreeMap::new(),
            next_waiter: 0,
            membership_version: 0,
            stopped: false,
        };
        let inner = Arc::new(Inner {
            rt: runtime,
            options,
            handlers: Handlers::new(server),
            writing: std::sync::atomic::AtomicUsize::new(0),
            state: Mutex::new(state),
        });
        inner.rt.spawn(Box::pin(driver::timer(inner.clone())));
        System {
            handle: Arc::new(Handle { inner }),
        }
    }

    pub(crate) fn inner(&self) -> &Arc<Inner> {
        &self.handle.inner
    }

    /// This process's node id (0 for an anonymous client).
    pub fn node_id(&self) -> NodeId {
        self.handle.inner.options.node_id
    }

    /// The runtime this system runs on.
    pub fn runtime(&self) -> &RuntimeHandle {
        &self.handle.inner.rt
    }

    /// Stops the system: listeners stop accepting and every connection closes; calls in
    /// flight fail with "connection lost". Handlers already running finish on their own.
    pub fn stop(&self) {
        driver::shutdown(&self.handle.inner);
    }

    /// The number of two-way calls whose state the engine still holds (for checking
    /// that cancelled and finished calls are freed).
    pub fn live_calls(&self) -> usize {
        self.handle.inner.lock().ep.live_calls()
    }

    /// Bytes of an encoded message, for handlers and calls that work untyped.
    pub(crate) fn encode<M: prost::Message>(msg: &M) -> Bytes {
        Bytes::from(msg.encode_to_vec())
    }
}
