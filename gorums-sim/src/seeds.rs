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
        if let Some(why) = run_one(&mut check, seed) {
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

/// [`run_seeds`] spread over `GORUMS_SIM_THREADS` OS threads (default: the machine's
/// cores), one whole simulation per thread at a time: each simulation stays
/// single-threaded and deterministic; only independent seeds run side by side. Seeds are
/// claimed in increasing order and the report names the smallest failing seed, so the
/// outcome does not depend on the thread count.
pub fn run_seeds_parallel(
    name: &str,
    default_seeds: u64,
    check: impl Fn(u64) -> Result<(), String> + Sync,
) -> SeedReport {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    let seeds: Vec<u64> = match env_u64("GORUMS_SIM_SEED") {
        Some(seed) => vec![seed],
        None => (0..env_u64("GORUMS_SIM_SEEDS").unwrap_or(default_seeds)).collect(),
    };
    let threads = env_u64("GORUMS_SIM_THREADS")
        .map(|t| t.max(1) as usize)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .min(seeds.len().max(1));
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let ran = AtomicU64::new(0);
    let lowest_failure = AtomicU64::new(u64::MAX);
    let failures: Mutex<Vec<(u64, String)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::AcqRel);
                    let Some(&seed) = seeds.get(i) else { break };
                    if seed > lowest_failure.load(Ordering::Acquire) {
                        break;
                    }
                    ran.fetch_add(1, Ordering::AcqRel);
                    if let Some(why) = run_one(&check, seed) {
                        lowest_failure.fetch_min(seed, Ordering::AcqRel);
                        failures
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push((seed, why));
                    }
                }
            });
        }
    });
    let failure = failures
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .min_by_key(|(seed, _)| *seed);
    if let Some((seed, why)) = &failure {
        println!("{name}: seed {seed} failed: {why}");
        println!("{name}: replay with GORUMS_SIM_SEED={seed}");
    }
    let report = SeedReport {
        seeds: ran.into_inner(),
        elapsed: started.elapsed(),
        failure,
    };
    println!(
        "{name}: {} seeds in {:.2?} on {threads} threads ({:.0} seeds/s)",
        report.seeds,
        report.elapsed,
        report.seeds_per_second()
    );
    report
}

/// Runs one seed; its failure (an `Err` or a panic's message), if any.
pub(crate) fn run_one(
    mut check: impl FnMut(u64) -> Result<(), String>,
    seed: u64,
) -> Option<String> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| check(seed))) {
        Ok(Ok(())) => None,
        Ok(Err(why)) => Some(why),
        Err(panic) => Some(
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| String::from("panicked")),
        ),
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.trim().parse().ok()
}
