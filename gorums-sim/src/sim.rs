//! [`Sim`]: the façade a test drives. It creates processes (each with its own
//! [`SimRuntime`](crate::SimRuntime)), applies and schedules faults, and runs the
//! executor until a future completes or a time is reached. It holds no machinery of its
//! own: the world is in `world.rs`, the run loop in `executor.rs`.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gorums_core::runtime::{BoxFuture, RuntimeHandle};

use crate::buggify_plan::BuggifySite;
use crate::chart::{Chart, ChartHandle};
use crate::clock::nanos;
use crate::config::SimConfig;
use crate::disk::DiskHandle;
use crate::error::SimError;
use crate::events::Event;
use crate::executor::{Executor, Step};
use crate::faults::{Fault, FaultPlan};
use crate::ids::ProcessId;
use crate::inject::apply;
use crate::process::{Boot, Proc, ProcessOptions};
use crate::rng::SimRng;
use crate::runtime::SimRuntime;
use crate::simdisk::SimDisk;
use crate::world::World;

/// The simulator: many processes in one OS thread, virtual time, in-memory links, faults,
/// one seeded RNG. See the crate documentation.
pub struct Sim {
    exec: Executor,
    config: SimConfig,
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
        Sim {
            exec: Executor::new(&config),
            config,
        }
    }

    /// Runs `f` on the world under its lock (see `Shared::with`).
    fn world<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        self.exec.shared.with(f)
    }

    /// The run's seed.
    pub fn seed(&self) -> u64 {
        self.config.seed
    }

    /// Virtual time since the start.
    pub fn now(&self) -> Duration {
        Duration::from_nanos(self.exec.now())
    }

    /// The running hash of every event so far: equal for two runs of one seed.
    pub fn event_hash(&self) -> u64 {
        self.exec.shared.lock().kernel.hash()
    }

    /// The plan random faults are drawn from: the configured one, or the one a swarm
    /// plan drew for this seed.
    pub fn fault_plan(&self) -> Option<FaultPlan> {
        self.exec.plan().cloned()
    }

    /// Every fault applied so far (scripted or drawn) with its virtual time. Drawn
    /// faults come from the run's fault stream alone: the same seed gives the same
    /// faults at the same times even after a change to the protocol or the workload
    /// (as long as the change does not crash what a fault needs alive; which
    /// connection a random reset hits depends on the connections there are).
    ///
    /// Each fault is logged as applied, its draws resolved: a [`Fault::Crash`] of a
    /// live process as [`Fault::CrashSilent`] or [`Fault::CrashReset`], a
    /// [`Fault::ResetRandom`] as the [`Fault::ResetConnection`] it picked. So the log,
    /// scheduled with [`schedule_all`](Self::schedule_all) in a run of the same seed
    /// with random faults off, replays the run: nothing else reads the fault stream.
    pub fn fault_log(&self) -> Vec<(Duration, Fault)> {
        self.world(|w| {
            w.kernel
                .fault_log
                .iter()
                .map(|(at, f)| (Duration::from_nanos(*at), f.clone()))
                .collect()
        })
    }

    /// Every fault-injection point asked so far in this run, in name order, with
    /// whether it was enabled and how often it was asked and fired (empty unless
    /// [`SimConfig::buggify`](crate::SimConfig::buggify) is set).
    pub fn buggify_report(&self) -> Vec<(&'static str, BuggifySite)> {
        self.world(|w| {
            w.kernel
                .buggify
                .as_ref()
                .map(|s| s.report())
                .unwrap_or_default()
        })
    }

    /// Starts recording this run's message sequence chart (see [`Chart`]): every frame
    /// written from now on, with its write and delivery times, every fault, and the
    /// processes. Call it before adding processes to see the whole run. Off by default
    /// (recording costs nothing then); on already while [`charting`](crate::charting)
    /// watches the thread.
    pub fn record_chart(&mut self) {
        self.world(|w| {
            let k = &mut w.kernel;
            let chart = k.chart.get_or_insert_with(ChartHandle::default);
            chart.names(k.procs.iter().map(|p| p.name.clone()).collect());
        });
    }

    /// The chart recorded so far (the processes and the faults only, unless
    /// [`record_chart`](Self::record_chart) was called or [`charting`](crate::charting)
    /// watches): mark the violating operations with [`Chart::highlight`] and write it
    /// with [`Chart::write_html`].
    pub fn chart(&self) -> Chart {
        self.world(|w| {
            let k = &w.kernel;
            let chart = k.chart.clone().unwrap_or_else(|| {
                let faults_only = ChartHandle::default();
                for (at, fault) in &k.fault_log {
                    faults_only.fault(*at, fault);
                }
                faults_only
            });
            chart.names(k.procs.iter().map(|p| p.name.clone()).collect());
            chart.reached(k.now);
            chart.chart()
        })
    }

    /// Every frame the adversary held so far, in write order, with its hold (empty
    /// without [`SimConfig::adversary`](crate::SimConfig::adversary)). Replayed with
    /// [`Adversary::replay`](crate::Adversary::replay) in a run of the same seed, it
    /// makes the same run without the policy.
    pub fn adversary_log(&self) -> Vec<crate::adversary::AdversaryChoice> {
        self.world(|w| {
            w.net
                .adversary
                .as_ref()
                .map(|a| a.log.clone())
                .unwrap_or_default()
        })
    }

    /// A generator forked from the run's workload stream (for a workload's choices):
    /// drawing from it moves neither the network's nor the faults' draws.
    pub fn rng(&self) -> SimRng {
        self.world(|w| w.kernel.rng.workload.fork())
    }

    /// Adds a process with nothing running on it; spawn on its [`runtime`](Self::runtime).
    /// It cannot be restarted after a crash (see [`add_process_with_boot`](Self::add_process_with_boot)).
    pub fn add_process(&mut self, options: ProcessOptions) -> ProcessId {
        self.world(|w| {
            let pid = ProcessId(w.kernel.procs.len());
            w.kernel.procs.push(Proc::new(options));
            if let Some(chart) = &w.kernel.chart {
                chart.names(w.kernel.procs.iter().map(|p| p.name.clone()).collect());
            }
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
        self.add_process_with_disk(options, move |rt, _disk| boot(rt))
    }

    /// Adds a process and starts `boot` on it with its runtime and its simulated disk
    /// (a [`SimDisk`] behind the [`Disk`](crate::Disk) trait); a restart calls `boot` again with the new incarnation's runtime
    /// and a handle on the same disk, which holds what was synced before the crash.
    pub fn add_process_with_disk<F, Fut>(&mut self, options: ProcessOptions, boot: F) -> ProcessId
    where
        F: Fn(RuntimeHandle, DiskHandle) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let pid = self.add_process(options);
        let boot: Boot =
            Arc::new(move |rt, disk| Box::pin(boot(rt, disk)) as BoxFuture<'static, ()>);
        self.world(|w| w.kernel.procs[pid.0].boot = Some(boot.clone()));
        let fut = boot(self.runtime(pid), Arc::new(self.disk(pid)));
        self.world(|w| w.spawn(pid, 0, fut));
        pid
    }

    /// The disk of the process's current incarnation.
    pub fn disk(&self, pid: ProcessId) -> SimDisk {
        let incarnation = self.world(|w| w.kernel.procs.get(pid.0).map_or(0, |p| p.incarnation));
        self.exec.disk(pid, incarnation)
    }

    /// The runtime of the process's current incarnation.
    pub fn runtime(&self, pid: ProcessId) -> RuntimeHandle {
        Arc::new(self.sim_runtime(pid))
    }

    /// The runtime of the process's current incarnation as a [`SimRuntime`], to give it
    /// an identity of its own ([`SimRuntime::with_identity`]).
    pub fn sim_runtime(&self, pid: ProcessId) -> SimRuntime {
        let incarnation = self.world(|w| w.kernel.procs.get(pid.0).map_or(0, |p| p.incarnation));
        self.exec.sim_runtime(pid, incarnation)
    }

    /// Spawns `fut` on the process's current incarnation.
    pub fn spawn(&self, pid: ProcessId, fut: impl Future<Output = ()> + Send + 'static) {
        self.runtime(pid).spawn(Box::pin(fut));
    }

    /// Whether the process is up.
    pub fn is_up(&self, pid: ProcessId) -> bool {
        self.world(|w| w.kernel.procs.get(pid.0).is_some_and(|p| p.alive))
    }

    /// Applies `fault` at virtual time `at` (at once if that has passed).
    pub fn schedule(&mut self, at: Duration, fault: Fault) {
        self.world(|w| w.kernel.schedule(nanos(at), Event::Fault(fault)));
    }

    /// Schedules every fault of `schedule` ([`schedule`](Self::schedule)), in order:
    /// with random faults off, a recorded [`fault_log`](Self::fault_log) scheduled so
    /// replays its run (see the `shrink` module in the crate documentation).
    pub fn schedule_all(&mut self, schedule: &[(Duration, Fault)]) {
        for (at, fault) in schedule {
            self.schedule(*at, fault.clone());
        }
    }

    /// Applies `fault` now.
    pub fn apply(&mut self, fault: Fault) {
        let restart = self.world(|w| apply(w, fault));
        if let Some(pid) = restart {
            self.exec.restart(pid);
        }
    }

    /// Runs every task and event up to virtual time `until`.
    ///
    /// # Errors
    ///
    /// [`SimError::Livelock`] if tasks spin without time advancing.
    pub fn run_until(&mut self, until: Duration) -> Result<(), SimError> {
        let until = nanos(until);
        loop {
            self.exec.poll_ready()?;
            if let Step::Idle | Step::Beyond = self.exec.next_event(until) {
                self.world(|w| {
                    w.kernel.now = w.kernel.now.max(until);
                    if let Some(chart) = &w.kernel.chart {
                        chart.reached(w.kernel.now);
                    }
                });
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
        let limit = nanos(self.config.time_limit);
        let take = |out: &Mutex<Option<T>>| out.lock().unwrap_or_else(|p| p.into_inner()).take();
        loop {
            self.exec.poll_ready()?;
            if let Some(v) = take(&out) {
                return Ok(v);
            }
            match self.exec.next_event(limit) {
                Step::Idle => {
                    let at = self.now();
                    return Err(SimError::Stalled { at });
                }
                Step::Beyond => {
                    let at = Duration::from_nanos(limit);
                    return Err(SimError::TimeLimit { at });
                }
                Step::Fired => {}
            }
        }
    }
}
