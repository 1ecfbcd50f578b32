//! The engine under byte-chosen operations: the input is decoded into a sequence of
//! client calls, server answers, link failures, crashes, held-back bytes and clock moves
//! between one anonymous client and three servers (the in-memory harness of
//! gorums-core's tests), and every reply, item and error status must reach the call and
//! node it answers, no node may be reported twice or after its call ended, and once
//! everything is answered every call must have finished exactly once.
//!
//! As in gorums-core/tests/engine_props.rs, a request payload names its call (`c<seq>`,
//! or `c<seq>@<node>` for per-node payloads) and each server echoes
//! `<payload>:<its id>`, so any misrouting is a payload mismatch.
#![no_main]

#[path = "../../gorums-core/tests/support/mod.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use gorums_core::engine::{
    CallEvent, CallId, CallKind, CallSpec, Cause, Code, ConnId, Event, Instant, NodeFailure,
    NodeId, Payload, Request, RequestKind, Status, UsageError,
};
use gorums_core::quorum::Quorum;
use libfuzzer_sys::fuzz_target;
use support::World;

const SERVERS: usize = 3;

/// The input, read a byte at a time; running out ends the scenario.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Share {
    Skipped,
    Waiting,
    Streaming,
    Replied,
    Ended,
    Failed,
}

#[derive(Debug)]
struct CallModel {
    seq: u64,
    kind: CallKind,
    shared_payload: bool,
    quorum: Option<Quorum>,
    deadline: Option<Instant>,
    shares: BTreeMap<NodeId, Share>,
    /// Skipped or failed at send: no server may ever see this call's request.
    never_sent: BTreeSet<NodeId>,
    items: usize,
    finished: bool,
    /// The step the test cancelled or finished the call at, and whether that was right
    /// after `start_call` (when a `Finished` the start itself queued may still come out).
    dropped: Option<(usize, bool)>,
}

impl CallModel {
    fn echo(&self, node: NodeId) -> String {
        format!(
            "{}:{}",
            request_payload(self.seq, node, self.shared_payload),
            node.0
        )
    }

    fn live(&self) -> bool {
        self.kind.is_two_way() && !self.finished && self.dropped.is_none()
    }

    fn count(&self, share: Share) -> usize {
        self.shares.values().filter(|&&s| s == share).count()
    }

    /// `Some(true)`: met; `Some(false)`: cannot be met; `None`: still open (after
    /// `Tally`'s rules, or "every node answered" without a quorum).
    fn decided(&self) -> Option<bool> {
        let open = self.count(Share::Waiting) + self.count(Share::Streaming);
        let Some(quorum) = self.quorum else {
            return (open == 0).then_some(true);
        };
        let streaming = self.kind == CallKind::Correctable;
        let required = quorum.required(self.shares.len());
        let successes = if streaming {
            self.items
        } else {
            self.count(Share::Replied)
        };
        if successes >= required {
            Some(true)
        } else if open == 0 || (!streaming && successes + open < required) {
            Some(false)
        } else {
            None
        }
    }
}

fn request_payload(seq: u64, node: NodeId, shared: bool) -> String {
    if shared {
        format!("c{seq}")
    } else {
        format!("c{seq}@{}", node.0)
    }
}

struct Run {
    w: World,
    client: usize,
    servers: Vec<usize>,
    calls: BTreeMap<CallId, CallModel>,
    by_seq: BTreeMap<u64, CallId>,
    next_seq: u64,
    /// Per server, the requests it holds: (request, released).
    pending: Vec<Vec<(Request, bool)>>,
    delivered: BTreeSet<(u64, NodeId)>,
    taken_back: BTreeSet<u64>,
    step: usize,
}

impl Run {
    fn new() -> Run {
        let mut w = World::new();
        let servers: Vec<usize> = (1..=SERVERS)
            .map(|id| w.add(id as u32, &format!("s{id}")))
            .collect();
        let client = w.add(0, "client");
        w.connect(client, &servers);
        let mut run = Run {
            w,
            client,
            servers,
            calls: BTreeMap::new(),
            by_seq: BTreeMap::new(),
            next_seq: 1,
            pending: vec![Vec::new(); SERVERS],
            delivered: BTreeSet::new(),
            taken_back: BTreeSet::new(),
            step: 0,
        };
        run.collect();
        run
    }

    fn up(&self, server: usize) -> bool {
        self.w.procs[self.servers[server]].up
    }

    /// Decodes and applies one operation; `None` when the input ran out.
    fn step(&mut self, input: &mut Input<'_>) -> Option<()> {
        let now = self.w.now;
        match input.byte()? % 16 {
            0..=4 => self.start(input)?,
            5..=9 => {
                let (server, pick, how) = (input.byte()?, input.byte()?, input.byte()?);
                let busy: Vec<usize> = (0..SERVERS)
                    .filter(|&s| !self.pending[s].is_empty())
                    .collect();
                if !busy.is_empty() {
                    self.answer(
                        busy[usize::from(server) % busy.len()],
                        usize::from(pick),
                        how,
                    );
                }
            }
            10 => {
                let server = usize::from(input.byte()?) % SERVERS;
                self.w.sever(self.client, self.servers[server]);
            }
            11 => {
                let server = usize::from(input.byte()?) % SERVERS;
                if self.up(server) {
                    self.w.kill(self.servers[server]);
                    // The engine is gone; its request ids mean nothing to the next one.
                    self.pending[server].clear();
                }
            }
            12 => {
                let down: Vec<usize> = (0..SERVERS).filter(|&s| !self.up(s)).collect();
                let pick = usize::from(input.byte()?);
                if !down.is_empty() {
                    self.w.restart(self.servers[down[pick % down.len()]]);
                }
            }
            13 => match usize::from(input.byte()?) % (SERVERS + 2) {
                0 => self.w.held.clear(),
                1 => {
                    self.w.held.insert(self.client);
                }
                k => {
                    self.w.held.insert(self.servers[k - 2]);
                }
            },
            14 => {
                let b = u64::from(input.byte()?);
                // Mostly short moves; the top values jump past redial backoffs and
                // connect timeouts.
                let millis = if b < 200 { b } else { (b - 199) * 250 };
                self.w.advance(Duration::from_millis(millis));
            }
            _ => {
                let b = usize::from(input.byte()?);
                let live: Vec<CallId> = self
                    .calls
                    .iter()
                    .filter(|(_, m)| m.live())
                    .map(|(&id, _)| id)
                    .collect();
                if !live.is_empty() {
                    let call = live[(b >> 1) % live.len()];
                    if b & 1 == 0 {
                        self.w.ep(self.client).cancel(now, call);
                    } else {
                        self.w.ep(self.client).finish(now, call);
                    }
                    self.calls.get_mut(&call).unwrap().dropped = Some((self.step, false));
                }
            }
        }
        self.w.drive();
        self.collect();
        self.check_step();
        self.step += 1;
        Some(())
    }

    fn start(&mut self, input: &mut Input<'_>) -> Option<()> {
        let (kind_byte, mask, flags, deadline_byte) =
            (input.byte()?, input.byte()?, input.byte()?, input.byte()?);
        let kind = match kind_byte % 8 {
            0..=2 => CallKind::QuorumCall,
            3 | 4 => CallKind::Correctable,
            5 => CallKind::Rpc,
            6 => CallKind::Multicast,
            _ => CallKind::Unicast,
        };
        let chosen = |mask: u8, k: u32| mask & (1 << (k - 1)) != 0;
        // The low nibble picks the nodes (0b1111.. for all), the high one the skipped.
        let mut nodes: Vec<NodeId> = (1..=SERVERS as u32)
            .filter(|&k| chosen(mask, k))
            .map(NodeId)
            .collect();
        if matches!(kind, CallKind::Rpc | CallKind::Unicast) {
            nodes = vec![nodes.first().copied().unwrap_or(NodeId(1))];
        }
        let skip = (flags & 0b1000_0000 != 0).then_some(mask >> 4);
        let quorum = match flags & 0b111 {
            0..=2 => None,
            3 => Some(Quorum::First),
            4 => Some(Quorum::Majority),
            5 => Some(Quorum::All),
            _ => Some(Quorum::Threshold(usize::from((flags >> 3) & 0b111))),
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        let shared_payload = skip.is_none();
        let payload = match skip {
            None => Payload::Shared(Bytes::from(request_payload(seq, NodeId(0), true))),
            Some(skip) => Payload::PerNode(
                nodes
                    .iter()
                    .map(|&k| {
                        (!chosen(skip, k.0)).then(|| Bytes::from(request_payload(seq, k, false)))
                    })
                    .collect(),
            ),
        };
        let shares: BTreeMap<NodeId, Share> = nodes
            .iter()
            .map(|&k| {
                (
                    k,
                    if skip.is_some_and(|s| chosen(s, k.0)) {
                        Share::Skipped
                    } else {
                        Share::Waiting
                    },
                )
            })
            .collect();
        let now = self.w.now;
        let deadline = (deadline_byte != 0 && deadline_byte < 128)
            .then(|| now + Duration::from_millis(u64::from(deadline_byte) * 25));
        let mut spec = CallSpec::new(kind, "fuzz.Engine/Op", nodes, payload);
        spec.deadline = deadline;
        let size = spec.nodes.len();
        let started = self
            .w
            .ep(self.client)
            .start_call(now, spec)
            .expect("a valid call is accepted");
        let then = (flags >> 5) & 0b11;
        // The harness judges quorums as the API does; a call dropped at once is not judged.
        let quorum = quorum.filter(|_| kind.is_two_way() && !matches!(then, 1 | 2));
        if let Some(q) = quorum {
            let skipped = shares.values().filter(|&&s| s == Share::Skipped).count();
            let streaming = kind == CallKind::Correctable;
            self.w
                .judge(self.client, &started, q, (size, skipped), streaming);
        }
        let mut model = CallModel {
            seq,
            kind,
            shared_payload,
            quorum,
            deadline,
            never_sent: shares
                .iter()
                .filter(|&(_, &s)| s == Share::Skipped)
                .map(|(&k, _)| k)
                .collect(),
            shares,
            items: 0,
            finished: false,
            dropped: None,
        };
        for failure in &started.send_failures {
            assert_eq!(
                model.shares.get(&failure.node),
                Some(&Share::Waiting),
                "send failure {failure:?}"
            );
            model.shares.insert(failure.node, Share::Failed);
            model.never_sent.insert(failure.node);
        }
        match then {
            1 => {
                // Before the driver took the requests: no server may ever see them (one-way
                // calls keep no state once enqueued, so there is nothing to take back).
                self.w.ep(self.client).cancel(now, started.id);
                if kind.is_two_way() {
                    self.taken_back.insert(seq);
                }
                model.dropped = Some((self.step, true));
            }
            2 => {
                self.w.ep(self.client).finish(now, started.id);
                model.dropped = Some((self.step, true));
            }
            _ => {}
        }
        assert!(
            !self.calls.contains_key(&started.id),
            "call id {:?} reused",
            started.id
        );
        self.calls.insert(started.id, model);
        self.by_seq.insert(seq, started.id);
        Some(())
    }

    /// Server `server` acts on its `pick`-th pending request; `how` picks reply, error,
    /// stream item, stream end (ok or error) or release, as the request's kind allows.
    fn answer(&mut self, server: usize, pick: usize, how: u8) {
        let index = pick % self.pending[server].len();
        let request = self.pending[server][index].0.clone();
        let echo = format!(
            "{}:{}",
            String::from_utf8_lossy(&request.payload),
            server + 1
        );
        let status = Status::new(Code::Aborted, echo.clone());
        let echo = Bytes::from(echo);
        let now = self.w.now;
        let ep = &mut self.w.procs[self.servers[server]].ep;
        let outcome = match (request.kind, how % 6) {
            (_, 5) => {
                ep.release(now, request.id);
                self.pending[server][index].1 = true;
                return;
            }
            (RequestKind::OneWay, _) => ep.respond(now, request.id, Ok(Bytes::new())),
            (RequestKind::Unary, 0..=2) | (RequestKind::Stream, 0) => {
                ep.respond(now, request.id, Ok(echo))
            }
            (RequestKind::Unary, _) | (RequestKind::Stream, 1) => {
                ep.respond(now, request.id, Err(status))
            }
            (RequestKind::Stream, 2) => match ep.send_item(now, request.id, echo) {
                // An item leaves the stream open.
                Ok(()) => return,
                Err(e) => Err(e),
            },
            (RequestKind::Stream, 3) => ep.end_stream(now, request.id, Ok(())),
            (RequestKind::Stream, _) => ep.end_stream(now, request.id, Err(status)),
        };
        match outcome {
            // The requester's connection closed under the request: nothing to answer.
            Ok(()) | Err(UsageError::ConnectionClosed) => {}
            Err(e) => panic!("server {} refused {request:?}: {e}", server + 1),
        }
        self.pending[server].remove(index);
    }

    fn collect(&mut self) {
        for p in 0..self.w.procs.len() {
            for event in std::mem::take(&mut self.w.procs[p].log) {
                match event {
                    Event::Call { call, event } => {
                        assert_eq!(p, self.client, "a server got a call event");
                        self.on_call_event(call, event);
                    }
                    Event::Request(request) => {
                        let server = self
                            .servers
                            .iter()
                            .position(|&s| s == p)
                            .expect("only servers get requests");
                        self.on_request(server, request);
                    }
                    _ => {}
                }
            }
        }
    }

    fn on_call_event(&mut self, call: CallId, event: CallEvent) {
        let now = self.w.now;
        let step = self.step;
        let model = self
            .calls
            .get_mut(&call)
            .unwrap_or_else(|| panic!("event for unknown {call:?}"));
        assert!(model.kind.is_two_way(), "one-way {call:?} got {event:?}");
        assert!(!model.finished, "{call:?} got {event:?} after it finished");
        if let Some((at, at_once)) = model.dropped {
            let queued_by_start = at_once && at == step && matches!(event, CallEvent::Finished(_));
            assert!(
                queued_by_start,
                "{call:?} got {event:?} after the test dropped it"
            );
        }
        let streaming = model.kind == CallKind::Correctable;
        let check_failure = |model: &CallModel, node: NodeId, failure: &NodeFailure| match failure {
            NodeFailure::Status(s) => {
                assert_eq!(
                    s.message,
                    model.echo(node),
                    "{call:?}: error status misrouted to {node}"
                )
            }
            NodeFailure::ConnectionLost(_) | NodeFailure::NotConnected(_) => {}
            other => panic!("{call:?} failed at {node} with {other:?}"),
        };
        match event {
            CallEvent::Reply { node, result } => {
                assert!(!streaming, "correctable {call:?} got a Reply");
                assert_eq!(
                    model.shares.get(&node),
                    Some(&Share::Waiting),
                    "{call:?}: {node} reported again"
                );
                match result {
                    Ok(payload) => {
                        assert_eq!(
                            payload,
                            model.echo(node),
                            "{call:?}: reply misrouted to {node}"
                        );
                        model.shares.insert(node, Share::Replied);
                    }
                    Err(failure) => {
                        check_failure(model, node, &failure);
                        model.shares.insert(node, Share::Failed);
                    }
                }
            }
            CallEvent::Item { node, payload } => {
                assert!(streaming, "plain {call:?} got an Item");
                let share = model.shares.get(&node);
                assert!(
                    matches!(share, Some(Share::Waiting | Share::Streaming)),
                    "{call:?}: item from {node} in {share:?}"
                );
                assert_eq!(
                    payload,
                    model.echo(node),
                    "{call:?}: item misrouted to {node}"
                );
                model.shares.insert(node, Share::Streaming);
                model.items += 1;
            }
            CallEvent::End { node, result } => {
                assert!(streaming, "plain {call:?} got an End");
                let share = model.shares.get(&node);
                assert!(
                    matches!(share, Some(Share::Waiting | Share::Streaming)),
                    "{call:?}: end from {node} in {share:?}"
                );
                match result {
                    Ok(()) => model.shares.insert(node, Share::Ended),
                    Err(failure) => {
                        check_failure(model, node, &failure);
                        model.shares.insert(node, Share::Failed)
                    }
                };
            }
            CallEvent::Finished(result) => {
                let decided = model.decided();
                match result {
                    Ok(()) => assert_eq!(decided, Some(true), "{call:?} finished Ok: {model:?}"),
                    Err(err) if err.cause == Cause::Incomplete => {
                        assert_eq!(
                            decided,
                            Some(false),
                            "{call:?} finished Incomplete: {model:?}"
                        )
                    }
                    Err(err) if err.cause == Cause::DeadlineExceeded => assert!(
                        decided.is_none() && model.deadline.is_some_and(|d| d <= now),
                        "{call:?} finished DeadlineExceeded at {now:?}: {model:?}"
                    ),
                    Err(err) => panic!("{call:?} finished with {err}"),
                }
                model.finished = true;
            }
            other => panic!("{call:?} got an unknown event {other:?}"),
        }
    }

    fn on_request(&mut self, server: usize, request: Request) {
        let me = NodeId(server as u32 + 1);
        let text = std::str::from_utf8(&request.payload).expect("utf-8 payload");
        let body = text.strip_prefix('c').expect("a call payload");
        let (seq, intended) = match body.split_once('@') {
            Some((seq, node)) => (seq, Some(node.parse::<u32>().unwrap())),
            None => (body, None),
        };
        let seq: u64 = seq.parse().unwrap();
        let model = &self.calls[&self.by_seq[&seq]];
        assert!(
            intended.is_none_or(|k| k == me.0),
            "{me} got the request meant for node {intended:?}"
        );
        assert!(
            model.shares.contains_key(&me) && !model.never_sent.contains(&me),
            "{me} got c{seq}, which was not sent to it"
        );
        let expected_kind = match model.kind {
            CallKind::Rpc | CallKind::QuorumCall => RequestKind::Unary,
            CallKind::Correctable => RequestKind::Stream,
            CallKind::Unicast | CallKind::Multicast => RequestKind::OneWay,
        };
        assert_eq!(
            request.kind, expected_kind,
            "{me}: c{seq} arrived as the wrong kind"
        );
        assert!(
            !self.taken_back.contains(&seq),
            "{me} got c{seq}, cancelled before it was taken"
        );
        assert!(self.delivered.insert((seq, me)), "{me} got c{seq} twice");
        self.pending[server].push((request, false));
    }

    fn check_step(&mut self) {
        let now = self.w.now;
        for (call, model) in self.calls.iter().filter(|(_, m)| m.live()) {
            assert_eq!(
                model.decided(),
                None,
                "{call:?} is decided but not finished: {model:?}"
            );
            assert!(
                model.deadline.is_none_or(|d| d > now),
                "{call:?} outlived its deadline"
            );
        }
        let live = self.calls.values().filter(|m| m.live()).count();
        assert_eq!(
            self.w.procs[self.client].ep.live_calls(),
            live,
            "engine and model disagree on live calls"
        );
        for queue in &self.pending {
            let mut turn_holders: BTreeMap<ConnId, usize> = BTreeMap::new();
            for (request, _) in queue.iter().filter(|(_, released)| !released) {
                *turn_holders.entry(request.id.conn).or_default() += 1;
            }
            assert!(
                turn_holders.values().all(|&n| n <= 1),
                "two requests of one sender hold its turn"
            );
        }
    }

    /// Delivers everything, answers every request, then cuts every link and lets every
    /// deadline pass: every call must have finished, and the client must hold none.
    fn finale(&mut self) {
        self.w.held.clear();
        self.w.drive();
        self.collect();
        self.check_step();
        while let Some(server) = (0..SERVERS).find(|&s| self.up(s) && !self.pending[s].is_empty()) {
            let how = if self.pending[server][0].0.kind == RequestKind::Stream {
                3
            } else {
                0
            };
            self.answer(server, 0, how);
            self.w.drive();
            self.collect();
            self.check_step();
        }
        for (call, model) in &self.calls {
            assert!(
                !model.live(),
                "{call:?} still waits though everything was answered: {model:?}"
            );
        }
        for s in self.servers.clone() {
            self.w.sever(self.client, s);
        }
        self.w.advance(Duration::from_secs(10));
        self.collect();
        self.check_step();
        assert_eq!(self.w.procs[self.client].ep.live_calls(), 0);
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let mut run = Run::new();
    // Bounded so one input cannot run for long.
    for _ in 0..512 {
        if run.step(&mut input).is_none() {
            break;
        }
    }
    run.finale();
});
