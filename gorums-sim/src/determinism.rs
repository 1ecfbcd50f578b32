//! Determinism checked, not assumed: [`check_determinism`] runs a closure twice, records
//! the events of every simulation it makes (time, process, kind, ids, a digest of each
//! write's bytes, the running hash), and compares the two runs event by event;
//! [`Divergence`] names the first event that differs, as each run saw it. A handler
//! iterating a `HashMap` with a random hasher, a read of the real clock, a thread: each
//! shows as two runs of one seed that part ways.

use crate::trace::{RECORD_LIMIT, Recording, watching};

/// Where two runs of one seed first differ.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Divergence {
    /// Which simulation of the run differs (0: the first one the closure made).
    pub sim: usize,
    /// The index (from 0) of the first event that differs, when it is known: `None`
    /// when the runs made different numbers of simulations, or differ only after the
    /// recorded events.
    pub event: Option<u64>,
    /// The last event both runs agree on, as the trace prints it.
    pub last_agreed: Option<String>,
    /// The first differing event as the first run saw it (or how that run ended).
    pub first_run: String,
    /// The same for the second run.
    pub second_run: String,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.event {
            Some(i) => write!(
                f,
                "not deterministic: two runs of one seed differ at event #{i} of simulation {}",
                self.sim
            )?,
            None => write!(
                f,
                "not deterministic: two runs of one seed differ in simulation {}",
                self.sim
            )?,
        }
        if let Some(agreed) = &self.last_agreed {
            write!(f, "\n  last event both runs agree on: {agreed}")?;
        }
        write!(
            f,
            "\n  first run:  {}\n  second run: {}",
            self.first_run, self.second_run
        )
    }
}

/// Runs `run` twice on this thread and compares the events of every [`Sim`](crate::Sim)
/// each run made on it (in the order they were made): `Ok` with the first run's result
/// when they are equal event for event (payload bytes included), else the first
/// [`Divergence`]. Simulations made on other threads are not seen. A panic in either run
/// is resumed (catch it inside `run` to compare panicking runs, as
/// [`run_seeds`](crate::run_seeds) does).
///
/// While it runs, each simulation keeps its first 262 144 events (about 60 bytes each);
/// a difference after those is reported without its event.
///
/// ```
/// use gorums_sim::{ProcessOptions, Sim, SimConfig, check_determinism};
/// use std::time::Duration;
///
/// let sleep_once = || {
///     let mut sim = Sim::new(SimConfig::new(7));
///     let p = sim.add_process(ProcessOptions::new("p"));
///     let rt = sim.runtime(p);
///     sim.run(p, async move { rt.sleep_until(rt.now() + Duration::from_millis(5)).await })
///         .unwrap();
///     sim.now()
/// };
/// assert_eq!(check_determinism(sleep_once), Ok(Duration::from_millis(5)));
/// ```
pub fn check_determinism<R>(mut run: impl FnMut() -> R) -> Result<R, Divergence> {
    let (first, first_records) = watching(&mut run);
    let first = first.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    let (second, second_records) = watching(&mut run);
    if let Err(panic) = second {
        std::panic::resume_unwind(panic);
    }
    match compare(&first_records, &second_records) {
        Some(divergence) => Err(divergence),
        None => Ok(first),
    }
}

/// The first difference between two runs' recordings, if any.
fn compare(first: &[Recording], second: &[Recording]) -> Option<Divergence> {
    for (sim, (a, b)) in first.iter().zip(second).enumerate() {
        if let Some(divergence) = compare_sim(sim, a, b) {
            return Some(divergence);
        }
    }
    let made = |n: usize| format!("made {n} simulation{}", if n == 1 { "" } else { "s" });
    (first.len() != second.len()).then(|| Divergence {
        sim: first.len().min(second.len()),
        event: None,
        last_agreed: None,
        first_run: made(first.len()),
        second_run: made(second.len()),
    })
}

/// The first difference between two runs of one simulation, if any.
fn compare_sim(sim: usize, a: &Recording, b: &Recording) -> Option<Divergence> {
    if a.hash == b.hash && a.events_seen == b.events_seen {
        return None;
    }
    let common = a.events.len().min(b.events.len());
    // The running hash after each event covers every event before it: the first index
    // where the hashes differ is the first differing event.
    let at = (0..common)
        .find(|&i| a.events[i].hash != b.events[i].hash)
        .or_else(|| (common < RECORD_LIMIT).then_some(common));
    let Some(at) = at else {
        let side = |r: &Recording| format!("{} events, final hash {:016x}", r.events_seen, r.hash);
        return Some(Divergence {
            sim,
            event: None,
            last_agreed: Some(format!(
                "the first {RECORD_LIMIT} events (all that was recorded)"
            )),
            first_run: side(a),
            second_run: side(b),
        });
    };
    let side = |r: &Recording| match r.events.get(at) {
        Some(event) => format!("#{at} {event}"),
        None => format!("ended after {} events", r.events_seen),
    };
    Some(Divergence {
        sim,
        event: Some(at as u64),
        last_agreed: at.checked_sub(1).map(|i| format!("#{i} {}", a.events[i])),
        first_run: side(a),
        second_run: side(b),
    })
}
