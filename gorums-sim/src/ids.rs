//! The names of things in a simulation: [`ProcessId`] (public), and the numbers of the
//! tasks, connections and listeners inside the world.

/// A simulated process, numbered in creation order from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProcessId(pub usize);

/// A task, numbered in spawn order from 0.
pub(crate) type TaskId = u64;

/// A connection, numbered from 1 by its dial (a dial and the connection it makes share
/// the number).
pub(crate) type ConnId = u64;

/// A bound listener, numbered from 1.
pub(crate) type ListenerId = u64;
