//! [`Kernel`]: the part of the world every other part needs. Virtual time, the event
//! queue, the RNG, the event log, the process table, and the wakers and garbage that
//! wait for the world's lock to be released. The network and the task table are
//! built on it and handed it by the world (`&mut Kernel`), so it knows neither.

use std::task::Waker;

use crate::buggify_plan::Sites;
use crate::chart::{ChartHandle, watched_record};
use crate::clock::Clock;
use crate::events::{Event, EventKey, EventQueue};
use crate::faults::Fault;
use crate::ids::ProcessId;
use crate::process::Proc;
use crate::rng::Streams;
use crate::trace::{EventLog, Note, payload_digest};

/// Anything the world must drop once its lock is released (futures, connections,
/// wakers: their `Drop` may call back into the simulator).
pub(crate) type Garbage = Box<dyn Send>;

/// Time, events, randomness, the log and the processes.
pub(crate) struct Kernel {
    /// Virtual time, in nanoseconds since the start.
    pub(crate) now: u64,
    pub(crate) events: EventQueue,
    /// The run's random streams (the scheduling one is the executor's to use).
    pub(crate) rng: Streams,
    log: EventLog,
    pub(crate) procs: Vec<Proc>,
    /// Wakers to wake once the lock is released.
    pub(crate) wake: Vec<Waker>,
    /// What to drop once the lock is released.
    pub(crate) garbage: Vec<Garbage>,
    /// Every fault applied so far, scripted or drawn, with its virtual time.
    pub(crate) fault_log: Vec<(u64, Fault)>,
    /// Nanoseconds of virtual CPU each poll costs its process (0: polls are free).
    pub(crate) cpu_per_poll: u64,
    /// The fault-injection points, when the run has them on.
    pub(crate) buggify: Option<Sites>,
    /// The message sequence chart being recorded, if one is (`chart.rs`).
    pub(crate) chart: Option<ChartHandle>,
}

impl Kernel {
    /// Time zero, no events, no processes; every random choice drawn from `seed`.
    pub(crate) fn new(seed: u64, trace: bool) -> Kernel {
        Kernel {
            now: 0,
            events: EventQueue::default(),
            rng: Streams::new(seed),
            log: EventLog::new(trace),
            procs: Vec::new(),
            wake: Vec::new(),
            garbage: Vec::new(),
            fault_log: Vec::new(),
            cpu_per_poll: 0,
            buggify: None,
            chart: watched_record(),
        }
    }

    /// Folds one event into the running hash, and prints it when tracing.
    pub(crate) fn note(&mut self, note: Note, pid: ProcessId, a: u64, b: u64) {
        self.note_digest(note, pid, a, b, 0);
    }

    /// [`note`](Self::note) for an event carrying `bytes`: the hash covers their content.
    pub(crate) fn note_bytes(&mut self, note: Note, pid: ProcessId, a: u64, b: u64, bytes: &[u8]) {
        self.note_digest(note, pid, a, b, payload_digest(bytes));
    }

    fn note_digest(&mut self, note: Note, pid: ProcessId, a: u64, b: u64, payload: u64) {
        let procs = &self.procs;
        let names = || procs.iter().map(|p| p.name.clone()).collect();
        self.log.fold(self.now, note, pid, [a, b, payload], names);
        if self.log.trace {
            let name = self.procs.get(pid.0).map_or("-", |p| p.name.as_str());
            EventLog::print(self.now, name, note, a, b);
        }
    }

    /// The hash of every event so far.
    pub(crate) fn hash(&self) -> u64 {
        self.log.hash()
    }

    /// Queues `event` at virtual time `at` (now if that has passed).
    pub(crate) fn schedule(&mut self, at: u64, event: Event) -> EventKey {
        self.events.schedule(self.now, at, event)
    }

    /// Whether `pid` is up in incarnation `incarnation` (a handle of an older one is
    /// dead).
    pub(crate) fn is_current(&self, pid: ProcessId, incarnation: u64) -> bool {
        self.procs
            .get(pid.0)
            .is_some_and(|p| p.alive && p.incarnation == incarnation)
    }

    /// The host part of `pid`'s outgoing addresses.
    pub(crate) fn host_of(&self, pid: ProcessId) -> &str {
        self.procs.get(pid.0).map_or("?", |p| p.host.as_str())
    }

    /// `pid`'s clock (an exact one for an unknown process).
    pub(crate) fn clock_of(&self, pid: ProcessId) -> Clock {
        self.procs.get(pid.0).map(|p| p.clock).unwrap_or_default()
    }
}
