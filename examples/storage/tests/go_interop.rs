//! Opt-in: the storage example against Go Gorums' own storage example, over the gRPC
//! transport (`--transport grpc`). Runs only when `GORUMS_GO_SRC` points at a Go Gorums
//! source tree (a checkout of relab/gorums); it builds that tree's `examples/storage`
//! with `go build` (the Go toolchain and its module proxy are needed) and drives Go's
//! REPL through `script` (util-linux), as that REPL wants a terminal. Without the
//! variable each test returns at once.
//!
//! ```sh
//! GORUMS_GO_SRC=/path/to/gorums cargo test -p storage --test go_interop -- --nocapture
//! ```

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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
        "qc write k 'from rust'\nqc read k\nrpc 0 read k\ncfg 1,2 read k\n",
    );
    assert_eq!(
        out,
        [
            "Write OK",
            "k = from rust",
            "k = from rust",
            "k = from rust"
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
        &["qc read k", "qc write g hello", "rpc 0 read g"],
    );
    assert!(out.contains("k = by rust"), "{out}");
    assert!(out.contains("Write OK"), "{out}");
    assert!(out.contains("g = hello"), "{out}");
    assert_eq!(rust_repl(&addrs, "qc read g\n"), ["g = hello"]);
}
