//! [`SimRuntime`]: one simulated process's view of the simulator, as a gorums-core
//! [`Runtime`]. Its clock is the process's (skewed) clock; its tasks, listeners and
//! connections belong to the process and die with it, and present its simulated
//! certificate (or the one [`SimRuntime::with_identity`] gives this handle).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use gorums_core::engine::Instant;
use gorums_core::runtime::{BoxFuture, CallStart, Connection, Listener, PeerIdentity, Runtime};

use crate::events::{Event, EventKey};
use crate::ids::ProcessId;
use crate::kernel::Kernel;
use crate::sockets::{Dial, SimListener};
use crate::trace::Note;
use crate::world::Shared;

/// One incarnation of one simulated process, as a gorums runtime. After the process
/// crashes, this handle's spawns are dropped, its dials and binds fail and its timers
/// never fire; a restart hands out a new handle.
#[derive(Clone)]
pub struct SimRuntime {
    shared: Arc<Shared>,
    pid: ProcessId,
    incarnation: u64,
    /// Presented instead of the process's identity, if set.
    identity: Option<PeerIdentity>,
}

impl std::fmt::Debug for SimRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimRuntime")
            .field("pid", &self.pid)
            .field("incarnation", &self.incarnation)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl SimRuntime {
    /// The runtime of `pid`'s incarnation `incarnation`.
    pub(crate) fn new(shared: Arc<Shared>, pid: ProcessId, incarnation: u64) -> SimRuntime {
        SimRuntime {
            shared,
            pid,
            incarnation,
            identity: None,
        }
    }

    /// The process this runtime belongs to.
    pub fn process(&self) -> ProcessId {
        self.pid
    }

    /// This runtime with its connections (dialled and accepted) presenting `identity`
    /// rather than its process's [`identity`](crate::ProcessOptions::identity): one
    /// process can then play several certified peers, as a TLS adapter given several
    /// certificates would.
    pub fn with_identity(mut self, identity: PeerIdentity) -> SimRuntime {
        self.identity = Some(identity);
        self
    }

    /// The identity this runtime's connections present.
    fn identity(&self, k: &Kernel) -> Option<PeerIdentity> {
        self.identity
            .clone()
            .or_else(|| k.procs.get(self.pid.0).and_then(|p| p.identity.clone()))
    }
}

impl Runtime for SimRuntime {
    fn now(&self) -> Instant {
        let pid = self.pid;
        self.shared.with(|w| {
            let k = &w.kernel;
            Instant::from_nanos(k.clock_of(pid).local(k.now))
        })
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        Box::pin(Sleep {
            shared: self.shared.clone(),
            pid: self.pid,
            deadline: deadline.as_nanos(),
            key: None,
        })
    }

    fn spawn(&self, task: BoxFuture<'static, ()>) {
        self.shared
            .with(|w| w.spawn(self.pid, self.incarnation, task));
    }

    fn connect(&self, addr: &str) -> BoxFuture<'static, io::Result<Connection>> {
        let slot = self.shared.with(|w| {
            let identity = self.identity(&w.kernel);
            w.net
                .dial(&mut w.kernel, self.pid, self.incarnation, addr, identity)
        });
        Box::pin(Dial(slot))
    }

    fn listen(&self, addr: &str) -> BoxFuture<'static, io::Result<Box<dyn Listener>>> {
        let bound = self.shared.with(|w| {
            let identity = self.identity(&w.kernel);
            w.net
                .bind(&mut w.kernel, self.pid, self.incarnation, addr, identity)
        });
        let shared = self.shared.clone();
        Box::pin(std::future::ready(bound.map(|(id, addr)| {
            Box::new(SimListener { shared, id, addr }) as Box<dyn Listener>
        })))
    }

    fn buggify(&self, site: &'static str) -> bool {
        self.shared.with(|w| {
            let k = &mut w.kernel;
            if !k.is_current(self.pid, self.incarnation) {
                return false;
            }
            let Some(sites) = k.buggify.as_mut() else {
                return false;
            };
            let fired = sites.ask(site);
            if fired {
                let count = sites.fired(site);
                k.note(Note::Buggify, self.pid, count, 0);
            }
            fired
        })
    }

    fn call_started(&self, call: &CallStart<'_>) {
        self.shared.with(|w| {
            if w.net.adversary.is_some() && w.kernel.is_current(self.pid, self.incarnation) {
                w.net.call_started(&mut w.kernel, self.pid, call);
            }
        });
    }
}

/// A timer on the world's event queue, until `deadline` on the process's clock. Each
/// poll maps the deadline to virtual time again, so a clock skewed meanwhile never lets
/// it end early (a clock sped up may let it end late, as a busy host would).
struct Sleep {
    shared: Arc<Shared>,
    pid: ProcessId,
    deadline: u64,
    key: Option<EventKey>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        this.shared.with(|w| {
            let k = &mut w.kernel;
            let at = k.clock_of(this.pid).global(this.deadline);
            if k.now >= at {
                if let Some(key) = this.key.take()
                    && let Some(event) = k.events.remove(&key)
                {
                    k.garbage.push(Box::new(event));
                }
                return Poll::Ready(());
            }
            match this
                .key
                .filter(|key| key.0 == at)
                .and_then(|key| k.events.get_mut(&key))
            {
                Some(Event::Wake(waker)) => {
                    if !waker.will_wake(cx.waker()) {
                        let old = std::mem::replace(waker, cx.waker().clone());
                        k.garbage.push(Box::new(old));
                    }
                }
                _ => {
                    if let Some(old) = this.key.take().and_then(|key| k.events.remove(&key)) {
                        k.garbage.push(Box::new(old));
                    }
                    this.key = Some(k.schedule(at, Event::Wake(cx.waker().clone())));
                    k.note(Note::Timer, this.pid, at, 0);
                }
            }
            Poll::Pending
        })
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.shared.with(|w| {
                let k = &mut w.kernel;
                if let Some(event) = k.events.remove(&key) {
                    k.garbage.push(Box::new(event));
                }
            });
        }
    }
}
