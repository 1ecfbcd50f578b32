//! In-memory links in place of TCP: connections made of two FIFO byte pipes, each
//! direction delivered after a latency plus jitter drawn from the seed; listeners on
//! virtual addresses; dialling through the event queue.
//!
//! A partition holds bytes (as TCP would keep retransmitting them) until the link heals;
//! a reset loses the bytes in flight and both ends see `ConnectionReset`.

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use futures_io::{AsyncRead, AsyncWrite};
use gorums_core::runtime::{BoxFuture, Connection, Listener};

use crate::events::Event;
use crate::ids::{ListenerId, ProcessId};
use crate::trace::Note;
use crate::world::{Shared, World};

/// Bytes one direction of a connection holds (in flight plus unread) before writes wait.
const WINDOW: usize = 1 << 20;

/// How long a partitioned link waits before trying to deliver again (TCP retransmits).
const RETRANSMIT: u64 = 20_000_000;

enum Chunk {
    Data(Vec<u8>),
    Fin,
}

/// One direction of a connection.
#[derive(Default)]
pub(crate) struct Pipe {
    in_flight: VecDeque<(u64, Chunk)>,
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
pub(crate) struct End {
    pub(crate) pid: ProcessId,
    reader: bool,
    writer: bool,
}

/// A connection: `pipes[d]` carries bytes from `ends[d]` to the other end.
pub(crate) struct Conn {
    pub(crate) ends: [End; 2],
    pipes: [Pipe; 2],
    reset: bool,
}

/// A bound listener and the connections waiting to be accepted.
pub(crate) struct ListenerEntry {
    id: ListenerId,
    pub(crate) pid: ProcessId,
    queue: VecDeque<Connection>,
    waker: Option<Waker>,
}

/// A connection request on its way.
pub(crate) struct PendingConnect {
    pub(crate) pid: ProcessId,
    addr: String,
    slot: Arc<ConnectSlot>,
    /// The dialler's end, once the listener took the connection.
    result: Option<io::Result<Connection>>,
}

#[derive(Default)]
struct SlotState {
    result: Option<io::Result<Connection>>,
    waker: Option<Waker>,
    abandoned: bool,
}

/// Where a dial's outcome lands; the dialling future waits on it.
#[derive(Default)]
pub(crate) struct ConnectSlot(Mutex<SlotState>);

impl ConnectSlot {
    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl World {
    fn host_of(&self, pid: ProcessId) -> &str {
        self.procs.get(pid.0).map_or("?", |p| p.host.as_str())
    }

    /// Binds `addr` for `pid` (port 0 picks a free port); returns the bound address.
    pub(crate) fn bind(
        &mut self,
        pid: ProcessId,
        incarnation: u64,
        addr: &str,
    ) -> io::Result<(u64, String)> {
        if !self.is_current(pid, incarnation) {
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
                queue: VecDeque::new(),
                waker: None,
            },
        );
        self.note(Note::Listen, pid, id, 0);
        Ok((id, addr))
    }

    fn unbind(&mut self, id: u64, addr: &str) {
        if self.listeners.get(addr).is_some_and(|l| l.id == id)
            && let Some(l) = self.listeners.remove(addr)
        {
            self.garbage.push(Box::new(l));
        }
    }

    fn accept(&mut self, id: u64, addr: &str, waker: &Waker) -> Poll<io::Result<Connection>> {
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

    /// Starts dialling `addr` from `pid`.
    pub(crate) fn dial(
        &mut self,
        pid: ProcessId,
        incarnation: u64,
        addr: &str,
    ) -> Arc<ConnectSlot> {
        let slot = Arc::new(ConnectSlot::default());
        if !self.is_current(pid, incarnation) {
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
                slot: slot.clone(),
                result: None,
            },
        );
        self.note(Note::Connect, pid, id, 0);
        let at = self.now + self.delay();
        self.schedule(at, Event::ConnectArrive(id));
        slot
    }

    /// A dial reaches the listener's host: it is accepted, refused, or (partitioned)
    /// tried again later.
    pub(crate) fn connect_arrive(&mut self, shared: &Arc<Shared>, id: u64) {
        let Some(dial) = self.pending.get(&id) else {
            return;
        };
        if dial.slot.lock().abandoned {
            if let Some(d) = self.pending.remove(&id) {
                self.garbage.push(Box::new(d));
            }
            return;
        }
        let from = dial.pid;
        let addr = dial.addr.clone();
        let target = self.listeners.get(&addr).map(|l| l.pid);
        if let Some(to) = target
            && (self.is_blocked(from, to) || self.is_blocked(to, from))
        {
            let at = self.now + RETRANSMIT;
            self.schedule(at, Event::ConnectArrive(id));
            return;
        }
        let result = match target {
            None => {
                self.note(Note::Refused, from, id, 0);
                Err(io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    format!("connection refused by {addr}"),
                ))
            }
            Some(to) => {
                self.next_port += 1;
                let peer_addr = format!("{}:{}", self.host_of(from), self.next_port);
                self.conns.insert(
                    id,
                    Conn {
                        ends: [
                            End {
                                pid: from,
                                reader: true,
                                writer: true,
                            },
                            End {
                                pid: to,
                                reader: true,
                                writer: true,
                            },
                        ],
                        pipes: [Pipe::default(), Pipe::default()],
                        reset: false,
                    },
                );
                let server_end = connection(shared, id, 1, peer_addr);
                if let Some(l) = self.listeners.get_mut(&addr) {
                    l.queue.push_back(server_end);
                    self.wake.extend(l.waker.take());
                }
                self.note(Note::Accept, to, id, 0);
                Ok(connection(shared, id, 0, addr))
            }
        };
        if let Some(dial) = self.pending.get_mut(&id) {
            dial.result = Some(result);
        }
        let at = self.now + self.delay();
        self.schedule(at, Event::ConnectDone(id));
    }

    /// The dialler learns the outcome.
    pub(crate) fn connect_done(&mut self, id: u64) {
        let Some(mut dial) = self.pending.remove(&id) else {
            return;
        };
        let result = dial.result.take();
        let mut slot = dial.slot.lock();
        if slot.abandoned {
            drop(slot);
            if self.conns.contains_key(&id) {
                self.reset(id);
            }
            self.garbage.push(Box::new(result));
            self.garbage.push(Box::new(dial));
            return;
        }
        slot.result = result;
        self.wake.extend(slot.waker.take());
        drop(slot);
        self.garbage.push(Box::new(dial));
    }

    /// Loses the bytes in flight both ways; both ends see `ConnectionReset`.
    pub(crate) fn reset(&mut self, conn: u64) {
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
            self.wake.extend(pipe.reader_waker.take());
            self.wake.extend(pipe.writer_waker.take());
        }
        self.note(Note::Reset, pid, conn, 0);
    }

    /// Live (not reset) connections, in id order.
    pub(crate) fn live_conns(&self) -> Vec<u64> {
        self.conns
            .iter()
            .filter(|(_, c)| !c.reset)
            .map(|(id, _)| *id)
            .collect()
    }

    fn enqueue(&mut self, conn: u64, dir: usize, chunk: Chunk) {
        let delay = self.delay();
        let now = self.now;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let pipe = &mut c.pipes[dir];
        let at = (now + delay).max(pipe.last_at);
        pipe.last_at = at;
        if let Chunk::Data(d) = &chunk {
            pipe.in_flight_bytes += d.len();
        }
        pipe.in_flight.push_back((at, chunk));
        self.schedule(at, Event::Deliver { conn, dir });
    }

    fn write(
        &mut self,
        conn: u64,
        end: usize,
        buf: &[u8],
        waker: &Waker,
    ) -> Poll<io::Result<usize>> {
        let c = match open_conn(&mut self.conns, conn) {
            Ok(c) => c,
            Err(err) => return Poll::Ready(Err(err)),
        };
        let pid = c.ends[end].pid;
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
        self.note(Note::Write, pid, conn, n as u64);
        self.enqueue(conn, end, Chunk::Data(buf[..n].to_vec()));
        Poll::Ready(Ok(n))
    }

    fn close_dir(&mut self, conn: u64, end: usize) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.reset || c.pipes[end].fin_queued {
            return;
        }
        c.pipes[end].fin_queued = true;
        let pid = c.ends[end].pid;
        self.note(Note::Close, pid, conn, end as u64);
        self.enqueue(conn, end, Chunk::Fin);
    }

    fn read(
        &mut self,
        conn: u64,
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
            self.wake.extend(pipe.writer_waker.take());
        }
        Poll::Ready(Ok(n))
    }

    /// Delivers what is due on one direction, or holds it while the link is blocked.
    pub(crate) fn deliver(&mut self, conn: u64, dir: usize) {
        let now = self.now;
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if c.reset {
            return;
        }
        let (from, to) = (c.ends[dir].pid, c.ends[1 - dir].pid);
        if self.is_blocked(from, to) {
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            // One retry at a time per direction, however many chunks wait.
            if c.pipes[dir].retry_at.is_none_or(|at| at <= now) {
                let at = now + RETRANSMIT;
                c.pipes[dir].retry_at = Some(at);
                self.note(Note::Held, from, conn, dir as u64);
                self.schedule(at, Event::Deliver { conn, dir });
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
        while pipe.in_flight.front().is_some_and(|(at, _)| *at <= now) {
            let Some((_, chunk)) = pipe.in_flight.pop_front() else {
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
        self.wake.extend(pipe.reader_waker.take());
        if bytes > 0 {
            self.note(Note::Deliver, to, conn, bytes);
            if receiver_gone {
                // Data for a socket its owner closed: TCP answers with a reset.
                self.reset(conn);
            }
        }
    }

    fn drop_half(&mut self, conn: u64, end: usize, writer: bool) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if writer {
            c.ends[end].writer = false;
        } else {
            c.ends[end].reader = false;
        }
        if writer {
            self.close_dir(conn, end);
        }
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if c.ends.iter().all(|e| !e.reader && !e.writer)
            && let Some(c) = self.conns.remove(&conn)
        {
            self.garbage.push(Box::new(c));
        }
    }
}

fn connection(shared: &Arc<Shared>, conn: u64, end: usize, peer_addr: String) -> Connection {
    Connection {
        reader: Box::new(SimReader(Half {
            shared: shared.clone(),
            conn,
            end,
        })),
        writer: Box::new(SimWriter(Half {
            shared: shared.clone(),
            conn,
            end,
        })),
        peer_addr,
    }
}

struct Half {
    shared: Arc<Shared>,
    conn: u64,
    end: usize,
}

/// The reading half of a simulated connection.
struct SimReader(Half);

/// The writing half of a simulated connection.
struct SimWriter(Half);

impl AsyncRead for SimReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let h = &self.0;
        h.shared.with(|w| w.read(h.conn, h.end, buf, cx.waker()))
    }
}

impl AsyncWrite for SimWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let h = &self.0;
        h.shared.with(|w| w.write(h.conn, h.end, buf, cx.waker()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let h = &self.0;
        h.shared.with(|w| w.close_dir(h.conn, h.end));
        Poll::Ready(Ok(()))
    }
}

impl Drop for SimReader {
    fn drop(&mut self) {
        let h = &self.0;
        h.shared.with(|w| w.drop_half(h.conn, h.end, false));
    }
}

impl Drop for SimWriter {
    fn drop(&mut self) {
        let h = &self.0;
        h.shared.with(|w| w.drop_half(h.conn, h.end, true));
    }
}

/// A listener on a virtual address.
pub(crate) struct SimListener {
    pub(crate) shared: Arc<Shared>,
    pub(crate) id: ListenerId,
    pub(crate) addr: String,
}

impl Listener for SimListener {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<Connection>> {
        Box::pin(std::future::poll_fn(move |cx| {
            self.shared
                .with(|w| w.accept(self.id, &self.addr, cx.waker()))
        }))
    }

    fn local_addr(&self) -> String {
        self.addr.clone()
    }
}

impl Drop for SimListener {
    fn drop(&mut self) {
        self.shared.with(|w| w.unbind(self.id, &self.addr));
    }
}

/// The dialling future: waits for its slot; dropping it abandons the dial.
pub(crate) struct Dial(pub(crate) Arc<ConnectSlot>);

impl std::future::Future for Dial {
    type Output = io::Result<Connection>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = self.0.lock();
        match slot.result.take() {
            Some(result) => Poll::Ready(result),
            None => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl Drop for Dial {
    fn drop(&mut self) {
        let leftover = {
            let mut slot = self.0.lock();
            slot.abandoned = true;
            slot.result.take()
        };
        drop(leftover);
    }
}

/// The connection `conn` if it is still open for reads and writes.
fn open_conn(conns: &mut BTreeMap<u64, Conn>, conn: u64) -> io::Result<&mut Conn> {
    let c = conns.get_mut(&conn).ok_or(io::ErrorKind::NotConnected)?;
    if c.reset {
        return Err(io::ErrorKind::ConnectionReset.into());
    }
    Ok(c)
}
