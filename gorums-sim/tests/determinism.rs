//! Determinism checked, not assumed: a server whose handler escapes the simulation (a
//! `HashMap` iterated in its random order, the real clock, a thread) makes two runs of
//! one seed differ, and the check reports the first event where they part, with both
//! sides; a handler that stays inside passes, and `run_seeds` checks its first seeds.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use gorums_sim::{
    Configuration, Divergence, NodeId, NodeList, ProcessOptions, RuntimeHandle, ServerCtx, Sim,
    SimConfig, System, SystemOptions, check_determinism, run_seeds,
};

const GET: &str = "det.Numbers.Get";
const ADDR: &str = "10.0.0.1:7000";

/// A reply: some numbers.
#[derive(Clone, PartialEq, prost::Message)]
struct Numbers {
    #[prost(uint64, repeated, tag = "1")]
    values: Vec<u64>,
}

/// What the server's handler does to make its reply.
#[derive(Clone, Copy, Debug)]
enum Handler {
    /// The keys 0..16 in sorted order: deterministic.
    Sorted,
    /// The keys of a `HashMap` with std's `RandomState`, in its iteration order: the
    /// same keys, a different order in each run (the same number of bytes).
    HashMapOrder,
    /// The wall clock's nanoseconds since the epoch (the same number of bytes).
    SystemClock,
    /// Real nanoseconds since the test binary first asked (`Instant`).
    InstantClock,
    /// Hands the work to an OS thread that takes a real millisecond, and polls for it
    /// every virtual millisecond: the reply and the timers depend on the OS scheduler.
    Thread,
}

async fn sleep(rt: &RuntimeHandle, d: Duration) {
    rt.sleep_until(rt.now() + d).await;
}

/// The reply `handler` makes.
async fn reply(rt: &RuntimeHandle, handler: Handler) -> Vec<u64> {
    match handler {
        Handler::Sorted => (0..16).collect(),
        Handler::HashMapOrder => {
            let map: HashMap<u64, ()> = (0..16).map(|k| (k, ())).collect();
            map.keys().copied().collect()
        }
        Handler::SystemClock => {
            let since_epoch = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap();
            vec![since_epoch.as_nanos() as u64 | 1 << 62]
        }
        Handler::InstantClock => {
            static FIRST: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
            let first = *FIRST.get_or_init(Instant::now);
            vec![first.elapsed().as_nanos() as u64 | 1 << 62]
        }
        Handler::Thread => {
            let done = Arc::new(AtomicBool::new(false));
            let flag = done.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(1));
                flag.store(true, Ordering::Release);
            });
            let mut waited = 0;
            while !done.load(Ordering::Acquire) && waited < 100_000 {
                sleep(rt, Duration::from_millis(1)).await;
                waited += 1;
            }
            vec![waited]
        }
    }
}

/// One seed: a server answering with `handler`'s reply, a client calling it three
/// times. Returns the replies.
fn run(seed: u64, handler: Handler) -> Vec<Vec<u64>> {
    let mut sim = Sim::new(SimConfig::new(seed));
    let server = sim.add_process(ProcessOptions {
        host: String::from("10.0.0.1"),
        ..ProcessOptions::new("server")
    });
    let srt = sim.runtime(server);
    sim.spawn(server, async move {
        let system = System::new(srt.clone(), SystemOptions::with_id(NodeId(1)));
        system.register_unary(GET, move |_ctx: ServerCtx, _req: Numbers| {
            let rt = srt.clone();
            async move {
                Ok(Numbers {
                    values: reply(&rt, handler).await,
                })
            }
        });
        system.listen(ADDR).await.unwrap();
        std::future::pending::<()>().await;
    });
    let client = sim.add_process(ProcessOptions::new("client"));
    let rt = sim.runtime(client);
    sim.run(client, async move {
        let config = Configuration::new(
            rt.clone(),
            NodeList::map([(1, ADDR)]),
            SystemOptions::default(),
        )
        .unwrap()
        .with_timeout(Duration::from_secs(300));
        let mut replies = Vec::new();
        for _ in 0..3 {
            sleep(&rt, Duration::from_millis(2)).await;
            let reply: Numbers = config.nodes()[0]
                .rpc(GET, &Numbers::default())
                .await
                .unwrap();
            replies.push(reply.values);
        }
        replies
    })
    .unwrap()
}

/// The divergence `handler` causes, printed.
fn diverges(handler: Handler) -> Divergence {
    let divergence = check_determinism(|| run(1, handler)).unwrap_err();
    println!("{handler:?}: {divergence}");
    divergence
}

#[test]
fn a_handler_that_stays_in_the_simulation_runs_the_same_twice() {
    let replies = check_determinism(|| run(1, Handler::Sorted)).unwrap();
    assert_eq!(replies, vec![(0..16).collect::<Vec<u64>>(); 3]);
}

#[test]
fn a_hash_map_iterated_in_a_handler_is_caught_at_the_reply_it_wrote() {
    let d = diverges(Handler::HashMapOrder);
    // Same events, same sizes: only the bytes of the server's first reply differ.
    assert!(d.event.is_some(), "{d}");
    assert!(d.first_run.contains("server  write conn"), "{d}");
    assert!(d.second_run.contains("server  write conn"), "{d}");
    assert_ne!(
        d.first_run, d.second_run,
        "both sides are shown, and they differ"
    );
    assert!(d.first_run.contains("payload digest"), "{d}");
    assert!(d.last_agreed.is_some(), "{d}");
}

#[test]
fn the_real_clock_read_in_a_handler_is_caught_at_the_reply_it_wrote() {
    for handler in [Handler::SystemClock, Handler::InstantClock] {
        let d = diverges(handler);
        assert!(
            d.first_run.contains("server  write conn"),
            "{handler:?}: {d}"
        );
        assert_ne!(d.first_run, d.second_run, "{handler:?}");
    }
}

#[test]
fn a_thread_waited_for_in_a_handler_is_caught() {
    let d = diverges(Handler::Thread);
    assert!(d.event.is_some(), "{d}");
    assert!(
        d.first_run.starts_with('#'),
        "an event or the run's end: {d}"
    );
}

/// A simulation that sleeps `naps` times for a millisecond.
fn napping(naps: u32) {
    let mut sim = Sim::new(SimConfig::new(3));
    let p = sim.add_process(ProcessOptions::new("napper"));
    let rt = sim.runtime(p);
    sim.run(p, async move {
        for _ in 0..naps {
            sleep(&rt, Duration::from_millis(1)).await;
        }
    })
    .unwrap();
}

#[test]
fn a_run_that_goes_on_longer_or_makes_another_simulation_is_caught() {
    // Outside state the runs share (here a counter) changes what the second one does.
    let mut runs = 0;
    let d = check_determinism(|| {
        runs += 1;
        napping(if runs == 1 { 2 } else { 3 });
    })
    .unwrap_err();
    println!("{d}");
    assert!(d.first_run.starts_with("ended after"), "{d}");
    assert!(d.second_run.contains("napper  timer set for 3.0"), "{d}");
    let mut runs = 0;
    let d = check_determinism(|| {
        runs += 1;
        for _ in 0..runs {
            napping(2);
        }
    })
    .unwrap_err();
    println!("{d}");
    assert_eq!((d.sim, d.event), (1, None), "{d}");
    assert_eq!(
        (d.first_run.as_str(), d.second_run.as_str()),
        ("made 1 simulation", "made 2 simulations")
    );
}

#[test]
fn run_seeds_runs_its_first_seeds_twice_and_fails_one_that_diverges() {
    let report = run_seeds("det-sorted", 5, |seed| {
        let replies = run(seed, Handler::Sorted);
        (replies.len() == 3)
            .then_some(())
            .ok_or_else(|| format!("{replies:?}"))
    });
    assert!(report.failure.is_none(), "{:?}", report.failure);
    if report.checked_twice == 0 {
        // GORUMS_SIM_CHECK_SEEDS=0 in the environment: nothing to check below.
        return;
    }
    assert_eq!(
        report.checked_twice,
        report.seeds.min(gorums_sim::DEFAULT_CHECKED_SEEDS),
        "unless GORUMS_SIM_CHECK_SEEDS says otherwise"
    );
    let report = run_seeds("det-hashmap", 5, |seed| {
        run(seed, Handler::HashMapOrder);
        Ok(())
    });
    let (seed, why) = report.failure.expect("the first seed diverges");
    assert_eq!(seed, 0);
    assert!(why.contains("not deterministic"), "{why}");
    assert!(why.contains("server  write conn"), "{why}");
    assert!(
        why.contains("the check: first run passed, second run passed"),
        "{why}"
    );
}
