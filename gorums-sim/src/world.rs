//! The simulated world: virtual time, the event queue, processes and their tasks, the
//! event hash and the trace. One lock guards it; the executor never holds that lock while
//! it polls a task, wakes a waker or drops a future.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Wake, Waker};

use gorums_core::runtime::BoxFuture;

use crate::events::{Event, EventKey, EventQueue};
use crate::ids::ProcessId;
use crate::net::{Conn, ListenerEntry, PendingConnect};
use crate::process::{Boot, Proc};
use crate::rng::SimRng;
use crate::trace::{EventLog, Note};

/// Anything the world must drop once its lock is released (futures, connections,
/// wakers: their `Drop` may call back into the simulator).
pub(crate) type Garbage = Box<dyn Send>;

/// The state shared by the simulator, its runtime handles, links and wakers.
pub(crate) struct Shared {
    world: Mutex<World>,
    pub(crate) ready: Arc<ReadyQueue>,
}

impl Shared {
    pub(crate) fn new(world: World, ready: Arc<ReadyQueue>) -> Shared {
        Shared {
            world: Mutex::new(world),
            ready,
        }
    }

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
            let wakers = std::mem::take(&mut w.wake);
            let garbage = std::mem::take(&mut w.garbage);
            (r, wakers, garbage)
        };
        for waker in wakers {
            waker.wake();
        }
        drop(garbage);
        r
    }
}

/// Tasks woken and waiting for a poll, in wake order.
#[derive(Default)]
pub(crate) struct ReadyQueue {
    queue: Mutex<VecDeque<u64>>,
}

impl ReadyQueue {
    pub(crate) fn push(&self, id: u64) {
        self.queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(id);
    }

    pub(crate) fn pop(&self) -> Option<u64> {
        self.queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
    }

    pub(crate) fn clear(&self) {
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// A task's waker: puts the task on the ready queue once until it is polled again.
pub(crate) struct TaskWaker {
    pub(crate) id: u64,
    pub(crate) queued: AtomicBool,
    pub(crate) ready: Arc<ReadyQueue>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.ready.push(self.id);
        }
    }
}

pub(crate) struct Task {
    pub(crate) pid: ProcessId,
    pub(crate) fut: Option<BoxFuture<'static, ()>>,
    pub(crate) waker: Arc<TaskWaker>,
}

pub(crate) struct World {
    pub(crate) now: u64,
    pub(crate) events: EventQueue,
    pub(crate) rng: SimRng,
    log: EventLog,
    pub(crate) procs: Vec<Proc>,
    pub(crate) tasks: BTreeMap<u64, Task>,
    next_task: u64,
    pub(crate) conns: BTreeMap<u64, Conn>,
    pub(crate) next_conn: u64,
    pub(crate) listeners: BTreeMap<String, ListenerEntry>,
    pub(crate) next_listener: u64,
    pub(crate) pending: BTreeMap<u64, PendingConnect>,
    pub(crate) next_port: u32,
    /// Directed links that drop nothing but deliver nothing either (held until healed).
    pub(crate) blocked: BTreeSet<(ProcessId, ProcessId)>,
    pub(crate) latency: u64,
    pub(crate) jitter: u64,
    pub(crate) wake: Vec<Waker>,
    pub(crate) garbage: Vec<Garbage>,
    ready: Arc<ReadyQueue>,
}

impl World {
    pub(crate) fn new(
        seed: u64,
        latency: u64,
        jitter: u64,
        trace: bool,
        ready: Arc<ReadyQueue>,
    ) -> World {
        World {
            now: 0,
            events: EventQueue::default(),
            rng: SimRng::new(seed),
            log: EventLog::new(trace),
            procs: Vec::new(),
            tasks: BTreeMap::new(),
            next_task: 0,
            conns: BTreeMap::new(),
            next_conn: 0,
            listeners: BTreeMap::new(),
            next_listener: 0,
            pending: BTreeMap::new(),
            next_port: 40_000,
            blocked: BTreeSet::new(),
            latency,
            jitter,
            wake: Vec::new(),
            garbage: Vec::new(),
            ready,
        }
    }

    /// Folds one event into the running hash, and prints it when tracing.
    pub(crate) fn note(&mut self, note: Note, pid: ProcessId, a: u64, b: u64) {
        self.log.fold(self.now, note, pid, a, b);
        if self.log.trace {
            let name = self.procs.get(pid.0).map_or("-", |p| p.name.as_str());
            EventLog::print(self.now, name, note, a, b);
        }
    }

    pub(crate) fn hash(&self) -> u64 {
        self.log.hash()
    }

    pub(crate) fn schedule(&mut self, at: u64, event: Event) -> EventKey {
        self.events.schedule(self.now, at, event)
    }

    /// One link latency: the base plus jitter drawn from the seed.
    pub(crate) fn delay(&mut self) -> u64 {
        self.latency + self.rng.below(self.jitter + 1)
    }

    pub(crate) fn is_current(&self, pid: ProcessId, incarnation: u64) -> bool {
        self.procs
            .get(pid.0)
            .is_some_and(|p| p.alive && p.incarnation == incarnation)
    }

    pub(crate) fn is_blocked(&self, from: ProcessId, to: ProcessId) -> bool {
        !self.blocked.is_empty() && self.blocked.contains(&(from, to))
    }

    /// Adds a task of `pid` and queues its first poll; a task of a dead incarnation is
    /// dropped instead.
    pub(crate) fn spawn(&mut self, pid: ProcessId, incarnation: u64, fut: BoxFuture<'static, ()>) {
        if !self.is_current(pid, incarnation) {
            self.garbage.push(Box::new(fut));
            return;
        }
        let id = self.next_task;
        self.next_task += 1;
        let waker = Arc::new(TaskWaker {
            id,
            queued: AtomicBool::new(true),
            ready: self.ready.clone(),
        });
        self.tasks.insert(
            id,
            Task {
                pid,
                fut: Some(fut),
                waker,
            },
        );
        self.ready.push(id);
        self.note(Note::Spawn, pid, id, 0);
    }

    /// Crashes `pid`: its tasks are dropped, its listeners unbound, its connections
    /// reset (in-flight bytes lost, the peers see an error). Returns false if it was
    /// already down.
    pub(crate) fn crash(&mut self, pid: ProcessId) -> bool {
        let Some(p) = self.procs.get_mut(pid.0) else {
            return false;
        };
        if !p.alive {
            return false;
        }
        p.alive = false;
        p.incarnation += 1;
        p.paused = false;
        p.deferred.clear();
        self.note(Note::Crash, pid, 0, 0);
        let ids: Vec<u64> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.pid == pid)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            if let Some(task) = self.tasks.remove(&id) {
                self.garbage.push(Box::new(task.fut));
            }
        }
        let addrs: Vec<String> = self
            .listeners
            .iter()
            .filter(|(_, l)| l.pid == pid)
            .map(|(a, _)| a.clone())
            .collect();
        for addr in addrs {
            if let Some(l) = self.listeners.remove(&addr) {
                self.garbage.push(Box::new(l));
            }
        }
        let conns: Vec<u64> = self
            .conns
            .iter()
            .filter(|(_, c)| c.ends.iter().any(|e| e.pid == pid))
            .map(|(id, _)| *id)
            .collect();
        for conn in conns {
            self.reset(conn);
        }
        let dials: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, d)| d.pid == pid)
            .map(|(id, _)| *id)
            .collect();
        for id in dials {
            if let Some(d) = self.pending.remove(&id) {
                self.garbage.push(Box::new(d));
            }
        }
        true
    }

    /// Brings a crashed process back up; returns its boot function if it has one.
    pub(crate) fn restart(&mut self, pid: ProcessId) -> Option<(u64, Option<Boot>)> {
        let p = self.procs.get_mut(pid.0)?;
        if p.alive {
            return None;
        }
        p.alive = true;
        let out = (p.incarnation, p.boot.clone());
        self.note(Note::Restart, pid, out.0, 0);
        Some(out)
    }

    pub(crate) fn pause(&mut self, pid: ProcessId, paused: bool) {
        let Some(p) = self.procs.get_mut(pid.0) else {
            return;
        };
        if !p.alive || p.paused == paused {
            return;
        }
        p.paused = paused;
        let deferred = std::mem::take(&mut p.deferred);
        for id in deferred {
            self.ready.push(id);
        }
        self.note(if paused { Note::Pause } else { Note::Resume }, pid, 0, 0);
    }

    pub(crate) fn block(&mut self, from: ProcessId, to: ProcessId) {
        if from != to && self.blocked.insert((from, to)) {
            self.note(Note::Partition, from, to.0 as u64, 0);
        }
    }

    pub(crate) fn heal(&mut self, from: ProcessId, to: ProcessId) {
        if self.blocked.remove(&(from, to)) {
            self.note(Note::Heal, from, to.0 as u64, 0);
        }
    }

    /// Takes every task, listener, pending dial and boot function, so that the cycles
    /// through them (a task holds a runtime handle that holds the world) are broken.
    pub(crate) fn take_everything(&mut self) -> Vec<Garbage> {
        let mut out: Vec<Garbage> = std::mem::take(&mut self.garbage);
        for (_, task) in std::mem::take(&mut self.tasks) {
            out.push(Box::new(task.fut));
        }
        out.push(Box::new(std::mem::take(&mut self.listeners)));
        out.push(Box::new(std::mem::take(&mut self.pending)));
        out.push(Box::new(self.events.take_all()));
        for p in &mut self.procs {
            out.extend(p.boot.take().map(|b| Box::new(b) as Garbage));
        }
        out.extend(
            std::mem::take(&mut self.wake)
                .into_iter()
                .map(|w| Box::new(w) as Garbage),
        );
        out
    }
}
