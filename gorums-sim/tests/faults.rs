//! The simulator's faults as a user of the API sees them: partitions one way and both
//! ways, resets (the engine redials by itself), crash and restart with kept state, pause,
//! clock skew. Each scenario is scripted at given virtual times.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gorums_sim::buggify::{DELAYED_FLUSH, DELAYED_FLUSH_HOLD, EARLY_TIMEOUT};
use gorums_sim::{
    BuggifyPlan, BuggifySite, Configuration, EndpointConfig, Fault, NodeFailure, NodeId, NodeList,
    ProcessId, ProcessOptions, RuntimeHandle, ServerCtx, Sim, SimConfig, System, SystemOptions,
};

const GET: &str = "count.Counter.Get";
const ADDR: &str = "10.0.0.1:7000";

/// Request and reply: two counters.
#[derive(Clone, PartialEq, prost::Message)]
struct Counts {
    /// Calls since the counter's first start (kept across restarts).
    #[prost(uint64, tag = "1")]
    durable: u64,
    /// Calls since the last start (lost in a crash).
    #[prost(uint64, tag = "2")]
    volatile: u64,
}

/// A sim with a counter server (restartable, `durable` on its disk) and a client process.
fn setup(seed: u64) -> (Sim, ProcessId, ProcessId) {
    setup_with(SimConfig::new(seed))
}

/// [`setup`] with the given configuration.
fn setup_with(config: SimConfig) -> (Sim, ProcessId, ProcessId) {
    let mut sim = Sim::new(config);
    let disk = Arc::new(AtomicU64::new(0));
    let server = sim.add_process_with_boot(
        ProcessOptions {
            host: String::from("10.0.0.1"),
            ..ProcessOptions::new("server")
        },
        move |rt: RuntimeHandle| {
            let disk = disk.clone();
            async move {
                let system = System::new(rt.clone(), SystemOptions::with_id(NodeId(1)));
                let volatile = Arc::new(AtomicU64::new(0));
                system.register_unary(GET, move |_ctx: ServerCtx, _req: Counts| {
                    let reply = Counts {
                        durable: disk.fetch_add(1, Ordering::SeqCst) + 1,
                        volatile: volatile.fetch_add(1, Ordering::SeqCst) + 1,
                    };
                    std::future::ready(Ok(reply))
                });
                system.listen(ADDR).await.unwrap();
                std::future::pending::<()>().await;
            }
        },
    );
    let client = sim.add_process(ProcessOptions {
        host: String::from("10.0.1.1"),
        ..ProcessOptions::new("client")
    });
    (sim, server, client)
}

fn client_config(rt: &RuntimeHandle) -> Configuration {
    Configuration::new(
        rt.clone(),
        NodeList::map([(1, ADDR)]),
        SystemOptions {
            endpoint: EndpointConfig {
                initial_backoff: Duration::from_millis(5),
                max_backoff: Duration::from_millis(20),
                ..EndpointConfig::default()
            },
            ..SystemOptions::default()
        },
    )
    .unwrap()
}

async fn sleep(rt: &RuntimeHandle, d: Duration) {
    rt.sleep_until(rt.now() + d).await;
}

async fn get(config: &Configuration) -> Result<Counts, NodeFailure> {
    config.nodes()[0]
        .rpc::<Counts, Counts, _>(GET, &Counts::default())
        .await
        .map_err(|e| e.failure)
}

#[test]
fn a_one_way_partition_holds_replies_until_it_heals() {
    let (mut sim, server, client) = setup(1);
    sim.schedule(
        Duration::from_millis(10),
        Fault::Block {
            from: server,
            to: client,
        },
    );
    sim.schedule(
        Duration::from_millis(300),
        Fault::Unblock {
            from: server,
            to: client,
        },
    );
    let rt = sim.runtime(client);
    let (first, waited) = sim
        .run(client, async move {
            let config = client_config(&rt);
            sleep(&rt, Duration::from_millis(20)).await;
            let start = rt.now();
            let reply = get(&config).await.unwrap();
            (reply, rt.now() - start)
        })
        .unwrap();
    assert_eq!(
        first.durable, 1,
        "the request got through; the reply waited"
    );
    assert!(waited >= Duration::from_millis(270), "{waited:?}");
}

#[test]
fn an_isolated_server_times_out_and_is_used_again_after_it_rejoins() {
    let (mut sim, server, client) = setup(2);
    sim.schedule(Duration::from_millis(10), Fault::Isolate(server));
    sim.schedule(Duration::from_millis(200), Fault::Rejoin(server));
    let rt = sim.runtime(client);
    let (during, after) = sim
        .run(client, async move {
            let config = client_config(&rt);
            get(&config).await.unwrap();
            sleep(&rt, Duration::from_millis(20)).await;
            let during = config
                .with_timeout(Duration::from_millis(50))
                .quorum_call::<Counts, Counts>(GET, &Counts::default())
                .all()
                .await;
            sleep(&rt, Duration::from_millis(300)).await;
            (during, get(&config).await)
        })
        .unwrap();
    assert_eq!(
        during.unwrap_err().cause,
        gorums_sim::Cause::DeadlineExceeded
    );
    assert!(after.is_ok(), "{after:?}");
}

#[test]
fn a_reset_fails_the_call_in_flight_and_the_engine_redials() {
    let (mut sim, server, client) = setup(3);
    let rt = sim.runtime(client);
    // Reset the server's connections while the second call is on the wire.
    sim.schedule(
        Duration::from_micros(50_150),
        Fault::ResetConnections(server),
    );
    let (lost, later) = sim
        .run(client, async move {
            let config = client_config(&rt);
            get(&config).await.unwrap();
            let at = gorums_sim::Instant::from_nanos(50_000_000);
            rt.sleep_until(at).await;
            let lost = get(&config).await;
            let mut later = None;
            for _ in 0..50 {
                sleep(&rt, Duration::from_millis(10)).await;
                if let Ok(reply) = get(&config).await {
                    later = Some(reply);
                    break;
                }
            }
            (lost, later)
        })
        .unwrap();
    assert!(
        matches!(lost, Err(NodeFailure::ConnectionLost(_))),
        "{lost:?}"
    );
    assert!(later.is_some(), "reconnected by itself");
}

#[test]
fn a_restart_keeps_what_the_boot_function_kept_and_loses_the_rest() {
    let (mut sim, server, client) = setup(4);
    sim.schedule(Duration::from_millis(100), Fault::Crash(server));
    sim.schedule(Duration::from_millis(150), Fault::Restart(server));
    let rt = sim.runtime(client);
    let replies = Arc::new(Mutex::new(Vec::new()));
    let r = replies.clone();
    sim.run(client, async move {
        let config = client_config(&rt);
        for _ in 0..3 {
            let reply = get(&config).await.unwrap();
            r.lock().unwrap().push(reply);
        }
        sleep(&rt, Duration::from_millis(110)).await;
        let down = config
            .with_timeout(Duration::from_millis(30))
            .quorum_call::<Counts, Counts>(GET, &Counts::default())
            .all()
            .await;
        assert!(down.is_err(), "crashed: {down:?}");
        sleep(&rt, Duration::from_millis(200)).await;
        let reply = get(&config).await.unwrap();
        r.lock().unwrap().push(reply);
    })
    .unwrap();
    let last = replies.lock().unwrap().last().cloned().unwrap();
    assert_eq!(
        (last.durable, last.volatile),
        (4, 1),
        "the disk survived, memory did not"
    );
}

#[test]
fn a_paused_server_answers_late_and_skewed_clocks_run_at_their_rate() {
    let (mut sim, server, client) = setup(5);
    sim.schedule(Duration::from_millis(10), Fault::Pause(server));
    sim.schedule(Duration::from_millis(110), Fault::Resume(server));
    let rt = sim.runtime(client);
    let waited = sim
        .run(client, async move {
            let config = client_config(&rt);
            get(&config).await.unwrap();
            sleep(&rt, Duration::from_millis(20)).await;
            let start = rt.now();
            get(&config).await.unwrap();
            rt.now() - start
        })
        .unwrap();
    assert!(waited >= Duration::from_millis(85), "{waited:?}");

    // A clock one second ahead and 10 % fast: 100 ms of its time pass in ~91 ms.
    let skewed = sim.add_process(ProcessOptions {
        clock_offset: Duration::from_secs(1),
        clock_drift_ppm: 100_000,
        ..ProcessOptions::new("skewed")
    });
    let srt = sim.runtime(skewed);
    let start_global = sim.now();
    let local_start = srt.now();
    let global_start_nanos = u64::try_from(start_global.as_nanos()).unwrap();
    assert!(local_start.as_nanos() >= 1_000_000_000 + global_start_nanos);
    let srt2 = srt.clone();
    sim.run(skewed, async move {
        srt2.sleep_until(srt2.now() + Duration::from_millis(100))
            .await;
    })
    .unwrap();
    let global = sim.now() - start_global;
    assert!(
        global >= Duration::from_micros(90_800) && global <= Duration::from_micros(91_000),
        "{global:?}"
    );
}

#[test]
fn a_trace_hash_differs_with_the_seed_and_repeats_with_it() {
    let hash = |seed| {
        let (mut sim, _server, client) = setup(seed);
        let rt = sim.runtime(client);
        sim.run(client, async move {
            let config = client_config(&rt);
            for _ in 0..5 {
                get(&config).await.unwrap();
            }
        })
        .unwrap();
        sim.event_hash()
    };
    assert_eq!(hash(11), hash(11));
    assert_ne!(hash(11), hash(12));
}

#[test]
fn more_traffic_moves_no_fault_and_more_workload_draws_move_no_latency() {
    // The server faulty, faults drawn; the client makes `calls` calls and draws `draws`
    // numbers from the workload stream.
    let run = |calls: usize, draws: usize| {
        let mut sim = Sim::new(SimConfig {
            faults: Some(gorums_sim::FaultPlan {
                until: Duration::from_millis(800),
                ..gorums_sim::FaultPlan::default()
            }),
            ..SimConfig::new(21)
        });
        let disk = Arc::new(AtomicU64::new(0));
        let server = sim.add_process_with_boot(
            ProcessOptions {
                host: String::from("10.0.0.1"),
                ..ProcessOptions::new("server").faulty()
            },
            move |rt: RuntimeHandle| {
                let disk = disk.clone();
                async move {
                    let system = System::new(rt.clone(), SystemOptions::with_id(NodeId(1)));
                    system.register_unary(GET, move |_ctx: ServerCtx, _req: Counts| {
                        let durable = disk.fetch_add(1, Ordering::SeqCst) + 1;
                        std::future::ready(Ok(Counts {
                            durable,
                            volatile: 0,
                        }))
                    });
                    while system.listen(ADDR).await.is_err() {
                        sleep(&rt, Duration::from_millis(5)).await;
                    }
                    std::future::pending::<()>().await;
                }
            },
        );
        let client = sim.add_process(ProcessOptions::new("client").reliable());
        let mut rng = sim.rng();
        for _ in 0..draws {
            rng.next_u64();
        }
        let rt = sim.runtime(client);
        sim.spawn(client, async move {
            let config = client_config(&rt).with_timeout(Duration::from_millis(30));
            for _ in 0..calls {
                let _ = get(&config).await;
                sleep(&rt, Duration::from_millis(10)).await;
            }
        });
        sim.run_until(Duration::from_secs(1)).unwrap();
        let _ = server;
        (sim.fault_log(), sim.event_hash())
    };
    // The log names the connection a random reset hit (so that it replays), and which
    // connections there are depends on the traffic: compare the draws.
    let drawn = |log: Vec<(Duration, Fault)>| -> Vec<(Duration, Fault)> {
        log.into_iter()
            .map(|(at, f)| match f {
                Fault::ResetConnection { .. } => (at, Fault::ResetRandom),
                f => (at, f),
            })
            .collect()
    };
    let (few, _) = run(2, 0);
    let (many, _) = run(40, 0);
    assert!(few.len() > 5, "faults were drawn: {few:?}");
    assert_eq!(
        drawn(few),
        drawn(many),
        "the faults do not depend on the traffic"
    );
    // The workload stream is apart from the network's: drawing from it changes nothing.
    assert_eq!(run(10, 0).1, run(10, 1000).1);
}

/// The order in which three tasks, all ready at time zero and each yielding once, finish
/// their two steps, under `schedule` with `seed`.
fn order(schedule: gorums_sim::Schedule, seed: u64) -> Vec<u32> {
    let mut sim = Sim::new(SimConfig {
        schedule,
        ..SimConfig::new(seed)
    });
    let p = sim.add_process(ProcessOptions::new("p"));
    let log = Arc::new(Mutex::new(Vec::new()));
    for task in 0..3u32 {
        let log = log.clone();
        sim.spawn(p, async move {
            log.lock().unwrap().push(task);
            let mut yielded = false;
            std::future::poll_fn(|cx| {
                if yielded {
                    return std::task::Poll::Ready(());
                }
                yielded = true;
                cx.waker().wake_by_ref();
                std::task::Poll::Pending
            })
            .await;
            log.lock().unwrap().push(10 + task);
        });
    }
    sim.run_until(Duration::from_millis(1)).unwrap();
    log.lock().unwrap().clone()
}

#[test]
fn tasks_ready_at_one_instant_run_in_an_order_drawn_from_the_seed() {
    use gorums_sim::Schedule;
    use std::collections::BTreeSet;
    let fifo: BTreeSet<Vec<u32>> = (0..20).map(|s| order(Schedule::Fifo, s)).collect();
    assert_eq!(
        fifo.into_iter().collect::<Vec<_>>(),
        vec![vec![0, 1, 2, 10, 11, 12]],
        "wake order, whatever the seed"
    );
    for schedule in [Schedule::Random, Schedule::Pct { depth: 2, steps: 6 }] {
        let orders: BTreeSet<Vec<u32>> = (0..40).map(|s| order(schedule, s)).collect();
        assert!(orders.len() >= 6, "{schedule:?}: {orders:?}");
        assert_eq!(order(schedule, 5), order(schedule, 5), "a seed replays");
    }
    assert_eq!(SimConfig::new(0).schedule, Schedule::Random, "the default");
}

/// A crash of the server at 40 ms (a process death rather than a silent host with
/// probability `crash_reset`), and a call with a 100 ms timeout at 50 ms: its outcome and how long
/// it took.
fn call_a_crashed_server(crash_reset: f64) -> (Result<(), gorums_sim::Cause>, Duration) {
    let (mut sim, server, client) = setup_with(SimConfig {
        crash_reset,
        ..SimConfig::new(6)
    });
    sim.schedule(Duration::from_millis(40), Fault::Crash(server));
    let rt = sim.runtime(client);
    sim.run(client, async move {
        let config = client_config(&rt).with_timeout(Duration::from_millis(100));
        get(&config).await.unwrap();
        rt.sleep_until(gorums_sim::Instant::from_nanos(50_000_000))
            .await;
        let start = rt.now();
        let outcome = config
            .quorum_call::<Counts, Counts>(GET, &Counts::default())
            .all()
            .await
            .map(|_| ())
            .map_err(|e| e.cause);
        (outcome, rt.now() - start)
    })
    .unwrap()
}

#[test]
fn a_crashed_host_is_silent_and_the_call_ends_by_its_timeout() {
    let (outcome, took) = call_a_crashed_server(0.0);
    assert_eq!(outcome, Err(gorums_sim::Cause::DeadlineExceeded));
    assert!(took >= Duration::from_millis(100), "{took:?}");
    // A process dead on a live host: its connection reset, its address refusing.
    let (outcome, took) = call_a_crashed_server(1.0);
    assert!(
        outcome.is_err() && outcome != Err(gorums_sim::Cause::DeadlineExceeded),
        "{outcome:?}"
    );
    assert!(took < Duration::from_millis(10), "{took:?}");
}

#[test]
fn bytes_on_the_wire_arrive_after_their_sender_crashed() {
    let (mut sim, server, client) = setup_with(SimConfig {
        latency: Duration::from_millis(1),
        jitter: Duration::ZERO,
        crash_reset: 0.0,
        ..SimConfig::new(7)
    });
    // The request reaches the server at 51 ms and its reply is on the wire until 52 ms.
    sim.schedule(Duration::from_micros(51_500), Fault::Crash(server));
    let rt = sim.runtime(client);
    let (reply, at) = sim
        .run(client, async move {
            let config = client_config(&rt).with_timeout(Duration::from_millis(100));
            get(&config).await.unwrap();
            rt.sleep_until(gorums_sim::Instant::from_nanos(50_000_000))
                .await;
            let reply = get(&config).await;
            (reply, rt.now())
        })
        .unwrap();
    assert_eq!(
        reply.map(|r| r.durable),
        Ok(2),
        "the reply outlived its sender"
    );
    assert_eq!(at.as_nanos(), 52_000_000);
    assert!(!sim.is_up(server));
}

#[test]
fn a_disk_keeps_what_was_synced_loses_the_rest_at_a_crash_and_takes_time() {
    use gorums_sim::{Disk, DiskConfig, DiskHandle};
    let mut sim = Sim::new(SimConfig {
        disk: DiskConfig {
            write_latency: Duration::from_millis(1),
            sync_latency: Duration::from_millis(5),
            jitter: Duration::ZERO,
            ..DiskConfig::default()
        },
        ..SimConfig::new(8)
    });
    let seen: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let s = seen.clone();
    let p = sim.add_process_with_disk(ProcessOptions::new("p"), move |rt, disk: DiskHandle| {
        let s = s.clone();
        async move {
            let kept = disk.read("f").await.unwrap();
            s.lock().unwrap().push(kept);
            let start = rt.now();
            disk.write("f", 0, b"synced".to_vec()).await.unwrap();
            disk.sync("f").await.unwrap();
            assert_eq!(rt.now() - start, Duration::from_millis(6), "1 ms + 5 ms");
            disk.write("f", 0, b"SYNCED, then lost".to_vec())
                .await
                .unwrap();
            let unsynced = disk.read("f").await.unwrap();
            s.lock().unwrap().push(unsynced);
            std::future::pending::<()>().await;
        }
    });
    sim.schedule(Duration::from_millis(20), Fault::Crash(p));
    sim.schedule(Duration::from_millis(30), Fault::Restart(p));
    sim.run_until(Duration::from_millis(15)).unwrap();
    let old = sim.disk(p);
    sim.run_until(Duration::from_millis(40)).unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen[..3],
        [
            b"".to_vec(),
            b"SYNCED, then lost".to_vec(),
            b"synced".to_vec(), // what the restart reads
        ]
    );
    // The old incarnation's handle is dead.
    let rt = sim.runtime(p);
    let dead = sim
        .run(p, async move {
            let _ = rt;
            old.write("f", 0, vec![1]).await
        })
        .unwrap();
    assert!(dead.is_err());

    // Injected errors: every call fails and changes nothing.
    let mut sim = Sim::new(SimConfig {
        disk: DiskConfig {
            error_chance: 1.0,
            ..DiskConfig::default()
        },
        ..SimConfig::new(9)
    });
    let p = sim.add_process(ProcessOptions::new("p"));
    let disk = sim.disk(p);
    let (write, sync, read) = sim
        .run(p, async move {
            let write = disk.write("f", 0, vec![1]).await;
            let sync = disk.sync("f").await;
            (write, sync, disk.read("f").await.unwrap())
        })
        .unwrap();
    assert!(write.is_err() && sync.is_err() && read.is_empty());
}

/// The time of a call after the connection is up, with `cpu_per_poll` charged per poll.
fn warm_call_time(cpu_per_poll: Duration) -> Duration {
    warm_call_time_in(SimConfig {
        cpu_per_poll,
        ..SimConfig::new(8)
    })
}

/// How long a call takes once the connection is up, in a run made with `config`.
fn warm_call_time_in(config: SimConfig) -> Duration {
    let (mut sim, _server, client) = setup_with(config);
    let rt = sim.runtime(client);
    sim.run(client, async move {
        let config = client_config(&rt);
        get(&config).await.unwrap();
        let start = rt.now();
        get(&config).await.unwrap();
        rt.now() - start
    })
    .unwrap()
}

#[test]
fn a_poll_that_costs_cpu_time_keeps_its_process_busy_and_calls_answer_later() {
    let free = warm_call_time(Duration::ZERO);
    assert!(free < Duration::from_millis(1), "{free:?}");
    // The server reads the request in one poll and can write the reply no sooner than
    // its next one, 2 ms later; the client likewise between sending and reading.
    let busy = warm_call_time(Duration::from_millis(2));
    assert!(busy >= Duration::from_millis(2), "{busy:?}");
    assert!(busy < Duration::from_millis(100), "{busy:?}");
}

/// A run whose fault-injection points are all on and always fire (`api`: the API's own
/// points included).
fn always_buggified(seed: u64, api: bool) -> SimConfig {
    SimConfig {
        buggify: Some(BuggifyPlan {
            enable: 1.0,
            fire: 1.0,
            api,
        }),
        ..SimConfig::new(seed)
    }
}

/// Asks point `test.point` `n` times on the client; what each ask said, and the report.
fn ask_point(config: SimConfig, n: usize) -> (Vec<bool>, Vec<(&'static str, BuggifySite)>) {
    let (mut sim, _server, client) = setup_with(config);
    let rt = sim.runtime(client);
    let answers = sim
        .run(client, async move {
            (0..n).map(|_| rt.buggify("test.point")).collect::<Vec<_>>()
        })
        .unwrap();
    (answers, sim.buggify_report())
}

#[test]
fn buggify_points_fire_only_when_the_run_enables_them_at_the_plans_odds() {
    let (answers, report) = ask_point(SimConfig::new(3), 100);
    assert!(
        answers.iter().all(|&a| !a),
        "off unless the run turns points on"
    );
    assert!(report.is_empty());

    let plan = |enable, fire| SimConfig {
        buggify: Some(BuggifyPlan {
            enable,
            fire,
            api: true,
        }),
        ..SimConfig::new(3)
    };
    let (answers, report) = ask_point(plan(1.0, 0.5), 1000);
    let fired = answers.iter().filter(|&&a| a).count() as u64;
    assert!((400..=600).contains(&fired), "{fired} of 1000 at one half");
    let site = BuggifySite {
        enabled: true,
        asked: 1000,
        fired,
    };
    assert_eq!(report, [("test.point", site)]);
    assert_eq!(
        ask_point(plan(1.0, 0.5), 1000).0,
        answers,
        "a seed replays its firings"
    );
    let other = SimConfig {
        seed: 4,
        ..plan(1.0, 0.5)
    };
    assert_ne!(ask_point(other, 1000).0, answers);

    // A point is on or off for a whole run: at even odds, some seeds have it and
    // those that do not never fire it.
    let runs: Vec<_> = (0..40)
        .map(|seed| {
            let config = SimConfig {
                seed,
                ..plan(0.5, 1.0)
            };
            ask_point(config, 20)
        })
        .collect();
    let on = runs.iter().filter(|(_, r)| r[0].1.enabled).count();
    assert!((8..=32).contains(&on), "{on} of 40 runs enabled the point");
    for (answers, report) in &runs {
        assert!(answers.iter().all(|&a| a == report[0].1.enabled));
    }
}

#[test]
fn the_api_points_hold_writes_and_cut_deadlines() {
    let free = warm_call_time_in(SimConfig::new(8));
    assert!(free < Duration::from_millis(1), "{free:?}");
    // The request's write and the reply's write are each held 5 ms.
    let held = warm_call_time_in(always_buggified(8, true));
    assert!(held >= 2 * DELAYED_FLUSH_HOLD, "{held:?}");
    assert!(held < Duration::from_millis(20), "{held:?}");
    // With the API's points left out, only the protocol's fire.
    let quiet = warm_call_time_in(always_buggified(8, false));
    assert!(quiet < Duration::from_millis(1), "{quiet:?}");

    // A 30 ms deadline cut to a quarter ends a call whose writes are held 10 ms.
    let (mut sim, _server, client) = setup_with(always_buggified(8, true));
    let rt = sim.runtime(client);
    let (outcome, took) = sim
        .run(client, async move {
            let config = client_config(&rt);
            get(&config).await.unwrap();
            let start = rt.now();
            let outcome = config
                .with_timeout(Duration::from_millis(30))
                .quorum_call::<Counts, Counts>(GET, &Counts::default())
                .all()
                .await
                .map(|_| ())
                .map_err(|e| e.cause);
            (outcome, rt.now() - start)
        })
        .unwrap();
    assert_eq!(outcome, Err(gorums_sim::Cause::DeadlineExceeded));
    assert!(took < Duration::from_millis(10), "{took:?}");
    let report = sim.buggify_report();
    let fired = |name| {
        report
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| s.fired)
    };
    assert!(fired(EARLY_TIMEOUT) >= Some(1), "{report:?}");
    assert!(fired(DELAYED_FLUSH) >= Some(2), "{report:?}");
}

/// What `schedule_code` prints for one fault of each kind (the text is checked in
/// gorums-sim's `shrink` unit test), pasted.
fn pasted_schedule(sim: &mut Sim) {
    sim.schedule(Duration::from_millis(1), Fault::Isolate(ProcessId(1)));
    sim.schedule(Duration::from_micros(1500), Fault::Rejoin(ProcessId(1)));
    sim.schedule(
        Duration::from_nanos(2000001),
        Fault::Partition(vec![ProcessId(0)], vec![ProcessId(1), ProcessId(2)]),
    );
    sim.schedule(
        Duration::from_millis(3),
        Fault::Unpartition(vec![ProcessId(0)], vec![ProcessId(1), ProcessId(2)]),
    );
    sim.schedule(
        Duration::from_millis(4),
        Fault::Block {
            from: ProcessId(0),
            to: ProcessId(1),
        },
    );
    sim.schedule(
        Duration::from_millis(5),
        Fault::Unblock {
            from: ProcessId(0),
            to: ProcessId(1),
        },
    );
    sim.schedule(Duration::from_millis(6), Fault::HealAll);
    sim.schedule(
        Duration::from_millis(7),
        Fault::ResetConnections(ProcessId(2)),
    );
    sim.schedule(Duration::from_millis(8), Fault::ResetRandom);
    sim.schedule(
        Duration::from_millis(9),
        Fault::ResetConnection {
            dialer: ProcessId(3),
            listener: ProcessId(0),
            nth: 2,
        },
    );
    sim.schedule(Duration::from_millis(10), Fault::Crash(ProcessId(0)));
    sim.schedule(Duration::from_millis(11), Fault::CrashSilent(ProcessId(0)));
    sim.schedule(Duration::from_millis(12), Fault::CrashReset(ProcessId(0)));
    sim.schedule(Duration::from_millis(13), Fault::Restart(ProcessId(0)));
    sim.schedule(Duration::from_millis(14), Fault::Pause(ProcessId(1)));
    sim.schedule(Duration::from_millis(15), Fault::Resume(ProcessId(1)));
    sim.schedule(
        Duration::from_millis(16),
        Fault::Skew {
            process: ProcessId(2),
            drift_ppm: -250,
            jump: Duration::from_micros(12),
        },
    );
}

#[test]
fn a_printed_schedule_compiles_and_its_log_prints_back_the_same() {
    let mut sim = Sim::new(SimConfig::new(5));
    for i in 0..4 {
        sim.add_process(ProcessOptions::new(format!("p{i}")));
    }
    pasted_schedule(&mut sim);
    sim.run_until(Duration::from_millis(20)).unwrap();
    let log = sim.fault_log();
    let printed = gorums_sim::schedule_code(&log);
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 17);
    assert_eq!(
        lines[0],
        "sim.schedule(Duration::from_millis(1), Fault::Isolate(ProcessId(1)));"
    );
    assert!(lines[2].starts_with(
        "sim.schedule(Duration::from_nanos(2000001), Fault::Partition(vec![ProcessId(0)]"
    ));
    // A crash of a live process is logged with its drawn kind, so the log replays it
    // without drawing.
    assert!(
        lines[10] == "sim.schedule(Duration::from_millis(10), Fault::CrashSilent(ProcessId(0)));"
            || lines[10]
                == "sim.schedule(Duration::from_millis(10), Fault::CrashReset(ProcessId(0)));",
        "{}",
        lines[10]
    );
    assert_eq!(
        lines[16],
        "sim.schedule(Duration::from_millis(16), Fault::Skew { process: ProcessId(2), drift_ppm: -250, jump: Duration::from_micros(12) });"
    );
}
