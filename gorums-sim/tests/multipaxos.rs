//! Multi-Paxos (a replicated log) written with quorum calls through the public API
//! (untyped calls, prost messages), run on the simulator under random partitions,
//! resets, crashes and restarts, checked over many seeds.
//!
//! Three acceptors keep a promised ballot and, per slot, the (ballot, value) they last
//! accepted, in a log on their simulated disk (each record synced before the reply it backs; a crash loses what was not synced). Three proposers each append their own
//! commands: a proposer runs phase 1 once for every slot (the promise carries the
//! acceptor's whole log), then phase 2 slot by slot from slot 0 (skipping the slots it
//! learned chosen), proposing the value of the highest ballot a promise reported for the
//! slot, else its next command (a no-op in a gap), and goes back to phase 1 with a higher
//! ballot when a slot is not accepted by a majority.
//!
//! The oracle is on the acceptor side: every accept is a vote for (slot, ballot, value),
//! and a value is chosen in a slot when a majority voted for it in one ballot, whether
//! or not a proposer heard of it. Checked: (1) agreement, at most one value chosen per
//! slot; (2) validity, every chosen value is a command some proposer was given (or a
//! no-op); and what proposers learned from a majority of accept replies was chosen.
//! And what clients see (`check_log`): every command a proposer reported appended is in
//! the chosen log, and a command reported before another was given sits before it.
//! Three broken variants are caught: acceptors that forget everything at a restart,
//! proposers that skip phase 1's value adoption, and proposers that report a command
//! appended when they propose it rather than when a majority accepted it (which only
//! the clients' view catches).

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{add_acceptor_with_disk, add_proposer, next};
use gorums_sim::{
    Code, Configuration, Coverage, DiskHandle, Fault, LogAppend, ProcessOptions, RuntimeHandle,
    Schedule, ServerCtx, SimRng, Status, System, check_log, run_seeds_parallel,
};

const PREPARE: &str = "multipaxos.Acceptor.Prepare";
const ACCEPT: &str = "multipaxos.Acceptor.Accept";
const ACCEPTORS: u32 = 3;
const PROPOSERS: u64 = 3;
/// Commands each proposer appends.
const COMMANDS: u64 = 3;
/// Phase 1 attempts per proposer.
const ROUNDS: u64 = 16;
/// What a proposer puts in a gap below the highest slot a promise reported.
const NOOP: u64 = 1;

/// Proposer `id`'s `k`th command (`k` from 1).
fn command(id: u64, k: u64) -> u64 {
    id * 1000 + k
}

#[derive(Clone, PartialEq, prost::Message)]
struct Prepare {
    #[prost(uint64, tag = "1")]
    ballot: u64,
}

/// What an acceptor accepted in a slot.
#[derive(Clone, PartialEq, prost::Message)]
struct Entry {
    #[prost(uint64, tag = "1")]
    slot: u64,
    #[prost(uint64, tag = "2")]
    ballot: u64,
    #[prost(uint64, tag = "3")]
    value: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Promise {
    #[prost(bool, tag = "1")]
    ok: bool,
    #[prost(uint64, tag = "2")]
    promised: u64,
    /// Every slot the acceptor accepted something in (when `ok`).
    #[prost(message, repeated, tag = "3")]
    entries: Vec<Entry>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Accept {
    #[prost(uint64, tag = "1")]
    ballot: u64,
    #[prost(uint64, tag = "2")]
    slot: u64,
    #[prost(uint64, tag = "3")]
    value: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Accepted {
    #[prost(bool, tag = "1")]
    ok: bool,
    #[prost(uint64, tag = "2")]
    promised: u64,
}

/// What an acceptor must keep on stable storage.
#[derive(Clone, Debug, Default)]
struct AcceptorState {
    promised: u64,
    /// Slot to the (ballot, value) last accepted in it.
    log: BTreeMap<u64, (u64, u64)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    Correct,
    /// Acceptors keep their state in memory only: a restart forgets promise and log.
    Amnesia,
    /// Proposers ignore the values phase 1 reports and propose their own commands.
    SkipAdoption,
    /// Proposers tell the client a command is appended once they propose it, before a
    /// majority accepted it.
    EarlyReply,
}

/// The test's view of the whole run.
#[derive(Debug, Default)]
struct Oracle {
    /// (slot, ballot) to the value accepted in it and the acceptors that accepted it.
    votes: BTreeMap<(u64, u64), (u64, BTreeSet<u32>)>,
    /// What proposers learned from a majority of accept replies: (proposer, slot,
    /// ballot, value).
    learned: Vec<(u64, u64, u64, u64)>,
    /// Inconsistencies found while recording.
    errors: Vec<String>,
    /// Each command's append as its client saw it, timed by an unskewed clock.
    appends: Vec<LogAppend>,
    /// Phase 2 attempts that did not reach a majority (the leader was preempted or cut
    /// off).
    preempted: usize,
    /// Another proposer's command proposed again by a leader that phase 1 told of it.
    carried: usize,
}

type Shared = Arc<Mutex<Oracle>>;

impl Oracle {
    /// Proposer `id` was given `command` at `at` (nanoseconds of true time).
    fn given(&mut self, id: u64, command: u64, at: u64) {
        self.appends.push(LogAppend {
            client: id,
            command,
            invoke: at,
            ret: None,
        });
    }

    /// The client was told `command` is appended, at `at` (its first telling counts).
    fn told(&mut self, command: u64, at: u64) {
        if let Some(a) = self.appends.iter_mut().find(|a| a.command == command) {
            a.ret.get_or_insert(at);
        }
    }

    fn vote(&mut self, acceptor: u32, slot: u64, ballot: u64, value: u64) {
        let (v, who) = self
            .votes
            .entry((slot, ballot))
            .or_insert_with(|| (value, BTreeSet::new()));
        if *v != value {
            self.errors.push(format!(
                "slot {slot} ballot {ballot}: acceptor {acceptor} accepted {value}, others {v}"
            ));
        }
        who.insert(acceptor);
    }
}

/// The acceptor's log on its disk: 24-byte records (slot + 1, or 0 for a promise;
/// ballot; value), each appended and synced before the reply it backs.
const LOG_FILE: &str = "acceptor.log";

impl AcceptorState {
    /// The state a log's whole records give (a torn last record is ignored); records
    /// may land in any order, so the highest promise and each slot's highest ballot win.
    fn replay(log: &[u8]) -> AcceptorState {
        let mut st = AcceptorState::default();
        for record in log.chunks_exact(24) {
            let word = |i: usize| u64::from_le_bytes(record[i * 8..i * 8 + 8].try_into().unwrap());
            let (slot, ballot, value) = (word(0), word(1), word(2));
            st.promised = st.promised.max(ballot);
            if slot > 0 {
                let entry = st.log.entry(slot - 1).or_default();
                if ballot >= entry.0 {
                    *entry = (ballot, value);
                }
            }
        }
        st
    }
}

/// Where an acceptor's changes go before it replies: its disk (none if amnesiac).
#[derive(Clone)]
struct Store(Option<DiskHandle>);

impl Store {
    async fn save(&self, slot: Option<u64>, ballot: u64, value: u64) -> Result<(), Status> {
        let Some(disk) = &self.0 else {
            return Ok(());
        };
        let io = |e: std::io::Error| Status::new(Code::Unavailable, e.to_string());
        let record = [slot.map_or(0, |s| s + 1), ballot, value];
        let bytes = record.iter().flat_map(|x| x.to_le_bytes()).collect();
        disk.append(LOG_FILE, bytes).await.map_err(io)?;
        disk.sync(LOG_FILE).await.map_err(io)
    }
}

fn register_acceptor(
    system: &System,
    id: u32,
    state: Arc<Mutex<AcceptorState>>,
    store: Store,
    oracle: Shared,
) {
    let (s, store1) = (state.clone(), store.clone());
    system.register_unary(PREPARE, move |_ctx: ServerCtx, req: Prepare| {
        let (s, store) = (s.clone(), store1.clone());
        async move {
            let reply = {
                let mut st = s.lock().unwrap();
                if req.ballot > st.promised {
                    st.promised = req.ballot;
                    let entries = st.log.iter();
                    Promise {
                        ok: true,
                        promised: st.promised,
                        entries: entries
                            .map(|(&slot, &(ballot, value))| Entry {
                                slot,
                                ballot,
                                value,
                            })
                            .collect(),
                    }
                } else {
                    Promise {
                        ok: false,
                        promised: st.promised,
                        entries: Vec::new(),
                    }
                }
            };
            if reply.ok {
                store.save(None, req.ballot, 0).await?;
            }
            Ok(reply)
        }
    });
    system.register_unary(ACCEPT, move |_ctx: ServerCtx, req: Accept| {
        let (state, store, oracle) = (state.clone(), store.clone(), oracle.clone());
        async move {
            let (ok, promised) = {
                let mut st = state.lock().unwrap();
                let ok = req.ballot >= st.promised;
                if ok {
                    st.promised = req.ballot;
                    st.log.insert(req.slot, (req.ballot, req.value));
                }
                (ok, st.promised)
            };
            if ok {
                store.save(Some(req.slot), req.ballot, req.value).await?;
                // A vote counts once it is on disk: one a crash took before its sync
                // was never cast (and never acknowledged).
                oracle
                    .lock()
                    .unwrap()
                    .vote(id, req.slot, req.ballot, req.value);
            }
            Ok(Accepted { ok, promised })
        }
    });
}

/// Phase 1 for every slot: with promises from a majority, each slot any of them
/// reported to the (ballot, value) of the highest ballot; `None` without a majority.
/// A refusal raises `round` to the refuser's.
async fn prepare(
    config: &Configuration,
    ballot: u64,
    round: &mut u64,
) -> Option<BTreeMap<u64, (u64, u64)>> {
    let mut replies = config
        .quorum_call::<Prepare, Promise>(PREPARE, &Prepare { ballot })
        .ignore_errors();
    let mut promises = 0;
    let mut highest: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    while promises < config.majority() {
        let (_, p) = next(&mut replies).await?;
        if !p.ok {
            *round = (*round).max(p.promised / 16);
            continue;
        }
        promises += 1;
        for e in p.entries {
            let h = highest.entry(e.slot).or_default();
            if e.ballot > h.0 {
                *h = (e.ballot, e.value);
            }
        }
    }
    Some(highest)
}

/// Phase 2 for one slot: whether a majority accepted. A refusal raises `round`.
async fn accept(config: &Configuration, req: &Accept, round: &mut u64) -> bool {
    let mut replies = config
        .quorum_call::<Accept, Accepted>(ACCEPT, req)
        .ignore_errors();
    let mut accepted = 0;
    while accepted < config.majority() {
        let Some((_, a)) = next(&mut replies).await else {
            return false;
        };
        if a.ok {
            accepted += 1;
        } else {
            *round = (*round).max(a.promised / 16);
        }
    }
    true
}

/// A proposer's leadership: what a successful phase 1 gave it.
struct Leader {
    ballot: u64,
    /// Per slot, the (ballot, value) of the highest ballot the promises reported.
    adopted: BTreeMap<u64, (u64, u64)>,
    /// The slot after the highest reported.
    end: u64,
    /// Its own commands to place in free slots, in order.
    pending: VecDeque<u64>,
    /// The next slot to propose in.
    slot: u64,
}

/// Appends commands `command(id, 1..=COMMANDS)` to the log, one arriving every 0 to
/// 100 ms, in at most `ROUNDS` phase 1 attempts with rising ballots. While its ballot
/// holds, a proposer stays leader: later commands go straight to phase 2.
/// Proposer `id`; `clock` is an unskewed runtime the clients' view is timed by (the
/// proposer's own clock may be skewed).
async fn proposer(
    rt: RuntimeHandle,
    clock: RuntimeHandle,
    id: u64,
    mut rng: SimRng,
    variant: Variant,
    oracle: Shared,
) {
    let now = || clock.now().as_nanos();
    let config = common::acceptors(rt.clone(), ACCEPTORS, &mut rng);
    // Slots this proposer learned chosen: never proposed again.
    let mut learned: BTreeSet<u64> = BTreeSet::new();
    // Its commands not yet learned chosen.
    let mut outstanding: Vec<u64> = Vec::new();
    let mut round = 0u64;
    let mut attempts = 0;
    let mut leader: Option<Leader> = None;
    for k in 1..=COMMANDS {
        let pause = rng.duration(Duration::ZERO, Duration::from_millis(100));
        rt.sleep_until(rt.now() + pause).await;
        outstanding.push(command(id, k));
        oracle.lock().unwrap().given(id, command(id, k), now());
        if let Some(l) = &mut leader {
            l.pending.push_back(command(id, k));
        }
        while !outstanding.is_empty() {
            let Some(l) = &mut leader else {
                // Phase 1, for every slot at once.
                if attempts == ROUNDS {
                    return;
                }
                attempts += 1;
                round += 1;
                let ballot = round * 16 + id;
                let Some(mut adopted) = prepare(&config, ballot, &mut round).await else {
                    let backoff = rng.duration(Duration::ZERO, Duration::from_millis(40));
                    rt.sleep_until(rt.now() + backoff).await;
                    continue;
                };
                let end = adopted.keys().next_back().map_or(0, |s| s + 1);
                if variant == Variant::SkipAdoption {
                    adopted.clear();
                }
                // Its commands that phase 1 found are re-proposed in their slots.
                let pending = outstanding
                    .iter()
                    .copied()
                    .filter(|c| !adopted.values().any(|(_, v)| v == c))
                    .collect();
                leader = Some(Leader {
                    ballot,
                    adopted,
                    end,
                    pending,
                    slot: 0,
                });
                continue;
            };
            // Phase 2, slot by slot.
            let slot = l.slot;
            if learned.contains(&slot) {
                l.slot += 1;
                continue;
            }
            let value = match l.adopted.get(&slot) {
                Some(&(_, v)) => {
                    if v != NOOP && v / 1000 != id {
                        oracle.lock().unwrap().carried += 1;
                    }
                    v
                }
                None if slot < l.end || !l.pending.is_empty() => {
                    l.pending.pop_front().unwrap_or(NOOP)
                }
                None => {
                    // Nothing left to propose, yet a command is outstanding: start over.
                    leader = None;
                    continue;
                }
            };
            let ballot = l.ballot;
            if variant == Variant::EarlyReply && outstanding.contains(&value) {
                oracle.lock().unwrap().told(value, now());
            }
            let req = Accept {
                ballot,
                slot,
                value,
            };
            if !accept(&config, &req, &mut round).await {
                // Preempted (or cut off): back off before phase 1, against duelling.
                leader = None;
                oracle.lock().unwrap().preempted += 1;
                let backoff = rng.duration(Duration::ZERO, Duration::from_millis(40));
                rt.sleep_until(rt.now() + backoff).await;
                continue;
            }
            l.slot += 1;
            learned.insert(slot);
            let mine = outstanding.contains(&value);
            outstanding.retain(|&c| c != value);
            let mut o = oracle.lock().unwrap();
            o.learned.push((id, slot, ballot, value));
            if mine {
                o.told(value, now());
            }
        }
    }
}

struct Run {
    oracle: Oracle,
    hash: u64,
    /// Proposers a fault crashed (their commands may never be proposed).
    crashed: BTreeSet<u64>,
}

impl Run {
    /// Slot to every (ballot, value) a majority voted for.
    fn chosen(&self) -> BTreeMap<u64, Vec<(u64, u64)>> {
        let majority = ACCEPTORS as usize / 2 + 1;
        let mut chosen: BTreeMap<u64, Vec<(u64, u64)>> = BTreeMap::new();
        for (&(slot, ballot), (value, who)) in &self.oracle.votes {
            if who.len() >= majority {
                chosen.entry(slot).or_default().push((ballot, *value));
            }
        }
        chosen
    }

    /// The chosen log: slot to value.
    fn log(&self) -> BTreeMap<u64, u64> {
        let chosen = self.chosen();
        chosen.into_iter().map(|(s, c)| (s, c[0].1)).collect()
    }

    /// Agreement, validity, and that what proposers learned was chosen.
    fn check(&self) -> Result<(), String> {
        if let Some(e) = self.oracle.errors.first() {
            return Err(e.clone());
        }
        let chosen = self.chosen();
        for (slot, c) in &chosen {
            if c.iter().any(|&(_, v)| v != c[0].1) {
                return Err(format!(
                    "agreement violated in slot {slot}: chosen (ballot, value) {c:?}"
                ));
            }
        }
        let given: BTreeSet<u64> = (1..=PROPOSERS)
            .flat_map(|p| (1..=COMMANDS).map(move |k| command(p, k)))
            .chain([NOOP])
            .collect();
        for (slot, c) in &chosen {
            if !given.contains(&c[0].1) {
                return Err(format!(
                    "validity violated in slot {slot}: {} was never proposed",
                    c[0].1
                ));
            }
        }
        for &(p, slot, ballot, value) in &self.oracle.learned {
            if !chosen
                .get(&slot)
                .is_some_and(|c| c.contains(&(ballot, value)))
            {
                return Err(format!(
                    "proposer {p} learned {value} in slot {slot} at ballot {ballot}, not chosen"
                ));
            }
        }
        let log: Vec<u64> = self.log().into_values().collect();
        check_log(&self.oracle.appends, &log).map_err(|e| format!("clients' view: {e}"))
    }

    /// Whether every command of every proposer that never crashed is in the log.
    fn complete(&self) -> bool {
        let values: BTreeSet<u64> = self.log().into_values().collect();
        (1..=PROPOSERS)
            .filter(|p| !self.crashed.contains(p))
            .all(|p| (1..=COMMANDS).all(|k| values.contains(&command(p, k))))
    }

    /// Whether every command of every proposer, crashed or not, is in the log.
    fn complete_including_crashed(&self) -> bool {
        let values: BTreeSet<u64> = self.log().into_values().collect();
        (1..=PROPOSERS).all(|p| (1..=COMMANDS).all(|k| values.contains(&command(p, k))))
    }

    /// Whether some command is chosen in two slots (Multi-Paxos alone does not rule it
    /// out; a replica applying the log skips repeats by command id).
    fn has_duplicates(&self) -> bool {
        let commands: Vec<u64> = self.log().into_values().filter(|&v| v != NOOP).collect();
        commands.len() != commands.iter().collect::<BTreeSet<_>>().len()
    }
}

fn run_multipaxos(seed: u64, variant: Variant) -> Run {
    let mut sim = common::faulty_sim(seed, Duration::from_millis(800), Schedule::default());
    let oracle: Shared = Arc::default();
    for id in 1..=ACCEPTORS {
        let o = oracle.clone();
        add_acceptor_with_disk(&mut sim, id, move |rt, disk| {
            let o = o.clone();
            async move {
                let store = Store((variant != Variant::Amnesia).then_some(disk.clone()));
                // What the last incarnation synced (nothing for an amnesiac acceptor,
                // which never writes).
                let kept = disk.read(LOG_FILE).await.unwrap_or_default();
                let state = Arc::new(Mutex::new(AcceptorState::replay(&kept)));
                common::serve(rt, id, move |system| {
                    register_acceptor(system, id, state, store, o);
                })
                .await;
            }
        });
    }
    // Never faulted: its clock is true time, what the clients' view is timed by.
    let clock = sim.add_process(ProcessOptions::new("clock").reliable());
    let clock = sim.runtime(clock);
    let mut proposers = BTreeMap::new();
    for id in 1..=PROPOSERS {
        let o = oracle.clone();
        let clock = clock.clone();
        let p = add_proposer(&mut sim, id, |rt, rng| {
            proposer(rt, clock, id, rng, variant, o)
        });
        proposers.insert(p, id);
    }
    sim.run_until(Duration::from_secs(2)).unwrap();
    let hash = sim.event_hash();
    let crashed = sim
        .fault_log()
        .iter()
        .filter_map(|(_, f)| match f {
            Fault::CrashSilent(p) | Fault::CrashReset(p) => proposers.get(p).copied(),
            _ => None,
        })
        .collect();
    drop(sim);
    let oracle = std::mem::take(&mut *oracle.lock().unwrap());
    Run {
        oracle,
        hash,
        crashed,
    }
}

#[test]
fn multipaxos_agreement_and_validity_hold_over_many_seeds() {
    let complete = AtomicUsize::new(0);
    let rechosen = AtomicUsize::new(0);
    let duplicates = AtomicUsize::new(0);
    // What the default seeds must reach, or the faults no longer test the hard parts.
    const RECHOSEN: &str = "a slot was chosen again in a later ballot";
    const PREEMPTED: &str = "a leader was preempted mid-log and ran phase 1 again";
    const CARRIED: &str = "a leader carried another proposer's command into its slot";
    const CRASHED: &str = "a proposer crashed before all its commands were chosen";
    let coverage = Coverage::new([RECHOSEN, PREEMPTED, CARRIED, CRASHED]);
    let report = run_seeds_parallel("multipaxos", 300, |seed| {
        let run = run_multipaxos(seed, Variant::Correct);
        complete.fetch_add(usize::from(run.complete()), Ordering::Relaxed);
        let again = run.chosen().values().any(|c| c.len() > 1);
        rechosen.fetch_add(usize::from(again), Ordering::Relaxed);
        duplicates.fetch_add(usize::from(run.has_duplicates()), Ordering::Relaxed);
        coverage.sometimes(RECHOSEN, again);
        coverage.sometimes(PREEMPTED, run.oracle.preempted > 0);
        coverage.sometimes(CARRIED, run.oracle.carried > 0);
        coverage.sometimes(
            CRASHED,
            !run.crashed.is_empty() && !run.complete_including_crashed(),
        );
        run.check()
    });
    assert!(report.failure.is_none(), "{:?}", report.failure);
    println!("multipaxos coverage (seeds reaching each):\n{coverage}");
    coverage.assert_reached();
    let (complete, duplicates) = (complete.into_inner(), duplicates.into_inner());
    println!(
        "multipaxos: {complete} of {} runs chose every command of every proposer never \
         crashed; {} chose a slot again in a \
         later ballot; {duplicates} chose a command in two slots",
        report.seeds,
        rechosen.into_inner(),
    );
    assert!(
        complete * 10 >= report.seeds as usize * 8,
        "most runs choose every command: {complete} of {}",
        report.seeds
    );
}

#[test]
fn multipaxos_with_amnesiac_acceptors_is_caught_and_the_seed_replays() {
    common::assert_caught_and_replays("multipaxos-amnesia", 2000, |seed| {
        let run = run_multipaxos(seed, Variant::Amnesia);
        (run.check(), run.hash)
    });
}

#[test]
fn multipaxos_without_value_adoption_is_caught_and_the_seed_replays() {
    common::assert_caught_and_replays("multipaxos-skip-adoption", 200, |seed| {
        let run = run_multipaxos(seed, Variant::SkipAdoption);
        (run.check(), run.hash)
    });
}

#[test]
fn multipaxos_replying_before_the_accept_is_caught_by_the_clients_view_and_replays() {
    common::assert_caught_and_replays("multipaxos-early-reply", 300, |seed| {
        let run = run_multipaxos(seed, Variant::EarlyReply);
        let verdict = run.check();
        if let Err(why) = &verdict {
            assert!(
                why.starts_with("clients' view"),
                "only the clients see it: {why}"
            );
        }
        (verdict, run.hash)
    });
}

#[test]
fn multipaxos_one_seed_twice_gives_one_event_hash_and_another_seed_another() {
    let a = run_multipaxos(7, Variant::Correct);
    let b = run_multipaxos(7, Variant::Correct);
    let c = run_multipaxos(8, Variant::Correct);
    assert_eq!(a.hash, b.hash);
    assert_eq!(a.log(), b.log());
    assert_eq!(a.oracle.learned, b.oracle.learned);
    assert_ne!(a.hash, c.hash);
    assert!(!a.log().is_empty(), "seed 7 chooses something");
}
