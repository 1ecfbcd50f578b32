//! The quorum-aware adversary on the real API's calls: three servers answer a client's
//! quorum calls (threshold 2 of 3), and each built-in policy (and a user-written one)
//! is checked by what the client sees: which node's reply came first, how long the
//! completing reply lagged, when a held reply arrived; a recorded adversary log replays
//! the same run.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use prost::Message;

use gorums_sim::{
    Adversary, AdversaryPolicy, CallView, Configuration, EndpointConfig, Hold, HoldCompleting,
    HoldUntilNextCall, NodeId, NodeList, ProcessId, ProcessOptions, Quorum, RuntimeHandle,
    ServerCtx, Sim, SimConfig, SimRng, StalestFirst, System, SystemOptions, WireFrame,
    check_determinism,
};

const GET: &str = "adv.Server.Get";
const NODES: u32 = 3;
const LATENCY: Duration = Duration::from_micros(100);
const JITTER: Duration = Duration::from_micros(400);
const HOLD: Duration = Duration::from_millis(5);

fn addr(id: u32) -> String {
    format!("10.0.0.{id}:7000")
}

/// Server `id` answers every Get with its version, `10 * id` (node 1 is the stalest).
async fn server(rt: RuntimeHandle, id: u32) {
    let system = System::new(rt.clone(), SystemOptions::with_id(NodeId(id)));
    system.register_unary(GET, move |_ctx: ServerCtx, _req: ()| {
        std::future::ready(Ok(u64::from(id) * 10))
    });
    system.listen(&addr(id)).await.unwrap();
    std::future::pending::<()>().await;
}

fn config(rt: &RuntimeHandle) -> Configuration {
    Configuration::new(
        rt.clone(),
        NodeList::map((1..=NODES).map(|i| (i, addr(i)))),
        SystemOptions {
            endpoint: EndpointConfig {
                seed: 1,
                ..EndpointConfig::default()
            },
            ..SystemOptions::default()
        },
    )
    .unwrap()
    .with_timeout(Duration::from_millis(500))
}

/// One call's successful replies as the client saw them: (node, arrival time).
type Arrivals = Vec<(NodeId, Duration)>;

/// A simulation of the three servers and a client process (returned) under `adversary`.
fn sim(seed: u64, adversary: Option<Adversary>) -> (Sim, ProcessId) {
    let mut sim = Sim::new(SimConfig {
        latency: LATENCY,
        jitter: JITTER,
        adversary,
        ..SimConfig::new(seed)
    });
    for id in 1..=NODES {
        let options = ProcessOptions {
            host: format!("10.0.0.{id}"),
            ..ProcessOptions::new(format!("server{id}"))
        };
        let p = sim.add_process(options);
        let rt = sim.runtime(p);
        sim.spawn(p, server(rt, id));
    }
    let client = sim.add_process(ProcessOptions::new("client"));
    (sim, client)
}

/// `calls` quorum calls (threshold 2 of 3) one after the other, a few ms apart: every
/// call's successful replies in arrival order, until the threshold.
fn run_calls(seed: u64, adversary: Option<Adversary>, calls: usize) -> (Vec<Arrivals>, u64) {
    let (mut sim, client) = sim(seed, adversary);
    let rt = sim.runtime(client);
    let seen = sim
        .run(client, async move {
            let config = config(&rt);
            let mut seen = Vec::new();
            for _ in 0..calls {
                rt.sleep_until(rt.now() + Duration::from_millis(3)).await;
                let clock = rt.clone();
                let arrivals = config
                    .quorum_call::<(), u64>(GET, &())
                    .fold(Quorum::Threshold(2), Vec::new(), |mut seen, node, _v| {
                        seen.push((node, Duration::from_nanos(clock.now().as_nanos())));
                        seen
                    })
                    .await
                    .unwrap();
                seen.push(arrivals);
            }
            seen
        })
        .unwrap();
    (seen, sim.event_hash())
}

/// The shortest time between a call's first reply and the one that completed it.
fn shortest_wait_for_quorum(seen: &[Arrivals]) -> Duration {
    seen.iter()
        .map(|a| a[1].1 - a[0].1)
        .min()
        .unwrap_or(Duration::ZERO)
}

#[test]
fn the_completing_reply_is_held_back_every_time() {
    let hold = HoldCompleting::new(HOLD);
    let adversary = Adversary::new("hold completing", move || hold.clone());
    for seed in 0..5 {
        let (seen, _) = run_calls(seed, Some(adversary.clone()), 20);
        assert_eq!(seen.len(), 20, "every call completes: liveness stays");
        // The second reply (the one completing 2 of 3) arrives at least the hold after
        // the first, whatever the jitter drew.
        let wait = shortest_wait_for_quorum(&seen);
        assert!(wait >= HOLD - JITTER, "seed {seed}: quorum after {wait:?}");
        // ... and at most the bound later: the held reply was not lost.
        let longest = seen.iter().map(|a| a[1].1 - a[0].1).max().unwrap();
        assert!(longest <= HOLD + 2 * JITTER + LATENCY, "{longest:?}");
    }
    // Without the adversary the two replies come within the jitter of each other.
    let (seen, _) = run_calls(0, None, 20);
    assert!(shortest_wait_for_quorum(&seen) < HOLD - JITTER);
}

#[test]
fn a_named_stale_replica_answers_first_every_time() {
    // Process 2 is node 3.
    let stale = StalestFirst::replica(ProcessId(2), HOLD);
    let adversary = Adversary::new("stale node 3", move || stale.clone());
    for seed in 0..5 {
        let (seen, _) = run_calls(seed, Some(adversary.clone()), 20);
        for arrivals in &seen {
            assert_eq!(arrivals[0].0, NodeId(3), "seed {seed}: {arrivals:?}");
            // Node 3 may have answered up to a jitter after the others.
            assert!(arrivals[1].1 - arrivals[0].1 >= HOLD - 2 * JITTER);
        }
    }
    // Without it, node 3 is first only sometimes.
    let (seen, _) = run_calls(0, None, 20);
    let first_from_3 = seen.iter().filter(|a| a[0].0 == NodeId(3)).count();
    assert!(
        first_from_3 < 20,
        "{first_from_3} of 20 without the adversary"
    );
}

#[test]
fn the_stalest_replica_learned_from_its_versions_answers_first() {
    let version = |_method: &str, payload: &[u8]| u64::decode(payload).ok();
    let stalest = StalestFirst::by_version(version, HOLD);
    let adversary = Adversary::new("stalest by version", move || stalest.clone());
    for seed in 0..5 {
        let (seen, _) = run_calls(seed, Some(adversary.clone()), 20);
        // The first call teaches it the versions; from then on node 1 (version 10)
        // answers first, its reply the quorum's stalest.
        for arrivals in &seen[1..] {
            assert_eq!(arrivals[0].0, NodeId(1), "seed {seed}: {arrivals:?}");
        }
    }
}

#[test]
fn a_nodes_replies_are_held_until_the_callers_next_call() {
    let policy = HoldUntilNextCall { node: ProcessId(1) };
    let max_hold = Duration::from_millis(40);
    let adversary = Adversary::new("hold node 2", move || policy).with_max_hold(max_hold);
    let (mut sim, client) = sim(3, Some(adversary));
    let rt = sim.runtime(client);
    let (alone, followed) = sim
        .run(client, async move {
            let config = config(&rt);
            let now = || Duration::from_nanos(rt.now().as_nanos());
            // Connect first, so the calls below measure replies only.
            config
                .quorum_call::<(), u64>(GET, &())
                .majority()
                .await
                .unwrap();
            // A call that needs node 2 waits for the bound: its reply is held for a
            // next call that does not come.
            let start = now();
            config.quorum_call::<(), u64>(GET, &()).all().await.unwrap();
            let alone = now() - start;
            // The same call followed 5 ms later by another (node 2's reply to the first
            // is held by then): starting that one releases it.
            let start = now();
            let first = config.quorum_call::<(), u64>(GET, &()).async_all();
            rt.sleep_until(rt.now() + Duration::from_millis(5)).await;
            let second = config.quorum_call::<(), u64>(GET, &()).async_first();
            first.await.unwrap();
            let followed = now() - start;
            second.await.unwrap();
            (alone, followed)
        })
        .unwrap();
    assert!(alone >= max_hold, "held to the bound: {alone:?}");
    assert!(
        followed >= Duration::from_millis(5) && followed < Duration::from_millis(7),
        "released by the next call: {followed:?}"
    );
}

/// What the API announced of each call: its node count and threshold.
type Announced = Arc<Mutex<Vec<(usize, Option<usize>)>>>;

/// A user-written policy: lags every reply of node 1 by 8 ms, and notes what the API
/// announced of each call.
struct SlowNodeOne {
    announced: Announced,
}

impl AdversaryPolicy for SlowNodeOne {
    fn decide(&mut self, frame: &WireFrame<'_>, _rng: &mut SimRng) -> Hold {
        if frame.kind.is_reply() && frame.from == ProcessId(0) {
            Hold::For(Duration::from_millis(8))
        } else {
            Hold::Deliver
        }
    }

    fn call_started(&mut self, call: &CallView) {
        self.announced
            .lock()
            .unwrap()
            .push((call.nodes.len(), call.threshold));
    }
}

#[test]
fn a_user_written_policy_sees_each_calls_nodes_and_threshold() {
    let announced: Announced = Arc::default();
    let seen_by_policy = announced.clone();
    let adversary = Adversary::new("slow node 1", move || SlowNodeOne {
        announced: seen_by_policy.clone(),
    });
    let (seen, _) = run_calls(9, Some(adversary), 10);
    for arrivals in &seen {
        assert!(
            arrivals.iter().all(|(node, _)| *node != NodeId(1)),
            "{arrivals:?}"
        );
    }
    assert_eq!(*announced.lock().unwrap(), vec![(3, Some(2)); 10]);
}

#[test]
fn a_recorded_adversary_log_replays_the_same_run_without_the_policy() {
    let hold = HoldCompleting::new(HOLD);
    let adversary = Adversary::new("hold", move || hold.clone());
    let (mut recorded, client) = sim(4, Some(adversary));
    let rt = recorded.runtime(client);
    let work = |rt: RuntimeHandle| async move {
        let config = config(&rt);
        for _ in 0..10 {
            config
                .quorum_call::<(), u64>(GET, &())
                .threshold(2)
                .await
                .unwrap();
        }
    };
    recorded.run(client, work(rt)).unwrap();
    let log = recorded.adversary_log();
    assert!(
        log.len() >= 10,
        "one held reply per call at least: {}",
        log.len()
    );
    let (mut replayed, client) = sim(4, Some(Adversary::replay(&log)));
    let rt = replayed.runtime(client);
    replayed.run(client, work(rt)).unwrap();
    assert_eq!(replayed.adversary_log(), log);
    assert_eq!(replayed.event_hash(), recorded.event_hash());
}

/// Holds node 1's reply to the client's second call only.
#[derive(Default)]
struct HoldNodeOnesReplyToTheSecondCall {
    calls: usize,
    target: Option<u64>,
}

impl AdversaryPolicy for HoldNodeOnesReplyToTheSecondCall {
    fn decide(&mut self, frame: &WireFrame<'_>, _rng: &mut SimRng) -> Hold {
        let ours = frame.call.is_some_and(|c| Some(c.id) == self.target);
        if frame.kind.is_reply() && frame.from == ProcessId(0) && ours {
            Hold::For(Duration::from_millis(8))
        } else {
            Hold::Deliver
        }
    }

    fn call_started(&mut self, call: &CallView) {
        self.calls += 1;
        if self.calls == 2 {
            self.target = Some(call.id);
        }
    }
}

#[test]
fn a_held_reply_holds_the_later_bytes_on_its_connection() {
    let adversary = Adversary::new(
        "hold node 1 once",
        HoldNodeOnesReplyToTheSecondCall::default,
    );
    let (mut sim, client) = sim(5, Some(adversary));
    let rt = sim.runtime(client);
    let (first, second) = sim
        .run(client, async move {
            let config = config(&rt);
            let now = || Duration::from_nanos(rt.now().as_nanos());
            // Two calls back to back: node 1's reply to the second is not held itself,
            // but it follows the held one on the same connection.
            // Connected first, so that the held reply is a call's, not the handshake's.
            config.quorum_call::<(), u64>(GET, &()).all().await.unwrap();
            let start = now();
            let a = config.quorum_call::<(), u64>(GET, &()).async_all();
            // 2 ms apart, so the two replies leave node 1 in separate writes.
            rt.sleep_until(rt.now() + Duration::from_millis(2)).await;
            let b = config.quorum_call::<(), u64>(GET, &()).async_all();
            let second_done = Arc::new(Mutex::new(None));
            let (done, clock) = (second_done.clone(), rt.clone());
            rt.spawn(Box::pin(async move {
                b.await.unwrap();
                *done.lock().unwrap() = Some(Duration::from_nanos(clock.now().as_nanos()));
            }));
            a.await.unwrap();
            let first = now() - start;
            loop {
                if let Some(at) = *second_done.lock().unwrap() {
                    break (first, at - start);
                }
                rt.sleep_until(rt.now() + Duration::from_micros(10)).await;
            }
        })
        .unwrap();
    println!("first call {first:?}, second {second:?} (from the first's start)");
    assert!(first >= Duration::from_millis(8), "{first:?}");
    assert!(
        second >= first,
        "the later reply waited: {second:?} {first:?}"
    );
}

/// Holds each reply a random 0 to 3 ms, drawn from the adversary's stream.
struct RandomHolds;

impl AdversaryPolicy for RandomHolds {
    fn decide(&mut self, frame: &WireFrame<'_>, rng: &mut SimRng) -> Hold {
        if frame.kind.is_reply() {
            Hold::For(rng.duration(Duration::ZERO, Duration::from_millis(3)))
        } else {
            Hold::Deliver
        }
    }
}

#[test]
fn an_adversary_drawing_from_its_stream_is_deterministic() {
    let adversary = Adversary::new("random holds", || RandomHolds);
    let run = || run_calls(7, Some(adversary.clone()), 10);
    let (seen, hash) = check_determinism(run).expect("two runs of one seed agree");
    // And it did hold: the quorum took longer than without it, on the same seed.
    let (plain, plain_hash) = run_calls(7, None, 10);
    assert_ne!(hash, plain_hash);
    let total = |s: &[Arrivals]| s.iter().map(|a| a[1].1 - a[0].1).sum::<Duration>();
    assert_ne!(total(&seen), total(&plain));
}
