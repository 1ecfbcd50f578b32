//! gorums-rs in simulation: the third [`Runtime`], a deterministic discrete-event
//! simulator that runs the gorums-core engine and API (and so any protocol written with
//! quorum calls) with virtual time, in-memory links and seeded faults, many processes in
//! one OS thread. The same seed gives the same run, event for event.
//!
//! What it is not: a model of TCP's congestion control or of real time. A partition
//! or a silent host holds bytes (as TCP keeps retransmitting) rather than timing the
//! connection out; a process's CPU time is zero (only timers, links and disks take
//! time) unless [`SimConfig::cpu_per_poll`] charges each poll a fixed cost.
//! Code that blocks a thread or reads the OS clock escapes the simulation.
//!
//! # Where things live
//!
//! The vocabulary, in leaf modules that import nothing of the running machinery:
//! - `ids.rs`: [`ProcessId`], and the numbers of tasks, connections and listeners.
//! - `clock.rs`: virtual time in nanoseconds, and each process's skewed clock.
//! - `rng.rs`: [`SimRng`], gorums-core's SplitMix64 plus the draws a run makes.
//! - `faults.rs`: [`Fault`] and [`FaultPlan`], as data. `disk.rs`: [`DiskConfig`] (the [`Disk`] trait
//!   is gorums-core's).
//! - `config.rs`, `error.rs`, `process.rs`: [`SimConfig`], [`SimError`],
//!   [`ProcessOptions`] (and the world's record of a process).
//! - `trace.rs`: the event hash and the trace. `events.rs`: the event queue.
//! - `buggify_plan.rs`: [`BuggifyPlan`] and the run's table of fault-injection points.
//! - `adversary.rs`: the quorum-aware [`Adversary`] (its policies, what it knows of each
//!   call, the frames it decodes and the choices it records); `net.rs` asks it per write.
//!
//! The machinery, bottom up; each module imports only modules above it in this list:
//! - `kernel.rs`: time, the event queue, the RNG, the log and the process table.
//! - `files.rs`: the contents of the simulated disks (seen and durable).
//! - `tasks.rs`: the task table and ready queue. `net.rs`: the network (links,
//!   listeners, dials, partitions).
//! - `world.rs`: the world (kernel, tasks and network under one lock); crash, restart,
//!   pause.
//! - `inject.rs`: applies faults and draws random ones. `sockets.rs`: the connection
//!   halves, listeners and dials user code holds.
//! - `runtime.rs`: [`SimRuntime`], one process's gorums [`Runtime`]. `simdisk.rs`:
//!   [`SimDisk`], one process's [`Disk`].
//! - `sched.rs`: which ready task runs next ([`Schedule`]). `executor.rs`: the run
//!   loop. `sim.rs`: [`Sim`], the façade a test drives.
//!
//! Checkers on top: `history.rs` ([`History`], [`KvHistory`]), `linearizability.rs`
//! ([`check_register`], [`shortest_violation`]), `kv.rs` ([`check_kv`], key by key),
//! `log_check.rs` ([`check_log`], a replicated log's appends as clients saw them),
//! `coverage.rs` ([`Coverage`]: `sometimes` goals some seed must reach),
//! `determinism.rs` ([`check_determinism`]), `seeds.rs` ([`run_seeds`],
//! [`run_seeds_parallel`], [`Shard`]), `shrink.rs` (record, replay and shrink a
//! failing run's faults: [`shrink`], [`run_seeds_shrinking`]), `chart.rs` (a run drawn
//! as a message sequence chart: [`Chart`], [`charting`]).
//!
//! ```
//! use gorums_sim::{ProcessOptions, Sim, SimConfig};
//! use std::time::Duration;
//!
//! let mut sim = Sim::new(SimConfig::new(42));
//! let p = sim.add_process(ProcessOptions::new("client"));
//! let rt = sim.runtime(p);
//! let waited = sim
//!     .run(p, async move {
//!         let start = rt.now();
//!         rt.sleep_until(start + Duration::from_secs(300)).await;
//!         rt.now() - start
//!     })
//!     .unwrap();
//! assert_eq!(waited, Duration::from_secs(300)); // five virtual minutes, at once
//! ```
//!
//! # In more detail
//!
//! - **Virtual time** that jumps to the next event when nothing is runnable; each
//!   process reads it through its own clock (offset and drift: clock skew).
//! - **A single-threaded deterministic executor**: tasks woken by std
//!   [`Waker`](std::task::Waker)s wait in one queue; which ready task runs next is drawn
//!   from the seed (uniformly, or PCT priorities), or wake order ([`Schedule`]); no
//!   threads, no tokio, no smol, no `block_on`.
//! - **In-memory links**: a connection is two FIFO byte pipes, each write delivered
//!   after the link latency plus jitter; listeners bind virtual `host:port` addresses.
//! - **Processes**: each [`Sim::runtime`] handle belongs to one process, so a crash
//!   drops that process's tasks, listeners and connections together; a restart calls its
//!   boot function again with the state the test chose to keep.
//! - **Faults** ([`Fault`]): partitions both ways, one way and between groups
//!   (each undone alone: healing one leaves the others' cuts), connection resets
//!   (in-flight bytes lost, both ends see an error; the engine redials by itself),
//!   crash (drawn per crash: a silent host, whose peers' connections stay half-open
//!   until a timeout, or a process death that resets them; bytes already on the wire
//!   arrive either way), restart, pause, clock skew and forward jumps; scripted at given
//!   times ([`Sim::schedule`]) or drawn from the seed ([`FaultPlan`], which can itself
//!   be drawn per seed: swarm testing). Any process may be faulted unless made
//!   [`reliable`](ProcessOptions::reliable).
//! - **Fault-injection points** ([`BuggifyPlan`], after FoundationDB's `BUGGIFY`):
//!   code asks [`Runtime::buggify`] or [`ServerCtx::buggify`] at a place where a rare
//!   behaviour is legal; with [`SimConfig::buggify`] set, each point is enabled for the
//!   run or not (drawn once) and an enabled one fires with its own chance, from a
//!   stream of its own. The API has points of its own ([`buggify`](mod@buggify): a call's
//!   deadline cut to a quarter, a connection's write held 5 ms). On tokio and smol
//!   every point answers no. [`Sim::buggify_report`] says what fired.
//! - **A quorum-aware adversary** ([`SimConfig::adversary`]): the simulator decodes the
//!   frames it carries and learns each call's nodes and threshold as it starts
//!   ([`Runtime::call_started`]); a policy holds frames (bounded, each direction FIFO):
//!   [`StalestFirst`], [`HoldCompleting`], [`HoldUntilNextCall`], or a user's
//!   [`AdversaryPolicy`]. [`Sim::adversary_log`] records its choices,
//!   [`Adversary::replay`] plays them back and [`shrink_adversary_log`] cuts them to a
//!   1-minimal set.
//! - **Disks** ([`Disk`], [`SimDisk`]): per process, write and sync with latency, in
//!   issue order; a crash loses what was not synced (optionally tearing the last
//!   write); injected I/O errors ([`DiskConfig`]); handed to the boot function by
//!   [`Sim::add_process_with_disk`].
//! - **Separate seeded RNG streams** ([`SimRng`]) for the network, the faults and the
//!   workload, all derived from the seed (drawing more from one leaves the others'
//!   draws in place: [`Sim::fault_log`] stays put when a fix changes the traffic), and
//!   a running hash of every event ([`Sim::event_hash`]: time, process, kind, ids and
//!   the bytes of every write): the same seed gives the same run.
//! - **Determinism checked, not assumed**: [`check_determinism`] runs a closure twice
//!   and compares, event by event, the simulations it made; the first event where the
//!   runs part is reported as each run saw it ([`Divergence`]). [`run_seeds`] and
//!   [`run_seeds_parallel`] do this for the first [`DEFAULT_CHECKED_SEEDS`] seeds of
//!   every run, so a handler iterating a `HashMap` with a random hasher, reading the
//!   real clock or waiting for a thread fails the test that runs it. Simulations made
//!   on other threads than the closure's are not seen.
//! - **Sweeps across machines**: `GORUMS_SIM_SHARD=k/n` runs the `k`th of `n`
//!   contiguous parts of the seed range ([`Shard`]), numbered from 1.
//! - **Checkers**: a [`History`] recorder and a linearizability checker for a
//!   read/write register ([`check_register`]) that shrinks a failure to a shortest
//!   non-linearizable part ([`shortest_violation`]); the same for a key-value map, key by
//!   key ([`KvHistory`], [`check_kv`]); a replicated log's appends as its clients saw them
//!   ([`check_log`]); `sometimes` coverage goals a test's seeds must reach
//!   ([`Coverage`]); and [`run_seeds`] for many-seed loops.
//! - **Record, replay, shrink**: [`Sim::fault_log`] records every fault with its
//!   draws resolved (a crash's kind, the connection a random reset hit), so the same
//!   seed with random faults off and the log scheduled ([`Sim::schedule_all`]) is the
//!   same run; [`shrink`] cuts a failing schedule down by delta debugging (fault pairs,
//!   then single faults, then shorter outages) and [`schedule_code`] prints it as
//!   `sim.schedule(..)` lines to paste; [`run_seeds_shrinking`] prints a failing seed's
//!   shrunk schedule.
//! - **A failing run drawn**: [`Sim::record_chart`] or [`charting`] records every
//!   frame (decoded from its envelope), fault and marked operation, and [`Chart`] writes
//!   it as a self-contained HTML message sequence chart; with `GORUMS_SIM_CHART_DIR`
//!   the seed runners draw a failing (shrunk) seed and print the page's path.
//!
//! ```
//! use gorums_sim::{Fault, ProcessId, ProcessOptions, Sim, SimConfig, shrink};
//! use std::time::Duration;
//!
//! // A "bug" that shows when process 1 is isolated at 50 ms.
//! let test = |seed: u64, schedule: &[(Duration, Fault)]| {
//!     let mut sim = Sim::new(SimConfig::new(seed));
//!     for name in ["a", "b"] {
//!         sim.add_process(ProcessOptions::new(name));
//!     }
//!     sim.schedule_all(schedule);
//!     sim.run_until(Duration::from_millis(50)).map_err(|e| e.to_string())?;
//!     let isolated = sim.fault_log().iter().filter(|(_, f)| *f == Fault::Isolate(ProcessId(1))).count()
//!         > sim.fault_log().iter().filter(|(_, f)| *f == Fault::Rejoin(ProcessId(1))).count();
//!     if isolated { Err(String::from("isolated at 50 ms")) } else { Ok(()) }
//! };
//! let schedule = vec![
//!     (Duration::from_millis(10), Fault::Pause(ProcessId(0))),
//!     (Duration::from_millis(20), Fault::Isolate(ProcessId(1))),
//!     (Duration::from_millis(30), Fault::Resume(ProcessId(0))),
//!     (Duration::from_millis(90), Fault::Rejoin(ProcessId(1))),
//! ];
//! let shrunk = shrink(7, &schedule, test).unwrap();
//! assert_eq!(
//!     shrunk.code(),
//!     "sim.schedule(Duration::from_millis(20), Fault::Isolate(ProcessId(1)));\n"
//! );
//! ```
//!
//! # Environment variables
//!
//! - `GORUMS_SIM_SEED=<seed>`: [`run_seeds`] runs only that seed (to replay a failure;
//!   a failing seed prints this line).
//! - `GORUMS_SIM_SEEDS=<n>`: [`run_seeds`] runs `n` seeds instead of the test's default
//!   (long opt-in runs), and prints seeds per second.
//! - `GORUMS_SIM_THREADS=<n>`: how many seeds [`run_seeds_parallel`] runs side by side
//!   (default: the machine's cores; each simulation itself stays on one thread).
//! - `GORUMS_SIM_CHECK_SEEDS=<k>`: how many of a run's first seeds run twice and are
//!   compared event for event (default [`DEFAULT_CHECKED_SEEDS`]; 0 turns it off).
//! - `GORUMS_SIM_SHARD=<k>/<n>`: run only shard `k` (1 to `n`) of the seed range; the
//!   `n` shards together run every seed once. A malformed value panics.
//! - `GORUMS_SIM_TRACE=1`: print every event of a run (virtual time, process, event).
//! - `GORUMS_SIM_CHART_DIR=<dir>`: a seed runner draws its failing seed (shrunk, in
//!   [`run_seeds_shrinking`]) as a [`Chart`] in `dir` and prints the path.

// The vocabulary (leaves).
mod adversary;
mod buggify_plan;
mod chart;
mod clock;
mod config;
mod disk;
mod error;
mod events;
mod faults;
mod ids;
mod process;
mod rng;
mod trace;

// The machinery (bottom up in the module map above).
mod executor;
mod files;
mod inject;
mod kernel;
mod net;
mod runtime;
mod sched;
mod sim;
mod simdisk;
mod sockets;
mod tasks;
mod world;

// Checkers.
mod coverage;
mod determinism;
mod history;
mod kv;
mod linearizability;
mod log_check;
mod seeds;
mod shrink;

pub use adversary::{
    Adversary, AdversaryChoice, AdversaryPolicy, CallView, DEFAULT_MAX_HOLD, FrameKind, FramePos,
    Hold, HoldCompleting, HoldUntilNextCall, StalestFirst, VersionOf, WireFrame,
    shrink_adversary_log,
};
pub use buggify_plan::{BuggifyPlan, BuggifySite};
pub use chart::{CHART_MAX_MESSAGES, Chart, chart_highlight, chart_operations, charting};
pub use config::{Schedule, SimConfig};
pub use coverage::{Coverage, Unreached};
pub use determinism::{Divergence, check_determinism};
pub use disk::{Disk, DiskConfig, DiskHandle};
pub use error::SimError;
pub use faults::{Fault, FaultPlan};
pub use history::{History, KvHistory, OpId, Operation, RegisterOp};
pub use ids::ProcessId;
pub use kv::{KvViolation, check_kv};
pub use linearizability::{CheckResult, check_register, describe_operations, shortest_violation};
pub use log_check::{LogAppend, LogViolation, check_log};
pub use process::ProcessOptions;
pub use rng::SimRng;
pub use runtime::SimRuntime;
pub use seeds::{DEFAULT_CHECKED_SEEDS, SeedReport, Shard, run_seeds, run_seeds_parallel};
pub use shrink::{
    FaultSchedule, RecordedRun, ShrinkError, ShrinkReport, Shrunk, duration_code, fault_code,
    run_seeds_shrinking, schedule_code, shrink, shrink_seed,
};
pub use sim::Sim;
pub use simdisk::SimDisk;

pub use gorums_core::api::*;
pub use gorums_core::runtime::{Runtime, RuntimeHandle};
