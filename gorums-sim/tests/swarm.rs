//! Swarm fault plans: what random faults a seed draws (kinds, weights, rates, outage
//! lengths, group partitions, clock skew), whom they may pick, and that undoing one
//! fault leaves the others in place.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use gorums_sim::{Fault, FaultPlan, ProcessId, ProcessOptions, Sim, SimConfig};

/// Five idle processes (the last one reliable) under a swarm plan for one second of
/// virtual time: the drawn plan and the faults applied.
fn swarm_run(seed: u64) -> (FaultPlan, Vec<(Duration, Fault)>) {
    let mut sim = Sim::new(SimConfig {
        faults: Some(FaultPlan {
            swarm: true,
            until: Duration::from_secs(1),
            ..FaultPlan::default()
        }),
        ..SimConfig::new(seed)
    });
    for i in 0..4 {
        sim.add_process(ProcessOptions::new(format!("p{i}")));
    }
    sim.add_process(ProcessOptions::new("observer").reliable());
    sim.run_until(Duration::from_secs(2)).unwrap();
    (sim.fault_plan().unwrap(), sim.fault_log())
}

/// The processes a fault picks as its target.
fn targets(fault: &Fault) -> Vec<ProcessId> {
    match fault {
        Fault::Isolate(p) | Fault::CrashSilent(p) | Fault::CrashReset(p) | Fault::Pause(p) => {
            vec![*p]
        }
        Fault::Skew { process, .. } => vec![*process],
        Fault::Partition(minority, rest) if minority.len() + rest.len() == 5 => minority.clone(),
        Fault::Partition(a, b) => (0..5)
            .map(ProcessId)
            .filter(|p| !a.contains(p) && !b.contains(p))
            .collect(),
        _ => Vec::new(),
    }
}

#[test]
fn each_seed_draws_its_own_plan_with_groups_and_skew_and_any_process_faulted() {
    let runs: Vec<_> = (0..30).map(swarm_run).collect();
    let plans: BTreeSet<String> = runs.iter().map(|(p, _)| format!("{p:?}")).collect();
    assert!(plans.len() >= 25, "plans differ by seed: {}", plans.len());
    assert!(
        runs.iter().any(|(p, _)| p.crash == 0) && runs.iter().any(|(p, _)| p.crash > 0),
        "a kind is left out of some plans and kept in others"
    );
    let intervals: BTreeSet<Duration> = runs.iter().map(|(p, _)| p.mean_interval).collect();
    assert!(intervals.len() >= 4, "rates drawn: {intervals:?}");
    let faults: Vec<&Fault> = runs
        .iter()
        .flat_map(|(_, log)| log.iter().map(|f| &f.1))
        .collect();
    let groups: BTreeSet<usize> = faults
        .iter()
        .filter_map(|f| match f {
            // A group partition: a minority against everyone else (bridges are below).
            Fault::Partition(minority, rest) if minority.len() + rest.len() == 5 => {
                assert!(minority.len() <= 2);
                Some(minority.len())
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        groups,
        BTreeSet::from([1, 2]),
        "minorities of one and of two"
    );
    assert!(
        faults
            .iter()
            .any(|f| matches!(f, Fault::Skew { drift_ppm, .. } if *drift_ppm != 0)),
        "clocks skewed"
    );
    let picked: BTreeSet<ProcessId> = faults.iter().flat_map(|f| targets(f)).collect();
    assert_eq!(
        picked,
        (0..4).map(ProcessId).collect(),
        "every process made with ProcessOptions::new is faulted, the reliable one never"
    );
    assert_eq!(swarm_run(3).1, runs[3].1, "a seed replays its plan");
}

/// The bridges of a fault log: a partition between two sides that leaves out one
/// process, as (bridge, side, side).
fn bridges(log: &[(Duration, Fault)]) -> Vec<(ProcessId, Vec<ProcessId>, Vec<ProcessId>)> {
    log.iter()
        .filter_map(|(_, f)| match f {
            Fault::Partition(a, b) if a.len() + b.len() == 4 => {
                let bridge = (0..5)
                    .map(ProcessId)
                    .find(|p| !a.contains(p) && !b.contains(p))?;
                Some((bridge, a.clone(), b.clone()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn swarm_plans_draw_bridge_partitions() {
    let runs: Vec<_> = (0..30).map(swarm_run).collect();
    assert!(
        runs.iter().any(|(p, _)| p.bridge == 0) && runs.iter().any(|(p, _)| p.bridge > 0),
        "bridges are left out of some plans and kept in others"
    );
    let all: Vec<_> = runs.iter().flat_map(|(_, log)| bridges(log)).collect();
    assert!(all.len() >= 5, "bridges drawn: {}", all.len());
    let picked: BTreeSet<ProcessId> = all.iter().map(|b| b.0).collect();
    assert!(picked.len() >= 3, "the bridge is drawn: {picked:?}");
    assert!(
        picked.iter().all(|p| p.0 < 4),
        "the reliable process is never the bridge"
    );
    for (bridge, a, b) in &all {
        assert!(!a.is_empty() && !b.is_empty() && !a.contains(bridge) && !b.contains(bridge));
    }
    let sizes: BTreeSet<usize> = all.iter().map(|(_, a, _)| a.len()).collect();
    assert!(sizes.len() >= 2, "sides of drawn sizes: {sizes:?}");
}

/// A scripted bridge: 1 hears 0 and 2 while 0 and 2 do not hear each other, until the
/// partition is undone.
#[test]
fn a_bridge_hears_both_sides_while_the_sides_do_not_hear_each_other() {
    use gorums_sim::RuntimeHandle;
    use std::sync::{Arc, Mutex};
    let mut sim = Sim::new(SimConfig::new(7));
    let p: Vec<ProcessId> = (0..3)
        .map(|i| {
            sim.add_process(ProcessOptions {
                host: format!("10.0.0.{i}"),
                ..ProcessOptions::new(format!("p{i}"))
            })
        })
        .collect();
    // Each process listens and counts the bytes it hears from each sender.
    let heard: Arc<Mutex<BTreeSet<(usize, usize)>>> = Arc::default();
    for (i, &pid) in p.iter().enumerate() {
        let rt = sim.runtime(pid);
        let h = heard.clone();
        sim.spawn(pid, async move {
            let mut listener = rt.listen(&format!("10.0.0.{i}:1")).await.unwrap();
            loop {
                let mut conn = listener.accept().await.unwrap();
                let h = h.clone();
                rt.spawn(Box::pin(async move {
                    let mut buf = [0u8; 1];
                    while futures_io_read(&mut conn.reader, &mut buf).await > 0 {
                        h.lock().unwrap().insert((usize::from(buf[0]), i));
                    }
                }));
            }
        });
    }
    sim.schedule(Duration::ZERO, Fault::Partition(vec![p[0]], vec![p[2]]));
    // Each dial on its own task: one held across the partition stops no other.
    for (i, j) in (0..3)
        .flat_map(|i| (0..3).map(move |j| (i, j)))
        .filter(|(i, j)| i != j)
    {
        let rt: RuntimeHandle = sim.runtime(p[i]);
        sim.spawn(p[i], async move {
            rt.sleep_until(gorums_sim::Instant::from_nanos(1_000_000))
                .await;
            if let Ok(mut conn) = rt.connect(&format!("10.0.0.{j}:1")).await {
                futures_io_write(&mut conn.writer, &[i as u8]).await;
                std::future::pending::<()>().await;
            }
        });
    }
    sim.run_until(Duration::from_millis(500)).unwrap();
    let seen = heard.lock().unwrap().clone();
    assert_eq!(
        seen,
        BTreeSet::from([(0, 1), (1, 0), (1, 2), (2, 1)]),
        "the bridge and each side hear each other; the sides do not"
    );
}

#[test]
fn a_rejoin_heals_only_its_own_fault() {
    use std::sync::{Arc, Mutex};
    // Three processes; 1 cannot hear 0 (a one-way cut), then 0 is isolated and rejoins:
    // the one-way cut must outlast the isolation.
    let mut sim = Sim::new(SimConfig::new(1));
    let a = sim.add_process(ProcessOptions {
        host: String::from("10.0.0.1"),
        ..ProcessOptions::new("a")
    });
    let b = sim.add_process(ProcessOptions {
        host: String::from("10.0.0.2"),
        ..ProcessOptions::new("b")
    });
    let got: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let (rt_a, rt_b) = (sim.runtime(a), sim.runtime(b));
    let g = got.clone();
    sim.spawn(b, async move {
        let mut listener = rt_b.listen("10.0.0.2:1").await.unwrap();
        let mut conn = listener.accept().await.unwrap();
        let mut buf = [0u8; 1];
        while futures_io_read(&mut conn.reader, &mut buf).await > 0 {
            g.lock()
                .unwrap()
                .push(Duration::from_nanos(rt_b.now().as_nanos()));
        }
    });
    sim.spawn(a, async move {
        let mut conn = rt_a.connect("10.0.0.2:1").await.unwrap();
        rt_a.sleep_until(gorums_sim::Instant::from_nanos(40_000_000))
            .await;
        futures_io_write(&mut conn.writer, b"x").await;
        std::future::pending::<()>().await;
    });
    sim.schedule(Duration::from_millis(10), Fault::Block { from: a, to: b });
    sim.schedule(Duration::from_millis(20), Fault::Isolate(a));
    sim.schedule(Duration::from_millis(30), Fault::Rejoin(a));
    sim.schedule(
        Duration::from_millis(300),
        Fault::Unblock { from: a, to: b },
    );
    sim.run_until(Duration::from_millis(500)).unwrap();
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0] >= Duration::from_millis(300),
        "held by the one-way cut: {got:?}"
    );
}

async fn futures_io_read(
    r: &mut Box<dyn futures_io::AsyncRead + Send + Unpin>,
    buf: &mut [u8],
) -> usize {
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut **r).poll_read(cx, buf))
        .await
        .unwrap_or(0)
}

async fn futures_io_write(w: &mut Box<dyn futures_io::AsyncWrite + Send + Unpin>, buf: &[u8]) {
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut **w).poll_write(cx, buf))
        .await
        .unwrap();
}

#[test]
fn a_clock_skewed_mid_sleep_never_ends_the_sleep_early() {
    let mut sim = Sim::new(SimConfig::new(1));
    let p = sim.add_process(ProcessOptions::new("p"));
    // At 10 ms the clock drops to half speed and jumps 1 ms ahead.
    sim.schedule(
        Duration::from_millis(10),
        Fault::Skew {
            process: p,
            drift_ppm: -500_000,
            jump: Duration::from_millis(1),
        },
    );
    let rt = sim.runtime(p);
    let (deadline, woke) = sim
        .run(p, async move {
            let deadline = rt.now() + Duration::from_millis(100);
            rt.sleep_until(deadline).await;
            (deadline, rt.now())
        })
        .unwrap();
    assert!(woke >= deadline, "{woke:?} < {deadline:?}");
    // 10 ms at full speed, 1 ms jumped, 89 ms at half speed: 188 ms of true time.
    assert_eq!(sim.now(), Duration::from_millis(188));
}
