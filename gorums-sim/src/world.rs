//! [`World`]: everything a simulation is made of, under one lock ([`Shared`]). The
//! [`Kernel`] (time, events, randomness, log, processes), the [`Tasks`], the
//! [`Net`] and the [`Files`] of the disks, and what concerns them all: a process's
//! crash, restart and pause.
//!
//! The executor never holds the lock while it polls a task, wakes a waker or drops a
//! future: [`Shared::with`] wakes and drops what the world set aside once it is released.

use std::sync::{Arc, Mutex, MutexGuard};

use gorums_core::runtime::BoxFuture;

use crate::disk::DiskConfig;
use crate::files::Files;
use crate::ids::ProcessId;
use crate::kernel::{Garbage, Kernel};
use crate::net::Net;
use crate::process::Boot;
use crate::tasks::{ReadyQueue, Tasks};
use crate::trace::Note;

/// The state shared by the simulator, its runtime handles, links and wakers.
pub(crate) struct Shared {
    world: Mutex<World>,
    pub(crate) ready: Arc<ReadyQueue>,
}

impl Shared {
    /// `world` behind its lock; `ready` is the queue its tasks' wakers push to.
    pub(crate) fn new(world: World, ready: Arc<ReadyQueue>) -> Shared {
        Shared {
            world: Mutex::new(world),
            ready,
        }
    }

    /// The world, locked.
    pub(crate) fn lock(&self) -> MutexGuard<'_, World> {
        // A panic in a test while the lock is held must not hide the panic's message
        // behind a poisoned lock on the way out.
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the world, then, with the lock released, wakes what it asked to wake
    /// and drops what it threw away.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        let (r, wakers, garbage) = {
            let mut w = self.lock();
            let r = f(&mut w);
            let wakers = std::mem::take(&mut w.kernel.wake);
            let garbage = std::mem::take(&mut w.kernel.garbage);
            (r, wakers, garbage)
        };
        for waker in wakers {
            waker.wake();
        }
        drop(garbage);
        r
    }
}

/// The simulated world.
pub(crate) struct World {
    pub(crate) kernel: Kernel,
    pub(crate) tasks: Tasks,
    pub(crate) net: Net,
    pub(crate) files: Files,
}

impl World {
    /// An empty world: time zero, no processes; links take `latency` plus up to
    /// `jitter` nanoseconds, a crash resets each of its connections with probability
    /// `crash_reset`; tasks are queued on `ready`.
    pub(crate) fn new(
        seed: u64,
        latency: u64,
        jitter: u64,
        crash_reset: f64,
        disk: DiskConfig,
        trace: bool,
        ready: Arc<ReadyQueue>,
    ) -> World {
        World {
            kernel: Kernel::new(seed, trace),
            tasks: Tasks::new(ready),
            net: Net::new(latency, jitter, crash_reset),
            files: Files::new(disk),
        }
    }

    /// Adds a task of `pid`'s incarnation `incarnation` (dropped if that is dead).
    pub(crate) fn spawn(&mut self, pid: ProcessId, incarnation: u64, fut: BoxFuture<'static, ()>) {
        self.tasks.spawn(&mut self.kernel, pid, incarnation, fut);
    }

    /// Crashes `pid`: its tasks are dropped, its listeners unbound, its connections
    /// silent (half-open at the peers) or, with `reset`, reset, its disk's unsynced
    /// writes lost. Returns false if it was already down.
    pub(crate) fn crash(&mut self, pid: ProcessId, reset: bool) -> bool {
        let k = &mut self.kernel;
        let Some(p) = k.procs.get_mut(pid.0) else {
            return false;
        };
        if !p.alive {
            return false;
        }
        p.alive = false;
        p.incarnation += 1;
        p.paused = false;
        p.deferred.clear();
        k.note(Note::Crash, pid, 0, 0);
        self.tasks.drop_process(k, pid);
        self.net.drop_process(k, pid, reset);
        self.files.crash(k, pid);
        true
    }

    /// Brings a crashed process back up; returns its new incarnation and its boot
    /// function if it has one.
    pub(crate) fn restart(&mut self, pid: ProcessId) -> Option<(u64, Option<Boot>)> {
        let k = &mut self.kernel;
        let p = k.procs.get_mut(pid.0)?;
        if p.alive {
            return None;
        }
        p.alive = true;
        let out = (p.incarnation, p.boot.clone());
        k.note(Note::Restart, pid, out.0, 0);
        Some(out)
    }

    /// Pauses or resumes `pid`; on resume the tasks woken meanwhile are queued again.
    pub(crate) fn pause(&mut self, pid: ProcessId, paused: bool) {
        let k = &mut self.kernel;
        let Some(p) = k.procs.get_mut(pid.0) else {
            return;
        };
        if !p.alive || p.paused == paused {
            return;
        }
        p.paused = paused;
        let deferred = std::mem::take(&mut p.deferred);
        for id in deferred {
            self.tasks.ready().push(id);
        }
        k.note(if paused { Note::Pause } else { Note::Resume }, pid, 0, 0);
    }

    /// Whether nothing is left that could run or fire.
    pub(crate) fn is_empty(&self) -> bool {
        let k = &self.kernel;
        self.tasks.is_empty()
            && k.garbage.is_empty()
            && self.net.is_idle()
            && k.events.is_empty()
            && k.wake.is_empty()
    }

    /// Takes every task, listener, pending dial and boot function, so that the cycles
    /// through them (a task holds a runtime handle that holds the world) are broken.
    pub(crate) fn take_everything(&mut self) -> Vec<Garbage> {
        let mut out: Vec<Garbage> = std::mem::take(&mut self.kernel.garbage);
        self.tasks.take_all(&mut out);
        self.net.take_all(&mut out);
        out.push(Box::new(self.kernel.events.take_all()));
        for p in &mut self.kernel.procs {
            out.extend(p.boot.take().map(|b| Box::new(b) as Garbage));
        }
        out.extend(
            std::mem::take(&mut self.kernel.wake)
                .into_iter()
                .map(|w| Box::new(w) as Garbage),
        );
        out
    }
}
