//! The storage example's own generated client and server, unchanged, on the simulator:
//! three replicas and a writer in virtual time; one replica crashes mid-run and the
//! majority reads and writes go on. The same seed gives the same run.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use gorums_sim::{
    Configuration, Fault, NodeId, NodeList, ProcessId, ProcessOptions, RuntimeHandle, Sim,
    SimConfig, System, SystemOptions,
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
