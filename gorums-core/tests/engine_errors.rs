//! The errors a user reads: what a failed call, a node's failure and a status say when
//! printed, what `has_kind` and `source` answer, the gRPC numbering of status codes, and
//! when two connection errors are the same.

use std::error::Error;
use std::io;

use gorums_core::engine::{
    Cause, Code, ConnectionError, FailureKind, NodeError, NodeFailure, NodeId, QuorumCallError,
    Status, UsageError,
};
use gorums_core::wire::WireError;

fn node_error(node: u32, failure: NodeFailure) -> NodeError {
    NodeError {
        node: NodeId(node),
        failure,
    }
}

/// A real decode error: a field key with wire type 7, which does not exist.
fn undecodable() -> prost::DecodeError {
    <gorums_core::wire::proto::Message as prost::Message>::decode(&[0x0f_u8][..])
        .expect_err("wire type 7 is invalid")
}

#[test]
fn a_call_error_names_its_cause_and_every_failed_node_in_id_order() {
    let err = QuorumCallError::new(
        Cause::Incomplete,
        vec![
            node_error(3, NodeFailure::NoReply),
            node_error(1, NodeFailure::SendQueueFull),
        ],
    );
    assert_eq!(
        err.to_string(),
        "quorum call error: incomplete call (node 1: send queue full; node 3: no reply within the deadline)"
    );

    let alone = QuorumCallError::new(Cause::DeadlineExceeded, Vec::new());
    assert_eq!(alone.to_string(), "quorum call error: deadline exceeded");
}

#[test]
fn every_cause_reads_as_what_happened() {
    let cases = [
        (Cause::Incomplete, "incomplete call"),
        (Cause::SendFailure, "send failure"),
        (Cause::DeadlineExceeded, "deadline exceeded"),
        (Cause::Cancelled, "call cancelled"),
        (
            Cause::Usage(UsageError::ReservedNodeId),
            "usage error: node id 0 is reserved",
        ),
    ];
    for (cause, text) in cases {
        assert_eq!(cause.to_string(), text);
        assert_eq!(
            QuorumCallError::new(cause, Vec::new()).to_string(),
            format!("quorum call error: {text}")
        );
    }
}

#[test]
fn has_kind_says_whether_some_node_failed_that_way() {
    let err = QuorumCallError::new(
        Cause::Incomplete,
        vec![
            node_error(1, NodeFailure::NoReply),
            node_error(2, NodeFailure::Status(Status::new(Code::Internal, "boom"))),
        ],
    );
    assert!(err.has_kind(FailureKind::NoReply));
    assert!(err.has_kind(FailureKind::Status));
    assert!(!err.has_kind(FailureKind::SendQueueFull));
    assert!(!err.has_kind(FailureKind::ConnectionLost));
    assert!(!QuorumCallError::new(Cause::Cancelled, Vec::new()).has_kind(FailureKind::NoReply));
    assert_eq!(
        err.failed_nodes().collect::<Vec<_>>(),
        [NodeId(1), NodeId(2)]
    );
    assert_eq!(
        err.node_error(NodeId(2)).map(|e| e.failure.kind()),
        Some(FailureKind::Status)
    );
    assert!(err.node_error(NodeId(3)).is_none());
}

#[test]
fn a_call_errors_source_is_its_usage_error_or_its_first_node_error() {
    let usage = QuorumCallError::usage(UsageError::DuplicateNode(NodeId(4)));
    let source = usage.source().expect("a usage error has a source");
    assert_eq!(
        source.downcast_ref::<UsageError>(),
        Some(&UsageError::DuplicateNode(NodeId(4)))
    );

    let failed = QuorumCallError::new(
        Cause::Incomplete,
        vec![
            node_error(5, NodeFailure::NoReply),
            node_error(2, NodeFailure::SendQueueFull),
        ],
    );
    let source = failed.source().expect("a node error is the source");
    assert_eq!(
        source.downcast_ref::<NodeError>(),
        Some(&node_error(2, NodeFailure::SendQueueFull))
    );

    assert!(
        QuorumCallError::new(Cause::Cancelled, Vec::new())
            .source()
            .is_none()
    );
}

#[test]
fn a_nodes_failure_reads_as_what_went_wrong_and_chains_to_its_cause() {
    let refused = ConnectionError::io("connect", io::Error::from(io::ErrorKind::ConnectionRefused));
    let cases = [
        (
            NodeFailure::Status(Status::new(Code::NotFound, "no such key")),
            "node replied with status NotFound: no such key",
        ),
        (
            NodeFailure::ConnectionLost(ConnectionError::ClosedByPeer),
            "connection lost: connection closed by peer",
        ),
        (NodeFailure::NotConnected(None), "not connected"),
        (
            NodeFailure::NotConnected(Some(ConnectionError::HandshakeTimeout)),
            "not connected: connect timeout: no hello in time",
        ),
        (NodeFailure::SendQueueFull, "send queue full"),
        (
            NodeFailure::Encode(WireError::FrameTooLarge { len: 9, max: 8 }),
            "request not sent: frame of 9 bytes exceeds the maximum of 8 bytes",
        ),
        (NodeFailure::NoReply, "no reply within the deadline"),
        (
            NodeFailure::Usage(UsageError::ConnectionClosed),
            "usage error: the requester's connection is closed",
        ),
        (
            NodeFailure::Rejected("stale".into()),
            "rejected by a client interceptor: stale",
        ),
    ];
    for (failure, text) in cases {
        assert_eq!(failure.to_string(), text);
    }
    assert_eq!(
        node_error(7, NodeFailure::SendQueueFull).to_string(),
        "node 7: send queue full"
    );

    // The chain reaches the transport's io error, so a user can match its kind.
    let lost = node_error(1, NodeFailure::ConnectionLost(refused.clone()));
    let failure = lost.source().expect("the failure");
    let conn = failure.source().expect("the connection error");
    assert_eq!(conn.downcast_ref::<ConnectionError>(), Some(&refused));
    let io = conn.source().and_then(|e| e.downcast_ref::<io::Error>());
    assert_eq!(
        io.map(io::Error::kind),
        Some(io::ErrorKind::ConnectionRefused)
    );
}

#[test]
fn every_failure_has_its_own_kind() {
    let cases = [
        (
            NodeFailure::Status(Status::new(Code::Internal, "")),
            FailureKind::Status,
        ),
        (
            NodeFailure::ConnectionLost(ConnectionError::ClosedByPeer),
            FailureKind::ConnectionLost,
        ),
        (NodeFailure::NotConnected(None), FailureKind::NotConnected),
        (NodeFailure::SendQueueFull, FailureKind::SendQueueFull),
        (
            NodeFailure::Encode(WireError::FrameTooLarge { len: 9, max: 8 }),
            FailureKind::Encode,
        ),
        (
            NodeFailure::InvalidReply(undecodable()),
            FailureKind::InvalidReply,
        ),
        (NodeFailure::Rejected(String::new()), FailureKind::Rejected),
        (NodeFailure::NoReply, FailureKind::NoReply),
        (
            NodeFailure::Usage(UsageError::ReservedNodeId),
            FailureKind::Usage,
        ),
    ];
    for (failure, kind) in cases {
        assert_eq!(failure.kind(), kind, "{failure}");
    }
}

/// Status codes are gRPC's numbers, so a status crosses a gRPC transport (and reaches a
/// Go Gorums peer) as the same code.
#[test]
fn status_codes_are_numbered_as_grpcs() {
    let grpc = [
        (0, Code::Ok),
        (1, Code::Cancelled),
        (2, Code::Unknown),
        (3, Code::InvalidArgument),
        (4, Code::DeadlineExceeded),
        (5, Code::NotFound),
        (6, Code::AlreadyExists),
        (7, Code::PermissionDenied),
        (8, Code::ResourceExhausted),
        (9, Code::FailedPrecondition),
        (10, Code::Aborted),
        (11, Code::OutOfRange),
        (12, Code::Unimplemented),
        (13, Code::Internal),
        (14, Code::Unavailable),
        (15, Code::DataLoss),
        (16, Code::Unauthenticated),
    ];
    for (number, code) in grpc {
        assert_eq!(Code::from_i32(number), code);
        assert_eq!(code.as_i32(), number);
    }
    assert_eq!(Code::from_i32(17), Code::Unknown);
    assert_eq!(Code::from_i32(-1), Code::Unknown);
    assert_eq!(
        Status::new(Code::Unavailable, "draining").to_string(),
        "Unavailable: draining"
    );
}

/// Connection errors compare by variant and details (a test or a driver matches a close
/// reason with `==`); a wire error is the source of the connection error it caused.
#[test]
fn connection_errors_are_equal_only_with_the_same_details() {
    let io = |doing, kind| ConnectionError::io(doing, io::Error::from(kind));
    let pipe = io::ErrorKind::BrokenPipe;
    assert_eq!(io("read", pipe), io("read", pipe));
    assert_ne!(io("read", pipe), io("write", pipe));
    assert_ne!(io("read", pipe), io("read", io::ErrorKind::ConnectionReset));
    let spoofed = |claimed, certified| ConnectionError::SpoofedId {
        claimed: NodeId(claimed),
        certified: NodeId(certified),
    };
    assert_eq!(spoofed(3, 2), spoofed(3, 2));
    assert_ne!(spoofed(3, 2), spoofed(4, 2));
    assert_ne!(spoofed(3, 2), spoofed(3, 4));
    assert_ne!(
        ConnectionError::ClosedByPeer,
        ConnectionError::HandshakeTimeout
    );

    let wire = ConnectionError::Wire(WireError::Compressed);
    assert_eq!(
        wire.source().map(|e| e.to_string()),
        Some(WireError::Compressed.to_string())
    );
    assert!(ConnectionError::ClosedByPeer.source().is_none());
}

/// Ids read in logs and errors as what they name.
#[test]
fn ids_print_as_what_they_name() {
    assert_eq!(gorums_core::engine::ConnId(3).to_string(), "conn 3");
    assert_eq!(NodeId(3).to_string(), "node 3");
}

/// A driver's clock crosses into the engine as nanoseconds and back unchanged.
#[test]
fn an_instant_is_its_nanoseconds() {
    use gorums_core::engine::Instant;
    let t = Instant::from_nanos(1_500);
    assert_eq!(t.as_nanos(), 1_500);
    assert_eq!(t - Instant::ZERO, std::time::Duration::from_nanos(1_500));
}
