//! [`ReadWhenReady`]: a TCP read half that, once a read has emptied the socket, waits for
//! the reactor to say it is readable again before it reads.
//!
//! async-io's own `AsyncRead` tries the socket first every time it is polled, and a
//! connection's task is polled far more often than data comes (each time the engine
//! gives it bytes to write, say): on one thread that was 17 failed `recvfrom` per
//! 3-node call, a third of smol-1t's syscalls. After a short read the socket is almost
//! always empty, so this half goes to the reactor first (as tokio does); a wait that
//! comes too early costs nothing, since the reactor re-arms the socket level-triggered
//! and reports data already there at once.

use std::io::{self, Read};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use smol::Async;
use smol::io::AsyncRead;

/// The read half of a plain TCP connection (see the module's doc).
pub(crate) struct ReadWhenReady {
    socket: Arc<Async<std::net::TcpStream>>,
    /// The last read left the socket empty (or found it so): wait before reading.
    drained: bool,
}

impl ReadWhenReady {
    pub(crate) fn new(socket: Arc<Async<std::net::TcpStream>>) -> ReadWhenReady {
        ReadWhenReady {
            socket,
            drained: false,
        }
    }
}

impl AsyncRead for ReadWhenReady {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            if self.drained {
                ready!(self.socket.poll_readable(cx))?;
                self.drained = false;
            }
            match self.socket.get_ref().read(buf) {
                Ok(n) => {
                    self.drained = n < buf.len();
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.drained = true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;

    use smol::io::AsyncReadExt;

    use super::*;

    /// Bytes that come after a read emptied the socket are still read: waiting on the
    /// reactor first loses no wake-up, whether they come before the wait or after it.
    #[test]
    fn bytes_after_a_drained_read_are_read() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut writer = TcpStream::connect(listener.local_addr().expect("addr")).expect("dial");
        let (accepted, _) = listener.accept().expect("accept");
        let mut reader = ReadWhenReady::new(Arc::new(Async::new(accepted).expect("async")));
        // A read that waits for good fails the test instead of hanging it.
        async fn within<T>(read: impl std::future::Future<Output = io::Result<T>>) -> T {
            let timeout = async {
                smol::Timer::after(Duration::from_secs(5)).await;
                Err(io::Error::other("no bytes within 5 s: a wake-up was lost"))
            };
            smol::future::or(read, timeout).await.expect("read")
        }
        smol::block_on(async {
            let mut buf = [0u8; 64];
            writer.write_all(b"first").expect("write");
            assert_eq!(within(reader.read(&mut buf)).await, 5);
            assert!(reader.drained, "a short read leaves the socket empty");
            // Already there when the next read starts to wait.
            writer.write_all(b"second").expect("write");
            assert_eq!(within(reader.read(&mut buf)).await, 6);
            assert_eq!(&buf[..6], b"second");
            // Comes while it waits.
            let mut late = writer.try_clone().expect("clone");
            let sender = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                late.write_all(b"third!!").expect("write");
            });
            assert_eq!(within(reader.read(&mut buf)).await, 7);
            sender.join().expect("sender");
            drop(writer);
            assert_eq!(within(reader.read(&mut buf)).await, 0, "then the end");
        });
    }
}
