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
    /// Undo one [`Fault::Isolate`] of the process: links that other faults cut stay cut.
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
    /// Undo one [`Fault::Block`] of the link.
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
    /// Crash the process: its tasks and volatile state are dropped. Whether it is a
    /// silent host or a process death is drawn from the fault stream
    /// ([`SimConfig::crash_reset`](crate::SimConfig::crash_reset)); the fault log records
    /// the outcome ([`Fault::CrashSilent`] or [`Fault::CrashReset`]), so that a replay of
    /// the log draws nothing.
    Crash(ProcessId),
    /// Restart a crashed process by calling its boot function again.
    Restart(ProcessId),
    /// Stop polling the process's tasks (its clock and its links go on).
    Pause(ProcessId),
    /// Resume a paused process.
    Resume(ProcessId),
    /// Undo one [`Fault::Partition`] between the same groups (other faults' cuts on the
    /// same links stay).
    Unpartition(Vec<ProcessId>, Vec<ProcessId>),
    /// The process's clock jumps `jump` ahead and from now on runs `drift_ppm` parts per
    /// million off true time (a clock never goes back; `drift_ppm: 0` with no jump
    /// ends a drift).
    Skew {
        /// Whose clock.
        process: ProcessId,
        /// The new rate, in parts per million off true (virtual) time.
        drift_ppm: i32,
        /// How far the clock jumps ahead now.
        jump: Duration,
    },
    /// A [`Fault::Crash`] as a silent host: the peers' connections stay half-open
    /// and dials to it go unanswered.
    CrashSilent(ProcessId),
    /// A [`Fault::Crash`] as a process death on a live host: its OS resets the
    /// process's connections (where the links let the reset through) and refuses dials.
    CrashReset(ProcessId),
    /// Reset the `nth` connection (counted from 0) that `dialer` made to `listener`,
    /// if it is still live: what the fault log records for a [`Fault::ResetRandom`]
    /// (the connection it picked; naming the pair alone would not do, as a half-open
    /// connection may still be live beside its redial).
    ResetConnection {
        /// The process that dialled.
        dialer: ProcessId,
        /// The process whose listener accepted.
        listener: ProcessId,
        /// How many connections `dialer` had made to `listener` before this one.
        nth: u32,
    },
}

/// Random faults drawn from the seed: one every `mean_interval` on average until
/// `until`, each undone after an outage drawn from `min_outage..=max_outage`. Any
/// process may be picked unless made with [`ProcessOptions::reliable`].
///
/// With `swarm` set, the plan itself is drawn per seed from this one (swarm testing):
/// each kind of fault (bridges included) is left out or kept with a weight drawn from 1 to 4, the mean
/// interval drawn from a quarter to twice the given one, the longest outage from a
/// tenth to all of the given one, and how often a crash is a process death rather than
/// a silent host from 0 to 1 ([`Sim::fault_plan`](crate::Sim::fault_plan) shows the
/// drawn plan).
///
/// [`ProcessOptions::reliable`]: crate::ProcessOptions::reliable
#[derive(Clone, Debug, PartialEq)]
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
    /// Relative weight of a group partition: a minority of the faultable processes
    /// (one up to half of them) cut off from everyone else.
    pub group: u32,
    /// Relative weight of a bridge partition: one faultable process (the bridge) keeps
    /// its links to everyone while the other processes are split into two sides (drawn)
    /// that do not hear each other, so the bridge sees both sides and the sides see only
    /// the bridge in common (needs three processes).
    pub bridge: u32,
    /// Relative weight of a clock fault: a forward jump of up to `max_jump` and a
    /// drift of up to `max_drift_ppm` either way, ended after the outage.
    pub skew: u32,
    /// The largest drift a clock fault draws, in parts per million.
    pub max_drift_ppm: u32,
    /// The largest forward jump a clock fault draws.
    pub max_jump: Duration,
    /// Draw the plan itself per seed (see the type's documentation).
    pub swarm: bool,
    /// Relative weight of cutting one link one way.
    pub one_way: u32,
    /// Relative weight of resetting a connection.
    pub reset: u32,
    /// Relative weight of a crash (and a restart after the outage).
    pub crash: u32,
    /// Relative weight of a crash at an I/O point: the next faultable process to
    /// complete a disk write crashes within the time a sync takes (often with the
    /// write still unsynced), and restarts after the outage.
    pub crash_io: u32,
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
            group: 1,
            bridge: 1,
            skew: 1,
            max_drift_ppm: 100_000,
            max_jump: Duration::from_millis(50),
            swarm: false,
            one_way: 1,
            reset: 2,
            crash: 2,
            crash_io: 1,
            pause: 1,
        }
    }
}
