//! Properties of the engine under random interleavings: one anonymous client and a few
//! servers (see `support`) go through random calls, out-of-order answers, streams,
//! severed links, crashes, held-back bytes and clock moves, and a model of every call
//! checks the engine after each step.
//!
//! Every request payload names its call (a test-side sequence number) and, for per-node
//! payloads, the node it is for; each server echoes `payload:server-id`. So a reply, item
//! or error status that reaches the wrong call or is attributed to the wrong node shows
//! up as a payload mismatch.
//!
//! Cases: 256 and 64 by default (about a second in debug); `PROPTEST_CASES` sets
//! another count for both. Failures are saved in gorums-core/proptest-regressions/.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use gorums_core::engine::{
    CallEvent, CallId, CallKind, CallSpec, Cause, Code, ConnId, EndpointConfig, Event, Instant,
    MsgId, NodeError, NodeFailure, NodeId, Payload, QuorumCallError, Request, RequestKind, Status,
    UsageError,
};
use gorums_core::quorum::Quorum;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, FileFailurePersistence};
use support::World;

// ----- operations ------------------------------------------------------------------------

/// One step of a scenario. Server and pick indices are taken modulo what exists when the
/// step runs (so every generated sequence is valid for every cluster size and state),
/// and a step with nothing to act on does nothing.
#[derive(Clone, Debug)]
enum Op {
    Start(StartOp),
    /// One of the servers holding requests acts on one of them, picked by index so that
    /// answers come out of order.
    Answer {
        server: usize,
        pick: usize,
        how: How,
    },
    /// A network failure between the client and a server (both sides see the close).
    Sever {
        server: usize,
    },
    /// A server crashes: its connections close and it refuses dials until restarted.
    Kill {
        server: usize,
    },
    /// One of the crashed servers comes back with a fresh engine.
    Restart {
        server: usize,
    },
    /// Holds back a process's outgoing bytes (0 is the client, k is server k), so
    /// requests, replies and hellos sit in flight across the next steps.
    Hold {
        proc: usize,
    },
    /// Delivers everything held back.
    Unhold,
    /// Moves the clock: deadlines, connect timeouts and redials fire.
    Advance {
        millis: u64,
    },
    /// The client cancels one of its live two-way calls.
    Cancel {
        pick: usize,
    },
    /// The client finishes (stops waiting for) one of its live two-way calls.
    Finish {
        pick: usize,
    },
}

#[derive(Clone, Debug)]
struct StartOp {
    kind: CallKind,
    /// Bit k-1 set: node k is called. An RPC or unicast calls the lowest such node, or
    /// node 1 if none.
    nodes: u8,
    /// `None`: one shared payload. `Some(mask)`: one payload per node, and bit k-1 set
    /// skips node k (it is sent nothing but still counts in the quorum size).
    skip: Option<u8>,
    quorum: Option<Quorum>,
    deadline_ms: Option<u64>,
    then: AfterStart,
}

/// What the client does right after `start_call`, before the driver runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AfterStart {
    Drive,
    /// Cancel before the driver took the requests: no server may ever see them.
    CancelAtOnce,
    /// Finish before the driver took the requests: they are still sent, replies dropped.
    FinishAtOnce,
}

/// How a server acts on a request (mapped onto what the request's kind allows).
#[derive(Clone, Copy, Debug)]
enum How {
    Reply,
    ErrorStatus,
    Item,
    EndStream,
    EndStreamWithError,
    Release,
}

fn kind_strategy() -> impl Strategy<Value = CallKind> {
    prop_oneof![
        4 => Just(CallKind::QuorumCall),
        3 => Just(CallKind::Correctable),
        2 => Just(CallKind::Rpc),
        1 => Just(CallKind::Multicast),
        1 => Just(CallKind::Unicast),
    ]
}

fn quorum_strategy() -> impl Strategy<Value = Option<Quorum>> {
    prop_oneof![
        3 => Just(None),
        1 => Just(Some(Quorum::First)),
        2 => Just(Some(Quorum::Majority)),
        1 => Just(Some(Quorum::All)),
        // Beyond the cluster size too: such a call can never be met.
        1 => (0usize..=6).prop_map(|k| Some(Quorum::Threshold(k))),
    ]
}

fn start_strategy() -> impl Strategy<Value = Op> {
    let then = prop_oneof![
        8 => Just(AfterStart::Drive),
        1 => Just(AfterStart::CancelAtOnce),
        1 => Just(AfterStart::FinishAtOnce),
    ];
    // Half the calls go to every node, so most calls have several shares in play.
    let nodes = prop_oneof![Just(u8::MAX), any::<u8>()];
    (
        kind_strategy(),
        nodes,
        prop::option::weighted(0.25, any::<u8>()),
        quorum_strategy(),
        prop::option::weighted(0.4, 1u64..3_000),
        then,
    )
        .prop_map(|(kind, nodes, skip, quorum, deadline_ms, then)| {
            Op::Start(StartOp {
                kind,
                nodes,
                skip,
                quorum,
                deadline_ms,
                then,
            })
        })
}

fn how_strategy() -> impl Strategy<Value = How> {
    prop_oneof![
        4 => Just(How::Reply),
        1 => Just(How::ErrorStatus),
        3 => Just(How::Item),
        2 => Just(How::EndStream),
        1 => Just(How::EndStreamWithError),
        1 => Just(How::Release),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let millis = prop_oneof![0u64..100, 100u64..2_000, 2_000u64..12_000];
    prop_oneof![
        8 => start_strategy(),
        16 => (0usize..5, 0usize..8, how_strategy())
            .prop_map(|(server, pick, how)| Op::Answer { server, pick, how }),
        1 => (0usize..5).prop_map(|server| Op::Sever { server }),
        1 => (0usize..5).prop_map(|server| Op::Kill { server }),
        2 => (0usize..5).prop_map(|server| Op::Restart { server }),
        1 => (0usize..6).prop_map(|proc| Op::Hold { proc }),
        2 => Just(Op::Unhold),
        4 => millis.prop_map(|millis| Op::Advance { millis }),
        1 => (0usize..8).prop_map(|pick| Op::Cancel { pick }),
        1 => (0usize..8).prop_map(|pick| Op::Finish { pick }),
    ]
}

// ----- the model -------------------------------------------------------------------------

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// What the test knows of one node's share of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ShareModel {
    /// Sent nothing (a `None` per-node payload).
    Skipped,
    /// Sent; nothing heard yet.
    Waiting,
    /// A correctable call's node sent items and may send more.
    Streaming,
    /// A plain call's node replied successfully.
    Replied,
    /// A correctable call's node ended its stream normally.
    Ended,
    /// Failed at send, by error status, or by connection loss.
    Failed,
}

/// The test's independent view of whether a call is decided (after `Tally`'s rules).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decided {
    Met,
    Pending,
    Impossible,
}

#[derive(Debug)]
struct CallModel {
    seq: u64,
    kind: CallKind,
    shared_payload: bool,
    quorum: Option<Quorum>,
    deadline: Option<Instant>,
    shares: BTreeMap<NodeId, ShareModel>,
    /// Nodes the request never left for: skipped, or failed at send.
    never_sent: BTreeSet<NodeId>,
    items: usize,
    /// Every node failure reported so far (send failures included), as `Finished(Err)`
    /// must list them.
    errors: Vec<NodeError>,
    finished: Option<Result<(), QuorumCallError>>,
    /// The step at which the test cancelled or finished the call, and whether that was
    /// right after `start_call` (when a `Finished` the start itself queued may still be
    /// drained).
    dropped: Option<(usize, bool)>,
}

impl CallModel {
    fn request_payload(&self, node: NodeId) -> String {
        request_payload(self.seq, node, self.shared_payload)
    }

    /// What node `node` sends back for this call: its request payload and its own id.
    fn echo(&self, node: NodeId) -> String {
        format!("{}:{}", self.request_payload(node), node.0)
    }

    fn live(&self) -> bool {
        self.kind.is_two_way() && self.finished.is_none() && self.dropped.is_none()
    }

    fn count(&self, share: ShareModel) -> usize {
        self.shares.values().filter(|&&s| s == share).count()
    }

    fn decided(&self) -> Decided {
        let open = self.count(ShareModel::Waiting) + self.count(ShareModel::Streaming);
        let Some(quorum) = self.quorum else {
            return if open == 0 {
                Decided::Met
            } else {
                Decided::Pending
            };
        };
        let required = quorum.required(self.shares.len());
        let streaming = self.kind == CallKind::Correctable;
        let successes = if streaming {
            self.items
        } else {
            self.count(ShareModel::Replied)
        };
        if successes >= required {
            Decided::Met
        } else if open == 0 || (!streaming && successes + open < required) {
            Decided::Impossible
        } else {
            Decided::Pending
        }
    }

    fn fail(&mut self, node: NodeId, failure: NodeFailure) {
        self.shares.insert(node, ShareModel::Failed);
        self.errors.push(NodeError { node, failure });
    }
}

/// `c<seq>` when shared, `c<seq>@<node>` when per node.
fn request_payload(seq: u64, node: NodeId, shared: bool) -> String {
    if shared {
        format!("c{seq}")
    } else {
        format!("c{seq}@{}", node.0)
    }
}

/// Parses a request payload back into (call sequence number, intended node if per node).
fn parse_request_payload(payload: &[u8]) -> Option<(u64, Option<u32>)> {
    let text = std::str::from_utf8(payload).ok()?.strip_prefix('c')?;
    match text.split_once('@') {
        Some((seq, node)) => Some((seq.parse().ok()?, Some(node.parse().ok()?))),
        None => Some((text.parse().ok()?, None)),
    }
}

fn expected_request_kind(kind: CallKind) -> RequestKind {
    match kind {
        CallKind::Rpc | CallKind::QuorumCall => RequestKind::Unary,
        CallKind::Correctable => RequestKind::Stream,
        CallKind::Unicast | CallKind::Multicast => RequestKind::OneWay,
    }
}

/// A request a server was handed and the test has not finished with.
#[derive(Debug)]
struct Pending {
    request: Request,
    /// The server let the sender's next request start before answering this one.
    released: bool,
}

/// One client, `n` servers, the model of every call, and a trace of every event drained.
struct Run {
    w: World,
    client: usize,
    /// `servers[k - 1]` is the process of node k.
    servers: Vec<usize>,
    calls: BTreeMap<CallId, CallModel>,
    by_seq: BTreeMap<u64, CallId>,
    next_seq: u64,
    /// Per server (by index), the requests it holds.
    pending: Vec<Vec<Pending>>,
    /// (call seq, node) of every request any server was handed: each at most once.
    delivered: BTreeSet<(u64, NodeId)>,
    /// Calls cancelled before the driver took their requests.
    taken_back: BTreeSet<u64>,
    /// The last request id handed out per (server, connection), for the FIFO check.
    last_handed_out: BTreeMap<(usize, ConnId), MsgId>,
    step: usize,
    trace: Vec<(usize, Event)>,
}

impl Run {
    /// A client connected to servers 1..=n, every engine seeded with `seed` (it drives
    /// the redial jitter).
    fn new(n: u32, seed: u64) -> Run {
        let mut w = World::new();
        let config = |id| EndpointConfig {
            node_id: NodeId(id),
            seed,
            ..EndpointConfig::default()
        };
        let servers: Vec<usize> = (1..=n)
            .map(|id| w.add_with(config(id), &format!("s{id}")))
            .collect();
        let client = w.add_with(config(0), "client");
        w.connect(client, &servers);
        Run {
            w,
            client,
            pending: servers.iter().map(|_| Vec::new()).collect(),
            servers,
            calls: BTreeMap::new(),
            by_seq: BTreeMap::new(),
            next_seq: 1,
            delivered: BTreeSet::new(),
            taken_back: BTreeSet::new(),
            last_handed_out: BTreeMap::new(),
            step: 0,
            trace: Vec::new(),
        }
    }

    fn n(&self) -> usize {
        self.servers.len()
    }

    fn node_of(&self, server: usize) -> NodeId {
        NodeId(u32::try_from(server + 1).expect("a handful of servers"))
    }

    fn up(&self, server: usize) -> bool {
        self.w.procs[self.servers[server]].up
    }

    /// Runs `ops`, checking after every step, then the end-of-run liveness checks.
    fn run(&mut self, ops: &[Op]) -> Result<(), String> {
        self.collect()?;
        for (step, op) in ops.iter().enumerate() {
            self.step = step;
            self.apply(op)
                .map_err(|e| format!("step {step} ({op:?}): {e}"))?;
            self.w.drive();
            self.collect()
                .and_then(|()| self.check_step())
                .map_err(|e| format!("after step {step} ({op:?}): {e}"))?;
        }
        self.step = ops.len();
        self.finale().map_err(|e| format!("at the end: {e}"))
    }

    fn apply(&mut self, op: &Op) -> Result<(), String> {
        let now = self.w.now;
        match *op {
            Op::Start(ref start) => self.start(start)?,
            Op::Answer { server, pick, how } => {
                let busy: Vec<usize> = (0..self.n())
                    .filter(|&s| !self.pending[s].is_empty())
                    .collect();
                if let Some(&server) = busy.get(server % busy.len().max(1)) {
                    self.answer(server, pick, how)?;
                }
            }
            Op::Sever { server } => self.w.sever(self.client, self.servers[server % self.n()]),
            Op::Kill { server } => {
                let server = server % self.n();
                if self.up(server) {
                    self.w.kill(self.servers[server]);
                    // The engine is gone; its request ids mean nothing to the next one.
                    self.pending[server].clear();
                    self.last_handed_out.retain(|&(s, _), _| s != server);
                }
            }
            Op::Restart { server } => {
                let down: Vec<usize> = (0..self.n()).filter(|&s| !self.up(s)).collect();
                if let Some(&server) = down.get(server % down.len().max(1)) {
                    self.w.restart(self.servers[server]);
                }
            }
            Op::Hold { proc } => {
                let proc = match proc % (self.n() + 1) {
                    0 => self.client,
                    k => self.servers[k - 1],
                };
                self.w.held.insert(proc);
            }
            Op::Unhold => self.w.held.clear(),
            Op::Advance { millis } => self.w.advance(Duration::from_millis(millis)),
            Op::Cancel { pick } | Op::Finish { pick } => {
                let live: Vec<CallId> = self
                    .calls
                    .iter()
                    .filter(|(_, m)| m.live())
                    .map(|(&id, _)| id)
                    .collect();
                if let Some(&call) = live.get(pick % live.len().max(1)) {
                    if matches!(op, Op::Cancel { .. }) {
                        self.w.ep(self.client).cancel(now, call);
                    } else {
                        self.w.ep(self.client).finish(now, call);
                    }
                    self.calls
                        .get_mut(&call)
                        .expect("a live call is modelled")
                        .dropped = Some((self.step, false));
                }
            }
        }
        Ok(())
    }

    fn start(&mut self, op: &StartOp) -> Result<(), String> {
        let n = u32::try_from(self.n()).expect("a handful of servers");
        let chosen = |mask: u8, k: u32| mask & (1 << (k - 1)) != 0;
        let mut nodes: Vec<NodeId> = (1..=n)
            .filter(|&k| chosen(op.nodes, k))
            .map(NodeId)
            .collect();
        if matches!(op.kind, CallKind::Rpc | CallKind::Unicast) {
            nodes = vec![nodes.first().copied().unwrap_or(NodeId(1))];
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let payload = match op.skip {
            None => Payload::Shared(Bytes::from(request_payload(seq, NodeId(0), true))),
            Some(mask) => Payload::PerNode(
                nodes
                    .iter()
                    .map(|&k| {
                        (!chosen(mask, k.0)).then(|| Bytes::from(request_payload(seq, k, false)))
                    })
                    .collect(),
            ),
        };
        let shares: BTreeMap<NodeId, ShareModel> = nodes
            .iter()
            .map(|&k| {
                let skipped = op.skip.is_some_and(|mask| chosen(mask, k.0));
                let share = if skipped {
                    ShareModel::Skipped
                } else {
                    ShareModel::Waiting
                };
                (k, share)
            })
            .collect();
        let now = self.w.now;
        let mut spec = CallSpec::new(op.kind, format!("test.Props/{:?}", op.kind), nodes, payload);
        spec.deadline = op.deadline_ms.map(|ms| now + Duration::from_millis(ms));
        let started = self
            .w
            .ep(self.client)
            .start_call(now, spec.clone())
            .map_err(|e| format!("start_call refused a valid call: {e}"))?;
        // The harness judges like the API; a call dropped at once is never judged.
        let judged = op
            .quorum
            .filter(|_| op.kind.is_two_way() && op.then == AfterStart::Drive);
        if let Some(quorum) = judged {
            let streaming = op.kind == CallKind::Correctable;
            let skipped = shares
                .values()
                .filter(|&&s| s == ShareModel::Skipped)
                .count();
            let size = (spec.nodes.len(), skipped);
            self.w.judge(self.client, &started, quorum, size, streaming);
        }
        let mut model = CallModel {
            seq,
            kind: op.kind,
            shared_payload: op.skip.is_none(),
            quorum: judged,
            deadline: spec.deadline,
            never_sent: shares
                .iter()
                .filter(|&(_, &s)| s == ShareModel::Skipped)
                .map(|(&k, _)| k)
                .collect(),
            shares,
            items: 0,
            errors: Vec::new(),
            finished: None,
            dropped: None,
        };
        for failure in started.send_failures {
            let share = model.shares.get(&failure.node).copied();
            ensure!(
                share == Some(ShareModel::Waiting),
                "send failure for {} whose share is {share:?}",
                failure.node
            );
            model.never_sent.insert(failure.node);
            model.fail(failure.node, failure.failure);
        }
        match op.then {
            AfterStart::Drive => {}
            AfterStart::CancelAtOnce => {
                self.w.ep(self.client).cancel(now, started.id);
                // One-way calls keep no state once enqueued: nothing to take back.
                if op.kind.is_two_way() {
                    self.taken_back.insert(seq);
                }
                model.dropped = Some((self.step, true));
            }
            AfterStart::FinishAtOnce => {
                self.w.ep(self.client).finish(now, started.id);
                model.dropped = Some((self.step, true));
            }
        }
        ensure!(
            !self.calls.contains_key(&started.id),
            "call id {:?} reused",
            started.id
        );
        self.calls.insert(started.id, model);
        self.by_seq.insert(seq, started.id);
        Ok(())
    }

    /// Server `server` acts on its `pick`-th pending request as `how` says, or as near
    /// as the request's kind allows; the request stays pending only if it is still open.
    fn answer(&mut self, server: usize, pick: usize, how: How) -> Result<(), String> {
        let queue = &mut self.pending[server];
        if queue.is_empty() {
            return Ok(());
        }
        let index = pick % queue.len();
        let request = queue[index].request.clone();
        let echo = Bytes::from(format!(
            "{}:{}",
            String::from_utf8_lossy(&request.payload),
            self.node_of(server).0
        ));
        let status = || Status::new(Code::Aborted, String::from_utf8_lossy(&echo));
        let now = self.w.now;
        let ep = &mut self.w.procs[self.servers[server]].ep;
        let outcome = match (request.kind, how) {
            (_, How::Release) => {
                ep.release(now, request.id);
                self.pending[server][index].released = true;
                return Ok(());
            }
            (RequestKind::OneWay, _) => ep.respond(now, request.id, Ok(Bytes::new())),
            (RequestKind::Unary, How::ErrorStatus | How::EndStreamWithError)
            | (RequestKind::Stream, How::ErrorStatus) => ep.respond(now, request.id, Err(status())),
            (RequestKind::Unary, _) | (RequestKind::Stream, How::Reply) => {
                ep.respond(now, request.id, Ok(echo.clone()))
            }
            (RequestKind::Stream, How::Item) => {
                match ep.send_item(now, request.id, echo.clone()) {
                    // An item leaves the stream open.
                    Ok(()) => return Ok(()),
                    Err(e) => Err(e),
                }
            }
            (RequestKind::Stream, How::EndStream) => ep.end_stream(now, request.id, Ok(())),
            (RequestKind::Stream, How::EndStreamWithError) => {
                ep.end_stream(now, request.id, Err(status()))
            }
        };
        match outcome {
            // The requester's connection closed under the request: nothing to answer.
            Ok(()) | Err(UsageError::ConnectionClosed) => {}
            Err(e) => return Err(format!("server {} refused {request:?}: {e}", server + 1)),
        }
        self.pending[server].remove(index);
        Ok(())
    }

    /// Drains every process's log into the model and the trace.
    fn collect(&mut self) -> Result<(), String> {
        let procs: Vec<usize> = (0..self.w.procs.len()).collect();
        for p in procs {
            for event in std::mem::take(&mut self.w.procs[p].log) {
                self.trace.push((p, event.clone()));
                match event {
                    Event::Call { call, event } if p == self.client => {
                        self.on_call_event(call, event)?;
                    }
                    Event::Request(request) => {
                        let server = self
                            .servers
                            .iter()
                            .position(|&s| s == p)
                            .ok_or("the client was handed a request")?;
                        self.on_request(server, request)?;
                    }
                    Event::Call { .. } => return Err(format!("server process {p} got {event:?}")),
                    _ => {}
                }
            }
        }
        Ok(())
    }

    fn on_call_event(&mut self, call: CallId, event: CallEvent) -> Result<(), String> {
        let now = self.w.now;
        let step = self.step;
        let model = self
            .calls
            .get_mut(&call)
            .ok_or(format!("event for unknown {call:?}: {event:?}"))?;
        ensure!(
            model.kind.is_two_way(),
            "one-way {call:?} got an event: {event:?}"
        );
        ensure!(
            model.finished.is_none(),
            "{call:?} got {event:?} after it finished"
        );
        if let Some((at, at_once)) = model.dropped {
            // Only a `Finished` that `start_call` itself queued may still come out.
            let queued_by_start = at_once && at == step && matches!(event, CallEvent::Finished(_));
            ensure!(
                queued_by_start,
                "{call:?} got {event:?} after the test dropped it"
            );
        }
        let streaming = model.kind == CallKind::Correctable;
        match event {
            CallEvent::Reply { node, result } => {
                ensure!(!streaming, "correctable {call:?} got a Reply from {node}");
                let share = model.shares.get(&node).copied();
                ensure!(
                    share == Some(ShareModel::Waiting),
                    "{call:?} got a reply from {node} whose share is {share:?}"
                );
                match result {
                    Ok(payload) => {
                        ensure!(
                            payload == model.echo(node),
                            "{call:?} got reply {payload:?} from {node}, expected {:?}",
                            model.echo(node)
                        );
                        model.shares.insert(node, ShareModel::Replied);
                    }
                    Err(failure) => {
                        check_failure(model, node, &failure)?;
                        model.fail(node, failure);
                    }
                }
            }
            CallEvent::Item { node, payload } => {
                ensure!(streaming, "plain {call:?} got an Item from {node}");
                let share = model.shares.get(&node).copied();
                ensure!(
                    matches!(share, Some(ShareModel::Waiting | ShareModel::Streaming)),
                    "{call:?} got an item from {node} whose share is {share:?}"
                );
                ensure!(
                    payload == model.echo(node),
                    "{call:?} got item {payload:?} from {node}, expected {:?}",
                    model.echo(node)
                );
                model.shares.insert(node, ShareModel::Streaming);
                model.items += 1;
            }
            CallEvent::End { node, result } => {
                ensure!(streaming, "plain {call:?} got an End from {node}");
                let share = model.shares.get(&node).copied();
                ensure!(
                    matches!(share, Some(ShareModel::Waiting | ShareModel::Streaming)),
                    "{call:?} got an end from {node} whose share is {share:?}"
                );
                match result {
                    Ok(()) => {
                        model.shares.insert(node, ShareModel::Ended);
                    }
                    Err(failure) => {
                        check_failure(model, node, &failure)?;
                        model.fail(node, failure);
                    }
                }
            }
            CallEvent::Finished(result) => {
                let decided = model.decided();
                match &result {
                    Ok(()) => ensure!(
                        decided == Decided::Met,
                        "{call:?} finished Ok but the model says {decided:?}: {model:?}"
                    ),
                    Err(err) => {
                        match err.cause {
                            Cause::Incomplete => ensure!(
                                decided == Decided::Impossible,
                                "{call:?} finished Incomplete but the model says {decided:?}"
                            ),
                            Cause::DeadlineExceeded => ensure!(
                                decided == Decided::Pending
                                    && model.deadline.is_some_and(|d| d <= now),
                                "{call:?} finished DeadlineExceeded at {now:?} \
                                 (deadline {:?}, model says {decided:?})",
                                model.deadline
                            ),
                            other => return Err(format!("{call:?} finished with {other:?}")),
                        }
                        let mut expected = model.errors.clone();
                        if err.cause == Cause::DeadlineExceeded {
                            // The nodes still owing their reply are named as stalled.
                            expected.extend(
                                model
                                    .shares
                                    .iter()
                                    .filter(|(_, s)| **s == ShareModel::Waiting)
                                    .map(|(&node, _)| NodeError {
                                        node,
                                        failure: NodeFailure::NoReply,
                                    }),
                            );
                        }
                        expected.sort_by_key(|e| e.node);
                        ensure!(
                            err.node_errors == expected,
                            "{call:?} lists node errors {:?}, expected {expected:?}",
                            err.node_errors
                        );
                    }
                }
                model.finished = Some(result);
            }
            other => return Err(format!("{call:?} got an unknown event {other:?}")),
        }
        Ok(())
    }

    fn on_request(&mut self, server: usize, request: Request) -> Result<(), String> {
        let me = self.node_of(server);
        let (seq, intended) = parse_request_payload(&request.payload)
            .ok_or(format!("{me} got a foreign payload {:?}", request.payload))?;
        let call = self
            .by_seq
            .get(&seq)
            .ok_or(format!("{me} got a request of unknown call c{seq}"))?;
        let model = &self.calls[call];
        ensure!(
            intended.is_none_or(|k| k == me.0),
            "{me} got the request meant for node {intended:?}"
        );
        ensure!(
            model.shares.contains_key(&me) && !model.never_sent.contains(&me),
            "{me} got c{seq} though it was not sent to it (not called, skipped, or failed \
             at send)"
        );
        ensure!(
            request.kind == expected_request_kind(model.kind),
            "{me} got c{seq} ({:?}) as a {:?} request",
            model.kind,
            request.kind
        );
        ensure!(
            !self.taken_back.contains(&seq),
            "{me} got c{seq}, cancelled before the driver took it"
        );
        ensure!(self.delivered.insert((seq, me)), "{me} got c{seq} twice");
        let key = (server, request.id.conn);
        if let Some(&last) = self.last_handed_out.get(&key) {
            ensure!(
                request.id.msg > last,
                "{me} was handed {:?} after {last:?} on {}: not in issue order",
                request.id.msg,
                request.id.conn
            );
        }
        self.last_handed_out.insert(key, request.id.msg);
        self.pending[server].push(Pending {
            request,
            released: false,
        });
        Ok(())
    }

    /// Invariants that must hold whenever the world is quiet.
    fn check_step(&mut self) -> Result<(), String> {
        let now = self.w.now;
        for (call, model) in &self.calls {
            if !model.live() {
                continue;
            }
            let decided = model.decided();
            ensure!(
                decided == Decided::Pending,
                "{call:?} is {decided:?} by its replies but not finished: {model:?}"
            );
            if let Some(deadline) = model.deadline {
                ensure!(
                    deadline > now,
                    "{call:?} outlived its deadline {deadline:?} (now {now:?})"
                );
            }
        }
        let live = self.calls.values().filter(|m| m.live()).count();
        let held = self.w.procs[self.client].ep.live_calls();
        ensure!(
            held == live,
            "the engine holds {held} calls, the model has {live} live"
        );
        for (server, queue) in self.pending.iter().enumerate() {
            let mut holding_turn: BTreeMap<ConnId, usize> = BTreeMap::new();
            for p in queue.iter().filter(|p| !p.released) {
                *holding_turn.entry(p.request.id.conn).or_default() += 1;
            }
            for (conn, count) in holding_turn {
                ensure!(
                    count <= 1,
                    "server {} has {count} unreleased requests from {conn}: not one at a time",
                    server + 1
                );
            }
        }
        Ok(())
    }

    /// Lets everything settle, then checks that no call was left behind.
    fn finale(&mut self) -> Result<(), String> {
        self.w.held.clear();
        self.w.drive();
        self.collect()?;
        self.check_step()?;
        // Answer every request, including those each answer lets through, until none is
        // left on a live server.
        for _ in 0..100_000 {
            let Some(server) = (0..self.n()).find(|&s| self.up(s) && !self.pending[s].is_empty())
            else {
                break;
            };
            let how = match self.pending[server][0].request.kind {
                RequestKind::Stream => How::EndStream,
                _ => How::Reply,
            };
            self.answer(server, 0, how)?;
            self.w.drive();
            self.collect()?;
            self.check_step()?;
        }
        for (call, model) in &self.calls {
            ensure!(
                !model.live(),
                "{call:?} still waits though every request was answered and nothing is \
                 held: {model:?}"
            );
        }
        for s in self.servers.clone() {
            self.w.sever(self.client, s);
        }
        let last_deadline = self.calls.values().filter_map(|m| m.deadline).max();
        let wait = last_deadline.map_or(Duration::ZERO, |d| d - self.w.now);
        self.w.advance(wait + Duration::from_secs(1));
        self.collect()?;
        self.check_step()?;
        for (call, model) in &self.calls {
            ensure!(
                !model.kind.is_two_way() || model.dropped.is_some() || model.finished.is_some(),
                "{call:?} never finished: {model:?}"
            );
        }
        let held = self.w.procs[self.client].ep.live_calls();
        ensure!(held == 0, "the client still holds {held} calls");
        Ok(())
    }
}

/// A failed share must be either the node's own error status for this call or a
/// connection failure.
fn check_failure(model: &CallModel, node: NodeId, failure: &NodeFailure) -> Result<(), String> {
    match failure {
        NodeFailure::Status(status) => ensure!(
            status.code == Code::Aborted && status.message == model.echo(node),
            "c{} got status {status:?} from {node}, expected its echo {:?}",
            model.seq,
            model.echo(node)
        ),
        NodeFailure::ConnectionLost(_) | NodeFailure::NotConnected(_) => {}
        other => return Err(format!("c{} failed at {node} with {other:?}", model.seq)),
    }
    Ok(())
}

fn config(default_cases: u32) -> ProptestConfig {
    let mut config = ProptestConfig {
        // The default (`SourceParallel`) looks for a lib.rs above the test file, which an
        // integration test has not; tests run in the package root, so this lands in
        // gorums-core/proptest-regressions/.
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/engine_props.txt",
        ))),
        ..ProptestConfig::default()
    };
    // `ProptestConfig::default()` already read PROPTEST_CASES; fill in our own default
    // only when it is unset (`with_cases` would override the variable).
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = default_cases;
    }
    config
}

proptest! {
    #![proptest_config(config(256))]

    /// A random interleaving of calls, replies, streams, releases, link failures,
    /// crashes, held bytes and clock moves never misroutes a reply, item or error,
    /// never reports a node twice or after the end, decides every call exactly when its
    /// replies decide it (or at its deadline), and leaves no call unfinished.
    #[test]
    fn random_interleavings_route_every_reply_and_finish_every_call(
        n in 3u32..=5,
        seed in any::<u64>(),
        ops in prop::collection::vec(op_strategy(), 1..120),
    ) {
        Run::new(n, seed).run(&ops).map_err(TestCaseError::fail)?;
    }
}

proptest! {
    #![proptest_config(config(64))]

    /// The same inputs give the same outputs: two runs of one sequence drain identical
    /// events from every process, and end with the same node statistics.
    #[test]
    fn the_same_steps_give_the_same_events(
        n in 3u32..=5,
        seed in any::<u64>(),
        ops in prop::collection::vec(op_strategy(), 1..120),
    ) {
        let mut first = Run::new(n, seed);
        let mut second = Run::new(n, seed);
        let first_outcome = first.run(&ops);
        let second_outcome = second.run(&ops);
        prop_assert_eq!(first_outcome, second_outcome);
        prop_assert_eq!(first.trace.len(), second.trace.len());
        for (i, (a, b)) in first.trace.iter().zip(&second.trace).enumerate() {
            prop_assert_eq!(a, b, "event {} differs", i);
        }
        for k in 1..=n {
            let a = first.w.procs[first.client].ep.node_info(NodeId(k));
            let b = second.w.procs[second.client].ep.node_info(NodeId(k));
            prop_assert_eq!(a, b, "node {} statistics differ", k);
        }
    }
}
