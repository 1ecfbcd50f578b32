//! Many seeds in a loop: the default count for CI, an opt-in count for long runs, one
//! seed to replay a failure, one shard of a sweep split across machines
//! (`GORUMS_SIM_SHARD`), and the first seeds run twice to check that they are
//! deterministic (`GORUMS_SIM_CHECK_SEEDS`).

use std::ops::Range;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::chart::{chart_dir_from_env, draw_failing_run};
use crate::determinism::check_determinism;

/// How many of a run's first seeds [`run_seeds`] and [`run_seeds_parallel`] run twice
/// unless `GORUMS_SIM_CHECK_SEEDS` says otherwise.
pub const DEFAULT_CHECKED_SEEDS: u64 = 3;

/// What a many-seed run did.
#[derive(Clone, Debug)]
pub struct SeedReport {
    /// Seeds run (the failing one included).
    pub seeds: u64,
    /// Wall-clock time they took.
    pub elapsed: Duration,
    /// The first failing seed and why it failed.
    pub failure: Option<(u64, String)>,
    /// How many of the seeds ran twice and were compared event for event.
    pub checked_twice: u64,
    /// The charts of the failing run written into `GORUMS_SIM_CHART_DIR` (one per
    /// simulation it made; empty unless the variable is set and a seed failed).
    pub charts: Vec<PathBuf>,
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
/// `GORUMS_SIM_SHARD=k/n` only the `k`th of `n` equal parts of the range runs (see
/// [`Shard`]); with `GORUMS_SIM_SEED` set, only that seed runs. Prints seeds per second
/// at the end.
///
/// The first [`DEFAULT_CHECKED_SEEDS`] seeds of the run (`GORUMS_SIM_CHECK_SEEDS=<k>`:
/// the first `k`; 0: none) run twice through [`check_determinism`]: the simulations
/// `check` makes on its thread must be equal event for event, payload bytes included,
/// or the seed fails with the first event where the runs differ (a replayed seed,
/// `GORUMS_SIM_SEED`, is the run's first and so runs twice too).
pub fn run_seeds(
    name: &str,
    default_seeds: u64,
    mut check: impl FnMut(u64) -> Result<(), String>,
) -> SeedReport {
    let seeds = seeds_to_run(name, default_seeds);
    let checked = checked_seeds();
    let started = Instant::now();
    let mut report = SeedReport {
        seeds: 0,
        elapsed: Duration::ZERO,
        failure: None,
        checked_twice: 0,
        charts: Vec::new(),
    };
    for (i, seed) in seeds.into_iter().enumerate() {
        report.seeds += 1;
        let twice = (i as u64) < checked;
        report.checked_twice += u64::from(twice);
        if let Some(why) = run_seed(&mut check, seed, twice) {
            println!("{name}: seed {seed} failed: {why}");
            println!("{name}: replay with GORUMS_SIM_SEED={seed}");
            if let Some(dir) = chart_dir_from_env() {
                report.charts = draw_failing_run(name, seed, &dir, || {
                    run_one(&mut check, seed);
                });
            }
            report.failure = Some((seed, why));
            break;
        }
    }
    report.elapsed = started.elapsed();
    println!(
        "{name}: {} seeds ({} run twice) in {:.2?} ({:.0} seeds/s)",
        report.seeds,
        report.checked_twice,
        report.elapsed,
        report.seeds_per_second()
    );
    report
}

/// [`run_seeds`] spread over `GORUMS_SIM_THREADS` OS threads (default: the machine's
/// cores), one whole simulation per thread at a time: each simulation stays
/// single-threaded and deterministic; only independent seeds run side by side. Seeds are
/// claimed in increasing order and the report names the smallest failing seed, so the
/// outcome does not depend on the thread count. Shards and the seeds run twice are as
/// for [`run_seeds`] (each check stays on the thread that runs its seed), and so is the
/// chart of a failing seed (`GORUMS_SIM_CHART_DIR`).
pub fn run_seeds_parallel(
    name: &str,
    default_seeds: u64,
    check: impl Fn(u64) -> Result<(), String> + Sync,
) -> SeedReport {
    let mut report = run_seeds_parallel_undrawn(name, default_seeds, &check);
    if let (Some((seed, _)), Some(dir)) = (&report.failure, chart_dir_from_env()) {
        let seed = *seed;
        report.charts = draw_failing_run(name, seed, &dir, || {
            run_one(&check, seed);
        });
    }
    report
}

/// [`run_seeds_parallel`] without drawing the failing seed.
pub(crate) fn run_seeds_parallel_undrawn(
    name: &str,
    default_seeds: u64,
    check: impl Fn(u64) -> Result<(), String> + Sync,
) -> SeedReport {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    let seeds = seeds_to_run(name, default_seeds);
    let checked = checked_seeds();
    let checked_twice = AtomicU64::new(0);
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
                    let twice = (i as u64) < checked;
                    checked_twice.fetch_add(u64::from(twice), Ordering::AcqRel);
                    if let Some(why) = run_seed(&check, seed, twice) {
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
        checked_twice: checked_twice.into_inner(),
        charts: Vec::new(),
    };
    println!(
        "{name}: {} seeds ({} run twice) in {:.2?} on {threads} threads ({:.0} seeds/s)",
        report.seeds,
        report.checked_twice,
        report.elapsed,
        report.seeds_per_second()
    );
    report
}

/// Runs one seed, twice when `twice` (comparing the runs' events); its failure, if any:
/// the first run's, or the runs' first difference.
fn run_seed(
    mut check: impl FnMut(u64) -> Result<(), String>,
    seed: u64,
    twice: bool,
) -> Option<String> {
    if !twice {
        return run_one(check, seed);
    }
    let mut verdicts = Vec::new();
    let checked = check_determinism(|| {
        let verdict = run_one(&mut check, seed);
        verdicts.push(verdict.clone());
        verdict
    });
    match checked {
        Ok(verdict) => verdict,
        Err(divergence) => {
            let said = |v: Option<&Option<String>>| match v {
                Some(Some(why)) => format!("failed: {why}"),
                Some(None) => String::from("passed"),
                None => String::from("did not run"),
            };
            Some(format!(
                "{divergence}\n  the check: first run {}, second run {}",
                said(verdicts.first()),
                said(verdicts.get(1))
            ))
        }
    }
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

/// The seeds to run: `GORUMS_SIM_SEED` alone, else this shard's part of
/// `0..GORUMS_SIM_SEEDS` (default `default_seeds`), announced when sharded.
fn seeds_to_run(name: &str, default_seeds: u64) -> Vec<u64> {
    if let Some(seed) = env_u64("GORUMS_SIM_SEED") {
        return vec![seed];
    }
    let total = env_u64("GORUMS_SIM_SEEDS").unwrap_or(default_seeds);
    match Shard::from_env() {
        Some(shard) => {
            let range = shard.seeds(total);
            println!("{name}: shard {shard} of seeds 0..{total}: seeds {range:?}");
            range.collect()
        }
        None => (0..total).collect(),
    }
}

/// How many of the first seeds run twice.
fn checked_seeds() -> u64 {
    env_u64("GORUMS_SIM_CHECK_SEEDS").unwrap_or(DEFAULT_CHECKED_SEEDS)
}

/// One of `count` equal parts of a seed range, numbered from 1 as `GORUMS_SIM_SHARD=k/n`
/// writes it (as nextest's `--partition count:k/n` and other test runners' `--shard`
/// do): shard `k` runs seeds `(k-1)·N/n .. k·N/n` of `0..N`, so shards `1/n` to `n/n`
/// together run every seed exactly once, each a contiguous block (with more shards
/// than seeds some are empty). Each shard's run checks its own first seeds twice and
/// prints its own failing seed with `GORUMS_SIM_SEED=<seed>`, which replays it anywhere.
///
/// ```
/// use gorums_sim::Shard;
/// let shard = Shard::parse("2/4").unwrap();
/// assert_eq!(shard.seeds(10), 2..5);
/// assert!(Shard::parse("0/4").is_err()); // shards count from 1
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// Which part, from 1 to `count`.
    pub index: u64,
    /// How many parts.
    pub count: u64,
}

impl Shard {
    /// Parses `k/n` (spaces around the numbers allowed), `1 <= k <= n`.
    pub fn parse(spec: &str) -> Result<Shard, String> {
        let bad = |why: &str| {
            format!("GORUMS_SIM_SHARD={spec:?}: {why}; write k/n with 1 <= k <= n, e.g. 1/4 to 4/4")
        };
        let (k, n) = spec.split_once('/').ok_or_else(|| bad("no '/'"))?;
        let number = |part: &str, what: &str| {
            part.trim()
                .parse::<u64>()
                .map_err(|_| bad(&format!("{what} {:?} is not a whole number", part.trim())))
        };
        let (index, count) = (number(k, "shard")?, number(n, "shard count")?);
        if count == 0 {
            return Err(bad("the shard count is 0"));
        }
        if index == 0 {
            return Err(bad("shards are numbered from 1"));
        }
        if index > count {
            return Err(bad(&format!("shard {index} is past the count {count}")));
        }
        Ok(Shard { index, count })
    }

    /// The shard `GORUMS_SIM_SHARD` names, if it is set (and not empty).
    ///
    /// # Panics
    ///
    /// If the variable is set to something other than `k/n` with `1 <= k <= n`: a
    /// sweep split wrongly must not pass by running nothing or everything.
    pub fn from_env() -> Option<Shard> {
        let spec = std::env::var("GORUMS_SIM_SHARD").ok()?;
        if spec.trim().is_empty() {
            return None;
        }
        Some(Shard::parse(&spec).unwrap_or_else(|why| panic!("{why}")))
    }

    /// This shard's part of the seeds `0..total`.
    pub fn seeds(&self, total: u64) -> Range<u64> {
        let at = |k: u64| (u128::from(total) * u128::from(k) / u128::from(self.count)) as u64;
        at(self.index - 1)..at(self.index)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::Shard;

    #[test]
    fn shards_cover_the_seed_range_exactly_once_in_contiguous_blocks() {
        for total in [0, 1, 2, 7, 10, 100, 1001, u64::MAX] {
            for count in [1, 2, 3, 4, 7, 16, 1000] {
                let mut next = 0;
                for index in 1..=count {
                    let seeds = Shard { index, count }.seeds(total);
                    assert_eq!(
                        seeds.start, next,
                        "{index}/{count} of {total} starts where the last ended"
                    );
                    assert!(seeds.end >= seeds.start);
                    let size = seeds.end - seeds.start;
                    assert!(
                        size == total / count || size == total / count + 1,
                        "{index}/{count} of {total}: {size} seeds, near equal parts"
                    );
                    next = seeds.end;
                }
                assert_eq!(next, total, "the {count} shards of {total} end at its end");
            }
        }
        assert_eq!(Shard::parse("1/1").unwrap().seeds(5), 0..5);
        assert_eq!(Shard::parse("3/3").unwrap().seeds(10), 6..10);
        assert_eq!(
            Shard::parse(" 2 / 4 ").unwrap(),
            Shard { index: 2, count: 4 }
        );
    }

    #[test]
    fn a_bad_shard_says_what_is_wrong() {
        for (spec, why) in [
            ("0/4", "numbered from 1"),
            ("5/4", "past the count 4"),
            ("1/0", "count is 0"),
            ("2", "no '/'"),
            ("a/4", "\"a\" is not a whole number"),
            ("1/-4", "\"-4\" is not a whole number"),
            ("1/4/2", "\"4/2\" is not a whole number"),
        ] {
            let err = Shard::parse(spec).unwrap_err();
            assert!(err.contains(why), "{spec}: {err}");
            assert!(
                err.contains("GORUMS_SIM_SHARD") && err.contains("1 <= k <= n"),
                "{err}"
            );
        }
    }
}
