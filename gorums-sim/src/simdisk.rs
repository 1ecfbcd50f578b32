//! [`SimDisk`]: the handle on one process incarnation's simulated disk that user code
//! holds, a [`Disk`]. Each operation waits its drawn latency on the world's event
//! queue and takes effect when it completes; after a crash the old incarnation's handle
//! fails every call.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use gorums_core::runtime::BoxFuture;

use gorums_core::disk::check_file_name;

use crate::disk::Disk;
use crate::events::{Event, EventKey};
use crate::faults::Fault;
use crate::ids::ProcessId;
use crate::world::Shared;

/// One incarnation of one process's simulated disk (see [`Disk`] for what its calls
/// promise). A restart's boot function gets a new handle on the same contents: what
/// was synced, and nothing else.
#[derive(Clone)]
pub struct SimDisk {
    shared: Arc<Shared>,
    pid: ProcessId,
    incarnation: u64,
}

impl std::fmt::Debug for SimDisk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimDisk")
            .field("pid", &self.pid)
            .field("incarnation", &self.incarnation)
            .finish_non_exhaustive()
    }
}

impl SimDisk {
    /// The disk of `pid`'s incarnation `incarnation`.
    pub(crate) fn new(shared: Arc<Shared>, pid: ProcessId, incarnation: u64) -> SimDisk {
        SimDisk {
            shared,
            pid,
            incarnation,
        }
    }

    fn op(&self, file: &str, op: Op) -> BoxFuture<'static, io::Result<()>> {
        if let Err(e) = check_file_name(file) {
            return Box::pin(std::future::ready(Err(e)));
        }
        let sync = matches!(op, Op::Sync { .. });
        let (at, fail) = self
            .shared
            .with(|w| w.files.schedule(&mut w.kernel, self.pid, sync));
        Box::pin(DiskOp {
            disk: self.clone(),
            at,
            fail,
            key: None,
            op: Some(op),
        })
    }
}

fn down() -> io::Error {
    io::Error::other("process is down")
}

impl Disk for SimDisk {
    fn read(&self, file: &str) -> BoxFuture<'static, io::Result<Vec<u8>>> {
        if let Err(e) = check_file_name(file) {
            return Box::pin(std::future::ready(Err(e)));
        }
        let (pid, incarnation) = (self.pid, self.incarnation);
        let contents = self.shared.with(|w| {
            if w.kernel.is_current(pid, incarnation) {
                Ok(w.files.read(pid, file))
            } else {
                Err(down())
            }
        });
        Box::pin(std::future::ready(contents))
    }

    fn write(&self, file: &str, offset: u64, data: Vec<u8>) -> BoxFuture<'static, io::Result<()>> {
        self.op(
            file,
            Op::Write {
                file: file.to_owned(),
                offset: Some(offset),
                data,
            },
        )
    }

    fn append(&self, file: &str, data: Vec<u8>) -> BoxFuture<'static, io::Result<()>> {
        self.op(
            file,
            Op::Write {
                file: file.to_owned(),
                offset: None,
                data,
            },
        )
    }

    fn sync(&self, file: &str) -> BoxFuture<'static, io::Result<()>> {
        self.op(
            file,
            Op::Sync {
                file: file.to_owned(),
            },
        )
    }
}

enum Op {
    /// A positioned write, or (no offset) an append.
    Write {
        file: String,
        offset: Option<u64>,
        data: Vec<u8>,
    },
    Sync {
        file: String,
    },
}

/// A write or a sync waiting for its completion time.
struct DiskOp {
    disk: SimDisk,
    at: u64,
    fail: bool,
    key: Option<EventKey>,
    op: Option<Op>,
}

impl Future for DiskOp {
    type Output = io::Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let d = &this.disk;
        d.shared.with(|w| {
            let k = &mut w.kernel;
            if !k.is_current(d.pid, d.incarnation) {
                return Poll::Ready(Err(down()));
            }
            if k.now < this.at {
                match this.key.and_then(|key| k.events.get_mut(&key)) {
                    Some(Event::Wake(waker)) => {
                        if !waker.will_wake(cx.waker()) {
                            let old = std::mem::replace(waker, cx.waker().clone());
                            k.garbage.push(Box::new(old));
                        }
                    }
                    _ => this.key = Some(k.schedule(this.at, Event::Wake(cx.waker().clone()))),
                }
                return Poll::Pending;
            }
            this.key = None;
            if this.fail {
                this.op = None;
                return Poll::Ready(Err(io::Error::other("injected I/O error")));
            }
            match this.op.take() {
                Some(Op::Write { file, offset, data }) => {
                    w.files.write(d.pid, &file, offset, data);
                    let faulty = k.procs.get(d.pid.0).is_some_and(|p| p.faulty);
                    if let Some((crash, restart)) = w.files.trigger(k.now, faulty) {
                        k.schedule(crash, Event::Fault(Fault::Crash(d.pid)));
                        k.schedule(restart, Event::Fault(Fault::Restart(d.pid)));
                    }
                }
                Some(Op::Sync { file }) => w.files.sync(d.pid, &file),
                None => {}
            }
            Poll::Ready(Ok(()))
        })
    }
}

impl Drop for DiskOp {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.disk.shared.with(|w| {
                if let Some(event) = w.kernel.events.remove(&key) {
                    w.kernel.garbage.push(Box::new(event));
                }
            });
        }
    }
}
