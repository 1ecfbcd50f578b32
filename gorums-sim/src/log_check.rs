//! Client-visible linearizability of a replicated log's appends: what the clients of a
//! Multi-Paxos or Raft log can observe, beside the protocol's own safety (agreement per
//! slot) that an oracle inside the replicas checks.
//!
//! The sequential object is an append-only log whose `append(c)` puts `c` at the end.
//! A run is linearizable when the log it chose can be that object's: every append that
//! returned is in the log, and an append that returned before another was invoked sits
//! before it. With unique commands, that is the whole condition: the log's order is
//! the linearization, and the position of a command chosen twice is its first.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// One client's append as it saw it, in nanoseconds of a clock common to all clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogAppend {
    /// The client that appended.
    pub client: u64,
    /// Its command (unique in the run).
    pub command: u64,
    /// When it was invoked.
    pub invoke: u64,
    /// When the client was told it was appended; `None` if it never was.
    pub ret: Option<u64>,
}

/// How a log fails to be explained by its clients' appends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogViolation {
    /// The client was told its command was appended, and the log does not hold it.
    Lost(LogAppend),
    /// `earlier` returned before `later` was invoked, yet the log holds `later` first.
    Reordered {
        /// The append that finished first.
        earlier: LogAppend,
        /// The append invoked after it, at a lower position.
        later: LogAppend,
        /// Their positions in the log (`earlier`'s, `later`'s).
        positions: (usize, usize),
    },
}

impl fmt::Display for LogViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = Duration::from_nanos;
        match self {
            LogViolation::Lost(a) => write!(
                f,
                "client {} was told command {} was appended at {:?}, but the log does not hold it",
                a.client,
                a.command,
                ns(a.ret.unwrap_or(0))
            ),
            LogViolation::Reordered {
                earlier,
                later,
                positions,
            } => write!(
                f,
                "command {} (client {}, returned {:?}) sits at position {} after command {} \
                 (client {}, invoked {:?} later) at position {}",
                earlier.command,
                earlier.client,
                ns(earlier.ret.unwrap_or(0)),
                positions.0,
                later.command,
                later.client,
                ns(later.invoke),
                positions.1
            ),
        }
    }
}

impl std::error::Error for LogViolation {}

/// Checks `log` (the chosen commands in position order; entries that are no append's
/// command, such as no-ops, are skipped) against the appends that produced it.
///
/// ```
/// use gorums_sim::{LogAppend, check_log};
///
/// let a = LogAppend { client: 1, command: 10, invoke: 0, ret: Some(5) };
/// let b = LogAppend { client: 2, command: 20, invoke: 6, ret: Some(9) };
/// assert!(check_log(&[a, b], &[10, 0, 20]).is_ok());
/// // b was invoked after a returned: it cannot come first.
/// assert!(check_log(&[a, b], &[20, 10]).is_err());
/// // a returned: the log must hold it.
/// assert!(check_log(&[a, b], &[20]).is_err());
/// ```
pub fn check_log(appends: &[LogAppend], log: &[u64]) -> Result<(), LogViolation> {
    let mut position: BTreeMap<u64, usize> = BTreeMap::new();
    for (at, &command) in log.iter().enumerate() {
        position.entry(command).or_insert(at);
    }
    for a in appends {
        if a.ret.is_some() && !position.contains_key(&a.command) {
            return Err(LogViolation::Lost(*a));
        }
    }
    // Only the appends in the log are ordered by it; sorted by return time, each one
    // must sit before every append in the log invoked after it returned.
    let mut placed: Vec<(LogAppend, usize)> = appends
        .iter()
        .filter_map(|a| position.get(&a.command).map(|&p| (*a, p)))
        .collect();
    placed.sort_by_key(|(a, p)| (a.invoke, *p));
    for &(earlier, p) in &placed {
        let Some(returned) = earlier.ret else {
            continue;
        };
        if let Some(&(later, q)) = placed
            .iter()
            .find(|&&(later, q)| later.invoke > returned && q < p)
        {
            return Err(LogViolation::Reordered {
                earlier,
                later,
                positions: (p, q),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append(client: u64, command: u64, invoke: u64, ret: Option<u64>) -> LogAppend {
        LogAppend {
            client,
            command,
            invoke,
            ret,
        }
    }

    #[test]
    fn concurrent_appends_may_land_in_either_order() {
        let a = append(1, 10, 0, Some(10));
        let b = append(2, 20, 5, Some(15));
        assert!(check_log(&[a, b], &[10, 20]).is_ok());
        assert!(check_log(&[a, b], &[20, 10]).is_ok());
    }

    #[test]
    fn pending_appends_may_be_missing_but_not_early() {
        let a = append(1, 10, 0, Some(10));
        let pending = append(2, 20, 11, None);
        assert!(check_log(&[a, pending], &[10]).is_ok());
        assert!(check_log(&[a, pending], &[10, 20]).is_ok());
        let err = check_log(&[a, pending], &[20, 10]).unwrap_err();
        assert_eq!(
            err,
            LogViolation::Reordered {
                earlier: a,
                later: pending,
                positions: (1, 0)
            }
        );
        assert!(err.to_string().contains("command 10"), "{err}");
    }

    #[test]
    fn a_returned_append_must_be_in_the_log_once_first_counting() {
        let a = append(1, 10, 0, Some(10));
        let b = append(2, 20, 20, Some(30));
        let err = check_log(&[a, b], &[20]).unwrap_err();
        assert_eq!(err, LogViolation::Lost(a));
        assert!(err.to_string().contains("does not hold it"), "{err}");
        // A command chosen twice counts at its first position; no-ops are skipped.
        assert!(check_log(&[a, b], &[1, 10, 1, 20, 10]).is_ok());
        assert!(check_log(&[a, b], &[20, 10, 20]).is_err());
    }
}
