//! [`SimConfig`]: how a simulation runs (seed, link delays, limits, random faults,
//! tracing), fixed when the [`Sim`](crate::Sim) is made.

use std::time::Duration;

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
    /// Random faults drawn from the seed; `None` for a fault-free run (scripted faults
    /// through [`Sim::schedule`](crate::Sim::schedule) still apply).
    pub faults: Option<FaultPlan>,
    /// Print every event (virtual time, process, event). [`SimConfig::new`] sets it
    /// from `GORUMS_SIM_TRACE=1`.
    pub trace: bool,
    /// Polls allowed without virtual time advancing before the run counts as a
    /// livelock.
    pub max_polls_per_instant: u64,
}

impl SimConfig {
    /// Defaults for `seed`: 100 µs latency plus up to 100 µs jitter, a 10 minute virtual
    /// time limit, no random faults; tracing if `GORUMS_SIM_TRACE=1`.
    pub fn new(seed: u64) -> SimConfig {
        SimConfig {
            seed,
            latency: Duration::from_micros(100),
            jitter: Duration::from_micros(100),
            time_limit: Duration::from_secs(600),
            faults: None,
            trace: std::env::var("GORUMS_SIM_TRACE").is_ok_and(|v| v == "1"),
            max_polls_per_instant: 5_000_000,
        }
    }
}
