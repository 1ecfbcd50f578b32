//! The small trait a process's stable storage implements, next to the [`runtime`]
//! trait: [`Disk`]. Handler code that must keep state across a crash (a Paxos
//! acceptor's promise and vote, a replica's log) awaits it as it awaits the network, and
//! runs unchanged on a real file ([`FileDisk`], its calls on the tokio or smol
//! adapter's blocking pool: `gorums_tokio::file_disk`, `gorums_smol::file_disk`) and on the simulator's disk (`gorums_sim::SimDisk`, where
//! unsynced writes are lost at a crash).
//!
//! What a file holds is bytes; the protocol decides their layout. Two layouts suit the
//! trait: a small state rewritten in place (`write` at offset 0 with a length or a fixed
//! size, then `sync`), and a log of records (`append`, then `sync`), read back whole at
//! start and replayed up to its first incomplete record (a crash may leave one torn at
//! the end).
//!
//! [`runtime`]: crate::runtime

use std::io;
use std::sync::Arc;

use crate::runtime::BoxFuture;

mod file;

pub use file::{Blocking, BlockingJob, FileDisk};

/// A process's stable storage: named files it reads whole, writes at an offset or
/// appends to, and syncs. A write is visible to reads once its future completes, but
/// durable only once a later [`sync`](Disk::sync) of its file has completed; a crash may
/// lose what is not (on the simulator it does).
///
/// Operations of one disk may run concurrently; an append lands whole, after every
/// append to the file that completed before it began. Durable contents are what the
/// file held at some completed sync, plus possibly more: a log read back after a crash
/// holds every record whose sync completed, and perhaps a torn record at its end.
///
/// File names are plain names (no path separators, not `.` or `..`, not empty); others
/// fail with [`io::ErrorKind::InvalidInput`] ([`check_file_name`]).
///
/// Cancellation: dropping a future before it completes leaves its operation done or
/// undone, as a real disk would; only a completed sync promises durability.
pub trait Disk: Send + Sync {
    /// The file's contents (empty if it was never written).
    fn read(&self, file: &str) -> BoxFuture<'static, io::Result<Vec<u8>>>;

    /// Writes `data` at `offset` (the file grows, zero-filled, as needed).
    fn write(&self, file: &str, offset: u64, data: Vec<u8>) -> BoxFuture<'static, io::Result<()>>;

    /// Writes `data` at the end of the file.
    fn append(&self, file: &str, data: Vec<u8>) -> BoxFuture<'static, io::Result<()>>;

    /// Makes every completed write and append to the file durable (and the file's name,
    /// if it was just made).
    fn sync(&self, file: &str) -> BoxFuture<'static, io::Result<()>>;
}

/// A disk as handler code holds it.
pub type DiskHandle = Arc<dyn Disk>;

/// `Ok` if `file` is a plain file name a [`Disk`] accepts, else an
/// [`io::ErrorKind::InvalidInput`] error saying why.
///
/// ```
/// use gorums_core::disk::check_file_name;
/// assert!(check_file_name("acceptor.state").is_ok());
/// assert!(check_file_name("../etc/passwd").is_err());
/// ```
pub fn check_file_name(file: &str) -> io::Result<()> {
    let bad = file.is_empty() || file == "." || file == ".." || file.contains(['/', '\\', '\0']);
    if bad {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{file:?} is not a plain file name"),
        ));
    }
    Ok(())
}
