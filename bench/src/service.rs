//! The benchmark service of `proto/benchmark.proto` on gorums-rs: the server
//! ([`BenchServer`]) and the client calls the workloads make.
//!
//! The messages and method names are bound by hand here, exactly as the `.proto` file
//! declares them, until `gorums-build` generates them; nothing outside this module
//! depends on how they are bound.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use gorums_core::api::{Configuration, QuorumCallError, Responses, ServerCtx, Status, System};
use gorums_core::runtime::RuntimeHandle;
use hdrhistogram::Histogram;

use crate::alloc::AllocSnapshot;

/// The messages of `proto/benchmark.proto`.
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub(crate) mod proto {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Echo {
        #[prost(bytes = "bytes", tag = "1")]
        pub payload: ::bytes::Bytes,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TimedMsg {
        #[prost(int64, tag = "1")]
        pub send_time: i64,
        #[prost(bytes = "bytes", tag = "2")]
        pub payload: ::bytes::Bytes,
    }
    #[derive(Clone, Copy, PartialEq, prost::Message)]
    pub struct StartRequest {}
    #[derive(Clone, Copy, PartialEq, prost::Message)]
    pub struct StopRequest {}
    #[derive(Clone, Copy, PartialEq, prost::Message)]
    pub struct Empty {}
    #[derive(Clone, Copy, PartialEq, prost::Message)]
    pub struct ServerStats {
        #[prost(uint64, tag = "1")]
        pub multicasts: u64,
        #[prost(uint64, tag = "2")]
        pub latency_sum_ns: u64,
        #[prost(double, tag = "3")]
        pub latency_sq_sum_ns: f64,
        #[prost(uint64, tag = "4")]
        pub latency_p50_ns: u64,
        #[prost(uint64, tag = "5")]
        pub latency_p99_ns: u64,
        #[prost(uint64, tag = "6")]
        pub alloc_bytes: u64,
        #[prost(uint64, tag = "7")]
        pub allocs: u64,
    }
}

use proto::{Echo, Empty, ServerStats, StartRequest, StopRequest, TimedMsg};

/// Full method names, `<package>.<Service>.<Method>`.
mod method {
    pub(super) const START: &str = "benchmark.Benchmark.StartBenchmark";
    pub(super) const STOP: &str = "benchmark.Benchmark.StopBenchmark";
    pub(super) const QUORUM_CALL: &str = "benchmark.Benchmark.QuorumCall";
    pub(super) const ASYNC_QUORUM_CALL: &str = "benchmark.Benchmark.AsyncQuorumCall";
    pub(super) const SLOW_SERVER: &str = "benchmark.Benchmark.SlowServer";
    pub(super) const MULTICAST: &str = "benchmark.Benchmark.Multicast";
}

/// How long `SlowServer`'s handler sleeps after releasing.
pub(crate) const SLOW_SERVER_DELAY: Duration = Duration::from_millis(10);

/// Nanoseconds since the Unix epoch, the clock `TimedMsg.send_time` is read against
/// (as Go Gorums' `time.Now().UnixNano()`), so that servers in other processes can use it.
pub(crate) fn unix_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// One server's measurement window.
struct Window {
    hist: Histogram<u64>,
    sum: u64,
    sq_sum: f64,
    allocs_at_start: AllocSnapshot,
}

/// The benchmark server: echoes, sleeps for `SlowServer`, and measures multicast
/// latency between `StartBenchmark` and `StopBenchmark`.
pub(crate) struct BenchServer {
    rt: RuntimeHandle,
    active: AtomicBool,
    window: Mutex<Window>,
}

impl BenchServer {
    pub(crate) fn new(rt: RuntimeHandle) -> Arc<BenchServer> {
        Arc::new(BenchServer {
            rt,
            active: AtomicBool::new(false),
            window: Mutex::new(Window {
                // 3 significant digits up to 100 s; recording never allocates.
                hist: Histogram::new_with_bounds(1, 100_000_000_000, 3)
                    .unwrap_or_else(|_| unreachable!("valid histogram bounds")),
                sum: 0,
                sq_sum: 0.0,
                allocs_at_start: AllocSnapshot::default(),
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Window> {
        self.window.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn start_benchmark(&self) -> Empty {
        let mut w = self.lock();
        w.hist.reset();
        w.sum = 0;
        w.sq_sum = 0.0;
        w.allocs_at_start = AllocSnapshot::now();
        self.active.store(true, Ordering::Release);
        Empty {}
    }

    fn stop_benchmark(&self) -> ServerStats {
        self.active.store(false, Ordering::Release);
        let w = self.lock();
        let allocs = AllocSnapshot::now().since(w.allocs_at_start);
        ServerStats {
            multicasts: w.hist.len(),
            latency_sum_ns: w.sum,
            latency_sq_sum_ns: w.sq_sum,
            latency_p50_ns: w.hist.value_at_quantile(0.5),
            latency_p99_ns: w.hist.value_at_quantile(0.99),
            alloc_bytes: allocs.bytes,
            allocs: allocs.count,
        }
    }

    fn multicast(&self, msg: &TimedMsg) {
        if !self.active.load(Ordering::Acquire) {
            return;
        }
        let ns = u64::try_from(unix_nanos().saturating_sub(msg.send_time))
            .unwrap_or(0)
            .max(1);
        let mut w = self.lock();
        w.hist.saturating_record(ns);
        w.sum += ns;
        w.sq_sum += (ns as f64) * (ns as f64);
    }

    /// Registers every method of the service on `system`.
    pub(crate) fn register(self: &Arc<Self>, system: &System) {
        let s = self.clone();
        system.register_unary(method::START, move |_ctx: ServerCtx, _req: StartRequest| {
            let reply = s.start_benchmark();
            async move { Ok::<_, Status>(reply) }
        });
        let s = self.clone();
        system.register_unary(method::STOP, move |_ctx: ServerCtx, _req: StopRequest| {
            let reply = s.stop_benchmark();
            async move { Ok::<_, Status>(reply) }
        });
        system.register_unary(
            method::QUORUM_CALL,
            |_ctx: ServerCtx, req: Echo| async move { Ok::<_, Status>(req) },
        );
        system.register_unary(
            method::ASYNC_QUORUM_CALL,
            |_ctx: ServerCtx, req: Echo| async move { Ok::<_, Status>(req) },
        );
        let rt = self.rt.clone();
        system.register_unary(method::SLOW_SERVER, move |ctx: ServerCtx, req: Echo| {
            let rt = rt.clone();
            async move {
                ctx.release();
                rt.sleep_until(rt.now() + SLOW_SERVER_DELAY).await;
                Ok::<_, Status>(req)
            }
        });
        let s = self.clone();
        system.register_one_way(method::MULTICAST, move |_ctx: ServerCtx, req: TimedMsg| {
            s.multicast(&req);
            async {}
        });
    }
}

/// The echo methods a workload calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EchoMethod {
    QuorumCall,
    AsyncQuorumCall,
    SlowServer,
}

/// A call of `method` with `req` to every node of `config`; lazy until polled.
pub(crate) fn echo_call(config: &Configuration, method: EchoMethod, req: &Echo) -> Responses<Echo> {
    let name = match method {
        EchoMethod::QuorumCall => method::QUORUM_CALL,
        EchoMethod::AsyncQuorumCall => method::ASYNC_QUORUM_CALL,
        EchoMethod::SlowServer => method::SLOW_SERVER,
    };
    config.quorum_call(name, req)
}

/// Sends `msg` one-way to every node of `config`.
pub(crate) fn multicast(config: &Configuration, msg: &TimedMsg) -> Result<(), QuorumCallError> {
    config.multicast(method::MULTICAST, msg)
}

/// Opens a measurement window on every server.
pub(crate) async fn start_benchmark(config: &Configuration) -> Result<(), QuorumCallError> {
    config
        .quorum_call::<_, Empty>(method::START, &StartRequest {})
        .all()
        .await
        .map(|_| ())
}

/// Closes the window on every server and returns what each measured.
pub(crate) async fn stop_benchmark(config: &Configuration) -> Vec<ServerStats> {
    config
        .quorum_call::<_, ServerStats>(method::STOP, &StopRequest {})
        .collect_all()
        .await
        .into_iter()
        .filter_map(|r| r.result.ok())
        .collect()
}

/// The payload a workload sends: `len` bytes of a fixed pattern.
pub(crate) fn payload(len: usize) -> Bytes {
    (0..len)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into()
}
