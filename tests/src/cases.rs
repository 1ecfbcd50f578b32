//! The conformance cases. Each runs over real TCP on 127.0.0.1 on whatever runtime the
//! adapter gives, and names the line of `shared/CONFORMANCE.md` it covers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gorums_core::api::{
    Cause, Code, ConfigError, Configuration, FailureKind, NodeFailure, NodeId, NodeList, Outcome,
    ServerCtx, ServerInterceptor, ServerOptions, Status, System, SystemOptions,
};
use gorums_core::engine::{by_last_error, by_latency};
use gorums_core::runtime::RuntimeHandle;

use crate::service::{self, Msg, Seen, method};
use crate::support::{Cluster, cluster, eventually, msg, next, sleep, within, write_all};

// The cases of `more_cases` run through the same suite list.
pub use crate::behaviour_cases::*;
pub use crate::fault_cases::*;
pub use crate::handshake_cases::*;
pub use crate::judge_cases::*;
pub use crate::more_cases::*;
pub use crate::porting_cases::*;

/// CONFORMANCE: every call type on 3 and 5 nodes (RPC, unicast, multicast, quorum call,
/// correctable), with correct results.
pub async fn every_call_type_on_three_and_five_nodes(rt: RuntimeHandle) {
    for n in [3u32, 5] {
        let c = cluster(&rt, n).await;
        let nodes = c.client.nodes();
        let reply: Msg = nodes[0].rpc(method::ECHO, &msg(1)).await.expect("rpc");
        assert_eq!((reply.node, reply.seq), (1, 1));

        nodes[1].unicast(method::RECORD, &msg(2)).expect("unicast");
        eventually(&rt, || c.seen_by(2, method::RECORD) == [2]).await;

        c.client
            .multicast(method::RECORD, &msg(3))
            .expect("multicast");
        eventually(&rt, || {
            (1..=n).all(|id| c.seen_by(id, method::RECORD).contains(&3))
        })
        .await;

        let reply = c
            .client
            .quorum_call::<Msg, Msg>(method::ECHO, &msg(4))
            .majority()
            .await
            .expect("quorum call");
        assert_eq!(reply.seq, 4);
        assert!((1..=n).contains(&reply.node));

        let (item, level) = c
            .client
            .correctable_call::<Msg, Msg>(method::STREAM, &msg(2))
            .correctable(n as usize)
            .get()
            .await
            .expect("correctable");
        assert_eq!(level, n as usize);
        assert!(item.seq >= 1);
    }
}

/// CONFORMANCE: `first`, `majority` (even-sized too), `all`, `threshold(k)`, not enough
/// replies, partial failure; error type: cause, node errors, `source()`, kinds.
pub async fn terminal_methods_and_thresholds(rt: RuntimeHandle) {
    let c = cluster(&rt, 4).await;
    let qc = || c.client.quorum_call::<Msg, Msg>(method::ECHO, &msg(9));
    assert_eq!(qc().first().await.unwrap().seq, 9);
    assert_eq!(qc().majority().await.unwrap().seq, 9);
    assert_eq!(qc().all().await.unwrap().seq, 9);
    assert_eq!(qc().threshold(3).await.unwrap().seq, 9);
    assert_eq!(c.client.majority(), 3, "majority of 4 is 3");

    // Node i answers after (i - 1) x 200 ms, each check from a fresh client (its own
    // FIFO on every server): the terminal methods differ in when they return, and each
    // returns the first success (node 1's).
    let staggered = || {
        let fresh = Configuration::new(
            rt.clone(),
            NodeList::addrs(c.addrs.clone()),
            SystemOptions::default(),
        )
        .unwrap();
        fresh
            .quorum_call::<Msg, Msg>(method::SLOW, &msg(0))
            .map_request(|_, n| Some(msg(u64::from(n.id().0 - 1) * 200)))
    };
    let step = Duration::from_millis(200);
    for (label, k, at_least) in [
        ("first", 1, 0u32),
        ("threshold 2", 2, 1),
        ("majority", 3, 2),
        ("all", 4, 3),
    ] {
        let started = rt.now();
        let reply = match k {
            1 => staggered().first().await,
            3 => staggered().majority().await,
            4 => staggered().all().await,
            k => staggered().threshold(k).await,
        }
        .unwrap();
        let took = rt.now() - started;
        assert_eq!(reply.node, 1, "{label}: the first success is returned");
        assert!(took >= step * at_least, "{label} returned after {took:?}");
        if k < 4 {
            assert!(took < step * 3, "{label} waited for the slowest: {took:?}");
        }
    }

    let err = qc().threshold(5).await.unwrap_err();
    assert_eq!(err.cause, Cause::Incomplete);
    assert!(
        err.node_errors.is_empty(),
        "every node succeeded; there are just too few"
    );

    let err = c
        .client
        .quorum_call::<Msg, Msg>(method::FAIL, &msg(0))
        .majority()
        .await
        .unwrap_err();
    assert_eq!(err.cause, Cause::Incomplete);
    assert!(
        err.node_errors.len() >= 2,
        "fails as soon as a majority is out of reach: {err}"
    );
    assert!(err.has_kind(FailureKind::Status));
    assert!(
        matches!(&err.node_errors[0].failure, NodeFailure::Status(s) if s.code == Code::NotFound)
    );
    assert!(std::error::Error::source(&err).is_some());
    assert!(err.to_string().contains("incomplete"), "{err}");

    let err = c
        .client
        .quorum_call::<Msg, service::Other>(method::ECHO, &msg(1))
        .all()
        .await
        .unwrap_err();
    assert!(
        err.has_kind(FailureKind::InvalidReply),
        "a reply of the wrong type is an error, not a panic: {err}"
    );
}

/// CONFORMANCE: the reply stream and its helpers: `ignore_errors`, `filter`,
/// `collect_n`, `collect_all`; custom aggregation returning another type.
pub async fn reply_stream_helpers(rt: RuntimeHandle) {
    let c = cluster(&rt, 3).await;
    let unstarted = c.client.quorum_call::<Msg, Msg>(method::ECHO, &msg(1));
    let shown = format!("{unstarted:?}");
    assert!(
        shown.starts_with("Responses") && shown.contains("Configuration{1, 2, 3}"),
        "a call's Debug names its configuration: {shown}"
    );
    drop(unstarted);
    let all = c
        .client
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(1))
        .collect_all()
        .await;
    let mut nodes: Vec<u32> = all.iter().map(|r| r.node.0).collect();
    nodes.sort_unstable();
    assert_eq!(nodes, [1, 2, 3]);
    assert!(
        all.iter()
            .all(|r| r.result.as_ref().is_ok_and(|m| m.node == r.node.0))
    );

    // collect_n takes the first n outcomes as they arrive: node i answers after
    // (i - 1) x 100 ms, so the first two are nodes 1 and 2, in that order.
    let two = c
        .client
        .quorum_call::<Msg, Msg>(method::SLOW, &msg(0))
        .map_request(|_, n| Some(msg(u64::from(n.id().0 - 1) * 100)))
        .collect_n(2)
        .await;
    let got: Vec<(u32, Option<u32>)> = two
        .iter()
        .map(|r| (r.node.0, r.result.as_ref().ok().map(|m| m.node)))
        .collect();
    assert_eq!(got, [(1, Some(1)), (2, Some(2))]);

    let failing = c.client.quorum_call::<Msg, Msg>(method::FAIL, &msg(1));
    let mut ok = failing.ignore_errors();
    assert!(next(&mut ok).await.is_none(), "no successes to yield");

    // The helpers chain: the first two successes, in arrival order.
    let first_two = c
        .client
        .quorum_call::<Msg, Msg>(method::SLOW, &msg(0))
        .map_request(|_, n| Some(msg(u64::from(3 - n.id().0) * 100)))
        .ignore_errors()
        .collect_n(2)
        .await;
    let nodes: Vec<u32> = first_two
        .iter()
        .map(|(n, r)| {
            assert_eq!(n.0, r.node);
            n.0
        })
        .collect();
    assert_eq!(nodes, [3, 2], "the two fastest, fastest first");

    let mut only_two = c
        .client
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(1))
        .filter(|r| r.node == NodeId(2));
    assert_eq!(next(&mut only_two).await.unwrap().node, NodeId(2));
    assert!(next(&mut only_two).await.is_none());

    // Read with the calls' own `next` methods (not through `Stream`).
    let mut plain = c.client.quorum_call::<Msg, Msg>(method::ECHO, &msg(1));
    let mut answered = Vec::new();
    while let Some(r) = plain.next().await {
        answered.push(r.node.0);
    }
    answered.sort_unstable();
    assert_eq!(answered, [1, 2, 3]);

    // A custom aggregation: the sum of the replying node ids.
    let mut stream = c
        .client
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(1))
        .ignore_errors();
    let mut sum = 0u32;
    while let Some((_, reply)) = stream.next().await {
        sum += reply.node;
    }
    assert_eq!(sum, 6);

    // A mix: node 2 is down, so `ignore_errors` yields nodes 1 and 3 only, and
    // `collect_all` has node 2's failure among the successes.
    c.stop(1).await;
    let mut ok = c
        .client
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(1))
        .ignore_errors();
    let mut seen = Vec::new();
    while let Some((node, reply)) = next(&mut ok).await {
        assert_eq!(reply.node, node.0);
        seen.push(node.0);
    }
    seen.sort_unstable();
    assert_eq!(seen, [1, 3]);
    // The same with the helper that gathers them.
    let mut all = c
        .client
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(1))
        .ignore_errors()
        .collect_all()
        .await;
    all.sort_unstable_by_key(|(node, _)| *node);
    let nodes: Vec<(u32, u32)> = all.iter().map(|(n, r)| (n.0, r.node)).collect();
    assert_eq!(nodes, [(1, 1), (3, 3)]);
    let all = c
        .client
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(1))
        .collect_all()
        .await;
    let mut outcome: Vec<(u32, bool)> = all.iter().map(|r| (r.node.0, r.result.is_ok())).collect();
    outcome.sort_unstable();
    assert_eq!(outcome, [(1, true), (2, false), (3, true)]);
}

/// CONFORMANCE: correctable levels 1..3 from a server streaming 3 updates; `watch`;
/// done; 4 replicas; ends at the stream's end (ours); below its target it fails with
/// `Incomplete` (Go's rule); a snapshot that does not wait.
pub async fn correctable_levels_and_end_of_stream(rt: RuntimeHandle) {
    let c = cluster(&rt, 4).await;
    let one = Configuration::new(
        rt.clone(),
        NodeList::addrs([c.addrs[0].clone()]),
        SystemOptions::default(),
    )
    .unwrap();
    let corr = one
        .correctable_call::<Msg, Msg>(method::STREAM, &msg(3))
        .correctable(3);
    for level in 1..=3 {
        let (item, at) = corr.watch(level).await.unwrap();
        assert!(at >= level);
        assert_eq!(
            item.seq as usize, at,
            "the newest item is the one that raised the level"
        );
        assert!(corr.level() >= level);
    }
    assert!(corr.is_done());
    assert_eq!(corr.level(), 3);
    assert!(format!("{corr:?}").starts_with("Correctable"));
    let slow = one
        .correctable_call::<Msg, Msg>(method::SLOW_STREAM, &msg(200))
        .correctable(1);
    assert!(!slow.is_done(), "not done before its item comes");
    slow.watch(1).await.unwrap();
    assert!(slow.is_done());

    // Four replicas streaming two items each: a target above what they send ends when
    // every stream has ended, long before the call's deadline.
    // Below its target the call fails with `Incomplete`, as in Go Gorums; the level it
    // reached stays visible.
    let started = rt.now();
    let corr = c
        .client
        .with_timeout(Duration::from_secs(20))
        .correctable_call::<Msg, Msg>(method::STREAM, &msg(2))
        .correctable(100);
    let err = corr.watch(100).await.unwrap_err();
    assert_eq!(err.cause, Cause::Incomplete, "{err}");
    let state = corr.snapshot();
    assert_eq!((state.level, state.done), (8, true));
    assert!(
        rt.now() - started < Duration::from_secs(10),
        "ended by the end frames, not the deadline"
    );
    let err = c
        .client
        .correctable_call::<Msg, Msg>(method::STREAM, &msg(1))
        .correctable(5)
        .get()
        .await
        .unwrap_err();
    assert_eq!(err.cause, Cause::Incomplete, "4 of 5: {err}");

    // A snapshot does not wait: before any reply it is level 0, not done; once the
    // replies are in, it sees them without a poll of its own.
    let corr = c
        .client
        .correctable_call::<Msg, Msg>(method::SLOW_STREAM, &msg(100))
        .correctable(4);
    let early = corr.snapshot();
    assert_eq!((early.value, early.level, early.done), (None, 0, false));
    sleep(&rt, Duration::from_millis(300)).await;
    let late = corr.snapshot();
    assert_eq!((late.level, late.done), (4, true), "{late:?}");
}

/// CONFORMANCE: a node killed mid-run: majority keeps succeeding, `all` fails naming it;
/// restarted on the same address it is used again with no new configuration.
pub async fn a_killed_node_fails_its_share_and_comes_back_after_restart(rt: RuntimeHandle) {
    let c = cluster(&rt, 3).await;
    c.client
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(1))
        .all()
        .await
        .unwrap();
    c.stop(2).await;
    for i in 0..5 {
        c.client
            .quorum_call::<Msg, Msg>(method::ECHO, &msg(i))
            .majority()
            .await
            .expect("majority survives one dead node");
    }
    let err = c
        .client
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(1))
        .all()
        .await
        .unwrap_err();
    assert_eq!(err.failed_nodes().collect::<Vec<_>>(), vec![NodeId(3)]);
    let survivors = c.client.without_errors(&err, &[]);
    assert_eq!(survivors.ids(), &[NodeId(1), NodeId(2)]);

    // Restart node 3 on the same address.
    let restarted = System::new(rt.clone(), SystemOptions::with_id(NodeId(3)));
    service::register(&restarted, rt.clone(), c.seen.clone());
    let mut bound = None;
    for _ in 0..200 {
        match restarted.listen(&c.addrs[2]).await {
            Ok(addr) => {
                bound = Some(addr);
                break;
            }
            Err(_) => sleep(&rt, Duration::from_millis(10)).await,
        }
    }
    assert!(bound.is_some(), "rebinding the old address");
    let node3 = c.client.node(NodeId(3)).unwrap();
    eventually(&rt, || node3.is_connected()).await;
    c.client
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(7))
        .all()
        .await
        .expect("node 3 is used again");
}

/// CONFORMANCE: failure matrix, 3 servers with 0..3 stopped: majority tolerates 1, first
/// 2, all 0; node-error count equals the stopped nodes; multicast reports a send failure
/// when a node is down.
pub async fn failure_matrix_majority_first_all(rt: RuntimeHandle) {
    for stopped in 0..=3usize {
        let c = cluster(&rt, 3).await;
        c.client
            .quorum_call::<Msg, Msg>(method::ECHO, &msg(0))
            .all()
            .await
            .unwrap();
        for i in 0..stopped {
            c.stop(i).await;
        }
        // The client has seen every stopped node go (a TLS close may reach it later
        // than the stop returns): a call that cannot succeed ends at the first failure.
        let nodes = c.client.nodes();
        eventually(&rt, || nodes[..stopped].iter().all(|n| !n.is_connected())).await;
        let qc = || c.client.quorum_call::<Msg, Msg>(method::ECHO, &msg(1));
        let check = |res: Result<Msg, gorums_core::api::QuorumCallError>, tolerated: usize| {
            if stopped <= tolerated {
                assert!(
                    res.is_ok(),
                    "{stopped} stopped, tolerating {tolerated}: {res:?}"
                );
            } else {
                let err = res.unwrap_err();
                assert_eq!(err.node_errors.len(), stopped, "{err}");
            }
        };
        check(qc().majority().await, 1);
        check(qc().first().await, 2);
        check(qc().all().await, 0);
        let multicast = c.client.multicast(method::RECORD, &msg(5));
        if stopped == 0 {
            assert!(multicast.is_ok());
        } else {
            let err = multicast.unwrap_err();
            assert_eq!(err.cause, Cause::SendFailure);
            assert_eq!(err.node_errors.len(), stopped);
        }
    }
}

/// CONFORMANCE: sequential RPCs run in issue order on the server; quorum calls mixed
/// with per-node RPCs keep per-sender order; `release()` lets the next request run
/// concurrently.
pub async fn fifo_per_sender_and_release(rt: RuntimeHandle) {
    let c = cluster(&rt, 2).await;
    let node = c.client.nodes()[0].clone();
    for i in 0..20 {
        node.rpc::<Msg, Msg, _>(method::SLOW, &msg(i % 3))
            .await
            .unwrap();
    }
    let mut pending = Vec::new();
    for i in 20..60 {
        if i % 2 == 0 {
            pending.push(
                c.client
                    .quorum_call::<Msg, Msg>(method::SLOW, &msg(i))
                    .async_all(),
            );
        } else {
            pending.push(
                c.client
                    .remove(NodeId(2))
                    .quorum_call::<Msg, Msg>(method::SLOW, &msg(i))
                    .async_all(),
            );
        }
    }
    for p in pending {
        p.await.unwrap();
    }
    let order = c.seen_by(1, method::SLOW);
    assert_eq!(
        order,
        (0..60)
            .map(|i| if i < 20 { i % 3 } else { i })
            .collect::<Vec<_>>()
    );

    // A handler that waits for the sender's next request: possible only with release().
    let server = System::new(rt.clone(), SystemOptions::with_id(NodeId(1)));
    let gate = Arc::new(Mutex::new(false));
    let g = gate.clone();
    let r = rt.clone();
    server.register_unary("test.Gate.Wait", move |ctx: ServerCtx, req: Msg| {
        let g = g.clone();
        let r = r.clone();
        async move {
            ctx.release();
            while !*g.lock().unwrap() {
                r.sleep_until(r.now() + Duration::from_millis(2)).await;
            }
            Ok(req)
        }
    });
    let g = gate.clone();
    server.register_unary("test.Gate.Open", move |_ctx: ServerCtx, req: Msg| {
        *g.lock().unwrap() = true;
        async move { Ok(req) }
    });
    let addr = server.listen("127.0.0.1:0").await.unwrap();
    let client = Configuration::new(
        rt.clone(),
        NodeList::addrs([addr]),
        SystemOptions::default(),
    )
    .unwrap();
    let wait = client
        .quorum_call::<Msg, Msg>("test.Gate.Wait", &msg(1))
        .async_all();
    let open = client
        .quorum_call::<Msg, Msg>("test.Gate.Open", &msg(2))
        .async_all();
    assert_eq!(open.await.unwrap().seq, 2);
    assert_eq!(wait.await.unwrap().seq, 1);
}

/// CONFORMANCE: handlers making nested quorum calls over `config()` (self included).
pub async fn nested_quorum_call_from_a_handler(rt: RuntimeHandle) {
    let c = cluster(&rt, 3).await;
    // The servers dial each other; a handler's `config()` holds the peers connected
    // now, so wait until every server sees all its peers (the second call below reaches
    // all three; over TLS on a loaded machine one was seen still dialling).
    let configs: Vec<_> = (0..3).map(|i| c.servers[i].1.clone()).collect();
    eventually(&rt, || {
        configs
            .iter()
            .all(|cfg| cfg.nodes().iter().all(|n| n.is_connected()))
    })
    .await;
    let reply: Msg = c.client.nodes()[0]
        .rpc(method::NESTED, &msg(0))
        .await
        .unwrap();
    assert_eq!(reply.text, "nested over 3");
    assert_eq!(
        reply.seq, 3,
        "every peer, self included, answered the nested call"
    );
    let reply = c
        .client
        .quorum_call::<Msg, Msg>(method::NESTED, &msg(0))
        .all()
        .await
        .unwrap();
    assert_eq!(reply.seq, 3);
}

/// CONFORMANCE: reverse-direction calls over `client_config()` to clients that have no
/// listening socket (anonymous: they get ids and appear in the client configuration).
pub async fn reverse_direction_call_to_clients_without_listeners(rt: RuntimeHandle) {
    let seen: Seen = Arc::default();
    let server = System::new(rt.clone(), SystemOptions::with_id(NodeId(1)));
    service::register(&server, rt.clone(), seen.clone());
    let addr = server.listen("127.0.0.1:0").await.unwrap();
    let mut clients = Vec::new();
    for _ in 0..2 {
        let client = System::new(rt.clone(), SystemOptions::default());
        service::register(&client, rt.clone(), seen.clone());
        let cfg = client
            .configuration(NodeList::addrs([addr.clone()]))
            .unwrap();
        cfg.nodes()[0]
            .rpc::<Msg, Msg, _>(method::ECHO, &msg(0))
            .await
            .unwrap();
        clients.push((client, cfg));
    }
    // A client asks the server to call every client back, itself included.
    let reply: Msg = clients[0].1.nodes()[0]
        .rpc(method::CALL_CLIENTS, &msg(42))
        .await
        .unwrap();
    assert_eq!(reply.seq, 2);
    assert_eq!(
        reply.node, 0,
        "answered by an anonymous client, not by the server"
    );
}

/// CONFORMANCE: garbage bytes and a frame over the limit close that one connection; the
/// server keeps serving other clients.
pub async fn garbage_and_oversized_frames_close_only_that_connection(rt: RuntimeHandle) {
    let c = cluster(&rt, 1).await;
    let addr = c.addrs[0].clone();
    for junk in [b"GET / HTTP/1.1\r\n\r\n".to_vec(), oversized_frame()] {
        let conn = rt.connect(&addr).await.expect("raw connect");
        let gorums_core::runtime::Connection {
            mut reader,
            mut writer,
            ..
        } = conn;
        assert!(write_all(&mut writer, &junk).await, "write");
        let mut buf = [0u8; 64];
        use futures_io::AsyncRead;
        let until_closed = async {
            loop {
                match std::future::poll_fn(|cx| {
                    std::pin::Pin::new(&mut reader).poll_read(cx, &mut buf)
                })
                .await
                {
                    Ok(0) | Err(_) => break,
                    Ok(_) => continue,
                }
            }
        };
        // Closed at once (well before the 5 s hello deadline could do it).
        let closed = within(&rt, Duration::from_secs(2), until_closed).await;
        assert!(closed.is_some(), "the server closed the bad connection");
        let reply: Msg = c.client.nodes()[0]
            .rpc(method::ECHO, &msg(5))
            .await
            .expect("others go on");
        assert_eq!(reply.seq, 5);
    }
}

fn oversized_frame() -> Vec<u8> {
    let mut bytes = gorums_core::wire::PREFACE.to_vec();
    bytes.extend_from_slice(&((gorums_core::wire::DEFAULT_MAX_FRAME_LEN + 1) as u32).to_be_bytes());
    bytes.extend_from_slice(&[0u8; 1024]);
    bytes
}

/// CONFORMANCE (issue 4): 10 000 quorum calls in flight from one client at once
/// complete, and leave no state behind.
pub async fn ten_thousand_calls_in_flight(rt: RuntimeHandle) {
    let c = cluster(&rt, 3).await;
    let calls: Vec<_> = (0..10_000)
        .map(|i| {
            c.client
                .quorum_call::<Msg, Msg>(method::ECHO, &msg(i))
                .async_majority()
        })
        .collect();
    for (i, call) in calls.into_iter().enumerate() {
        assert_eq!(call.await.unwrap().seq, i as u64);
    }
    let system = c.client.system().unwrap();
    eventually(&rt, || system.live_calls() == 0).await;
}

/// CONFORMANCE: cancelling (dropping) a call frees its engine state (checked: the late
/// reply is dropped and counted); the connection survives a cancel.
pub async fn dropping_a_call_frees_its_engine_state(rt: RuntimeHandle) {
    let c = cluster(&rt, 1).await;
    let system = c.client.system().unwrap();
    let node = c.client.nodes()[0].clone();
    node.rpc::<Msg, Msg, _>(method::ECHO, &msg(0))
        .await
        .unwrap();
    {
        let call = c
            .client
            .quorum_call::<Msg, Msg>(method::SLOW, &msg(100))
            .async_all();
        sleep(&rt, Duration::from_millis(10)).await;
        assert_eq!(system.live_calls(), 1);
        drop(call);
    }
    assert_eq!(system.live_calls(), 0, "dropping the call freed it at once");
    eventually(&rt, || node.info().dropped == 1).await;
    // A lazy call dropped before its first poll never leaves.
    drop(c.client.quorum_call::<Msg, Msg>(method::RECORD, &msg(77)));
    assert_eq!(
        node.rpc::<Msg, Msg, _>(method::ECHO, &msg(3))
            .await
            .unwrap()
            .seq,
        3,
        "the connection survived"
    );
    assert!(!c.seen_by(1, method::RECORD).contains(&77));
}

/// CONFORMANCE: a handler that panics fails only its call (ours); the server and the
/// sender's other calls go on.
pub async fn a_panicking_handler_fails_only_its_call(rt: RuntimeHandle) {
    let c = cluster(&rt, 3).await;
    let node = c.client.nodes()[0].clone();
    let err = node
        .rpc::<Msg, Msg, _>(method::PANIC, &msg(0))
        .await
        .unwrap_err();
    assert!(
        matches!(&err.failure, NodeFailure::Status(s) if s.code == Code::Internal),
        "{err}"
    );
    // The status says what the handler said as it panicked.
    assert!(
        err.to_string().contains("handler panicked on purpose"),
        "{err}"
    );
    assert_eq!(
        node.rpc::<Msg, Msg, _>(method::PANIC, &msg(1))
            .await
            .unwrap()
            .seq,
        1
    );
    let err = c
        .client
        .quorum_call::<Msg, Msg>(method::PANIC, &msg(0))
        .majority()
        .await
        .unwrap_err();
    assert_eq!(err.cause, Cause::Incomplete);
    c.client
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(2))
        .all()
        .await
        .expect("servers still serve");
}

/// CONFORMANCE: a handler that never returns: 100 calls with a 10 ms deadline all come
/// back; unknown methods are `Unimplemented`; a zero deadline fails at once; an RPC to a
/// node whose server is down is a clear error.
pub async fn deadlines_and_unknown_methods(rt: RuntimeHandle) {
    let c = cluster(&rt, 2).await;
    let short = c.client.with_timeout(Duration::from_millis(10));
    let started = rt.now();
    let calls: Vec<_> = (0..100)
        .map(|i| {
            short
                .quorum_call::<Msg, Msg>(method::HANG, &msg(i))
                .async_majority()
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap_err().cause, Cause::DeadlineExceeded);
    }
    // Each gave up at its own deadline (10 ms after its start), not one after another.
    let took = rt.now() - started;
    assert!(
        took < Duration::from_secs(1),
        "100 deadlines of 10 ms took {took:?}"
    );
    // The hanging handler holds this client's turn on each server (FIFO), so the rest
    // goes through another client.
    let c2 = Configuration::new(
        rt.clone(),
        NodeList::addrs(c.addrs.clone()),
        SystemOptions::default(),
    )
    .unwrap();
    let c = Cluster { client: c2, ..c };
    let err = c
        .client
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(1))
        .timeout(Duration::ZERO)
        .all()
        .await
        .unwrap_err();
    assert_eq!(err.cause, Cause::DeadlineExceeded);
    let err = c.client.nodes()[0]
        .rpc::<Msg, Msg, _>("test.Svc.Nope", &msg(1))
        .await
        .unwrap_err();
    assert!(
        matches!(&err.failure, NodeFailure::Status(s) if s.code == Code::Unimplemented),
        "{err}"
    );
    c.stop(1).await;
    let err = c.client.nodes()[1]
        .rpc::<Msg, Msg, _>(method::ECHO, &msg(1))
        .await
        .unwrap_err();
    assert_eq!(err.node, NodeId(2));
    assert!(
        matches!(
            err.failure,
            NodeFailure::NotConnected(_) | NodeFailure::ConnectionLost(_)
        ),
        "{err}"
    );
}

/// CONFORMANCE: sequential quorum calls to 4 servers run in issue order on each server;
/// two `async_majority` calls issued back to back reach every node in that order; a
/// correctable call keeps its place in the order (ours).
pub async fn async_calls_reach_every_node_in_issue_order(rt: RuntimeHandle) {
    let c = cluster(&rt, 4).await;
    let mut calls = Vec::new();
    let mut correctables = Vec::new();
    for i in 0..50u64 {
        calls.push(
            c.client
                .quorum_call::<Msg, Msg>(method::SLOW, &msg(i % 2))
                .map_request(move |_, _| Some(msg(i)))
                .async_majority(),
        );
        if i % 10 == 0 {
            correctables.push(
                c.client
                    .correctable_call::<Msg, Msg>(method::STREAM, &msg(1))
                    .correctable(4),
            );
        }
    }
    for call in calls {
        call.await.unwrap();
    }
    for corr in correctables {
        corr.get().await.unwrap();
    }
    // Every node started the handlers in issue order, the correctables included: one
    // after each tenth SLOW call.
    let mut expected = Vec::new();
    for i in 0..50u64 {
        expected.push((method::SLOW.to_owned(), i));
        if i % 10 == 0 {
            expected.push((method::STREAM.to_owned(), 1));
        }
    }
    for id in 1..=4 {
        let c2 = &c;
        eventually(&rt, || c2.seen_by(id, method::SLOW).len() == 50).await;
        let log: Vec<(String, u64)> = c
            .log_of(id)
            .into_iter()
            .filter(|(m, _)| m == method::SLOW || m == method::STREAM)
            .collect();
        assert_eq!(log, expected, "node {id}");
    }
}

/// CONFORMANCE: `map_request` per node, returning none skips that node, and skipping
/// every node; `map_response` turning a reply into that node's failure; chaining.
pub async fn map_request_and_map_response(rt: RuntimeHandle) {
    let c = cluster(&rt, 3).await;
    let replies = c
        .client
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(0))
        .map_request(|_, node| (node.id() != NodeId(2)).then(|| msg(u64::from(node.id().0) * 10)))
        .collect_all()
        .await;
    let mut got: Vec<(u32, u64)> = replies
        .iter()
        .map(|r| (r.node.0, r.result.as_ref().unwrap().seq))
        .collect();
    got.sort_unstable();
    assert_eq!(got, [(1, 10), (3, 30)], "node 2 was skipped");

    // A multicast with a request per node: node 2 skipped again.
    c.client
        .multicast_mapped(method::RECORD, |node| {
            (node.id() != NodeId(2)).then(|| msg(u64::from(node.id().0) * 100))
        })
        .expect("queued for nodes 1 and 3");
    eventually(&rt, || c.seen_by(1, method::RECORD) == [100]).await;
    eventually(&rt, || c.seen_by(3, method::RECORD) == [300]).await;
    // A call after it on the same connections reached node 2: the multicast did not.
    c.client
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(0))
        .all()
        .await
        .unwrap();
    assert!(
        c.seen_by(2, method::RECORD).is_empty(),
        "node 2 was skipped"
    );

    let err = c
        .client
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(0))
        .map_request(|_, _| None::<Msg>)
        .first()
        .await
        .unwrap_err();
    assert_eq!(
        err.cause,
        Cause::Incomplete,
        "skipping every node cannot succeed"
    );

    let err = c
        .client
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(0))
        .map_response(|node, reply| {
            if node == NodeId(1) {
                Err(NodeFailure::Rejected("rejected".into()))
            } else {
                Ok(reply)
            }
        })
        .map_response(|_, reply| {
            Ok(Msg {
                text: "mapped".into(),
                ..reply
            })
        })
        .all()
        .await
        .unwrap_err();
    assert_eq!(err.failed_nodes().collect::<Vec<_>>(), [NodeId(1)]);
    let reply = c
        .client
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(0))
        .map_response(|_, r| {
            Ok(Msg {
                text: "mapped".into(),
                ..r
            })
        })
        .majority()
        .await
        .unwrap();
    assert_eq!(reply.text, "mapped");
}

/// CONFORMANCE: server interceptors run outermost first:
/// `client-i1in-i2in-server-i2out-i1out`; one can reject with a status; per-message
/// metadata reaches the handler.
pub async fn server_interceptors_run_outermost_first(rt: RuntimeHandle) {
    let trace = Arc::new(Mutex::new(Vec::<String>::new()));
    let make = |name: &'static str| -> Arc<dyn ServerInterceptor> {
        let trace = trace.clone();
        Arc::new(
            move |ctx: ServerCtx, req: bytes::Bytes, next: gorums_core::api::Next| {
                let trace = trace.clone();
                Box::pin(async move {
                    if ctx.metadata_value("reject") == Some(name) {
                        return Outcome::Reply(Err(Status::new(
                            Code::PermissionDenied,
                            format!("{name} says no"),
                        )));
                    }
                    trace.lock().unwrap().push(format!("{name}in"));
                    let out = next(ctx, req).await;
                    trace.lock().unwrap().push(format!("{name}out"));
                    out
                }) as gorums_core::runtime::BoxFuture<'static, Outcome>
            },
        )
    };
    let options = ServerOptions {
        interceptors: vec![make("i1"), make("i2")],
        ..ServerOptions::default()
    };
    let server = System::with_server(rt.clone(), SystemOptions::with_id(NodeId(1)), options);
    let t = trace.clone();
    server.register_unary("test.I.Call", move |ctx: ServerCtx, req: Msg| {
        t.lock().unwrap().push(format!(
            "server:{}",
            ctx.metadata_value("who").unwrap_or("?")
        ));
        async move { Ok(req) }
    });
    let addr = server.listen("127.0.0.1:0").await.unwrap();
    let client = Configuration::new(
        rt.clone(),
        NodeList::addrs([addr]),
        SystemOptions::default(),
    )
    .unwrap();
    client
        .quorum_call::<Msg, Msg>("test.I.Call", &msg(1))
        .metadata("who", "client")
        .all()
        .await
        .unwrap();
    assert_eq!(
        *trace.lock().unwrap(),
        ["i1in", "i2in", "server:client", "i2out", "i1out"]
    );
    let err = client
        .quorum_call::<Msg, Msg>("test.I.Call", &msg(1))
        .metadata("reject", "i2")
        .all()
        .await
        .unwrap_err();
    assert!(
        matches!(&err.node_errors[0].failure, NodeFailure::Status(s) if s.code == Code::PermissionDenied)
    );
}

/// CONFORMANCE: creation rejects an empty list, id 0, duplicate ids and duplicate
/// addresses (after normalising); set operations and immutability; `sort_by` latency
/// (unmeasured last) and last error then latency; latency is an EWMA (0.2) of the
/// replies' round trips.
pub async fn configuration_creation_and_algebra(rt: RuntimeHandle) {
    let opts = SystemOptions::default;
    assert_eq!(
        Configuration::new(rt.clone(), NodeList::addrs(Vec::<String>::new()), opts()).unwrap_err(),
        ConfigError::Empty
    );
    assert_eq!(
        Configuration::new(rt.clone(), NodeList::map([(0, "127.0.0.1:1")]), opts()).unwrap_err(),
        ConfigError::ReservedId
    );
    assert_eq!(
        Configuration::new(
            rt.clone(),
            NodeList::map([(1, "127.0.0.1:1"), (1, "127.0.0.1:2")]),
            opts()
        )
        .unwrap_err(),
        ConfigError::DuplicateId(NodeId(1))
    );
    // Addresses are compared after normalising: spaces either side, IPv6 spellings of
    // one address, host names in any case.
    for same in [
        ["127.0.0.1:1", " 127.0.0.1:1"],
        ["127.0.0.1:1", "127.0.0.1:1 \t"],
        ["[::1]:1", "[0:0:0:0:0:0:0:1]:1"],
        ["localhost:1", "LocalHost:1"],
    ] {
        assert!(
            matches!(
                Configuration::new(rt.clone(), NodeList::addrs(same), opts()).unwrap_err(),
                ConfigError::DuplicateAddr(_)
            ),
            "{same:?} is one address"
        );
    }
    let distinct = Configuration::new(
        rt.clone(),
        NodeList::addrs(["127.0.0.1:1", "127.0.0.1:2", "[::1]:1"]),
        opts(),
    )
    .unwrap();
    assert_eq!(
        distinct.len(),
        3,
        "different ports and families are different nodes"
    );

    let c = cluster(&rt, 3).await;
    let all = c.client.clone();
    let one_two = all.remove(NodeId(3));
    assert_eq!(all.ids(), &[NodeId(1), NodeId(2), NodeId(3)], "immutable");
    assert_eq!(one_two.ids(), &[NodeId(1), NodeId(2)]);
    let three = all.difference(&one_two);
    assert_eq!(three.ids(), &[NodeId(3)]);
    assert_eq!(one_two.union(&three), all);
    assert!(!all.is_empty() && !three.is_empty());
    assert!(
        all.difference(&all).is_empty(),
        "a configuration less itself"
    );
    assert!(
        format!("{:?}", gorums_core::api::ServerOptions::default()).starts_with("ServerOptions")
    );
    assert_eq!(
        format!("{three:?}"),
        "Configuration{3}",
        "a configuration's Debug names its nodes"
    );
    assert_eq!(
        NodeList::addrs(["127.0.0.1:1", "127.0.0.1:2"]).ids(),
        Ok(vec![NodeId(1), NodeId(2)]),
        "an address list's ids are its places, from 1"
    );

    // Node 2 answers slowly; node 3 is never measured.
    c.client
        .remove(NodeId(3))
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(0))
        .all()
        .await
        .unwrap();
    let node2 = c.client.node(NodeId(2)).unwrap();
    let fast = node2.latency().unwrap();
    let slow = Duration::from_millis(50);
    c.client.nodes()[1]
        .rpc::<Msg, Msg, _>(method::SLOW, &msg(50))
        .await
        .unwrap();
    // EWMA, smoothing 0.2: one slow reply moves the estimate a fifth of the way.
    let once = node2.latency().unwrap();
    assert!(once >= slow.mul_f64(0.2), "one slow reply: {once:?}");
    assert!(
        once < slow,
        "an average, not the last sample: {once:?} (fast {fast:?})"
    );
    for _ in 0..5 {
        c.client.nodes()[1]
            .rpc::<Msg, Msg, _>(method::SLOW, &msg(50))
            .await
            .unwrap();
    }
    // 1 - 0.8^6 = 0.74 of the way after six.
    let six = node2.latency().unwrap();
    assert!(six >= slow.mul_f64(0.7), "six slow replies: {six:?}");
    let order: Vec<NodeId> = all.sort_by(by_latency).iter().map(|n| n.id()).collect();
    assert_eq!(order.last(), Some(&NodeId(3)), "unmeasured nodes sort last");
    let _ = c.client.nodes()[0]
        .rpc::<Msg, Msg, _>(method::FAIL, &msg(0))
        .await;
    let order: Vec<NodeId> = all
        .sort_by(|a, b| by_last_error(a, b).then_with(|| by_latency(a, b)))
        .iter()
        .map(|n| n.id())
        .collect();
    assert_eq!(
        order.last(),
        Some(&NodeId(1)),
        "the node with an error sorts after the others"
    );
}

/// CONFORMANCE: connect callback sees the hello metadata; the peer address is known;
/// anonymous clients appear in `client_config` and leave it on disconnect;
/// `wait_for_config` / `wait_for_client_config`: already true, becomes true (for two
/// waiters at once), system stopped; configuration-change callbacks fire.
pub async fn waiting_for_peers_and_callbacks(rt: RuntimeHandle) {
    let hellos = Arc::new(Mutex::new(Vec::new()));
    let changes = Arc::new(Mutex::new(Vec::new()));
    let h = hellos.clone();
    let ch = changes.clone();
    let options = ServerOptions {
        on_connect: Some(Arc::new(move |peer: &gorums_core::engine::PeerInfo| {
            h.lock().unwrap().push((
                peer.node,
                peer.anonymous,
                peer.metadata.clone(),
                peer.addr.clone(),
            ));
        })),
        on_config_change: Some(Arc::new(move |cfg: &Configuration| {
            ch.lock().unwrap().push(cfg.ids().to_vec())
        })),
        ..ServerOptions::default()
    };
    let server = System::with_server(rt.clone(), SystemOptions::with_id(NodeId(1)), options);
    // A handler reads its sender's hello: its address and metadata.
    server.register_unary("test.Hello", |ctx: ServerCtx, _req: Msg| async move {
        let (addr, metadata) = ctx.peer_hello().unwrap_or_default();
        let entries: Vec<String> = metadata
            .iter()
            .map(|e| format!("{}={}", e.key, e.value))
            .collect();
        Ok(Msg {
            text: format!("{addr} {}", entries.join(",")),
            ..Msg::default()
        })
    });
    // An untyped handler: the request's bytes back as the reply.
    server.register_raw("test.Raw", |_ctx: ServerCtx, request: bytes::Bytes| {
        Box::pin(async move { Outcome::Reply(Ok(request)) })
    });
    assert!(format!("{server:?}").starts_with("System"));
    let addr = server.listen("127.0.0.1:0").await.unwrap();
    let alone = server.wait_for_config(|c| c.len() == 1).await.unwrap();
    assert_eq!(alone.ids(), &[NodeId(1)], "already true: only itself");

    let waiting = {
        let server = server.clone();
        async move { server.wait_for_client_config(|c| c.len() == 1).await }
    };
    // Hello metadata given through `SystemOptions::metadata`.
    let client = System::new(
        rt.clone(),
        SystemOptions::default().metadata("role", "tester"),
    );
    // It serves a method, so the server can call it back: it is an anonymous client.
    client.register_unary(
        method::ECHO,
        |_ctx: ServerCtx, req: Msg| async move { Ok(req) },
    );
    let cfg = client
        .configuration(NodeList::addrs([addr.clone()]))
        .unwrap();
    let clients = waiting.await.unwrap();
    assert_eq!(clients.len(), 1, "becomes true when the client connects");
    {
        let seen = hellos.lock().unwrap();
        let (node, anonymous, metadata, peer_addr) = &seen[0];
        assert!(*anonymous && node.0 > 1);
        assert_eq!(
            (metadata[0].key.as_str(), metadata[0].value.as_str()),
            ("role", "tester")
        );
        assert!(peer_addr.starts_with("127.0.0.1:"), "{peer_addr}");
    }
    let raw: Msg = cfg.quorum_call("test.Raw", &msg(41)).all().await.unwrap();
    assert_eq!(raw.seq, 41, "the raw handler's bytes are the reply");
    let hello: Msg = cfg.quorum_call("test.Hello", &msg(0)).all().await.unwrap();
    assert!(
        hello.text.starts_with("127.0.0.1:") && hello.text.ends_with(" role=tester"),
        "the handler sees its sender's hello: {}",
        hello.text
    );

    // A known peer joins: the known-peer configuration changes, and two tasks that
    // wait for it at once both wake (each waiter is kept on its own).
    let woken = Arc::new(AtomicUsize::new(0));
    for _ in 0..2 {
        let (server, woken) = (server.clone(), woken.clone());
        rt.spawn(Box::pin(async move {
            if server.wait_for_config(|c| c.len() == 2).await.is_ok() {
                woken.fetch_add(1, Ordering::AcqRel);
            }
        }));
    }
    sleep(&rt, Duration::from_millis(20)).await;
    assert_eq!(woken.load(Ordering::Acquire), 0, "both wait while unmet");
    let peer = System::new(rt.clone(), SystemOptions::with_id(NodeId(2)));
    let _peer_cfg = peer
        .configuration(NodeList::map([(1, addr.clone())]))
        .unwrap();
    let both = server.wait_for_config(|c| c.len() == 2).await.unwrap();
    assert_eq!(both.ids(), &[NodeId(1), NodeId(2)]);
    eventually(&rt, || woken.load(Ordering::Acquire) == 2).await;
    eventually(&rt, || {
        changes.lock().unwrap().iter().any(|ids| ids.len() == 2)
    })
    .await;

    // The client leaves: it leaves the client configuration.
    drop(cfg);
    client.stop();
    server
        .wait_for_client_config(|c| c.is_empty())
        .await
        .unwrap();

    // A system stops while a task waits (already parked on it): the stop itself wakes
    // it. (A system with no connection, so no membership change can wake it instead.)
    server.stop();
    let lonely = System::new(rt.clone(), SystemOptions::with_id(NodeId(9)));
    let outcome = Arc::new(Mutex::new(None));
    let (slot, waiter) = (outcome.clone(), lonely.clone());
    rt.spawn(Box::pin(async move {
        let result = waiter.wait_for_config(|c| c.len() == 5).await;
        *slot.lock().unwrap() = Some(result.map(|c| c.len()));
    }));
    sleep(&rt, Duration::from_millis(50)).await;
    assert!(outcome.lock().unwrap().is_none(), "it waits while unmet");
    lonely.stop();
    eventually(&rt, || outcome.lock().unwrap().is_some()).await;
    assert_eq!(
        *outcome.lock().unwrap(),
        Some(Err(gorums_core::api::Stopped))
    );
}

/// CONFORMANCE: `watch`: initial value at once, nothing when unchanged, a value on
/// change, ends on cancel (drop).
pub async fn watch_yields_on_change_only(rt: RuntimeHandle) {
    let c = cluster(&rt, 3).await;
    c.client
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(0))
        .all()
        .await
        .unwrap();
    let derived = Arc::new(AtomicUsize::new(0));
    let counter = derived.clone();
    let mut watch = c.client.watch(Duration::from_millis(10), move |cfg| {
        counter.fetch_add(1, Ordering::AcqRel);
        let up: Vec<NodeId> = cfg
            .nodes()
            .iter()
            .filter(|n| n.is_connected())
            .map(|n| n.id())
            .collect();
        cfg.difference(&cfg.extend(Vec::new()).unwrap())
            .extend(up)
            .unwrap()
    });
    let first = next(&mut watch).await.unwrap();
    assert_eq!(first.len(), 3, "initial value at once");
    let shown = format!("{watch:?}");
    assert!(
        shown.starts_with("ConfigWatch") && shown.contains("last"),
        "{shown}"
    );
    // Polled over many ticks with nothing changed: no value, though it re-derives.
    let quiet = within(&rt, Duration::from_millis(100), next(&mut watch)).await;
    assert!(quiet.is_none(), "a value without a change: {quiet:?}");
    assert!(
        derived.load(Ordering::Acquire) >= 3,
        "re-derived every tick"
    );
    c.stop(2).await;
    let second = next(&mut watch).await.unwrap();
    assert_eq!(
        second.ids(),
        &[NodeId(1), NodeId(2)],
        "a value on change, not before"
    );
    // Dropping the watch ends it: no more derivations.
    drop(watch);
    let after_drop = derived.load(Ordering::Acquire);
    sleep(&rt, Duration::from_millis(50)).await;
    assert_eq!(
        derived.load(Ordering::Acquire),
        after_drop,
        "derived after drop"
    );
}

/// CONFORMANCE: graceful stop: stops accepting, lets running handlers finish within a
/// grace period, then closes, as soon as they are done and their replies written (not
/// at the end of the grace period).
pub async fn graceful_shutdown_lets_running_handlers_finish(rt: RuntimeHandle) {
    let c = cluster(&rt, 1).await;
    let node = c.client.nodes()[0].clone();
    node.rpc::<Msg, Msg, _>(method::ECHO, &msg(0))
        .await
        .unwrap();
    let slow = node.rpc::<Msg, Msg, _>(method::SLOW, &msg(100));
    let server = c.servers[0].0.clone();
    let ended = Arc::new(Mutex::new(None));
    let started = rt.now();
    let shutdown = {
        let (rt, ended) = (rt.clone(), ended.clone());
        async move {
            rt.sleep_until(rt.now() + Duration::from_millis(20)).await;
            server.shutdown(Duration::from_secs(5)).await;
            *ended.lock().unwrap() = Some(rt.now());
        }
    };
    rt.spawn(Box::pin(shutdown));
    assert_eq!(
        slow.await
            .expect("the running handler finished and its reply went out")
            .seq,
        100
    );
    eventually(&rt, || !node.is_connected()).await;
    eventually(&rt, || ended.lock().unwrap().is_some()).await;
    let took = ended.lock().unwrap().map(|at| at - started);
    assert!(
        took.is_some_and(|t| t < Duration::from_secs(3)),
        "the stop ended once the handler was done, not after the 5 s grace: {took:?}"
    );
    let late = Configuration::new(
        rt.clone(),
        NodeList::addrs(c.addrs.clone()),
        SystemOptions::default(),
    )
    .unwrap();
    let err = late
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(1))
        .timeout(Duration::from_secs(2))
        .all()
        .await
        .unwrap_err();
    assert_eq!(err.node_errors.len(), 1, "no longer accepting: {err}");
}

/// CONFORMANCE: client interceptors: logging, filtering, chaining; each sees the method,
/// the configuration and the request; a filtered-out reply is that node's failure.
pub async fn client_interceptors_log_filter_and_chain(rt: RuntimeHandle) {
    let c = cluster(&rt, 3).await;
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    let logging = move |info: &gorums_core::api::CallInfo,
                        r: gorums_core::api::NodeResponse<Msg>| {
        l.lock().unwrap().push((
            info.method.clone(),
            info.config.len(),
            info.request.len(),
            r.node.0,
        ));
        Some(r)
    };
    let drop_node_2 = |_: &gorums_core::api::CallInfo, r: gorums_core::api::NodeResponse<Msg>| {
        (r.node != NodeId(2)).then_some(r)
    };
    let outcomes = c
        .client
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(3))
        .intercept(logging)
        .intercept(drop_node_2)
        .collect_all()
        .await;
    assert_eq!(outcomes.len(), 3);
    for r in &outcomes {
        assert_eq!(r.result.is_ok(), r.node != NodeId(2), "{r:?}");
    }
    {
        let log = log.lock().unwrap();
        assert_eq!(
            log.len(),
            3,
            "the logging interceptor saw every reply, node 2's too"
        );
        assert!(
            log.iter()
                .all(|(m, n, len, _)| m == method::ECHO && *n == 3 && *len > 0)
        );
    }
    let err = c
        .client
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(3))
        .intercept(drop_node_2)
        .all()
        .await
        .unwrap_err();
    assert_eq!(err.failed_nodes().collect::<Vec<_>>(), [NodeId(2)]);
    assert!(err.has_kind(FailureKind::Rejected));
    let reply = c
        .client
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(4))
        .intercept(drop_node_2)
        .majority()
        .await
        .unwrap();
    assert_ne!(reply.node, 2);
}
