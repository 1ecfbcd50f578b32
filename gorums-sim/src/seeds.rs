//! Many seeds in a loop: the default count for CI, an opt-in count for long runs, one
//! seed to replay a failure.

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

/// What a many-seed run did.
#[derive(Clone, Debug)]
pub struct SeedReport {
    /// Seeds run (the failing one included).
    pub seeds: u64,
    /// Wall-clock time they took.
    pub elapsed: Duration,
    /// The first failing seed and why it failed.
    pub failure: Option<(u64, String)>,
}

impl SeedReport {
    /// Seeds per second of wall-clock time.
    pub fn seeds_per_second(&self) -> f64 {
        self.seeds as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs `check` for seeds `0..n` and stops at the first failure (an `Err` or a panic),
/// printing the seed and the variable that replays it: `GORUMS_SIM_SEED=<seed>`.
///
/// `n` is `default_seeds` unless `GORUMS_SIM_SEEDS` says otherwise; with
/// `GORUMS_SIM_SEED` set, only that seed runs. Prints seeds per second at the end.
pub fn run_seeds(
    name: &str,
    default_seeds: u64,
    mut check: impl FnMut(u64) -> Result<(), String>,
) -> SeedReport {
    let seeds: Vec<u64> = match env_u64("GORUMS_SIM_SEED") {
        Some(seed) => vec![seed],
        None => (0..env_u64("GORUMS_SIM_SEEDS").unwrap_or(default_seeds)).collect(),
    };
    let started = Instant::now();
    let mut report = SeedReport {
        seeds: 0,
        elapsed: Duration::ZERO,
        failure: None,
    };
    for seed in seeds {
        report.seeds += 1;
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| check(seed)));
        let failure = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(why)) => Some(why),
            Err(panic) => Some(
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| String::from("panicked")),
            ),
        };
        if let Some(why) = failure {
            println!("{name}: seed {seed} failed: {why}");
            println!("{name}: replay with GORUMS_SIM_SEED={seed}");
            report.failure = Some((seed, why));
            break;
        }
    }
    report.elapsed = started.elapsed();
    println!(
        "{name}: {} seeds in {:.2?} ({:.0} seeds/s)",
        report.seeds,
        report.elapsed,
        report.seeds_per_second()
    );
    report
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.trim().parse().ok()
}
