//! The deterministic executor: one thread, one ready queue, virtual time. It polls
//! woken tasks in the order the scheduler draws, then fires the next event (advancing time to it), and
//! repeats; it never holds the world's lock while a task runs. It also performs
//! restarts (a boot function is user code) and breaks the world's reference cycles when
//! the simulation is dropped.

use std::sync::Arc;
use std::task::Context;

use gorums_core::runtime::RuntimeHandle;

use crate::adversary::AdversaryState;
use crate::buggify_plan::Sites;
use crate::clock::nanos;
use crate::config::SimConfig;
use crate::disk::DiskHandle;
use crate::error::SimError;
use crate::events::Event;
use crate::faults::FaultPlan;
use crate::ids::ProcessId;
use crate::inject::{apply, random_fault, swarm};
use crate::kernel::Garbage;
use crate::rng::SimRng;
use crate::runtime::SimRuntime;
use crate::sched::Scheduler;
use crate::simdisk::SimDisk;
use crate::sockets::connection;
use crate::tasks::ReadyQueue;
use crate::world::{Shared, World};

/// What [`Executor::next_event`] did.
pub(crate) enum Step {
    /// No event is pending at all.
    Idle,
    /// The next event is past the limit (time did not move).
    Beyond,
    /// One event fired.
    Fired,
}

/// Runs a world's tasks and events.
pub(crate) struct Executor {
    pub(crate) shared: Arc<Shared>,
    plan: Option<FaultPlan>,
    max_polls_per_instant: u64,
    polls_at_instant: u64,
    instant: u64,
    scheduler: Scheduler,
}

impl Executor {
    /// A world made from `config`, with its first random fault scheduled if it has a
    /// plan.
    pub(crate) fn new(config: &SimConfig) -> Executor {
        let ready = Arc::new(ReadyQueue::default());
        let world = World::new(
            config.seed,
            nanos(config.latency),
            nanos(config.jitter),
            config.crash_reset,
            config.disk.clone(),
            config.trace,
            ready.clone(),
        );
        let shared = Arc::new(Shared::new(world, ready));
        shared.with(|w| {
            let k = &mut w.kernel;
            k.cpu_per_poll = nanos(config.cpu_per_poll);
            k.buggify = config
                .buggify
                .map(|plan| Sites::new(plan, k.rng.buggify.fork()));
            w.net.adversary = config.adversary.as_ref().map(AdversaryState::new);
        });
        let mut plan = config.faults.clone();
        if let Some(p) = &mut plan {
            if p.swarm {
                shared.with(|w| {
                    let (drawn, crash_reset) = swarm(p, &mut w.kernel.rng.faults);
                    w.net.set_crash_reset(crash_reset);
                    *p = drawn;
                });
            }
            let first = p.mean_interval;
            shared.with(|w| w.kernel.schedule(nanos(first), Event::RandomFault));
        }
        Executor {
            shared,
            plan,
            max_polls_per_instant: config.max_polls_per_instant,
            polls_at_instant: 0,
            instant: 0,
            scheduler: Scheduler::new(config.schedule, SimRng::stream(config.seed, "sched")),
        }
    }

    /// The fault plan random faults are drawn from (a swarm run's drawn one).
    pub(crate) fn plan(&self) -> Option<&FaultPlan> {
        self.plan.as_ref()
    }

    /// Virtual time, in nanoseconds.
    pub(crate) fn now(&self) -> u64 {
        self.shared.lock().kernel.now
    }

    /// A runtime handle for `pid`'s incarnation `incarnation`.
    pub(crate) fn runtime(&self, pid: ProcessId, incarnation: u64) -> RuntimeHandle {
        Arc::new(self.sim_runtime(pid, incarnation))
    }

    /// The same, as its own type.
    pub(crate) fn sim_runtime(&self, pid: ProcessId, incarnation: u64) -> SimRuntime {
        SimRuntime::new(self.shared.clone(), pid, incarnation)
    }

    /// The disk of `pid`'s incarnation `incarnation`.
    pub(crate) fn disk(&self, pid: ProcessId, incarnation: u64) -> SimDisk {
        SimDisk::new(self.shared.clone(), pid, incarnation)
    }

    /// The same, as handler code holds it.
    pub(crate) fn disk_handle(&self, pid: ProcessId, incarnation: u64) -> DiskHandle {
        Arc::new(self.disk(pid, incarnation))
    }

    /// Restarts a crashed `pid` and starts its boot function, if it has one.
    pub(crate) fn restart(&mut self, pid: ProcessId) {
        let Some((incarnation, boot)) = self.shared.with(|w| w.restart(pid)) else {
            return;
        };
        if let Some(boot) = boot {
            let rt = self.runtime(pid, incarnation);
            let fut = boot(rt, self.disk_handle(pid, incarnation));
            self.shared.with(|w| w.spawn(pid, incarnation, fut));
        }
    }

    /// Polls every ready task until none is left.
    ///
    /// # Errors
    ///
    /// [`SimError::Livelock`] past the allowed polls without time advancing.
    pub(crate) fn poll_ready(&mut self) -> Result<(), SimError> {
        loop {
            let scheduler = &mut self.scheduler;
            let Some(id) = self.shared.ready.pop_with(|q| scheduler.pick(q)) else {
                break;
            };
            let taken = self
                .shared
                .with(|w| w.tasks.take_for_poll(&mut w.kernel, id));
            let Some((mut fut, waker)) = taken else {
                continue;
            };
            self.polls_at_instant += 1;
            if self.polls_at_instant > self.max_polls_per_instant {
                let at = std::time::Duration::from_nanos(self.now());
                drop(fut);
                return Err(SimError::Livelock { at });
            }
            let done = fut
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_ready();
            if done {
                self.scheduler.forget(id);
            }
            let leftover = self.shared.with(|w| w.tasks.put_back(id, fut, done));
            drop(leftover);
        }
        Ok(())
    }

    /// Advances time to the next event (not past `limit`) and fires it, running a
    /// restart it calls for.
    pub(crate) fn next_event(&mut self, limit: u64) -> Step {
        let shared = self.shared.clone();
        let plan = self.plan.as_ref();
        let fired = shared.with(|w| {
            let Some((at, seq)) = w.kernel.events.first() else {
                return Err(Step::Idle);
            };
            if at > limit {
                return Err(Step::Beyond);
            }
            let Some(event) = w.kernel.events.remove(&(at, seq)) else {
                return Err(Step::Idle);
            };
            w.kernel.now = w.kernel.now.max(at);
            Ok(fire(&shared, w, event, plan))
        });
        let now = self.now();
        if now != self.instant {
            self.instant = now;
            self.polls_at_instant = 0;
        }
        match fired {
            Ok(Some(pid)) => {
                self.restart(pid);
                Step::Fired
            }
            Ok(None) => Step::Fired,
            Err(step) => step,
        }
    }
}

/// Fires one event; returns a process to restart (which must happen outside the lock).
fn fire(
    shared: &Arc<Shared>,
    w: &mut World,
    event: Event,
    plan: Option<&FaultPlan>,
) -> Option<ProcessId> {
    match event {
        Event::Wake(waker) => w.kernel.wake.push(waker),
        Event::Deliver { conn, dir } => w.net.deliver(&mut w.kernel, conn, dir),
        Event::ConnectArrive(id) => {
            let make = |conn, end, peer| connection(shared, conn, end, peer);
            w.net.connect_arrive(&mut w.kernel, id, &make);
        }
        Event::ConnectDone(id) => w.net.connect_done(&mut w.kernel, id),
        Event::Fault(fault) => return apply(w, fault),
        Event::RandomFault => return plan.and_then(|plan| random_fault(w, plan)),
    }
    None
}

impl Drop for Executor {
    fn drop(&mut self) {
        // Tasks hold runtime handles that hold the world: break the cycle. Dropping a
        // task may throw more away (a system shutting down); repeat until nothing is left.
        for _ in 0..100 {
            let garbage: Vec<Garbage> = self.shared.with(|w| w.take_everything());
            drop(garbage);
            if self.shared.lock().is_empty() {
                break;
            }
        }
        self.shared.ready.clear();
    }
}
