//! `gorums-bench`: Go Gorums' benchmark program (`cmd/benchmark`) reproduced on
//! gorums-rs, with a tonic peer to compare against.
//!
//! The same workloads (`QuorumCall`, `AsyncQuorumCall`, `SlowServer`, `Multicast`), the
//! same flags with Rust's double dash, client and servers in one process by default, and
//! the same columns (throughput, mean latency, std. dev., B/op, allocs/op) plus p50, p99
//! and CPU time per call. `--compare` runs the fixed comparison of `bench/README.md`.
//! This is a program that measures; nothing here is a timed test.

mod alloc;
mod compare;
mod exec;
mod floor;
mod grpc;
mod metrics;
mod report;
mod run;
mod service;
mod sweep;

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::exec::{Exec, RuntimeKind};
use crate::run::{Spec, SystemKind, Workload};

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

/// Go Gorums' benchmark program on gorums-rs (and a tonic peer).
#[derive(Parser, Debug, Clone)]
#[command(name = "gorums-bench", version)]
pub(crate) struct Args {
    /// Run the benchmarks whose names match this regular expression.
    #[arg(long, default_value = ".*")]
    benchmarks: String,
    /// Number of servers in the configuration (n).
    #[arg(long, default_value_t = 4)]
    config_size: usize,
    /// Replies a quorum call waits for (q); 0 means a majority, n/2+1.
    #[arg(long, default_value_t = 0)]
    quorum_size: usize,
    /// Concurrent callers (c).
    #[arg(long, default_value_t = 1)]
    concurrent: usize,
    /// Payload size in bytes.
    #[arg(long, default_value_t = 0)]
    payload: usize,
    /// How long each benchmark is measured (e.g. 1s, 500ms).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    time: Duration,
    /// How long each benchmark runs before it is measured.
    #[arg(long, default_value = "100ms", value_parser = parse_duration)]
    warmup: Duration,
    /// Async quorum calls one caller keeps in flight (AsyncQuorumCall).
    #[arg(long, default_value_t = 1000)]
    max_async: usize,
    /// List the benchmarks and exit.
    #[arg(long)]
    list: bool,
    /// Run one benchmark server on this address and serve until killed.
    #[arg(long)]
    server: Option<String>,
    /// The node id the `--server` announces.
    #[arg(long, default_value_t = 1)]
    server_id: u32,
    /// Use these running servers (`--server`) instead of in-process ones.
    #[arg(long, value_delimiter = ',')]
    remotes: Vec<String>,
    /// The async runtime gorums-rs runs on.
    #[arg(long, value_enum, default_value_t = RuntimeKind::Tokio)]
    runtime: RuntimeKind,
    /// Executor threads: 1 is tokio's current-thread runtime (or smol on one thread).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// What to measure: gorums-rs, or tonic with a fan-out client (tokio only).
    #[arg(long, value_enum, default_value_t = SystemKind::Gorums)]
    system: SystemKind,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Fixed work: this many calls in all, no warm-up (for callgrind), instead of --time.
    #[arg(long)]
    calls: Option<u64>,
    /// gorums-rs' wire: its native one, or Go Gorums' gRPC node stream over HTTP/2
    /// (`--system gorums` only; servers started with `--server` must be given the same).
    #[arg(long, value_enum, default_value_t = Transport::Native)]
    transport: Transport,
    /// Over TLS, gorums-rs and tonic alike (rustls with ring; certificates made at
    /// start for 127.0.0.1).
    #[arg(long)]
    tls: bool,
    /// Record gorums-rs' metrics (calls, replies, failures, latency per method and node)
    /// and print them as Prometheus text after the run.
    #[arg(long)]
    metrics: bool,
    /// Run the comparison: gorums-rs on tokio and smol against tonic (see README).
    #[arg(long)]
    compare: bool,
    /// Sweep the calls in flight: AsyncQuorumCall n=3 q=2 100 B at 1 000 to 100 000 in
    /// flight on every gorums-rs flavour (see README).
    #[arg(long)]
    sweep_in_flight: bool,
    /// The syscall floor of QuorumCall n=3 q=2 c=1: the same socket work on one thread
    /// with no framework (blocking, and with epoll), beside gorums-rs on tokio-1t and
    /// smol-1t (see README).
    #[arg(long)]
    floor: bool,
    /// With --sweep-in-flight: only these flavours, comma-separated (tokio, tokio-1t,
    /// smol, smol-1t); every one when not given.
    #[arg(long, value_delimiter = ',')]
    flavours: Vec<String>,
    /// With --sweep-in-flight: only these calls-in-flight points, comma-separated; the
    /// five of the sweep (1 000 to 100 000) when not given.
    #[arg(long, value_delimiter = ',')]
    in_flight: Vec<usize>,
    /// With --compare, --sweep-in-flight or --floor: short runs, one round.
    #[arg(long)]
    quick: bool,
    /// With --compare or --sweep-in-flight: where their JSON, table and SVG go.
    #[arg(long, default_value = "bench-results")]
    out_dir: PathBuf,
}

/// gorums-rs' wire (`--transport`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Transport {
    /// gorums-rs' own framing over TCP.
    Native,
    /// Go Gorums' gRPC node stream over HTTP/2.
    Grpc,
}

impl Args {
    /// The system measured: `--system`, with `--transport grpc` folded in.
    fn system(&self) -> Result<SystemKind, String> {
        match (self.system, self.transport) {
            (system, Transport::Native) => Ok(system),
            (SystemKind::Gorums | SystemKind::GorumsGrpc, Transport::Grpc) => {
                Ok(SystemKind::GorumsGrpc)
            }
            (SystemKind::Tonic, Transport::Grpc) => Err(String::from(
                "--transport is gorums-rs' (tonic always speaks gRPC)",
            )),
        }
    }
}

/// Parses `1s`, `500ms`, `250us`, `2m` or a bare number of seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num.parse().map_err(|_| format!("not a duration: {s:?}"))?;
    let secs = match unit {
        "" | "s" => value,
        "ms" => value / 1e3,
        "us" | "µs" => value / 1e6,
        "ns" => value / 1e9,
        "m" => value * 60.0,
        _ => return Err(format!("unknown unit in {s:?} (use s, ms, us, ns or m)")),
    };
    Ok(Duration::from_secs_f64(secs))
}

fn main() {
    let mut args = Args::parse();
    match args.system() {
        Ok(system) => args.system = system,
        Err(e) => {
            eprintln!("gorums-bench: {e}");
            std::process::exit(2);
        }
    }
    if let Err(e) = real_main(&args) {
        eprintln!("gorums-bench: {e}");
        std::process::exit(1);
    }
}

fn real_main(args: &Args) -> Result<(), String> {
    let filter = regex::Regex::new(&args.benchmarks).map_err(|e| e.to_string())?;
    if args.tls {
        if !args.remotes.is_empty() || args.server.is_some() {
            return Err(String::from(
                "--tls is for in-process servers (not --remotes, not --server): \
                 its certificates are made at start",
            ));
        }
        exec::use_tls()?;
    }
    if args.metrics {
        metrics::install()?;
    }
    if args.list {
        for w in Workload::ALL {
            println!("{:<16} {}", w.name(), w.description());
        }
        return Ok(());
    }
    if let Some(addr) = &args.server {
        return serve(args, addr);
    }
    if args.compare {
        return compare::run(args);
    }
    if args.sweep_in_flight {
        return sweep::run(args);
    }
    if args.floor {
        return floor::run(args);
    }
    let rows = run_selected(args, &filter, |_| {})?;
    if let Some(text) = metrics::render() {
        println!("\n# gorums-rs metrics of this run (warm-up and connecting calls included)");
        println!("{text}");
    }
    if let Some(path) = &args.json {
        report::write_json(path, &rows)?;
    }
    Ok(())
}

/// Runs every workload `filter` selects with the flags given, printing rows as they come.
fn run_selected(
    args: &Args,
    filter: &regex::Regex,
    mut each: impl FnMut(&run::Outcome),
) -> Result<Vec<run::Outcome>, String> {
    let mut rows = Vec::new();
    report::print_header();
    for w in Workload::ALL {
        if !filter.is_match(w.name()) {
            continue;
        }
        let spec = spec_from(args, w);
        let row = run::run(&spec)?;
        report::print_row(&row);
        each(&row);
        rows.push(row);
    }
    Ok(rows)
}

/// The run the flags describe, for workload `w`.
fn spec_from(args: &Args, w: Workload) -> Spec {
    let n = if args.remotes.is_empty() {
        args.config_size
    } else {
        args.remotes.len()
    };
    Spec {
        workload: w,
        system: args.system,
        runtime: args.runtime,
        threads: args.threads,
        n,
        q: if args.quorum_size == 0 {
            n / 2 + 1
        } else {
            args.quorum_size
        },
        concurrent: args.concurrent,
        payload: args.payload,
        time: args.time,
        warmup: args.warmup,
        max_async: args.max_async,
        calls: args.calls,
        remotes: args.remotes.clone(),
    }
}

/// `--server ADDR`: one benchmark server until the process is killed.
fn serve(args: &Args, addr: &str) -> Result<(), String> {
    let kind = if args.system == SystemKind::Tonic {
        RuntimeKind::Tokio
    } else {
        args.runtime
    };
    let exec = Exec::new(kind, args.threads).map_err(|e| e.to_string())?;
    let rt = exec.gorums(args.system == SystemKind::GorumsGrpc);
    exec.block_on(async {
        let bound = match args.system {
            SystemKind::Gorums | SystemKind::GorumsGrpc => {
                let (system, bound) = run::gorums_server(&rt, args.server_id, addr).await?;
                std::mem::forget(system);
                bound
            }
            SystemKind::Tonic => {
                let sock = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
                grpc::serve(sock, exec::tls())
                    .map_err(|e| e.to_string())?
                    .to_string()
            }
        };
        println!(
            "gorums-bench: {:?} server listening on {bound}",
            args.system
        );
        std::future::pending::<Result<(), String>>().await
    })
}

#[cfg(test)]
mod tests;
