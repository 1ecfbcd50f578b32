//! Single-decree Paxos written with quorum calls through the public API (untyped calls,
//! prost messages), run on the simulator under random partitions, resets, crashes and
//! restarts; agreement (no two different values decided) is checked over many seeds.
//!
//! Proposers keep proposing with ever higher ballots after a decision, so every later
//! successful phase 2 re-decides, and must re-decide the same value. The broken variant's
//! acceptors keep nothing across a restart (they forget their promise and what they
//! accepted); the same test catches it.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{add_acceptor_with_disk, add_proposer, next};
use gorums_sim::{
    Code, Configuration, Coverage, DialPolicy, DiskHandle, EndpointConfig, Fault, FaultSchedule,
    NodeId, RecordedRun, RuntimeHandle, Schedule, ServerCtx, Shrunk, SimRng, Status, System,
    SystemOptions, run_seeds_parallel, shrink_seed,
};

const PREPARE: &str = "paxos.Acceptor.Prepare";
const ACCEPT: &str = "paxos.Acceptor.Accept";
const ACCEPTORS: u32 = 3;
const PROPOSERS: u64 = 3;
const ATTEMPTS: u64 = 6;

#[derive(Clone, PartialEq, prost::Message)]
struct Prepare {
    #[prost(uint64, tag = "1")]
    ballot: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Promise {
    #[prost(bool, tag = "1")]
    ok: bool,
    #[prost(uint64, tag = "2")]
    promised: u64,
    #[prost(uint64, tag = "3")]
    accepted_ballot: u64,
    /// 0: nothing accepted.
    #[prost(uint64, tag = "4")]
    accepted_value: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Accept {
    #[prost(uint64, tag = "1")]
    ballot: u64,
    #[prost(uint64, tag = "2")]
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
#[derive(Clone, Copy, Debug, Default)]
struct AcceptorState {
    promised: u64,
    accepted_ballot: u64,
    accepted_value: u64,
}

/// The acceptor's file on its disk.
const STATE_FILE: &str = "acceptor";

impl AcceptorState {
    fn encode(self) -> Vec<u8> {
        [self.promised, self.accepted_ballot, self.accepted_value]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect()
    }

    /// The state in `bytes` (a file never written: the initial state).
    fn decode(bytes: &[u8]) -> AcceptorState {
        let word = |i: usize| {
            bytes
                .get(i * 8..i * 8 + 8)
                .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap()))
        };
        AcceptorState {
            promised: word(0),
            accepted_ballot: word(1),
            accepted_value: word(2),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    /// Acceptors write their state and sync it before they reply.
    Correct,
    /// Acceptors keep their state in memory only: a restart forgets the promise.
    Amnesia,
    /// Acceptors write their state and reply; a background task syncs every 200 ms
    /// (group commit done wrong): a crash in between loses promises and votes already
    /// sent.
    ReplyBeforeSync,
}

/// Where an acceptor keeps its state: its disk, unless it is amnesiac.
#[derive(Clone)]
struct Store {
    rt: RuntimeHandle,
    disk: DiskHandle,
    variant: Variant,
}

impl Store {
    /// Makes `state` stable as the variant does before its reply goes out.
    async fn save(&self, state: AcceptorState) -> Result<(), Status> {
        let io = |e: std::io::Error| Status::new(Code::Unavailable, e.to_string());
        if self.variant == Variant::Amnesia {
            return Ok(());
        }
        self.disk
            .write(STATE_FILE, 0, state.encode())
            .await
            .map_err(io)?;
        if self.variant == Variant::ReplyBeforeSync {
            return Ok(());
        }
        self.disk.sync(STATE_FILE).await.map_err(io)
    }

    /// The broken variant's periodic sync.
    fn start_flusher(&self) {
        if self.variant != Variant::ReplyBeforeSync {
            return;
        }
        let (rt, disk) = (self.rt.clone(), self.disk.clone());
        self.rt.spawn(Box::pin(async move {
            loop {
                rt.sleep_until(rt.now() + Duration::from_millis(200)).await;
                let _ = disk.sync(STATE_FILE).await;
            }
        }));
    }
}

fn register_acceptor(system: &System, state: Arc<Mutex<AcceptorState>>, store: Store) {
    let (s, st) = (state.clone(), store.clone());
    system.register_unary(PREPARE, move |_ctx: ServerCtx, req: Prepare| {
        let (s, store) = (s.clone(), st.clone());
        async move {
            let (reply, changed) = {
                let mut st = s.lock().unwrap();
                if req.ballot > st.promised {
                    st.promised = req.ballot;
                    let reply = Promise {
                        ok: true,
                        promised: st.promised,
                        accepted_ballot: st.accepted_ballot,
                        accepted_value: st.accepted_value,
                    };
                    (reply, Some(*st))
                } else {
                    let reply = Promise {
                        ok: false,
                        promised: st.promised,
                        ..Promise::default()
                    };
                    (reply, None)
                }
            };
            if let Some(changed) = changed {
                store.save(changed).await?;
            }
            Ok(reply)
        }
    });
    system.register_unary(ACCEPT, move |_ctx: ServerCtx, req: Accept| {
        let (s, store) = (state.clone(), store.clone());
        async move {
            let (reply, changed) = {
                let mut st = s.lock().unwrap();
                if req.ballot >= st.promised {
                    st.promised = req.ballot;
                    st.accepted_ballot = req.ballot;
                    st.accepted_value = req.value;
                    let reply = Accepted {
                        ok: true,
                        promised: st.promised,
                    };
                    (reply, Some(*st))
                } else {
                    let reply = Accepted {
                        ok: false,
                        promised: st.promised,
                    };
                    (reply, None)
                }
            };
            if let Some(changed) = changed {
                store.save(changed).await?;
            }
            Ok(reply)
        }
    });
}

/// A decision: (proposer, ballot, value).
type Decisions = Arc<Mutex<Vec<(u64, u64, u64)>>>;

/// Proposes `100 + id` (or what it must adopt) `ATTEMPTS` times with rising ballots.
async fn proposer(rt: RuntimeHandle, id: u64, mut rng: SimRng, decisions: Decisions) {
    let config = common::acceptors(rt.clone(), ACCEPTORS, &mut rng);
    propose(rt, id, rng, &config, decisions).await;
}

/// [`proposer`] to the acceptors of `config`.
async fn propose(
    rt: RuntimeHandle,
    id: u64,
    mut rng: SimRng,
    config: &Configuration,
    decisions: Decisions,
) {
    let majority = config.majority();
    let mut round = 0u64;
    for _ in 0..ATTEMPTS {
        let pause = rng.duration(Duration::ZERO, Duration::from_millis(80));
        rt.sleep_until(rt.now() + pause).await;
        round += 1;
        let ballot = round * 16 + id;
        // Phase 1: promises from a majority.
        let mut replies = config
            .quorum_call::<Prepare, Promise>(PREPARE, &Prepare { ballot })
            .ignore_errors();
        let mut promises = 0;
        let mut highest = (0u64, 0u64);
        while promises < majority {
            let Some((_, p)) = next(&mut replies).await else {
                break;
            };
            if p.ok {
                promises += 1;
                if p.accepted_value != 0 && p.accepted_ballot > highest.0 {
                    highest = (p.accepted_ballot, p.accepted_value);
                }
            } else {
                round = round.max(p.promised / 16);
            }
        }
        drop(replies);
        if promises < majority {
            continue;
        }
        let value = if highest.1 != 0 { highest.1 } else { 100 + id };
        // Phase 2: accepted by a majority means decided.
        let mut replies = config
            .quorum_call::<Accept, Accepted>(ACCEPT, &Accept { ballot, value })
            .ignore_errors();
        let mut accepted = 0;
        while accepted < majority {
            let Some((_, a)) = next(&mut replies).await else {
                break;
            };
            if a.ok {
                accepted += 1;
            } else {
                round = round.max(a.promised / 16);
            }
        }
        if accepted >= majority {
            decisions.lock().unwrap().push((id, ballot, value));
        }
    }
}

struct Run {
    decisions: Vec<(u64, u64, u64)>,
    hash: u64,
}

impl Run {
    fn agreement(&self) -> Result<(), String> {
        match self.decisions.first() {
            Some(&(_, _, v)) if self.decisions.iter().any(|d| d.2 != v) => Err(format!(
                "agreement violated: decisions (proposer, ballot, value) {:?}",
                self.decisions
            )),
            _ => Ok(()),
        }
    }
}

fn run_paxos(seed: u64, variant: Variant) -> Run {
    run_paxos_scheduled(seed, variant, Schedule::default())
}

fn run_paxos_scheduled(seed: u64, variant: Variant, schedule: Schedule) -> Run {
    run_paxos_with(seed, variant, schedule, None).0
}

/// A run and the faults it applied: random ones, or `script` with random faults off.
fn run_paxos_with(
    seed: u64,
    variant: Variant,
    schedule: Schedule,
    script: Option<&[(Duration, Fault)]>,
) -> (Run, FaultSchedule) {
    let until = Duration::from_millis(800);
    let Some(script) = script else {
        return run_paxos_on(common::faulty_sim(seed, until, schedule), variant);
    };
    let mut sim = gorums_sim::Sim::new(gorums_sim::SimConfig {
        faults: None,
        ..common::faulty_config(seed, until, schedule)
    });
    sim.schedule_all(script);
    run_paxos_on(sim, variant)
}

/// Runs the acceptors and proposers of `variant` on `sim`.
fn run_paxos_on(mut sim: gorums_sim::Sim, variant: Variant) -> (Run, FaultSchedule) {
    for id in 1..=ACCEPTORS {
        add_acceptor_with_disk(&mut sim, id, move |rt, disk| async move {
            // What the last incarnation synced (nothing for an amnesiac acceptor).
            let kept = disk.read(STATE_FILE).await.unwrap_or_default();
            let state = Arc::new(Mutex::new(AcceptorState::decode(&kept)));
            let store = Store {
                rt: rt.clone(),
                disk,
                variant,
            };
            store.start_flusher();
            common::serve(rt, id, move |system| {
                register_acceptor(system, state, store)
            })
            .await;
        });
    }
    let decisions: Decisions = Arc::default();
    for id in 1..=PROPOSERS {
        let d = decisions.clone();
        let _ = add_proposer(&mut sim, id, |rt, rng| proposer(rt, id, rng, d));
    }
    sim.run_until(Duration::from_secs(2)).unwrap();
    let decisions = decisions.lock().unwrap().clone();
    let run = Run {
        decisions,
        hash: sim.event_hash(),
    };
    (run, sim.fault_log())
}

#[test]
fn paxos_agreement_holds_over_many_seeds() {
    let decided = AtomicUsize::new(0);
    // What the default seeds must reach, or agreement holds for want of a contest.
    const ADOPTED: &str = "a proposer decided a value another proposer proposed";
    const SEVERAL: &str = "several proposers decided, in different ballots";
    let coverage = Coverage::new([ADOPTED, SEVERAL]);
    let report = run_seeds_parallel("paxos", 200, |seed| {
        let run = run_paxos(seed, Variant::Correct);
        decided.fetch_add(usize::from(!run.decisions.is_empty()), Ordering::Relaxed);
        let d = &run.decisions;
        coverage.sometimes(ADOPTED, d.iter().any(|&(id, _, v)| v != 100 + id));
        coverage.sometimes(SEVERAL, d.iter().any(|x| x.0 != d[0].0));
        run.agreement()
    });
    let decided = decided.into_inner();
    assert!(report.failure.is_none(), "{:?}", report.failure);
    println!("paxos coverage (seeds reaching each):\n{coverage}");
    coverage.assert_reached();
    assert!(
        decided * 10 >= report.seeds as usize * 8,
        "most runs decide something: {decided} of {}",
        report.seeds
    );
}

#[test]
fn paxos_agreement_holds_in_wake_order_and_under_pct() {
    for schedule in [
        Schedule::Fifo,
        Schedule::Pct {
            depth: 3,
            steps: 3000,
        },
    ] {
        let report = run_seeds_parallel("paxos-schedule", 40, |seed| {
            run_paxos_scheduled(seed, Variant::Correct, schedule).agreement()
        });
        assert!(
            report.failure.is_none(),
            "{schedule:?}: {:?}",
            report.failure
        );
    }
}

#[test]
fn paxos_with_amnesiac_acceptors_is_caught_and_the_seed_replays() {
    common::assert_caught_and_replays("paxos-amnesia", 2000, |seed| {
        let run = run_paxos(seed, Variant::Amnesia);
        (run.agreement(), run.hash)
    });
}

#[test]
fn paxos_with_acceptors_replying_before_they_sync_is_caught_and_the_seed_replays() {
    common::assert_caught_and_replays("paxos-reply-before-sync", 500, |seed| {
        let run = run_paxos(seed, Variant::ReplyBeforeSync);
        (run.agreement(), run.hash)
    });
}

/// Paxos among three replicas that are acceptor and proposer in one process each, one
/// system per replica with [`DialPolicy::HigherIds`]: replica i dials only replicas
/// above i and reaches the ones below over the connections they opened. Returns the
/// run and, after it, the connections each replica's system holds.
fn run_paxos_replicas(seed: u64, faults: bool) -> (Run, Vec<usize>) {
    let config = common::faulty_config(seed, Duration::from_millis(800), Schedule::default());
    let mut sim = gorums_sim::Sim::new(gorums_sim::SimConfig {
        faults: config.faults.clone().filter(|_| faults),
        ..config
    });
    let decisions: Decisions = Arc::default();
    let systems: Arc<Mutex<BTreeMap<u32, System>>> = Arc::default();
    for id in 1..=ACCEPTORS {
        let (d, systems) = (decisions.clone(), systems.clone());
        // Each incarnation proposes with its own generator, drawn at boot.
        let rngs = Arc::new(Mutex::new(sim.rng()));
        add_acceptor_with_disk(&mut sim, id, move |rt, disk| {
            let (d, systems) = (d.clone(), systems.clone());
            let mut rng = rngs.lock().unwrap().fork();
            async move {
                let kept = disk.read(STATE_FILE).await.unwrap_or_default();
                let state = Arc::new(Mutex::new(AcceptorState::decode(&kept)));
                let store = Store {
                    rt: rt.clone(),
                    disk,
                    variant: Variant::Correct,
                };
                let options = SystemOptions {
                    endpoint: EndpointConfig {
                        node_id: NodeId(id),
                        dial: DialPolicy::HigherIds,
                        ..common::endpoint(&mut rng)
                    },
                    ..SystemOptions::default()
                };
                let system = System::new(rt.clone(), options);
                register_acceptor(&system, state, store);
                systems.lock().unwrap().insert(id, system.clone());
                common::listen(&rt, &system, id).await;
                let config = system
                    .configuration(common::acceptor_nodes(ACCEPTORS))
                    .unwrap()
                    .with_timeout(Duration::from_millis(60));
                propose(rt, u64::from(id), rng, &config, d).await;
                std::future::pending::<()>().await;
            }
        });
    }
    sim.run_until(Duration::from_secs(2)).unwrap();
    let decisions = decisions.lock().unwrap().clone();
    let connections = systems
        .lock()
        .unwrap()
        .values()
        .map(System::connection_count)
        .collect();
    let run = Run {
        decisions,
        hash: sim.event_hash(),
    };
    (run, connections)
}

#[test]
fn paxos_replicas_dialling_only_higher_ids_agree_over_n_n_minus_1_over_2_connections() {
    // Without faults: three replicas, each pair one connection (3 = n(n-1)/2), each
    // counted at both ends; dialling every peer would give each pair two.
    for seed in 0..5 {
        let (run, connections) = run_paxos_replicas(seed, false);
        assert!(!run.decisions.is_empty(), "seed {seed} decides");
        run.agreement().unwrap();
        assert_eq!(connections, [2, 2, 2], "seed {seed}");
    }
    let decided = AtomicUsize::new(0);
    let report = run_seeds_parallel("paxos-higher-ids", 100, |seed| {
        let (run, _) = run_paxos_replicas(seed, true);
        decided.fetch_add(usize::from(!run.decisions.is_empty()), Ordering::Relaxed);
        run.agreement()
    });
    assert!(report.failure.is_none(), "{:?}", report.failure);
    let decided = decided.into_inner();
    assert!(
        decided * 10 >= report.seeds as usize * 8,
        "most runs decide something: {decided} of {}",
        report.seeds
    );
}

#[test]
fn one_seed_twice_gives_one_event_hash_and_another_seed_another() {
    let a = run_paxos(7, Variant::Correct);
    let b = run_paxos(7, Variant::Correct);
    let c = run_paxos(8, Variant::Correct);
    assert_eq!(a.hash, b.hash);
    assert_eq!(a.decisions, b.decisions);
    assert_ne!(a.hash, c.hash);
}

/// Catches `variant` from seed 0, shrinks the failing seed's faults and checks the
/// result: it still breaks agreement and keeps fewer faults.
fn caught_and_shrunk(name: &str, variant: Variant, max_seeds: u64) -> Shrunk {
    let run = |seed, script: Option<&[(Duration, Fault)]>| {
        run_paxos_with(seed, variant, Schedule::default(), script)
    };
    let seed = (0..max_seeds)
        .find(|&seed| run(seed, None).0.agreement().is_err())
        .expect("the broken variant is caught");
    let replay = |seed, script: &[(Duration, Fault)]| run(seed, Some(script)).0.agreement();
    let record = |seed| {
        let (run, faults) = run(seed, None);
        RecordedRun {
            result: run.agreement(),
            faults,
        }
    };
    let shrunk = shrink_seed(name, seed, record, replay)
        .expect("the recorded faults replay to the violation")
        .expect("the seed fails when recorded");
    let why = replay(seed, &shrunk.schedule).expect_err("the shrunk schedule fails");
    assert!(why.starts_with("agreement violated"), "{why}");
    assert!(shrunk.schedule.len() < shrunk.original_faults);
    println!(
        "{name}: seed {seed}, {} faults shrunk to {} in {} runs",
        shrunk.original_faults,
        shrunk.schedule.len(),
        shrunk.runs
    );
    shrunk
}

#[test]
fn paxos_broken_variants_shrink_to_a_few_faults() {
    for (name, variant, max_seeds) in [
        ("paxos-amnesia", Variant::Amnesia, 2000),
        ("paxos-reply-before-sync", Variant::ReplyBeforeSync, 500),
    ] {
        let shrunk = caught_and_shrunk(name, variant, max_seeds);
        // Both bugs need an acceptor to lose state: a crash is kept.
        assert!(
            shrunk
                .schedule
                .iter()
                .any(|(_, f)| matches!(f, Fault::CrashSilent(_) | Fault::CrashReset(_))),
            "{shrunk}"
        );
    }
}
