//! [`Sim`]: the simulator. It owns virtual time and the deterministic executor, creates
//! processes (each with its own [`SimRuntime`]), applies faults, and runs until a future
//! completes or a time is reached.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::Context;
use std::time::Duration;

use gorums_core::runtime::{BoxFuture, RuntimeHandle};

use crate::clock::nanos as duration_nanos;
use crate::config::SimConfig;
use crate::error::SimError;
use crate::events::Event;
use crate::faults::Fault;
use crate::ids::ProcessId;
use crate::inject::{apply, random_fault};
use crate::kernel::Garbage;
use crate::process::{Boot, Proc, ProcessOptions};
use crate::rng::SimRng;
use crate::runtime::SimRuntime;
use crate::sockets::connection;
use crate::tasks::ReadyQueue;
use crate::world::{Shared, World};

/// The simulator: many processes in one OS thread, virtual time, in-memory links, faults,
/// one seeded RNG. See the crate documentation.
pub struct Sim {
    shared: Arc<Shared>,
    config: SimConfig,
    polls_at_instant: u64,
    instant: u64,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("seed", &self.config.seed)
            .field("now", &self.now())
            .finish_non_exhaustive()
    }
}

impl Sim {
    /// A simulation with no processes yet.
    pub fn new(config: SimConfig) -> Sim {
        let ready = Arc::new(ReadyQueue::default());
        let world = World::new(
            config.seed,
            duration_nanos(config.latency),
            duration_nanos(config.jitter),
            config.trace,
            ready.clone(),
        );
        let shared = Arc::new(Shared::new(world, ready));
        if let Some(plan) = &config.faults {
            let first = plan.mean_interval;
            shared.with(|w| w.kernel.schedule(duration_nanos(first), Event::RandomFault));
        }
        Sim {
            shared,
            config,
            polls_at_instant: 0,
            instant: 0,
        }
    }

    /// The run's seed.
    pub fn seed(&self) -> u64 {
        self.config.seed
    }

    /// Virtual time since the start.
    pub fn now(&self) -> Duration {
        Duration::from_nanos(self.shared.lock().kernel.now)
    }

    /// The running hash of every event so far: equal for two runs of one seed.
    pub fn event_hash(&self) -> u64 {
        self.shared.lock().kernel.hash()
    }

    /// A generator forked from the simulation's RNG (for a workload's choices).
    pub fn rng(&self) -> SimRng {
        self.shared.with(|w| w.kernel.rng.fork())
    }

    /// Adds a process with nothing running on it; spawn on its [`runtime`](Self::runtime).
    /// It cannot be restarted after a crash (see [`add_process_with_boot`](Self::add_process_with_boot)).
    pub fn add_process(&mut self, options: ProcessOptions) -> ProcessId {
        self.shared.with(|w| {
            let pid = ProcessId(w.kernel.procs.len());
            w.kernel.procs.push(Proc::new(options));
            pid
        })
    }

    /// Adds a process and starts `boot` on it; a restart after a crash calls `boot`
    /// again with the new incarnation's runtime. What survives a crash is what `boot`
    /// captured (a "disk" the test keeps); everything else is lost.
    pub fn add_process_with_boot<F, Fut>(&mut self, options: ProcessOptions, boot: F) -> ProcessId
    where
        F: Fn(RuntimeHandle) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let pid = self.add_process(options);
        let boot: Boot = Arc::new(move |rt| Box::pin(boot(rt)) as BoxFuture<'static, ()>);
        self.shared
            .with(|w| w.kernel.procs[pid.0].boot = Some(boot.clone()));
        let rt = self.runtime(pid);
        let fut = boot(rt);
        self.shared.with(|w| w.spawn(pid, 0, fut));
        pid
    }

    /// The runtime of the process's current incarnation.
    pub fn runtime(&self, pid: ProcessId) -> RuntimeHandle {
        let incarnation = self
            .shared
            .with(|w| w.kernel.procs.get(pid.0).map_or(0, |p| p.incarnation));
        Arc::new(SimRuntime::new(self.shared.clone(), pid, incarnation))
    }

    /// Spawns `fut` on the process's current incarnation.
    pub fn spawn(&self, pid: ProcessId, fut: impl Future<Output = ()> + Send + 'static) {
        self.runtime(pid).spawn(Box::pin(fut));
    }

    /// Whether the process is up.
    pub fn is_up(&self, pid: ProcessId) -> bool {
        self.shared
            .with(|w| w.kernel.procs.get(pid.0).is_some_and(|p| p.alive))
    }

    /// Applies `fault` at virtual time `at` (at once if that has passed).
    pub fn schedule(&mut self, at: Duration, fault: Fault) {
        self.shared
            .with(|w| w.kernel.schedule(duration_nanos(at), Event::Fault(fault)));
    }

    /// Applies `fault` now.
    pub fn apply(&mut self, fault: Fault) {
        let restart = self.shared.with(|w| apply(w, fault));
        if let Some(pid) = restart {
            self.restart(pid);
        }
    }

    fn restart(&mut self, pid: ProcessId) {
        let Some((incarnation, boot)) = self.shared.with(|w| w.restart(pid)) else {
            return;
        };
        if let Some(boot) = boot {
            let rt: RuntimeHandle =
                Arc::new(SimRuntime::new(self.shared.clone(), pid, incarnation));
            let fut = boot(rt);
            self.shared.with(|w| w.spawn(pid, incarnation, fut));
        }
    }

    /// Runs every task and event up to virtual time `until`.
    ///
    /// # Errors
    ///
    /// [`SimError::Livelock`] if tasks spin without time advancing.
    pub fn run_until(&mut self, until: Duration) -> Result<(), SimError> {
        let until = duration_nanos(until);
        loop {
            self.poll_ready()?;
            if let Step::Idle | Step::Beyond = self.next_event(until) {
                self.shared.with(|w| w.kernel.now = w.kernel.now.max(until));
                return Ok(());
            }
        }
    }

    /// Spawns `fut` on process `pid` and runs the simulation until it completes; the
    /// other tasks simply stop being polled when it does.
    ///
    /// # Errors
    ///
    /// [`SimError::Stalled`] when nothing can happen any more, [`SimError::TimeLimit`]
    /// past the configured limit (a crash of `pid` ends in one of these), and
    /// [`SimError::Livelock`].
    pub fn run<T, F>(&mut self, pid: ProcessId, fut: F) -> Result<T, SimError>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let out: Arc<Mutex<Option<T>>> = Arc::new(Mutex::new(None));
        let o = out.clone();
        self.spawn(pid, async move {
            let v = fut.await;
            *o.lock().unwrap_or_else(|p| p.into_inner()) = Some(v);
        });
        let limit = duration_nanos(self.config.time_limit);
        let take = |out: &Mutex<Option<T>>| out.lock().unwrap_or_else(|p| p.into_inner()).take();
        loop {
            self.poll_ready()?;
            if let Some(v) = take(&out) {
                return Ok(v);
            }
            match self.next_event(limit) {
                Step::Idle => {
                    let at = self.now();
                    return Err(SimError::Stalled { at });
                }
                Step::Beyond => {
                    let at = Duration::from_nanos(limit);
                    return Err(SimError::TimeLimit { at });
                }
                Step::Done | Step::Restart(_) => {}
            }
        }
    }

    /// Polls every ready task until none is left.
    fn poll_ready(&mut self) -> Result<(), SimError> {
        while let Some(id) = self.shared.ready.pop() {
            let taken = self
                .shared
                .with(|w| w.tasks.take_for_poll(&mut w.kernel, id));
            let Some((mut fut, waker)) = taken else {
                continue;
            };
            self.polls_at_instant += 1;
            if self.polls_at_instant > self.config.max_polls_per_instant {
                let at = self.now();
                drop(fut);
                return Err(SimError::Livelock { at });
            }
            let done = fut
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_ready();
            let leftover = self.shared.with(|w| w.tasks.put_back(id, fut, done));
            drop(leftover);
        }
        Ok(())
    }

    /// Advances time to the next event (not past `limit`) and fires it; `Idle` if there
    /// is none at all, `Beyond` if the next one is past `limit`.
    fn next_event(&mut self, limit: u64) -> Step {
        let shared = self.shared.clone();
        let plan = self.config.faults.clone();
        let step = shared.with(|w| {
            let Some((at, seq)) = w.kernel.events.first() else {
                return Step::Idle;
            };
            if at > limit {
                return Step::Beyond;
            }
            let Some(event) = w.kernel.events.remove(&(at, seq)) else {
                return Step::Idle;
            };
            w.kernel.now = w.kernel.now.max(at);
            match event {
                Event::Wake(waker) => {
                    w.kernel.wake.push(waker);
                    Step::Done
                }
                Event::Deliver { conn, dir } => {
                    w.net.deliver(&mut w.kernel, conn, dir);
                    Step::Done
                }
                Event::ConnectArrive(id) => {
                    let make = |conn, end, peer| connection(&shared, conn, end, peer);
                    w.net.connect_arrive(&mut w.kernel, id, &make);
                    Step::Done
                }
                Event::ConnectDone(id) => {
                    w.net.connect_done(&mut w.kernel, id);
                    Step::Done
                }
                Event::Fault(fault) => match apply(w, fault) {
                    Some(pid) => Step::Restart(pid),
                    None => Step::Done,
                },
                Event::RandomFault => match plan {
                    Some(plan) => match random_fault(w, &plan) {
                        Some(pid) => Step::Restart(pid),
                        None => Step::Done,
                    },
                    None => Step::Done,
                },
            }
        });
        let now = self.shared.lock().kernel.now;
        if now != self.instant {
            self.instant = now;
            self.polls_at_instant = 0;
        }
        if let Step::Restart(pid) = step {
            self.restart(pid);
            return Step::Done;
        }
        step
    }
}

enum Step {
    Idle,
    Beyond,
    Done,
    Restart(ProcessId),
}

impl Drop for Sim {
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
