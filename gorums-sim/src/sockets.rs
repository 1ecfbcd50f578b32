//! The network objects user code holds: the two halves of a [`Connection`], the
//! [`Listener`] and the dialling future. Each is a handle on the shared world and calls
//! into its [`Net`](crate::net::Net) under the lock; dropping one tells the network.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
use gorums_core::runtime::{BoxFuture, Connection, Listener};

use crate::ids::{ConnId, ListenerId};
use crate::net::ConnectSlot;
use crate::world::Shared;

/// The user-facing end `end` (0: dialler, 1: acceptor) of connection `conn`.
pub(crate) fn connection(
    shared: &Arc<Shared>,
    conn: ConnId,
    end: usize,
    peer_addr: String,
) -> Connection {
    Connection {
        reader: Box::new(SimReader(Half {
            shared: shared.clone(),
            conn,
            end,
        })),
        writer: Box::new(SimWriter(Half {
            shared: shared.clone(),
            conn,
            end,
        })),
        peer_addr,
        identity: None,
    }
}

struct Half {
    shared: Arc<Shared>,
    conn: ConnId,
    end: usize,
}

/// The reading half of a simulated connection.
struct SimReader(Half);

/// The writing half of a simulated connection.
struct SimWriter(Half);

impl AsyncRead for SimReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let h = &self.0;
        h.shared
            .with(|w| w.net.read(&mut w.kernel, h.conn, h.end, buf, cx.waker()))
    }
}

impl AsyncWrite for SimWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let h = &self.0;
        h.shared
            .with(|w| w.net.write(&mut w.kernel, h.conn, h.end, buf, cx.waker()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let h = &self.0;
        h.shared
            .with(|w| w.net.close_dir(&mut w.kernel, h.conn, h.end));
        Poll::Ready(Ok(()))
    }
}

impl Drop for SimReader {
    fn drop(&mut self) {
        let h = &self.0;
        h.shared
            .with(|w| w.net.drop_half(&mut w.kernel, h.conn, h.end, false));
    }
}

impl Drop for SimWriter {
    fn drop(&mut self) {
        let h = &self.0;
        h.shared
            .with(|w| w.net.drop_half(&mut w.kernel, h.conn, h.end, true));
    }
}

/// A listener on a virtual address.
pub(crate) struct SimListener {
    pub(crate) shared: Arc<Shared>,
    pub(crate) id: ListenerId,
    pub(crate) addr: String,
}

impl Listener for SimListener {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<Connection>> {
        Box::pin(std::future::poll_fn(move |cx| {
            self.shared
                .with(|w| w.net.accept(self.id, &self.addr, cx.waker()))
        }))
    }

    fn local_addr(&self) -> String {
        self.addr.clone()
    }
}

impl Drop for SimListener {
    fn drop(&mut self) {
        self.shared
            .with(|w| w.net.unbind(&mut w.kernel, self.id, &self.addr));
    }
}

/// The dialling future: waits for its slot; dropping it abandons the dial.
pub(crate) struct Dial(pub(crate) Arc<ConnectSlot>);

impl std::future::Future for Dial {
    type Output = io::Result<Connection>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = self.0.lock();
        match slot.result.take() {
            Some(result) => Poll::Ready(result),
            None => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl Drop for Dial {
    fn drop(&mut self) {
        let leftover = {
            let mut slot = self.0.lock();
            slot.abandoned = true;
            slot.result.take()
        };
        drop(leftover);
    }
}
