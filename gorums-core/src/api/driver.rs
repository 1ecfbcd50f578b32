//! The tasks that drive one system's engine: a dialler, a reader and a writer per
//! connection, an accept loop per listener, and one timer. They do IO and wait; every
//! decision is the engine's.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Poll, Waker};

use bytes::BytesMut;
use futures_io::{AsyncRead, AsyncWrite};

use super::buggify;
use super::shared::Inner;
use super::signal::{ConnSignal, Role};
use crate::engine::{ConnId, ConnectionError};
use crate::runtime::{BoxFuture, Connection, Incoming, Listener, TlsError};

/// A connection's buffers start this small: most connections carry small frames, and the
/// simulator opens thousands of connections per second (zeroing 64 KiB each showed at the
/// top of its profile).
const BUFFER_START: usize = 4 * 1024;

/// The read buffer doubles, up to this, each time a read fills it.
const READ_MAX: usize = 64 * 1024;
/// The most bytes taken from the engine for one write (whole frames; one longer frame
/// goes alone). A write of everything queued would copy the whole send queue into the
/// writer's buffer at once (15 MB per connection with 100 000 calls in flight), and the
/// buffer would keep that room for good; batches this size cost a write per 64 KB.
const WRITE_MAX: usize = 64 * 1024;

/// Runs `fut` unless the connection closes first (then `None`).
async fn until_closed<F: Future>(signal: &ConnSignal, role: Role, fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    poll_fn(|cx| {
        if signal.is_closed() {
            return Poll::Ready(None);
        }
        signal.park(role, cx.waker());
        // Checked again after parking, so a close in between is not missed.
        if signal.is_closed() {
            return Poll::Ready(None);
        }
        fut.as_mut().poll(cx).map(Some)
    })
    .await
}

/// Dials `addr` for the engine's connection `conn`, then serves it.
pub(crate) async fn dial(inner: Arc<Inner>, conn: ConnId, addr: String, signal: Arc<ConnSignal>) {
    let connect = inner.rt.connect(&addr);
    match until_closed(&signal, Role::Reader, connect).await {
        None => {}
        Some(Ok(connection)) => {
            inner.with(|st, now| st.ep.handle_connected(now, conn));
            serve(inner, conn, connection, signal).await;
        }
        Some(Err(err)) => {
            let signal = inner.with(|st, now| {
                match TlsError::of(&err) {
                    Some(tls) => {
                        tracing::warn!(%conn, %addr, reason = %tls, "tls refused the connection");
                        let error = ConnectionError::Tls {
                            reason: tls.reason.clone(),
                        };
                        st.ep.handle_closed(now, conn, error);
                    }
                    None => st.ep.handle_connect_failed(now, conn, err),
                }
                st.conns.remove(&conn)
            });
            wake_all(signal.map(|s| s.close()));
        }
    }
}

/// The connection error of a transport error: TLS's own, or an io error while `doing`.
fn transport_error(doing: &'static str, err: std::io::Error) -> ConnectionError {
    match TlsError::of(&err) {
        Some(tls) => ConnectionError::Tls {
            reason: tls.reason.clone(),
        },
        None => ConnectionError::io(doing, err),
    }
}

/// Finishes the transport handshake (TLS) of the accepted `conn`, binds the peer's node
/// id to what it proved (the system's [`IdentityRule`](super::IdentityRule), if any), then
/// serves it. The engine's handshake deadline covers all of it: it closes the signal.
async fn establish(inner: Arc<Inner>, conn: ConnId, incoming: Incoming, signal: Arc<ConnSignal>) {
    let Incoming {
        peer_addr,
        establish,
    } = incoming;
    let connection = match until_closed(&signal, Role::Reader, establish).await {
        None => return,
        Some(Ok(connection)) => connection,
        Some(Err(err)) => {
            let error = transport_error("accept", err);
            tracing::warn!(%conn, addr = %peer_addr, %error, "connection refused");
            closed_by_transport(&inner, conn, error);
            return;
        }
    };
    if let Some(rule) = &inner.options.identity {
        match rule.judge(connection.identity.as_ref()) {
            Ok(proved) => inner.with(|st, now| st.ep.handle_authenticated(now, conn, proved)),
            Err(error) => {
                tracing::warn!(%conn, addr = %peer_addr, %error, "connection refused");
                closed_by_transport(&inner, conn, error);
                return;
            }
        }
    }
    serve(inner, conn, connection, signal).await;
}

/// Accepts connections until the system stops.
pub(crate) async fn accept_loop(
    inner: Arc<Inner>,
    mut listener: Box<dyn Listener>,
    signal: Arc<ConnSignal>,
) {
    loop {
        match until_closed(&signal, Role::Reader, listener.accept_incoming()).await {
            None => return,
            Some(Ok(incoming)) => {
                let conn_signal = Arc::new(ConnSignal::default());
                let addr = incoming.peer_addr.clone();
                let conn = inner.with(|st, now| {
                    let conn = st.ep.handle_accepted(now, addr);
                    st.conns.insert(conn, conn_signal.clone());
                    conn
                });
                let task = establish(inner.clone(), conn, incoming, conn_signal);
                inner.rt.spawn(Box::pin(task));
            }
            Some(Err(err)) => {
                // Accept errors (out of file descriptors, a reset before accept) concern
                // one would-be connection; pause briefly so a persistent one cannot spin.
                tracing::warn!(%err, "accept failed");
                let later = inner.rt.now() + std::time::Duration::from_millis(10);
                inner.rt.sleep_until(later).await;
            }
        }
    }
}

/// How many read-or-write rounds a connection task makes before it lets other tasks
/// run (it asks to be polled again at once).
const ROUNDS_PER_POLL: usize = 16;

/// Serves one connection in one task: it writes everything the engine has queued for
/// the connection in one write, and feeds what it reads to the engine. One task for
/// both directions means a reply produced while handling a read leaves from the same
/// task, with no wake-up of another.
async fn serve(inner: Arc<Inner>, conn: ConnId, connection: Connection, signal: Arc<ConnSignal>) {
    let Connection {
        mut reader,
        mut writer,
        ..
    } = connection;
    let mut read_buf = vec![0u8; BUFFER_START];
    let mut out = BytesMut::with_capacity(BUFFER_START);
    let mut written = 0;
    // The bytes taken hold a request whose caller waits for it to be written: each
    // write is reported to the engine (otherwise no write takes the lock).
    let mut report_writes = false;
    // A write the runtime's fault injection holds back (never on tokio or smol).
    let mut held: Option<BoxFuture<'static, ()>> = None;
    let ended = poll_fn(|cx| {
        for _ in 0..ROUNDS_PER_POLL {
            if signal.is_closed() {
                return Poll::Ready(None);
            }
            // Parked before looking for bytes: a Transmit after the look wakes this task.
            signal.park(Role::Writer, cx.waker());
            let mut progressed = false;
            if written == out.len()
                && take_transmit(&inner, conn, &mut out, &mut written, &mut report_writes)
            {
                inner.writing.fetch_add(1, Ordering::AcqRel);
                if inner.rt.buggify(buggify::DELAYED_FLUSH) {
                    let until = inner.rt.now() + buggify::DELAYED_FLUSH_HOLD;
                    held = Some(inner.rt.sleep_until(until));
                }
            }
            if held
                .as_mut()
                .is_some_and(|hold| hold.as_mut().poll(cx).is_ready())
            {
                held = None;
            }
            if written < out.len() && held.is_none() {
                match Pin::new(&mut writer).poll_write(cx, &out[written..]) {
                    Poll::Ready(Ok(0)) => {
                        let zero = std::io::Error::from(std::io::ErrorKind::WriteZero);
                        return Poll::Ready(Some(ConnectionError::io("write", zero)));
                    }
                    Poll::Ready(Ok(n)) => {
                        written += n;
                        progressed = true;
                        if report_writes {
                            inner.with(|st, now| st.ep.handle_written(now, conn, n));
                        }
                        if written == out.len() {
                            inner.writing.fetch_sub(1, Ordering::AcqRel);
                        }
                    }
                    Poll::Ready(Err(err)) => {
                        return Poll::Ready(Some(transport_error("write", err)));
                    }
                    Poll::Pending => {}
                }
            }
            match Pin::new(&mut reader).poll_read(cx, &mut read_buf) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Some(ConnectionError::ClosedByPeer));
                }
                Poll::Ready(Ok(n)) => {
                    let open = inner.with(|st, now| {
                        st.ep.handle_bytes(now, conn, &read_buf[..n]);
                        st.ep.peer_of(conn).is_some()
                    });
                    progressed = true;
                    // A peer that has not said who it is keeps the smallest buffer.
                    if open && n == read_buf.len() && n < READ_MAX {
                        read_buf.resize(n * 2, 0);
                    }
                }
                Poll::Ready(Err(err)) => {
                    return Poll::Ready(Some(transport_error("read", err)));
                }
                Poll::Pending => {}
            }
            if !progressed {
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await;
    if written < out.len() {
        inner.writing.fetch_sub(1, Ordering::AcqRel);
    }
    match ended {
        Some(error) => closed_by_transport(&inner, conn, error),
        None => {
            let _ = poll_fn(|cx| Pin::new(&mut writer).poll_close(cx)).await;
        }
    }
}

/// Moves the bytes the engine has queued for `conn` (up to [`WRITE_MAX`]) into `out`
/// (emptied first); says whether there were any, and sets `report_writes` to whether
/// the engine wants to hear of their writes. The serving loop takes again as soon as
/// it has written them, so a queue longer than one batch leaves in several writes.
fn take_transmit(
    inner: &Inner,
    conn: ConnId,
    out: &mut BytesMut,
    written: &mut usize,
    report_writes: &mut bool,
) -> bool {
    out.clear();
    *written = 0;
    let mut st = inner.lock();
    let any = st.ep.poll_transmit_up_to(conn, out, WRITE_MAX) > 0;
    *report_writes = st.ep.awaits_write(conn);
    any
}

fn closed_by_transport(inner: &Arc<Inner>, conn: ConnId, error: ConnectionError) {
    tracing::debug!(%conn, %error, "connection closed by the transport");
    let signal = inner.with(|st, now| {
        st.ep.handle_closed(now, conn, error);
        st.conns.remove(&conn)
    });
    wake_all(signal.map(|s| s.close()));
}

fn wake_all(wakers: Option<Vec<Waker>>) {
    for waker in wakers.into_iter().flatten() {
        waker.wake();
    }
}

/// Sleeps until the engine's next deadline and fires it; re-plans when an earlier one
/// appears. Ends when the system stops.
pub(crate) async fn timer(inner: Arc<Inner>) {
    loop {
        let next = poll_fn(|cx| {
            let mut st = inner.lock();
            if st.stopped {
                return Poll::Ready(None);
            }
            match st.ep.poll_timeout() {
                Some(at) => Poll::Ready(Some(at)),
                None => {
                    st.timer_armed = None;
                    st.timer_waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await;
        let Some(at) = next else { return };
        if inner.rt.now() >= at {
            inner.with(|st, now| st.ep.handle_timeout(now));
            continue;
        }
        inner.lock().timer_armed = Some(at);
        let mut sleep = inner.rt.sleep_until(at);
        poll_fn(|cx| {
            if sleep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
            let mut st = inner.lock();
            match st.ep.poll_timeout() {
                _ if st.stopped => Poll::Ready(()),
                Some(next) if next < at => Poll::Ready(()),
                _ => {
                    st.timer_waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await;
    }
}
