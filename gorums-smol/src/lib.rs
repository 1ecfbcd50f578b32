//! gorums-rs on smol: the [`Runtime`] of gorums-core over async-io's TCP sockets and
//! timers and a smol executor, and the whole API re-exported, so a user depends on this
//! crate only. It does not use tokio.
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
//! What this crate is not: it holds no protocol logic. Everything it does is IO,
//! timers and spawning; the engine in gorums-core decides.

use std::io;
use std::sync::Arc;

pub use gorums_core::api::*;
pub use gorums_core::runtime::{Runtime, RuntimeHandle};

use gorums_core::runtime::{BoxFuture, Connection, Listener};
use smol::net::{TcpListener, TcpStream};

/// A gorums runtime on smol's global executor.
pub fn runtime() -> RuntimeHandle {
    Arc::new(SmolRuntime::global())
}

/// Where a [`SmolRuntime`] spawns its tasks.
#[derive(Clone)]
enum Spawner {
    Global,
    Executor(Arc<smol::Executor<'static>>),
}

/// gorums' [`Runtime`] on smol.
#[derive(Clone)]
pub struct SmolRuntime {
    spawner: Spawner,
    start: std::time::Instant,
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
        }
    }

    /// Spawns on `executor`; the caller runs it.
    pub fn with_executor(executor: Arc<smol::Executor<'static>>) -> SmolRuntime {
        SmolRuntime {
            spawner: Spawner::Executor(executor),
            start: std::time::Instant::now(),
        }
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
            Spawner::Executor(executor) => executor.spawn(task).detach(),
        }
    }

    fn connect(&self, addr: &str) -> BoxFuture<'static, io::Result<Connection>> {
        let addr = addr.to_owned();
        Box::pin(async move { connection(TcpStream::connect(addr).await?) })
    }

    fn listen(&self, addr: &str) -> BoxFuture<'static, io::Result<Box<dyn Listener>>> {
        let addr = addr.to_owned();
        Box::pin(async move {
            let listener = TcpListener::bind(addr).await?;
            Ok(Box::new(SmolListener(listener)) as Box<dyn Listener>)
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
    // smol's stream is a shared handle: one clone reads while the other writes.
    Ok(Connection {
        reader: Box::new(stream.clone()),
        writer: Box::new(stream),
        peer_addr,
    })
}

struct SmolListener(TcpListener);

impl Listener for SmolListener {
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
