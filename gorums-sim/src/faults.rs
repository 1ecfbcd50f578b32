//! What can go wrong, as data: a [`Fault`] (scripted or drawn) and the [`FaultPlan`] that
//! random faults are drawn from. Applying them to the world is `inject.rs`'s job.

use std::time::Duration;

use crate::ids::ProcessId;

/// A fault, applied now ([`Sim::apply`](crate::Sim::apply)), at a given time
/// ([`Sim::schedule`](crate::Sim::schedule)), or drawn at random ([`FaultPlan`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Cut every link to and from the process (both ways).
    Isolate(ProcessId),
    /// Heal every link to and from the process.
    Rejoin(ProcessId),
    /// Cut both ways between two groups.
    Partition(Vec<ProcessId>, Vec<ProcessId>),
    /// Cut one way: bytes from `from` to `to` are held.
    Block {
        /// The sender whose bytes are held.
        from: ProcessId,
        /// The receiver that stops hearing from `from`.
        to: ProcessId,
    },
    /// Heal one way.
    Unblock {
        /// As in [`Fault::Block`].
        from: ProcessId,
        /// As in [`Fault::Block`].
        to: ProcessId,
    },
    /// Heal every link.
    HealAll,
    /// Reset every connection of the process (in-flight bytes lost; it stays up).
    ResetConnections(ProcessId),
    /// Reset one live connection picked from the seed.
    ResetRandom,
    /// Crash the process: its tasks and volatile state are dropped.
    Crash(ProcessId),
    /// Restart a crashed process by calling its boot function again.
    Restart(ProcessId),
    /// Stop polling the process's tasks (its clock and its links go on).
    Pause(ProcessId),
    /// Resume a paused process.
    Resume(ProcessId),
}

/// Random faults drawn from the seed: one every `mean_interval` on average until
/// `until`, each undone after an outage drawn from `min_outage..=max_outage`.
#[derive(Clone, Debug)]
pub struct FaultPlan {
    /// Mean time between two faults.
    pub mean_interval: Duration,
    /// No new fault starts after this time.
    pub until: Duration,
    /// The shortest outage (partition, crash, pause).
    pub min_outage: Duration,
    /// The longest outage.
    pub max_outage: Duration,
    /// At most this many processes down at once.
    pub max_crashed: usize,
    /// Relative weight of isolating a process (both ways).
    pub partition: u32,
    /// Relative weight of cutting one link one way.
    pub one_way: u32,
    /// Relative weight of resetting a connection.
    pub reset: u32,
    /// Relative weight of a crash (and a restart after the outage).
    pub crash: u32,
    /// Relative weight of a pause.
    pub pause: u32,
}

impl Default for FaultPlan {
    fn default() -> Self {
        FaultPlan {
            mean_interval: Duration::from_millis(50),
            until: Duration::from_secs(2),
            min_outage: Duration::from_millis(5),
            max_outage: Duration::from_millis(200),
            max_crashed: 1,
            partition: 2,
            one_way: 1,
            reset: 2,
            crash: 2,
            pause: 1,
        }
    }
}
