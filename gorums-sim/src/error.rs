//! [`SimError`]: why a run stopped before its goal.

use std::time::Duration;

/// Why a run stopped before its goal.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SimError {
    /// Nothing runnable and no event pending: the awaited future can never finish.
    Stalled {
        /// Virtual time of the stall.
        at: Duration,
    },
    /// The virtual time limit passed.
    TimeLimit {
        /// The limit.
        at: Duration,
    },
    /// Tasks kept waking each other without virtual time advancing.
    Livelock {
        /// Virtual time at which it spun.
        at: Duration,
    },
}

impl std::fmt::Display for SimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SimError::Stalled { at } => write!(f, "simulation stalled at {at:?}"),
            SimError::TimeLimit { at } => write!(f, "simulation reached its time limit of {at:?}"),
            SimError::Livelock { at } => write!(f, "tasks spin without time advancing at {at:?}"),
        }
    }
}

impl std::error::Error for SimError {}
