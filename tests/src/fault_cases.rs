//! Conformance cases for nodes that fail without a clean close: a node whose traffic
//! stops mid-call while its connection stays open, and a node stopped and restarted on
//! its address again and again while a caller keeps issuing quorum calls.
//!
//! Their assertions are about what every call ends with, not about timing luck, so
//! `tests/tests/sim_seeds.rs` also runs them over many simulator seeds.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gorums_core::api::{
    CallOptions, Cause, Configuration, EndpointConfig, NodeFailure, NodeId, NodeList,
    QuorumCallError, System, SystemOptions,
};
use gorums_core::runtime::{Connection, ReadHalf, RuntimeHandle, WriteHalf};

use crate::service::{Msg, Seen, method};
use crate::support::{Cluster, cluster, eventually, msg, next, sleep, write_all};

/// A relay between clients and one server: every connection accepted on its address is
/// joined to a fresh connection to the server, byte for byte, until [`hold`](Self::hold)
/// makes it keep every byte it reads (both ways) without closing anything, as a node
/// that stalls does; [`resume`](Self::resume) lets the held bytes through.
struct Relay {
    addr: String,
    held: Arc<AtomicBool>,
    /// Holds the server's bytes to the clients only (see [`hold_replies`](Self::hold_replies)).
    replies_held: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
}

impl Relay {
    async fn start(rt: &RuntimeHandle, server: &str) -> Relay {
        let mut listener = rt.listen("127.0.0.1:0").await.expect("relay listens");
        let addr = listener.local_addr();
        let held = Arc::new(AtomicBool::new(false));
        let replies_held = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (rt2, server, h, r, a) = (
            rt.clone(),
            server.to_owned(),
            held.clone(),
            replies_held.clone(),
            accepted.clone(),
        );
        rt.spawn(Box::pin(async move {
            while let Ok(client) = listener.accept().await {
                a.fetch_add(1, Ordering::AcqRel);
                let Ok(upstream) = rt2.connect(&server).await else {
                    continue;
                };
                let Connection {
                    reader: client_reader,
                    writer: client_writer,
                    ..
                } = client;
                let Connection {
                    reader: server_reader,
                    writer: server_writer,
                    ..
                } = upstream;
                rt2.spawn(Box::pin(pump(
                    rt2.clone(),
                    client_reader,
                    server_writer,
                    [h.clone(), h.clone()],
                )));
                rt2.spawn(Box::pin(pump(
                    rt2.clone(),
                    server_reader,
                    client_writer,
                    [h.clone(), r.clone()],
                )));
            }
        }));
        Relay {
            addr,
            held,
            replies_held,
            accepted,
        }
    }

    /// Keeps the server's bytes to the clients (the clients' bytes still go through), as
    /// a client that stops reading does.
    fn hold_replies(&self) {
        self.replies_held.store(true, Ordering::Release);
    }

    fn hold(&self) {
        self.held.store(true, Ordering::Release);
    }

    fn resume(&self) {
        self.held.store(false, Ordering::Release);
        self.replies_held.store(false, Ordering::Release);
    }

    /// Connections the relay has accepted so far.
    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::Acquire)
    }
}

/// Copies `from` to `to` until either ends, keeping what it read while either `held`
/// flag is set.
async fn pump(
    rt: RuntimeHandle,
    mut from: ReadHalf,
    mut to: WriteHalf,
    held: [Arc<AtomicBool>; 2],
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let read =
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut *from).poll_read(cx, &mut buf)).await;
        let n = match read {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while held.iter().any(|h| h.load(Ordering::Acquire)) {
            sleep(&rt, Duration::from_millis(2)).await;
        }
        if !write_all(&mut to, &buf[..n]).await {
            return;
        }
    }
}

/// Three nodes, node 3 behind a [`Relay`], and a client that has reached all three
/// through it.
async fn relayed_cluster(rt: &RuntimeHandle) -> (Cluster, Relay, Configuration) {
    let c = cluster(rt, 3).await;
    let relay = Relay::start(rt, &c.addrs[2]).await;
    let client = Configuration::new(
        rt.clone(),
        NodeList::addrs([c.addrs[0].clone(), c.addrs[1].clone(), relay.addr.clone()]),
        SystemOptions::default(),
    )
    .unwrap();
    client
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(0))
        .all()
        .await
        .expect("every node answers through the relay");
    (c, relay, client)
}

/// CONFORMANCE: a node that stalls mid-call without closing: node 3's traffic stops
/// (both ways, its connection kept open) after its handler started. A majority call
/// made during the stall is met by nodes 1 and 2 without waiting; an RPC to node 3
/// fails by its deadline with "no reply"; the first call's stream yields nodes 1 and 2
/// at once and ends at the deadline, and an `all` fails with `DeadlineExceeded`; the
/// stall closes nothing, and once it ends the late replies are dropped and counted and
/// node 3 answers again over the same connection.
pub async fn a_node_that_stalls_mid_call_fails_by_the_deadline(rt: RuntimeHandle) {
    let (c, relay, client) = relayed_cluster(&rt).await;
    let node3 = client.node(NodeId(3)).unwrap();
    assert_eq!(relay.accepted(), 1);

    let deadline = Duration::from_millis(600);
    let mut call = client
        .with_timeout(deadline)
        .quorum_call::<Msg, Msg>(method::SLOW, &msg(100));
    let started = rt.now();
    call.start();
    // Mid-call: node 3 has the request and its handler is running.
    eventually(&rt, || c.seen_by(3, method::SLOW) == [100]).await;
    relay.hold();

    // During the stall a majority is met by nodes 1 and 2: node 3 is held for longer
    // than this call's deadline, so a call that waited for it would fail. (No upper
    // bound in time: on a loaded 2-core CI machine one was seen to flake.)
    let reply = client
        .with_timeout(Duration::from_secs(5))
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(1))
        .majority()
        .await
        .expect("a majority of the others answers");
    assert_ne!(reply.node, 3);

    // An RPC to the stalled node fails by its own deadline with "no reply".
    let rpc_started = rt.now();
    let err = node3
        .rpc_with::<Msg, Msg, _>(
            method::ECHO,
            &msg(2),
            CallOptions::new().timeout(Duration::from_millis(200)),
        )
        .await
        .unwrap_err();
    assert_eq!((err.node, &err.failure), (NodeId(3), &NodeFailure::NoReply));
    let took = rt.now() - rpc_started;
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_millis(2200),
        "{took:?}"
    );

    // The first call's stream: nodes 1 and 2 answered before the deadline; node 3's
    // share ends with the call at the deadline (the call's error is
    // `DeadlineExceeded`; the stream yields nothing for node 3).
    let mut outcomes = Vec::new();
    while let Some(r) = next(&mut call).await {
        outcomes.push((r.node.0, r.result.is_ok(), rt.now() - started));
    }
    let ended = rt.now() - started;
    outcomes.sort_by_key(|(node, _, _)| *node);
    let answered: Vec<(u32, bool)> = outcomes.iter().map(|(n, ok, _)| (*n, *ok)).collect();
    assert_eq!(answered, [(1, true), (2, true)], "{outcomes:?}");
    assert!(
        ended >= deadline && ended < deadline + Duration::from_secs(2),
        "the call ended at {ended:?}, its deadline is {deadline:?}"
    );
    let err = client
        .with_timeout(Duration::from_millis(200))
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(3))
        .all()
        .await
        .unwrap_err();
    assert_eq!(err.cause, Cause::DeadlineExceeded, "{err}");
    // The error names the stalled node: the one that still owed its reply.
    assert_eq!(err.failed_nodes().collect::<Vec<_>>(), [NodeId(3)], "{err}");
    assert_eq!(err.node_errors[0].failure, NodeFailure::NoReply, "{err}");
    assert!(
        err.to_string().contains("no reply within the deadline"),
        "{err}"
    );
    drop(call);

    // The stall closed nothing.
    assert!(node3.is_connected(), "the stall closed the connection");
    assert_eq!(c.client.system().unwrap().live_calls(), 0);
    assert_eq!(client.system().unwrap().live_calls(), 0);

    // It ends: the held replies arrive late and are dropped, counted; node 3 answers
    // over the connection it had.
    relay.resume();
    eventually(&rt, || node3.info().dropped == 4).await;
    let reply: Msg = node3.rpc(method::ECHO, &msg(4)).await.unwrap();
    assert_eq!((reply.node, reply.seq), (3, 4));
    assert_eq!(relay.accepted(), 1, "no new connection was needed");
}

/// Checks that no server of `c` started a TICK request twice (nothing was re-sent) and
/// that `c`'s client is left with no call state.
async fn nothing_re_sent_and_no_call_left(rt: &RuntimeHandle, c: &Cluster) {
    for id in 1..=3 {
        let mut seen = c.seen_by(id, method::TICK);
        let all = seen.len();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), all, "node {id} started a request twice");
    }
    let system = c.client.system().unwrap();
    eventually(rt, || system.live_calls() == 0).await;
}

/// How a call made by the caller in `calls_go_on_through_repeated_restarts` ended.
#[derive(Debug)]
struct Ended {
    seq: u64,
    /// A majority was up for the whole call.
    quorum_up: bool,
    took: Duration,
    result: Result<Msg, QuorumCallError>,
}

/// CONFORMANCE: nodes that `map_request` skips count as closed from the start: with
/// node 3 stalled (a relay holds its traffic, its connection stays open) and nodes 1 and
/// 2 skipped, a majority call fails with `Incomplete` at once, not when node 3's share
/// reaches its deadline.
pub async fn skipped_nodes_decide_a_quorum_at_once(rt: RuntimeHandle) {
    let (_cluster, relay, client) = relayed_cluster(&rt).await;
    relay.hold();
    let started = rt.now();
    let err = client
        .with_timeout(Duration::from_secs(10))
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(1))
        .map_request(|req: Msg, node| (node.id() == NodeId(3)).then_some(req))
        .majority()
        .await
        .unwrap_err();
    assert_eq!(err.cause, Cause::Incomplete, "{err}");
    assert!(
        rt.now() - started < Duration::from_secs(5),
        "decided by the two skipped nodes, not by node 3's deadline"
    );
    relay.resume();
}

/// CONFORMANCE: a quorum call sends its request to every node, also to one that has
/// not taken it yet when the quorum is met: node 3 stalls (a relay holds its traffic)
/// behind 9 MiB of one-way messages, more than the socket buffers take, so the request
/// still waits in node 3's send queue when nodes 1 and 2 meet a majority and the call is
/// dropped; once the stall ends node 3 gets it, after the one-way messages (only a call
/// given up before its quorum takes back what is not yet sent).
pub async fn a_met_call_still_reaches_a_node_behind_a_full_queue(rt: RuntimeHandle) {
    let (c, relay, client) = relayed_cluster(&rt).await;
    let node3 = client.node(NodeId(3)).unwrap();
    relay.hold();
    let mut big = msg(10);
    big.text = "x".repeat(3 << 20);
    for seq in 10..13 {
        big.seq = seq;
        node3.unicast(method::RECORD, &big).unwrap();
    }
    let reply = client
        .with_timeout(Duration::from_secs(5))
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(1))
        .majority()
        .await
        .expect("nodes 1 and 2 answer");
    assert_ne!(reply.node, 3);
    assert!(c.seen_by(3, method::RECORD).len() < 3);

    relay.resume();
    eventually(&rt, || c.seen_by(3, method::ECHO) == [0, 1]).await;
    assert_eq!(c.seen_by(3, method::RECORD), [10, 11, 12]);
    assert_eq!(client.system().unwrap().live_calls(), 0);
}

/// CONFORMANCE: a graceful stop waits for the replies its handlers gave, not only for
/// the handlers: a server answers a call with 12 MiB (its frame limit raised) while the
/// client reads nothing (a relay holds the server's bytes to it), so the reply has left
/// the send queue but sits half written in the server's writer, more than the socket
/// buffers hold. The server is stopped with a 5 s grace: the stop waits, and once the
/// client reads again the reply arrives whole and the stop ends, well before its grace.
pub async fn a_graceful_stop_delivers_the_replies_its_handlers_gave(rt: RuntimeHandle) {
    const PADDING: usize = 12 << 20;
    let options = SystemOptions {
        endpoint: EndpointConfig {
            max_frame_len: 16 << 20,
            send_queue_limit: 32 << 20,
            ..EndpointConfig::default()
        },
        ..SystemOptions::default()
    };
    let seen = Seen::default();
    let server = System::new(
        rt.clone(),
        SystemOptions {
            endpoint: EndpointConfig {
                node_id: NodeId(1),
                ..options.endpoint.clone()
            },
            ..options.clone()
        },
    );
    crate::service::register(&server, rt.clone(), seen.clone());
    let addr = server.listen("127.0.0.1:0").await.unwrap();
    let relay = Relay::start(&rt, &addr).await;
    let client =
        Configuration::new(rt.clone(), NodeList::addrs([relay.addr.clone()]), options).unwrap();
    let node = client.node(NodeId(1)).unwrap();
    node.rpc::<Msg, Msg, _>(method::ECHO, &msg(0))
        .await
        .expect("served through the relay");

    relay.hold_replies();
    let reply = Arc::new(Mutex::new(None));
    {
        let call = node.rpc_with::<Msg, Msg, _>(
            method::PAD,
            &msg(PADDING as u64),
            CallOptions::new().timeout(Duration::from_secs(20)),
        );
        let reply = reply.clone();
        rt.spawn(Box::pin(async move {
            *reply.lock().unwrap() = Some(call.await);
        }));
    }
    // The request is small and its handler answers at once.
    let seen_pad = || {
        seen.lock()
            .unwrap()
            .iter()
            .any(|(_, m, _)| m == method::PAD)
    };
    eventually(&rt, seen_pad).await;
    sleep(&rt, Duration::from_millis(50)).await;
    assert!(reply.lock().unwrap().is_none(), "the relay holds the reply");

    let ended = Arc::new(Mutex::new(None));
    let started = rt.now();
    {
        let (rt2, ended, server) = (rt.clone(), ended.clone(), server.clone());
        rt.spawn(Box::pin(async move {
            server.shutdown(Duration::from_secs(5)).await;
            *ended.lock().unwrap() = Some(rt2.now());
        }));
    }
    sleep(&rt, Duration::from_millis(300)).await;
    assert!(
        ended.lock().unwrap().is_none(),
        "the stop waits for the reply being written"
    );
    relay.resume();
    eventually(&rt, || reply.lock().unwrap().is_some()).await;
    let got = reply.lock().unwrap().take().unwrap();
    let got = got.expect("the reply reached the caller whole");
    assert_eq!(got.text.len(), "hi".len() + PADDING);
    eventually(&rt, || ended.lock().unwrap().is_some()).await;
    let took = ended.lock().unwrap().map(|at| at - started);
    assert!(
        took.is_some_and(|t| t < Duration::from_secs(4)),
        "the stop ended once the reply was out, not at the end of its grace: {took:?}"
    );
}

/// CONFORMANCE: reconnects while calls are in flight, repeated: two callers keep issuing
/// majority calls (each with a 1 s deadline) while node 3 is stopped and restarted on
/// its address four times, and twice node 2 goes down with it. Every call ends, none
/// near its deadline; every call made while a majority was up succeeds; the calls made
/// while two nodes were down fail naming failed nodes; no server saw a request twice
/// (nothing re-sent); at the end no call state is left and every node is used again.
pub async fn calls_go_on_through_repeated_restarts(rt: RuntimeHandle) {
    let c = cluster(&rt, 3).await;
    c.client
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(0))
        .all()
        .await
        .unwrap();
    let servers: Arc<Mutex<Vec<System>>> = Arc::new(Mutex::new(
        c.servers.iter().map(|(s, _)| s.clone()).collect(),
    ));
    // Bumped before a majority may go down and after it is back: a call that sees the
    // same even number at its start and its end had a majority up throughout.
    let epoch = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let ended = Arc::new(Mutex::new(Vec::<Ended>::new()));
    let callers = Arc::new(AtomicUsize::new(0));
    let deadline = Duration::from_secs(3);
    for caller in 0..2u64 {
        let (rt2, config) = (rt.clone(), c.client.with_timeout(deadline));
        let (epoch, stop, ended, callers) =
            (epoch.clone(), stop.clone(), ended.clone(), callers.clone());
        rt.spawn(Box::pin(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Acquire) {
                let seq = 1 + caller * 100_000 + i;
                i += 1;
                let before = epoch.load(Ordering::Acquire);
                let started = rt2.now();
                let result = config
                    .quorum_call::<Msg, Msg>(method::TICK, &msg(seq))
                    .majority()
                    .await;
                let took = rt2.now() - started;
                let after = epoch.load(Ordering::Acquire);
                let failed = result.is_err();
                ended.lock().unwrap().push(Ended {
                    seq,
                    quorum_up: before == after && before % 2 == 0,
                    took,
                    result,
                });
                if failed {
                    // A failed call returns at once; do not spin on it.
                    sleep(&rt2, Duration::from_millis(5)).await;
                }
            }
            callers.fetch_add(1, Ordering::AcqRel);
        }));
    }

    let node = |i: usize| c.client.nodes()[i].clone();
    let down = |i: usize| {
        let (servers, rt, node) = (servers.clone(), rt.clone(), node(i));
        async move {
            servers.lock().unwrap()[i].stop();
            eventually(&rt, || !node.is_connected()).await;
        }
    };
    let up = |i: usize| {
        let (servers, rt, node) = (servers.clone(), rt.clone(), node(i));
        let restarted = c.restart(i);
        async move {
            let system = restarted.await;
            servers.lock().unwrap()[i] = system;
            eventually(&rt, || node.is_connected()).await;
        }
    };
    for round in 0..4 {
        sleep(&rt, Duration::from_millis(80)).await;
        down(2).await;
        sleep(&rt, Duration::from_millis(80)).await;
        if round % 2 == 1 {
            epoch.fetch_add(1, Ordering::AcqRel);
            down(1).await;
            sleep(&rt, Duration::from_millis(80)).await;
            up(1).await;
            epoch.fetch_add(1, Ordering::AcqRel);
        }
        up(2).await;
    }
    sleep(&rt, Duration::from_millis(80)).await;
    stop.store(true, Ordering::Release);
    eventually(&rt, || callers.load(Ordering::Acquire) == 2).await;

    let ended = std::mem::take(&mut *ended.lock().unwrap());
    let ok = ended.iter().filter(|e| e.result.is_ok()).count();
    let failed = ended.len() - ok;
    assert!(ok > 20, "{ok} calls succeeded");
    assert!(failed > 0, "no call was made while two nodes were down");
    for e in ended.iter() {
        assert!(
            e.took < deadline,
            "call {} took {:?}: {:?}",
            e.seq,
            e.took,
            e.result
        );
        match &e.result {
            Ok(reply) => assert_eq!(reply.seq, e.seq, "another call's reply"),
            Err(err) => {
                assert!(
                    !e.quorum_up,
                    "call {} failed with a majority up: {err}",
                    e.seq
                );
                assert_eq!(err.cause, Cause::Incomplete, "{err}");
                assert!(err.node_errors.len() >= 2, "{err}");
            }
        }
    }
    nothing_re_sent_and_no_call_left(&rt, &c).await;
    let reply = c
        .client
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(7))
        .all()
        .await
        .expect("every node is used again");
    assert_eq!(reply.seq, 7);
}

/// CONFORMANCE (ours, for the simulator's random faults): rounds of three majority
/// calls and an RPC at once, each with a 2 s deadline, while connections may be reset
/// at any moment. Every call ends before its deadline (a reset fails a share at once:
/// no call ends by its deadline); a success is the call's own reply from a node of the
/// configuration; a failure is `Incomplete` and names at least two nodes, each with a
/// connection failure; no server starts a request twice
/// (nothing re-sent); once the faults stop, `all` succeeds again and no call state is
/// left. Without faults (tokio, smol, the plain simulator run) every call succeeds.
pub async fn calls_under_connection_resets_end_and_keep_their_replies(rt: RuntimeHandle) {
    use gorums_core::api::FailureKind;

    let c = cluster(&rt, 3).await;
    let deadline = Duration::from_secs(2);
    let config = c.client.with_timeout(deadline);
    let connection_failure = |kind: FailureKind| {
        matches!(
            kind,
            FailureKind::ConnectionLost | FailureKind::NotConnected
        )
    };
    let mut failed = 0;
    for round in 0..40u64 {
        let started = rt.now();
        let calls: Vec<_> = (0..3)
            .map(|k| {
                let seq = 1 + round * 10 + k;
                let call = config
                    .quorum_call::<Msg, Msg>(method::TICK, &msg(seq))
                    .async_majority();
                (seq, call)
            })
            .collect();
        let node = config.nodes()[(round % 3) as usize].clone();
        let rpc_seq = 1 + round * 10 + 5;
        let rpc = node.rpc::<Msg, Msg, _>(method::TICK, &msg(rpc_seq));
        for (seq, call) in calls {
            match call.await {
                Ok(reply) => {
                    assert_eq!(reply.seq, seq, "another call's reply");
                    assert!((1..=3).contains(&reply.node), "{reply:?}");
                }
                Err(err) => {
                    failed += 1;
                    // A reset is seen by both ends at once: a share fails then, not
                    // at the deadline.
                    assert_eq!(err.cause, Cause::Incomplete, "{err}");
                    assert!(
                        err.node_errors
                            .iter()
                            .all(|e| connection_failure(e.failure.kind())),
                        "{err}"
                    );
                    assert!(err.node_errors.len() >= 2, "{err}");
                }
            }
        }
        match rpc.await {
            Ok(reply) => assert_eq!((reply.seq, reply.node), (rpc_seq, node.id().0)),
            Err(err) => {
                failed += 1;
                assert_eq!(err.node, node.id());
                assert!(connection_failure(err.failure.kind()), "{err}");
            }
        }
        let took = rt.now() - started;
        assert!(took < deadline, "round {round} took {took:?}");
    }
    // Once the faults have stopped, every node answers again.
    let mut healed = false;
    for _ in 0..50 {
        if config
            .quorum_call::<Msg, Msg>(method::ECHO, &msg(0))
            .all()
            .await
            .is_ok()
        {
            healed = true;
            break;
        }
        sleep(&rt, Duration::from_millis(100)).await;
    }
    assert!(
        healed,
        "no `all` succeeded after the faults ({failed} calls failed)"
    );
    nothing_re_sent_and_no_call_left(&rt, &c).await;
}
