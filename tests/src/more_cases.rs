//! More conformance cases: the checklist lines `cases` left open. Like [`crate::cases`],
//! each runs on whatever runtime the adapter gives and names the line of
//! `shared/CONFORMANCE.md` it covers in a `CONFORMANCE:` doc line.
//!
//! Some cases talk to a `RawPeer`: a hand-written peer on a raw connection that sends
//! exactly the bytes a case needs (any hello, or none) and reads only when told to, so
//! that a client's writes back up deterministically.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use bytes::BytesMut;
use gorums_core::api::{
    Cause, Configuration, EndpointConfig, FailureKind, MetadataEntry, NodeFailure, NodeId,
    NodeList, NodeResponse, ServerCtx, ServerOptions, System, SystemOptions,
};
use gorums_core::engine::{PeerInfo, by_id, by_latency};
use gorums_core::runtime::{Connection, ReadHalf, RuntimeHandle};
use gorums_core::wire::{self, FrameDecoder, proto};
use prost::Message as _;

use crate::service::{self, Msg, method};
use crate::support::{cluster, eventually, msg, next, sleep, write_all};

// ----- helpers ---------------------------------------------------------------------

/// Polls `fut` once with a waker that does nothing.
fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

/// A waker that counts its wake-ups; its `Arc`'s strong count tells how many clones of
/// it someone still holds.
#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

async fn read_some(reader: &mut ReadHalf, buf: &mut [u8]) -> usize {
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut **reader).poll_read(cx, buf))
        .await
        .unwrap_or(0)
}

/// The preface and a hello frame with `body` as its (already encoded) body.
fn hello_bytes(body: &[u8]) -> Vec<u8> {
    let mut out = wire::PREFACE.to_vec();
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn hello(node_id: u32) -> Vec<u8> {
    proto::Hello {
        protocol_version: u32::from(wire::PROTOCOL_VERSION),
        node_id,
        metadata: vec![proto::MetadataEntry {
            key: "who".into(),
            value: format!("raw-{node_id}"),
        }],
        assigned_node_id: 0,
        serves: false,
    }
    .encode_to_vec()
}

/// Dials `addr`, sends `bytes`, and reads the server's hello; `None` if the server
/// closed the connection instead. The connection is returned to keep it open.
async fn dial_raw(
    rt: &RuntimeHandle,
    addr: &str,
    bytes: &[u8],
) -> (Option<proto::Hello>, Connection) {
    let mut conn = rt.connect(addr).await.expect("raw connect");
    assert!(write_all(&mut conn.writer, bytes).await);
    let mut decoder = FrameDecoder::new(wire::DEFAULT_MAX_FRAME_LEN);
    let mut buf = [0u8; 1024];
    loop {
        match decoder.next_frame() {
            Ok(Some(body)) => return (Some(wire::decode_hello(body).unwrap()), conn),
            Ok(None) => {}
            Err(err) => panic!("server sent a bad preface or frame: {err}"),
        }
        let n = read_some(&mut conn.reader, &mut buf).await;
        if n == 0 {
            return (None, conn);
        }
        decoder.push(&buf[..n]);
    }
}

/// A hand-written peer on one accepted connection: it answers the hello, then reads
/// nothing until [`open`](Self::open) is called; from then on it records every message
/// (method, seq of the [`Msg`] payload) and echoes requests back.
struct RawPeer {
    addr: String,
    reading: Arc<AtomicBool>,
    got: Arc<Mutex<Vec<(String, u64)>>>,
}

impl RawPeer {
    async fn start(rt: &RuntimeHandle) -> RawPeer {
        let mut listener = rt.listen("127.0.0.1:0").await.expect("raw listen");
        let addr = listener.local_addr();
        let reading = Arc::new(AtomicBool::new(false));
        let got = Arc::new(Mutex::new(Vec::new()));
        let (r, g, runtime) = (reading.clone(), got.clone(), rt.clone());
        rt.spawn(Box::pin(async move {
            let Ok(conn) = listener.accept().await else {
                return;
            };
            let Connection {
                mut reader,
                mut writer,
                ..
            } = conn;
            // A hello with node id 0 (the dialler does not check the id).
            let hello = proto::Hello {
                protocol_version: u32::from(wire::PROTOCOL_VERSION),
                ..proto::Hello::default()
            };
            let mut out = BytesMut::new();
            wire::encode_preface(&mut out);
            wire::encode_frame(&hello, usize::MAX, &mut out).unwrap();
            if !write_all(&mut writer, &out).await {
                return;
            }
            while !r.load(Ordering::Acquire) {
                sleep(&runtime, Duration::from_millis(2)).await;
            }
            let mut decoder = FrameDecoder::new(wire::DEFAULT_MAX_FRAME_LEN);
            let mut hello_seen = false;
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = read_some(&mut reader, &mut buf).await;
                if n == 0 {
                    return;
                }
                decoder.push(&buf[..n]);
                while let Ok(Some(body)) = decoder.next_frame() {
                    if !hello_seen {
                        hello_seen = true;
                        continue;
                    }
                    let Ok(m) = wire::decode_message(body) else {
                        return;
                    };
                    let seq = Msg::decode(m.payload.clone()).map_or(u64::MAX, |m| m.seq);
                    let method = String::from_utf8_lossy(&m.method).into_owned();
                    g.lock().unwrap().push((method, seq));
                    if m.kind == proto::Kind::Request as i32 {
                        let reply = proto::Message {
                            message_seq_no: m.message_seq_no,
                            kind: proto::Kind::Reply as i32,
                            payload: m.payload,
                            ..proto::Message::default()
                        };
                        out.clear();
                        wire::encode_frame(&reply, usize::MAX, &mut out).unwrap();
                        if !write_all(&mut writer, &out).await {
                            return;
                        }
                    }
                }
            }
        }));
        RawPeer { addr, reading, got }
    }

    /// Starts reading (and answering) what the client sent.
    fn open(&self) {
        self.reading.store(true, Ordering::Release);
    }

    fn got(&self) -> Vec<(String, u64)> {
        self.got.lock().unwrap().clone()
    }
}

/// Sends one-way messages of 3 MiB to `node` until well over what the kernel (or the
/// simulator's window) buffers between a writer and a peer that does not read: the
/// client's writer then holds bytes it cannot write, and every later request waits in
/// the engine's send queue.
async fn back_up(rt: &RuntimeHandle, node: &gorums_core::api::Node, fillers: u64) {
    let big = Msg {
        text: "x".repeat(3 << 20),
        seq: 0,
        node: 0,
    };
    for i in 0..fillers {
        node.unicast(
            "test.More.Fill",
            &Msg {
                seq: i,
                ..big.clone()
            },
        )
        .expect("the send queue holds the fillers");
    }
    // Let the writer take what it can and get stuck.
    sleep(rt, Duration::from_millis(50)).await;
}

const FILLERS: u64 = 12;

// ----- cases -------------------------------------------------------------------------

/// CONFORMANCE: reply of the wrong type: a type-mismatch error (`InvalidReply`) for that
/// node, not a panic, for an RPC and a quorum call; the connection goes on.
pub async fn a_reply_of_the_wrong_type_is_an_invalid_reply(rt: RuntimeHandle) {
    let c = cluster(&rt, 3).await;
    let node = c.client.nodes()[0].clone();
    let err = node
        .rpc::<Msg, Msg, _>(method::WRONG_TYPE, &msg(1))
        .await
        .unwrap_err();
    assert_eq!(err.node, NodeId(1));
    assert!(matches!(err.failure, NodeFailure::InvalidReply(_)), "{err}");

    let err = c
        .client
        .quorum_call::<Msg, Msg>(method::WRONG_TYPE, &msg(1))
        .majority()
        .await
        .unwrap_err();
    assert_eq!(err.cause, Cause::Incomplete);
    assert!(err.node_errors.len() >= 2, "{err}");
    assert!(
        err.node_errors
            .iter()
            .all(|e| e.failure.kind() == FailureKind::InvalidReply),
        "{err}"
    );
    // Read as the type it is, the same reply is fine.
    let other = c
        .client
        .quorum_call::<Msg, service::Other>(method::WRONG_TYPE, &msg(1))
        .all()
        .await
        .unwrap();
    assert_eq!(other.number, 7);
    let reply: Msg = node.rpc(method::ECHO, &msg(2)).await.unwrap();
    assert_eq!(reply.seq, 2, "the connection went on");
}

/// CONFORMANCE: connection lost mid-call: that node's share fails at once (long before
/// the handler would have answered) and nothing is re-sent, not even once the node is
/// back on the same address (ours).
pub async fn a_connection_lost_mid_call_fails_that_share_at_once(rt: RuntimeHandle) {
    let c = cluster(&rt, 3).await;
    c.client
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(0))
        .all()
        .await
        .unwrap();
    // Nodes 1 and 2 answer after 1.5 s, node 3 after 0.6 s: the call is still pending
    // when node 3 is back.
    let mut call = c
        .client
        .quorum_call::<Msg, Msg>(method::SLOW, &msg(0))
        .map_request(|_, n| Some(msg(if n.id() == NodeId(3) { 600 } else { 1500 })));
    call.start();
    eventually(&rt, || c.seen_by(3, method::SLOW) == [600]).await;
    let stopped_at = rt.now();
    c.servers[2].0.stop();
    let first = next(&mut call).await.unwrap();
    assert_eq!(first.node, NodeId(3), "{first:?}");
    assert!(
        matches!(first.result, Err(NodeFailure::ConnectionLost(_))),
        "{first:?}"
    );
    assert!(
        rt.now() - stopped_at < Duration::from_millis(400),
        "failed at once, not when the handler would have answered"
    );
    let node3 = c.client.node(NodeId(3)).unwrap();
    assert_eq!(node3.info().failed, 1, "one share failed");

    // Node 3 comes back on its address while the call is pending: the lost request is
    // not re-sent to it.
    let _restarted = c.restart(2).await;
    eventually(&rt, || node3.is_connected()).await;
    sleep(&rt, Duration::from_millis(100)).await;
    assert!(
        c.seen_by(1, method::SLOW).len() == 1 && c.seen_by(3, method::SLOW) == [600],
        "re-sent while pending: {:?}",
        c.seen_by(3, method::SLOW)
    );
    let mut rest: Vec<u32> = Vec::new();
    while let Some(r) = next(&mut call).await {
        assert!(r.result.is_ok(), "{r:?}");
        rest.push(r.node.0);
    }
    rest.sort_unstable();
    assert_eq!(rest, [1, 2], "the other shares went on");
    drop(call);
    let reply: Msg = node3.rpc(method::SLOW, &msg(1)).await.unwrap();
    assert_eq!(reply.node, 3);
    assert_eq!(
        c.seen_by(3, method::SLOW),
        [600, 1],
        "the lost request was never re-sent"
    );
}

/// CONFORMANCE: cancel before send and during send, for one-way and two-way calls; the
/// connection survives a cancel (ours). Two-way calls (quorum call, RPC) dropped before
/// their first poll never leave; dropped while their request waits in the send queue
/// (the peer is not reading), the request is taken back. One-way calls are sent when
/// issued and have no handle to cancel: issued between two cancelled calls, they still
/// arrive, in order.
pub async fn cancel_before_and_during_send(rt: RuntimeHandle) {
    let peer = RawPeer::start(&rt).await;
    let system = System::new(
        rt.clone(),
        SystemOptions {
            endpoint: EndpointConfig {
                send_queue_limit: 64 << 20,
                ..EndpointConfig::default()
            },
            ..SystemOptions::default()
        },
    );
    let cfg = system
        .configuration(NodeList::addrs([peer.addr.clone()]))
        .unwrap();
    let node = cfg.nodes()[0].clone();
    eventually(&rt, || node.is_connected()).await;
    back_up(&rt, &node, FILLERS).await;

    // Before send: never polled.
    drop(cfg.quorum_call::<Msg, Msg>("test.More.Cancelled", &msg(1)));
    drop(node.rpc::<Msg, Msg, _>("test.More.Cancelled", &msg(2)));
    node.unicast("test.More.OneWay", &msg(3)).unwrap();
    // During send: started, their requests queued behind the fillers.
    let mut call = cfg.quorum_call::<Msg, Msg>("test.More.Cancelled", &msg(4));
    call.start();
    assert_eq!(system.live_calls(), 1);
    drop(call);
    {
        let mut rpc = pin!(node.rpc::<Msg, Msg, _>("test.More.Cancelled", &msg(5)));
        assert!(poll_once(rpc.as_mut()).is_pending());
        assert_eq!(system.live_calls(), 1);
    }
    assert_eq!(system.live_calls(), 0, "cancelled calls hold no state");
    cfg.multicast("test.More.OneWay", &msg(6)).unwrap();

    peer.open();
    let reply: Msg = node.rpc("test.More.Echo", &msg(7)).await.unwrap();
    assert_eq!(reply.seq, 7, "the connection survived the cancels");
    let got = peer.got();
    let fillers = got.iter().filter(|(m, _)| m == "test.More.Fill").count();
    assert_eq!(fillers as u64, FILLERS);
    let rest: Vec<(&str, u64)> = got
        .iter()
        .filter(|(m, _)| m != "test.More.Fill")
        .map(|(m, s)| (m.as_str(), *s))
        .collect();
    assert_eq!(
        rest,
        [
            ("test.More.OneWay", 3),
            ("test.More.OneWay", 6),
            ("test.More.Echo", 7)
        ],
        "no cancelled request reached the peer"
    );
}

/// CONFORMANCE: 1000 fire-and-forget multicasts leave no pending call state behind
/// (`live_calls`, node counters); fire-and-forget never errors while the nodes are up,
/// and every message arrives, in order; with a node down it still reaches the others
/// and fails for that node only.
pub async fn a_thousand_multicasts_leave_no_call_state(rt: RuntimeHandle) {
    let c = cluster(&rt, 3).await;
    let system = c.client.system().unwrap();
    for node in c.client.nodes() {
        eventually(&rt, || node.is_connected()).await;
    }
    for i in 0..1000 {
        c.client
            .multicast(method::RECORD, &msg(i))
            .expect("fire-and-forget never errors while the nodes are up");
        assert_eq!(system.live_calls(), 0, "a one-way call keeps no state");
    }
    for id in 1..=3 {
        eventually(&rt, || c.seen_by(id, method::RECORD).len() == 1000).await;
        assert_eq!(c.seen_by(id, method::RECORD), (0..1000).collect::<Vec<_>>());
    }
    for node in c.client.nodes() {
        let info = node.info();
        assert_eq!(
            (info.sent, info.failed, info.replied, info.dropped),
            (1000, 0, 0, 0),
            "{info:?}"
        );
    }
    assert_eq!(system.live_calls(), 0);

    // A node down: the multicast still reaches the others, and its error names only
    // that node, at once.
    c.stop(2).await;
    let err = c
        .client
        .multicast(method::RECORD, &msg(1000))
        .expect_err("a send failure for the node that is down");
    assert_eq!(err.cause, Cause::SendFailure);
    assert_eq!(err.failed_nodes().collect::<Vec<_>>(), [NodeId(3)]);
    for id in 1..=2 {
        eventually(&rt, || c.seen_by(id, method::RECORD).len() == 1001).await;
    }
    assert_eq!(system.live_calls(), 0);
}

/// CONFORMANCE: 1000 concurrent sends on one node all complete, in order; a full send
/// queue is an error for that node (`SendQueueFull`, the call's cause `SendFailure`),
/// returned at once, not a deadlock; the other nodes of the call go on, and the node
/// recovers once its queue drains.
pub async fn a_thousand_sends_on_one_node_and_a_full_send_queue(rt: RuntimeHandle) {
    let c = cluster(&rt, 1).await;
    let calls: Vec<_> = (0..1000)
        .map(|i| {
            c.client
                .quorum_call::<Msg, Msg>(method::ECHO, &msg(i))
                .async_all()
        })
        .collect();
    for (i, call) in calls.into_iter().enumerate() {
        assert_eq!(call.await.unwrap().seq, i as u64);
    }
    assert_eq!(c.seen_by(1, method::ECHO), (0..1000).collect::<Vec<_>>());

    // A peer that does not read, and a send queue of 1 MiB.
    let peer = RawPeer::start(&rt).await;
    let system = System::new(
        rt.clone(),
        SystemOptions {
            endpoint: EndpointConfig {
                send_queue_limit: 1 << 20,
                ..EndpointConfig::default()
            },
            ..SystemOptions::default()
        },
    );
    let cfg = system
        .configuration(NodeList::addrs([c.addrs[0].clone(), peer.addr.clone()]))
        .unwrap();
    let (real, mute) = (cfg.nodes()[0].clone(), cfg.nodes()[1].clone());
    eventually(&rt, || real.is_connected() && mute.is_connected()).await;
    let chunk = Msg {
        text: "y".repeat(32 << 10),
        seq: 0,
        node: 0,
    };
    let mut sent = Vec::new();
    let mut full = 0;
    for i in 0..1000u64 {
        match mute.unicast(
            "test.More.Chunk",
            &Msg {
                seq: i,
                ..chunk.clone()
            },
        ) {
            Ok(()) => sent.push(i),
            Err(e) => {
                assert_eq!(e.node, mute.id());
                assert_eq!(e.failure, NodeFailure::SendQueueFull, "{e}");
                full += 1;
            }
        }
        if i % 50 == 0 {
            // Let the writer run, so the kernel's buffers fill too.
            sleep(&rt, Duration::from_millis(1)).await;
        }
    }
    assert!(
        full > 0,
        "32 MiB to a peer that does not read fills a 1 MiB queue"
    );
    let err = cfg.multicast(method::RECORD, &chunk).unwrap_err();
    assert_eq!(err.cause, Cause::SendFailure);
    assert_eq!(err.failed_nodes().collect::<Vec<_>>(), [mute.id()]);
    let err = cfg
        .quorum_call::<Msg, Msg>(method::ECHO, &chunk)
        .all()
        .await
        .unwrap_err();
    assert_eq!(err.failed_nodes().collect::<Vec<_>>(), [mute.id()]);
    assert!(err.has_kind(FailureKind::SendQueueFull), "{err}");
    let reply = cfg
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(5))
        .first()
        .await
        .expect("the other node goes on");
    assert_eq!(reply.node, 1);

    peer.open();
    eventually(&rt, || {
        mute.unicast(
            "test.More.Chunk",
            &Msg {
                seq: 5000,
                ..msg(0)
            },
        )
        .is_ok()
    })
    .await;
    eventually(&rt, || peer.got().iter().any(|(_, s)| *s == 5000)).await;
    let got: Vec<u64> = peer
        .got()
        .iter()
        .filter(|(m, s)| m == "test.More.Chunk" && *s < 1000)
        .map(|(_, s)| *s)
        .collect();
    assert_eq!(got, sent, "what was accepted arrived, in order, once");
}

/// CONFORMANCE: `sort_by` id (and any comparator); `extend` with conflicts (ids already
/// present merge, id 0 and an id known at another address are errors) and concurrently
/// (from several threads: ids never collide); `without_errors` by failure kind.
pub async fn sort_by_id_extend_and_without_errors(rt: RuntimeHandle) {
    let c = cluster(&rt, 3).await;
    // Node 1 slowest, node 3 fastest: latency order is not id order.
    for (i, node) in c.client.nodes().iter().enumerate() {
        node.rpc::<Msg, Msg, _>(method::SLOW, &msg(30 - 10 * i as u64))
            .await
            .unwrap();
    }
    let ids =
        |nodes: Vec<gorums_core::api::Node>| nodes.iter().map(|n| n.id().0).collect::<Vec<_>>();
    assert_eq!(ids(c.client.sort_by(by_id)), [1, 2, 3]);
    assert_eq!(ids(c.client.sort_by(|a, b| b.id.cmp(&a.id))), [3, 2, 1]);
    assert_eq!(ids(c.client.sort_by(by_latency)), [3, 2, 1]);
    assert_eq!(
        c.client.ids(),
        &[NodeId(1), NodeId(2), NodeId(3)],
        "unchanged"
    );
    // The two fastest, as a configuration (Go's SortBy(...)[:2]).
    let fastest = c.client.take_sorted(2, by_latency);
    assert_eq!(fastest.ids(), &[NodeId(2), NodeId(3)]);
    assert!(fastest.contains(NodeId(3)) && !fastest.contains(NodeId(1)));
    assert_eq!(c.client.without([NodeId(1), NodeId(3)]).ids(), &[NodeId(2)]);
    // By address: a known address keeps its id, a new one gets the next id.
    let same = c
        .client
        .remove(NodeId(2))
        .extend_addrs([c.addrs[1].clone()])
        .unwrap();
    assert_eq!(same, c.client);
    let more = c.client.extend_addrs(["127.0.0.1:1"]).unwrap();
    assert_eq!(more.ids(), &[NodeId(1), NodeId(2), NodeId(3), NodeId(4)]);

    // extend: ids already present merge; id 0 is an error; the original is unchanged.
    let one = c.client.remove(NodeId(2)).remove(NodeId(3));
    let ext = one.extend([NodeId(1), NodeId(3), NodeId(3)]).unwrap();
    assert_eq!(ext.ids(), &[NodeId(1), NodeId(3)]);
    assert_eq!(one.ids(), &[NodeId(1)]);
    assert!(one.extend([NodeId(2), NodeId(0)]).is_err());
    assert_eq!(
        ext.extend([NodeId(2)]).unwrap(),
        c.client,
        "extending to the same ids gives an equal configuration"
    );
    // An id the system knows at another address conflicts; the same address keeps its id.
    let system = c.client.system().unwrap();
    let err = system
        .configuration(NodeList::map([(1, c.addrs[1].clone())]))
        .unwrap_err();
    assert!(
        matches!(
            err,
            gorums_core::api::ConfigError::Conflict { id: NodeId(1), .. }
        ),
        "{err}"
    );
    let again = system
        .configuration(NodeList::addrs([c.addrs[2].clone(), c.addrs[0].clone()]))
        .unwrap();
    assert_eq!(again.ids(), &[NodeId(1), NodeId(3)]);

    // Concurrently: tasks adding new addresses at once get distinct ids; extensions of
    // one configuration never see each other.
    let results = Arc::new(Mutex::new(Vec::new()));
    for t in 0..4u16 {
        let (system, base, results) = (system.clone(), one.clone(), results.clone());
        rt.spawn(Box::pin(async move {
            let mut mine = Vec::new();
            for k in 0..5u16 {
                let addr = format!("127.0.0.{}:{}", 2 + t, 9 + k);
                let cfg = system.configuration(NodeList::addrs([addr])).unwrap();
                mine.push(cfg.ids()[0]);
                let ext = base.extend(mine.iter().copied()).unwrap();
                assert_eq!(ext.len(), 1 + mine.len());
            }
            results.lock().unwrap().push(mine);
        }));
    }
    eventually(&rt, || results.lock().unwrap().len() == 4).await;
    let mut all: Vec<NodeId> = results.lock().unwrap().concat();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 20, "every new address got its own id");
    assert!(all.iter().all(|id| id.0 > 3));
    assert_eq!(one.ids(), &[NodeId(1)]);

    // without_errors, by kind: node 1 skipped, node 2's reply rejected by an
    // interceptor, node 3's by map_response as invalid.
    let err = c
        .client
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(1))
        .map_request(|_, n| (n.id() != NodeId(1)).then(|| msg(1)))
        .map_response(|node, r| {
            if node == NodeId(3) {
                // A real decode error: a truncated varint.
                let undecodable = <Msg as prost::Message>::decode(&[0x08][..]).unwrap_err();
                Err(NodeFailure::InvalidReply(undecodable))
            } else {
                Ok(r)
            }
        })
        .intercept(|_, r: NodeResponse<Msg>| (r.node != NodeId(2)).then_some(r))
        .first()
        .await
        .unwrap_err();
    let w = |kinds: &[FailureKind]| c.client.without_errors(&err, kinds).ids().to_vec();
    assert_eq!(w(&[]), [NodeId(1)]);
    assert_eq!(w(&[FailureKind::Rejected]), [NodeId(1), NodeId(3)]);
    assert_eq!(w(&[FailureKind::InvalidReply]), [NodeId(1), NodeId(2)]);
    assert_eq!(w(&[FailureKind::Status]), [NodeId(1), NodeId(2), NodeId(3)]);
    assert_eq!(
        one.without_errors(&err, &[]).ids(),
        &[NodeId(1)],
        "failed nodes that are not members are ignored"
    );
}

/// A server (id 1) recording what its connect and configuration-change callbacks saw.
struct Watched {
    system: System,
    addr: String,
    connects: Arc<Mutex<Vec<(NodeId, bool, String)>>>,
    changes: Arc<Mutex<Vec<Vec<NodeId>>>>,
}

async fn watched_server(rt: &RuntimeHandle) -> Watched {
    let connects = Arc::new(Mutex::new(Vec::new()));
    let changes = Arc::new(Mutex::new(Vec::new()));
    let (cn, ch) = (connects.clone(), changes.clone());
    let options = ServerOptions {
        on_connect: Some(Arc::new(move |p: &PeerInfo| {
            let who = p
                .metadata
                .iter()
                .find(|e| e.key == "who")
                .map(|e| e.value.clone())
                .unwrap_or_default();
            cn.lock().unwrap().push((p.node, p.anonymous, who));
        })),
        on_config_change: Some(Arc::new(move |cfg: &Configuration| {
            ch.lock().unwrap().push(cfg.ids().to_vec());
        })),
        ..ServerOptions::default()
    };
    let system = System::with_server(rt.clone(), SystemOptions::with_id(NodeId(1)), options);
    system.register_unary("test.More.Echo", |ctx: ServerCtx, req: Msg| async move {
        Ok(Msg {
            node: ctx.peer().0,
            ..req
        })
    });
    let addr = system.listen("127.0.0.1:0").await.unwrap();
    Watched {
        system,
        addr,
        connects,
        changes,
    }
}

/// CONFORMANCE: node id in the hello: absent and 0 (anonymous: gets an id, told in the
/// server's hello, appears in `client_config`, leaves it on disconnect), known, unknown
/// (both are accepted under the id they claim; a peer we do not dial joins the known-peer
/// configuration, one we dial joins once our own connection to it is up), and malformed
/// values rejected (an undecodable hello, another protocol version, the server's own
/// id): only that connection closes.
pub async fn node_id_in_the_hello(rt: RuntimeHandle) {
    let s = watched_server(&rt).await;
    // Node 2 is known to the server (at an address where nothing listens).
    let _known = s
        .system
        .configuration(NodeList::map([(2, "127.0.0.1:9")]))
        .unwrap();

    // Absent, and 0 written out explicitly (field 2, varint 0), from clients that serve
    // requests (field 5), so they can be called back.
    let absent = proto::Hello {
        protocol_version: u32::from(wire::PROTOCOL_VERSION),
        serves: true,
        ..proto::Hello::default()
    }
    .encode_to_vec();
    let explicit_zero = [0x08, wire::PROTOCOL_VERSION as u8, 0x10, 0x00, 0x28, 0x01];
    let mut anonymous = Vec::new();
    for body in [&absent[..], &explicit_zero[..]] {
        let (reply, conn) = dial_raw(&rt, &s.addr, &hello_bytes(body)).await;
        let reply = reply.expect("accepted");
        assert_eq!(reply.node_id, 1);
        assert!(reply.assigned_node_id > 1, "{reply:?}");
        anonymous.push((NodeId(reply.assigned_node_id), conn));
    }
    assert_ne!(anonymous[0].0, anonymous[1].0, "distinct ids");
    let ids: Vec<NodeId> = anonymous.iter().map(|(id, _)| *id).collect();
    let clients = s
        .system
        .wait_for_client_config(|c| c.len() == 2)
        .await
        .unwrap();
    assert_eq!(clients.ids(), ids);
    // A client that serves nothing gets an id for its requests, and is served, but is
    // no anonymous client of ours: it cannot be called back (as in Go Gorums).
    let no_server = proto::Hello {
        protocol_version: u32::from(wire::PROTOCOL_VERSION),
        ..proto::Hello::default()
    }
    .encode_to_vec();
    let (reply, _no_server_conn) = dial_raw(&rt, &s.addr, &hello_bytes(&no_server)).await;
    let assigned = NodeId(reply.expect("accepted").assigned_node_id);
    assert!(assigned.0 > 1 && !ids.contains(&assigned), "{assigned}");
    let clients = s.system.wait_for_client_config(|_| true).await.unwrap();
    assert_eq!(clients.ids(), ids, "not among the clients");

    // Known and unknown ids join the known peers, under the id they claim.
    let (reply, known_conn) = dial_raw(&rt, &s.addr, &hello_bytes(&hello(2))).await;
    assert_eq!(reply.expect("known id accepted").assigned_node_id, 0);
    let (reply, unknown_conn) = dial_raw(&rt, &s.addr, &hello_bytes(&hello(40))).await;
    assert_eq!(reply.expect("unknown id accepted").assigned_node_id, 0);
    // Node 2 is one we dial, and our connection to it is down: calls to it could not
    // go anywhere, so it is not in the configuration until our dial succeeds. Node 40,
    // which we do not dial, is reached over its own connection.
    let peers = s
        .system
        .wait_for_config(|c| c.ids().contains(&NodeId(40)))
        .await
        .unwrap();
    assert_eq!(peers.ids(), &[NodeId(1), NodeId(40)]);
    {
        let connects = s.connects.lock().unwrap();
        let seen: Vec<(u32, bool, &str)> = connects
            .iter()
            .map(|(n, a, w)| (n.0, *a, w.as_str()))
            .collect();
        assert_eq!(
            &seen[2..],
            [(2, false, "raw-2"), (40, false, "raw-40")],
            "{seen:?}"
        );
        assert!(
            seen[..2]
                .iter()
                .all(|(n, a, _)| *a && ids.contains(&NodeId(*n)))
        );
    }

    // Malformed: undecodable, another version, the server's own id. Each is closed
    // without a hello; the others stay.
    let other_version = proto::Hello {
        protocol_version: 99,
        node_id: 5,
        ..proto::Hello::default()
    }
    .encode_to_vec();
    for (what, body) in [
        ("undecodable", vec![0xff, 0xff, 0xff]),
        ("other version", other_version),
        ("own id", hello(1)),
    ] {
        let (reply, _conn) = dial_raw(&rt, &s.addr, &hello_bytes(&body)).await;
        assert!(reply.is_none(), "{what}: rejected, got {reply:?}");
    }
    assert_eq!(
        s.connects.lock().unwrap().len(),
        4,
        "no rejected peer connected"
    );
    assert_eq!(
        s.system
            .wait_for_config(|c| c.len() == 2)
            .await
            .unwrap()
            .ids(),
        &[NodeId(1), NodeId(40)]
    );

    // Disconnecting: anonymous clients leave the client configuration, peers the other.
    drop(anonymous);
    s.system
        .wait_for_client_config(|c| c.is_empty())
        .await
        .unwrap();
    drop((known_conn, unknown_conn));
    s.system.wait_for_config(|c| c.len() == 1).await.unwrap();
    eventually(&rt, || {
        s.changes.lock().unwrap().last().map(Vec::len) == Some(1)
    })
    .await;
}

/// CONFORMANCE: a peer that reconnects replaces its old connection (the server closes
/// the old one); the stale connection's cleanup never detaches the new one; connect and
/// configuration-change callbacks fire.
pub async fn a_reconnecting_peer_replaces_its_old_connection(rt: RuntimeHandle) {
    let s = watched_server(&rt).await;
    let peer = |tag: &'static str| {
        let system = System::new(
            rt.clone(),
            SystemOptions {
                endpoint: EndpointConfig {
                    node_id: NodeId(2),
                    metadata: vec![MetadataEntry {
                        key: "who".into(),
                        value: tag.into(),
                    }],
                    // Never redials during the case.
                    initial_backoff: Duration::from_secs(60),
                    max_backoff: Duration::from_secs(60),
                    ..EndpointConfig::default()
                },
                ..SystemOptions::default()
            },
        );
        system.register_unary(
            "test.More.Who",
            move |_ctx: ServerCtx, req: Msg| async move {
                Ok(Msg {
                    text: tag.into(),
                    ..req
                })
            },
        );
        let cfg = system
            .configuration(NodeList::map([(1, s.addr.clone())]))
            .unwrap();
        (system, cfg)
    };
    let who = |cfg: Configuration| async move {
        cfg.quorum_call::<Msg, Msg>("test.More.Who", &msg(0))
            .all()
            .await
            .map(|m| m.text)
    };

    let (old, old_cfg) = peer("old");
    let all = s.system.wait_for_config(|c| c.len() == 2).await.unwrap();
    let peers = all.remove(NodeId(1));
    assert_eq!(who(peers.clone()).await.unwrap(), "old");
    eventually(&rt, || old_cfg.nodes()[0].is_connected()).await;

    let (_new, new_cfg) = peer("new");
    eventually(&rt, || s.connects.lock().unwrap().len() == 2).await;
    eventually(&rt, || !old_cfg.nodes()[0].is_connected()).await;
    assert!(new_cfg.nodes()[0].is_connected());
    assert_eq!(
        who(peers.clone()).await.unwrap(),
        "new",
        "the new connection took over"
    );

    // The old peer goes away: its stale cleanup leaves the new connection be.
    old.stop();
    drop(old_cfg);
    sleep(&rt, Duration::from_millis(50)).await;
    assert_eq!(
        s.system.wait_for_config(|c| c.len() == 2).await.unwrap(),
        all
    );
    assert_eq!(who(peers.clone()).await.unwrap(), "new");
    let reply: Msg = new_cfg.nodes()[0]
        .rpc("test.More.Echo", &msg(1))
        .await
        .unwrap();
    assert_eq!(reply.node, 2);

    {
        let connects = s.connects.lock().unwrap();
        let seen: Vec<(u32, bool, &str)> = connects
            .iter()
            .map(|(n, a, w)| (n.0, *a, w.as_str()))
            .collect();
        assert_eq!(seen, [(2, false, "old"), (2, false, "new")]);
    }
    assert_eq!(
        *s.changes.lock().unwrap(),
        [vec![NodeId(1), NodeId(2)]],
        "replacing a connection does not change the configuration"
    );
    drop(new_cfg);
    _new.stop();
    s.system.wait_for_config(|c| c.len() == 1).await.unwrap();
    eventually(&rt, || s.changes.lock().unwrap().len() == 2).await;
    assert_eq!(s.changes.lock().unwrap()[1], [NodeId(1)]);
}

/// CONFORMANCE: handlers making multicasts over `config()` (self included); self
/// dispatch with a slow self-handler: a handler's quorum call over `config()` meets its
/// majority without waiting for the slow self-handler, which still runs to the end.
pub async fn handlers_multicast_and_call_themselves(rt: RuntimeHandle) {
    let c = cluster(&rt, 3).await;
    for (server, cfg) in &c.servers {
        let cfg = cfg.clone();
        eventually(&rt, || cfg.nodes().iter().all(|n| n.is_connected())).await;
        server.register_unary("test.More.Fanout", |ctx: ServerCtx, req: Msg| async move {
            let config = ctx.config();
            config.multicast(method::RECORD, &req).map_err(|e| {
                gorums_core::api::Status::new(gorums_core::api::Code::Internal, e.to_string())
            })?;
            Ok(Msg {
                seq: config.len() as u64,
                ..req
            })
        });
        let me = server.node_id();
        server.register_unary(
            "test.More.SlowSelf",
            move |ctx: ServerCtx, req: Msg| async move {
                let config = ctx.config();
                ctx.release();
                let reply = config
                    .quorum_call::<Msg, Msg>(method::SLOW, &req)
                    .map_request(move |_, n| Some(msg(if n.id() == me { 500 } else { 1 })))
                    .majority()
                    .await
                    .map_err(|e| {
                        gorums_core::api::Status::new(
                            gorums_core::api::Code::Internal,
                            e.to_string(),
                        )
                    })?;
                Ok(reply)
            },
        );
    }
    let reply: Msg = c.client.nodes()[1]
        .rpc("test.More.Fanout", &msg(77))
        .await
        .unwrap();
    assert_eq!(reply.seq, 3);
    for id in 1..=3 {
        eventually(&rt, || c.seen_by(id, method::RECORD) == [77]).await;
    }

    let started = rt.now();
    let reply: Msg = c.client.nodes()[0]
        .rpc("test.More.SlowSelf", &msg(0))
        .await
        .unwrap();
    assert_ne!(reply.node, 1, "answered by the others, not the slow self");
    assert!(
        rt.now() - started < Duration::from_millis(400),
        "did not wait for the slow self-handler"
    );
    assert!(c.seen_by(1, method::SLOW).contains(&500), "self was called");
    // The self-handler finishes on its own; node 1 keeps serving meanwhile.
    let echo: Msg = c.client.nodes()[0]
        .rpc(method::ECHO, &msg(3))
        .await
        .unwrap();
    assert_eq!(echo.seq, 3);
}

/// CONFORMANCE: `wait_for_config` cancelled: dropping the future stops waiting and
/// leaves nothing behind (the system holds no clone of its waker, however often it was
/// polled); later waits still work.
pub async fn a_dropped_wait_for_config_leaves_nothing_behind(rt: RuntimeHandle) {
    let s = watched_server(&rt).await;
    let counter = Arc::new(CountingWaker::default());
    {
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        let mut wait = pin!(s.system.wait_for_config(|c| c.len() == 2));
        let mut clients = pin!(s.system.wait_for_client_config(|c| c.len() == 1));
        for _ in 0..100 {
            assert!(wait.as_mut().poll(&mut cx).is_pending());
            assert!(clients.as_mut().poll(&mut cx).is_pending());
        }
    }
    assert_eq!(
        Arc::strong_count(&counter),
        1,
        "the dropped waits left clones of their waker behind"
    );

    // A peer joins: nothing wakes the dropped waits; a new wait sees it.
    let pending = s.system.wait_for_config(|c| c.len() == 2);
    let peer = System::new(rt.clone(), SystemOptions::with_id(NodeId(2)));
    let _cfg = peer
        .configuration(NodeList::map([(1, s.addr.clone())]))
        .unwrap();
    assert_eq!(pending.await.unwrap().ids(), &[NodeId(1), NodeId(2)]);
    assert_eq!(counter.0.load(Ordering::Acquire), 0);
}

/// CONFORMANCE: client interceptors: a custom one combined with `map_request`: it sees
/// the call's unmapped request and each node's reply to its own mapped request, can
/// rewrite the replies, and never sees the skipped node.
pub async fn a_custom_client_interceptor_with_map_request(rt: RuntimeHandle) {
    let c = cluster(&rt, 3).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let call = || {
        let s = s.clone();
        c.client
            .quorum_call::<Msg, Msg>(method::ECHO, &msg(1))
            .map_request(|_, n| (n.id() != NodeId(3)).then(|| msg(u64::from(n.id().0) * 100)))
            .intercept(move |info, r: NodeResponse<Msg>| {
                let request = Msg::decode(info.request.clone()).unwrap();
                s.lock().unwrap().push((
                    r.node.0,
                    request.seq,
                    r.result.as_ref().map(|m| m.seq).ok(),
                ));
                Some(NodeResponse {
                    node: r.node,
                    result: r.result.map(|m| Msg {
                        text: "intercepted".into(),
                        seq: m.seq + 1,
                        ..m
                    }),
                })
            })
    };
    let mut replies: Vec<(u32, u64, String)> = call()
        .collect_all()
        .await
        .into_iter()
        .map(|r| {
            let m = r.result.unwrap();
            (r.node.0, m.seq, m.text)
        })
        .collect();
    replies.sort_unstable();
    assert_eq!(
        replies,
        [
            (1, 101, "intercepted".to_owned()),
            (2, 201, "intercepted".to_owned())
        ]
    );
    let mut log = seen.lock().unwrap().clone();
    log.sort_unstable();
    assert_eq!(
        log,
        [(1, 1, Some(100)), (2, 1, Some(200))],
        "the skipped node 3 never reached the interceptor"
    );
    let reply = call().majority().await.unwrap();
    assert_eq!(reply.text, "intercepted");
    assert_eq!(reply.seq, u64::from(reply.node) * 100 + 1);
    assert!(
        call().all().await.is_err(),
        "the skipped node cannot answer"
    );
}

/// How long `ordering_stress_run_opt_in` loops the ordering cases: `GORUMS_STRESS_SECS`
/// seconds (at most 25, under the adapters' 30 s limit); 0 when unset.
fn stress_secs() -> u64 {
    std::env::var("GORUMS_STRESS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0u64)
        .min(25)
}

/// CONFORMANCE: opt-in stress run of the ordering tests for several seconds: with
/// `GORUMS_STRESS_SECS=5` it loops the ordering cases for 5 s; by default (off) it makes
/// one short round of interleaved RPCs, async quorum calls and multicasts and checks
/// that every server saw them in issue order.
pub async fn ordering_stress_run_opt_in(rt: RuntimeHandle) {
    let secs = stress_secs();
    let c = cluster(&rt, 3).await;
    let node = c.client.nodes()[0].clone();
    let mut pending = Vec::new();
    for i in 0..60u64 {
        match i % 3 {
            0 => pending.push(
                c.client
                    .quorum_call::<Msg, Msg>(method::ECHO, &msg(i))
                    .async_majority(),
            ),
            1 => c.client.multicast(method::RECORD, &msg(i)).unwrap(),
            _ => {
                node.rpc::<Msg, Msg, _>(method::ECHO, &msg(i))
                    .await
                    .unwrap();
            }
        }
    }
    for p in pending {
        p.await.unwrap();
    }
    let seen_all = |id: u32| -> Vec<u64> {
        c.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, _, _)| *n == id)
            .map(|(_, _, s)| *s)
            .collect()
    };
    for id in 1..=3 {
        let expected: Vec<u64> = (0..60).filter(|i| id == 1 || i % 3 != 2).collect();
        eventually(&rt, || seen_all(id).len() == expected.len()).await;
        assert_eq!(
            seen_all(id),
            expected,
            "node {id} saw the calls in issue order"
        );
    }
    if secs == 0 {
        return;
    }
    let deadline = rt.now() + Duration::from_secs(secs);
    let mut rounds = 0u32;
    while rt.now() < deadline {
        crate::cases::fifo_per_sender_and_release(rt.clone()).await;
        crate::cases::async_calls_reach_every_node_in_issue_order(rt.clone()).await;
        rounds += 1;
    }
    assert!(rounds > 0);
}
