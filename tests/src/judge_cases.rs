//! Conformance cases for the one judge and for typed errors: the public `fold` decides
//! as the terminal methods do; a correctable ends when its streams end; a missing reply,
//! a refused connection and a reply that fails to decode each say what happened, with
//! their sources chained.

use std::error::Error as _;
use std::io;
use std::sync::Mutex;
use std::time::Duration;

use gorums_core::api::{
    Cause, ConnectionError, FailureKind, NodeFailure, NodeId, Quorum, QuorumCallError,
};
use gorums_core::runtime::RuntimeHandle;

use crate::service::{Msg, method};
use crate::support::{cluster, eventually, msg};

/// CONFORMANCE (ours): `Responses::fold` under a quorum folds exactly the successful
/// replies that met it and returns at once; with failures it fails as soon as the quorum
/// cannot be met, naming every failed node; a reply an interceptor rejects counts as a
/// failure, not a success.
pub async fn fold_decides_like_the_terminal_methods(rt: RuntimeHandle) {
    let c = cluster(&rt, 3).await;
    // Node ids of the replies that met a majority: two distinct nodes.
    let folded = c
        .client
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(1))
        .fold(Quorum::Majority, Vec::new(), |mut seen, node, reply| {
            assert_eq!(NodeId(reply.node), node, "a reply is its node's");
            seen.push(node);
            seen
        })
        .await
        .unwrap();
    assert_eq!(folded.len(), 2, "{folded:?}");
    assert_ne!(folded[0], folded[1]);

    // All three, the largest node id wins.
    let largest = c
        .client
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(2))
        .fold(Quorum::All, 0, |max, _, reply| max.max(reply.node))
        .await
        .unwrap();
    assert_eq!(largest, 3);

    // The empty configuration: `all` is met at once, `majority` fails at once.
    let empty = c.client.difference(&c.client);
    assert!(empty.is_empty());
    let none = empty
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(4))
        .fold(Quorum::All, 7, |n, _, _| n + 1)
        .await;
    assert_eq!(none, Ok(7));
    let err = empty
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(5))
        .majority()
        .await
        .unwrap_err();
    assert_eq!(err.cause, Cause::Incomplete);
    assert_eq!(empty.majority(), Quorum::Majority.required(0));

    // An interceptor rejects nodes 1 and 2 (which answer at once) while node 3 sleeps
    // 20 s: the fold fails as soon as a majority cannot be met, naming both, without
    // waiting for node 3 (a rejected reply is a failure, not a success).
    let started = rt.now();
    let err: QuorumCallError = c
        .client
        .quorum_call::<Msg, Msg>(method::SLOW, &msg(0))
        .map_request(|_, node| Some(msg(if node.id() == NodeId(3) { 20_000 } else { 0 })))
        .intercept(|_, r| (r.node == NodeId(3)).then_some(r))
        .fold(Quorum::Majority, 0usize, |n, _, _| n + 1)
        .await
        .unwrap_err();
    assert!(
        rt.now() - started < Duration::from_secs(10),
        "waited for node 3"
    );
    assert_eq!(err.cause, Cause::Incomplete);
    assert_eq!(
        err.failed_nodes().collect::<Vec<_>>(),
        [NodeId(1), NodeId(2)]
    );
    assert!(err.has_kind(FailureKind::Rejected));
}

/// CONFORMANCE (ours): typed errors. An RPC that gets no reply before its deadline says
/// so (not a made-up status); a node that refuses connections reports the io error with
/// its kind, reachable through `source()`; a reply that does not decode is an
/// `InvalidReply` whose source is the decode error.
pub async fn errors_say_what_happened_and_chain_their_sources(rt: RuntimeHandle) {
    let c = cluster(&rt, 2).await;
    let short = c.client.with_timeout(Duration::from_millis(30));
    let err = short.nodes()[0]
        .rpc::<Msg, Msg, _>(method::HANG, &msg(1))
        .await
        .unwrap_err();
    assert_eq!(err.node, NodeId(1));
    assert_eq!(err.failure, NodeFailure::NoReply, "{err}");
    assert_eq!(err.failure.to_string(), "no reply within the deadline");

    // The handler replies with an `Other`, whose field 1 is not `Msg`'s string.
    let err = c.client.nodes()[1]
        .rpc::<Msg, Msg, _>(method::WRONG_TYPE, &msg(1))
        .await
        .unwrap_err();
    let NodeFailure::InvalidReply(decode) = &err.failure else {
        panic!("expected an invalid reply, got {err}");
    };
    let source = err
        .failure
        .source()
        .expect("the decode error is the source");
    assert_eq!(source.to_string(), decode.to_string());

    // Node 2 stops; its redials are refused.
    c.stop(1).await;
    let node = c.client.nodes()[1].clone();
    let refused = |failure: &NodeFailure| match failure {
        NodeFailure::NotConnected(Some(e)) | NodeFailure::ConnectionLost(e) => {
            e.io_kind() == Some(io::ErrorKind::ConnectionRefused)
        }
        _ => false,
    };
    eventually(&rt, || node.last_error().is_some_and(|f| refused(&f))).await;
    let failure = node.last_error().unwrap();
    let conn = failure
        .source()
        .and_then(|s| s.downcast_ref::<ConnectionError>())
        .expect("a connection error is the source");
    let io = conn
        .source()
        .and_then(|s| s.downcast_ref::<io::Error>())
        .expect("the io error is its source");
    assert_eq!(io.kind(), io::ErrorKind::ConnectionRefused);
    assert!(failure.to_string().contains("connect failed"), "{failure}");
}

/// CONFORMANCE (ours): the frame limit through the API. A request just under the limit
/// goes through; one over it fails for every node with `Encode` at once, sending
/// nothing; a reply over the limit fails that one call with `ResourceExhausted`, and the
/// connection goes on; a peer that sends an oversized frame is cut off within a bound.
pub async fn the_frame_limit_through_the_api(rt: RuntimeHandle) {
    use gorums_core::api::Code;
    use gorums_core::wire::{DEFAULT_MAX_FRAME_LEN, WireError};

    let c = cluster(&rt, 2).await;
    let text = |len: usize| Msg {
        text: "x".repeat(len),
        ..msg(1)
    };
    // Field tags, lengths and the seq take a few bytes of the envelope besides the text.
    let near = c
        .client
        .quorum_call::<Msg, Msg>(method::ECHO, &text(DEFAULT_MAX_FRAME_LEN - 256))
        .all()
        .await
        .map(|reply| reply.text.len());
    assert_eq!(
        near,
        Ok(DEFAULT_MAX_FRAME_LEN - 256),
        "a request near the limit"
    );

    let over = c
        .client
        .quorum_call::<Msg, Msg>(method::ECHO, &text(DEFAULT_MAX_FRAME_LEN))
        .all()
        .await
        .map(|reply| reply.text.len());
    let Err(err) = over else {
        panic!("a request over the limit went through: {over:?}");
    };
    assert_eq!(
        err.failed_nodes().collect::<Vec<_>>(),
        [NodeId(1), NodeId(2)]
    );
    for e in &err.node_errors {
        assert!(
            matches!(
                &e.failure,
                NodeFailure::Encode(WireError::OutgoingTooLarge { .. })
            ),
            "{e}"
        );
        assert_eq!(e.failure.kind(), FailureKind::Encode);
    }
    let node = c.client.nodes()[0].clone();
    assert!(node.is_connected(), "nothing was sent, nothing closed");

    // The request is small; its reply is over the limit.
    let grown = Msg {
        seq: DEFAULT_MAX_FRAME_LEN as u64,
        ..msg(1)
    };
    match node.rpc::<Msg, Msg, _>(method::PAD, &grown).await {
        Err(e) => assert!(
            matches!(&e.failure, NodeFailure::Status(s) if s.code == Code::ResourceExhausted),
            "{e}"
        ),
        Ok(reply) => panic!("a reply of {} bytes went through", reply.text.len()),
    }
    let after: Msg = node
        .rpc(method::ECHO, &msg(9))
        .await
        .expect("the connection goes on");
    assert_eq!(after.seq, 9);
}

/// CONFORMANCE: per-message metadata on every call type (RPC, unicast, multicast, quorum
/// call) reaches the handler; an RPC takes a deadline of its own without a new
/// configuration.
pub async fn metadata_on_every_call_type_and_a_per_call_rpc_timeout(rt: RuntimeHandle) {
    use gorums_core::api::CallOptions;

    let c = cluster(&rt, 2).await;
    let node = c.client.nodes()[0].clone();
    let with = |v: &str| CallOptions::new().metadata("k", v);
    let reply: Msg = node
        .rpc_with(method::META, &msg(1), with("rpc"))
        .await
        .unwrap();
    assert_eq!(reply.text, "rpc");
    let reply: Msg = c
        .client
        .quorum_call::<Msg, Msg>(method::META, &msg(1))
        .metadata("k", "qc")
        .all()
        .await
        .unwrap();
    assert_eq!(reply.text, "qc");
    node.unicast_with(method::RECORD_META, &msg(1), with("7"))
        .unwrap();
    c.client
        .multicast_with(method::RECORD_META, &msg(1), with("8"))
        .unwrap();
    eventually(&rt, || c.seen_by(1, method::RECORD_META) == [7, 8]).await;
    eventually(&rt, || c.seen_by(2, method::RECORD_META) == [8]).await;

    // A deadline on this RPC alone; the configuration has none.
    let started = rt.now();
    let err = node
        .rpc_with::<Msg, Msg, _>(
            method::HANG,
            &msg(1),
            CallOptions::new().timeout(Duration::from_millis(50)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.failure, NodeFailure::NoReply, "{err}");
    assert!(rt.now() - started < Duration::from_secs(2));
}

/// The process-wide recorder of the metrics cases (a recorder is installed once per
/// process; only systems that ask for metrics record, and only the metrics case does).
fn recorder() -> &'static metrics_util::debugging::Snapshotter {
    static SNAPSHOTTER: std::sync::OnceLock<metrics_util::debugging::Snapshotter> =
        std::sync::OnceLock::new();
    SNAPSHOTTER.get_or_init(|| {
        let recorder = metrics_util::debugging::DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let _ = metrics::set_global_recorder(recorder);
        snapshotter
    })
}

/// The counter `name` whose labels include every one of `labels`, summed, since the
/// process started (the recorder's snapshots hand out what was added since the last one,
/// so they are added up here).
fn counted(name: &str, labels: &[(&str, &str)]) -> u64 {
    use metrics_util::debugging::DebugValue;
    /// A counter's name, its labels, and its total so far.
    type Total = (String, Vec<(String, String)>, u64);
    static TOTALS: Mutex<Vec<Total>> = Mutex::new(Vec::new());
    let mut totals = TOTALS.lock().unwrap();
    for (key, _, _, value) in recorder().snapshot().into_vec() {
        let DebugValue::Counter(n) = value else {
            continue;
        };
        let key = key.key();
        let name = key.name().to_owned();
        let labels: Vec<(String, String)> = key
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        match totals
            .iter_mut()
            .find(|(k, l, _)| *k == name && *l == labels)
        {
            Some(total) => total.2 += n,
            None => totals.push((name, labels, n)),
        }
    }
    totals
        .iter()
        .filter(|(k, l, _)| {
            k == name
                && labels
                    .iter()
                    .all(|(lk, lv)| l.iter().any(|(k, v)| k == lk && v == lv))
        })
        .map(|(_, _, n)| n)
        .sum()
}

/// CONFORMANCE (ours): with `SystemOptions::metrics`, calls, replies and failures per
/// method and node are counted on the client, and handled requests and failures per
/// method on the server, through the `metrics` facade; without it nothing is recorded.
pub async fn metrics_per_method_and_node(rt: RuntimeHandle) {
    use gorums_core::api::{Configuration, NodeList, SystemOptions, local_systems};

    let _ = recorder();
    let seen = crate::service::Seen::default();
    let options = SystemOptions {
        metrics: true,
        ..SystemOptions::default()
    };
    let servers = local_systems(rt.clone(), 2, options.clone(), |s| {
        crate::service::register(s, rt.clone(), seen.clone())
    })
    .await
    .unwrap();
    let addrs: Vec<String> = servers
        .iter()
        .map(|(s, c)| c.node(s.node_id()).unwrap().addr().to_owned())
        .collect();
    let client = Configuration::new(rt.clone(), NodeList::addrs(addrs), options).unwrap();
    let before = |name: &str, labels: &[(&str, &str)]| counted(name, labels);
    let calls0 = before(
        "gorums_client_calls_total",
        &[("method", method::FAIL), ("kind", "quorumcall")],
    );
    let fails0 = before(
        "gorums_client_failures_total",
        &[("method", method::FAIL), ("kind", "status")],
    );
    let served0 = before("gorums_server_failures_total", &[("method", method::FAIL)]);
    // Every outcome is read (a terminal method stops reading once it is decided, and
    // only the outcomes a caller sees are counted).
    for _ in 0..3 {
        let outcomes = client
            .quorum_call::<Msg, Msg>(method::FAIL, &msg(1))
            .collect_all()
            .await;
        assert_eq!(outcomes.len(), 2);
    }
    let ok0 = before(
        "gorums_client_replies_total",
        &[("method", method::PAD), ("node", "2")],
    );
    client.nodes()[1]
        .rpc::<Msg, Msg, _>(method::PAD, &msg(1))
        .await
        .unwrap();
    eventually(&rt, || {
        counted("gorums_server_failures_total", &[("method", method::FAIL)]) == served0 + 6
    })
    .await;
    assert_eq!(
        counted(
            "gorums_client_calls_total",
            &[("method", method::FAIL), ("kind", "quorumcall")]
        ) - calls0,
        3,
        "counted by method and kind"
    );
    assert_eq!(
        counted(
            "gorums_client_failures_total",
            &[("method", method::FAIL), ("kind", "status")]
        ) - fails0,
        6,
        "two nodes failed each of three calls"
    );
    assert_eq!(
        counted(
            "gorums_client_replies_total",
            &[("method", method::PAD), ("node", "2")]
        ) - ok0,
        1
    );
}
