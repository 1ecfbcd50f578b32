//! A small world of engines wired through in-memory byte pipes with a hand-driven clock
//! (after quinn-proto's `Pair`): every byte an engine transmits reaches its peer in order,
//! and time moves only when a test says so.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::BytesMut;
use gorums_core::engine::{
    CallEvent, CallId, ConnId, Endpoint, EndpointConfig, Event, Instant, NodeId, Request,
};

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
}

impl World {
    pub fn new() -> World {
        World {
            now: Instant::ZERO,
            procs: Vec::new(),
            links: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            held: Default::default(),
        }
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
                    None => self.procs[p]
                        .ep
                        .handle_connect_failed(now, conn, "connection refused"),
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
            Event::Close { conn, .. } => self.cut(End { proc: p, conn }, "closed by peer"),
            other => self.procs[p].log.push(other),
        }
    }

    /// Cuts the link at `end`: the other side sees the close after any bytes already in
    /// flight to it are lost.
    fn cut(&mut self, end: End, reason: &str) {
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
            self.procs[x.proc]
                .ep
                .handle_closed(now, x.conn, "network failure");
            self.procs[y.proc]
                .ep
                .handle_closed(now, y.conn, "network failure");
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
