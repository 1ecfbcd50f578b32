//! What the Paxos tests (`paxos.rs`, `multipaxos.rs`) share: acceptor processes that
//! serve on `10.0.0.<id>:7000` and survive restarts through their boot function,
//! proposer processes with a client configuration, the simulated network and fault plan,
//! and the check that a broken variant is caught and its seed replays.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use gorums_sim::{
    Configuration, DiskHandle, EndpointConfig, FaultPlan, NodeId, NodeList, ProcessId,
    ProcessOptions, RuntimeHandle, Schedule, Sim, SimConfig, SimRng, System, SystemOptions,
};

/// The address acceptor `id` listens on.
fn acceptor_addr(id: u32) -> String {
    format!("10.0.0.{id}:7000")
}

/// A simulation with the Paxos tests' network (0.5 ms latency plus up to 3 ms jitter)
/// and a swarm of random faults (the kinds, weights, rate and outage lengths drawn per
/// seed from partitions, group partitions, one-way cuts, resets, crashes with restarts,
/// pauses and clock skew; at most one process down at a time, proposers included)
/// drawn until `faults_until`; ready tasks ordered by `schedule`.
pub(crate) fn faulty_sim(seed: u64, faults_until: Duration, schedule: Schedule) -> Sim {
    Sim::new(faulty_config(seed, faults_until, schedule))
}

/// The configuration of [`faulty_sim`].
pub(crate) fn faulty_config(seed: u64, faults_until: Duration, schedule: Schedule) -> SimConfig {
    SimConfig {
        schedule,
        latency: Duration::from_micros(500),
        jitter: Duration::from_millis(3),
        faults: Some(FaultPlan {
            mean_interval: Duration::from_millis(40),
            until: faults_until,
            min_outage: Duration::from_millis(5),
            max_outage: Duration::from_millis(150),
            max_crashed: 1,
            swarm: true,
            ..FaultPlan::default()
        }),
        ..SimConfig::new(seed)
    }
}

/// Adds acceptor `id` (host `10.0.0.<id>`, picked by random faults); `boot` runs at
/// the start and again at every restart with the process's runtime and its disk (which
/// keeps what was synced before a crash); what it captures survives too.
pub(crate) fn add_acceptor_with_disk<F, Fut>(sim: &mut Sim, id: u32, boot: F) -> ProcessId
where
    F: Fn(RuntimeHandle, DiskHandle) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let options = ProcessOptions {
        host: format!("10.0.0.{id}"),
        ..ProcessOptions::new(format!("acc{id}"))
    };
    sim.add_process_with_disk(options, boot)
}

/// Adds proposer `id` (host `10.0.1.<id>`, faultable: a crash stops it for good, a
/// restart brings up an empty process) and spawns on it what
/// `proposer` returns for its runtime and a generator forked from the simulation's.
pub(crate) fn add_proposer<Fut>(
    sim: &mut Sim,
    id: u64,
    proposer: impl FnOnce(RuntimeHandle, SimRng) -> Fut,
) -> ProcessId
where
    Fut: Future<Output = ()> + Send + 'static,
{
    let options = ProcessOptions {
        host: format!("10.0.1.{id}"),
        ..ProcessOptions::new(format!("prop{id}"))
    };
    let p = sim.add_process(options);
    let rng = sim.rng();
    sim.spawn(p, proposer(sim.runtime(p), rng));
    p
}

/// Serves as acceptor `id`, with the handlers `register` installs, until the process
/// crashes.
pub(crate) async fn serve(rt: RuntimeHandle, id: u32, register: impl FnOnce(&System)) {
    let system = System::new(rt.clone(), SystemOptions::with_id(NodeId(id)));
    register(&system);
    listen(&rt, &system, id).await;
    std::future::pending::<()>().await;
}

/// Listens on acceptor `id`'s address.
pub(crate) async fn listen(rt: &RuntimeHandle, system: &System, id: u32) {
    // The old incarnation's address is free at once in the simulator; retry anyway.
    while system.listen(&acceptor_addr(id)).await.is_err() {
        rt.sleep_until(rt.now() + Duration::from_millis(5)).await;
    }
}

/// Acceptors `1..=acceptors` and their addresses.
pub(crate) fn acceptor_nodes(acceptors: u32) -> NodeList {
    NodeList::map((1..=acceptors).map(|i| (i, acceptor_addr(i))))
}

/// The endpoint settings of the tests' callers: quick redials, seeded from `rng`.
pub(crate) fn endpoint(rng: &mut SimRng) -> EndpointConfig {
    EndpointConfig {
        seed: rng.next_u64(),
        connect_timeout: Duration::from_millis(50),
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(40),
        ..EndpointConfig::default()
    }
}

/// A proposer's configuration of acceptors `1..=acceptors`: quick redials, 60 ms per
/// quorum call.
pub(crate) fn acceptors(rt: RuntimeHandle, acceptors: u32, rng: &mut SimRng) -> Configuration {
    Configuration::new(
        rt,
        acceptor_nodes(acceptors),
        SystemOptions {
            endpoint: endpoint(rng),
            ..SystemOptions::default()
        },
    )
    .unwrap()
    .with_timeout(Duration::from_millis(60))
}

/// The next item of a stream (the quorum call's replies).
pub(crate) async fn next<S: futures_core::Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *s).poll_next(cx)).await
}

/// The first seed below `max_seeds` whose verdict is a failure, and how many seeds
/// ran. Unlike `run_seeds` it ignores `GORUMS_SIM_SEED` (which replays one failure of a
/// test that must pass; a broken variant must be caught searching from seed 0), and a
/// panic is not caught: it fails the test, it is not a catch.
pub(crate) fn first_failure(
    max_seeds: u64,
    mut verdict: impl FnMut(u64) -> Result<(), String>,
) -> Option<(u64, String, u64)> {
    (0..max_seeds).find_map(|seed| verdict(seed).err().map(|why| (seed, why, seed + 1)))
}

/// Runs a broken variant over at most `max_seeds` seeds (`run` gives a seed's verdict
/// and event hash), asserts that it is caught, and that the failing seed replays to the
/// same failure with the same event hash. Returns the seed and the failure.
pub(crate) fn assert_caught_and_replays(
    name: &str,
    max_seeds: u64,
    mut run: impl FnMut(u64) -> (Result<(), String>, u64),
) -> (u64, String) {
    let mut hashes = BTreeMap::new();
    let (seed, why, tried) = first_failure(max_seeds, |seed| {
        let (verdict, hash) = run(seed);
        hashes.insert(seed, hash);
        verdict
    })
    .expect("the broken variant is caught within the seeds tried");
    println!("{name}: caught after {tried} seeds: {why}");
    let (verdict, hash) = run(seed);
    assert_eq!(verdict, Err(why.clone()), "the seed replays the failure");
    assert_eq!(Some(&hash), hashes.get(&seed), "event for event");
    (seed, why)
}
