//! The conformance cases on the simulator over many seeds: each seed draws its own
//! latencies, jitter and task order (and, where asked, connection resets), and runs
//! twice to check that it gives the same event hash.
//!
//! `cargo test -p gorums-tests --test sim_seeds` runs a handful of seeds;
//! `GORUMS_SIM_SEEDS=200` runs 200, and `GORUMS_SIM_SEED=17` only seed 17 (the line a
//! failure prints), as everywhere in gorums-sim.

use std::future::Future;
use std::time::Duration;

use gorums_core::runtime::RuntimeHandle;
use gorums_sim::{FaultPlan, ProcessOptions, Sim, SimConfig};

/// Random faults for a case run in one simulated process: a connection reset every
/// 40 ms on average (any live connection, picked from the seed) during the first
/// second; no other kind, since the one process is every server and the client.
pub fn connection_resets() -> FaultPlan {
    FaultPlan {
        mean_interval: Duration::from_millis(40),
        until: Duration::from_secs(1),
        partition: 0,
        group: 0,
        skew: 0,
        one_way: 0,
        reset: 1,
        crash: 0,
        crash_io: 0,
        pause: 0,
        ..FaultPlan::default()
    }
}

/// Runs `case` once on a simulator with `seed` and `faults`, as the suite's `Sim`
/// adapter does; returns the event hash, or why the run failed (a panic in the case is
/// left to the caller's seed runner to catch).
pub fn run_once<F, Fut>(seed: u64, faults: Option<FaultPlan>, case: F) -> Result<u64, String>
where
    F: FnOnce(RuntimeHandle) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let config = SimConfig {
        time_limit: Duration::from_secs(30),
        faults,
        ..SimConfig::new(seed)
    };
    let mut sim = Sim::new(config);
    let process = sim.add_process(ProcessOptions::new("test"));
    let fut = case(sim.runtime(process));
    sim.run(process, fut).map_err(|e| e.to_string())?;
    Ok(sim.event_hash())
}

/// Runs `case` twice with `seed` and checks both runs give one event hash.
pub fn run_twice<F, Fut>(seed: u64, faults: Option<FaultPlan>, case: F) -> Result<u64, String>
where
    F: Fn(RuntimeHandle) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let first = run_once(seed, faults.clone(), &case)?;
    let second = run_once(seed, faults, &case)?;
    if first == second {
        Ok(first)
    } else {
        Err(format!(
            "seed {seed} gave event hashes {first:#x} and {second:#x}"
        ))
    }
}
