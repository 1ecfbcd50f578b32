//! `--floor`: the syscall floor of a 3-node quorum call on this host, beside gorums-rs.
//!
//! One thread, no framework, three loopback TCP connections: per call the client writes
//! one request frame to each of the three server sockets, each server socket reads its
//! request and writes the echo back, and the client reads the three replies. That is the
//! socket work a QuorumCall n = 3 (q = 2, c = 1) needs: a q = 2 call returns after two
//! replies, but the third still has to be read off its socket before the next call's
//! reply (gorums-rs' profile shows 6 `sendto` and 6 `recvfrom` per call), so the floor
//! reads all three. Two variants:
//!
//! - `blocking`: blocking std sockets, 12 syscalls per call (3 writes, 3 reads, 3 writes,
//!   3 reads). Loopback delivers data within the sender's `write`, so no read sleeps.
//! - `epoll`: non-blocking sockets and one level-triggered epoll set, with an
//!   `epoll_wait` before the servers read and another before the client reads: what a
//!   readiness-based runtime on one thread cannot do without (14 syscalls per call; the
//!   gorums-rs profile shows 2 `epoll_wait` per call).
//! - `io_uring, batched writes` and `io_uring, one submit` (Linux): the same work with
//!   fewer syscalls, see [`uring`].
//!
//! Frames are [`FRAME`] bytes plus `--payload`, about a gorums-rs frame of an empty
//! `Echo`. Every reply is checked against its request, as the benchmark does. The
//! workloads interleave in rounds (3, or 1 with `--quick`), each measured for `--time`
//! after `--warmup`; a row is the median round's.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::Args;
use crate::alloc::cpu_seconds;
use crate::exec::RuntimeKind;
use crate::run::{self, Spec, SystemKind, Workload};

mod uring;

/// Bytes of a frame besides the payload: a gorums-rs request frame for an empty `Echo`
/// is a length prefix, the call's id and kind and the method name, 40-odd bytes.
const FRAME: usize = 48;
/// The largest payload the one-thread floor can carry (see [`run()`]).
const MAX_PAYLOAD: usize = 64 * 1024;
/// Servers in the configuration.
const N: usize = 3;

/// One measured row.
#[derive(Clone, Debug, Serialize)]
struct Row {
    workload: String,
    calls: u64,
    seconds: f64,
    calls_per_sec: f64,
    /// Wall-clock time per call (one call at a time, so also its latency).
    us_per_call: f64,
    /// User plus system CPU time of the process per call.
    cpu_us_per_call: f64,
    /// Socket and epoll syscalls per call (counted by the floor; not known for gorums).
    syscalls_per_call: Option<f64>,
}

/// Three connected pairs of loopback sockets: (client side, server side).
struct Pairs {
    client: Vec<TcpStream>,
    server: Vec<TcpStream>,
}

fn connect() -> io::Result<Pairs> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let (mut client, mut server) = (Vec::new(), Vec::new());
    for _ in 0..N {
        let c = TcpStream::connect(addr)?;
        let (s, _) = listener.accept()?;
        // As gorums-rs does: small frames must not wait for Nagle.
        c.set_nodelay(true)?;
        s.set_nodelay(true)?;
        client.push(c);
        server.push(s);
    }
    Ok(Pairs { client, server })
}

/// Counts the syscalls a call makes, so the floor states what it is a floor of.
#[derive(Default)]
struct Counter(u64);

impl Counter {
    fn write_all(&mut self, s: &mut TcpStream, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            self.0 += 1;
            match s.write(buf) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(k) => buf = &buf[k..],
                // Non-blocking and the send buffer full (large payloads): try again.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads what is there into `buf[*have..]`; true once `buf` is full.
    fn read_some(
        &mut self,
        s: &mut TcpStream,
        buf: &mut [u8],
        have: &mut usize,
    ) -> io::Result<bool> {
        while *have < buf.len() {
            self.0 += 1;
            match s.read(&mut buf[*have..]) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(k) => *have += k,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }
}

/// A level-triggered epoll set over the six sockets; the event's data is the index into
/// `client ++ server`.
struct Epoll(libc::c_int);

impl Epoll {
    fn new(p: &Pairs) -> io::Result<Epoll> {
        // SAFETY: epoll_create1 takes no pointers; the fd is owned by the Epoll.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let ep = Epoll(fd);
        for (i, s) in p.client.iter().chain(p.server.iter()).enumerate() {
            s.set_nonblocking(true)?;
            let mut ev = libc::epoll_event {
                events: libc::EPOLLIN as u32,
                u64: i as u64,
            };
            // SAFETY: both fds are open and `ev` outlives the call.
            if unsafe { libc::epoll_ctl(fd, libc::EPOLL_CTL_ADD, s.as_raw_fd(), &mut ev) } < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(ep)
    }

    /// Waits for readable sockets; their indices go into `ready`.
    fn wait(&self, c: &mut Counter, ready: &mut Vec<usize>) -> io::Result<()> {
        let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 2 * N];
        loop {
            c.0 += 1;
            // SAFETY: `evs` has room for the 2N events passed as its length.
            let k = unsafe { libc::epoll_wait(self.0, evs.as_mut_ptr(), evs.len() as i32, -1) };
            if k < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            ready.clear();
            ready.extend(evs[..k as usize].iter().map(|e| e.u64 as usize));
            return Ok(());
        }
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        // SAFETY: the fd is ours and closed once.
        unsafe { libc::close(self.0) };
    }
}

/// One call: write three requests, serve them, read three replies and check them.
fn call(
    p: &mut Pairs,
    ep: Option<&Epoll>,
    c: &mut Counter,
    req: &[u8],
    bufs: &mut [Vec<u8>; N],
    ready: &mut Vec<usize>,
) -> io::Result<()> {
    for s in &mut p.client {
        c.write_all(s, req)?;
    }
    let mut have = [0usize; N];
    // Servers: read each request, echo it.
    let mut served = [false; N];
    while served.iter().any(|d| !d) {
        if let Some(ep) = ep {
            ep.wait(c, ready)?;
        } else {
            ready.clear();
            ready.extend(N..2 * N);
        }
        for &i in ready.iter() {
            let Some(j) = i.checked_sub(N).filter(|&j| !served[j]) else {
                continue;
            };
            if c.read_some(&mut p.server[j], &mut bufs[j], &mut have[j])? {
                c.write_all(&mut p.server[j], &bufs[j])?;
                served[j] = true;
            }
        }
    }
    // Client: read the three replies.
    have = [0; N];
    let mut got = [false; N];
    while got.iter().any(|d| !d) {
        if let Some(ep) = ep {
            ep.wait(c, ready)?;
        } else {
            ready.clear();
            ready.extend(0..N);
        }
        for &i in ready.iter() {
            if i >= N || got[i] {
                continue;
            }
            if c.read_some(&mut p.client[i], &mut bufs[i], &mut have[i])? {
                if bufs[i] != req {
                    return Err(io::Error::other("a reply is not its request"));
                }
                got[i] = true;
            }
        }
    }
    Ok(())
}

/// How the floor makes its syscalls.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Floor {
    Blocking,
    Epoll,
    UringBatchedWrites,
    UringOneSubmit,
}

impl Floor {
    const ALL: [Floor; 4] = [
        Floor::Blocking,
        Floor::Epoll,
        Floor::UringBatchedWrites,
        Floor::UringOneSubmit,
    ];

    fn label(self) -> &'static str {
        match self {
            Floor::Blocking => "blocking",
            Floor::Epoll => "epoll",
            Floor::UringBatchedWrites => "io_uring, batched writes",
            Floor::UringOneSubmit => "io_uring, one submit",
        }
    }
}

/// Runs the floor for `warmup`, then counts calls for `time`.
fn floor(kind: Floor, payload: usize, time: Duration, warmup: Duration) -> io::Result<Row> {
    let mut p = connect()?;
    let ep = match kind {
        Floor::Epoll | Floor::UringBatchedWrites => Some(Epoll::new(&p)?),
        Floor::Blocking | Floor::UringOneSubmit => None,
    };
    let req: Vec<u8> = (0..FRAME + payload).map(|i| i as u8).collect();
    let mut uring = match kind {
        Floor::UringBatchedWrites | Floor::UringOneSubmit => Some(uring::Uring::new(req.len())?),
        Floor::Blocking | Floor::Epoll => None,
    };
    let mut bufs: [Vec<u8>; N] = std::array::from_fn(|_| vec![0; req.len()]);
    let mut ready = Vec::with_capacity(2 * N);
    let mut one = |c: &mut Counter| match (&mut uring, &ep) {
        (Some(u), Some(ep)) => u.batched_writes(&mut p, ep, c, &req, &mut ready),
        (Some(u), None) => u.one_submit(&p, c, &req),
        (None, ep) => call(&mut p, ep.as_ref(), c, &req, &mut bufs, &mut ready),
    };
    let mut c = Counter::default();
    let until = Instant::now() + warmup;
    while Instant::now() < until {
        one(&mut c)?;
    }
    let (mut c, mut calls) = (Counter::default(), 0u64);
    let (start, cpu0) = (Instant::now(), cpu_seconds());
    let until = start + time;
    while Instant::now() < until {
        one(&mut c)?;
        calls += 1;
    }
    let (seconds, cpu) = (start.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
    let calls_f = calls.max(1) as f64;
    Ok(Row {
        workload: format!("floor, {}", kind.label()),
        calls,
        seconds,
        calls_per_sec: calls as f64 / seconds,
        us_per_call: seconds * 1e6 / calls_f,
        cpu_us_per_call: cpu * 1e6 / calls_f,
        syscalls_per_call: Some(c.0 as f64 / calls_f),
    })
}

/// gorums-rs' QuorumCall n = 3, q = 2, c = 1 on a one-thread flavour.
fn gorums(runtime: RuntimeKind, args: &Args) -> Result<Row, String> {
    let spec = Spec {
        workload: Workload::QuorumCall,
        system: SystemKind::Gorums,
        runtime,
        threads: 1,
        n: N,
        q: 2,
        concurrent: 1,
        payload: args.payload,
        time: args.time,
        warmup: args.warmup,
        max_async: args.max_async,
        calls: None,
        remotes: Vec::new(),
    };
    let o = run::run(&spec)?;
    if o.errors > 0 {
        return Err(format!("{}: {} calls failed", spec.label(), o.errors));
    }
    let calls = o.ops.max(1) as f64;
    Ok(Row {
        workload: format!("QuorumCall n=3 q=2 c=1, {}", spec.label()),
        calls: o.ops,
        seconds: o.seconds,
        calls_per_sec: o.ops_per_sec,
        us_per_call: o.seconds * 1e6 / calls,
        cpu_us_per_call: o.cpu_us_per_op,
        syscalls_per_call: None,
    })
}

#[derive(Serialize)]
struct FloorReport {
    rounds: usize,
    frame_bytes: usize,
    /// The median round of each workload.
    results: Vec<Row>,
    runs: Vec<Vec<Row>>,
}

/// Runs the floor and the two one-thread gorums-rs flavours, interleaved, and prints a
/// table (and `--json`).
pub(crate) fn run(args: &Args) -> Result<(), String> {
    // One thread writes all three requests before any is read: a frame must fit in the
    // loopback socket buffers, or the writer would wait on itself.
    if args.payload > MAX_PAYLOAD {
        return Err(format!("--floor takes --payload up to {MAX_PAYLOAD} bytes"));
    }
    let rounds = if args.quick { 1 } else { 3 };
    let kinds = Floor::ALL.len() + 2;
    let mut runs: Vec<Vec<Row>> = vec![Vec::new(); kinds];
    for round in 0..rounds {
        eprintln!("gorums-bench: floor round {} of {rounds}", round + 1);
        for (k, slot) in runs.iter_mut().enumerate() {
            let row = match Floor::ALL.get(k) {
                Some(&kind) => floor(kind, args.payload, args.time, args.warmup)
                    .map_err(|e| format!("floor, {}: {e}", kind.label()))?,
                None if k == Floor::ALL.len() => gorums(RuntimeKind::Tokio, args)?,
                None => gorums(RuntimeKind::Smol, args)?,
            };
            eprintln!("  {}: {:.0} calls/s", row.workload, row.calls_per_sec);
            slot.push(row);
        }
    }
    let results: Vec<Row> = runs
        .iter()
        .map(|rs| {
            let mut v = rs.clone();
            v.sort_by(|a, b| a.calls_per_sec.total_cmp(&b.calls_per_sec));
            v[v.len() / 2].clone()
        })
        .collect();
    print!("{}", table(&results, args.payload));
    if let Some(path) = &args.json {
        let report = FloorReport {
            rounds,
            frame_bytes: FRAME + args.payload,
            results,
            runs,
        };
        crate::report::write_json(path, &report)?;
    }
    Ok(())
}

/// The markdown table: every row against the blocking floor, in wall-clock time and in
/// CPU time (the steadier of the two when other work shares the cores).
fn table(rows: &[Row], payload: usize) -> String {
    let base = rows.first().map_or(0.0, |r| r.us_per_call);
    let base_cpu = rows.first().map_or(0.0, |r| r.cpu_us_per_call);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| workload ({} B frames) | calls/s | µs/call | CPU µs/call | syscalls/call | time, CPU over the blocking floor |",
        FRAME + payload
    );
    let _ = writeln!(s, "|---|--:|--:|--:|--:|--:|");
    for r in rows {
        let sys = r
            .syscalls_per_call
            .map_or_else(String::new, |x| format!("{x:.1}"));
        let _ = writeln!(
            s,
            "| {} | {:.0} | {:.2} | {:.2} | {sys} | {:.2}x, {:.2}x |",
            r.workload,
            r.calls_per_sec,
            r.us_per_call,
            r.cpu_us_per_call,
            r.us_per_call / base,
            r.cpu_us_per_call / base_cpu
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The floor does the socket work it claims: every reply read and checked, 12
    /// syscalls per call with blocking sockets and at least the two `epoll_wait`s more
    /// with epoll; with io_uring, the writes batched save 4 of epoll's, and the call in
    /// one submit makes one. Nothing here is timed.
    #[test]
    fn the_floor_makes_the_syscalls_of_a_three_node_call() {
        let short = Duration::from_millis(50);
        let run = |kind| {
            let row = floor(kind, 16, short, Duration::ZERO).expect("the floor runs");
            assert!(row.calls > 0, "{kind:?} made no call");
            row.syscalls_per_call.unwrap_or(0.0)
        };
        assert_eq!(run(Floor::Blocking), 12.0);
        let epoll = run(Floor::Epoll);
        assert!(epoll >= 14.0, "{epoll} syscalls per call with epoll");
        let batched = run(Floor::UringBatchedWrites);
        assert!(
            batched >= 10.0 && batched <= epoll - 4.0,
            "{batched} with batched writes"
        );
        assert_eq!(run(Floor::UringOneSubmit), 1.0);
    }
}
