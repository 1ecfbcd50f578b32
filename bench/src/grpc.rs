//! The tonic peer: the same `Benchmark` service over gRPC (tonic 0.14, HTTP/2), and the
//! fan-out client a Rust user writes without gorums: send to all n servers at once,
//! return once q replies have arrived, drop the rest.

use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{
    Certificate, Channel, ClientTlsConfig, Endpoint, Identity, Server, ServerTlsConfig,
};
use tonic::{Request, Response, Status};

use crate::exec::BenchTls;
use crate::service::SLOW_SERVER_DELAY;

/// The service as tonic-prost-build generates it from `proto/benchmark.proto`.
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub(crate) mod pb {
    tonic::include_proto!("benchmark");
}

use pb::benchmark_client::BenchmarkClient;
use pb::benchmark_server::{Benchmark, BenchmarkServer};
use pb::{Echo, Empty, ServerStats, StartRequest, StopRequest, TimedMsg};

/// The gRPC server: echoes, and sleeps for `SlowServer` (with tokio's timer, as the
/// gorums server sleeps on its runtime's).
#[derive(Debug, Default)]
struct GrpcBench;

#[tonic::async_trait]
impl Benchmark for GrpcBench {
    async fn start_benchmark(
        &self,
        _req: Request<StartRequest>,
    ) -> Result<Response<Empty>, Status> {
        Ok(Response::new(Empty {}))
    }

    async fn stop_benchmark(
        &self,
        _req: Request<StopRequest>,
    ) -> Result<Response<ServerStats>, Status> {
        Ok(Response::new(ServerStats::default()))
    }

    async fn quorum_call(&self, req: Request<Echo>) -> Result<Response<Echo>, Status> {
        Ok(Response::new(req.into_inner()))
    }

    async fn async_quorum_call(&self, req: Request<Echo>) -> Result<Response<Echo>, Status> {
        Ok(Response::new(req.into_inner()))
    }

    async fn slow_server(&self, req: Request<Echo>) -> Result<Response<Echo>, Status> {
        // gRPC runs each request on its own stream: nothing to release.
        tokio::time::sleep(SLOW_SERVER_DELAY).await;
        Ok(Response::new(req.into_inner()))
    }

    async fn multicast(&self, _req: Request<TimedMsg>) -> Result<Response<Empty>, Status> {
        Err(Status::unimplemented("gRPC has no one-way calls"))
    }
}

/// Starts a gRPC server on `addr` (port 0 picks one) on the current tokio runtime,
/// over TLS with `tls`' server certificate if given; returns the bound address.
pub(crate) fn serve(addr: SocketAddr, tls: Option<&BenchTls>) -> std::io::Result<SocketAddr> {
    let incoming = TcpIncoming::bind(addr)?.with_nodelay(Some(true));
    let local = incoming.local_addr()?;
    let mut builder = Server::builder();
    if let Some(tls) = tls {
        let identity = Identity::from_pem(&tls.cert, &tls.key);
        builder = builder
            .tls_config(ServerTlsConfig::new().identity(identity))
            .map_err(std::io::Error::other)?;
    }
    let server = builder
        // A fan-out client drops the replies past its quorum, and each drop resets an
        // HTTP/2 stream; h2's rapid-reset guard would otherwise break the connection.
        .http2_max_pending_accept_reset_streams(Some(usize::MAX))
        .add_service(BenchmarkServer::new(GrpcBench))
        .serve_with_incoming(incoming);
    tokio::spawn(async move {
        if let Err(e) = server.await {
            eprintln!("gorums-bench: grpc server stopped: {e}");
        }
    });
    Ok(local)
}

/// A client of n gRPC servers that completes a call once q of them replied.
#[derive(Clone, Debug)]
pub(crate) struct FanOut {
    clients: Arc<[BenchmarkClient<Channel>]>,
    quorum: usize,
}

/// Which echo method a [`FanOut`] calls.
pub(crate) use crate::service::EchoMethod;

impl FanOut {
    /// Connects to every address (one HTTP/2 connection each; over TLS trusting `tls`'
    /// authority if given).
    pub(crate) async fn connect(
        addrs: &[String],
        quorum: usize,
        tls: Option<&BenchTls>,
    ) -> Result<FanOut, String> {
        let mut clients = Vec::with_capacity(addrs.len());
        for addr in addrs {
            let scheme = if tls.is_some() { "https" } else { "http" };
            let mut endpoint = Endpoint::from_shared(format!("{scheme}://{addr}"))
                .map_err(|e| e.to_string())?
                .tcp_nodelay(true);
            if let Some(tls) = tls {
                let config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&tls.ca));
                endpoint = endpoint
                    .tls_config(config)
                    .map_err(|e| format!("{addr}: {e}"))?;
            }
            let channel = endpoint
                .connect()
                .await
                .map_err(|e| format!("{addr}: {e}"))?;
            clients.push(BenchmarkClient::new(channel));
        }
        Ok(FanOut {
            clients: clients.into(),
            quorum,
        })
    }

    /// The same connections, completing calls at `quorum` replies.
    pub(crate) fn with_quorum(&self, quorum: usize) -> FanOut {
        FanOut {
            clients: self.clients.clone(),
            quorum,
        }
    }

    /// Sends `payload` to every server and returns once `quorum` of them echoed it
    /// intact; every reply seen is checked.
    pub(crate) async fn call(
        &self,
        method: EchoMethod,
        payload: &bytes::Bytes,
    ) -> Result<(), String> {
        let mut pending: FuturesUnordered<_> = self
            .clients
            .iter()
            .map(|client| {
                let mut client = client.clone();
                let req = Echo {
                    payload: payload.clone(),
                };
                async move {
                    match method {
                        EchoMethod::QuorumCall => client.quorum_call(req).await,
                        EchoMethod::AsyncQuorumCall => client.async_quorum_call(req).await,
                        EchoMethod::SlowServer => client.slow_server(req).await,
                    }
                }
            })
            .collect();
        let mut ok = 0;
        let mut failed = 0;
        while let Some(reply) = pending.next().await {
            match reply {
                Ok(reply) if reply.get_ref().payload == *payload => ok += 1,
                Ok(_) => return Err("a reply's payload differs from the request's".into()),
                Err(status) => {
                    failed += 1;
                    if self.clients.len() - failed < self.quorum {
                        return Err(format!("quorum not reached: {status}"));
                    }
                }
            }
            if ok >= self.quorum {
                return Ok(());
            }
        }
        Err("quorum not reached".into())
    }
}
