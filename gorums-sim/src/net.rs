//! [`Net`]: in-memory links in place of TCP, owned by the world as a field. Connections
//! made of two FIFO byte pipes, each direction delivered after a latency plus jitter
//! drawn from the seed; listeners on virtual addresses; dialling through the event
//! queue; partitions as blocked directed links, each counted once per fault that
//! blocks it (healing one fault leaves the others' cuts in place).
//!
//! A partition holds bytes (as TCP would keep retransmitting them) until the link heals;
//! a reset loses the bytes in flight and both ends see `ConnectionReset`.
//!
//! A crash is what TCP shows of one, drawn per crash: either the host goes silent or
//! only the process died and its host's OS answers for it. A silent host's peers keep
//! their connections half-open (bytes to it are held as if partitioned, no FIN, no
//! reset) and a dial to its address goes unanswered (retried, as SYNs are); once it is
//! up again, the first bytes that reach an old connection are answered with a reset. A
//! process death resets its connections (where the link lets the reset through) and
//! its address refuses dials. Either way, bytes it wrote before dying are on the wire
//! and still arrive.
//!
//! Every method takes the world's [`Kernel`] for time, events, randomness and the log.
//! The objects user code holds (connection halves, listeners, the dialling future) are
//! in `sockets.rs`; they call in here under the world's lock.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};

use gorums_core::runtime::{Connection, PeerIdentity};

use crate::adversary::{AdversaryState, WriteHold};
use crate::events::Event;
use crate::ids::{ConnId, ListenerId, ProcessId};
use crate::kernel::{Garbage, Kernel};
use crate::trace::Note;

/// Bytes one direction of a connection holds (in flight plus unread) before writes wait.
const WINDOW: usize = 1 << 20;

/// How long a partitioned link waits before trying to deliver again (TCP retransmits).
const RETRANSMIT: u64 = 20_000_000;

/// Makes the user-facing [`Connection`] for one end (0: dialler, 1: acceptor) of a
/// connection, given the peer's address.
pub(crate) type MakeConnection<'a> = &'a dyn Fn(ConnId, usize, String) -> Connection;

enum Chunk {
    Data(Vec<u8>),
    Fin,
}

/// A chunk on its way and when it arrives.
struct InFlight {
    /// When it arrives: its own time, but never before the chunk ahead of it (FIFO).
    at: u64,
    /// When it would arrive on its own (latency, jitter and any adversary hold).
    alone: u64,
    /// Held by the adversary until its receiver's next call, or this bound.
    until_call: Option<u64>,
    chunk: Chunk,
}

impl InFlight {
    fn own_time(&self) -> u64 {
        self.until_call.unwrap_or(self.alone)
    }
}

/// One direction of a connection.
#[derive(Default)]
struct Pipe {
    in_flight: VecDeque<InFlight>,
    in_flight_bytes: usize,
    last_at: u64,
    rx: VecDeque<u8>,
    eof: bool,
    fin_queued: bool,
    retry_at: Option<u64>,
    reader_waker: Option<Waker>,
    writer_waker: Option<Waker>,
}

impl Pipe {
    fn used(&self) -> usize {
        self.in_flight_bytes + self.rx.len()
    }
}

/// One end of a connection: its process and which halves are still held.
struct End {
    pid: ProcessId,
    reader: bool,
    writer: bool,
    /// Its process crashed: it sends nothing more (no FIN), and what reaches it is
    /// held until the host is up again, then answered with a reset.
    crashed: bool,
}

impl End {
    fn open(pid: ProcessId) -> End {
        End {
            pid,
            reader: true,
            writer: true,
            crashed: false,
        }
    }
}

/// A connection: `pipes[d]` carries bytes from `ends[d]` to the other end.
struct Conn {
    ends: [End; 2],
    pipes: [Pipe; 2],
    reset: bool,
    /// How many connections its dialler had made to its listener's process before it.
    nth: u32,
}

/// A bound listener and the connections waiting to be accepted.
struct ListenerEntry {
    id: ListenerId,
    pid: ProcessId,
    /// The identity its connections present to the diallers.
    identity: Option<PeerIdentity>,
    queue: VecDeque<Connection>,
    waker: Option<Waker>,
}

/// A connection request on its way.
struct PendingConnect {
    pid: ProcessId,
    addr: String,
    /// The identity the dialler presents to the listener.
    identity: Option<PeerIdentity>,
    slot: Arc<ConnectSlot>,
    /// The dialler's end, once the listener took the connection.
    result: Option<io::Result<Connection>>,
}

/// The shared part of a [`ConnectSlot`].
#[derive(Default)]
pub(crate) struct SlotState {
    /// The dial's outcome, once known and not yet taken.
    pub(crate) result: Option<io::Result<Connection>>,
    /// The dialling future waiting for it.
    pub(crate) waker: Option<Waker>,
    /// The dialling future was dropped: a connection made now is reset.
    pub(crate) abandoned: bool,
}

/// Where a dial's outcome lands; the dialling future waits on it.
#[derive(Default)]
pub(crate) struct ConnectSlot(Mutex<SlotState>);

impl ConnectSlot {
    /// The slot's state (a poisoned lock is taken over: a panicking test must show its
    /// own message).
    pub(crate) fn lock(&self) -> MutexGuard<'_, SlotState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The network: connections, listeners, dials in flight and blocked links.
pub(crate) struct Net {
    conns: BTreeMap<ConnId, Conn>,
    next_conn: ConnId,
    listeners: BTreeMap<String, ListenerEntry>,
    next_listener: ListenerId,
    pending: BTreeMap<ConnId, PendingConnect>,
    next_port: u32,
    /// Directed links that drop nothing but deliver nothing either (held until healed),
    /// with how many faults hold each.
    blocked: BTreeMap<(ProcessId, ProcessId), u32>,
    /// Connections made so far from each dialler to each listener's process.
    made: BTreeMap<(ProcessId, ProcessId), u32>,
    /// Who last bound each address: a dial to it while that process is down is not
    /// answered (the host is silent) rather than refused.
    last_bound: BTreeMap<String, ProcessId>,
    /// Processes whose last crash took their host down silently.
    silent: BTreeSet<ProcessId>,
    latency: u64,
    jitter: u64,
    crash_reset: f64,
    /// The quorum-aware adversary, if the run has one.
    pub(crate) adversary: Option<AdversaryState>,
}

impl Net {
    /// No connections; each write takes `latency` plus up to `jitter` nanoseconds; a
    /// crash is a process death on a live host with probability `crash_reset`, else a
    /// silent host.
    pub(crate) fn new(latency: u64, jitter: u64, crash_reset: f64) -> Net {
        Net {
            conns: BTreeMap::new(),
            next_conn: 0,
            listeners: BTreeMap::new(),
            next_listener: 0,
            pending: BTreeMap::new(),
            next_port: 40_000,
            blocked: BTreeMap::new(),
            made: BTreeMap::new(),
            last_bound: BTreeMap::new(),
            silent: BTreeSet::new(),
            latency,
            jitter,
            crash_reset,
            adversary: None,
        }
    }

    /// One link latency: the base plus jitter drawn from the seed.
    fn delay(&self, k: &mut Kernel) -> u64 {
        self.latency + k.rng.net.below(self.jitter + 1)
    }

    fn is_blocked(&self, from: ProcessId, to: ProcessId) -> bool {
        !self.blocked.is_empty() && self.blocked.contains_key(&(from, to))
    }

    /// Holds bytes from `from` to `to` until this fault's [`heal`](Self::heal) (and
    /// every other fault's on the link).
    pub(crate) fn block(&mut self, k: &mut Kernel, from: ProcessId, to: ProcessId) {
        if from == to {
            return;
        }
        let count = self.blocked.entry((from, to)).or_insert(0);
        *count += 1;
        if *count == 1 {
            k.note(Note::Partition, from, to.0 as u64, 0);
        }
    }

    /// Undoes one fault's block of `from` to `to`; bytes flow once no fault holds it.
    pub(crate) fn heal(&mut self, k: &mut Kernel, from: ProcessId, to: ProcessId) {
        let Some(count) = self.blocked.get_mut(&(from, to)) else {
            return;
        };
        *count -= 1;
        if *count == 0 {
            self.blocked.remove(&(from, to));
            k.note(Note::Heal, from, to.0 as u64, 0);
        }
    }

    /// Sets the chance that a crash is a process death rather than a silent host.
    pub(crate) fn set_crash_reset(&mut self, crash_reset: f64) {
        self.crash_reset = crash_reset;
    }

    /// The chance that a crash is a process death rather than a silent host.
    pub(crate) fn crash_reset(&self) -> f64 {
        self.crash_reset
    }

    /// The dialler and the listener of connection `conn`, and how many connections the
    /// dialler had made to the listener's process before it.
    pub(crate) fn ends_of(&self, conn: ConnId) -> Option<(ProcessId, ProcessId, u32)> {
        self.conns
            .get(&conn)
            .map(|c| (c.ends[0].pid, c.ends[1].pid, c.nth))
    }

    /// Heals every link, whatever holds it.
    pub(crate) fn heal_all(&mut self, k: &mut Kernel) {
        for (from, to) in std::mem::take(&mut self.blocked).into_keys() {
            k.note(Note::Heal, from, to.0 as u64, 0);
        }
    }

    /// Binds `addr` for `pid` (port 0 picks a free port), its connections presenting
    /// `identity`; returns the bound address.
    pub(crate) fn bind(
        &mut self,
        k: &mut Kernel,
        pid: ProcessId,
        incarnation: u64,
        addr: &str,
        identity: Option<PeerIdentity>,
    ) -> io::Result<(ListenerId, String)> {
        if !k.is_current(pid, incarnation) {
            return Err(io::Error::other("process is down"));
        }
        let addr = addr.trim();
        let addr = match addr.rsplit_once(':') {
            Some((host, "0")) => loop {
                self.next_port += 1;
                let candidate = format!("{host}:{}", self.next_port);
                if !self.listeners.contains_key(&candidate) {
                    break candidate;
                }
            },
            _ => addr.to_owned(),
        };
        if self.listeners.contains_key(&addr) {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{addr} in use"),
            ));
        }
        self.next_listener += 1;
        let id = self.next_listener;
        self.listeners.insert(
            addr.clone(),
            ListenerEntry {
                id,
                pid,
                identity,
                queue: VecDeque::new(),
                waker: None,
            },
        );
        k.note(Note::Listen, pid, id, 0);
        self.last_bound.insert(addr.clone(), pid);
        Ok((id, addr))
    }

    /// Unbinds listener `id` from `addr` (unless the address was bound again since).
    pub(crate) fn unbind(&mut self, k: &mut Kernel, id: ListenerId, addr: &str) {
        if self.listeners.get(addr).is_some_and(|l| l.id == id)
            && let Some(l) = self.listeners.remove(addr)
        {
            k.garbage.push(Box::new(l));
        }
    }

    /// The next connection waiting on listener `id`, or `waker` is woken when one is.
    pub(crate) fn accept(
        &mut self,
        id: ListenerId,
        addr: &str,
        waker: &Waker,
    ) -> Poll<io::Result<Connection>> {
        match self.listeners.get_mut(addr) {
            Some(l) if l.id == id => match l.queue.pop_front() {
                Some(conn) => Poll::Ready(Ok(conn)),
                None => {
                    l.waker = Some(waker.clone());
                    Poll::Pending
                }
            },
            // Unbound by a crash: the accepting task is about to be dropped too.
            _ => Poll::Pending,
        }
    }

    /// Starts dialling `addr` from `pid`, presenting `identity`.
    pub(crate) fn dial(
        &mut self,
        k: &mut Kernel,
        pid: ProcessId,
        incarnation: u64,
        addr: &str,
        identity: Option<PeerIdentity>,
    ) -> Arc<ConnectSlot> {
        let slot = Arc::new(ConnectSlot::default());
        if !k.is_current(pid, incarnation) {
            slot.lock().result = Some(Err(io::Error::other("process is down")));
            return slot;
        }
        self.next_conn += 1;
        let id = self.next_conn;
        self.pending.insert(
            id,
            PendingConnect {
                pid,
                addr: addr.trim().to_owned(),
                identity,
                slot: slot.clone(),
                result: None,
            },
        );
        k.note(Note::Connect, pid, id, 0);
        let at = k.now + self.delay(k);
        k.schedule(at, Event::ConnectArrive(id));
        slot
    }

    /// A dial reaches the listener's host: it is accepted, refused, or (partitioned)
    /// tried again later. `make` builds the two ends handed to user code.
    pub(crate) fn connect_arrive(&mut self, k: &mut Kernel, id: ConnId, make: MakeConnection<'_>) {
        let Some(dial) = self.pending.get(&id) else {
            return;
        };
        if dial.slot.lock().abandoned {
            if let Some(d) = self.pending.remove(&id) {
                k.garbage.push(Box::new(d));
            }
            return;
        }
        let from = dial.pid;
        let addr = dial.addr.clone();
        let target = self.listeners.get(&addr).map(|l| l.pid);
        if let Some(to) = target
            && (self.is_blocked(from, to) || self.is_blocked(to, from))
        {
            let at = k.now + RETRANSMIT;
            k.schedule(at, Event::ConnectArrive(id));
            return;
        }
        let silent = self
            .last_bound
            .get(&addr)
            .is_some_and(|p| self.silent.contains(p) && k.procs.get(p.0).is_some_and(|p| !p.alive));
        if target.is_none() && silent {
            // The host is down: the SYN goes unanswered and is sent again.
            let at = k.now + RETRANSMIT;
            k.schedule(at, Event::ConnectArrive(id));
            return;
        }
        let result = match target {
            None => {
                k.note(Note::Refused, from, id, 0);
                Err(io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    format!("connection refused by {addr}"),
                ))
            }
            Some(to) => Ok(self.accept_dial(k, id, from, to, addr, make)),
        };
        if let Some(dial) = self.pending.get_mut(&id) {
            dial.result = Some(result);
        }
        let at = k.now + self.delay(k);
        k.schedule(at, Event::ConnectDone(id));
    }

    /// Makes connection `id` from `from` to the listener of `to` on `addr`: queues the
    /// acceptor's end on the listener and returns the dialler's. Each end carries the
    /// identity the other presented, as a TLS handshake would have verified it.
    fn accept_dial(
        &mut self,
        k: &mut Kernel,
        id: ConnId,
        from: ProcessId,
        to: ProcessId,
        addr: String,
        make: MakeConnection<'_>,
    ) -> Connection {
        self.next_port += 1;
        let peer_addr = format!("{}:{}", k.host_of(from), self.next_port);
        let made = self.made.entry((from, to)).or_insert(0);
        let nth = *made;
        *made += 1;
        self.conns.insert(
            id,
            Conn {
                ends: [End::open(from), End::open(to)],
                pipes: [Pipe::default(), Pipe::default()],
                reset: false,
                nth,
            },
        );
        let dialler = self.pending.get(&id).and_then(|d| d.identity.clone());
        let server_end = make(id, 1, peer_addr).with_identity(dialler);
        let mut listener = None;
        if let Some(l) = self.listeners.get_mut(&addr) {
            listener = l.identity.clone();
            l.queue.push_back(server_end);
            k.wake.extend(l.waker.take());
        }
        k.note(Note::Accept, to, id, 0);
        make(id, 0, addr).with_identity(listener)
    }

    /// The dialler learns the outcome.
    pub(crate) fn connect_done(&mut self, k: &mut Kernel, id: ConnId) {
        let Some(mut dial) = self.pending.remove(&id) else {
            return;
        };
        let result = dial.result.take();
        let mut slot = dial.slot.lock();
        if slot.abandoned {
            drop(slot);
            if self.conns.contains_key(&id) {
                self.reset(k, id);
            }
            k.garbage.push(Box::new(result));
            k.garbage.push(Box::new(dial));
            return;
        }
        slot.result = result;
        k.wake.extend(slot.waker.take());
        drop(slot);
        k.garbage.push(Box::new(dial));
    }

    /// Loses the bytes in flight both ways; both ends see `ConnectionReset`.
    pub(crate) fn reset(&mut self, k: &mut Kernel, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.reset {
            return;
        }
        c.reset = true;
        let pid = c.ends[0].pid;
        for pipe in &mut c.pipes {
            pipe.in_flight.clear();
            pipe.in_flight_bytes = 0;
            pipe.rx.clear();
            k.wake.extend(pipe.reader_waker.take());
            k.wake.extend(pipe.writer_waker.take());
        }
        k.note(Note::Reset, pid, conn, 0);
        if let Some(chart) = &k.chart {
            chart.reset(k.now, conn);
        }
    }

    /// Live (not reset) connections, in id order.
    pub(crate) fn live_conns(&self) -> Vec<ConnId> {
        self.conns
            .iter()
            .filter(|(_, c)| !c.reset)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Live connections with an end on `pid`, in id order.
    pub(crate) fn live_conns_of(&self, pid: ProcessId) -> Vec<ConnId> {
        self.live_conns()
            .into_iter()
            .filter(|c| {
                self.conns
                    .get(c)
                    .is_some_and(|c| c.ends.iter().any(|e| e.pid == pid))
            })
            .collect()
    }

    fn enqueue(&mut self, k: &mut Kernel, conn: ConnId, dir: usize, chunk: Chunk, hold: WriteHold) {
        let delay = self.delay(k);
        let now = k.now;
        let max_hold = self.adversary.as_ref().map_or(0, |a| a.max_hold());
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let pipe = &mut c.pipes[dir];
        let alone = now + delay + hold.extra;
        let until_call = hold.until_call.then_some(now + delay + max_hold);
        let entry = InFlight {
            at: 0,
            alone,
            until_call,
            chunk,
        };
        // A held chunk holds every later one on this direction: TCP keeps order.
        let at = entry.own_time().max(pipe.last_at);
        pipe.last_at = at;
        if let Chunk::Data(d) = &entry.chunk {
            pipe.in_flight_bytes += d.len();
        }
        pipe.in_flight.push_back(InFlight { at, ..entry });
        k.schedule(at, Event::Deliver { conn, dir });
    }

    /// `caller` starts a call: the adversary learns it, and what it held until this
    /// process's next call is released (in order, each chunk no earlier than alone).
    pub(crate) fn call_started(
        &mut self,
        k: &mut Kernel,
        caller: ProcessId,
        call: &gorums_core::runtime::CallStart<'_>,
    ) {
        let Some(adversary) = self.adversary.as_mut() else {
            return;
        };
        adversary.call_started(caller, call);
        for (&conn, c) in &mut self.conns {
            for dir in 0..2 {
                if c.ends[1 - dir].pid != caller {
                    continue;
                }
                let pipe = &mut c.pipes[dir];
                if pipe.in_flight.iter().all(|e| e.until_call.is_none()) {
                    continue;
                }
                let mut prev = 0;
                for entry in &mut pipe.in_flight {
                    entry.until_call = None;
                    let at = entry.own_time().max(prev);
                    if at < entry.at {
                        k.schedule(at, Event::Deliver { conn, dir });
                    }
                    entry.at = at;
                    prev = at;
                }
                pipe.last_at = prev;
            }
        }
    }

    /// Writes what fits of `buf` into `end`'s outgoing direction, or `waker` is woken
    /// when there is room.
    pub(crate) fn write(
        &mut self,
        k: &mut Kernel,
        conn: ConnId,
        end: usize,
        buf: &[u8],
        waker: &Waker,
    ) -> Poll<io::Result<usize>> {
        let c = match open_conn(&mut self.conns, conn) {
            Ok(c) => c,
            Err(err) => return Poll::Ready(Err(err)),
        };
        let (pid, peer) = (c.ends[end].pid, c.ends[1 - end].pid);
        let pipe = &mut c.pipes[end];
        if pipe.fin_queued {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let room = WINDOW.saturating_sub(pipe.used());
        if room == 0 {
            pipe.writer_waker = Some(waker.clone());
            return Poll::Pending;
        }
        let n = room.min(buf.len());
        k.note_bytes(Note::Write, pid, conn, n as u64, &buf[..n]);
        if let Some(chart) = &k.chart {
            chart.write(k.now, conn, end, [pid, peer], &buf[..n]);
        }
        let mut hold = WriteHold::default();
        if let Some(adversary) = self.adversary.as_mut() {
            let dir = end as u8;
            let now = k.now;
            hold = adversary.observe(now, conn, dir, pid, peer, &buf[..n], &mut k.rng.adversary);
            if hold.extra > 0 || hold.until_call {
                k.note(Note::AdversaryHold, pid, conn, hold.extra);
            }
        }
        self.enqueue(k, conn, end, Chunk::Data(buf[..n].to_vec()), hold);
        Poll::Ready(Ok(n))
    }

    /// Ends `end`'s outgoing direction (the peer reads end-of-file after the bytes).
    pub(crate) fn close_dir(&mut self, k: &mut Kernel, conn: ConnId, end: usize) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.reset || c.pipes[end].fin_queued || c.ends[end].crashed {
            return;
        }
        c.pipes[end].fin_queued = true;
        let pid = c.ends[end].pid;
        k.note(Note::Close, pid, conn, end as u64);
        self.enqueue(k, conn, end, Chunk::Fin, WriteHold::default());
    }

    /// Reads what has arrived for `end` into `buf`, or `waker` is woken when more does.
    pub(crate) fn read(
        &mut self,
        k: &mut Kernel,
        conn: ConnId,
        end: usize,
        buf: &mut [u8],
        waker: &Waker,
    ) -> Poll<io::Result<usize>> {
        let c = match open_conn(&mut self.conns, conn) {
            Ok(c) => c,
            Err(err) => return Poll::Ready(Err(err)),
        };
        let pipe = &mut c.pipes[1 - end];
        if pipe.rx.is_empty() {
            if pipe.eof {
                return Poll::Ready(Ok(0));
            }
            pipe.reader_waker = Some(waker.clone());
            return Poll::Pending;
        }
        let n = buf.len().min(pipe.rx.len());
        for (dst, src) in buf.iter_mut().zip(pipe.rx.drain(..n)) {
            *dst = src;
        }
        if pipe.used() < WINDOW {
            k.wake.extend(pipe.writer_waker.take());
        }
        Poll::Ready(Ok(n))
    }

    /// Delivers what is due on one direction, or holds it while the link is blocked.
    pub(crate) fn deliver(&mut self, k: &mut Kernel, conn: ConnId, dir: usize) {
        let now = k.now;
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if c.reset {
            return;
        }
        let (from, to) = (c.ends[dir].pid, c.ends[1 - dir].pid);
        let host_up = k.procs.get(to.0).is_some_and(|p| p.alive);
        let blocked = self.is_blocked(from, to);
        if c.ends[1 - dir].crashed && host_up && !blocked {
            // The host is back and knows nothing of this connection: RST.
            self.reset(k, conn);
            return;
        }
        if blocked || c.ends[1 - dir].crashed {
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            // One retry at a time per direction, however many chunks wait.
            if c.pipes[dir].retry_at.is_none_or(|at| at <= now) {
                let at = now + RETRANSMIT;
                c.pipes[dir].retry_at = Some(at);
                k.note(Note::Held, from, conn, dir as u64);
                k.schedule(at, Event::Deliver { conn, dir });
            }
            return;
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let receiver_gone = !c.ends[1 - dir].reader && !c.ends[1 - dir].writer;
        let pipe = &mut c.pipes[dir];
        pipe.retry_at = None;
        let mut bytes = 0u64;
        while pipe.in_flight.front().is_some_and(|e| e.at <= now) {
            let Some(InFlight { chunk, .. }) = pipe.in_flight.pop_front() else {
                break;
            };
            match chunk {
                Chunk::Data(d) => {
                    pipe.in_flight_bytes -= d.len();
                    bytes += d.len() as u64;
                    pipe.rx.extend(d);
                }
                Chunk::Fin => pipe.eof = true,
            }
        }
        k.wake.extend(pipe.reader_waker.take());
        if bytes > 0 {
            k.note(Note::Deliver, to, conn, bytes);
            if let Some(chart) = &k.chart {
                chart.deliver(k.now, conn, dir, bytes);
            }
            if receiver_gone {
                // Data for a socket its owner closed: TCP answers with a reset.
                self.reset(k, conn);
            }
        }
    }

    /// User code dropped one half (reader or `writer`) of `end`; dropping the writer
    /// closes its direction, and a connection with no half left is forgotten.
    pub(crate) fn drop_half(&mut self, k: &mut Kernel, conn: ConnId, end: usize, writer: bool) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if writer {
            c.ends[end].writer = false;
        } else {
            c.ends[end].reader = false;
        }
        if writer {
            self.close_dir(k, conn, end);
        }
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if c.ends.iter().all(|e| !e.reader && !e.writer)
            && let Some(c) = self.conns.remove(&conn)
        {
            k.garbage.push(Box::new(c));
        }
    }

    /// A crash of `pid`: its listeners are unbound, its dials dropped, and its ends of
    /// connections go silent; with `reset` (drawn by the caller with
    /// [`crash_reset`](Self::crash_reset)) its host stays up instead and resets them,
    /// where the link to the peer lets the reset through.
    pub(crate) fn drop_process(&mut self, k: &mut Kernel, pid: ProcessId, reset: bool) {
        let addrs: Vec<String> = self
            .listeners
            .iter()
            .filter(|(_, l)| l.pid == pid)
            .map(|(a, _)| a.clone())
            .collect();
        for addr in addrs {
            if let Some(l) = self.listeners.remove(&addr) {
                k.garbage.push(Box::new(l));
            }
        }
        let conns: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.ends.iter().any(|e| e.pid == pid))
            .map(|(id, _)| *id)
            .collect();
        if reset {
            self.silent.remove(&pid);
        } else {
            self.silent.insert(pid);
        }
        for conn in conns {
            let Some(c) = self.conns.get_mut(&conn) else {
                continue;
            };
            let mut peers = Vec::new();
            for end in &mut c.ends {
                if end.pid == pid {
                    end.crashed = true;
                    end.reader = false;
                    end.writer = false;
                } else {
                    peers.push(end.pid);
                }
            }
            // The crashed end's unread bytes die with its memory.
            for (d, pipe) in c.pipes.iter_mut().enumerate() {
                if c.ends[1 - d].pid == pid {
                    pipe.rx.clear();
                }
            }
            if reset && peers.iter().all(|&q| !self.is_blocked(pid, q)) {
                self.reset(k, conn);
            }
        }
        let dials: Vec<ConnId> = self
            .pending
            .iter()
            .filter(|(_, d)| d.pid == pid)
            .map(|(id, _)| *id)
            .collect();
        for id in dials {
            if let Some(d) = self.pending.remove(&id) {
                k.garbage.push(Box::new(d));
            }
        }
    }

    /// Whether no listener is bound and no dial is on its way.
    pub(crate) fn is_idle(&self) -> bool {
        self.listeners.is_empty() && self.pending.is_empty()
    }

    /// Takes every listener and every dial on its way (they hold user code's
    /// connections) into `out`.
    pub(crate) fn take_all(&mut self, out: &mut Vec<Garbage>) {
        out.push(Box::new(std::mem::take(&mut self.listeners)));
        out.push(Box::new(std::mem::take(&mut self.pending)));
    }
}

/// The connection `conn` if it is still open for reads and writes.
fn open_conn(conns: &mut BTreeMap<ConnId, Conn>, conn: ConnId) -> io::Result<&mut Conn> {
    let c = conns.get_mut(&conn).ok_or(io::ErrorKind::NotConnected)?;
    if c.reset {
        return Err(io::ErrorKind::ConnectionReset.into());
    }
    Ok(c)
}
