//! Opt-in: the storage example against Go Gorums' own storage example, over the gRPC
//! transport (`--transport grpc`): our REPL against Go's servers, Go's REPL against
//! ours, correctable reads both ways, and a mixed cluster of two Go and two gorums-rs
//! servers serving quorum writes and reads and nested calls that cross. Runs only when `GORUMS_GO_SRC` points at a Go Gorums
//! source tree (a checkout of relab/gorums); it builds that tree's `examples/storage`
//! with `go build` (the Go toolchain and its module proxy are needed) and drives Go's
//! REPL through `script` (util-linux), as that REPL wants a terminal. Without the
//! variable each test returns at once.
//!
//! ```sh
//! GORUMS_GO_SRC=/path/to/gorums cargo test -p storage --test go_interop -- --nocapture
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;
use common::run_script;

const BIN: &str = env!("CARGO_BIN_EXE_storage");

/// Go's storage binary, built from `GORUMS_GO_SRC`; `None` when the variable is unset.
fn go_storage() -> Option<PathBuf> {
    let src = std::env::var_os("GORUMS_GO_SRC")?;
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("go-gorums-storage");
    let status = Command::new("go")
        .args(["build", "-o"])
        .arg(&out)
        .arg("./examples/storage")
        .current_dir(&src)
        .status()
        .expect("go runs");
    assert!(status.success(), "go build ./examples/storage failed");
    Some(out)
}

fn free_addrs(n: usize) -> Vec<String> {
    let listeners: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("free port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("addr").to_string())
        .collect()
}

/// A child process killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until every address accepts TCP connections.
fn wait_listening(addrs: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    for addr in addrs {
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "{addr} never listened");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Go's servers, each given its own address first, then its peers.
fn go_servers(go: &Path, addrs: &[String]) -> Vec<Process> {
    let servers = (0..addrs.len())
        .map(|i| {
            let mut order = vec![addrs[i].clone()];
            order.extend(addrs.iter().filter(|a| **a != addrs[i]).cloned());
            let child = Command::new(go)
                .args(["-serve", "-addrs", &order.join(",")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("Go storage server starts");
            Process(child)
        })
        .collect();
    wait_listening(addrs);
    // Go's servers wait for their peers to connect before they serve.
    std::thread::sleep(Duration::from_secs(1));
    servers
}

/// Our servers over the gRPC transport.
fn rust_servers(addrs: &[String]) -> Vec<Process> {
    let peers = addrs.join(",");
    addrs
        .iter()
        .map(|addr| {
            let mut child = Command::new(BIN)
                .args(["--serve", addr, "--peers", &peers, "--transport", "grpc"])
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("storage server starts");
            let mut line = String::new();
            BufReader::new(child.stdout.take().expect("stdout"))
                .read_line(&mut line)
                .expect("banner");
            assert!(line.contains("serving on"), "{line}");
            Process(child)
        })
        .collect()
}

/// Our REPL over gRPC: `script` piped in, stdout lines back.
fn rust_repl(addrs: &[String], script: &str) -> Vec<String> {
    let addrs = addrs.join(",");
    run_script(&["--connect", &addrs, "--transport", "grpc"], script)
}

/// Go's REPL in a pseudo-terminal: each command typed after a pause, the output back.
fn go_repl(go: &Path, addrs: &[String], commands: &[&str]) -> String {
    let command = format!("{} -addrs {}", go.display(), addrs.join(","));
    let mut child = Command::new("script")
        .args(["-qfc", &command, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("script (util-linux) runs");
    let mut stdin = child.stdin.take().expect("stdin");
    std::thread::sleep(Duration::from_secs(2));
    for line in commands.iter().chain(&["exit"]) {
        stdin
            .write_all(format!("{line}\r").as_bytes())
            .expect("typed");
        std::thread::sleep(Duration::from_secs(1));
    }
    drop(stdin);
    let out = child.wait_with_output().expect("Go REPL exits");
    String::from_utf8_lossy(&out.stdout).replace('\r', "")
}

/// The gorums-rs REPL writes and reads through three Go Gorums storage servers.
#[test]
fn the_rust_repl_against_go_servers() {
    let Some(go) = go_storage() else { return };
    let addrs = free_addrs(3);
    let _servers = go_servers(&go, &addrs);
    let out = rust_repl(
        &addrs,
        "qc write k 'from rust'\nqc read k\nrpc 0 read k\ncfg 1,2 read k\nqc cread k\n",
    );
    // A Go server sends no end of a correctable stream: the call ends at its level.
    assert_eq!(
        out,
        [
            "Write OK",
            "k = from rust",
            "k = from rust",
            "k = from rust",
            "k = from rust (level 1)",
            "k = from rust (level 2)",
            "Correctable read finished",
        ]
    );
}

/// Go Gorums' storage REPL reads what the gorums-rs REPL wrote on gorums-rs servers, and
/// the gorums-rs REPL reads what Go's wrote.
#[test]
fn the_go_repl_against_rust_servers() {
    let Some(go) = go_storage() else { return };
    let addrs = free_addrs(3);
    let _servers = rust_servers(&addrs);
    assert_eq!(rust_repl(&addrs, "qc write k 'by rust'\n"), ["Write OK"]);
    let out = go_repl(
        &go,
        &addrs,
        &[
            "qc read k",
            "qc write g hello",
            "rpc 0 read g",
            "qc cread k",
        ],
    );
    assert!(out.contains("k = by rust"), "{out}");
    // Go's correctable call gets our servers' stream items as its levels.
    assert!(out.contains("k = by rust (level 2)"), "{out}");
    assert!(!out.contains("error"), "{out}");
    assert!(out.contains("Write OK"), "{out}");
    assert!(out.contains("g = hello"), "{out}");
    assert_eq!(rust_repl(&addrs, "qc read g\n"), ["g = hello"]);
}

/// Lines a child writes to one of its pipes, gathered by a thread so the child never
/// blocks on a full pipe.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    fn gather(pipe: impl Read + Send + 'static) -> Lines {
        let lines = Lines::default();
        let into = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                into.0.lock().expect("lines").push(line);
            }
        });
        lines
    }

    /// Whether some line contains `text`.
    fn said(&self, text: &str) -> bool {
        self.0
            .lock()
            .expect("lines")
            .iter()
            .any(|l| l.contains(text))
    }

    /// Waits until some line contains `text`.
    fn wait_for(&self, text: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self
            .0
            .lock()
            .expect("lines")
            .iter()
            .any(|l| l.contains(text))
        {
            assert!(
                Instant::now() < deadline,
                "{what} never said {text:?}: {:?}",
                self.0.lock().expect("lines")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Two Go Gorums storage servers at `at`, of the cluster `addrs`, once each says its
/// configuration holds all of `addrs`.
///
/// Started together, and again if either gives up: a Go server that dials a peer
/// before that peer listens never opens its node stream to it (its outbound nodes
/// connect on demand, and a storage server sends nothing on them), while the peer
/// waits 10 s for that stream and exits. Two Go servers started 0.3 s apart fail so
/// every time (seen with Go Gorums 3241d25); started together they race.
fn go_pair(go: &Path, addrs: &[String], at: [&String; 2]) -> Vec<(Process, Lines)> {
    for _ in 0..6 {
        let servers: Vec<(Process, Lines)> = at
            .into_iter()
            .map(|addr| {
                // Go's -addrs: its own address first, then the others (it sorts them).
                let order: Vec<&str> = std::iter::once(addr.as_str())
                    .chain(addrs.iter().map(String::as_str).filter(|a| a != addr))
                    .collect();
                let mut child = Command::new(go)
                    .args(["-serve", "-addrs", &order.join(",")])
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("Go storage server starts");
                let lines = Lines::gather(child.stderr.take().expect("stderr"));
                (Process(child), lines)
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let said = |text: &str| servers.iter().filter(|(_, l)| l.said(text)).count();
            if said("Started storage server") == 2 {
                return servers;
            }
            if said("did not connect") > 0 || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("the Go servers did not see each other; starting them again");
    }
    panic!("two Go storage servers never saw all their peers in six tries");
}

/// Two Go Gorums and two gorums-rs storage servers in one configuration (ids by place
/// in the sorted address list, Go's rule: Go, ours on smol, Go, ours on tokio): every
/// server sees all four, both REPLs write and read by quorum calls, and nested calls
/// started on a server of either kind reach servers of the other.
#[test]
fn a_mixed_cluster_of_go_and_rust_servers() {
    let Some(go) = go_storage() else { return };
    let mut addrs = free_addrs(4);
    addrs.sort();
    let peers = addrs.join(",");
    // Ours first: they dial the Go servers until those listen (a Go server gives its
    // peers 10 s to dial it, then exits). One on each runtime: smol's gRPC transport
    // goes through tokio-util's compat layer.
    let rust: Vec<(Process, Lines)> = [(&addrs[1], "smol"), (&addrs[3], "tokio")]
        .into_iter()
        .map(|(addr, runtime)| {
            let mut child = Command::new(BIN)
                .args(["--serve", addr, "--peers", &peers, "--transport", "grpc"])
                .args(["--runtime", runtime])
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("storage server starts");
            let lines = Lines::gather(child.stdout.take().expect("stdout"));
            (Process(child), lines)
        })
        .collect();
    let go_servers = go_pair(&go, &addrs, [&addrs[0], &addrs[2]]);
    for (_, lines) in &rust {
        lines.wait_for("connected to all 4 servers", "a gorums-rs server");
    }
    assert_eq!(
        rust_repl(
            &addrs,
            "qc write k mixed\nqc read k\nrpc 0 read k\nrpc 1 read k\nrpc 2 read k\nrpc 3 read k\nqc cread k\n"
        ),
        [
            "Write OK",
            "k = mixed",
            "k = mixed",
            "k = mixed",
            "k = mixed",
            "k = mixed",
            "k = mixed (level 1)",
            "k = mixed (level 2)",
            "Correctable read finished",
        ]
    );
    // Nested reads of values only the servers of the other kind hold: `ours` is on our
    // two servers alone, so Go's server 0 finds it only through a gorums-rs server's
    // reply to its nested call; `theirs` is on the Go servers alone, and any 3 of 4
    // replies our server 1's nested quorum call waits for include a Go server's.
    let written = rust_repl(
        &addrs,
        "rpc 1 write ours r\nrpc 3 write ours r\nrpc 0 write theirs g\nrpc 2 write theirs g\n",
    );
    assert_eq!(written.len(), 4, "{written:?}");
    assert_eq!(
        rust_repl(
            &addrs,
            "rpc 0 read ours\nrpc 1 read theirs\ncfg 0 nread ours\ncfg 1 nread theirs\n"
        ),
        [
            "ours not found",
            "theirs not found",
            "ours = r",
            "theirs = g"
        ]
    );
    // Nested multicasts: Go's server 2 writes to every peer, ours (3) too; each value is
    // read back from the servers of the other kind.
    assert_eq!(
        rust_repl(
            &addrs,
            "cfg 2 nwrite g 'from go'\ncfg 3 nwrite r 'from rust'\n"
        ),
        ["Write OK", "Write OK"]
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let out = rust_repl(
            &addrs,
            "rpc 1 read g\nrpc 3 read g\nrpc 0 read r\nrpc 2 read r\n",
        );
        if out
            == [
                "g = from go",
                "g = from go",
                "r = from rust",
                "r = from rust",
            ]
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "nested multicasts did not arrive: {out:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Go's own REPL over the mixed cluster reads what ours wrote, and writes.
    let out = go_repl(&go, &addrs, &["qc read k", "qc write w 'by go'"]);
    assert!(out.contains("k = mixed"), "{out}");
    assert!(out.contains("Write OK"), "{out}");
    assert_eq!(rust_repl(&addrs, "qc read w\n"), ["w = by go"]);
    drop(go_servers);
    drop(rust);
}
