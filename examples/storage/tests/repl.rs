//! The storage binary, run for real: a script of REPL commands piped in, and separate
//! server processes, one of them killed.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_storage");

mod common;
use common::run_script;

const SESSION: &str = "\
qc write greeting hello
qc read greeting
ucast 1 greeting world
mcast greeting gorums
cfg 0,1 read greeting
qc cread greeting
qc nread greeting
";

const EXPECTED: [&str; 9] = [
    "Write OK",
    "greeting = hello",
    "Unicast OK",
    "Multicast OK",
    "greeting = gorums",
    "greeting = gorums (level 1)",
    "greeting = gorums (level 2)",
    "Correctable read finished",
    "greeting = gorums",
];

fn session_output(lines: Vec<String>) -> Vec<String> {
    lines
        .into_iter()
        .filter(|l| !l.starts_with("started "))
        .collect()
}

#[test]
fn the_documented_session_prints_what_go_gorums_prints() {
    // The unicast and the multicast are one-way, yet the reads after them see them: each
    // server runs one sender's requests in the order sent.
    let out = session_output(run_script(&[], SESSION));
    assert_eq!(out, EXPECTED);
}

#[test]
fn the_same_session_on_smol() {
    let out = session_output(run_script(&["--runtime", "smol"], SESSION));
    assert_eq!(out, EXPECTED);
}

#[test]
fn bad_commands_print_one_line_and_the_repl_goes_on() {
    let out = session_output(run_script(
        &[],
        "bogus\nrpc 9 read x\nqc write \"unterminated\nqc write k \"a b\"\nqc read k\nexit\nqc read k\n",
    ));
    assert_eq!(out.len(), 5, "{out:?}");
    assert!(out[0].starts_with("error: unknown command"));
    assert!(out[1].starts_with("error: no node with index 9"));
    assert!(out[2].starts_with("error: unterminated quote"));
    assert_eq!(out[3..], ["Write OK", "k = a b"]);
}

fn free_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
    listener.local_addr().expect("addr").to_string()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server(addr: &str, peers: &str) -> Server {
    start_server_with(addr, peers, &[])
}

/// [`start_server`] with more flags.
fn start_server_with(addr: &str, peers: &str, more: &[&str]) -> Server {
    let mut child = Command::new(BIN)
        .args(["--serve", addr, "--peers", peers])
        .args(more)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("server starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("banner");
    assert!(line.contains("serving on"), "{line}");
    Server(child)
}

#[test]
fn killing_one_of_three_servers_leaves_quorum_calls_working() {
    let addrs: Vec<String> = (0..3).map(|_| free_addr()).collect();
    let peers = addrs.join(",");
    let mut servers: Vec<Server> = addrs.iter().map(|a| start_server(a, &peers)).collect();
    let connect = ["--connect", peers.as_str()];
    let out = run_script(&connect, "qc write k one\nqc read k\n");
    assert_eq!(out, ["Write OK", "k = one"]);

    drop(servers.remove(2));
    std::thread::sleep(Duration::from_millis(100));
    let out = run_script(&connect, "qc write k two\nqc read k\nqc nread k\n");
    assert_eq!(out, ["Write OK", "k = two", "k = two"]);
}

/// `--metrics ADDR` serves the Prometheus text format: after a quorum write, the calls,
/// the replies per node and the handled requests are there by method.
#[test]
fn metrics_are_served_as_prometheus_text() {
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};

    let addr = {
        let free = TcpListener::bind("127.0.0.1:0").expect("a free port");
        free.local_addr().expect("its address").to_string()
    };
    let mut child = Command::new(BIN)
        .args(["--metrics", &addr])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("storage starts");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(b"qc write greeting 'hello world'\nqc read greeting\n")
        .expect("commands written");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    while !line.starts_with("greeting = ") {
        line.clear();
        assert!(
            stdout.read_line(&mut line).expect("output") > 0,
            "ended early"
        );
    }
    assert_eq!(
        line.trim(),
        "greeting = hello world",
        "single quotes kept the space"
    );
    let mut body = String::new();
    let mut stream = TcpStream::connect(&addr).expect("the metrics listener");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("request");
    stream.read_to_string(&mut body).expect("response");
    drop(stdin);
    let _ = child.wait();
    for expected in [
        r#"gorums_client_calls_total{method="proto.Storage.WriteQC",kind="quorumcall"} 1"#,
        r#"gorums_client_calls_total{method="proto.Storage.ReadQC",kind="quorumcall"} 1"#,
    ] {
        assert!(body.contains(expected), "{expected} missing from:\n{body}");
    }
    // The write returned after a majority (3 of 4); the fourth server may still be at it.
    let handled: u64 = body
        .lines()
        .find_map(|l| {
            l.strip_prefix(r#"gorums_server_requests_total{method="proto.Storage.WriteQC"} "#)
        })
        .and_then(|n| n.trim().parse().ok())
        .expect("the servers' WriteQC count");
    assert!((3..=4).contains(&handled), "{handled}");
    assert!(body.contains("gorums_client_replies_total{method=\"proto.Storage.ReadQC\",node="));
}

/// Certificates made for one test: an authority, and PEM files in a temporary folder.
struct Certs {
    dir: tempfile::TempDir,
}

impl Certs {
    /// An authority `ca` and a certificate for 127.0.0.1 it signs, as `ca.pem`,
    /// `cert.pem` and `key.pem`; and a second, unrelated authority as `other.pem`.
    fn new() -> Certs {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let dir = tempfile::tempdir().expect("a temporary folder");
        let authority = |name: &str| {
            let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, name);
            CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("ca")
        };
        let ca = authority("storage test ca");
        let other = authority("another ca");
        let key = KeyPair::generate().expect("key");
        let cert = CertificateParams::new(vec![String::from("127.0.0.1")])
            .expect("params")
            .signed_by(&key, &ca)
            .expect("signed");
        let write = |name: &str, pem: String| {
            std::fs::write(dir.path().join(name), pem).expect("pem written");
        };
        write("ca.pem", ca.pem());
        write("other.pem", other.pem());
        write("cert.pem", cert.pem());
        write("key.pem", key.serialize_pem());
        Certs { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

/// Three TLS servers as processes (`--tls-ca --tls-cert --tls-key`): a REPL that trusts
/// their authority writes and reads through a quorum (nested calls too, server to
/// server over TLS); one that trusts another authority is refused.
#[test]
fn a_tls_cluster_of_three_processes() {
    tls_cluster_of_three(&[]);
}

/// The same over the gRPC transport (gRPC over TLS, ALPN `h2`).
#[test]
fn a_grpc_tls_cluster_of_three_processes() {
    tls_cluster_of_three(&["--transport", "grpc"]);
}

/// Three TLS server processes with `transport` flags, and REPLs with the same flags.
fn tls_cluster_of_three(transport: &[&str]) {
    let certs = Certs::new();
    let (ca, cert, key) = (
        certs.path("ca.pem"),
        certs.path("cert.pem"),
        certs.path("key.pem"),
    );
    let addrs: Vec<String> = (0..3).map(|_| free_addr()).collect();
    let peers = addrs.join(",");
    let _servers: Vec<Server> = addrs
        .iter()
        .map(|addr| {
            let mut flags = vec!["--tls-ca", &ca, "--tls-cert", &cert, "--tls-key", &key];
            flags.extend(transport);
            start_server_with(addr, &peers, &flags)
        })
        .collect();
    let mut trusted = vec!["--connect", peers.as_str(), "--tls-ca", ca.as_str()];
    trusted.extend(transport);
    let out = run_script(&trusted, "qc write k 'over tls'\nqc read k\n");
    assert_eq!(out, ["Write OK", "k = over tls"]);
    // Nested reads go server to server over TLS once the servers have connected
    // (each dials only the higher ids, in the background).
    let mut nested = Vec::new();
    for _ in 0..50 {
        nested = run_script(&trusted, "qc nread k\n");
        if nested == ["k = over tls"] {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(nested, ["k = over tls"]);

    let other = certs.path("other.pem");
    let mut wrong = vec!["--connect", peers.as_str(), "--tls-ca", other.as_str()];
    wrong.extend(transport);
    let out = run_script(&wrong, "qc read k\n");
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(
        out[0].contains("error") && out[0].contains("tls"),
        "a client with the wrong authority is refused: {out:?}"
    );
}

/// `--cluster`: the REPL starts four servers, each a process of its own, runs the
/// documented session against them, and stops them when it ends.
#[test]
fn the_cluster_mode_starts_each_server_as_its_own_process() {
    let lines = run_script(&["--cluster"], SESSION);
    let started = lines
        .iter()
        .find(|l| l.starts_with("started 4 storage server processes: "))
        .expect("the started line");
    assert_eq!(session_output(lines.clone()), EXPECTED);
    let servers: Vec<(String, u32)> = started
        .trim_start_matches("started 4 storage server processes: ")
        .split(", ")
        .map(|s| {
            let (addr, pid) = s.split_once(" (pid ").expect("addr (pid N)");
            (
                addr.to_owned(),
                pid.trim_end_matches(')').parse().expect("pid"),
            )
        })
        .collect();
    assert_eq!(servers.len(), 4, "{started}");
    let mut pids: Vec<u32> = servers.iter().map(|(_, pid)| *pid).collect();
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(pids.len(), 4, "four processes: {started}");
    assert!(!pids.contains(&std::process::id()), "{started}");
    // The REPL has ended: its servers are gone, processes and ports.
    for (addr, pid) in &servers {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "server {pid} still runs"
        );
        assert!(
            std::net::TcpStream::connect(addr).is_err(),
            "{addr} still accepts"
        );
    }
}

/// `--data-dir`: three servers are killed after a write and restarted on the same
/// addresses and directories (on the other runtime, so each adapter's file disk reads
/// what the other's wrote), and a quorum read still finds the value.
#[test]
fn servers_killed_and_restarted_on_their_data_dirs_keep_their_writes() {
    let dirs = tempfile::tempdir().expect("temp dir");
    let addrs: Vec<String> = (0..3).map(|_| free_addr()).collect();
    let peers = addrs.join(",");
    let data_dir = |i: usize| dirs.path().join(format!("s{i}")).display().to_string();
    let start_all = |runtime: &str| -> Vec<Server> {
        (0..3)
            .map(|i| {
                let dir = data_dir(i);
                start_server_with(
                    &addrs[i],
                    &peers,
                    &["--data-dir", &dir, "--runtime", runtime],
                )
            })
            .collect()
    };
    let connect = ["--connect", peers.as_str()];

    let servers = start_all("tokio");
    let out = run_script(&connect, "qc write k kept\nqc write j also\n");
    assert_eq!(out, ["Write OK", "Write OK"]);
    drop(servers); // SIGKILL: no chance to flush anything that was not synced
    let servers = start_all("smol");
    let out = run_script(&connect, "qc read k\nqc read j\nqc write k newer\n");
    assert_eq!(out, ["k = kept", "j = also", "Write OK"]);
    drop(servers);
    let _servers = start_all("tokio");
    let out = run_script(&connect, "qc read k\n");
    assert_eq!(out, ["k = newer"]);
}

/// Starts `--serve addr --peers peers` and waits until it says it is connected to
/// every peer.
fn start_connected_server(addr: &str, peers: &str) -> Server {
    let mut child = Command::new(BIN)
        .args(["--serve", addr, "--peers", peers])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("server starts");
    let stdout = child.stdout.take().expect("stdout");
    let server = Server(child);
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("a line");
        if line.contains("connected to all") {
            return server;
        }
    }
    panic!("server {addr} ended before its peers connected");
}

/// `--serve` declares its `--peers` as its known peers (Go's `WithConfig(myID,
/// nodeList)`): a process that dials server 1 announcing id 7 (not in the list) and
/// serves the storage methods is served, but server 1's nested multicast, which goes to
/// `ctx.config()`, reaches servers 1, 2 and 3 and not it.
#[test]
fn serve_declares_its_peers_as_the_known_peers() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use gorums_core::api::{NodeId, NodeList, ServerCtx, System, SystemOptions};
    use storage::proto::{
        ReadRequest, StorageConfiguration, WriteRequest, storage_methods::WRITE_MULTICAST,
    };

    let addrs: Vec<String> = (0..3).map(|_| free_addr()).collect();
    let peers = addrs.join(",");
    let starting: Vec<std::thread::JoinHandle<Server>> = addrs
        .iter()
        .map(|a| {
            let (a, p) = (a.clone(), peers.clone());
            std::thread::spawn(move || start_connected_server(&a, &p))
        })
        .collect();
    let _servers: Vec<Server> = starting.into_iter().map(|s| s.join().unwrap()).collect();

    let tokio = tokio::runtime::Runtime::new().expect("tokio");
    tokio.block_on(async {
        let rt = gorums_tokio::runtime();
        let stranger = System::new(rt.clone(), SystemOptions::with_id(NodeId(7)));
        let reached = Arc::new(AtomicUsize::new(0));
        let count = reached.clone();
        stranger.register_one_way(WRITE_MULTICAST, move |_: ServerCtx, _: WriteRequest| {
            count.fetch_add(1, Ordering::AcqRel);
            async {}
        });
        let to_1 = stranger
            .configuration(NodeList::map([(1, addrs[0].clone())]))
            .expect("configuration");
        let write = WriteRequest {
            key: "k".into(),
            value: "nested".into(),
            time: Some(prost_types::Timestamp {
                seconds: 1,
                nanos: 0,
            }),
        };
        StorageConfiguration::new(to_1)
            .write_nested_multicast(&write)
            .all()
            .await
            .expect("server 1 multicasts to its peers");

        // The multicast reached all three servers...
        let all = gorums_core::api::Configuration::new(
            rt.clone(),
            NodeList::addrs(addrs.clone()),
            SystemOptions::default(),
        )
        .expect("configuration");
        let all = StorageConfiguration::new(all);
        let read = ReadRequest { key: "k".into() };
        let mut got = Vec::new();
        for _ in 0..100 {
            got = all.read_qc(&read).collect_all().await;
            if got
                .iter()
                .all(|r| r.result.as_ref().is_ok_and(|r| r.value == "nested"))
            {
                break;
            }
            rt.sleep_until(rt.now() + Duration::from_millis(20)).await;
        }
        assert!(
            got.iter()
                .all(|r| r.result.as_ref().is_ok_and(|r| r.value == "nested")),
            "{got:?}"
        );
        // ...and not the stranger, though it was sent at the same moment.
        rt.sleep_until(rt.now() + Duration::from_millis(200)).await;
        assert_eq!(
            reached.load(Ordering::Acquire),
            0,
            "node 7 got the multicast"
        );
    });
}

/// Whether process `pid` has exited: gone, or a zombie nobody has reaped yet (its
/// parent, the REPL, is dead; the container's init may be slow to reap).
fn exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // The state follows the command name in parentheses: `pid (comm) S ...`.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

/// Kills the processes still running when dropped: a failing test leaves no server
/// behind (nor a pipe held open that the test harness waits on).
struct KillOnDrop(Vec<u32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for pid in self.0.iter().filter(|pid| !exited(**pid)) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

/// `--cluster`: a REPL killed by a signal (SIGTERM, SIGINT) takes its four server
/// processes with it: they exit within seconds, and their ports stop accepting.
#[test]
fn a_cluster_repl_killed_by_a_signal_takes_its_servers_with_it() {
    for signal in ["-TERM", "-INT"] {
        let mut repl = Command::new(BIN)
            .arg("--cluster")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the REPL starts");
        let stdout = BufReader::new(repl.stdout.take().expect("stdout"));
        let started = stdout
            .lines()
            .map(|l| l.expect("a line"))
            .find(|l| l.starts_with("started 4 storage server processes: "))
            .expect("the started line");
        let servers: Vec<(String, u32)> = started
            .trim_start_matches("started 4 storage server processes: ")
            .split(", ")
            .map(|s| {
                let (addr, pid) = s.split_once(" (pid ").expect("addr (pid N)");
                (
                    addr.to_owned(),
                    pid.trim_end_matches(')').parse().expect("pid"),
                )
            })
            .collect();
        assert_eq!(servers.len(), 4, "{started}");
        assert!(servers.iter().all(|(_, pid)| !exited(*pid)), "{started}");
        let _cleanup = KillOnDrop(servers.iter().map(|(_, pid)| *pid).collect());

        let killed = Command::new("kill")
            .args([signal, &repl.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(killed.success());
        let status = repl.wait().expect("the REPL ends");
        assert!(!status.success(), "{signal}: {status:?}");
        for (addr, pid) in &servers {
            // A process shows as a zombie a moment before its last thread has closed
            // its sockets: both are waited for.
            let gone = || exited(*pid) && std::net::TcpStream::connect(addr).is_err();
            let mut waited = 0;
            while !gone() && waited < 5000 {
                std::thread::sleep(Duration::from_millis(20));
                waited += 20;
            }
            assert!(exited(*pid), "{signal}: server {pid} outlived its REPL");
            assert!(gone(), "{signal}: {addr} still accepts");
        }
    }
}
