//! The io_uring variants of the floor: what batching a call's socket work into fewer
//! syscalls can gain on this host, before any runtime is built on it.
//!
//! - [`Uring::batched_writes`]: the epoll floor with each side's three writes handed
//!   to the kernel in one `io_uring_enter` (10 syscalls per call instead of 14): what a
//!   readiness-based runtime could adopt for its writes alone.
//! - [`Uring::one_submit`]: the whole call as three linked chains (client write, server
//!   read, server write, client read, per node) in one `io_uring_enter` that waits for
//!   all twelve: the least a call can cost in syscalls.
//!
//! Every submitted operation completes before this module touches its buffer again or
//! returns, except when `io_uring_enter` itself fails; then the buffers are leaked, not
//! freed under the kernel.

use std::io;
use std::os::fd::AsRawFd;

use io_uring::{IoUring, opcode, squeue, types};

use super::{Counter, Epoll, N, Pairs};

/// A ring with room for one call's twelve operations.
pub(super) struct Uring {
    ring: IoUring,
    /// The servers' receive buffers and the client's, one frame each per node: the
    /// kernel writes into them between a submit and its completions.
    server_bufs: Vec<Vec<u8>>,
    client_bufs: Vec<Vec<u8>>,
}

impl Uring {
    pub(super) fn new(frame: usize) -> io::Result<Uring> {
        Ok(Uring {
            ring: IoUring::new(4 * N as u32)?,
            server_bufs: vec![vec![0; frame]; N],
            client_bufs: vec![vec![0; frame]; N],
        })
    }

    /// Submits what is queued and waits for `want` completions, then checks that each
    /// moved a whole frame of `len` bytes.
    fn submit_and_reap(&mut self, c: &mut Counter, want: usize, len: usize) -> io::Result<()> {
        loop {
            c.0 += 1;
            match self.ring.submit_and_wait(want) {
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // Operations may still be in flight into the buffers: leak them.
                    std::mem::forget(std::mem::take(&mut self.server_bufs));
                    std::mem::forget(std::mem::take(&mut self.client_bufs));
                    return Err(e);
                }
            }
        }
        let mut reaped = 0;
        for cqe in self.ring.completion() {
            reaped += 1;
            let moved = cqe.result();
            if moved < 0 {
                return Err(io::Error::from_raw_os_error(-moved));
            }
            if moved as usize != len {
                return Err(io::Error::other(format!(
                    "operation {} moved {moved} of {len} bytes",
                    cqe.user_data()
                )));
            }
        }
        if reaped != want {
            return Err(io::Error::other(format!("{reaped} of {want} completions")));
        }
        Ok(())
    }

    /// Queues a send of the `len` bytes at `buf` on `fd`.
    fn push_send(&mut self, fd: i32, buf: *const u8, len: usize, tag: u64, flags: squeue::Flags) {
        let sqe = opcode::Send::new(types::Fd(fd), buf, len as u32)
            .build()
            .flags(flags)
            .user_data(tag);
        // SAFETY: `buf` is the caller's request or one of our buffers, and stays alive
        // and unmoved until `submit_and_reap` has seen this operation complete. The ring
        // has room for a call's operations, so the push cannot fail (checked).
        let pushed = unsafe { self.ring.submission().push(&sqe) };
        debug_assert!(pushed.is_ok(), "the ring holds a call's operations");
    }

    /// Queues a receive of a whole frame into `buf` on `fd`.
    fn push_recv(&mut self, fd: i32, buf: *mut u8, len: usize, tag: u64, flags: squeue::Flags) {
        let sqe = opcode::Recv::new(types::Fd(fd), buf, len as u32)
            .flags(libc::MSG_WAITALL)
            .build()
            .flags(flags)
            .user_data(tag);
        // SAFETY: as in `push_send`; `buf` points into one of our buffers.
        let pushed = unsafe { self.ring.submission().push(&sqe) };
        debug_assert!(pushed.is_ok(), "the ring holds a call's operations");
    }

    /// One call with each side's three writes batched; reads as in the epoll floor.
    pub(super) fn batched_writes(
        &mut self,
        p: &mut Pairs,
        ep: &Epoll,
        c: &mut Counter,
        req: &[u8],
        ready: &mut Vec<usize>,
    ) -> io::Result<()> {
        let len = req.len();
        for (j, s) in p.client.iter().enumerate() {
            self.push_send(
                s.as_raw_fd(),
                req.as_ptr(),
                len,
                j as u64,
                squeue::Flags::empty(),
            );
        }
        self.submit_and_reap(c, N, len)?;
        let mut have = [0usize; N];
        let mut served = [false; N];
        while served.iter().any(|d| !d) {
            ep.wait(c, ready)?;
            for &i in ready.iter() {
                let Some(j) = i.checked_sub(N).filter(|&j| !served[j]) else {
                    continue;
                };
                served[j] =
                    c.read_some(&mut p.server[j], &mut self.server_bufs[j], &mut have[j])?;
            }
        }
        for j in 0..N {
            let echo = self.server_bufs[j].as_ptr();
            self.push_send(
                p.server[j].as_raw_fd(),
                echo,
                len,
                j as u64,
                squeue::Flags::empty(),
            );
        }
        self.submit_and_reap(c, N, len)?;
        have = [0; N];
        let mut got = [false; N];
        while got.iter().any(|d| !d) {
            ep.wait(c, ready)?;
            for &i in ready.iter() {
                if i >= N || got[i] {
                    continue;
                }
                got[i] = c.read_some(&mut p.client[i], &mut self.client_bufs[i], &mut have[i])?;
            }
        }
        self.check(req)
    }

    /// One call in one `io_uring_enter`: per node, the client's write, the server's
    /// read, its echo and the client's read, linked so each starts once the one before
    /// it is done.
    pub(super) fn one_submit(&mut self, p: &Pairs, c: &mut Counter, req: &[u8]) -> io::Result<()> {
        let len = req.len();
        let link = squeue::Flags::IO_LINK;
        for j in 0..N {
            let (client, server) = (p.client[j].as_raw_fd(), p.server[j].as_raw_fd());
            let tag = 4 * j as u64;
            let server_buf = self.server_bufs[j].as_mut_ptr();
            let client_buf = self.client_bufs[j].as_mut_ptr();
            self.push_send(client, req.as_ptr(), len, tag, link);
            self.push_recv(server, server_buf, len, tag + 1, link);
            self.push_send(server, server_buf, len, tag + 2, link);
            self.push_recv(client, client_buf, len, tag + 3, squeue::Flags::empty());
        }
        self.submit_and_reap(c, 4 * N, len)?;
        self.check(req)
    }

    fn check(&self, req: &[u8]) -> io::Result<()> {
        if self.client_bufs.iter().any(|b| b.as_slice() != req) {
            return Err(io::Error::other("a reply is not its request"));
        }
        Ok(())
    }
}
