//! Helpers the conformance cases share: a local cluster with a client, a test message,
//! timers over the runtime, and raw-connection writes.

use std::sync::Arc;
use std::time::Duration;

use gorums_core::api::{
    Configuration, LocalSystems, NodeId, NodeList, System, SystemOptions, local_systems,
};
use gorums_core::runtime::{RuntimeHandle, WriteHalf};

use crate::service::{self, Msg, Seen};

/// Servers that know each other, and a client configuration of all of them.
pub(crate) struct Cluster {
    pub(crate) rt: RuntimeHandle,
    pub(crate) servers: LocalSystems,
    pub(crate) addrs: Vec<String>,
    pub(crate) seen: Seen,
    pub(crate) client: Configuration,
}

pub(crate) async fn cluster(rt: &RuntimeHandle, n: u32) -> Cluster {
    let seen: Seen = Arc::default();
    let servers = local_systems(rt.clone(), n, SystemOptions::default(), |s| {
        service::register(s, rt.clone(), seen.clone())
    })
    .await
    .expect("local cluster starts");
    let addrs: Vec<String> = servers
        .iter()
        .map(|(s, c)| c.node(s.node_id()).map(|n| n.addr().to_owned()).unwrap())
        .collect();
    let client = Configuration::new(
        rt.clone(),
        NodeList::addrs(addrs.clone()),
        SystemOptions::default(),
    )
    .expect("client config");
    Cluster {
        rt: rt.clone(),
        servers,
        addrs,
        seen,
        client,
    }
}

impl Cluster {
    pub(crate) async fn stop(&self, index: usize) {
        self.servers[index].0.stop();
        let node = self.client.nodes()[index].clone();
        eventually(&self.rt, || !node.is_connected()).await;
    }

    pub(crate) fn seen_by(&self, node: u32, m: &str) -> Vec<u64> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, mm, _)| *n == node && mm == m)
            .map(|(_, _, s)| *s)
            .collect()
    }

    /// Every request `node` started a handler for, as (method, seq), in that order.
    pub(crate) fn log_of(&self, node: u32) -> Vec<(String, u64)> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, _, _)| *n == node)
            .map(|(_, m, s)| (m.clone(), *s))
            .collect()
    }

    /// Starts a fresh server with `index`'s id on `index`'s address (the old one must
    /// be stopped), sharing the cluster's record.
    pub(crate) async fn restart(&self, index: usize) -> System {
        let system = System::new(
            self.rt.clone(),
            SystemOptions::with_id(NodeId(index as u32 + 1)),
        );
        service::register(&system, self.rt.clone(), self.seen.clone());
        for _ in 0..200 {
            if system.listen(&self.addrs[index]).await.is_ok() {
                return system;
            }
            sleep(&self.rt, Duration::from_millis(10)).await;
        }
        panic!("could not rebind {}", self.addrs[index]);
    }
}

pub(crate) fn msg(seq: u64) -> Msg {
    Msg {
        text: "hi".into(),
        seq,
        node: 0,
    }
}

pub(crate) async fn sleep(rt: &RuntimeHandle, d: Duration) {
    rt.sleep_until(rt.now() + d).await;
}

/// Waits (up to 10 s) until `cond` holds.
pub(crate) async fn eventually(rt: &RuntimeHandle, cond: impl Fn() -> bool) {
    for _ in 0..2000 {
        if cond() {
            return;
        }
        sleep(rt, Duration::from_millis(5)).await;
    }
    panic!("condition not met within 10 s");
}

pub(crate) async fn next<S: futures_core::Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *s).poll_next(cx)).await
}

pub(crate) async fn write_all(writer: &mut WriteHalf, mut bytes: &[u8]) -> bool {
    while !bytes.is_empty() {
        match std::future::poll_fn(|cx| std::pin::Pin::new(&mut **writer).poll_write(cx, bytes))
            .await
        {
            Ok(0) | Err(_) => return false,
            Ok(n) => bytes = &bytes[n..],
        }
    }
    true
}

/// `fut`'s output if it is ready within `d`, else `None` (the future is dropped).
pub(crate) async fn within<F: std::future::Future>(
    rt: &RuntimeHandle,
    d: Duration,
    fut: F,
) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut timer = rt.sleep_until(rt.now() + d);
    std::future::poll_fn(|cx| {
        if let std::task::Poll::Ready(v) = fut.as_mut().poll(cx) {
            return std::task::Poll::Ready(Some(v));
        }
        timer.as_mut().poll(cx).map(|()| None)
    })
    .await
}
