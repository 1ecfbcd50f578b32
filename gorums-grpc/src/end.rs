//! How an edge ended, told to the engine's side of the pipe: the engine sees the
//! transport's own error (a TLS alert, a reset, a refused stream's gRPC status) where
//! the pipe alone would show a bare end of stream.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use gorums_core::runtime::TlsError;
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf, ReadHalf, WriteHalf};
use tokio_util::compat::Compat;

/// The end of one connection's edge: its first error, and whether it has ended.
#[derive(Default)]
pub(crate) struct EdgeEnd {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    error: Option<io::Error>,
    ended: bool,
    wakers: Vec<Waker>,
}

impl EdgeEnd {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps `error` unless an earlier one is kept: the transport's own error comes
    /// before the edge's view of what it caused.
    pub(crate) fn record(&self, error: &io::Error) {
        let mut state = self.state();
        if state.error.is_none() {
            state.error = Some(copy(error));
        }
    }

    /// Marks the edge ended, waking whoever waits for its error.
    fn finish(&self) {
        let wakers = {
            let mut state = self.state();
            state.ended = true;
            std::mem::take(&mut state.wakers)
        };
        for waker in wakers {
            waker.wake();
        }
    }

    /// The edge's error once it has ended (taken: one side of the pipe reports it).
    fn poll_error(&self, cx: &mut Context<'_>) -> Poll<Option<io::Error>> {
        let mut state = self.state();
        if state.ended {
            return Poll::Ready(state.error.take());
        }
        state.wakers.push(cx.waker().clone());
        Poll::Pending
    }
}

/// `error` again (io errors are not `Clone`), a TLS error still one.
fn copy(error: &io::Error) -> io::Error {
    match TlsError::of(error) {
        Some(tls) => io::Error::other(TlsError::new(tls.reason.clone())),
        None => io::Error::new(error.kind(), error.to_string()),
    }
}

/// Ends the edge when dropped, however its task ends (an executor that shuts down
/// drops it unfinished).
pub(crate) struct EndGuard(pub(crate) Arc<EdgeEnd>);

impl Drop for EndGuard {
    fn drop(&mut self) {
        self.0.finish();
    }
}

/// The byte stream under h2, its first error recorded (TLS errors made [`TlsError`]s
/// where the `tls` feature knows them).
pub(crate) struct Recorded<S> {
    inner: S,
    end: Arc<EdgeEnd>,
}

impl<S> Recorded<S> {
    /// `inner` recorded into a new edge end, and that end.
    pub(crate) fn new(inner: S) -> (Recorded<S>, Arc<EdgeEnd>) {
        let end = Arc::new(EdgeEnd::default());
        let recorded = Recorded {
            inner,
            end: end.clone(),
        };
        (recorded, end)
    }

    fn seen(&self, error: io::Error) -> io::Error {
        #[cfg(feature = "tls")]
        let error = gorums_core::tls::io_error(error, false);
        self.end.record(&error);
        error
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Recorded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.seen(e))),
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Recorded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.seen(e))),
            other => other,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.seen(e))),
            other => other,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The engine's reading half of the pipe: at its end, the edge's error if it had one.
pub(crate) struct EngineReader {
    pub(crate) pipe: Compat<ReadHalf<DuplexStream>>,
    pub(crate) end: Arc<EdgeEnd>,
}

impl futures_io::AsyncRead for EngineReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.pipe).poll_read(cx, buf) {
            Poll::Ready(Ok(0)) if !buf.is_empty() => match self.end.poll_error(cx) {
                Poll::Ready(Some(error)) => Poll::Ready(Err(error)),
                Poll::Ready(None) => Poll::Ready(Ok(0)),
                Poll::Pending => Poll::Pending,
            },
            Poll::Ready(Err(pipe_error)) => match self.end.poll_error(cx) {
                Poll::Ready(error) => Poll::Ready(Err(error.unwrap_or(pipe_error))),
                Poll::Pending => Poll::Pending,
            },
            other => other,
        }
    }
}

/// The engine's writing half of the pipe: a write after the edge ended fails with the
/// edge's error if it had one.
pub(crate) struct EngineWriter {
    pub(crate) pipe: Compat<WriteHalf<DuplexStream>>,
    pub(crate) end: Arc<EdgeEnd>,
}

impl futures_io::AsyncWrite for EngineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.pipe).poll_write(cx, buf) {
            Poll::Ready(Err(pipe_error)) => match self.end.poll_error(cx) {
                Poll::Ready(error) => Poll::Ready(Err(error.unwrap_or(pipe_error))),
                Poll::Pending => Poll::Pending,
            },
            other => other,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.pipe).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.pipe).poll_close(cx)
    }
}
