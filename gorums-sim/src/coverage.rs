//! `sometimes` assertions: conditions a many-seed test says some seed must reach ("a
//! partition cut a quorum call", "a proposer was preempted"), so a test whose faults
//! quietly stopped reaching the interesting states fails instead of passing vacuously.
//!
//! A [`Coverage`] is declared with its goals before the seeds run, marked from inside
//! them (any thread: [`run_seeds_parallel`](crate::run_seeds_parallel) runs seeds side by
//! side), and checked after: [`Coverage::check`] names every goal no seed reached.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

/// A set of named goals, each counting the seeds that reached it. Cheap to clone; every
/// clone marks the same counts.
///
/// ```
/// use gorums_sim::{Coverage, run_seeds};
///
/// let coverage = Coverage::new(["an even seed", "a seed above 5"]);
/// let report = run_seeds("doc", 10, |seed| {
///     coverage.sometimes("an even seed", seed % 2 == 0);
///     coverage.sometimes("a seed above 5", seed > 5);
///     Ok(())
/// });
/// assert!(report.failure.is_none());
/// coverage.assert_reached();
/// // Five even seeds; the runner runs its first seeds twice (its determinism check).
/// assert!(coverage.count("an even seed") >= 5);
/// ```
#[derive(Clone, Debug)]
pub struct Coverage {
    goals: Arc<Mutex<BTreeMap<&'static str, u64>>>,
}

impl Coverage {
    /// Coverage of these goals, none reached yet.
    pub fn new(goals: impl IntoIterator<Item = &'static str>) -> Coverage {
        Coverage {
            goals: Arc::new(Mutex::new(goals.into_iter().map(|g| (g, 0)).collect())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<&'static str, u64>> {
        self.goals.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks `goal` reached once if `happened`; returns `happened`.
    ///
    /// # Panics
    ///
    /// If `goal` was not declared in [`Coverage::new`]: a misspelt goal would otherwise
    /// count toward nothing and the check would blame the wrong line.
    pub fn sometimes(&self, goal: &str, happened: bool) -> bool {
        let mut goals = self.lock();
        let Some(count) = goals.get_mut(goal) else {
            let declared: Vec<&str> = goals.keys().copied().collect();
            drop(goals);
            panic!("coverage goal {goal:?} was not declared (declared: {declared:?})");
        };
        if happened {
            *count += 1;
        }
        happened
    }

    /// How many times `goal` was reached (0 for an undeclared goal).
    pub fn count(&self, goal: &str) -> u64 {
        self.lock().get(goal).copied().unwrap_or(0)
    }

    /// `Ok` if every goal was reached at least once; else the goals no seed reached.
    pub fn check(&self) -> Result<(), Unreached> {
        let goals = self.lock();
        let missed: Vec<&'static str> = goals
            .iter()
            .filter(|&(_, &n)| n == 0)
            .map(|(&g, _)| g)
            .collect();
        if missed.is_empty() {
            Ok(())
        } else {
            Err(Unreached { goals: missed })
        }
    }
}

impl Coverage {
    /// Panics, naming every goal no seed reached and how often each goal was reached,
    /// unless every goal was reached: the end of a test.
    #[track_caller]
    pub fn assert_reached(&self) {
        if let Err(unreached) = self.check() {
            panic!("{unreached}\n{self}");
        }
    }
}

impl fmt::Display for Coverage {
    /// One line per goal: how often it was reached.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (goal, n) in self.lock().iter() {
            writeln!(f, "  {n:>6}  {goal}")?;
        }
        Ok(())
    }
}

/// The goals of a [`Coverage`] that no seed reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unreached {
    /// The goals, in name order.
    pub goals: Vec<&'static str>,
}

impl fmt::Display for Unreached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no seed reached: {} (more seeds, or faults that reach them)",
            self.goals.join("; ")
        )
    }
}

impl std::error::Error for Unreached {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreached_goal_fails_the_check_by_name() {
        let c = Coverage::new(["reached", "never"]);
        assert!(c.sometimes("reached", true));
        assert!(!c.sometimes("never", false));
        let err = c.check().unwrap_err();
        assert_eq!(err.goals, ["never"]);
        assert!(err.to_string().contains("never"), "{err}");
        let shown = std::panic::catch_unwind(|| c.assert_reached()).unwrap_err();
        let shown = shown.downcast_ref::<String>().unwrap();
        assert!(shown.starts_with("no seed reached: never"), "{shown}");
        c.sometimes("never", true);
        assert!(c.check().is_ok());
        c.assert_reached();
        assert_eq!((c.count("reached"), c.count("never")), (1, 1));
    }

    #[test]
    #[should_panic(expected = "was not declared")]
    fn a_misspelt_goal_panics() {
        Coverage::new(["a partition cut a call"]).sometimes("a partition cut a cal", true);
    }

    #[test]
    fn clones_count_together_across_threads() {
        let c = Coverage::new(["hit"]);
        std::thread::scope(|s| {
            for _ in 0..4 {
                let c = c.clone();
                s.spawn(move || {
                    for _ in 0..100 {
                        c.sometimes("hit", true);
                    }
                });
            }
        });
        assert_eq!(c.count("hit"), 400);
        assert!(c.to_string().contains("400  hit"), "{c}");
    }
}
