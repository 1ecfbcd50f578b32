//! A sweep split with `GORUMS_SIM_SHARD=k/n`, as a CI matrix runs it: each shard is
//! this test binary run again with the variable set (environment variables are the
//! process's, so a shard cannot be a thread of this test). Together the shards run
//! every seed once, the shard holding a failing seed prints it with its replay line,
//! and a malformed shard fails loudly.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::process::Command;

use gorums_sim::run_seeds;

/// Set in the environment of the shard runs.
const CHILD: &str = "GORUMS_SIM_SHARDS_TEST_CHILD";

/// One shard's sweep over seeds 0..10 (seed 5 fails: the last of shard 2/3, as a
/// shard stops at its first failure). Does nothing unless started by
/// the test below.
#[test]
fn shard_child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    run_seeds("sweep", 10, |seed| {
        println!("ran seed {seed}");
        if seed == 5 {
            return Err(String::from("planted failure"));
        }
        Ok(())
    });
}

/// Runs [`shard_child`] with `GORUMS_SIM_SHARD=spec`; whether it passed, and its output.
fn run_shard(spec: &str) -> (bool, String) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "shard_child", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env("GORUMS_SIM_SHARD", spec)
        // Each seed once (no double runs), from the test's default range.
        .env("GORUMS_SIM_CHECK_SEEDS", "0")
        .env_remove("GORUMS_SIM_SEED")
        .env_remove("GORUMS_SIM_SEEDS")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn three_shards_run_every_seed_once_and_the_failing_one_says_how_to_replay() {
    let mut runs: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for k in 1..=3 {
        let spec = format!("{k}/3");
        let (passed, out) = run_shard(&spec);
        assert!(passed, "{spec}: {out}");
        for seed in out.lines().filter_map(|l| l.strip_prefix("ran seed ")) {
            runs.entry(seed.parse().unwrap())
                .or_default()
                .push(spec.clone());
        }
        assert_eq!(
            out.contains("sweep: seed 5 failed: planted failure")
                && out.contains("sweep: replay with GORUMS_SIM_SEED=5"),
            out.contains("ran seed 5"),
            "{spec}: the shard that ran seed 5 reports it: {out}"
        );
        assert!(
            out.contains(&format!("sweep: shard {spec} of seeds 0..10")),
            "{out}"
        );
    }
    assert_eq!(
        runs.keys().copied().collect::<Vec<_>>(),
        (0..10).collect::<Vec<_>>()
    );
    for (seed, shards) in &runs {
        assert_eq!(shards.len(), 1, "seed {seed} ran in {shards:?}");
    }
    assert_eq!(runs[&0], ["1/3"]);
    assert_eq!(runs[&5], ["2/3"]);
    assert_eq!(runs[&9], ["3/3"]);
}

#[test]
fn a_malformed_shard_fails_the_run_and_says_why() {
    for (spec, why) in [
        ("0/3", "numbered from 1"),
        ("4/3", "past the count"),
        ("x", "no '/'"),
    ] {
        let (passed, out) = run_shard(spec);
        assert!(!passed, "{spec}: {out}");
        assert!(
            out.contains(why) && out.contains("GORUMS_SIM_SHARD"),
            "{spec}: {out}"
        );
        assert!(!out.contains("ran seed"), "{spec}: nothing ran: {out}");
    }
}
