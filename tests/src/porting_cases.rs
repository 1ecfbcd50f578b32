//! What a Go Gorums user expects when porting (issue 16): composing request mappers,
//! interceptors over the reply stream, declared known peers, correctables watched by
//! several callers, and the other points named in each case.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gorums_core::api::{
    CallInfo, CallOptions, Cause, Configuration, ConnectionError, EndpointConfig, FailureKind,
    NodeFailure, NodeId, NodeList, NodeResponse, Quorum, ReplyInterceptor, System, SystemOptions,
};
use gorums_core::runtime::RuntimeHandle;

use crate::service::{Msg, Other, method};
use crate::support::{cluster, eventually, msg, within};

/// CONFORMANCE: client interceptors: several `map_request`s compose as Go's `MapRequest`
/// does: each gets the request as the step before left it for that node, a skip ends
/// the chain, and a step whose request type does not decode fails that node.
pub async fn map_request_steps_compose_and_see_the_request(rt: RuntimeHandle) {
    let c = cluster(&rt, 3).await;
    let mut outcomes = c
        .client
        .quorum_call::<Msg, Msg>(
            method::ECHO,
            &Msg {
                text: "x".into(),
                seq: 5,
                node: 0,
            },
        )
        .map_request(|req: Msg, n| {
            Some(Msg {
                seq: req.seq + u64::from(n.id().0),
                ..req
            })
        })
        .map_request(|req: Msg, n| {
            (n.id() != NodeId(3)).then(|| Msg {
                text: format!("{}-{}", req.text, req.seq),
                ..req
            })
        })
        .collect_all()
        .await;
    outcomes.sort_by_key(|r| r.node);
    let got: Vec<(u32, String, u64)> = outcomes
        .into_iter()
        .map(|r| {
            let reply = r.result.expect("nodes 1 and 2 reply");
            (reply.node, reply.text, reply.seq)
        })
        .collect();
    assert_eq!(
        got,
        [(1, "x-6".to_owned(), 6), (2, "x-7".to_owned(), 7)],
        "the second step saw the first one's request; node 3 was skipped"
    );

    // `Other` cannot be decoded from a `Msg` (field 1 is a string there): every node
    // fails at once as rejected, none is sent anything.
    let err = within(
        &rt,
        Duration::from_secs(5),
        c.client
            .quorum_call::<Msg, Msg>(method::ECHO, &msg(1))
            .map_request(|other: Other, _| Some(other))
            .majority(),
    )
    .await
    .expect("fails at once")
    .unwrap_err();
    assert_eq!(err.cause, Cause::Incomplete, "{err}");
    assert!(err.has_kind(FailureKind::Rejected), "{err}");
    assert!(err.to_string().contains("map_request"), "{err}");
}

/// Holds every outcome back until the outcomes before it run out, then passes them on
/// with the highest node id first.
struct HighestIdFirst(Vec<NodeResponse<Msg>>);

impl ReplyInterceptor<Msg> for HighestIdFirst {
    fn on_reply(
        &mut self,
        _: &CallInfo,
        r: NodeResponse<Msg>,
        _: &mut VecDeque<NodeResponse<Msg>>,
    ) {
        self.0.push(r);
    }

    fn on_end(&mut self, _: &CallInfo, out: &mut VecDeque<NodeResponse<Msg>>) {
        self.0.sort_by_key(|r| std::cmp::Reverse(r.node));
        out.extend(self.0.drain(..));
    }
}

/// CONFORMANCE: client interceptors: a custom interceptor over the reply stream (Go's
/// `QuorumInterceptor`) may hold back and reorder, drop, and add replies; a dropped
/// reply counts neither as a success nor as a failure (the call fails `Incomplete`
/// with no node error when the stream ends below the quorum), an added one counts.
pub async fn a_reply_stream_interceptor_drops_reorders_and_adds(rt: RuntimeHandle) {
    let c = cluster(&rt, 3).await;
    // Held back and reordered: the highest id first, whatever order they came in.
    let order: Vec<NodeId> = c
        .client
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(1))
        .intercept_replies(HighestIdFirst(Vec::new()))
        .collect_all()
        .await
        .into_iter()
        .map(|r| r.node)
        .collect();
    assert_eq!(order, [NodeId(3), NodeId(2), NodeId(1)]);

    // Dropped: node 2's reply is not yielded, and not counted as its failure.
    let drop_node_2 =
        |_: &CallInfo, r: NodeResponse<Msg>, out: &mut VecDeque<NodeResponse<Msg>>| {
            if r.node != NodeId(2) {
                out.push_back(r);
            }
        };
    let seen: Vec<NodeId> = c
        .client
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(2))
        .intercept_replies(drop_node_2)
        .collect_all()
        .await
        .into_iter()
        .map(|r| r.node)
        .collect();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(!seen.contains(&NodeId(2)), "{seen:?}");
    let err = c
        .client
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(3))
        .intercept_replies(drop_node_2)
        .all()
        .await
        .unwrap_err();
    assert_eq!(err.cause, Cause::Incomplete, "{err}");
    assert!(
        err.node_errors.is_empty(),
        "a dropped reply is no node's error: {err}"
    );
    let reply = c
        .client
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(4))
        .intercept_replies(drop_node_2)
        .majority()
        .await
        .expect("nodes 1 and 3 are a majority");
    assert_ne!(reply.node, 2);

    // Both kinds chain in the order added: the stream interceptor sees the failure the
    // per-outcome one made of node 3's reply, and passes it on (counted).
    let outcomes = c
        .client
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(5))
        .intercept(|_, r: NodeResponse<Msg>| (r.node != NodeId(3)).then_some(r))
        .intercept_replies(HighestIdFirst(Vec::new()))
        .collect_all()
        .await;
    assert_eq!(outcomes.len(), 3, "{outcomes:?}");
    assert_eq!(outcomes[0].node, NodeId(3), "{outcomes:?}");
    assert!(
        matches!(&outcomes[0].result, Err(f) if f.kind() == FailureKind::Rejected),
        "{outcomes:?}"
    );
    // Added: node 1's reply passed on twice meets a threshold of 2 before the slow
    // nodes 2 and 3 (2 s) answer; the added reply counts like any other.
    let twice_from_1 =
        |_: &CallInfo, r: NodeResponse<Msg>, out: &mut VecDeque<NodeResponse<Msg>>| {
            if r.node == NodeId(1) {
                out.push_back(r.clone());
            }
            out.push_back(r);
        };
    let counted = within(
        &rt,
        Duration::from_secs(3),
        c.client
            .quorum_call::<Msg, Msg>(method::SLOW, &msg(0))
            .map_request(|req: Msg, n| {
                Some(Msg {
                    seq: if n.id() == NodeId(1) { 0 } else { 2_000 },
                    ..req
                })
            })
            .intercept_replies(twice_from_1)
            .fold(Quorum::Threshold(2), Vec::new(), |mut nodes, node, _| {
                nodes.push(node);
                nodes
            }),
    )
    .await
    .expect("met by the added reply, before the slow nodes")
    .expect("threshold 2 met");
    assert_eq!(counted, [NodeId(1), NodeId(1)]);
}

/// CONFORMANCE: declared known peers (Go's `WithConfig(myID, nodes)`, which
/// `local_systems` gives each system): `ctx.config()` and `wait_for_config` hold the
/// connected members of the list and the process itself; a peer announcing an id
/// outside the list is served on its connection (as Go's inbound manager serves it)
/// but is in neither configuration and cannot be called back; an anonymous client with
/// no handler is served and kept out of `client_config`.
pub async fn declared_known_peers_bound_the_configuration(rt: RuntimeHandle) {
    let c = cluster(&rt, 3).await;
    let server = c.servers[0].0.clone();
    let peers = server.wait_for_config(|cfg| cfg.len() == 3).await.unwrap();
    assert_eq!(peers.ids(), [NodeId(1), NodeId(2), NodeId(3)]);

    // Node 7 is not in the list: it dials node 1 and is served.
    let stranger = System::new(rt.clone(), SystemOptions::with_id(NodeId(7)));
    let to_1 = stranger
        .configuration(NodeList::map([(1, c.addrs[0].clone())]))
        .unwrap();
    let node_1 = to_1.node(NodeId(1)).unwrap();
    let reply: Msg = node_1.rpc(method::ECHO, &msg(1)).await.expect("served");
    assert_eq!(reply.node, 1);
    // A nested call over node 1's `ctx.config()` goes to the three known peers only.
    let nested: Msg = node_1.rpc(method::NESTED, &msg(0)).await.expect("nested");
    assert_eq!((nested.text.as_str(), nested.seq), ("nested over 3", 3));
    assert_eq!(
        server.wait_for_config(|_| true).await.unwrap().ids(),
        [NodeId(1), NodeId(2), NodeId(3)]
    );
    // Not an anonymous client either, and node 1 cannot call it. Nor is the cluster's
    // client, which serves nothing (no handler, as a Go client dialling without a
    // server): it is served, but cannot be called back.
    let clients = server.wait_for_client_config(|_| true).await.unwrap();
    assert!(clients.is_empty(), "{clients:?}");
    let err = peers
        .extend([NodeId(7)])
        .unwrap()
        .node(NodeId(7))
        .unwrap()
        .rpc::<Msg, Msg, _>(method::ECHO, &msg(2))
        .await
        .unwrap_err();
    assert!(matches!(err.failure, NodeFailure::NotConnected(_)), "{err}");

    // Without declared peers (the default), the same hello makes node 7 a known peer.
    let open = System::new(rt.clone(), SystemOptions::with_id(NodeId(1)));
    crate::service::register(&open, rt.clone(), c.seen.clone());
    let addr = open.listen("127.0.0.1:0").await.unwrap();
    let _to_open = stranger.configuration(NodeList::map([(10, addr)])).unwrap();
    let joined = open.wait_for_config(|cfg| cfg.len() == 2).await.unwrap();
    assert_eq!(joined.ids(), [NodeId(1), NodeId(7)]);
}

/// CONFORMANCE: correctables: several watchers of one call at once, from clones in
/// tasks of their own (as Go's `Correctable.Watch` gives each watcher a channel), each
/// woken when its level is reached, while `get` on another clone waits for the end.
pub async fn several_watchers_of_one_correctable(rt: RuntimeHandle) {
    let c = cluster(&rt, 3).await;
    // Each node sleeps 100 ms, then streams one item: the watchers wait first.
    let call = c
        .client
        .correctable_call::<Msg, Msg>(method::SLOW_STREAM, &msg(100))
        .correctable(3);
    let results = Arc::new(Mutex::new(Vec::new()));
    for level in 1..=3 {
        let watch = call.watch(level);
        let results = results.clone();
        rt.spawn(Box::pin(async move {
            let reached = watch.await.map(|(_, at)| at);
            results.lock().unwrap().push((level, reached));
        }));
    }
    let done = call.clone().get();
    let r = results.clone();
    rt.spawn(Box::pin(async move {
        let reached = done.await.map(|(_, at)| at);
        r.lock().unwrap().push((0, reached));
    }));
    eventually(&rt, || results.lock().unwrap().len() == 4).await;
    let mut results = results.lock().unwrap().clone();
    results.sort_by_key(|(level, _)| *level);
    for (level, reached) in &results {
        let at = reached.as_ref().expect("every watcher reached its level");
        assert!(*at >= *level, "watch({level}) returned at level {at}");
    }
    assert_eq!(results[0].1.as_ref().ok(), Some(&3), "get: done at level 3");
    let state = call.snapshot();
    assert_eq!((state.level, state.done), (3, true));
}

/// CONFORMANCE: `local_systems` returns the stop of every system beside them (Go's
/// `NewLocalSystems` returns a stop function): after it, no system holds a connection
/// and a client's calls fail; their graceful stop does the same, at once when nothing
/// runs.
pub async fn local_systems_return_a_stop_of_them_all(rt: RuntimeHandle) {
    let c = cluster(&rt, 3).await;
    let reply: Msg = c
        .client
        .quorum_call(method::ECHO, &msg(1))
        .all()
        .await
        .expect("all up");
    assert_eq!(reply.seq, 1);
    let ids: Vec<NodeId> = c
        .servers
        .clone()
        .into_iter()
        .map(|(s, _)| s.node_id())
        .collect();
    assert_eq!(
        ids,
        [NodeId(1), NodeId(2), NodeId(3)],
        "the systems, in id order"
    );
    assert_eq!(c.servers.clone().into_vec().len(), 3);

    // Dropping the last handle of a system stops it: its peers lose it.
    let lone = System::new(rt.clone(), SystemOptions::with_id(NodeId(9)));
    crate::service::register(&lone, rt.clone(), Default::default());
    let lone_addr = lone.listen("127.0.0.1:0").await.unwrap();
    let to_lone = Configuration::new(
        rt.clone(),
        NodeList::addrs([lone_addr]),
        SystemOptions::default(),
    )
    .unwrap();
    let node = to_lone.nodes()[0].clone();
    node.rpc::<Msg, Msg, _>(method::ECHO, &msg(0))
        .await
        .expect("served");
    drop(lone);
    eventually(&rt, || !node.is_connected()).await;
    let stop = c.servers.clone();
    stop.stop();
    for (system, _) in &c.servers {
        eventually(&rt, || system.connection_count() == 0).await;
    }
    let err = c
        .client
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(2))
        .first()
        .await
        .unwrap_err();
    assert_eq!(err.node_errors.len(), 3, "{err}");

    // Their graceful stop stops them all too, once nothing runs (not after the grace).
    let d = cluster(&rt, 2).await;
    d.client
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(3))
        .all()
        .await
        .expect("all up");
    let grace = Duration::from_secs(5);
    within(&rt, grace / 2, d.servers.shutdown(grace))
        .await
        .expect("nothing to wait for");
    for (system, _) in &d.servers {
        eventually(&rt, || system.connection_count() == 0).await;
    }
}

/// CONFORMANCE: one-way calls that wait for the send (Go's default `Unicast` and
/// `Multicast`): `unicast_written` and `multicast_written` to live nodes return `Ok` and
/// the servers get the messages; to a peer that reads nothing, a request larger than
/// any socket or link buffer cannot leave, so the waited call returns only when the
/// connection closes (the handshake timeout), with that connection's error, while the
/// default `unicast` (queue and return) returned `Ok` at once, and a waited call given
/// up frees its state at once; to an address where nobody listens, the waited call
/// fails.
pub async fn one_way_calls_can_wait_for_the_send(rt: RuntimeHandle) {
    let c = cluster(&rt, 3).await;
    let node_1 = c.client.node(NodeId(1)).unwrap();
    let to_one = node_1.unicast_written(method::RECORD, &msg(7), CallOptions::new());
    within(&rt, Duration::from_secs(5), to_one)
        .await
        .expect("the wait ends once the bytes left")
        .expect("written to a live node");
    let to_all = c
        .client
        .multicast_written(method::RECORD, &msg(8), CallOptions::new());
    within(&rt, Duration::from_secs(5), to_all)
        .await
        .expect("the wait ends once the bytes left")
        .expect("written to every live node");
    for n in 1..=3 {
        let want: &[u64] = if n == 1 { &[7, 8] } else { &[8] };
        eventually(&rt, || c.seen_by(n, method::RECORD) == want).await;
    }

    // A peer that accepts and never reads nor says hello.
    let mut silent = rt.listen("127.0.0.1:0").await.expect("listen");
    let silent_addr = silent.local_addr();
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = held.clone();
    rt.spawn(Box::pin(async move {
        while let Ok(conn) = silent.accept().await {
            keep.lock().unwrap().push(conn);
        }
    }));
    let big_frames = 64 << 20;
    let options = SystemOptions {
        endpoint: EndpointConfig {
            connect_timeout: Duration::from_millis(500),
            max_frame_len: big_frames,
            send_queue_limit: big_frames,
            ..EndpointConfig::default()
        },
        ..SystemOptions::default()
    };
    let stuck =
        Configuration::new(rt.clone(), NodeList::addrs([silent_addr]), options.clone()).unwrap();
    let node = stuck.node(NodeId(1)).unwrap();
    // 16 MiB: more than a loopback socket's buffers (or the simulator's link window) hold.
    let big = Msg {
        text: "x".repeat(16 << 20),
        seq: 1,
        node: 0,
    };
    let started = rt.now();
    node.unicast(method::RECORD, &big)
        .expect("the default one-way call only queues");
    // A waited call given up while it waits (behind the 16 MiB) frees its state at once.
    let given_up = within(
        &rt,
        Duration::from_millis(50),
        node.unicast_written(method::RECORD, &msg(2), CallOptions::new()),
    )
    .await;
    assert!(given_up.is_none(), "it cannot leave behind the 16 MiB");
    assert_eq!(stuck.system().unwrap().live_calls(), 0);
    let err = within(
        &rt,
        Duration::from_secs(10),
        node.unicast_written(method::RECORD, &big, CallOptions::new()),
    )
    .await
    .expect("the connection closes at the handshake timeout")
    .expect_err("the request never left");
    assert!(
        matches!(
            err.failure,
            NodeFailure::ConnectionLost(ConnectionError::HandshakeTimeout)
        ),
        "{err}"
    );
    assert!(
        rt.now() - started >= Duration::from_millis(400),
        "returned before the connection closed"
    );
    assert!(held.lock().unwrap().len() == 1);

    // Nobody listens: the waited call fails (the connect fails, or was refused already).
    let closed = rt.listen("127.0.0.1:0").await.expect("listen");
    let closed_addr = closed.local_addr();
    drop(closed);
    let down = Configuration::new(rt.clone(), NodeList::addrs([closed_addr]), options).unwrap();
    let err = within(
        &rt,
        Duration::from_secs(10),
        down.multicast_written(method::RECORD, &msg(9), CallOptions::new()),
    )
    .await
    .expect("a failed connect ends the wait")
    .expect_err("nobody listens");
    assert_eq!(err.cause, Cause::SendFailure, "{err}");
    assert_eq!(err.node_errors.len(), 1, "{err}");
}
