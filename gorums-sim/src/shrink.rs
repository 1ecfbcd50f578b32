//! Record and shrink: a failing run's faults as data, replayed without the fault
//! stream, cut down by delta debugging to the few that still make it fail, and printed
//! as code a test can paste.
//!
//! - **Record**: [`Sim::fault_log`](crate::Sim::fault_log) is the run's faults as
//!   applied, every draw resolved (a crash's kind, the connection a random reset
//!   picked). Nothing else a fault plan draws reaches the run: the fault stream is
//!   used by faults alone.
//! - **Replay**: the same seed with [`SimConfig::faults`](crate::SimConfig::faults)
//!   `None` and the log scheduled ([`Sim::schedule_all`](crate::Sim::schedule_all)) is
//!   the same run, event for event (the same [`Sim::event_hash`](crate::Sim::event_hash)).
//! - **Shrink** ([`shrink`]): ddmin (Zeller and Hildebrandt, 2002) first over faults
//!   paired with their undoing (an isolation and its rejoin go together), then over
//!   single faults (an isolation kept without its rejoin lasts to the end of the run),
//!   then outages shortened (an undoing moved towards its fault) and times rounded to
//!   whole microseconds, and single faults removed again, each step kept only while
//!   the test still fails.
//! - **Print** ([`schedule_code`]): `sim.schedule(Duration::…, Fault::…);` lines.
//! - **In a seed loop** ([`run_seeds_shrinking`]): a failing seed prints its shrunk
//!   schedule.
//!
//! The test function decides what counts as the failure: return `Ok` for a failure of
//! another kind to keep the shrinker on the bug it started from.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use crate::chart::{chart_dir_from_env, draw_failing_run};
use crate::faults::Fault;
use crate::ids::ProcessId;
use crate::seeds::{SeedReport, run_one, run_seeds_parallel_undrawn};

/// A fault schedule: faults and the virtual times they are applied at.
pub type FaultSchedule = Vec<(Duration, Fault)>;

/// A shrunk failing run: the seed, the schedule left, and what it took.
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The run's seed.
    pub seed: u64,
    /// How many faults the schedule had before shrinking.
    pub original_faults: usize,
    /// The shrunk schedule, in time order: it still fails.
    pub schedule: FaultSchedule,
    /// How the shrunk schedule fails.
    pub failure: String,
    /// Runs of the test function the shrinking took (the first replay included).
    pub runs: usize,
}

impl Shrunk {
    /// The shrunk schedule as code a test can paste (see [`schedule_code`]).
    pub fn code(&self) -> String {
        schedule_code(&self.schedule)
    }
}

impl std::fmt::Display for Shrunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "seed {}: {} faults shrunk to {} in {} runs; paste to replay:",
            self.seed,
            self.original_faults,
            self.schedule.len(),
            self.runs
        )?;
        write!(f, "{}", self.code())
    }
}

/// Why a schedule could not be shrunk.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShrinkError {
    /// The schedule replayed without random faults passes: the run depends on
    /// something its fault log does not hold (a draw outside the log, or a fault the
    /// test did not schedule).
    ReplayPasses {
        /// The run's seed.
        seed: u64,
    },
    /// Recording the failing seed panicked before it handed back its fault log.
    RecordPanicked {
        /// The run's seed.
        seed: u64,
        /// The panic's message.
        why: String,
    },
    /// Recording the failing seed again passed: the run is not deterministic.
    RecordPasses {
        /// The run's seed.
        seed: u64,
    },
}

impl std::fmt::Display for ShrinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShrinkError::ReplayPasses { seed } => write!(
                f,
                "seed {seed}: the recorded faults replayed without random faults pass"
            ),
            ShrinkError::RecordPanicked { seed, why } => {
                write!(f, "seed {seed}: recording the run panicked: {why}")
            }
            ShrinkError::RecordPasses { seed } => {
                write!(f, "seed {seed}: the failing run passed when run again")
            }
        }
    }
}

impl std::error::Error for ShrinkError {}

/// One fault of a schedule being shrunk: `order` (its place in the input) breaks ties
/// between faults at one instant, which fire in schedule order.
#[derive(Clone, Debug)]
struct Entry {
    order: usize,
    at: Duration,
    fault: Fault,
}

/// The state of one shrinking: the test, and the outcome of every schedule tried.
struct Shrinker<F> {
    seed: u64,
    test: F,
    runs: usize,
    /// Outcomes by schedule (as code, which names every fault and time exactly).
    tried: BTreeMap<String, Option<String>>,
}

impl<F: Fn(u64, &[(Duration, Fault)]) -> Result<(), String>> Shrinker<F> {
    /// The failure of `entries` as a schedule, if it fails (a panic counts).
    fn failure(&mut self, entries: &[Entry]) -> Option<String> {
        let schedule = to_schedule(entries);
        let key = schedule_code(&schedule);
        if let Some(outcome) = self.tried.get(&key) {
            return outcome.clone();
        }
        self.runs += 1;
        let test = &self.test;
        let seed = self.seed;
        let outcome = run_one(|s| test(s, &schedule), seed);
        self.tried.insert(key, outcome.clone());
        outcome
    }

    fn fails(&mut self, entries: &[Entry]) -> bool {
        self.failure(entries).is_some()
    }

    /// ddmin over `units` (groups of faults kept or dropped together): a smallest set
    /// of units, as far as removing any one chunk goes, that still fails.
    fn ddmin(&mut self, mut units: Vec<Vec<Entry>>) -> Vec<Vec<Entry>> {
        if self.fails(&[]) {
            return Vec::new();
        }
        let mut n = 2;
        while units.len() >= 2 {
            let size = units.len().div_ceil(n);
            let chunks: Vec<Vec<Vec<Entry>>> = units.chunks(size).map(<[_]>::to_vec).collect();
            if let Some(chunk) = chunks.iter().find(|c| self.fails(&c.concat())) {
                units = chunk.clone();
                n = 2;
                continue;
            }
            let complement = (0..chunks.len()).find_map(|skip| {
                let rest: Vec<Vec<Entry>> = chunks
                    .iter()
                    .enumerate()
                    .filter(|&(i, _)| i != skip)
                    .flat_map(|(_, c)| c.iter().cloned())
                    .collect();
                (chunks.len() > 2 && self.fails(&rest.concat())).then_some(rest)
            });
            if let Some(rest) = complement {
                units = rest;
                n = (n - 1).max(2);
                continue;
            }
            if n >= units.len() {
                break;
            }
            n = (2 * n).min(units.len());
        }
        units
    }

    /// Moves each undoing whose fault is still in `entries` towards that fault (a
    /// shorter outage), by halving the outage while the run still fails.
    fn shorten(&mut self, mut entries: Vec<Entry>) -> Vec<Entry> {
        for (start, undo) in pairs(&entries) {
            // The undoing at `still_fails` keeps the failure; at `passes` it did not.
            let mut still_fails = entries[undo].at;
            let mut passes = entries[start].at;
            for _ in 0..6 {
                if still_fails.saturating_sub(passes) < Duration::from_micros(100) {
                    break;
                }
                let mid = passes + (still_fails - passes) / 2;
                let mut candidate = entries.clone();
                candidate[undo].at = mid;
                if self.fails(&candidate) {
                    still_fails = mid;
                    entries = candidate;
                } else {
                    passes = mid;
                }
            }
        }
        entries
    }

    /// Every time rounded down to a whole microsecond, if the run still fails so.
    fn round(&mut self, entries: Vec<Entry>) -> Vec<Entry> {
        let rounded: Vec<Entry> = entries
            .iter()
            .map(|e| Entry {
                at: Duration::from_micros(e.at.as_micros() as u64),
                ..e.clone()
            })
            .collect();
        if self.fails(&rounded) {
            rounded
        } else {
            entries
        }
    }
}

/// Shrinks a failing fault schedule of seed `seed`: removes faults (with their
/// undoing, then alone), shortens outages and rounds times, keeping each step only
/// while `test(seed, schedule)` still fails (an `Err` or a panic). `test` must run the
/// seed with random faults off and `schedule` applied
/// ([`Sim::schedule_all`](crate::Sim::schedule_all)).
///
/// The result is 1-minimal over the faults ddmin tried: removing any single remaining
/// fault (or fault pair) makes the run pass, or fail no more in the way `test` checks.
///
/// # Errors
///
/// [`ShrinkError::ReplayPasses`] if `schedule` itself passes.
pub fn shrink(
    seed: u64,
    schedule: &[(Duration, Fault)],
    test: impl Fn(u64, &[(Duration, Fault)]) -> Result<(), String>,
) -> Result<Shrunk, ShrinkError> {
    let entries: Vec<Entry> = schedule
        .iter()
        .enumerate()
        .map(|(order, (at, fault))| Entry {
            order,
            at: *at,
            fault: fault.clone(),
        })
        .collect();
    let mut shrinker = Shrinker {
        seed,
        test,
        runs: 0,
        tried: BTreeMap::new(),
    };
    if !shrinker.fails(&entries) {
        return Err(ShrinkError::ReplayPasses { seed });
    }
    let mut left = shrinker.ddmin(units(&entries)).concat();
    loop {
        let before = left.len();
        let singles = left.into_iter().map(|e| vec![e]).collect();
        left = shrinker.ddmin(singles).concat();
        left.sort_by_key(|e| (e.at, e.order));
        left = shrinker.shorten(left);
        left = shrinker.round(left);
        // A shorter outage may leave another fault needless: remove again.
        if left.len() == before {
            break;
        }
    }
    let failure = shrinker.failure(&left).unwrap_or_default();
    Ok(Shrunk {
        seed,
        original_faults: schedule.len(),
        schedule: to_schedule(&left),
        failure,
        runs: shrinker.runs,
    })
}

/// A run recorded with random faults: its outcome and its fault log.
#[derive(Clone, Debug)]
pub struct RecordedRun {
    /// `Err` with why, if the run failed.
    pub result: Result<(), String>,
    /// [`Sim::fault_log`](crate::Sim::fault_log) at the end of the run.
    pub faults: FaultSchedule,
}

/// Records seed `seed` with `record` and, if it fails, shrinks its fault log with
/// `replay` (see [`shrink`]) and prints the shrunk schedule under `name`.
/// `Ok(None)` if the seed passes.
///
/// # Errors
///
/// A [`ShrinkError`] if the run panics before it hands back its log or its log does
/// not replay to a failure.
pub fn shrink_seed(
    name: &str,
    seed: u64,
    record: impl FnOnce(u64) -> RecordedRun,
    replay: impl Fn(u64, &[(Duration, Fault)]) -> Result<(), String>,
) -> Result<Option<Shrunk>, ShrinkError> {
    let recorded = match std::panic::catch_unwind(AssertUnwindSafe(|| record(seed))) {
        Ok(recorded) => recorded,
        Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| String::from("panicked"));
            return Err(ShrinkError::RecordPanicked { seed, why });
        }
    };
    if recorded.result.is_ok() {
        return Ok(None);
    }
    let shrunk = shrink(seed, &recorded.faults, replay)?;
    println!("{name}: {shrunk}");
    Ok(Some(shrunk))
}

/// What [`run_seeds_shrinking`] found.
#[derive(Debug)]
pub struct ShrinkReport {
    /// The seed loop's report.
    pub seeds: SeedReport,
    /// The shrunk schedule of the failing seed, if one failed.
    pub shrunk: Option<Result<Shrunk, ShrinkError>>,
}

/// [`run_seeds_parallel`](crate::run_seeds_parallel) over `record(seed).result`; a
/// failing seed is recorded again, its fault log shrunk with `replay` and the shrunk
/// schedule printed as code to paste (see [`shrink_seed`]). With `GORUMS_SIM_CHART_DIR`
/// set, the shrunk run (`replay` with the shrunk schedule; the recorded run if it could
/// not be shrunk) is drawn as a message sequence chart there ([`Chart`](crate::Chart))
/// and its path printed beside the seed (and kept in `seeds.charts`).
pub fn run_seeds_shrinking(
    name: &str,
    default_seeds: u64,
    record: impl Fn(u64) -> RecordedRun + Sync,
    replay: impl Fn(u64, &[(Duration, Fault)]) -> Result<(), String>,
) -> ShrinkReport {
    let mut seeds = run_seeds_parallel_undrawn(name, default_seeds, |seed| record(seed).result);
    let shrunk = seeds.failure.as_ref().map(|(seed, _)| {
        let shrunk = shrink_seed(name, *seed, &record, &replay)
            .and_then(|s| s.ok_or(ShrinkError::RecordPasses { seed: *seed }));
        if let Err(why) = &shrunk {
            println!("{name}: cannot shrink: {why}");
        }
        shrunk
    });
    if let (Some((seed, _)), Some(dir)) = (&seeds.failure, chart_dir_from_env()) {
        let seed = *seed;
        seeds.charts = match &shrunk {
            Some(Ok(shrunk)) => draw_failing_run(name, seed, &dir, || {
                let _ = run_one(|s| replay(s, &shrunk.schedule), seed);
            }),
            _ => draw_failing_run(name, seed, &dir, || {
                let _ = run_one(|s| record(s).result, seed);
            }),
        };
    }
    ShrinkReport { seeds, shrunk }
}

/// `schedule` as Rust a test can paste, one `sim.schedule(at, fault);` line per fault
/// (with `Duration`, `Fault` and `ProcessId` in scope and the simulation named `sim`).
pub fn schedule_code(schedule: &[(Duration, Fault)]) -> String {
    schedule
        .iter()
        .map(|(at, fault)| {
            format!(
                "sim.schedule({}, {});\n",
                duration_code(*at),
                fault_code(fault)
            )
        })
        .collect()
}

/// `fault` as a Rust expression.
pub fn fault_code(fault: &Fault) -> String {
    let pid = |p: &ProcessId| format!("ProcessId({})", p.0);
    let group = |g: &[ProcessId]| {
        let ids: Vec<String> = g.iter().map(pid).collect();
        format!("vec![{}]", ids.join(", "))
    };
    match fault {
        Fault::Isolate(p) => format!("Fault::Isolate({})", pid(p)),
        Fault::Rejoin(p) => format!("Fault::Rejoin({})", pid(p)),
        Fault::Partition(a, b) => format!("Fault::Partition({}, {})", group(a), group(b)),
        Fault::Unpartition(a, b) => format!("Fault::Unpartition({}, {})", group(a), group(b)),
        Fault::Block { from, to } => {
            format!("Fault::Block {{ from: {}, to: {} }}", pid(from), pid(to))
        }
        Fault::Unblock { from, to } => {
            format!("Fault::Unblock {{ from: {}, to: {} }}", pid(from), pid(to))
        }
        Fault::HealAll => String::from("Fault::HealAll"),
        Fault::ResetConnections(p) => format!("Fault::ResetConnections({})", pid(p)),
        Fault::ResetRandom => String::from("Fault::ResetRandom"),
        Fault::ResetConnection {
            dialer,
            listener,
            nth,
        } => format!(
            "Fault::ResetConnection {{ dialer: {}, listener: {}, nth: {nth} }}",
            pid(dialer),
            pid(listener)
        ),
        Fault::Crash(p) => format!("Fault::Crash({})", pid(p)),
        Fault::CrashSilent(p) => format!("Fault::CrashSilent({})", pid(p)),
        Fault::CrashReset(p) => format!("Fault::CrashReset({})", pid(p)),
        Fault::Restart(p) => format!("Fault::Restart({})", pid(p)),
        Fault::Pause(p) => format!("Fault::Pause({})", pid(p)),
        Fault::Resume(p) => format!("Fault::Resume({})", pid(p)),
        Fault::Skew {
            process,
            drift_ppm,
            jump,
        } => format!(
            "Fault::Skew {{ process: {}, drift_ppm: {drift_ppm}, jump: {} }}",
            pid(process),
            duration_code(*jump)
        ),
    }
}

/// `d` as a Rust expression, in the largest whole unit (ms, µs, ns) that is exact.
pub fn duration_code(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos.is_multiple_of(1_000_000) {
        format!("Duration::from_millis({})", nanos / 1_000_000)
    } else if nanos.is_multiple_of(1_000) {
        format!("Duration::from_micros({})", nanos / 1_000)
    } else {
        format!("Duration::from_nanos({nanos})")
    }
}

/// The entries as a schedule in firing order (time, then input order).
fn to_schedule(entries: &[Entry]) -> FaultSchedule {
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    sorted.sort_by_key(|e| (e.at, e.order));
    sorted
        .into_iter()
        .map(|e| (e.at, e.fault.clone()))
        .collect()
}

/// Whether `undo` undoes `start` (the next such fault after it is its undoing).
fn undoes(start: &Fault, undo: &Fault) -> bool {
    match (start, undo) {
        (Fault::Isolate(p), Fault::Rejoin(q))
        | (Fault::Pause(p), Fault::Resume(q))
        | (Fault::Crash(p) | Fault::CrashSilent(p) | Fault::CrashReset(p), Fault::Restart(q)) => {
            p == q
        }
        (Fault::Partition(a, b), Fault::Unpartition(c, d)) => a == c && b == d,
        (Fault::Block { from, to }, Fault::Unblock { from: f, to: t }) => from == f && to == t,
        (
            Fault::Skew {
                process: p,
                drift_ppm,
                jump,
            },
            Fault::Skew {
                process: q,
                drift_ppm: 0,
                jump: Duration::ZERO,
            },
        ) => p == q && (*drift_ppm != 0 || *jump != Duration::ZERO),
        _ => false,
    }
}

/// Each fault paired with its undoing, as `(start, undo)` indices into `entries`.
fn pairs(entries: &[Entry]) -> Vec<(usize, usize)> {
    let mut taken = vec![false; entries.len()];
    let mut out = Vec::new();
    for i in 0..entries.len() {
        if taken[i] {
            continue;
        }
        let undo = (i + 1..entries.len())
            .find(|&j| !taken[j] && undoes(&entries[i].fault, &entries[j].fault));
        if let Some(j) = undo {
            taken[i] = true;
            taken[j] = true;
            out.push((i, j));
        }
    }
    out
}

/// `entries` grouped into units ddmin keeps or drops whole: each fault with its
/// undoing, every other fault alone; in input order.
fn units(entries: &[Entry]) -> Vec<Vec<Entry>> {
    let mut by_first: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    let mut paired = vec![false; entries.len()];
    for (start, undo) in pairs(entries) {
        paired[start] = true;
        paired[undo] = true;
        by_first.insert(start, vec![start, undo]);
    }
    for (i, &p) in paired.iter().enumerate() {
        if !p {
            by_first.insert(i, vec![i]);
        }
    }
    by_first
        .into_values()
        .map(|ids| ids.into_iter().map(|i| entries[i].clone()).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Fails while the schedule isolates process 1 and crashes process 2 (in any
    /// order), each still in effect at 100 ms.
    fn needs_isolate_and_crash(_seed: u64, schedule: &[(Duration, Fault)]) -> Result<(), String> {
        let in_effect = |start: &Fault, undo: &Fault| {
            let began = schedule.iter().any(|(at, f)| f == start && *at <= ms(100));
            let ended = schedule.iter().any(|(at, f)| f == undo && *at <= ms(100));
            began && !ended
        };
        let p1 = ProcessId(1);
        let p2 = ProcessId(2);
        if in_effect(&Fault::Isolate(p1), &Fault::Rejoin(p1))
            && in_effect(&Fault::CrashSilent(p2), &Fault::Restart(p2))
        {
            Err(String::from("both down at 100 ms"))
        } else {
            Ok(())
        }
    }

    #[test]
    fn ddmin_keeps_the_two_faults_that_matter_and_shortens_nothing_needed() {
        let mut schedule = Vec::new();
        for i in 0..10 {
            schedule.push((ms(5 * i), Fault::Pause(ProcessId(3))));
            schedule.push((ms(5 * i + 2), Fault::Resume(ProcessId(3))));
        }
        schedule.push((ms(40), Fault::Isolate(ProcessId(1))));
        schedule.push((ms(60), Fault::CrashSilent(ProcessId(2))));
        schedule.push((ms(150), Fault::Rejoin(ProcessId(1))));
        schedule.push((ms(170), Fault::Restart(ProcessId(2))));
        schedule.push((ms(180), Fault::ResetRandom));
        schedule.sort_by_key(|(at, _)| *at);
        let shrunk = shrink(7, &schedule, needs_isolate_and_crash).unwrap();
        // The rejoin and the restart go too: the failure needs them absent before
        // 100 ms only, and a fault without its undoing lasts to the end.
        assert_eq!(
            shrunk.schedule,
            vec![
                (ms(40), Fault::Isolate(ProcessId(1))),
                (ms(60), Fault::CrashSilent(ProcessId(2))),
            ]
        );
        assert_eq!(shrunk.original_faults, 25);
        assert_eq!(shrunk.failure, "both down at 100 ms");
    }

    #[test]
    fn an_undoing_is_moved_earlier_while_the_run_still_fails() {
        // Fails while process 1 is isolated at 30 ms and rejoined by 200 ms: the rejoin
        // is needed, and it moves from 190 ms to just after 30 ms.
        let test = |_seed: u64, schedule: &[(Duration, Fault)]| {
            let p = ProcessId(1);
            let isolated = schedule
                .iter()
                .any(|(at, f)| *f == Fault::Isolate(p) && *at <= ms(30));
            let rejoined = schedule
                .iter()
                .find(|(_, f)| *f == Fault::Rejoin(p))
                .map(|(at, _)| *at);
            match rejoined {
                Some(at) if isolated && at > ms(30) && at <= ms(200) => Err(String::from("x")),
                _ => Ok(()),
            }
        };
        let schedule = vec![
            (ms(10), Fault::Isolate(ProcessId(1))),
            (ms(190), Fault::Rejoin(ProcessId(1))),
        ];
        let shrunk = shrink(1, &schedule, test).unwrap();
        assert_eq!(shrunk.schedule.len(), 2);
        let rejoin = shrunk.schedule[1].0;
        assert!(rejoin > ms(30) && rejoin < ms(40), "{rejoin:?}");
    }

    #[test]
    fn a_passing_replay_is_an_error_not_a_shrunk_schedule() {
        let schedule = vec![(ms(1), Fault::HealAll)];
        let err = shrink(3, &schedule, |_, _| Ok(())).unwrap_err();
        assert_eq!(err, ShrinkError::ReplayPasses { seed: 3 });
    }

    #[test]
    fn every_fault_prints_as_the_code_that_makes_it() {
        let p = ProcessId;
        let schedule = vec![
            (ms(1), Fault::Isolate(p(1))),
            (Duration::from_micros(1500), Fault::Rejoin(p(1))),
            (
                Duration::from_nanos(2_000_001),
                Fault::Partition(vec![p(0)], vec![p(1), p(2)]),
            ),
            (ms(3), Fault::Unpartition(vec![p(0)], vec![p(1), p(2)])),
            (
                ms(4),
                Fault::Block {
                    from: p(0),
                    to: p(1),
                },
            ),
            (
                ms(5),
                Fault::Unblock {
                    from: p(0),
                    to: p(1),
                },
            ),
            (ms(6), Fault::HealAll),
            (ms(7), Fault::ResetConnections(p(2))),
            (ms(8), Fault::ResetRandom),
            (
                ms(9),
                Fault::ResetConnection {
                    dialer: p(3),
                    listener: p(0),
                    nth: 2,
                },
            ),
            (ms(10), Fault::Crash(p(0))),
            (ms(11), Fault::CrashSilent(p(0))),
            (ms(12), Fault::CrashReset(p(0))),
            (ms(13), Fault::Restart(p(0))),
            (ms(14), Fault::Pause(p(1))),
            (ms(15), Fault::Resume(p(1))),
            (
                ms(16),
                Fault::Skew {
                    process: p(2),
                    drift_ppm: -250,
                    jump: Duration::from_micros(12),
                },
            ),
        ];
        // The text below is pasted, as code, into
        // `tests/faults.rs::printed_schedules_compile_and_replay`, which checks it
        // compiles and gives this schedule.
        let expected = "\
sim.schedule(Duration::from_millis(1), Fault::Isolate(ProcessId(1)));
sim.schedule(Duration::from_micros(1500), Fault::Rejoin(ProcessId(1)));
sim.schedule(Duration::from_nanos(2000001), Fault::Partition(vec![ProcessId(0)], vec![ProcessId(1), ProcessId(2)]));
sim.schedule(Duration::from_millis(3), Fault::Unpartition(vec![ProcessId(0)], vec![ProcessId(1), ProcessId(2)]));
sim.schedule(Duration::from_millis(4), Fault::Block { from: ProcessId(0), to: ProcessId(1) });
sim.schedule(Duration::from_millis(5), Fault::Unblock { from: ProcessId(0), to: ProcessId(1) });
sim.schedule(Duration::from_millis(6), Fault::HealAll);
sim.schedule(Duration::from_millis(7), Fault::ResetConnections(ProcessId(2)));
sim.schedule(Duration::from_millis(8), Fault::ResetRandom);
sim.schedule(Duration::from_millis(9), Fault::ResetConnection { dialer: ProcessId(3), listener: ProcessId(0), nth: 2 });
sim.schedule(Duration::from_millis(10), Fault::Crash(ProcessId(0)));
sim.schedule(Duration::from_millis(11), Fault::CrashSilent(ProcessId(0)));
sim.schedule(Duration::from_millis(12), Fault::CrashReset(ProcessId(0)));
sim.schedule(Duration::from_millis(13), Fault::Restart(ProcessId(0)));
sim.schedule(Duration::from_millis(14), Fault::Pause(ProcessId(1)));
sim.schedule(Duration::from_millis(15), Fault::Resume(ProcessId(1)));
sim.schedule(Duration::from_millis(16), Fault::Skew { process: ProcessId(2), drift_ppm: -250, jump: Duration::from_micros(12) });
";
        assert_eq!(schedule_code(&schedule), expected);
    }
}
