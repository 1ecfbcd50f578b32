//! The reverse example run as real processes: the coordinator calls workers that listen on
//! no socket, and one killed worker fails only its share.

use std::process::Command;

#[test]
fn the_coordinator_calls_back_three_workers_and_survives_one_dying() {
    let out = Command::new(env!("CARGO_BIN_EXE_reverse"))
        .output()
        .expect("reverse runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("coordinator listening on 127.0.0.1:"));
    assert_eq!(
        lines[1..],
        [
            "3 workers joined",
            "square(2) on every worker:",
            "  worker-1 = 4",
            "  worker-2 = 4",
            "  worker-3 = 4",
            "square(3) on every worker:",
            "  worker-1 = 9",
            "  worker-2 = 9",
            "  worker-3 = 9",
            "worker-3 killed",
            "square(7) on a majority of 3: 49",
        ],
        "{stdout}"
    );
}
