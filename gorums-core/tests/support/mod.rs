//! A small world of engines wired through in-memory byte pipes with a hand-driven clock
//! (after quinn-proto's `Pair`): every byte an engine transmits reaches its peer in order,
//! and time moves only when a test says so.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::BytesMut;
use gorums_core::engine::{
    CallEvent, CallId, Cause, ConnId, ConnectionError, Endpoint, EndpointConfig, Event, Instant,
    NodeError, NodeId, QuorumCallError, Request, StartedCall,
};
use gorums_core::quorum::{Quorum, Tally, Verdict};

/// A call judged the way the API judges it: every node's outcome fed to a [`Tally`],
/// the call finished as soon as it is decided, and a `Finished` event logged for the
/// test to see.
struct Judge {
    tally: Tally,
    errors: Vec<NodeError>,
}

pub struct Proc {
    pub ep: Endpoint,
    pub addr: String,
    pub config: EndpointConfig,
    pub up: bool,
    /// Every event the driver did not consume itself (calls, requests, membership).
    pub log: Vec<Event>,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
struct End {
    proc: usize,
    conn: ConnId,
}

pub struct World {
    pub now: Instant,
    pub procs: Vec<Proc>,
    /// Each connection end and the end it is wired to.
    links: BTreeMap<End, End>,
    /// Bytes written and not yet delivered, per sending end (a test may hold them back).
    in_flight: BTreeMap<End, BytesMut>,
    /// Processes whose outgoing bytes are held back (not delivered) until removed.
    pub held: std::collections::BTreeSet<usize>,
    judges: BTreeMap<(usize, CallId), Judge>,
    /// Calls a judge has ended whose engine may still report their end.
    decided: std::collections::BTreeSet<(usize, CallId)>,
}

impl World {
    pub fn new() -> World {
        World {
            now: Instant::ZERO,
            procs: Vec::new(),
            links: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            held: Default::default(),
            judges: BTreeMap::new(),
            decided: Default::default(),
        }
    }

    /// Judges `started` at `p` against `quorum` over `n` nodes (`skipped` of them sent
    /// nothing), as the API would (the engine itself does not judge quorums).
    pub fn judge(
        &mut self,
        p: usize,
        started: &StartedCall,
        quorum: Quorum,
        (n, skipped): (usize, usize),
        streaming: bool,
    ) {
        let required = quorum.required(n);
        let mut tally = if streaming {
            Tally::streaming(required, n)
        } else {
            Tally::new(required, n)
        };
        for _ in 0..skipped {
            tally.closed();
        }
        for _ in &started.send_failures {
            tally.failure();
        }
        let judge = Judge {
            tally,
            errors: started.send_failures.clone(),
        };
        self.judges.insert((p, started.id), judge);
        self.decide(p, started.id);
    }

    fn feed(&mut self, p: usize, call: CallId, event: &CallEvent) {
        let Some(judge) = self.judges.get_mut(&(p, call)) else {
            return;
        };
        match event {
            CallEvent::Reply { result: Ok(_), .. } => judge.tally.success(),
            CallEvent::Item { .. } => judge.tally.item(),
            CallEvent::End { result: Ok(()), .. } => judge.tally.closed(),
            CallEvent::Reply {
                node,
                result: Err(failure),
            }
            | CallEvent::End {
                node,
                result: Err(failure),
            } => {
                judge.tally.failure();
                judge.errors.push(NodeError {
                    node: *node,
                    failure: failure.clone(),
                });
            }
            CallEvent::Finished(_) => {
                self.judges.remove(&(p, call));
            }
            _ => {}
        }
    }

    /// Decides every judged call of `p` whose tally is decided, once the events the
    /// engine had queued are all seen (as a caller reads a whole batch of replies).
    fn decide_all(&mut self, p: usize) {
        let calls: Vec<CallId> = self
            .judges
            .keys()
            .filter(|(q, _)| *q == p)
            .map(|&(_, call)| call)
            .collect();
        for call in calls {
            self.decide(p, call);
        }
    }

    fn decide(&mut self, p: usize, call: CallId) {
        let Some(judge) = self.judges.get(&(p, call)) else {
            return;
        };
        let result = match judge.tally.verdict() {
            Verdict::Pending => return,
            Verdict::Met => Ok(()),
            Verdict::Impossible => Err(QuorumCallError::new(
                Cause::Incomplete,
                judge.errors.clone(),
            )),
        };
        self.judges.remove(&(p, call));
        self.decided.insert((p, call));
        let now = self.now;
        // Decided either way, the call's state is freed and its queued requests still
        // go out (the API cancels an impossible call when its caller drops it).
        self.procs[p].ep.finish(now, call);
        self.procs[p].log.push(Event::Call {
            call,
            event: CallEvent::Finished(result),
        });
    }

    /// Adds a process with `id` listening on `addr`; returns its index.
    pub fn add(&mut self, id: u32, addr: &str) -> usize {
        self.add_with(
            EndpointConfig {
                node_id: NodeId(id),
                ..EndpointConfig::default()
            },
            addr,
        )
    }

    pub fn add_with(&mut self, config: EndpointConfig, addr: &str) -> usize {
        self.procs.push(Proc {
            ep: Endpoint::new(config.clone(), self.now),
            addr: addr.to_owned(),
            config,
            up: true,
            log: Vec::new(),
        });
        self.procs.len() - 1
    }

    pub fn ep(&mut self, p: usize) -> &mut Endpoint {
        &mut self.procs[p].ep
    }

    /// Makes `p` dial every other process of `targets` as node `id` = their own id.
    pub fn connect(&mut self, p: usize, targets: &[usize]) {
        for &t in targets {
            let id = self.procs[t].config.node_id;
            let addr = self.procs[t].addr.clone();
            let now = self.now;
            self.procs[p].ep.add_node(now, id, addr).expect("add node");
        }
        self.drive();
    }

    /// Runs every engine until none has anything left to do at the current time.
    pub fn drive(&mut self) {
        loop {
            let mut progress = false;
            for p in 0..self.procs.len() {
                while let Some(event) = self.procs[p].ep.poll_event() {
                    progress = true;
                    self.on_event(p, event);
                }
                self.decide_all(p);
            }
            let ends: Vec<End> = self.in_flight.keys().copied().collect();
            for end in ends {
                if self.is_held(end.proc) {
                    continue;
                }
                let Some(bytes) = self.in_flight.remove(&end) else {
                    continue;
                };
                if bytes.is_empty() {
                    continue;
                }
                if let Some(&peer) = self.links.get(&end) {
                    progress = true;
                    let now = self.now;
                    self.procs[peer.proc]
                        .ep
                        .handle_bytes(now, peer.conn, &bytes);
                }
            }
            if !progress {
                break;
            }
        }
    }

    fn is_held(&self, from: usize) -> bool {
        self.held.contains(&from)
    }

    fn on_event(&mut self, p: usize, event: Event) {
        let now = self.now;
        match event {
            Event::Connect { conn, addr, .. } => {
                let target = self.procs.iter().position(|q| q.up && q.addr == addr);
                match target {
                    Some(t) => {
                        let from_addr = self.procs[p].addr.clone();
                        let accepted = self.procs[t].ep.handle_accepted(now, from_addr);
                        let a = End { proc: p, conn };
                        let b = End {
                            proc: t,
                            conn: accepted,
                        };
                        self.links.insert(a, b);
                        self.links.insert(b, a);
                        self.procs[p].ep.handle_connected(now, conn);
                    }
                    None => self.procs[p].ep.handle_connect_failed(
                        now,
                        conn,
                        std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
                    ),
                }
            }
            Event::Transmit(conn) => {
                let mut buf = BytesMut::new();
                self.procs[p].ep.poll_transmit(conn, &mut buf);
                self.in_flight
                    .entry(End { proc: p, conn })
                    .or_default()
                    .extend_from_slice(&buf);
            }
            Event::Close { conn, .. } => {
                self.cut(End { proc: p, conn }, ConnectionError::ClosedByPeer)
            }
            Event::Call { call, event } => {
                if matches!(event, CallEvent::Finished(_)) && self.decided.remove(&(p, call)) {
                    // The judge has logged this call's end already; the engine's own
                    // `Finished` came in the same batch of events.
                    return;
                }
                if let CallEvent::Finished(engine_says) = &event
                    && let Some(judge) = self.judges.remove(&(p, call))
                {
                    // Every node is done (or the deadline passed): the judge's verdict
                    // is the call's outcome; a deadline stands while it is undecided.
                    let result = match judge.tally.verdict() {
                        Verdict::Met => Ok(()),
                        Verdict::Impossible => {
                            Err(QuorumCallError::new(Cause::Incomplete, judge.errors))
                        }
                        Verdict::Pending => engine_says.clone(),
                    };
                    let event = CallEvent::Finished(result);
                    self.procs[p].log.push(Event::Call { call, event });
                    return;
                }
                let seen = event.clone();
                self.procs[p].log.push(Event::Call { call, event });
                self.feed(p, call, &seen);
            }
            other => self.procs[p].log.push(other),
        }
    }

    /// Cuts the link at `end`: the other side sees the close after any bytes already in
    /// flight to it are lost.
    fn cut(&mut self, end: End, reason: ConnectionError) {
        self.in_flight.remove(&end);
        if let Some(peer) = self.links.remove(&end) {
            self.links.remove(&peer);
            self.in_flight.remove(&peer);
            let now = self.now;
            self.procs[peer.proc]
                .ep
                .handle_closed(now, peer.conn, reason);
        }
    }

    /// Closes every connection between `a` and `b` as a network failure would (both
    /// sides see the close).
    pub fn sever(&mut self, a: usize, b: usize) {
        let pairs: Vec<(End, End)> = self
            .links
            .iter()
            .filter(|(x, y)| x.proc == a && y.proc == b)
            .map(|(&x, &y)| (x, y))
            .collect();
        for (x, y) in pairs {
            self.links.remove(&x);
            self.links.remove(&y);
            self.in_flight.remove(&x);
            self.in_flight.remove(&y);
            let now = self.now;
            let failure = || {
                ConnectionError::io(
                    "read",
                    std::io::Error::from(std::io::ErrorKind::ConnectionReset),
                )
            };
            self.procs[x.proc].ep.handle_closed(now, x.conn, failure());
            self.procs[y.proc].ep.handle_closed(now, y.conn, failure());
        }
        self.drive();
    }

    /// Crashes process `p`: its connections close and it stops accepting.
    pub fn kill(&mut self, p: usize) {
        let others: Vec<usize> = (0..self.procs.len()).filter(|&q| q != p).collect();
        for q in others {
            self.sever(p, q);
        }
        self.procs[p].up = false;
        self.drive();
    }

    /// Restarts process `p` with a fresh engine on the same address.
    pub fn restart(&mut self, p: usize) {
        let config = self.procs[p].config.clone();
        self.procs[p].ep = Endpoint::new(config, self.now);
        self.procs[p].up = true;
        self.procs[p].log.clear();
    }

    /// Moves the clock forward by `d`, firing timers on the way, and drives.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let next = self
                .procs
                .iter()
                .filter_map(|p| p.ep.poll_timeout())
                .filter(|&t| t <= end)
                .min();
            let Some(at) = next else { break };
            self.now = self.now.max(at);
            let now = self.now;
            for p in 0..self.procs.len() {
                if p_due(&self.procs[p].ep, now) {
                    self.procs[p].ep.handle_timeout(now);
                }
            }
            self.drive();
        }
        self.now = end;
        self.drive();
    }

    /// The requests `p`'s server side was handed and not yet taken by the test.
    pub fn requests(&mut self, p: usize) -> Vec<Request> {
        let log = std::mem::take(&mut self.procs[p].log);
        let (requests, rest): (Vec<Event>, Vec<Event>) = log
            .into_iter()
            .partition(|e| matches!(e, Event::Request(_)));
        self.procs[p].log = rest;
        requests
            .into_iter()
            .filter_map(|e| match e {
                Event::Request(r) => Some(r),
                _ => None,
            })
            .collect()
    }

    /// The events of `call` at `p`, taken out of its log.
    pub fn call_events(&mut self, p: usize, call: CallId) -> Vec<CallEvent> {
        let log = std::mem::take(&mut self.procs[p].log);
        let mut out = Vec::new();
        for e in log {
            match e {
                Event::Call { call: c, event } if c == call => out.push(event),
                other => self.procs[p].log.push(other),
            }
        }
        out
    }
}

fn p_due(ep: &Endpoint, now: Instant) -> bool {
    ep.poll_timeout().is_some_and(|t| t <= now)
}
