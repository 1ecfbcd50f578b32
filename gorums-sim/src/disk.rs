//! How the simulated disk behaves, as data: [`DiskConfig`]. The [`Disk`] trait handler
//! code writes against is gorums-core's (`gorums_core::disk`), so the same handler
//! keeps its state in a real file on tokio and smol; the simulated disk itself is
//! `files.rs` (its contents) and `simdisk.rs` ([`SimDisk`](crate::SimDisk), the handle).

use std::time::Duration;

pub use gorums_core::disk::{Disk, DiskHandle};

/// How the simulated disks behave; latencies and errors are drawn from the run's disk
/// stream. Each process's operations complete in the order they were issued.
#[derive(Clone, Debug, PartialEq)]
pub struct DiskConfig {
    /// The least time a write takes.
    pub write_latency: Duration,
    /// The least time a sync takes.
    pub sync_latency: Duration,
    /// Extra time drawn per operation, uniformly from zero to this.
    pub jitter: Duration,
    /// The chance that a write or a sync fails with an I/O error (and does nothing).
    pub error_chance: f64,
    /// At a crash, the last unsynced write survives torn (a prefix of it drawn from the
    /// disk stream) instead of being lost with the others.
    pub torn_writes: bool,
}

impl Default for DiskConfig {
    /// 20 µs writes and 1 ms syncs plus up to 2 ms jitter; no errors, no torn writes.
    fn default() -> Self {
        DiskConfig {
            write_latency: Duration::from_micros(20),
            sync_latency: Duration::from_millis(1),
            jitter: Duration::from_millis(2),
            error_chance: 0.0,
            torn_writes: false,
        }
    }
}
