//! [`Adversary`]: a quorum-aware network adversary a test picks in
//! [`SimConfig::adversary`](crate::SimConfig::adversary). It sees every frame the
//! simulated network carries (decoded with gorums-core's [`FrameDecoder`]: a request or
//! a reply, its method, payload and message id) together with what the API told the
//! runtime when the call started ([`Runtime::call_started`]: its nodes and threshold,
//! which the wire does not carry), and chooses per frame how long it lags
//! ([`Hold`]). Built in: [`StalestFirst`] (the stale replica's replies first, the test
//! naming it or a version function finding it), [`HoldCompleting`] (the reply that
//! would complete a quorum held back), [`HoldUntilNextCall`] (one node's replies held
//! until the caller's next call); a user writes their own [`AdversaryPolicy`].
//!
//! Each direction of a connection stays FIFO: a held frame holds every later byte on
//! that direction (as TCP would), whichever call they belong to. Every hold is bounded
//! by [`Adversary::max_hold`], so a call the adversary delays still ends. Choices are
//! deterministic: a policy draws only from the `rng` it is handed (the run's own
//! adversary stream), and each choice is recorded ([`Sim::adversary_log`](crate::Sim::adversary_log))
//! where the frame was ([`FramePos`]); [`Adversary::replay`] plays a log back without the
//! policy.
//!
//! [`Runtime::call_started`]: gorums_core::runtime::Runtime::call_started

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use gorums_core::engine::{CallKind, MsgId, NodeId};
use gorums_core::runtime::CallStart;
use gorums_core::wire::proto::Kind;
use gorums_core::wire::{DEFAULT_MAX_FRAME_LEN, FrameDecoder, decode_message};

use crate::ids::ProcessId;
use crate::rng::SimRng;

/// How long a frame lags beyond its link's latency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hold {
    /// No extra lag.
    Deliver,
    /// This much more (at most [`Adversary::max_hold`]).
    For(Duration),
    /// Until the receiving process starts its next call (at most
    /// [`Adversary::max_hold`]): the frame reaches it just after its next requests
    /// leave.
    UntilNextCall,
}

/// What a frame is, from its envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameKind {
    /// A request expecting one reply (RPC or quorum call).
    Request,
    /// A request whose replies stream (correctable call).
    StreamRequest,
    /// A reply (or the single reply of a stream).
    Reply,
    /// One item of a reply stream.
    StreamItem,
    /// The end of a reply stream.
    StreamEnd,
    /// A one-way message.
    OneWay,
    /// Anything else (a kind this simulator does not know).
    Other,
}

impl FrameKind {
    fn of(kind: i32) -> FrameKind {
        match Kind::try_from(kind) {
            Ok(Kind::Request) => FrameKind::Request,
            Ok(Kind::StreamRequest) => FrameKind::StreamRequest,
            Ok(Kind::Reply) => FrameKind::Reply,
            Ok(Kind::StreamItem) => FrameKind::StreamItem,
            Ok(Kind::StreamEnd) => FrameKind::StreamEnd,
            Ok(Kind::OneWay) => FrameKind::OneWay,
            _ => FrameKind::Other,
        }
    }

    /// Whether the frame answers a call (a reply, a stream item or a stream's end).
    pub fn is_reply(self) -> bool {
        matches!(
            self,
            FrameKind::Reply | FrameKind::StreamItem | FrameKind::StreamEnd
        )
    }

    /// Whether the frame starts a call's share on one node.
    pub fn is_request(self) -> bool {
        matches!(self, FrameKind::Request | FrameKind::StreamRequest)
    }
}

/// A call as the adversary knows it: what the API announced as it started, and what
/// the network has carried of it since.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallView {
    /// The calling process.
    pub caller: ProcessId,
    /// The call's id at its caller (its message id, without the acceptor bit).
    pub id: u64,
    /// The call type.
    pub kind: CallKind,
    /// The full method name.
    pub method: String,
    /// The nodes of the call's configuration.
    pub nodes: Vec<NodeId>,
    /// The successes that end it, if the caller said (see
    /// [`CallStart::threshold`]).
    pub threshold: Option<usize>,
    /// The processes a request of the call was written to, in write order.
    pub requested: Vec<ProcessId>,
    /// The processes whose replies were written so far, in write order (the frame being
    /// decided not included).
    pub replied: Vec<ProcessId>,
    /// How many of those replies were successes.
    pub succeeded: usize,
}

impl CallView {
    /// Whether a successful reply written now would be the one that completes the
    /// threshold (or a later one), counting the successes written before it.
    pub fn would_complete(&self) -> bool {
        self.threshold.is_some_and(|k| self.succeeded + 1 >= k)
    }
}

/// Where a frame was on the network: the same in every run of a seed that carries the
/// same bytes, so a recorded choice finds its frame again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FramePos {
    /// The simulator's number of the connection.
    pub conn: u64,
    /// Its direction: 0 from the dialler, 1 from the acceptor.
    pub dir: u8,
    /// The frame's index on that direction (the hello is frame 0).
    pub index: u64,
}

/// One frame on its way, as a policy sees it.
#[derive(Debug)]
#[non_exhaustive]
pub struct WireFrame<'a> {
    /// Virtual time of the write.
    pub now: Duration,
    /// The writing process.
    pub from: ProcessId,
    /// The process it goes to.
    pub to: ProcessId,
    /// Where it is on the network.
    pub pos: FramePos,
    /// What it is.
    pub kind: FrameKind,
    /// The full method name (a reply's is its call's: replies carry none on the wire).
    pub method: &'a str,
    /// Whether it carries no error status (a failed reply counts as its node's failure).
    pub ok: bool,
    /// The encoded request or reply.
    pub payload: &'a [u8],
    /// The call it belongs to, if its caller announced it (every two-way call made
    /// through the API is).
    pub call: Option<&'a CallView>,
}

/// A user-written adversary: decides each frame's lag. It must be deterministic: draw
/// only from `rng`, iterate nothing in a random order.
pub trait AdversaryPolicy: Send {
    /// How long `frame` lags beyond its link's latency.
    fn decide(&mut self, frame: &WireFrame<'_>, rng: &mut SimRng) -> Hold;

    /// A call has started (before any of its frames is written). The default ignores
    /// it.
    fn call_started(&mut self, call: &CallView) {
        let _ = call;
    }
}

type MakePolicy = Arc<dyn Fn() -> Box<dyn AdversaryPolicy> + Send + Sync>;

/// The adversary of a run: a policy (made afresh for each simulation) and the bound on
/// every hold.
#[derive(Clone)]
pub struct Adversary {
    make: MakePolicy,
    /// The longest any frame is held beyond its latency (a hold asked for longer is cut
    /// to this), so a call the adversary delays still ends: liveness stays.
    pub max_hold: Duration,
    name: String,
}

impl fmt::Debug for Adversary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Adversary")
            .field("policy", &self.name)
            .field("max_hold", &self.max_hold)
            .finish_non_exhaustive()
    }
}

/// The bound on holds [`Adversary::new`] sets.
pub const DEFAULT_MAX_HOLD: Duration = Duration::from_millis(50);

impl Adversary {
    /// An adversary whose policy `make` builds, once per simulation (so two runs of one
    /// seed start from the same state); holds at most [`DEFAULT_MAX_HOLD`].
    pub fn new<P: AdversaryPolicy + 'static>(
        name: impl Into<String>,
        make: impl Fn() -> P + Send + Sync + 'static,
    ) -> Adversary {
        Adversary {
            make: Arc::new(move || Box::new(make())),
            max_hold: DEFAULT_MAX_HOLD,
            name: name.into(),
        }
    }

    /// This adversary with holds bounded by `max_hold`.
    pub fn with_max_hold(mut self, max_hold: Duration) -> Adversary {
        self.max_hold = max_hold;
        self
    }

    /// Plays `log` (a [`Sim::adversary_log`](crate::Sim::adversary_log)) back: each
    /// recorded frame gets its recorded hold, every other frame none. A run of the same
    /// seed with it is the recorded run, without the policy.
    pub fn replay(log: &[AdversaryChoice]) -> Adversary {
        let choices: BTreeMap<FramePos, Hold> = log.iter().map(|c| (c.pos, c.hold)).collect();
        Adversary::new("replay", move || Replay(choices.clone()))
    }

    /// The policy's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// One choice the adversary made: a frame it held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdversaryChoice {
    /// When the frame was written.
    pub at: Duration,
    /// Where it was.
    pub pos: FramePos,
    /// Its writer and receiver.
    pub from: ProcessId,
    /// The receiving process.
    pub to: ProcessId,
    /// The hold chosen (never [`Hold::Deliver`]: those are not recorded).
    pub hold: Hold,
}

/// Replays recorded choices.
struct Replay(BTreeMap<FramePos, Hold>);

impl AdversaryPolicy for Replay {
    fn decide(&mut self, frame: &WireFrame<'_>, _rng: &mut SimRng) -> Hold {
        self.0.get(&frame.pos).copied().unwrap_or(Hold::Deliver)
    }
}

/// The version a reply reports, from its method and payload (`None`: it reports none).
pub type VersionOf = Arc<dyn Fn(&str, &[u8]) -> Option<u64> + Send + Sync>;

#[derive(Clone)]
enum Stale {
    Replica(ProcessId),
    Version(VersionOf),
}

/// Stalest replicas first: a call's replies from the stale replica go at once, the
/// others' lag by `hold`, so a caller that takes the first replies takes the stalest.
/// The stale replica is named ([`replica`](Self::replica)) or learned: the replica
/// whose last reply reported the lowest version ([`by_version`](Self::by_version); the
/// lowest process among equals).
/// With [`lagging`](Self::lagging), requests of one method (the writes) reach the stale
/// replica late, so it stays stale while the others move on.
#[derive(Clone)]
pub struct StalestFirst {
    stale: Stale,
    hold: Duration,
    lag: Option<(String, Duration)>,
    versions: BTreeMap<ProcessId, u64>,
}

impl StalestFirst {
    /// Process `replica` is the stale one.
    pub fn replica(replica: ProcessId, hold: Duration) -> StalestFirst {
        StalestFirst {
            stale: Stale::Replica(replica),
            hold,
            lag: None,
            versions: BTreeMap::new(),
        }
    }

    /// The stalest is the process whose last reply reported the lowest version, as
    /// `version` reads it from a reply's method and payload (the lowest process among
    /// equals; a process that has not replied yet is not a candidate).
    pub fn by_version(
        version: impl Fn(&str, &[u8]) -> Option<u64> + Send + Sync + 'static,
        hold: Duration,
    ) -> StalestFirst {
        StalestFirst {
            stale: Stale::Version(Arc::new(version)),
            hold,
            lag: None,
            versions: BTreeMap::new(),
        }
    }

    /// This policy with requests of `method` to the stale replica held `lag`.
    pub fn lagging(mut self, method: impl Into<String>, lag: Duration) -> StalestFirst {
        self.lag = Some((method.into(), lag));
        self
    }

    fn is_stalest(&self, p: ProcessId) -> bool {
        match &self.stale {
            Stale::Replica(r) => *r == p,
            Stale::Version(_) => {
                // One stalest replica: the lowest version, the lowest process among
                // equals (so replicas that start level do not all count as stale).
                let stalest = self.versions.iter().min_by_key(|(p, v)| (**v, **p));
                stalest.is_some_and(|(q, _)| *q == p)
            }
        }
    }
}

impl AdversaryPolicy for StalestFirst {
    fn decide(&mut self, frame: &WireFrame<'_>, _rng: &mut SimRng) -> Hold {
        if frame.call.is_none() {
            return Hold::Deliver;
        }
        if frame.kind.is_reply() {
            if let Stale::Version(version) = &self.stale
                && let Some(v) = version(frame.method, frame.payload)
            {
                self.versions.insert(frame.from, v);
            }
            if self.is_stalest(frame.from) {
                Hold::Deliver
            } else {
                Hold::For(self.hold)
            }
        } else if let Some((method, lag)) = &self.lag
            && frame.kind.is_request()
            && frame.method == method
            && self.is_stalest(frame.to)
        {
            Hold::For(*lag)
        } else {
            Hold::Deliver
        }
    }
}

/// The reply that would complete a call's threshold held back by `hold` (and every
/// successful reply after it), so the caller waits with its quorum one short. With
/// [`requests_too`](Self::requests_too), the requests that would complete it are held
/// as well (the `k`th and later of a call with threshold `k`): the first `k - 1`
/// nodes see the call `hold` before the others do (a write reaches one replica of three
/// first, say). [`only`](Self::only) limits it to the calls of one method.
#[derive(Clone, Debug)]
pub struct HoldCompleting {
    hold: Duration,
    requests: bool,
    method: Option<String>,
}

impl HoldCompleting {
    /// Completing replies held `hold`.
    pub fn new(hold: Duration) -> HoldCompleting {
        HoldCompleting {
            hold,
            requests: false,
            method: None,
        }
    }

    /// This policy holding completing requests too.
    pub fn requests_too(mut self) -> HoldCompleting {
        self.requests = true;
        self
    }

    /// This policy for the calls of `method` alone.
    pub fn only(mut self, method: impl Into<String>) -> HoldCompleting {
        self.method = Some(method.into());
        self
    }
}

impl AdversaryPolicy for HoldCompleting {
    fn decide(&mut self, frame: &WireFrame<'_>, _rng: &mut SimRng) -> Hold {
        let Some(call) = frame.call else {
            return Hold::Deliver;
        };
        if self.method.as_ref().is_some_and(|m| *m != call.method) {
            return Hold::Deliver;
        }
        let completing = if frame.kind.is_reply() {
            frame.ok && call.would_complete()
        } else {
            self.requests
                && frame.kind.is_request()
                && call
                    .threshold
                    .is_some_and(|k| call.requested.len() + 1 >= k)
        };
        if completing {
            Hold::For(self.hold)
        } else {
            Hold::Deliver
        }
    }
}

/// Replies from `node` held until their caller's next call (or the bound).
#[derive(Clone, Copy, Debug)]
pub struct HoldUntilNextCall {
    /// The node whose replies lag.
    pub node: ProcessId,
}

impl AdversaryPolicy for HoldUntilNextCall {
    fn decide(&mut self, frame: &WireFrame<'_>, _rng: &mut SimRng) -> Hold {
        if frame.kind.is_reply() && frame.from == self.node && frame.call.is_some() {
            Hold::UntilNextCall
        } else {
            Hold::Deliver
        }
    }
}

/// One direction's frame boundaries.
struct PipeFrames {
    /// `None` once the bytes stopped decoding (then nothing more is held there).
    decoder: Option<FrameDecoder>,
    frames: u64,
}

/// The adversary at work in one simulation: its policy, the calls announced, each
/// direction's decoder, the choices made.
pub(crate) struct AdversaryState {
    policy: Box<dyn AdversaryPolicy>,
    max_hold: u64,
    /// Calls by (caller, id); a call is forgotten once every node replied (or its
    /// caller starts another call with the same id: a restarted process).
    calls: BTreeMap<(ProcessId, u64), CallView>,
    pipes: BTreeMap<(u64, u8), PipeFrames>,
    pub(crate) log: Vec<AdversaryChoice>,
}

/// What the adversary chose for one write: extra nanoseconds, and whether it waits for
/// the receiver's next call.
#[derive(Clone, Copy, Default)]
pub(crate) struct WriteHold {
    pub(crate) extra: u64,
    pub(crate) until_call: bool,
}

impl AdversaryState {
    /// The state for `adversary`, its policy freshly made.
    pub(crate) fn new(adversary: &Adversary) -> AdversaryState {
        AdversaryState {
            policy: (adversary.make)(),
            max_hold: u64::try_from(adversary.max_hold.as_nanos()).unwrap_or(u64::MAX),
            calls: BTreeMap::new(),
            pipes: BTreeMap::new(),
            log: Vec::new(),
        }
    }

    /// The bound on holds, in nanoseconds.
    pub(crate) fn max_hold(&self) -> u64 {
        self.max_hold
    }

    /// `caller` announced `call`.
    pub(crate) fn call_started(&mut self, caller: ProcessId, call: &CallStart<'_>) {
        let view = CallView {
            caller,
            id: call.id.0 & !MsgId::ACCEPTOR_BIT,
            kind: call.kind,
            method: call.method.to_owned(),
            nodes: call.nodes.to_vec(),
            threshold: call.threshold,
            requested: Vec::new(),
            replied: Vec::new(),
            succeeded: 0,
        };
        self.policy.call_started(&view);
        self.calls.insert((caller, view.id), view);
    }

    /// Decodes what `from` writes to `to` on `conn`'s direction `dir` and asks the
    /// policy about each frame it completes; the write lags as its longest hold.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn observe(
        &mut self,
        now: u64,
        conn: u64,
        dir: u8,
        from: ProcessId,
        to: ProcessId,
        bytes: &[u8],
        rng: &mut SimRng,
    ) -> WriteHold {
        let mut hold = WriteHold::default();
        let pipe = self.pipes.entry((conn, dir)).or_insert_with(|| PipeFrames {
            decoder: Some(FrameDecoder::new(DEFAULT_MAX_FRAME_LEN)),
            frames: 0,
        });
        let Some(decoder) = pipe.decoder.as_mut() else {
            return hold;
        };
        decoder.push(bytes);
        let mut bodies = Vec::new();
        loop {
            match decoder.next_frame() {
                Ok(Some(body)) => {
                    bodies.push((pipe.frames, body));
                    pipe.frames += 1;
                }
                Ok(None) => break,
                Err(_) => {
                    pipe.decoder = None;
                    break;
                }
            }
        }
        for (index, body) in bodies {
            // Frame 0 is the connection's hello.
            if index == 0 {
                continue;
            }
            let Ok(message) = decode_message(body) else {
                continue;
            };
            let kind = FrameKind::of(message.kind);
            let id = message.message_seq_no & !MsgId::ACCEPTOR_BIT;
            // A request's caller writes it; a reply goes to its caller.
            let caller = if kind.is_reply() { to } else { from };
            let call = self.calls.get(&(caller, id));
            // Replies carry no method on the wire: theirs is their call's.
            let method = match (message.method.is_empty(), call) {
                (true, Some(call)) => std::borrow::Cow::Borrowed(call.method.as_str()),
                _ => String::from_utf8_lossy(&message.method),
            };
            let ok = message.status.as_ref().is_none_or(|s| s.code == 0);
            let pos = FramePos { conn, dir, index };
            let frame = WireFrame {
                now: Duration::from_nanos(now),
                from,
                to,
                pos,
                kind,
                method: &method,
                ok,
                payload: &message.payload,
                call,
            };
            let chosen = self.policy.decide(&frame, rng);
            if let Some(call) = self.calls.get_mut(&(caller, id)) {
                if kind.is_request() {
                    call.requested.push(to);
                } else if matches!(kind, FrameKind::Reply | FrameKind::StreamEnd) {
                    call.replied.push(from);
                    call.succeeded += usize::from(ok);
                    if call.replied.len() >= call.nodes.len() {
                        self.calls.remove(&(caller, id));
                    }
                }
            }
            match chosen {
                Hold::Deliver => continue,
                Hold::For(d) => {
                    let d = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
                    hold.extra = hold.extra.max(d.min(self.max_hold));
                }
                Hold::UntilNextCall => hold.until_call = true,
            }
            self.log.push(AdversaryChoice {
                at: Duration::from_nanos(now),
                pos,
                from,
                to,
                hold: chosen,
            });
        }
        hold
    }
}

/// Shrinks a failing run's adversary choices (a [`Sim::adversary_log`](crate::Sim::adversary_log))
/// by delta debugging: keeps removing choices while `test(choices)` still fails (an
/// `Err`), and returns the choices left with the number of test runs. `test` must run
/// the same seed with [`Adversary::replay`] of the choices it is given in place of the
/// policy. The result is 1-minimal: without any one of its choices the run passes. A
/// choice left out is a frame delivered at its link's latency; the frames a choice
/// names are found again by position, so one that no longer exists is simply unused.
pub fn shrink_adversary_log(
    log: &[AdversaryChoice],
    mut test: impl FnMut(&[AdversaryChoice]) -> Result<(), String>,
) -> (Vec<AdversaryChoice>, usize) {
    let mut runs = 0;
    let mut fails = |choices: &[AdversaryChoice]| {
        runs += 1;
        test(choices).is_err()
    };
    let mut left = log.to_vec();
    let mut parts = 2;
    while left.len() >= 2 {
        let chunk = left.len().div_ceil(parts);
        let mut reduced = false;
        for start in (0..left.len()).step_by(chunk) {
            let end = (start + chunk).min(left.len());
            // The part alone, then everything but the part.
            let part = left[start..end].to_vec();
            if part.len() < left.len() && fails(&part) {
                left = part;
                parts = 2;
                reduced = true;
                break;
            }
            let mut rest = left[..start].to_vec();
            rest.extend_from_slice(&left[end..]);
            if fails(&rest) {
                left = rest;
                parts = (parts - 1).max(2);
                reduced = true;
                break;
            }
        }
        if !reduced {
            if parts >= left.len() {
                break;
            }
            parts = (parts * 2).min(left.len());
        }
    }
    if left.len() == 1 && fails(&[]) {
        left.clear();
    }
    (left, runs)
}
