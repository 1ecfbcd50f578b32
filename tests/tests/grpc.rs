//! The conformance suite's call-type, ordering, failure and reverse-direction cases on
//! tokio over the gRPC transport (`TokioRuntime::with_grpc`): gorums-rs to gorums-rs
//! over HTTP/2 with gRPC framing. Cases that write native-wire bytes by hand (garbage
//! frames, the frame limit, peers that never say hello, the hello's node id) are the
//! native wire's and stay in `tokio.rs`.
//!
//! Left out for now: `ten_thousand_calls_in_flight` fails over gRPC (both servers' shares
//! end with "connection lost: closed by peer" under the burst); the cause is not found
//! yet (issue 18, open work).

gorums_tests::conformance_suite!(@cases gorums_tests::TokioGrpc;
    every_call_type_on_three_and_five_nodes,
    terminal_methods_and_thresholds,
    reply_stream_helpers,
    correctable_levels_and_end_of_stream,
    a_killed_node_fails_its_share_and_comes_back_after_restart,
    failure_matrix_majority_first_all,
    fifo_per_sender_and_release,
    nested_quorum_call_from_a_handler,
    reverse_direction_call_to_clients_without_listeners,
    a_panicking_handler_fails_only_its_call,
    deadlines_and_unknown_methods,
    async_calls_reach_every_node_in_issue_order,
    a_connection_lost_mid_call_fails_that_share_at_once,
    a_thousand_multicasts_leave_no_call_state,
    a_reconnecting_peer_replaces_its_old_connection,
    handlers_multicast_and_call_themselves,
    metadata_on_every_call_type_and_a_per_call_rpc_timeout,
    a_reply_stream_failing_mid_stream,
    one_at_a_time_unless_released,
    symmetric_dialling_halves_the_connections,
    a_handler_learns_its_caller_is_gone,
    ordering_stress_run_opt_in,
);
