//! The scheduler: which of the tasks ready at one instant runs next, drawn from the
//! run's scheduling stream ([`Schedule`]: wake order, a uniformly random pick, or PCT's
//! random priorities with a few priority change points).

use std::collections::{BTreeMap, VecDeque};

use crate::config::Schedule;
use crate::ids::TaskId;
use crate::rng::SimRng;

/// Picks the next task to poll from the ready queue.
pub(crate) struct Scheduler {
    kind: Schedule,
    rng: SimRng,
    /// PCT: each task's priority (higher runs first), drawn when first seen ready.
    priority: BTreeMap<TaskId, u64>,
    /// PCT: the poll counts at which the running task drops to a low priority, in
    /// increasing order, with the priority it drops to.
    change_points: VecDeque<(u64, u64)>,
    polls: u64,
}

impl Scheduler {
    /// A scheduler of `kind` drawing from `rng` (the run's scheduling stream).
    pub(crate) fn new(kind: Schedule, mut rng: SimRng) -> Scheduler {
        let mut change_points = Vec::new();
        if let Schedule::Pct { depth, steps } = kind {
            for i in 1..depth {
                change_points.push((rng.below(steps.max(1)), u64::from(depth - i)));
            }
            change_points.sort_unstable();
        }
        Scheduler {
            kind,
            rng,
            priority: BTreeMap::new(),
            change_points: change_points.into(),
            polls: 0,
        }
    }

    /// Takes the next task out of `queue` (non-empty).
    pub(crate) fn pick(&mut self, queue: &mut VecDeque<TaskId>) -> Option<TaskId> {
        match self.kind {
            Schedule::Fifo => queue.pop_front(),
            Schedule::Random => {
                let i = self.rng.below(queue.len() as u64) as usize;
                queue.swap_remove_back(i)
            }
            Schedule::Pct { .. } => {
                let mut best = 0;
                let mut best_priority = 0;
                for (i, id) in queue.iter().enumerate() {
                    let rng = &mut self.rng;
                    // Initial priorities sit above every change point's.
                    let p = *self
                        .priority
                        .entry(*id)
                        .or_insert_with(|| (1 << 32) | (rng.next_u64() >> 1));
                    if p > best_priority {
                        (best, best_priority) = (i, p);
                    }
                }
                let id = queue.remove(best)?;
                self.polls += 1;
                if self
                    .change_points
                    .front()
                    .is_some_and(|&(at, _)| at < self.polls)
                    && let Some((_, low)) = self.change_points.pop_front()
                {
                    self.priority.insert(id, low);
                }
                Some(id)
            }
        }
    }

    /// Task `id` is gone (finished or dropped): forget its priority.
    pub(crate) fn forget(&mut self, id: TaskId) {
        if !self.priority.is_empty() {
            self.priority.remove(&id);
        }
    }
}
