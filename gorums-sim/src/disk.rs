//! What a process's storage looks like, as data and a trait: [`Disk`], the few calls a
//! handler makes to keep state across a crash (whole-file read, positioned write,
//! sync), and [`DiskConfig`], how the simulated one behaves. The simulated disk itself
//! is `files.rs` (its contents) and `simdisk.rs` ([`SimDisk`](crate::SimDisk), the
//! handle).
//!
//! The trait lives here for now; it belongs next to the runtime trait in gorums-core,
//! so that the same handler code keeps its state in a real file on tokio and smol.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use gorums_core::runtime::BoxFuture;

/// A process's stable storage: named files it reads whole, writes at an offset and
/// syncs. A write is visible to reads at once but durable only once a later
/// [`sync`](Disk::sync) of its file has completed; a crash loses what is not.
///
/// Cancellation: dropping a write's or a sync's future before it completes leaves the
/// operation undone or done (as a real disk would); only a completed sync promises
/// durability.
pub trait Disk: Send + Sync {
    /// The file's contents (empty if it was never written).
    fn read(&self, file: &str) -> BoxFuture<'static, io::Result<Vec<u8>>>;
    /// Writes `data` at `offset` (the file grows, zero-filled, as needed).
    fn write(&self, file: &str, offset: u64, data: Vec<u8>) -> BoxFuture<'static, io::Result<()>>;
    /// Makes every completed write to the file durable.
    fn sync(&self, file: &str) -> BoxFuture<'static, io::Result<()>>;
}

/// A disk as handler code holds it (on the simulator, a [`SimDisk`](crate::SimDisk)).
pub type DiskHandle = Arc<dyn Disk>;

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
