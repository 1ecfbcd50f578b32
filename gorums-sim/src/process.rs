//! A simulated process: the [`ProcessOptions`] a test gives it, and the world's record of
//! it (`Proc`: up or down, paused, its incarnation, clock and boot function).

use std::sync::Arc;
use std::time::Duration;

use gorums_core::runtime::{BoxFuture, PeerIdentity, RuntimeHandle};

use crate::clock::{Clock, nanos};
use crate::disk::DiskHandle;
use crate::ids::TaskId;

/// A simulated process's name, address, clock and identity.
#[derive(Clone, Debug)]
pub struct ProcessOptions {
    /// A name for the trace.
    pub name: String,
    /// The host part of the addresses its connections come from (a listener's address
    /// is whatever it binds, `host:port` by convention).
    pub host: String,
    /// Added to the process's clock.
    pub clock_offset: Duration,
    /// How fast its clock runs, in parts per million off true (virtual) time.
    pub clock_drift_ppm: i32,
    /// Whether random faults (crash, pause, partition, skew) may pick this process.
    pub faulty: bool,
    /// The simulated certificate its connections present to the other end, which finds
    /// it in [`Connection::identity`](gorums_core::runtime::Connection::identity) as if
    /// TLS had verified it (the simulator trusts every identity it is given: no
    /// handshake, no authority). None (the default): it proves no identity, as plain TCP.
    pub identity: Option<PeerIdentity>,
}

impl ProcessOptions {
    /// A process called `name` on host `127.0.0.1`, exact clock, that random faults
    /// may pick (see [`reliable`](Self::reliable)).
    pub fn new(name: impl Into<String>) -> ProcessOptions {
        ProcessOptions {
            name: name.into(),
            host: String::from("127.0.0.1"),
            clock_offset: Duration::ZERO,
            clock_drift_ppm: 0,
            faulty: true,
            identity: None,
        }
    }

    /// The same with random faults allowed to pick it (the default).
    pub fn faulty(mut self) -> ProcessOptions {
        self.faulty = true;
        self
    }

    /// The same with random faults never picking it (a test's observer, say).
    pub fn reliable(mut self) -> ProcessOptions {
        self.faulty = false;
        self
    }

    /// The same with its connections presenting `identity` (see
    /// [`identity`](Self::identity)); it survives restarts.
    pub fn identity(mut self, identity: PeerIdentity) -> ProcessOptions {
        self.identity = Some(identity);
        self
    }
}

/// What restarts a process: called with the new incarnation's runtime and disk.
pub(crate) type Boot =
    Arc<dyn Fn(RuntimeHandle, DiskHandle) -> BoxFuture<'static, ()> + Send + Sync>;

/// The world's record of one process.
pub(crate) struct Proc {
    pub(crate) name: String,
    pub(crate) host: String,
    pub(crate) alive: bool,
    /// Bumped by each crash: handles of an older incarnation are dead.
    pub(crate) incarnation: u64,
    pub(crate) paused: bool,
    /// Tasks woken while paused, queued again on resume.
    pub(crate) deferred: Vec<TaskId>,
    /// Virtual time until which the process is busy with its last poll
    /// ([`SimConfig::cpu_per_poll`](crate::SimConfig::cpu_per_poll)).
    pub(crate) busy_until: u64,
    pub(crate) clock: Clock,
    pub(crate) boot: Option<Boot>,
    pub(crate) faulty: bool,
    pub(crate) identity: Option<PeerIdentity>,
}

impl Proc {
    /// A process that is up, in its first incarnation, with no boot function yet.
    pub(crate) fn new(options: ProcessOptions) -> Proc {
        Proc {
            name: options.name,
            host: options.host,
            alive: true,
            incarnation: 0,
            paused: false,
            deferred: Vec::new(),
            busy_until: 0,
            clock: Clock::new(nanos(options.clock_offset), options.clock_drift_ppm),
            boot: None,
            faulty: options.faulty,
            identity: options.identity,
        }
    }
}
