//! [`SimConfig`]: how a simulation runs (seed, link delays, limits, random faults,
//! scheduling, tracing), fixed when the [`Sim`](crate::Sim) is made; [`Schedule`].

use std::time::Duration;

use crate::adversary::Adversary;
use crate::buggify_plan::BuggifyPlan;
use crate::disk::DiskConfig;
use crate::faults::FaultPlan;

/// How a simulation runs: its seed, its network, its faults.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Every random choice of the run (latencies, faults, what the protocol draws
    /// through [`Sim::rng`](crate::Sim::rng)) follows from this.
    pub seed: u64,
    /// The least one-way delay of a link.
    pub latency: Duration,
    /// Extra delay drawn per write, uniformly from zero to this. Each direction stays
    /// FIFO whatever is drawn.
    pub jitter: Duration,
    /// Virtual time after which [`Sim::run`](crate::Sim::run) gives up with
    /// [`SimError::TimeLimit`](crate::SimError::TimeLimit).
    pub time_limit: Duration,
    /// The probability that a crash is a process's death on a live host (its OS resets
    /// the process's connections and refuses dials to it) rather than a silent host
    /// (peers' connections stay half-open until their deadline, timeout or keepalive
    /// gives up or they write to the restarted host; dials go unanswered). Drawn per
    /// crash from the fault stream.
    pub crash_reset: f64,
    /// How every process's simulated disk behaves.
    pub disk: DiskConfig,
    /// Random faults drawn from the seed; `None` for a fault-free run (scripted faults
    /// through [`Sim::schedule`](crate::Sim::schedule) still apply).
    pub faults: Option<FaultPlan>,
    /// Print every event (virtual time, process, event). [`SimConfig::new`] sets it
    /// from `GORUMS_SIM_TRACE=1`.
    pub trace: bool,
    /// Polls allowed without virtual time advancing before the run counts as a
    /// livelock.
    pub max_polls_per_instant: u64,
    /// The order in which tasks ready at one instant run (drawn from the seed's
    /// scheduling stream unless [`Schedule::Fifo`]).
    pub schedule: Schedule,
    /// Virtual CPU time each poll of a task costs its process: after a poll starts, the
    /// process runs nothing else until this much time has passed, so a busy process
    /// answers late and its timers can fire first. Zero (the default) makes polls free.
    pub cpu_per_poll: Duration,
    /// Fault-injection points: `None` (the default) answers every
    /// [`Runtime::buggify`](gorums_core::runtime::Runtime::buggify) with no, so a run is
    /// as it would be without the points; `Some` makes them fire as the plan says.
    pub buggify: Option<BuggifyPlan>,
    /// A quorum-aware adversary choosing which frames lag ([`Adversary`]); `None` (the
    /// default) leaves every frame to its link's latency and jitter.
    pub adversary: Option<Adversary>,
}

/// How the executor orders the tasks that are ready at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Schedule {
    /// In wake order (what a simple single-threaded executor does).
    Fifo,
    /// A ready task picked uniformly at random at every poll.
    #[default]
    Random,
    /// PCT (probabilistic concurrency testing, Burckhardt et al. 2010): every task gets
    /// a random priority and the highest ready one runs; at `depth - 1` poll counts
    /// drawn from `0..steps` the running task drops below all others. Finds a bug
    /// that needs `depth` ordering constraints with probability about
    /// `1 / (tasks * steps^(depth-1))` per run.
    Pct {
        /// The bug depth aimed at (1: priorities only, no change point).
        depth: u32,
        /// The poll count the change points are drawn below (about a run's polls).
        steps: u64,
    },
}

impl SimConfig {
    /// Defaults for `seed`: 100 µs latency plus up to 100 µs jitter, a crash as likely
    /// a silent host as a process death, a 10 minute virtual time limit, no
    /// random faults, ready tasks in random order; tracing if `GORUMS_SIM_TRACE=1`.
    pub fn new(seed: u64) -> SimConfig {
        SimConfig {
            seed,
            latency: Duration::from_micros(100),
            jitter: Duration::from_micros(100),
            crash_reset: 0.5,
            disk: DiskConfig::default(),
            time_limit: Duration::from_secs(600),
            faults: None,
            trace: std::env::var("GORUMS_SIM_TRACE").is_ok_and(|v| v == "1"),
            max_polls_per_instant: 5_000_000,
            schedule: Schedule::default(),
            cpu_per_poll: Duration::ZERO,
            buggify: None,
            adversary: None,
        }
    }
}
