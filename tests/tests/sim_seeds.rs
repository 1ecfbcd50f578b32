//! The conformance cases on the simulator over many seeds, each seed run twice with
//! one event hash: the fault cases under random connection resets, and cases of the
//! suite whose assertions hold whatever the latencies and task order. A handful of
//! seeds by default; `GORUMS_SIM_SEEDS=<n>` for more, `GORUMS_SIM_SEED=<seed>` to replay
//! one (see `tests/src/seeds.rs`).

use gorums_sim::run_seeds;
use gorums_tests::cases;
use gorums_tests::seeds::{connection_resets, run_twice};

/// Fails the test with the seed runner's report.
fn check(report: gorums_sim::SeedReport) {
    if let Some((seed, why)) = report.failure {
        panic!("seed {seed}: {why}; replay with GORUMS_SIM_SEED={seed}");
    }
}

#[test]
fn the_fault_cases_over_many_seeds_with_random_resets() {
    check(run_seeds("calls under connection resets", 4, |seed| {
        run_twice(
            seed,
            Some(connection_resets()),
            cases::calls_under_connection_resets_end_and_keep_their_replies,
        )
        .map(drop)
    }));
}

#[test]
fn the_fault_cases_over_many_seeds() {
    check(run_seeds("fault cases", 3, |seed| {
        run_twice(
            seed,
            None,
            cases::a_node_that_stalls_mid_call_fails_by_the_deadline,
        )?;
        run_twice(seed, None, cases::calls_go_on_through_repeated_restarts)?;
        Ok(())
    }));
}

#[test]
fn ordering_and_failure_cases_over_many_seeds() {
    check(run_seeds("ordering and failure cases", 3, |seed| {
        run_twice(seed, None, cases::fifo_per_sender_and_release)?;
        run_twice(
            seed,
            None,
            cases::async_calls_reach_every_node_in_issue_order,
        )?;
        run_twice(seed, None, cases::failure_matrix_majority_first_all)?;
        run_twice(
            seed,
            None,
            cases::a_connection_lost_mid_call_fails_that_share_at_once,
        )?;
        run_twice(seed, None, cases::deadlines_and_unknown_methods)?;
        run_twice(seed, None, cases::nested_quorum_call_from_a_handler)?;
        run_twice(seed, None, cases::terminal_methods_and_thresholds)?;
        Ok(())
    }));
}

#[test]
fn a_run_that_differs_the_second_time_is_caught() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    // Each run sleeps longer than the one before: same seed, other events.
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let case = |rt: gorums_core::runtime::RuntimeHandle| async move {
        let n = RUNS.fetch_add(1, Ordering::AcqRel);
        rt.sleep_until(rt.now() + Duration::from_millis(1 + n))
            .await;
    };
    let err = run_twice(7, None, case).expect_err("the hashes differ");
    assert!(err.contains("event hashes"), "{err}");
}
