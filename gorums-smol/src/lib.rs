//! gorums-rs on smol: the [`Runtime`] of gorums-core over async-io's TCP sockets and
//! timers and a smol executor, and the whole API re-exported, so a user depends on this
//! crate only. It does not use tokio (its opt-in gRPC transport uses tokio's io
//! traits only, below, and runs no tokio runtime).
//!
//! ```no_run
//! use gorums_smol::{Configuration, NodeList, SystemOptions};
//!
//! smol::block_on(async {
//!     let config = Configuration::new(
//!         gorums_smol::runtime(),
//!         NodeList::addrs(["127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003"]),
//!         SystemOptions::default(),
//!     )
//!     .expect("valid node list");
//!     assert_eq!(config.len(), 3);
//! });
//! ```
//!
//! TLS is opt-in per system: give its runtime TLS settings
//! ([`SmolRuntime::with_tls`], feature `tls`, on by default) and every connection it
//! dials or accepts speaks TLS through futures-rustls, with the *ring* crypto provider.
//! The peer's verified certificate chain is handed up to the API, whose
//! [`IdentityRule`] binds node ids to it.
//!
//! Go Gorums interop is opt-in per system too: `SmolRuntime::with_grpc` (feature
//! `grpc`, off by default here, so that the default tree holds no tokio) makes every connection Go Gorums' gRPC node stream over
//! HTTP/2, as on tokio (the same edge, gorums-grpc; h2 speaks tokio's io traits, so
//! smol's sockets pass through `tokio_util::compat`). The native wire stays the default.
//!
//! What this crate is not: it holds no protocol logic. Everything it does is IO,
//! timers and spawning; the engine in gorums-core decides.

mod read;

use std::io;
use std::sync::Arc;

pub use gorums_core::api::*;
pub use gorums_core::disk::{Disk, DiskHandle, FileDisk};
pub use gorums_core::runtime::{Runtime, RuntimeHandle};
#[cfg(feature = "tls")]
pub use gorums_core::tls::{ClientAuth, Tls, TlsOptions};

use gorums_core::disk::{Blocking, BlockingJob};
use gorums_core::runtime::{BoxFuture, Connection, Incoming, Listener};
use smol::net::{TcpListener, TcpStream};

/// A gorums runtime on smol's global executor.
pub fn runtime() -> RuntimeHandle {
    Arc::new(SmolRuntime::global())
}

/// A [`Disk`] over the files of `dir` (made if missing), its blocking file calls run on
/// smol's blocking pool (`smol::unblock`).
pub fn file_disk(dir: impl Into<std::path::PathBuf>) -> io::Result<DiskHandle> {
    let blocking: Blocking = Arc::new(|job: BlockingJob| Box::pin(smol::unblock(job)));
    FileDisk::open(dir, blocking).map(|disk| Arc::new(disk) as DiskHandle)
}

/// Where a [`SmolRuntime`] spawns its tasks. An executor is held weakly: its tasks
/// hold the runtime (through the systems they drive), so a strong reference would be a
/// cycle that keeps the executor, and every task left in it, alive for good.
#[derive(Clone)]
enum Spawner {
    Global,
    Executor(std::sync::Weak<smol::Executor<'static>>),
}

/// gorums' [`Runtime`] on smol.
#[derive(Clone)]
pub struct SmolRuntime {
    spawner: Spawner,
    start: std::time::Instant,
    #[cfg(feature = "tls")]
    tls: Option<Tls>,
    #[cfg(feature = "grpc")]
    grpc: bool,
}

impl std::fmt::Debug for SmolRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmolRuntime").finish_non_exhaustive()
    }
}

impl SmolRuntime {
    /// Spawns on smol's global executor (`smol::spawn`).
    pub fn global() -> SmolRuntime {
        SmolRuntime {
            spawner: Spawner::Global,
            start: std::time::Instant::now(),
            #[cfg(feature = "tls")]
            tls: None,
            #[cfg(feature = "grpc")]
            grpc: false,
        }
    }

    /// Spawns on `executor`; the caller runs it, and keeps it: the runtime holds it
    /// weakly, so dropping the caller's last `Arc` drops the executor and the tasks
    /// left in it (the systems' memory with them). Tasks spawned after that are
    /// dropped unrun.
    pub fn with_executor(executor: Arc<smol::Executor<'static>>) -> SmolRuntime {
        SmolRuntime {
            spawner: Spawner::Executor(Arc::downgrade(&executor)),
            start: std::time::Instant::now(),
            #[cfg(feature = "tls")]
            tls: None,
            #[cfg(feature = "grpc")]
            grpc: false,
        }
    }

    /// This runtime with every connection it dials or accepts over TLS, with `tls`.
    ///
    /// ```no_run
    /// # fn demo(ca: &[u8], cert: &[u8], key: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
    /// use std::sync::Arc;
    /// use gorums_smol::{ClientAuth, NodeId, SmolRuntime, System, SystemOptions, TlsOptions};
    ///
    /// let tls = TlsOptions::from_pem_roots(ca)?
    ///     .certificate_pem(cert, key)?
    ///     .client_auth(ClientAuth::Required)
    ///     .build()?;
    /// let runtime = Arc::new(SmolRuntime::global().with_tls(tls));
    /// let system = System::new(runtime, SystemOptions::with_id(NodeId(1)));
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "tls")]
    pub fn with_tls(mut self, tls: Tls) -> SmolRuntime {
        self.tls = Some(tls);
        self
    }

    /// This runtime with every connection it dials or accepts speaking Go Gorums' wire:
    /// one gRPC bidirectional stream (`stream.Gorums/NodeStream`) over HTTP/2, so that
    /// Go Gorums nodes and gorums-rs nodes call each other. Every node a system talks to
    /// must then speak it; the native wire is the default. With
    /// [`with_tls`](Self::with_tls) too, the stream runs over TLS, offering only HTTP/2
    /// by ALPN (`h2`), as gRPC over TLS does.
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use gorums_smol::{NodeId, SmolRuntime, System, SystemOptions};
    ///
    /// let runtime = Arc::new(SmolRuntime::global().with_grpc());
    /// let system = System::new(runtime, SystemOptions::with_id(NodeId(1)));
    /// ```
    #[cfg(feature = "grpc")]
    pub fn with_grpc(mut self) -> SmolRuntime {
        self.grpc = true;
        self
    }

    /// The TLS settings its connections use: as given, or offering only HTTP/2 by ALPN
    /// under the gRPC transport.
    #[cfg(feature = "tls")]
    fn tls_settings(&self) -> Option<Tls> {
        #[cfg(feature = "grpc")]
        if self.grpc {
            return self.tls.as_ref().map(Tls::with_h2_alpn);
        }
        self.tls.clone()
    }

    /// The gorums-grpc edge's way to spawn: on this runtime.
    #[cfg(feature = "grpc")]
    fn grpc_spawn(&self) -> gorums_grpc::Spawn {
        let runtime = self.clone();
        Arc::new(move |task| runtime.spawn(task))
    }
}

impl Runtime for SmolRuntime {
    fn now(&self) -> Instant {
        Instant::from_nanos(u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        let at = self.start + std::time::Duration::from_nanos(deadline.as_nanos());
        Box::pin(async move {
            smol::Timer::at(at).await;
        })
    }

    fn spawn(&self, task: BoxFuture<'static, ()>) {
        match &self.spawner {
            Spawner::Global => smol::spawn(task).detach(),
            Spawner::Executor(executor) => {
                if let Some(executor) = executor.upgrade() {
                    executor.spawn(task).detach();
                }
            }
        }
    }

    fn connect(&self, addr: &str) -> BoxFuture<'static, io::Result<Connection>> {
        let addr = addr.to_owned();
        #[cfg(feature = "tls")]
        let tls = self.tls_settings();
        #[cfg(feature = "grpc")]
        let grpc = self.grpc.then(|| self.grpc_spawn());
        Box::pin(async move {
            let (stream, peer_addr) = tcp(TcpStream::connect(&addr).await?)?;
            #[cfg(feature = "grpc")]
            if let Some(spawn) = grpc {
                use tokio_util::compat::FuturesAsyncReadCompatExt;
                #[cfg(feature = "tls")]
                if let Some(tls) = tls {
                    let (stream, identity) = tls::client_handshake(&tls, &addr, stream).await?;
                    let conn =
                        gorums_grpc::connect(stream.compat(), &addr, peer_addr, spawn).await?;
                    return Ok(conn.with_identity(identity));
                }
                return gorums_grpc::connect(stream.compat(), &addr, peer_addr, spawn).await;
            }
            #[cfg(feature = "tls")]
            if let Some(tls) = tls {
                return tls::connect(&tls, &addr, stream, peer_addr).await;
            }
            Ok(plain(stream, peer_addr))
        })
    }

    fn listen(&self, addr: &str) -> BoxFuture<'static, io::Result<Box<dyn Listener>>> {
        let addr = addr.to_owned();
        #[cfg(feature = "tls")]
        let tls = self
            .tls_settings()
            .as_ref()
            .map(Tls::server_or_err)
            .transpose();
        #[cfg(feature = "grpc")]
        let grpc = self.grpc.then(|| self.grpc_spawn());
        Box::pin(async move {
            let listener = SmolListener {
                listener: TcpListener::bind(addr).await?,
                #[cfg(feature = "tls")]
                tls: tls?,
                #[cfg(feature = "grpc")]
                grpc,
            };
            Ok(Box::new(listener) as Box<dyn Listener>)
        })
    }
}

/// `stream` set up for frames, and its peer's address.
fn tcp(stream: TcpStream) -> io::Result<(TcpStream, String)> {
    // Frames are coalesced by the writer; Nagle's delay would only add latency.
    stream.set_nodelay(true)?;
    let peer_addr = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    Ok((stream, peer_addr))
}

fn plain(stream: TcpStream, peer_addr: String) -> Connection {
    // smol's stream is a shared handle: one clone reads (through the socket it shares)
    // while the other writes.
    let socket: Arc<smol::Async<std::net::TcpStream>> = stream.clone().into();
    Connection::new(
        Box::new(read::ReadWhenReady::new(socket)),
        Box::new(stream),
        peer_addr,
    )
}

struct SmolListener {
    listener: TcpListener,
    #[cfg(feature = "tls")]
    tls: Option<Arc<tls::ServerConfig>>,
    /// Set when the listener speaks gRPC: how its edges spawn.
    #[cfg(feature = "grpc")]
    grpc: Option<gorums_grpc::Spawn>,
}

impl Listener for SmolListener {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<Connection>> {
        Box::pin(async move { self.accept_incoming().await?.establish.await })
    }

    fn accept_incoming(&mut self) -> BoxFuture<'_, io::Result<Incoming>> {
        Box::pin(async move {
            let (stream, peer_addr) = tcp(self.listener.accept().await?.0)?;
            #[cfg(feature = "grpc")]
            if let Some(spawn) = self.grpc.clone() {
                use tokio_util::compat::FuturesAsyncReadCompatExt;
                #[cfg(feature = "tls")]
                if let Some(config) = self.tls.clone() {
                    return Ok(Incoming {
                        peer_addr: peer_addr.clone(),
                        establish: Box::pin(async move {
                            let (stream, identity) = tls::server_handshake(config, stream).await?;
                            let conn =
                                gorums_grpc::accept(stream.compat(), peer_addr, spawn).await?;
                            Ok(conn.with_identity(identity))
                        }),
                    });
                }
                return Ok(Incoming {
                    peer_addr: peer_addr.clone(),
                    establish: Box::pin(gorums_grpc::accept(stream.compat(), peer_addr, spawn)),
                });
            }
            #[cfg(feature = "tls")]
            if let Some(config) = self.tls.clone() {
                return Ok(Incoming {
                    peer_addr: peer_addr.clone(),
                    establish: Box::pin(tls::accept(config, stream, peer_addr)),
                });
            }
            Ok(Incoming::ready(plain(stream, peer_addr)))
        })
    }

    fn local_addr(&self) -> String {
        self.listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default()
    }
}

/// TLS over futures-rustls.
#[cfg(feature = "tls")]
mod tls {
    use std::io;
    use std::sync::Arc;

    use futures_rustls::{TlsAcceptor, TlsConnector, client, server};
    use gorums_core::runtime::{Connection, PeerIdentity};
    pub(crate) use gorums_core::tls::rustls::ServerConfig;
    use gorums_core::tls::{TlsErrors, identity, io_error, server_name};
    use smol::io::{AsyncRead, AsyncWrite};
    use smol::net::TcpStream;

    use super::Tls;

    /// The TLS session over a stream we dialled to `addr`, and the identity the
    /// server proved.
    pub(crate) async fn client_handshake(
        tls: &Tls,
        addr: &str,
        stream: TcpStream,
    ) -> io::Result<(client::TlsStream<TcpStream>, Option<PeerIdentity>)> {
        let stream = TlsConnector::from(tls.client.clone())
            .connect(server_name(addr)?, stream)
            .await
            .map_err(|e| io_error(e, true))?;
        let identity = identity(stream.get_ref().1.peer_certificates());
        Ok((stream, identity))
    }

    /// The TLS session over a stream a peer dialled, and the identity it proved.
    pub(crate) async fn server_handshake(
        config: Arc<ServerConfig>,
        stream: TcpStream,
    ) -> io::Result<(server::TlsStream<TcpStream>, Option<PeerIdentity>)> {
        let stream = TlsAcceptor::from(config)
            .accept(stream)
            .await
            .map_err(|e| io_error(e, true))?;
        let identity = identity(stream.get_ref().1.peer_certificates());
        Ok((stream, identity))
    }

    pub(crate) async fn connect(
        tls: &Tls,
        addr: &str,
        stream: TcpStream,
        peer_addr: String,
    ) -> io::Result<Connection> {
        let (stream, identity) = client_handshake(tls, addr, stream).await?;
        Ok(split(stream, peer_addr).with_identity(identity))
    }

    pub(crate) async fn accept(
        config: Arc<ServerConfig>,
        stream: TcpStream,
        peer_addr: String,
    ) -> io::Result<Connection> {
        let (stream, identity) = server_handshake(config, stream).await?;
        Ok(split(stream, peer_addr).with_identity(identity))
    }

    fn split<S>(stream: S, peer_addr: String) -> Connection
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let (read, write) = smol::io::split(stream);
        Connection::new(
            Box::new(TlsErrors(read)),
            Box::new(TlsErrors(write)),
            peer_addr,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A task spawned through the runtime holds the runtime, as every system's tasks
    /// do; dropping the caller's executor must still free it (no cycle through the
    /// runtime keeps the executor alive).
    #[test]
    fn dropping_the_executor_frees_tasks_that_hold_the_runtime() {
        let executor = Arc::new(smol::Executor::new());
        let runtime: RuntimeHandle = Arc::new(SmolRuntime::with_executor(executor.clone()));
        let guard = Arc::new(());
        let (held, rt) = (guard.clone(), runtime.clone());
        runtime.spawn(Box::pin(async move {
            let _kept = (held, rt);
            std::future::pending::<()>().await;
        }));
        // Run it until it parks.
        smol::block_on(executor.run(async {
            for _ in 0..10 {
                smol::future::yield_now().await;
            }
        }));
        assert_eq!(Arc::strong_count(&guard), 2, "the task holds the guard");
        drop(runtime);
        drop(executor);
        assert_eq!(
            Arc::strong_count(&guard),
            1,
            "the task was dropped with its executor"
        );
    }
}
