//! gorums-rs on tokio: the [`Runtime`] of gorums-core over tokio's TCP sockets, timers
//! and tasks, and the whole API re-exported, so a user depends on this crate only.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use gorums_tokio::{Configuration, NodeList, SystemOptions};
//!
//! let config = Configuration::new(
//!     gorums_tokio::runtime(),
//!     NodeList::addrs(["127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003"]),
//!     SystemOptions::default(),
//! )?;
//! assert_eq!(config.len(), 3);
//! # Ok(()) }
//! ```
//!
//! TLS is opt-in per system: give its runtime TLS settings
//! ([`TokioRuntime::with_tls`], feature `tls`, on by default) and every connection it
//! dials or accepts speaks TLS through tokio-rustls, with the *ring* crypto provider.
//! The peer's verified certificate chain is handed up to the API, whose
//! [`IdentityRule`] binds node ids to it.
//!
//! Go Gorums interop is opt-in per system too: [`TokioRuntime::with_grpc`] (feature
//! `grpc`, on by default) makes every connection Go Gorums' gRPC node stream over
//! HTTP/2 (h2), so Go Gorums nodes and gorums-rs nodes serve in one configuration. The
//! native wire stays the default.
//!
//! What this crate is not: it holds no protocol logic. Everything it does is IO,
//! timers and spawning; the engine in gorums-core decides.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

pub use gorums_core::api::*;
pub use gorums_core::disk::{Disk, DiskHandle, FileDisk};
pub use gorums_core::runtime::{Runtime, RuntimeHandle};
#[cfg(feature = "tls")]
pub use gorums_core::tls::{ClientAuth, Tls, TlsOptions};

use gorums_core::disk::{Blocking, BlockingJob};
use gorums_core::runtime::{BoxFuture, Connection, Incoming, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// The tokio runtime of the current context as a gorums runtime.
///
/// # Panics
///
/// Outside a tokio runtime.
pub fn runtime() -> RuntimeHandle {
    Arc::new(TokioRuntime::current())
}

/// A [`Disk`] over the files of `dir` (made if missing), its blocking file calls run on
/// the current tokio runtime's blocking pool (`spawn_blocking`).
///
/// # Panics
///
/// Outside a tokio runtime.
pub fn file_disk(dir: impl Into<std::path::PathBuf>) -> io::Result<DiskHandle> {
    let handle = tokio::runtime::Handle::current();
    let blocking: Blocking = Arc::new(move |job: BlockingJob| {
        let handle = handle.clone();
        Box::pin(async move { handle.spawn_blocking(job).await.map_err(io::Error::other)? })
    });
    FileDisk::open(dir, blocking).map(|disk| Arc::new(disk) as DiskHandle)
}

/// gorums' [`Runtime`] on a tokio runtime.
#[derive(Clone, Debug)]
pub struct TokioRuntime {
    handle: tokio::runtime::Handle,
    start: std::time::Instant,
    #[cfg(feature = "tls")]
    tls: Option<Tls>,
    #[cfg(feature = "grpc")]
    grpc: bool,
}

impl TokioRuntime {
    /// The tokio runtime of the current context.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn current() -> TokioRuntime {
        Self::with_handle(tokio::runtime::Handle::current())
    }

    /// A gorums runtime spawning on `handle`.
    pub fn with_handle(handle: tokio::runtime::Handle) -> TokioRuntime {
        TokioRuntime {
            handle,
            start: std::time::Instant::now(),
            #[cfg(feature = "tls")]
            tls: None,
            #[cfg(feature = "grpc")]
            grpc: false,
        }
    }

    /// This runtime with every connection it dials or accepts speaking Go Gorums' wire:
    /// one gRPC bidirectional stream (`stream.Gorums/NodeStream`) over HTTP/2, so that
    /// Go Gorums nodes and gorums-rs nodes call each other. Every node a system talks to
    /// must then speak it; the native wire is the default. With
    /// [`with_tls`](Self::with_tls) too, the stream runs over TLS, offering only HTTP/2
    /// by ALPN (`h2`), as gRPC over TLS does.
    ///
    /// ```no_run
    /// # fn demo() {
    /// use std::sync::Arc;
    /// use gorums_tokio::{NodeId, System, SystemOptions, TokioRuntime};
    ///
    /// let runtime = Arc::new(TokioRuntime::current().with_grpc());
    /// let system = System::new(runtime, SystemOptions::with_id(NodeId(1)));
    /// # }
    /// ```
    #[cfg(feature = "grpc")]
    pub fn with_grpc(mut self) -> TokioRuntime {
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

    /// This runtime with every connection it dials or accepts over TLS, with `tls`.
    ///
    /// ```no_run
    /// # fn demo(ca: &[u8], cert: &[u8], key: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
    /// use std::sync::Arc;
    /// use gorums_tokio::{ClientAuth, NodeId, System, SystemOptions, TlsOptions, TokioRuntime};
    ///
    /// let tls = TlsOptions::from_pem_roots(ca)?
    ///     .certificate_pem(cert, key)?
    ///     .client_auth(ClientAuth::Required)
    ///     .build()?;
    /// let runtime = Arc::new(TokioRuntime::current().with_tls(tls));
    /// let system = System::new(runtime, SystemOptions::with_id(NodeId(1)));
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "tls")]
    pub fn with_tls(mut self, tls: Tls) -> TokioRuntime {
        self.tls = Some(tls);
        self
    }

    fn to_std(&self, at: Instant) -> std::time::Instant {
        self.start + std::time::Duration::from_nanos(at.as_nanos())
    }
}

impl Runtime for TokioRuntime {
    fn now(&self) -> Instant {
        Instant::from_nanos(u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        let at = tokio::time::Instant::from_std(self.to_std(deadline));
        Box::pin(tokio::time::sleep_until(at))
    }

    fn spawn(&self, task: BoxFuture<'static, ()>) {
        drop(self.handle.spawn(task));
    }

    fn connect(&self, addr: &str) -> BoxFuture<'static, io::Result<Connection>> {
        let addr = addr.to_owned();
        #[cfg(feature = "tls")]
        let tls = self.tls_settings();
        #[cfg(feature = "grpc")]
        let grpc = self.grpc.then(|| grpc_spawn(&self.handle));
        Box::pin(async move {
            let (stream, peer_addr) = tcp(TcpStream::connect(&addr).await?)?;
            #[cfg(feature = "grpc")]
            if let Some(spawn) = grpc {
                #[cfg(feature = "tls")]
                if let Some(tls) = tls {
                    let (stream, identity) = tls::client_handshake(&tls, &addr, stream).await?;
                    let conn = gorums_grpc::connect(stream, &addr, peer_addr, spawn).await?;
                    return Ok(conn.with_identity(identity));
                }
                return gorums_grpc::connect(stream, &addr, peer_addr, spawn).await;
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
        let grpc = self.grpc.then(|| grpc_spawn(&self.handle));
        Box::pin(async move {
            let listener = TokioListener {
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
    let (read, write) = stream.into_split();
    Connection::new(Box::new(Reader(read)), Box::new(Writer(write)), peer_addr)
}

struct TokioListener {
    listener: TcpListener,
    #[cfg(feature = "tls")]
    tls: Option<Arc<tls::ServerConfig>>,
    /// Set when the listener speaks gRPC: how its edges spawn.
    #[cfg(feature = "grpc")]
    grpc: Option<gorums_grpc::Spawn>,
}

impl Listener for TokioListener {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<Connection>> {
        Box::pin(async move { self.accept_incoming().await?.establish.await })
    }

    fn accept_incoming(&mut self) -> BoxFuture<'_, io::Result<Incoming>> {
        Box::pin(async move {
            let (stream, peer_addr) = tcp(self.listener.accept().await?.0)?;
            #[cfg(feature = "grpc")]
            if let Some(spawn) = self.grpc.clone() {
                #[cfg(feature = "tls")]
                if let Some(config) = self.tls.clone() {
                    return Ok(Incoming {
                        peer_addr: peer_addr.clone(),
                        establish: Box::pin(async move {
                            let (stream, identity) = tls::server_handshake(config, stream).await?;
                            let conn = gorums_grpc::accept(stream, peer_addr, spawn).await?;
                            Ok(conn.with_identity(identity))
                        }),
                    });
                }
                return Ok(Incoming {
                    peer_addr: peer_addr.clone(),
                    establish: Box::pin(gorums_grpc::accept(stream, peer_addr, spawn)),
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

/// The gorums-grpc edge's way to spawn: on this runtime's handle.
#[cfg(feature = "grpc")]
fn grpc_spawn(handle: &tokio::runtime::Handle) -> gorums_grpc::Spawn {
    let handle = handle.clone();
    Arc::new(move |task| drop(handle.spawn(task)))
}

/// TLS over tokio-rustls.
#[cfg(feature = "tls")]
mod tls {
    use std::io;
    use std::sync::Arc;

    use gorums_core::runtime::{Connection, PeerIdentity};
    pub(crate) use gorums_core::tls::rustls::ServerConfig;
    use gorums_core::tls::{TlsErrors, identity, io_error, server_name};
    use tokio::io::{AsyncRead, AsyncWrite};
    use tokio::net::TcpStream;
    use tokio_rustls::{TlsAcceptor, TlsConnector, client, server};

    use super::{Reader, Tls, Writer};

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
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (read, write) = tokio::io::split(stream);
        Connection::new(
            Box::new(TlsErrors(Reader(read))),
            Box::new(TlsErrors(Writer(write))),
            peer_addr,
        )
    }
}

/// A tokio reading half seen through the `futures-io` trait gorums-core uses.
struct Reader<R>(R);

impl<R: AsyncRead + Unpin> futures_io::AsyncRead for Reader<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut buf = ReadBuf::new(buf);
        match Pin::new(&mut self.0).poll_read(cx, &mut buf) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(buf.filled().len())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A tokio writing half seen through the `futures-io` trait gorums-core uses.
struct Writer<W>(W);

impl<W: AsyncWrite + Unpin> futures_io::AsyncWrite for Writer<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
