//! The benchmark service of `proto/benchmark.proto` on gorums-rs: the server
//! ([`BenchServer`]) and the client calls the workloads make.
//!
//! Everything here is written against the code gorums-build generates from the
//! `.proto` file; the workloads call only the functions of this module.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use std::future::Future;

use gorums_core::api::{QuorumCallError, Responses, ServerCtx, Status, System};
use gorums_core::runtime::RuntimeHandle;
use hdrhistogram::Histogram;

use crate::alloc::AllocSnapshot;

/// The messages, typed client ([`proto::BenchmarkConfiguration`]) and server trait
/// ([`proto::BenchmarkServer`]) that gorums-build generates from `proto/benchmark.proto`.
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub(crate) mod proto {
    include!(concat!(env!("OUT_DIR"), "/gorums/benchmark.rs"));
}

use proto::{
    BenchmarkConfiguration, Echo, Empty, ServerStats, StartRequest, StopRequest, TimedMsg,
};

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

    fn start_window(&self) -> Empty {
        let mut w = self.lock();
        w.hist.reset();
        w.sum = 0;
        w.sq_sum = 0.0;
        w.allocs_at_start = AllocSnapshot::now();
        self.active.store(true, Ordering::Release);
        Empty {}
    }

    fn stop_window(&self) -> ServerStats {
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

    fn record_multicast(&self, msg: &TimedMsg) {
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
        proto::register_benchmark_server(system, self.clone());
    }
}

impl proto::BenchmarkServer for BenchServer {
    fn start_benchmark(
        &self,
        _ctx: ServerCtx,
        _req: StartRequest,
    ) -> impl Future<Output = Result<Empty, Status>> + Send {
        std::future::ready(Ok(self.start_window()))
    }

    fn stop_benchmark(
        &self,
        _ctx: ServerCtx,
        _req: StopRequest,
    ) -> impl Future<Output = Result<ServerStats, Status>> + Send {
        std::future::ready(Ok(self.stop_window()))
    }

    fn quorum_call(
        &self,
        _ctx: ServerCtx,
        req: Echo,
    ) -> impl Future<Output = Result<Echo, Status>> + Send {
        std::future::ready(Ok(req))
    }

    fn async_quorum_call(
        &self,
        _ctx: ServerCtx,
        req: Echo,
    ) -> impl Future<Output = Result<Echo, Status>> + Send {
        std::future::ready(Ok(req))
    }

    fn slow_server(
        &self,
        ctx: ServerCtx,
        req: Echo,
    ) -> impl Future<Output = Result<Echo, Status>> + Send {
        let rt = self.rt.clone();
        async move {
            // Let the sender's next message start, then sleep on the runtime's timer.
            ctx.release();
            rt.sleep_until(rt.now() + SLOW_SERVER_DELAY).await;
            Ok(req)
        }
    }

    fn multicast(&self, _ctx: ServerCtx, req: TimedMsg) -> impl Future<Output = ()> + Send {
        self.record_multicast(&req);
        std::future::ready(())
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
pub(crate) fn echo_call(
    config: &BenchmarkConfiguration,
    method: EchoMethod,
    req: &Echo,
) -> Responses<Echo> {
    match method {
        EchoMethod::QuorumCall => config.quorum_call(req),
        EchoMethod::AsyncQuorumCall => config.async_quorum_call(req),
        EchoMethod::SlowServer => config.slow_server(req),
    }
}

/// Sends `msg` one-way to every node of `config`.
pub(crate) fn multicast(
    config: &BenchmarkConfiguration,
    msg: &TimedMsg,
) -> Result<(), QuorumCallError> {
    config.multicast(msg)
}

/// Opens a measurement window on every server.
pub(crate) async fn start_benchmark(
    config: &BenchmarkConfiguration,
) -> Result<(), QuorumCallError> {
    config
        .start_benchmark(&StartRequest {})
        .all()
        .await
        .map(|_| ())
}

/// Closes the window on every server and returns what each measured.
pub(crate) async fn stop_benchmark(config: &BenchmarkConfiguration) -> Vec<ServerStats> {
    config
        .stop_benchmark(&StopRequest {})
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
