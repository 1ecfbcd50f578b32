//! One benchmark run: start the servers (in this process unless `--remotes`), connect a
//! client, run `c` callers through warm-up and the measured window (or a fixed number of
//! calls), and turn what they saw into a [`Outcome`] row.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use gorums_core::api::{Configuration, NodeId, NodeList, System, SystemOptions};
use gorums_core::runtime::RuntimeHandle;
use hdrhistogram::Histogram;
use serde::Serialize;

use crate::alloc::{AllocSnapshot, cpu_seconds};
use crate::exec::{self, Exec, RuntimeKind};
use crate::grpc::{self, FanOut};
use crate::metrics;
use crate::service::{self, BenchServer, EchoMethod, proto};

/// The workloads of Go Gorums' benchmark program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub(crate) enum Workload {
    QuorumCall,
    AsyncQuorumCall,
    SlowServer,
    Multicast,
}

impl Workload {
    pub(crate) const ALL: [Workload; 4] = [
        Workload::QuorumCall,
        Workload::AsyncQuorumCall,
        Workload::SlowServer,
        Workload::Multicast,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Workload::QuorumCall => "QuorumCall",
            Workload::AsyncQuorumCall => "AsyncQuorumCall",
            Workload::SlowServer => "SlowServer",
            Workload::Multicast => "Multicast",
        }
    }

    pub(crate) fn description(self) -> &'static str {
        match self {
            Workload::QuorumCall => "quorum call, servers echo the payload",
            Workload::AsyncQuorumCall => {
                "quorum calls sent at once, up to --max-async in flight per caller"
            }
            Workload::SlowServer => "quorum call, handler releases then sleeps 10 ms",
            Workload::Multicast => "one-way to every node; servers measure one-way latency",
        }
    }
}

/// Which implementation serves and calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SystemKind {
    /// gorums-rs on the chosen `--runtime`.
    Gorums,
    /// gorums-rs over its gRPC transport (Go Gorums' wire, `--transport grpc`).
    #[serde(rename = "gorums-grpc")]
    GorumsGrpc,
    /// tonic (gRPC over HTTP/2) with a fan-out client; tokio only.
    Tonic,
}

/// Everything one run needs.
#[derive(Clone, Debug)]
pub(crate) struct Spec {
    pub(crate) workload: Workload,
    pub(crate) system: SystemKind,
    pub(crate) runtime: RuntimeKind,
    pub(crate) threads: usize,
    pub(crate) n: usize,
    pub(crate) q: usize,
    pub(crate) concurrent: usize,
    pub(crate) payload: usize,
    pub(crate) time: Duration,
    pub(crate) warmup: Duration,
    pub(crate) max_async: usize,
    /// Fixed work: this many calls in all, no warm-up, instead of `time`.
    pub(crate) calls: Option<u64>,
    pub(crate) remotes: Vec<String>,
}

impl Spec {
    /// The label of the system and runtime, as tables and plots show it.
    pub(crate) fn label(&self) -> String {
        let flavour = if self.threads == 1 { "-1t" } else { "" };
        match self.system {
            SystemKind::Gorums => format!("gorums/{}{flavour}", self.runtime.name()),
            SystemKind::GorumsGrpc => format!("gorums-grpc/{}{flavour}", self.runtime.name()),
            SystemKind::Tonic => format!("tonic{flavour}"),
        }
    }
}

/// One row of results.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Outcome {
    pub(crate) benchmark: &'static str,
    pub(crate) system: String,
    pub(crate) runtime: &'static str,
    pub(crate) threads: usize,
    pub(crate) config_size: usize,
    pub(crate) quorum_size: usize,
    pub(crate) concurrent: usize,
    pub(crate) payload: usize,
    /// Calls (messages, for `Multicast`) completed in the measured window.
    pub(crate) ops: u64,
    /// Calls that failed in the window (none expected).
    pub(crate) errors: u64,
    pub(crate) seconds: f64,
    pub(crate) ops_per_sec: f64,
    /// Latency in microseconds: round trip, or one-way at the servers for `Multicast`.
    pub(crate) mean_us: f64,
    pub(crate) stdev_us: f64,
    pub(crate) p50_us: f64,
    pub(crate) p99_us: f64,
    /// Bytes and allocations per call, client and in-process servers together.
    pub(crate) bytes_per_op: f64,
    pub(crate) allocs_per_op: f64,
    /// User plus system CPU time of the whole process per call (getrusage).
    pub(crate) cpu_us_per_op: f64,
}

const WARMUP: u8 = 0;
const MEASURE: u8 = 1;
const STOP: u8 = 2;

/// Multicast has no reply to wait for: every this many messages, a caller waits for one
/// echo from every server, which (messages from one sender being handled in order) bounds
/// the backlog a fast sender can queue ahead of the servers.
const MULTICAST_WINDOW: u64 = 100;

/// What one caller saw in the measured window.
struct CallerReport {
    hist: Histogram<u64>,
    ops: u64,
    errors: u64,
    first_error: Option<String>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000_000, 3)
        .unwrap_or_else(|_| unreachable!("valid histogram bounds"))
}

/// Who a caller calls.
#[derive(Clone)]
enum Target {
    Gorums(service::proto::BenchmarkConfiguration),
    Tonic(FanOut),
}

/// Runs one benchmark as `spec` says.
pub(crate) fn run(spec: &Spec) -> Result<Outcome, String> {
    if spec.system == SystemKind::Tonic && spec.runtime != RuntimeKind::Tokio {
        return Err("the tonic peer runs on tokio only".into());
    }
    if spec.system == SystemKind::Tonic && spec.workload == Workload::Multicast {
        return Err("gRPC has no one-way call: Multicast runs on gorums only".into());
    }
    if spec.q == 0 || spec.q > spec.n {
        return Err(format!("quorum size {} out of 1..={}", spec.q, spec.n));
    }
    let exec = Exec::new(spec.runtime, spec.threads).map_err(|e| e.to_string())?;
    let rt = exec.gorums(spec.system == SystemKind::GorumsGrpc);
    let (addrs, _servers) = exec.block_on(start_servers(spec, &rt))?;
    let target = exec.block_on(connect(spec, &rt, &addrs))?;
    let outcome = measure(spec, &exec, &rt, target.clone());
    drop(target);
    for s in _servers {
        s.stop();
    }
    outcome
}

/// In-process servers, unless `--remotes` names running ones.
async fn start_servers(
    spec: &Spec,
    rt: &RuntimeHandle,
) -> Result<(Vec<String>, Vec<System>), String> {
    if !spec.remotes.is_empty() {
        if spec.remotes.len() != spec.n {
            return Err(format!(
                "--remotes names {} servers, --config-size is {}",
                spec.remotes.len(),
                spec.n
            ));
        }
        return Ok((spec.remotes.clone(), Vec::new()));
    }
    let mut addrs = Vec::new();
    let mut systems = Vec::new();
    for id in 1..=spec.n {
        match spec.system {
            SystemKind::Gorums | SystemKind::GorumsGrpc => {
                let (system, addr) = gorums_server(rt, id as u32, "127.0.0.1:0").await?;
                addrs.push(addr);
                systems.push(system);
            }
            SystemKind::Tonic => {
                let addr = grpc::serve(([127, 0, 0, 1], 0).into(), exec::tls())
                    .map_err(|e| e.to_string())?;
                addrs.push(addr.to_string());
            }
        }
    }
    Ok((addrs, systems))
}

/// One gorums benchmark server listening on `addr`.
pub(crate) async fn gorums_server(
    rt: &RuntimeHandle,
    id: u32,
    addr: &str,
) -> Result<(System, String), String> {
    let system = System::new(
        rt.clone(),
        metrics::options(SystemOptions::with_id(NodeId(id))),
    );
    BenchServer::new(rt.clone()).register(&system);
    let addr = system.listen(addr).await.map_err(|e| e.to_string())?;
    Ok((system, addr))
}

async fn connect(spec: &Spec, rt: &RuntimeHandle, addrs: &[String]) -> Result<Target, String> {
    match spec.system {
        SystemKind::Gorums | SystemKind::GorumsGrpc => {
            let config = Configuration::new(
                rt.clone(),
                NodeList::addrs(addrs.iter().cloned()),
                metrics::options(SystemOptions::default()),
            )
            .map_err(|e| e.to_string())?
            .into();
            // Connect before the clock starts: one echo from every node.
            service::echo_call(&config, EchoMethod::QuorumCall, &proto::Echo::default())
                .all()
                .await
                .map_err(|e| format!("servers unreachable: {e}"))?;
            Ok(Target::Gorums(config))
        }
        SystemKind::Tonic => {
            let fan = FanOut::connect(addrs, spec.q, exec::tls()).await?;
            fan.with_quorum(addrs.len())
                .call(EchoMethod::QuorumCall, &Bytes::new())
                .await
                .map_err(|e| format!("servers unreachable: {e}"))?;
            Ok(Target::Tonic(fan))
        }
    }
}

struct Ctl {
    phase: AtomicU8,
}

impl Ctl {
    fn phase(&self) -> u8 {
        self.phase.load(Ordering::Acquire)
    }
}

fn measure(
    spec: &Spec,
    exec: &Exec,
    rt: &RuntimeHandle,
    target: Target,
) -> Result<Outcome, String> {
    let fixed = spec.calls;
    let ctl = Arc::new(Ctl {
        phase: AtomicU8::new(if fixed.is_some() { MEASURE } else { WARMUP }),
    });
    let payload = service::payload(spec.payload);
    let (tx, rx) = smol::channel::unbounded::<CallerReport>();
    let c = spec.concurrent.max(1) as u64;
    let mut before = None;
    if fixed.is_some() {
        before = Some(exec.block_on(start_window(&target)));
    }
    for i in 0..c {
        let budget = fixed.map(|n| n / c + u64::from(i < n % c));
        let (target, ctl, tx, payload) = (target.clone(), ctl.clone(), tx.clone(), payload.clone());
        let spec = spec.clone();
        exec.spawn(async move {
            let report = caller(&spec, target, &ctl, payload, budget).await;
            let _ = tx.send(report).await;
        });
    }
    drop(tx);
    let rt2 = rt.clone();
    let (reports, snap_start, snap_end, server_stats) = exec.block_on(async {
        let start;
        if fixed.is_none() {
            sleep(&rt2, spec.warmup).await;
            start = start_window(&target).await;
            ctl.phase.store(MEASURE, Ordering::Release);
            sleep(&rt2, spec.time).await;
        } else {
            start = before.unwrap_or_else(|| unreachable!());
        }
        let mut reports = Vec::new();
        if fixed.is_some() {
            while let Ok(r) = rx.recv().await {
                reports.push(r);
            }
        }
        let end = Snapshot::now();
        ctl.phase.store(STOP, Ordering::Release);
        let stats = stop_window(&target).await;
        while let Ok(r) = rx.recv().await {
            reports.push(r);
        }
        (reports, start, end, stats)
    });
    let mut hist = histogram();
    let (mut ops, mut errors, mut first_error) = (0, 0, None);
    for r in reports {
        hist.add(&r.hist).map_err(|e| e.to_string())?;
        ops += r.ops;
        errors += r.errors;
        first_error = first_error.or(r.first_error);
    }
    if let Some(e) = first_error {
        eprintln!(
            "gorums-bench: {} {}: {errors} calls failed, first: {e}",
            spec.workload.name(),
            spec.label()
        );
    }
    let seconds = snap_end.wall.duration_since(snap_start.wall).as_secs_f64();
    let mut allocs = snap_end.allocs.since(snap_start.allocs);
    if !spec.remotes.is_empty() {
        // Servers in other processes count their own; add them, as Go Gorums does.
        for s in &server_stats {
            allocs.bytes += s.alloc_bytes;
            allocs.count += s.allocs;
        }
    }
    let per_op = |x: f64| if ops == 0 { 0.0 } else { x / ops as f64 };
    let us = |ns: f64| ns / 1000.0;
    let (mean_us, stdev_us, p50_us, p99_us) = if spec.workload == Workload::Multicast {
        one_way_latency(&server_stats)
    } else {
        (
            us(hist.mean()),
            us(hist.stdev()),
            us(hist.value_at_quantile(0.5) as f64),
            us(hist.value_at_quantile(0.99) as f64),
        )
    };
    Ok(Outcome {
        benchmark: spec.workload.name(),
        system: spec.label(),
        runtime: spec.runtime.name(),
        threads: spec.threads,
        config_size: spec.n,
        quorum_size: spec.q,
        concurrent: spec.concurrent,
        payload: spec.payload,
        ops,
        errors,
        seconds,
        ops_per_sec: if seconds > 0.0 {
            ops as f64 / seconds
        } else {
            0.0
        },
        mean_us,
        stdev_us,
        p50_us,
        p99_us,
        bytes_per_op: per_op(allocs.bytes as f64),
        allocs_per_op: per_op(allocs.count as f64),
        cpu_us_per_op: per_op((snap_end.cpu - snap_start.cpu) * 1e6),
    })
}

/// Multicast latency as the servers measured it: mean and std. dev. over all messages,
/// the median of the servers' medians and the highest of their 99th percentiles.
fn one_way_latency(stats: &[proto::ServerStats]) -> (f64, f64, f64, f64) {
    let count: u64 = stats.iter().map(|s| s.multicasts).sum();
    if count == 0 {
        return (0.0, 0.0, 0.0, 0.0);
    }
    let sum: f64 = stats.iter().map(|s| s.latency_sum_ns as f64).sum();
    let sq: f64 = stats.iter().map(|s| s.latency_sq_sum_ns).sum();
    let mean = sum / count as f64;
    let var = (sq / count as f64 - mean * mean).max(0.0);
    let mut p50: Vec<u64> = stats.iter().map(|s| s.latency_p50_ns).collect();
    p50.sort_unstable();
    let p99 = stats.iter().map(|s| s.latency_p99_ns).max().unwrap_or(0);
    (
        mean / 1000.0,
        var.sqrt() / 1000.0,
        p50[p50.len() / 2] as f64 / 1000.0,
        p99 as f64 / 1000.0,
    )
}

#[derive(Clone, Copy)]
struct Snapshot {
    wall: Instant,
    allocs: AllocSnapshot,
    cpu: f64,
}

impl Snapshot {
    fn now() -> Snapshot {
        Snapshot {
            wall: Instant::now(),
            allocs: AllocSnapshot::now(),
            cpu: cpu_seconds(),
        }
    }
}

/// Opens the servers' window (gorums only: they measure multicast latency and, in
/// other processes, their allocations), then snapshots the counters.
async fn start_window(target: &Target) -> Snapshot {
    if let Target::Gorums(config) = target
        && let Err(e) = service::start_benchmark(config).await
    {
        eprintln!("gorums-bench: StartBenchmark failed: {e}");
    }
    Snapshot::now()
}

async fn stop_window(target: &Target) -> Vec<proto::ServerStats> {
    match target {
        Target::Gorums(config) => service::stop_benchmark(config).await,
        Target::Tonic(_) => Vec::new(),
    }
}

async fn sleep(rt: &RuntimeHandle, d: Duration) {
    rt.sleep_until(rt.now() + d).await;
}

/// One caller: calls back to back until the window closes or its budget is spent.
async fn caller(
    spec: &Spec,
    target: Target,
    ctl: &Ctl,
    payload: Bytes,
    budget: Option<u64>,
) -> CallerReport {
    let mut report = CallerReport {
        hist: histogram(),
        ops: 0,
        errors: 0,
        first_error: None,
    };
    match spec.workload {
        Workload::QuorumCall | Workload::SlowServer => {
            let method = if spec.workload == Workload::QuorumCall {
                EchoMethod::QuorumCall
            } else {
                EchoMethod::SlowServer
            };
            let mut done = 0;
            while ctl.phase() != STOP && budget.is_none_or(|b| done < b) {
                let phase = ctl.phase();
                let t0 = Instant::now();
                let result = match &target {
                    Target::Gorums(config) => {
                        let req = proto::Echo {
                            payload: payload.clone(),
                        };
                        gorums_quorum(
                            service::echo_call(config, method, &req),
                            spec.n,
                            spec.q,
                            &payload,
                        )
                        .await
                    }
                    Target::Tonic(fan) => fan.call(method, &payload).await,
                };
                done += 1;
                if phase == MEASURE && ctl.phase() == MEASURE {
                    report.record(t0, result);
                }
            }
        }
        Workload::AsyncQuorumCall => match &target {
            Target::Gorums(config) => {
                let mut in_flight = VecDeque::with_capacity(spec.max_async);
                let mut issued = 0;
                loop {
                    let go_on = ctl.phase() != STOP && budget.is_none_or(|b| issued < b);
                    if go_on && in_flight.len() < spec.max_async.max(1) {
                        let req = proto::Echo {
                            payload: payload.clone(),
                        };
                        let mut responses =
                            service::echo_call(config, EchoMethod::AsyncQuorumCall, &req);
                        // Sends at once, as `async_threshold` does.
                        responses.start();
                        in_flight.push_back((ctl.phase(), Instant::now(), responses));
                        issued += 1;
                        continue;
                    }
                    let Some((phase, t0, responses)) = in_flight.pop_front() else {
                        break;
                    };
                    let result = gorums_quorum(responses, spec.n, spec.q, &payload).await;
                    if phase == MEASURE && ctl.phase() == MEASURE {
                        report.record(t0, result);
                    }
                }
            }
            Target::Tonic(fan) => {
                let mut in_flight = VecDeque::with_capacity(spec.max_async);
                let mut issued = 0;
                loop {
                    let go_on = ctl.phase() != STOP && budget.is_none_or(|b| issued < b);
                    if go_on && in_flight.len() < spec.max_async.max(1) {
                        let (fan, payload) = (fan.clone(), payload.clone());
                        let call = tokio::spawn(async move {
                            fan.call(EchoMethod::AsyncQuorumCall, &payload).await
                        });
                        in_flight.push_back((ctl.phase(), Instant::now(), call));
                        issued += 1;
                        continue;
                    }
                    let Some((phase, t0, call)) = in_flight.pop_front() else {
                        break;
                    };
                    let result = call.await.unwrap_or_else(|e| Err(e.to_string()));
                    if phase == MEASURE && ctl.phase() == MEASURE {
                        report.record(t0, result);
                    }
                }
            }
        },
        Workload::Multicast => {
            let Target::Gorums(config) = &target else {
                return report;
            };
            let mut sent = 0;
            while ctl.phase() != STOP && budget.is_none_or(|b| sent < b) {
                let phase = ctl.phase();
                let msg = proto::TimedMsg {
                    send_time: service::unix_nanos(),
                    payload: payload.clone(),
                };
                let result = service::multicast(config, &msg).map_err(|e| e.to_string());
                sent += 1;
                if phase == MEASURE && ctl.phase() == MEASURE {
                    match result {
                        Ok(()) => report.ops += 1,
                        Err(e) => report.fail(e),
                    }
                }
                if sent % MULTICAST_WINDOW == 0 {
                    let empty = proto::Echo::default();
                    let barrier = service::echo_call(config, EchoMethod::QuorumCall, &empty);
                    if let Err(e) = barrier.all().await {
                        report.fail(e.to_string());
                    }
                }
            }
        }
    }
    report
}

impl CallerReport {
    fn record(&mut self, t0: Instant, result: Result<(), String>) {
        match result {
            Ok(()) => {
                let ns = u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX);
                self.hist.saturating_record(ns.max(1));
                self.ops += 1;
            }
            Err(e) => self.fail(e),
        }
    }

    fn fail(&mut self, e: String) {
        self.errors += 1;
        self.first_error.get_or_insert(e);
    }
}

/// Waits for `q` of `n` nodes to echo `payload` intact, checking every reply it sees,
/// and drops the call (cancelling the rest) once they have.
async fn gorums_quorum(
    mut responses: gorums_core::api::Responses<proto::Echo>,
    n: usize,
    q: usize,
    payload: &Bytes,
) -> Result<(), String> {
    let (mut ok, mut failed) = (0, 0);
    while let Some(reply) = responses.next().await {
        match reply.result {
            Ok(echo) if echo.payload == *payload => ok += 1,
            Ok(_) => return Err(format!("{} echoed another payload", reply.node)),
            Err(e) => {
                failed += 1;
                if n - failed < q {
                    return Err(format!("quorum not reached: {e}"));
                }
            }
        }
        if ok >= q {
            return Ok(());
        }
    }
    Err("quorum not reached".into())
}
