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
//! What this crate is not: it holds no protocol logic. Everything it does is IO,
//! timers and spawning; the engine in gorums-core decides.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

pub use gorums_core::api::*;
pub use gorums_core::runtime::{Runtime, RuntimeHandle};

use gorums_core::runtime::{BoxFuture, Connection, Listener};
use tokio::io::{AsyncRead as _, AsyncWrite as _, ReadBuf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

/// The tokio runtime of the current context as a gorums runtime.
///
/// # Panics
///
/// Outside a tokio runtime.
pub fn runtime() -> RuntimeHandle {
    Arc::new(TokioRuntime::current())
}

/// gorums' [`Runtime`] on a tokio runtime.
#[derive(Clone, Debug)]
pub struct TokioRuntime {
    handle: tokio::runtime::Handle,
    start: std::time::Instant,
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
        }
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
        Box::pin(async move { connection(TcpStream::connect(addr).await?) })
    }

    fn listen(&self, addr: &str) -> BoxFuture<'static, io::Result<Box<dyn Listener>>> {
        let addr = addr.to_owned();
        Box::pin(async move {
            let listener = TcpListener::bind(addr).await?;
            Ok(Box::new(TokioListener(listener)) as Box<dyn Listener>)
        })
    }
}

fn connection(stream: TcpStream) -> io::Result<Connection> {
    // Frames are coalesced by the writer; Nagle's delay would only add latency.
    stream.set_nodelay(true)?;
    let peer_addr = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let (read, write) = stream.into_split();
    Ok(Connection {
        reader: Box::new(Reader(read)),
        writer: Box::new(Writer(write)),
        peer_addr,
    })
}

struct TokioListener(TcpListener);

impl Listener for TokioListener {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<Connection>> {
        Box::pin(async move { connection(self.0.accept().await?.0) })
    }

    fn local_addr(&self) -> String {
        self.0
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default()
    }
}

/// tokio's read half seen through the `futures-io` trait gorums-core uses.
struct Reader(OwnedReadHalf);

impl futures_io::AsyncRead for Reader {
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

/// tokio's write half seen through the `futures-io` trait gorums-core uses.
struct Writer(OwnedWriteHalf);

impl futures_io::AsyncWrite for Writer {
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
