//! Conformance cases for behaviours users rely on that had no test: many callers on one
//! configuration, a peer that never says hello, a client stopped with calls in flight, a
//! reply stream that fails mid-stream, late replies, and one-at-a-time handling.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use gorums_core::api::{
    Cause, Configuration, ConnectionError, EndpointConfig, NodeFailure, NodeId, NodeList,
    SystemOptions,
};
use gorums_core::runtime::RuntimeHandle;

use crate::service::{Msg, method};
use crate::support::{cluster, eventually, msg, next, sleep};

/// CONFORMANCE (ours): eight tasks (on tokio's multi-thread runtime, several threads)
/// make quorum calls on one configuration at once: every call gets its own replies.
pub async fn many_callers_share_one_configuration(rt: RuntimeHandle) {
    let c = cluster(&rt, 3).await;
    let done = Arc::new(Mutex::new(Vec::new()));
    for task in 0..8u64 {
        let (config, done) = (c.client.clone(), done.clone());
        rt.spawn(Box::pin(async move {
            for i in 0..50u64 {
                let seq = task * 1000 + i;
                let reply = config
                    .quorum_call::<Msg, Msg>(method::ECHO, &msg(seq))
                    .majority()
                    .await
                    .expect("every call succeeds");
                assert_eq!(reply.seq, seq, "a call got another call's reply");
            }
            done.lock().unwrap().push(task);
        }));
    }
    eventually(&rt, || done.lock().unwrap().len() == 8).await;
    assert_eq!(c.client.system().unwrap().live_calls(), 0);
}

/// CONFORMANCE (ours): a peer that accepts the connection and never sends its hello:
/// calls queued for it fail at the connect timeout with "no hello in time", and the
/// node's other calls are not affected.
pub async fn a_peer_that_never_says_hello(rt: RuntimeHandle) {
    let mut silent = rt.listen("127.0.0.1:0").await.expect("listen");
    let addr = silent.local_addr();
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = held.clone();
    rt.spawn(Box::pin(async move {
        // Accepts and holds the connection open, reading nothing, saying nothing.
        while let Ok(conn) = silent.accept().await {
            keep.lock().unwrap().push(conn);
        }
    }));
    let c = cluster(&rt, 1).await;
    let options = SystemOptions {
        endpoint: EndpointConfig {
            connect_timeout: Duration::from_millis(300),
            ..EndpointConfig::default()
        },
        ..SystemOptions::default()
    };
    // The handshake timer starts with the dial, when the configuration is made, so the
    // clock starts there too, not at the call.
    let started = rt.now();
    let config = Configuration::new(
        rt.clone(),
        NodeList::addrs([c.addrs[0].clone(), addr]),
        options,
    )
    .unwrap();
    let err = config
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(1))
        .all()
        .await
        .unwrap_err();
    let took = rt.now() - started;
    assert_eq!(err.failed_nodes().collect::<Vec<_>>(), [NodeId(2)]);
    let failure = &err.node_errors[0].failure;
    assert!(
        matches!(
            failure,
            NodeFailure::NotConnected(Some(ConnectionError::HandshakeTimeout))
                | NodeFailure::ConnectionLost(ConnectionError::HandshakeTimeout)
        ),
        "{failure}"
    );
    assert!(
        took >= Duration::from_millis(300),
        "before the timeout: {took:?}"
    );
    assert!(
        took < Duration::from_secs(3),
        "long after the timeout: {took:?}"
    );
    let first: Msg = config.nodes()[0].rpc(method::ECHO, &msg(2)).await.unwrap();
    assert_eq!(first.seq, 2, "the healthy node is not affected");
}

/// CONFORMANCE (ours): stopping a client system with calls in flight: every call ends
/// at once with "connection lost", and no call state is left.
pub async fn stopping_a_client_with_calls_in_flight(rt: RuntimeHandle) {
    let c = cluster(&rt, 2).await;
    let system = c.client.system().unwrap();
    // Both connections up first (a TLS handshake may take longer than the sleep below),
    // so that stopping loses them rather than dials in progress.
    eventually(&rt, || c.client.nodes().iter().all(|n| n.is_connected())).await;
    let calls: Vec<_> = (0..20)
        .map(|i| {
            c.client
                .quorum_call::<Msg, Msg>(method::HANG, &msg(i))
                .async_majority()
        })
        .collect();
    sleep(&rt, Duration::from_millis(50)).await;
    assert_eq!(system.live_calls(), 20);
    let stopped = rt.now();
    system.stop();
    for call in calls {
        let err = call.await.unwrap_err();
        assert_eq!(err.cause, Cause::Incomplete, "{err}");
        assert!(
            err.node_errors
                .iter()
                .all(|e| matches!(e.failure, NodeFailure::ConnectionLost(_))),
            "{err}"
        );
    }
    assert!(rt.now() - stopped < Duration::from_secs(1), "ended at once");
    assert_eq!(system.live_calls(), 0);
}

/// CONFORMANCE (ours): a reply stream that fails after some items: every item arrives,
/// then that node's failure with the handler's status.
pub async fn a_reply_stream_failing_mid_stream(rt: RuntimeHandle) {
    let c = cluster(&rt, 2).await;
    let mut replies = c
        .client
        .correctable_call::<Msg, Msg>(method::STREAM_THEN_FAIL, &msg(3))
        .map_request(|_, n| Some(msg(if n.id() == NodeId(1) { 3 } else { 2 })));
    let mut items = [0, 0];
    let mut failures = Vec::new();
    while let Some(r) = next(&mut replies).await {
        match r.result {
            Ok(item) => {
                assert_eq!(item.node, r.node.0);
                items[r.node.0 as usize - 1] += 1;
            }
            Err(failure) => failures.push((r.node.0, failure)),
        }
    }
    assert_eq!(items, [3, 2], "every item before the failure arrives");
    assert_eq!(failures.len(), 2, "{failures:?}");
    for (_, failure) in &failures {
        assert!(
            matches!(failure, NodeFailure::Status(s) if s.message.contains("mid-stream")),
            "{failure}"
        );
    }
}

/// CONFORMANCE (ours): late replies over TCP: after `first` returns, the slower nodes'
/// replies arrive and are dropped and counted, not delivered anywhere.
pub async fn late_replies_are_dropped_and_counted(rt: RuntimeHandle) {
    let c = cluster(&rt, 3).await;
    let first = c
        .client
        .quorum_call::<Msg, Msg>(method::SLOW, &msg(0))
        .map_request(|_, n| Some(msg(u64::from(n.id().0 - 1) * 50)))
        .first()
        .await
        .unwrap();
    assert_eq!(first.node, 1);
    let nodes = c.client.nodes();
    eventually(&rt, || {
        nodes[1].info().dropped == 1 && nodes[2].info().dropped == 1
    })
    .await;
    assert_eq!(nodes[0].info().dropped, 0);
    assert_eq!(c.client.system().unwrap().live_calls(), 0);
}

/// CONFORMANCE: one sender's requests are handled one at a time unless the handler
/// releases: two 200 ms SLOW calls from one client take 400 ms on a node; two that
/// release take about 200 ms.
pub async fn one_at_a_time_unless_released(rt: RuntimeHandle) {
    let c = cluster(&rt, 1).await;
    let node = c.client.nodes()[0].clone();
    let pair = |m: &'static str| {
        let (a, b) = (
            node.rpc::<Msg, Msg, _>(m, &msg(200)),
            node.rpc::<Msg, Msg, _>(m, &msg(200)),
        );
        async move {
            let mut a = std::pin::pin!(a);
            let mut b = std::pin::pin!(b);
            let (mut ra, mut rb) = (None, None);
            std::future::poll_fn(|cx| {
                if ra.is_none()
                    && let std::task::Poll::Ready(r) = a.as_mut().poll(cx)
                {
                    ra = Some(r);
                }
                if rb.is_none()
                    && let std::task::Poll::Ready(r) = b.as_mut().poll(cx)
                {
                    rb = Some(r);
                }
                if ra.is_some() && rb.is_some() {
                    std::task::Poll::Ready(())
                } else {
                    std::task::Poll::Pending
                }
            })
            .await;
            assert!(ra.unwrap().is_ok() && rb.unwrap().is_ok());
        }
    };
    let started = rt.now();
    pair(method::SLOW).await;
    let serial = rt.now() - started;
    assert!(
        serial >= Duration::from_millis(400),
        "not one at a time: {serial:?}"
    );
    let started = rt.now();
    pair(method::SLOW_RELEASED).await;
    let released = rt.now() - started;
    assert!(
        released < Duration::from_millis(390),
        "release did not overlap: {released:?}"
    );
}

/// CONFORMANCE (ours, the Gorums design): with `DialPolicy::HigherIds` each replica dials
/// only the peers with higher ids and reaches the others over the connections they
/// opened: 3 replicas hold 3 connections and 5 hold 10 (not 6 and 20), and a nested
/// quorum call from every replica reaches every peer.
pub async fn symmetric_dialling_halves_the_connections(rt: RuntimeHandle) {
    use gorums_core::api::{DialPolicy, local_systems};

    for (n, expected) in [(3u32, 3usize), (5, 10)] {
        let seen = crate::service::Seen::default();
        let mut options = SystemOptions::default();
        options.endpoint.dial = DialPolicy::HigherIds;
        let systems = local_systems(rt.clone(), n, options, |s| {
            crate::service::register(s, rt.clone(), seen.clone())
        })
        .await
        .unwrap();
        // Every replica sees every peer (over whichever connection exists).
        for (system, _) in &systems {
            let full = system
                .wait_for_config(|c| c.len() == n as usize)
                .await
                .unwrap();
            assert_eq!(full.len(), n as usize);
        }
        for (system, config) in &systems {
            let me = config.node(system.node_id()).unwrap();
            let reply: Msg = me.rpc(method::NESTED, &msg(1)).await.unwrap();
            assert_eq!(
                reply.seq,
                u64::from(n),
                "replica {}: nested replies",
                system.node_id()
            );
        }
        let ends: usize = systems.iter().map(|(s, _)| s.connection_count()).sum();
        assert_eq!(ends / 2, expected, "{n} replicas");
    }
}

/// CONFORMANCE (Go's handler context): a handler learns when its caller can no longer
/// get its answer: `ServerCtx::cancelled` completes when the request's connection closes
/// (here: the client system stops), and not before.
pub async fn a_handler_learns_its_caller_is_gone(rt: RuntimeHandle) {
    let c = cluster(&rt, 1).await;
    let client = Configuration::new(
        rt.clone(),
        NodeList::addrs(c.addrs.clone()),
        SystemOptions::default(),
    )
    .unwrap();
    let calls: Vec<_> = (1..=3)
        .map(|i| {
            client
                .quorum_call::<Msg, Msg>(method::UNTIL_CANCELLED, &msg(i))
                .async_first()
        })
        .collect();
    sleep(&rt, Duration::from_millis(100)).await;
    assert!(
        c.seen_by(1, method::UNTIL_CANCELLED).is_empty(),
        "cancelled while the caller waits"
    );
    client.system().unwrap().stop();
    for call in calls {
        assert!(call.await.is_err(), "the stopped client's calls fail");
    }
    eventually(&rt, || c.seen_by(1, method::UNTIL_CANCELLED).len() == 3).await;
    // The server goes on serving others.
    let reply: Msg = c.client.nodes()[0]
        .rpc(method::ECHO, &msg(9))
        .await
        .unwrap();
    assert_eq!(reply.seq, 9);
}

/// CONFORMANCE: `local_systems_with` gives every system the server options (here an
/// interceptor that counts the requests it sees and passes them on).
pub async fn local_systems_with_server_options(rt: RuntimeHandle) {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use gorums_core::api::{ServerOptions, local_systems_with};

    let counted = Arc::new(AtomicUsize::new(0));
    let c2 = counted.clone();
    let server = ServerOptions {
        interceptors: vec![Arc::new(
            move |ctx: gorums_core::api::ServerCtx,
                  req: bytes::Bytes,
                  next: gorums_core::api::Next| {
                c2.fetch_add(1, Ordering::AcqRel);
                next(ctx, req)
            },
        )],
        ..ServerOptions::default()
    };
    let seen = crate::service::Seen::default();
    let systems = local_systems_with(rt.clone(), 3, SystemOptions::default(), server, |s| {
        crate::service::register(s, rt.clone(), seen.clone())
    })
    .await
    .unwrap();
    let config = &systems[0].1;
    for i in 0..4 {
        config
            .quorum_call::<Msg, Msg>(method::ECHO, &msg(i))
            .all()
            .await
            .unwrap();
    }
    assert_eq!(
        counted.load(Ordering::Acquire),
        12,
        "every system intercepts"
    );
}

/// CONFORMANCE (Go's `AsProto` and interceptor metadata): a server interceptor decodes
/// the typed request, adds metadata the handler then reads, and rejects requests without
/// knowing their call type (`ServerCtx::reject` answers an RPC, a correctable call and a
/// multicast each the right way).
pub async fn interceptors_see_typed_requests_and_pass_metadata(rt: RuntimeHandle) {
    use gorums_core::api::{Code, Next, Outcome, RequestKind, ServerCtx, ServerOptions, Status};

    let kinds = Arc::new(Mutex::new(Vec::new()));
    let k2 = kinds.clone();
    let interceptor = move |ctx: ServerCtx, req: bytes::Bytes, next: Next| {
        let typed = ServerCtx::decode_request::<Msg>(&req);
        k2.lock().unwrap().push(ctx.kind());
        let outcome: gorums_core::runtime::BoxFuture<'static, Outcome> = match typed {
            Ok(m) if m.text == "forbidden" => {
                let rejected = ctx.reject(Status::new(Code::PermissionDenied, "no"));
                Box::pin(std::future::ready(rejected))
            }
            Ok(m) => next(ctx.with_metadata("k", format!("seen {}", m.seq)), req),
            Err(status) => Box::pin(std::future::ready(ctx.reject(status))),
        };
        outcome
    };
    let server = ServerOptions {
        interceptors: vec![Arc::new(interceptor)],
        ..ServerOptions::default()
    };
    let seen = crate::service::Seen::default();
    let systems = gorums_core::api::local_systems_with(
        rt.clone(),
        1,
        SystemOptions::default(),
        server,
        |s| crate::service::register(s, rt.clone(), seen.clone()),
    )
    .await
    .unwrap();
    let client = Configuration::new(
        rt.clone(),
        NodeList::addrs(
            systems
                .iter()
                .map(|(s, c)| c.node(s.node_id()).unwrap().addr().to_owned()),
        ),
        SystemOptions::default(),
    )
    .unwrap();
    let node = client.nodes()[0].clone();
    // The handler reads the metadata the interceptor added.
    let reply: Msg = node.rpc(method::META, &msg(5)).await.unwrap();
    assert_eq!(reply.text, "seen 5");
    // Rejected whatever the call type: an error reply, an error ending the stream.
    let forbidden = Msg {
        text: "forbidden".into(),
        ..msg(1)
    };
    let err = node
        .rpc::<Msg, Msg, _>(method::ECHO, &forbidden)
        .await
        .unwrap_err();
    assert!(
        matches!(&err.failure, NodeFailure::Status(s) if s.code == Code::PermissionDenied),
        "{err}"
    );
    let outcomes = client
        .correctable_call::<Msg, Msg>(method::STREAM, &forbidden)
        .collect_all()
        .await;
    assert!(
        matches!(&outcomes[..], [r] if matches!(&r.result, Err(NodeFailure::Status(s)) if s.code == Code::PermissionDenied)),
        "{outcomes:?}"
    );
    client.multicast(method::RECORD, &forbidden).unwrap();
    client.multicast(method::RECORD, &msg(3)).unwrap();
    eventually(&rt, || {
        seen.lock()
            .unwrap()
            .iter()
            .any(|(_, m, s)| m == method::RECORD && *s == 3)
    })
    .await;
    assert!(
        !seen
            .lock()
            .unwrap()
            .iter()
            .any(|(_, m, s)| m == method::RECORD && *s == 1),
        "the rejected multicast never reached its handler"
    );
    let kinds = kinds.lock().unwrap().clone();
    assert!(kinds.contains(&RequestKind::Unary));
    assert!(kinds.contains(&RequestKind::Stream));
    assert!(kinds.contains(&RequestKind::OneWay));
}
