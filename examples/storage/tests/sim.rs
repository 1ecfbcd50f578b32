//! The storage example's own generated client and server, unchanged, on the simulator:
//! three replicas and a writer in virtual time; one replica crashes mid-run and the
//! majority reads and writes go on. The same seed gives the same run.
//!
//! Then the map as its clients see it under random faults: several clients read and
//! write two keys through the example's quorum calls, and the history is checked for
//! linearizability key by key. Reads that write back what they read pass; reads
//! without the write-back (what `newest` alone gives) are caught.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use gorums_sim::{
    Adversary, Configuration, Fault, FaultPlan, FaultSchedule, HoldCompleting, KvHistory, NodeId,
    NodeList, ProcessId, ProcessOptions, RecordedRun, RegisterOp, RuntimeHandle, Sim, SimConfig,
    SimRng, System, SystemOptions, check_kv, run_seeds_parallel, shrink_seed,
};
use prost_types::Timestamp;
use storage::proto::{ReadRequest, StorageConfiguration, WriteRequest, register_storage_server};
use storage::server::{Storage, newest};

const REPLICAS: [&str; 3] = ["10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"];
const ROUNDS: u64 = 20;

fn replica(sim: &mut Sim, index: usize) -> ProcessId {
    let host = REPLICAS[index].split(':').next().unwrap().to_owned();
    sim.add_process_with_boot(
        ProcessOptions {
            host,
            ..ProcessOptions::new(format!("replica-{}", index + 1))
        },
        move |rt: RuntimeHandle| async move {
            let system = System::new(rt, SystemOptions::with_id(NodeId(index as u32 + 1)));
            register_storage_server(&system, Storage::new());
            system.listen(REPLICAS[index]).await.unwrap();
            let _peers = system.configuration(NodeList::addrs(REPLICAS)).unwrap();
            std::future::pending::<()>().await;
        },
    )
}

/// Writes `v1..vN` one after the other and reads each back from a majority, while
/// replica 3 crashes at 30 ms. Returns what each read saw.
async fn writer(rt: RuntimeHandle) -> Vec<String> {
    let config = StorageConfiguration::new(
        Configuration::new(
            rt.clone(),
            NodeList::addrs(REPLICAS),
            SystemOptions::default(),
        )
        .unwrap(),
    );
    let mut seen = Vec::new();
    for round in 1..=ROUNDS {
        let write = WriteRequest {
            key: String::from("k"),
            value: format!("v{round}"),
            // Time from the round, not a clock: the simulator decides the clock.
            time: Some(Timestamp {
                seconds: round as i64,
                nanos: 0,
            }),
        };
        config.write_qc(&write).majority().await.unwrap();
        let read = config.read_qc(&ReadRequest {
            key: String::from("k"),
        });
        let reply = newest(read, config.majority()).await.unwrap();
        seen.push(reply.value);
        let next = rt.now() + Duration::from_millis(5);
        rt.sleep_until(next).await;
    }
    seen
}

fn run(seed: u64) -> (Vec<String>, u64) {
    let mut sim = Sim::new(SimConfig::new(seed));
    let replicas: Vec<ProcessId> = (0..REPLICAS.len()).map(|i| replica(&mut sim, i)).collect();
    let client = sim.add_process(ProcessOptions {
        host: String::from("10.0.1.1"),
        ..ProcessOptions::new("writer")
    });
    sim.schedule(Duration::from_millis(30), Fault::Crash(replicas[2]));
    let rt = sim.runtime(client);
    let seen = sim
        .run(client, writer(rt))
        .unwrap_or_else(|e| panic!("{e}; replay with seed {seed}"));
    assert!(
        sim.now() > Duration::from_millis(60) && !sim.is_up(replicas[2]),
        "the run went on well past the crash (seed {seed}, ended at {:?})",
        sim.now()
    );
    (seen, sim.event_hash())
}

#[test]
fn majority_reads_see_every_write_through_a_crash() {
    let expected: Vec<String> = (1..=ROUNDS).map(|r| format!("v{r}")).collect();
    for seed in 1..=20 {
        let (seen, _) = run(seed);
        assert_eq!(seen, expected, "seed {seed}");
    }
}

#[test]
fn the_same_seed_replays_the_same_run() {
    assert_eq!(run(7).1, run(7).1);
    assert_ne!(run(7).1, run(8).1);
}

/// The keys the linearizability runs use; client `i` (from 1) is the only writer of
/// key `i - 1`, so its own counter gives unique, increasing timestamps.
const KEYS: [&str; 2] = ["a", "b"];
/// Clients in a linearizability run: one writer per key and a reader.
const CLIENTS: u64 = 3;
/// Operations per client.
const OPS: u64 = 12;

/// How a client reads.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Reads {
    /// Newest of a majority, then written back to a majority before returning (ABD).
    WriteBack,
    /// Newest of a majority, returned at once: not linearizable when a write is in
    /// flight (a later read may see an older value).
    NoWriteBack,
}

/// A replica that keeps its map on its simulated disk, so a crash loses only what was
/// not synced (nothing acknowledged).
fn durable_replica(sim: &mut Sim, index: usize) -> ProcessId {
    let host = REPLICAS[index].split(':').next().unwrap().to_owned();
    sim.add_process_with_disk(
        ProcessOptions {
            host,
            ..ProcessOptions::new(format!("replica-{}", index + 1))
        },
        move |rt: RuntimeHandle, disk| async move {
            let Ok(storage) = Storage::open(disk).await else {
                return; // an injected read error at boot: this incarnation stays down
            };
            let system = System::new(rt, SystemOptions::with_id(NodeId(index as u32 + 1)));
            register_storage_server(&system, storage);
            system.listen(REPLICAS[index]).await.unwrap();
            std::future::pending::<()>().await;
        },
    )
}

/// The time a history records: the client's clock, as a duration since the run began.
fn at(rt: &RuntimeHandle) -> Duration {
    Duration::from_nanos(rt.now().as_nanos())
}

async fn kv_client(
    rt: RuntimeHandle,
    id: u64,
    mut rng: SimRng,
    reads: Reads,
    history: KvHistory<&'static str>,
) {
    let config = StorageConfiguration::new(
        Configuration::new(
            rt.clone(),
            NodeList::addrs(REPLICAS),
            SystemOptions::default(),
        )
        .unwrap()
        .with_timeout(Duration::from_millis(100)),
    );
    let majority = config.majority();
    let mut ts = 0;
    for _ in 0..OPS {
        let pause = rng.duration(Duration::ZERO, Duration::from_millis(20));
        rt.sleep_until(rt.now() + pause).await;
        let own_key = KEYS.get(id as usize - 1);
        if let Some(&key) = own_key.filter(|_| rng.chance(0.5)) {
            ts += 1;
            let value = id * 1000 + ts;
            let op = history.invoke(id, key, RegisterOp::Write(value), at(&rt));
            let write = WriteRequest {
                key: key.to_owned(),
                value: value.to_string(),
                time: Some(Timestamp {
                    seconds: ts as i64,
                    nanos: 0,
                }),
            };
            if config.write_qc(&write).majority().await.is_ok() {
                history.write_ok(op, at(&rt));
            }
        } else {
            let key = KEYS[rng.below(KEYS.len() as u64) as usize];
            let op = history.invoke(id, key, RegisterOp::Read(None), at(&rt));
            let read = config.read_qc(&ReadRequest {
                key: key.to_owned(),
            });
            let Ok(reply) = newest(read, majority).await else {
                continue;
            };
            if reads == Reads::WriteBack && reply.time.is_some() {
                let back = WriteRequest {
                    key: key.to_owned(),
                    value: reply.value.clone(),
                    time: reply.time,
                };
                if config.write_qc(&back).majority().await.is_err() {
                    continue;
                }
            }
            // Never written: the map's initial value, 0.
            let value = reply.value.parse().unwrap_or(0);
            history.read_ok(op, value, at(&rt));
        }
    }
}

/// What goes wrong in a linearizability run.
#[derive(Clone, Copy)]
enum KvFaults<'a> {
    /// Random faults drawn from the seed.
    Random,
    /// These faults only (a recorded or shrunk schedule).
    Scripted(&'a [(Duration, Fault)]),
    /// No faults; the adversary decides which writes and replies lag.
    Adversary(&'a Adversary),
}

/// One run under random faults; the history checked key by key.
fn run_kv(seed: u64, reads: Reads) -> Result<usize, String> {
    run_kv_with(seed, reads, KvFaults::Random).0
}

/// [`run_kv`] with the faults `faults` says; also the faults the run applied (what the
/// shrinker replays).
fn run_kv_with(
    seed: u64,
    reads: Reads,
    faults: KvFaults<'_>,
) -> (Result<usize, String>, FaultSchedule) {
    let random = FaultPlan {
        mean_interval: Duration::from_millis(40),
        until: Duration::from_millis(800),
        max_outage: Duration::from_millis(150),
        ..FaultPlan::default()
    };
    let mut sim = Sim::new(SimConfig {
        latency: Duration::from_micros(500),
        jitter: Duration::from_millis(3),
        faults: matches!(faults, KvFaults::Random).then_some(random),
        adversary: match faults {
            KvFaults::Adversary(a) => Some(a.clone()),
            _ => None,
        },
        ..SimConfig::new(seed)
    });
    for i in 0..REPLICAS.len() {
        durable_replica(&mut sim, i);
    }
    if let KvFaults::Scripted(schedule) = faults {
        sim.schedule_all(schedule);
    }
    let history = KvHistory::new();
    for id in 1..=CLIENTS {
        // Reliable: never faulted, so each client's clock is true time, the history's.
        let p = sim.add_process(
            ProcessOptions {
                host: format!("10.0.1.{id}"),
                ..ProcessOptions::new(format!("client-{id}"))
            }
            .reliable(),
        );
        let rng = sim.rng();
        sim.spawn(
            p,
            kv_client(sim.runtime(p), id, rng, reads, history.clone()),
        );
    }
    let ran = sim.run_until(Duration::from_secs(3));
    let faults = sim.fault_log();
    let verdict = ran.map_err(|e| e.to_string()).and_then(|()| {
        check_kv(&history.operations(), 0).map_err(|v| v.to_string())?;
        Ok(history.completed())
    });
    (verdict, faults)
}

#[test]
fn the_map_is_linearizable_key_by_key_with_write_back_under_faults() {
    let completed = AtomicUsize::new(0);
    let report = run_seeds_parallel("storage-kv", 60, |seed| {
        completed.fetch_add(run_kv(seed, Reads::WriteBack)?, Ordering::Relaxed);
        Ok(())
    });
    assert!(report.failure.is_none(), "{:?}", report.failure);
    // Most operations get through the faults, so the check had something to check (a
    // seed whose faults cut a majority off for long completes few).
    let all = report.seeds as usize * (CLIENTS * OPS) as usize;
    let completed = completed.into_inner();
    println!("storage-kv: {completed} of {all} operations completed");
    assert!(completed * 10 >= all * 7, "{completed} of {all}");
}

#[test]
fn reads_without_write_back_are_caught_with_the_operations_that_show_it() {
    let caught =
        (0..300).find_map(|seed| run_kv(seed, Reads::NoWriteBack).err().map(|e| (seed, e)));
    let (seed, why) = caught.expect("reads without write-back are caught within 300 seeds");
    println!("storage-kv without write-back: seed {seed}: {why}");
    assert!(why.contains("is not linearizable"), "{why}");
    // A shortest witness: a handful of operations, not the whole history.
    let shown = why
        .lines()
        .filter(|l| l.trim_start().starts_with("client"))
        .count();
    assert!((2..=6).contains(&shown), "{why}");
    assert_eq!(
        run_kv(seed, Reads::NoWriteBack),
        Err(why),
        "the seed replays"
    );

    // The run's faults shrink to the few the violation needs, and those alone still
    // break it (the broken read is not linearizable without them only by luck).
    let replay = |seed: u64, schedule: &[(Duration, Fault)]| {
        run_kv_with(seed, Reads::NoWriteBack, KvFaults::Scripted(schedule))
            .0
            .map(|_| ())
    };
    let shrunk = shrink_seed(
        "storage-kv without write-back",
        seed,
        |s| {
            let (result, faults) = run_kv_with(s, Reads::NoWriteBack, KvFaults::Random);
            RecordedRun {
                result: result.map(|_| ()),
                faults,
            }
        },
        replay,
    )
    .expect("the recorded faults replay to the violation")
    .expect("the seed fails when recorded");
    let failure = replay(seed, &shrunk.schedule).expect_err("the shrunk schedule fails");
    assert!(failure.contains("is not linearizable"), "{failure}");
    assert!(
        shrunk.schedule.len() < shrunk.original_faults,
        "{} of {} faults left",
        shrunk.schedule.len(),
        shrunk.original_faults
    );
    // (`shrink_seed` printed the shrunk schedule as code to paste.)
}

/// The storage example's quorum write, as the adversary sees it on the wire.
const WRITE_QC: &str = "proto.Storage.WriteQC";

#[test]
fn the_adversary_breaks_reads_without_write_back_at_once_and_not_with_it() {
    // A write's requests beyond the first, and the reply that would complete it, are
    // held 30 ms: one replica alone has the new value meanwhile.
    let policy = HoldCompleting::new(Duration::from_millis(30))
        .requests_too()
        .only(WRITE_QC);
    let adversary = Adversary::new("a write reaches one replica first", move || policy.clone());
    let against = |seed, reads| run_kv_with(seed, reads, KvFaults::Adversary(&adversary)).0;
    let caught = (0..5).find(|&seed| against(seed, Reads::NoWriteBack).is_err());
    let seed = caught.expect("the adversary breaks reads without write-back within 5 seeds");
    println!("storage-kv without write-back: caught by the adversary at seed {seed}, no faults");
    for seed in 0..=seed {
        let quiet = run_kv_with(seed, Reads::NoWriteBack, KvFaults::Scripted(&[])).0;
        assert!(
            quiet.is_ok(),
            "seed {seed} without the adversary: {quiet:?}"
        );
    }
    for seed in 0..5 {
        let completed = against(seed, Reads::WriteBack).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            completed > 0,
            "seed {seed}: the adversary leaves the calls live"
        );
    }
}
