//! The storage example: replicas of a key/value store, and a REPL that reads and writes
//! them with RPCs, unicasts, multicasts, quorum calls and correctable calls.
//!
//! ```text
//! storage                                   four local servers, then the REPL
//! storage --connect a,b,c                   the REPL against servers elsewhere
//! storage --serve ADDR --peers a,b,c        one server as its own process
//!         [--data-dir DIR]                  ... keeping its writes in DIR across
//!                                           restarts (synced before each reply)
//!         [--until-stdin-closes]            ... exiting when its stdin ends (how a
//!                                           `--cluster` REPL's servers die with it)
//! storage --cluster                         four server processes it starts, then the
//!                                           REPL (the servers stop when it ends)
//! options: --interceptors logging,nofoo,metadata,delayed   --runtime tokio|smol
//!          --metrics ADDR   serve Prometheus text metrics (calls, failures, latency) at
//!                           http://ADDR/metrics
//!          --tls-ca PEM [--tls-cert PEM --tls-key PEM]
//!                           TLS: the authorities to trust, and this process's own
//!                           certificate and key (a server needs them; the REPL may
//!                           present them)
//!          --transport native|grpc
//!                           grpc: Go Gorums' gRPC wire (tokio or smol; over TLS
//!                           with the TLS flags), to serve and call Go Gorums nodes
//! ```

mod cluster;

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use gorums_core::api::{
    Configuration, DialPolicy, NodeId, NodeList, ServerOptions, System, SystemOptions,
    local_systems_with,
};
use gorums_core::disk::DiskHandle;
use gorums_core::runtime::RuntimeHandle;
use gorums_core::tls::{ClientAuth, Tls, TlsOptions};

use storage::proto::{StorageConfiguration, register_storage_server};
use storage::server::Storage;
use storage::{interceptors, repl};

/// What the command line asked for.
struct Args {
    mode: Mode,
    interceptors: Vec<String>,
    runtime: String,
    metrics: Option<String>,
    tls: TlsFiles,
    grpc: bool,
}

/// The PEM files of `--tls-ca`, `--tls-cert` and `--tls-key`.
#[derive(Default)]
struct TlsFiles {
    ca: Option<String>,
    cert: Option<String>,
    key: Option<String>,
}

impl TlsFiles {
    /// The TLS settings the files give, if `--tls-ca` was given. Servers ask dialling
    /// peers for a certificate but let the REPL's client in without one.
    fn load(&self) -> Result<Option<Tls>, String> {
        let Some(ca) = &self.ca else {
            if self.cert.is_some() || self.key.is_some() {
                return Err(String::from("--tls-cert and --tls-key need --tls-ca"));
            }
            return Ok(None);
        };
        let read = |path: &str| std::fs::read(path).map_err(|e| format!("reading {path}: {e}"));
        let mut options = TlsOptions::from_pem_roots(&read(ca)?).map_err(|e| e.to_string())?;
        match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => {
                options = options
                    .certificate_pem(&read(cert)?, &read(key)?)
                    .map_err(|e| e.to_string())?;
            }
            (None, None) => {}
            _ => return Err(String::from("--tls-cert and --tls-key go together")),
        }
        options
            .client_auth(ClientAuth::Optional)
            .build()
            .map(Some)
            .map_err(|e| e.to_string())
    }
}

/// Whether the systems of this process record metrics (`--metrics`).
static METRICS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The options of a system of this process: `id` 0 for the REPL's anonymous client.
fn system_options(id: u32) -> SystemOptions {
    let mut options = SystemOptions::with_id(NodeId(id));
    options.metrics = METRICS.load(std::sync::atomic::Ordering::Relaxed);
    options
}

enum Mode {
    Local,
    Connect(Vec<String>),
    Serve {
        addr: String,
        peers: Vec<String>,
        data_dir: Option<String>,
        /// Exit when stdin ends (the `--cluster` REPL holds the other end).
        until_stdin_closes: bool,
    },
    /// Four servers, each a process of its own started with these flags, then the REPL
    /// against them.
    Cluster(Vec<String>),
}

fn list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let (mut connect, mut serve, mut peers, mut data_dir) = (None, None, None, None);
    let mut cluster = false;
    let mut until_stdin_closes = false;
    // The flags a `--cluster` REPL passes on to the servers it starts.
    let mut server_flags = Vec::new();
    let mut interceptors = Vec::new();
    let mut runtime = String::from("tokio");
    let mut metrics = None;
    let mut tls = TlsFiles::default();
    let mut transport = String::from("native");
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--connect" => connect = Some(list(&value()?)),
            "--cluster" => cluster = true,
            "--serve" => serve = Some(value()?),
            "--peers" => peers = Some(list(&value()?)),
            "--data-dir" => data_dir = Some(value()?),
            "--until-stdin-closes" => until_stdin_closes = true,
            "--interceptors" => {
                let names = value()?;
                server_flags.extend([arg.clone(), names.clone()]);
                interceptors = list(&names);
            }
            "--runtime" => {
                runtime = value()?;
                server_flags.extend([arg.clone(), runtime.clone()]);
            }
            "--metrics" => metrics = Some(value()?),
            "--tls-ca" => {
                tls.ca = Some(value()?);
                server_flags.extend([arg.clone(), tls.ca.clone().unwrap_or_default()]);
            }
            "--tls-cert" => {
                tls.cert = Some(value()?);
                server_flags.extend([arg.clone(), tls.cert.clone().unwrap_or_default()]);
            }
            "--tls-key" => {
                tls.key = Some(value()?);
                server_flags.extend([arg.clone(), tls.key.clone().unwrap_or_default()]);
            }
            "--transport" => {
                transport = value()?;
                server_flags.extend([arg.clone(), transport.clone()]);
            }
            "-h" | "--help" => {
                println!(
                    "usage: storage [--connect a,b,c | --serve ADDR --peers a,b,c [--data-dir DIR] [--until-stdin-closes] | --cluster] [--interceptors logging,nofoo,metadata,delayed] [--runtime tokio|smol] [--metrics ADDR] [--tls-ca PEM [--tls-cert PEM --tls-key PEM]] [--transport native|grpc]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if data_dir.is_some() && serve.is_none() {
        return Err(String::from("--data-dir goes with --serve"));
    }
    if until_stdin_closes && serve.is_none() {
        return Err(String::from("--until-stdin-closes goes with --serve"));
    }
    let mode = match (connect, serve, peers) {
        (None, None, None) if cluster => Mode::Cluster(server_flags),
        _ if cluster => {
            return Err(String::from(
                "--cluster starts its own servers: not with --connect or --serve",
            ));
        }
        (Some(addrs), None, None) => Mode::Connect(addrs),
        (None, Some(addr), Some(peers)) => Mode::Serve {
            addr,
            peers,
            data_dir,
            until_stdin_closes,
        },
        (None, None, None) => Mode::Local,
        (None, Some(_), None) => return Err(String::from("--serve needs --peers")),
        _ => {
            return Err(String::from(
                "use --connect, or --serve with --peers, not both",
            ));
        }
    };
    if !matches!(runtime.as_str(), "tokio" | "smol") {
        return Err(format!("unknown runtime {runtime:?}: tokio or smol"));
    }
    let grpc = match transport.as_str() {
        "native" => false,
        "grpc" => true,
        other => return Err(format!("unknown transport {other:?}: native or grpc")),
    };
    Ok(Args {
        mode,
        interceptors,
        runtime,
        metrics,
        tls,
        grpc,
    })
}

/// Runs futures to completion on the chosen runtime; servers keep running on its
/// threads between REPL commands.
enum Executor {
    Tokio(tokio::runtime::Runtime),
    Smol,
}

impl Executor {
    fn new(name: &str) -> Executor {
        match name {
            "smol" => Executor::Smol,
            _ => Executor::Tokio(
                tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime"),
            ),
        }
    }

    fn block_on<F: std::future::Future>(&self, fut: F) -> F::Output {
        match self {
            Executor::Tokio(rt) => rt.block_on(fut),
            Executor::Smol => smol::block_on(fut),
        }
    }

    fn gorums(&self, tls: Option<Tls>, grpc: bool) -> RuntimeHandle {
        match (self, tls) {
            (Executor::Tokio(rt), None) if grpc => rt.block_on(async {
                Arc::new(gorums_tokio::TokioRuntime::current().with_grpc()) as RuntimeHandle
            }),
            (Executor::Tokio(rt), None) => rt.block_on(async { gorums_tokio::runtime() }),
            (Executor::Tokio(rt), Some(tls)) if grpc => rt.block_on(async {
                Arc::new(
                    gorums_tokio::TokioRuntime::current()
                        .with_tls(tls)
                        .with_grpc(),
                ) as RuntimeHandle
            }),
            (Executor::Tokio(rt), Some(tls)) => rt.block_on(async {
                Arc::new(gorums_tokio::TokioRuntime::current().with_tls(tls)) as RuntimeHandle
            }),
            (Executor::Smol, None) if grpc => {
                Arc::new(gorums_smol::SmolRuntime::global().with_grpc()) as RuntimeHandle
            }
            (Executor::Smol, None) => gorums_smol::runtime(),
            (Executor::Smol, Some(tls)) if grpc => {
                Arc::new(gorums_smol::SmolRuntime::global().with_tls(tls).with_grpc())
                    as RuntimeHandle
            }
            (Executor::Smol, Some(tls)) => {
                Arc::new(gorums_smol::SmolRuntime::global().with_tls(tls)) as RuntimeHandle
            }
        }
    }

    /// The disk over the files of `dir`, its file calls on this runtime's blocking pool.
    fn file_disk(&self, dir: &str) -> Result<DiskHandle, String> {
        let disk = match self {
            Executor::Tokio(rt) => rt.block_on(async { gorums_tokio::file_disk(dir) }),
            Executor::Smol => gorums_smol::file_disk(dir),
        };
        disk.map_err(|e| format!("--data-dir {dir}: {e}"))
    }
}

/// The server with id `id` of `peers` servers (ids 1..=peers, places in the sorted
/// `--peers` list). `dial` says which peers it dials.
fn serve_system(
    rt: &RuntimeHandle,
    id: u32,
    peers: u32,
    dial: DialPolicy,
    interceptors: &[String],
    storage: Arc<Storage>,
) -> System {
    let options = ServerOptions {
        interceptors: interceptors::by_names(interceptors, rt.clone()),
        ..ServerOptions::default()
    };
    // The `--peers` list is declared as the known peers (Go's `WithConfig(myID,
    // nodeList)`): `ctx.config()` holds those of them connected, never a process that
    // dials in announcing another id.
    let mut system_options = system_options(id).known_peers((1..=peers).map(NodeId));
    system_options.endpoint.dial = dial;
    let system = System::with_server(rt.clone(), system_options, options);
    register_storage_server(&system, storage);
    system
}

/// Installs the Prometheus exporter: `GET http://ADDR/metrics` gives the text format.
fn serve_metrics(exec: &Executor, addr: &str) -> Result<(), String> {
    let addr: std::net::SocketAddr = addr.parse().map_err(|e| format!("--metrics {addr}: {e}"))?;
    let install = || {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .with_http_listener(addr)
            .install()
            .map_err(|e| format!("--metrics {addr}: {e}"))
    };
    match exec {
        // Inside tokio the exporter runs on that runtime; elsewhere on its own thread.
        Executor::Tokio(rt) => rt.block_on(async { install() }),
        Executor::Smol => install(),
    }
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = match parse_args() {
        Ok(args) => args,
        Err(err) => {
            eprintln!("error: {err}");
            std::process::exit(2);
        }
    };
    let exec = Executor::new(&args.runtime);
    if let Some(addr) = &args.metrics {
        if let Err(err) = serve_metrics(&exec, addr) {
            eprintln!("error: {err}");
            std::process::exit(1);
        }
        METRICS.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    let tls = match args.tls.load() {
        Ok(tls) => tls,
        Err(err) => {
            eprintln!("error: {err}");
            std::process::exit(2);
        }
    };
    let rt = exec.gorums(tls, args.grpc);
    let result = match args.mode {
        Mode::Serve {
            addr,
            peers,
            data_dir,
            until_stdin_closes,
        } => {
            if until_stdin_closes {
                exit_when_stdin_closes();
            }
            serve(
                &exec,
                &rt,
                &addr,
                &peers,
                data_dir.as_deref(),
                &args.interceptors,
                args.grpc,
            )
        }
        Mode::Local => local(&exec, &rt, &args.interceptors),
        Mode::Cluster(flags) => cluster(&exec, &rt, &flags),
        Mode::Connect(addrs) => {
            Configuration::new(rt.clone(), NodeList::addrs(addrs), system_options(0))
                .map_err(|e| e.to_string())
                .map(|config| repl(&exec, &config))
        }
    };
    if let Err(err) = result {
        eprintln!("error: {err}");
        std::process::exit(1);
    }
}

/// Exits the process once its stdin ends. A `--cluster` REPL gives each server a pipe
/// as stdin and never writes to it; however the REPL ends (its `exit`, a SIGTERM or
/// SIGINT, even SIGKILL), the kernel closes its end, and the server follows it.
fn exit_when_stdin_closes() {
    std::thread::spawn(|| {
        let mut sink = [0u8; 256];
        let mut stdin = std::io::stdin().lock();
        // Whatever arrives is ignored; the end (or a read error) is the signal.
        while matches!(std::io::Read::read(&mut stdin, &mut sink), Ok(n) if n > 0) {}
        std::process::exit(0);
    });
}

/// Four servers on loopback that know each other, then the REPL against them.
fn local(exec: &Executor, rt: &RuntimeHandle, interceptors: &[String]) -> Result<(), String> {
    let server = ServerOptions {
        interceptors: interceptors::by_names(interceptors, rt.clone()),
        ..ServerOptions::default()
    };
    let mut options = system_options(0);
    options.endpoint.dial = DialPolicy::HigherIds;
    let servers = exec
        .block_on(local_systems_with(
            rt.clone(),
            4,
            options,
            server,
            |system| {
                register_storage_server(system, Storage::new());
            },
        ))
        .map_err(|e| e.to_string())?;
    let addrs: Vec<String> = servers
        .iter()
        .filter_map(|(system, config)| config.node(system.node_id()))
        .map(|node| node.addr().to_owned())
        .collect();
    println!("started 4 local storage servers: {}", addrs.join(", "));
    let config = Configuration::new(rt.clone(), NodeList::addrs(addrs), system_options(0))
        .map_err(|e| e.to_string())?;
    repl(exec, &config);
    drop(servers);
    Ok(())
}

/// Four server processes (this binary, `--serve`), then the REPL against them; the
/// servers are stopped when it ends.
fn cluster(exec: &Executor, rt: &RuntimeHandle, flags: &[String]) -> Result<(), String> {
    let servers = cluster::Servers::start(4, flags)?;
    let started: Vec<String> = servers
        .addrs()
        .iter()
        .zip(servers.pids())
        .map(|(addr, pid)| format!("{addr} (pid {pid})"))
        .collect();
    println!("started 4 storage server processes: {}", started.join(", "));
    let config = Configuration::new(
        rt.clone(),
        NodeList::addrs(servers.addrs().to_vec()),
        system_options(0),
    )
    .map_err(|e| e.to_string())?;
    repl(exec, &config);
    drop(config);
    drop(servers);
    Ok(())
}

/// One server as its own process. Its id is its address's place in the sorted peer
/// list, counting from 1: Go Gorums' storage server's rule, so that a mixed cluster's
/// processes agree on every id whatever order each was given the list in.
fn serve(
    exec: &Executor,
    rt: &RuntimeHandle,
    addr: &str,
    peers: &[String],
    data_dir: Option<&str>,
    interceptors: &[String],
    grpc: bool,
) -> Result<(), String> {
    let mut sorted = peers.to_vec();
    sorted.sort();
    sorted.dedup();
    let position = sorted
        .iter()
        .position(|p| p == addr)
        .ok_or_else(|| format!("--serve {addr} is not in --peers {}", peers.join(",")))?;
    let id = u32::try_from(position + 1).map_err(|e| e.to_string())?;
    let count = u32::try_from(sorted.len()).map_err(|e| e.to_string())?;
    let nodes = (1..=count)
        .map(NodeId)
        .zip(sorted.iter().cloned())
        .collect();
    // Natively each server dials only the peers with higher ids and reaches the others
    // over the connections they open: n servers hold n(n-1)/2 connections. Over gRPC it
    // dials every peer, as Go's servers do: a Go server counts in its configuration only
    // the peers that dialled it.
    let dial = if grpc {
        DialPolicy::Every
    } else {
        DialPolicy::HigherIds
    };
    let storage = match data_dir {
        Some(dir) => {
            let disk = exec.file_disk(dir)?;
            exec.block_on(Storage::open(disk))
                .map_err(|e| format!("--data-dir {dir}: reading the log: {e}"))?
        }
        None => Storage::new(),
    };
    let system = serve_system(rt, id, count, dial, interceptors, storage);
    let bound = exec
        .block_on(system.listen(addr))
        .map_err(|e| format!("listen on {addr}: {e}"))?;
    let _peers = system
        .configuration(NodeList::Map(nodes))
        .map_err(|e| e.to_string())?;
    println!("storage server {id} serving on {bound}");
    let _ = std::io::stdout().flush();
    exec.block_on(async {
        // Said once every peer is connected (a `--cluster` REPL waits for it). Whoever
        // started this process may have stopped reading: a failed write is ignored.
        if system
            .wait_for_config(|c| c.len() == sorted.len())
            .await
            .is_ok()
        {
            let mut stdout = std::io::stdout();
            let _ = writeln!(
                stdout,
                "storage server {id} connected to all {} servers",
                sorted.len()
            );
            let _ = stdout.flush();
        }
        std::future::pending::<()>().await
    });
    Ok(())
}

fn repl(exec: &Executor, config: &Configuration) {
    let interactive = std::io::stdin().is_terminal();
    let stdout = std::io::stdout();
    let config = Arc::new(StorageConfiguration::new(config.clone()));
    let mut lines = std::io::stdin().lock().lines();
    loop {
        if interactive {
            print!("> ");
            let _ = stdout.lock().flush();
        }
        let Some(Ok(line)) = lines.next() else { break };
        let mut out = stdout.lock();
        match exec.block_on(repl::run_line(&config, &line, &mut out)) {
            Ok(repl::Step::Continue) => {}
            Ok(repl::Step::Exit) => break,
            Err(err) => {
                let _ = writeln!(out, "error: {err}");
            }
        }
        let _ = out.flush();
    }
}
