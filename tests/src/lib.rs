//! The gorums-rs conformance suite: one set of tests, written against the
//! runtime-agnostic API, run against every adapter.
//!
//! Each case in [`cases`], [`more_cases`], [`judge_cases`], [`behaviour_cases`],
//! [`porting_cases`], [`handshake_cases`] and [`fault_cases`] is an `async fn(RuntimeHandle)`;
//! [`conformance_suite!`] turns the list of cases into `#[test]` functions for one
//! [`Adapter`]. `tests/tokio.rs`, `tests/smol.rs` and `tests/sim.rs` run it on tokio,
//! smol and the simulator: one file each, not a copy of the tests.
//!
//! Stress run (opt in): `GORUMS_STRESS_SECS=5 cargo test -p gorums-tests ordering_stress`
//! loops the ordering cases for 5 s (at most 25, under the 30 s limit per case); unset,
//! `ordering_stress_run_opt_in` makes one short ordering round.
//!
//! Many seeds (opt in): `tests/sim_seeds.rs` runs the fault cases (one under random
//! connection resets) and some ordering and failure cases on the simulator over a
//! handful of seeds, each seed twice with one event hash ([`seeds`]);
//! `GORUMS_SIM_SEEDS=300 cargo test -p gorums-tests --test sim_seeds` runs 300 and
//! `GORUMS_SIM_SEED=<seed>` replays one.
//!
//! `tests/CONFORMANCE.md` maps each line of the project's checklist to the cases that
//! check it; `tests/conformance_map.rs` keeps it from naming tests that are gone.

// This crate is a test suite: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

pub mod behaviour_cases;
pub mod cases;
pub mod fault_cases;
pub mod handshake_cases;
pub mod judge_cases;
pub mod more_cases;
pub mod porting_cases;
pub mod seeds;
pub mod service;
mod support;
pub mod tls_cases;

use std::future::Future;

use gorums_core::runtime::RuntimeHandle;

/// How to run one async test on a runtime.
pub trait Adapter {
    /// Builds a runtime, runs `test` on it to completion, and tears it down.
    fn run<F, Fut>(test: F)
    where
        F: FnOnce(RuntimeHandle) -> Fut,
        Fut: Future<Output = ()> + Send + 'static;
}

/// The tokio adapter, on a multi-thread runtime with two workers (the machine's cores).
#[derive(Debug)]
pub struct Tokio;

impl Adapter for Tokio {
    fn run<F, Fut>(test: F)
    where
        F: FnOnce(RuntimeHandle) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        run_tokio(gorums_tokio::runtime, test);
    }
}

/// The tokio adapter speaking Go Gorums' gRPC wire (`TokioRuntime::with_grpc`), on the
/// same runtime as [`Tokio`].
#[derive(Debug)]
pub struct TokioGrpc;

impl Adapter for TokioGrpc {
    fn run<F, Fut>(test: F)
    where
        F: FnOnce(RuntimeHandle) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        run_tokio(
            || std::sync::Arc::new(gorums_tokio::TokioRuntime::current().with_grpc()),
            test,
        );
    }
}

/// The tokio adapter over TLS ([`cluster_tls`](tls_cases::cluster_tls): every node's
/// certificate valid for loopback, client certificates required).
#[derive(Debug)]
pub struct TokioTls;

impl Adapter for TokioTls {
    fn run<F, Fut>(test: F)
    where
        F: FnOnce(RuntimeHandle) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        run_tokio(
            || {
                std::sync::Arc::new(
                    gorums_tokio::TokioRuntime::current().with_tls(tls_cases::cluster_tls()),
                )
            },
            test,
        );
    }
}

/// Runs `test` on a multi-thread tokio runtime with two workers (the machine's cores),
/// on the gorums runtime `make` gives inside it.
fn run_tokio<F, Fut>(make: impl FnOnce() -> RuntimeHandle, test: F)
where
    F: FnOnce(RuntimeHandle) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let handle = rt.block_on(async { make() });
    let fut = test(handle);
    rt.block_on(async move {
        // A hung case fails instead of hanging the suite.
        tokio::time::timeout(std::time::Duration::from_secs(30), fut)
            .await
            .expect("conformance case timed out after 30 s");
    });
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
}

/// Expands to one `#[test]` per conformance case, run on `$adapter`; with `over_tls`,
/// to the cases about calls, failures and the reverse direction only, for an adapter
/// that speaks TLS ([`TokioTls`], [`SmolTls`]).
#[macro_export]
macro_rules! conformance_suite {
    ($adapter:ty) => {
        $crate::conformance_suite!(@tls_able $adapter);
        $crate::conformance_suite!(@cases $adapter;
            garbage_and_oversized_frames_close_only_that_connection,
            ten_thousand_calls_in_flight,
            dropping_a_call_frees_its_engine_state,
            a_panicking_handler_fails_only_its_call,
            deadlines_and_unknown_methods,
            map_request_and_map_response,
            client_interceptors_log_filter_and_chain,
            server_interceptors_run_outermost_first,
            configuration_creation_and_algebra,
            watch_yields_on_change_only,
            graceful_shutdown_lets_running_handlers_finish,
            a_reply_of_the_wrong_type_is_an_invalid_reply,
            cancel_before_and_during_send,
            sort_by_id_extend_and_without_errors,
            node_id_in_the_hello,
            a_dropped_wait_for_config_leaves_nothing_behind,
            a_custom_client_interceptor_with_map_request,
            fold_decides_like_the_terminal_methods,
            errors_say_what_happened_and_chain_their_sources,
            the_frame_limit_through_the_api,
            metadata_on_every_call_type_and_a_per_call_rpc_timeout,
            many_callers_share_one_configuration,
            a_peer_that_never_says_hello,
            late_replies_are_dropped_and_counted,
            one_at_a_time_unless_released,
            metrics_per_method_and_node,
            local_systems_with_server_options,
            interceptors_see_typed_requests_and_pass_metadata,
            a_flood_of_unauthenticated_first_frames_stays_under_the_bound,
            map_request_steps_compose_and_see_the_request,
            a_reply_stream_interceptor_drops_reorders_and_adds,
            declared_known_peers_bound_the_configuration,
            several_watchers_of_one_correctable,
            local_systems_return_a_stop_of_them_all,
            one_way_calls_can_wait_for_the_send,
            ordering_stress_run_opt_in,
            a_node_that_stalls_mid_call_fails_by_the_deadline,
            skipped_nodes_decide_a_quorum_at_once,
            a_met_call_still_reaches_a_node_behind_a_full_queue,
            a_graceful_stop_delivers_the_replies_its_handlers_gave,
            calls_go_on_through_repeated_restarts,
            calls_under_connection_resets_end_and_keep_their_replies,
        );
    };
    (over_tls $adapter:ty) => {
        // Left out: the cases that write raw bytes to a socket (under TLS they would be
        // TLS records): garbage_and_oversized_frames_close_only_that_connection,
        // node_id_in_the_hello, a_flood_of_unauthenticated_first_frames_stays_under_the_bound.
        $crate::conformance_suite!(@tls_able $adapter);
    };
    // The cases about calls, failures and the reverse direction: they run over TLS too.
    (@tls_able $adapter:ty) => {
        $crate::conformance_suite!(@cases $adapter;
            every_call_type_on_three_and_five_nodes,
            terminal_methods_and_thresholds,
            reply_stream_helpers,
            correctable_levels_and_end_of_stream,
            a_killed_node_fails_its_share_and_comes_back_after_restart,
            failure_matrix_majority_first_all,
            fifo_per_sender_and_release,
            nested_quorum_call_from_a_handler,
            reverse_direction_call_to_clients_without_listeners,
            async_calls_reach_every_node_in_issue_order,
            waiting_for_peers_and_callbacks,
            a_connection_lost_mid_call_fails_that_share_at_once,
            a_thousand_multicasts_leave_no_call_state,
            a_thousand_sends_on_one_node_and_a_full_send_queue,
            a_reconnecting_peer_replaces_its_old_connection,
            handlers_multicast_and_call_themselves,
            stopping_a_client_with_calls_in_flight,
            a_reply_stream_failing_mid_stream,
            symmetric_dialling_halves_the_connections,
            a_handler_learns_its_caller_is_gone,
        );
    };
    (@cases $adapter:ty; $($case:ident,)*) => {
        $(
            #[test]
            fn $case() {
                <$adapter as $crate::Adapter>::run(|rt| $crate::cases::$case(rt));
            }
        )*
    };
}

/// The smol adapter, on smol's global executor.
#[derive(Debug)]
pub struct Smol;

impl Adapter for Smol {
    fn run<F, Fut>(test: F)
    where
        F: FnOnce(RuntimeHandle) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        run_smol(gorums_smol::runtime(), test);
    }
}

/// The smol adapter over TLS, as [`TokioTls`].
#[derive(Debug)]
pub struct SmolTls;

impl Adapter for SmolTls {
    fn run<F, Fut>(test: F)
    where
        F: FnOnce(RuntimeHandle) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let tls = gorums_smol::SmolRuntime::global().with_tls(tls_cases::cluster_tls());
        run_smol(std::sync::Arc::new(tls), test);
    }
}

/// The smol adapter speaking Go Gorums' gRPC wire (`SmolRuntime::with_grpc`), as
/// [`TokioGrpc`].
#[derive(Debug)]
pub struct SmolGrpc;

impl Adapter for SmolGrpc {
    fn run<F, Fut>(test: F)
    where
        F: FnOnce(RuntimeHandle) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let grpc = gorums_smol::SmolRuntime::global().with_grpc();
        run_smol(std::sync::Arc::new(grpc), test);
    }
}

/// The tokio adapter speaking gRPC over TLS (`with_tls(..).with_grpc()`), with the
/// certificates of [`TokioTls`].
#[derive(Debug)]
pub struct TokioGrpcTls;

impl Adapter for TokioGrpcTls {
    fn run<F, Fut>(test: F)
    where
        F: FnOnce(RuntimeHandle) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        run_tokio(
            || {
                std::sync::Arc::new(
                    gorums_tokio::TokioRuntime::current()
                        .with_tls(tls_cases::cluster_tls())
                        .with_grpc(),
                )
            },
            test,
        );
    }
}

/// The smol adapter speaking gRPC over TLS, as [`TokioGrpcTls`].
#[derive(Debug)]
pub struct SmolGrpcTls;

impl Adapter for SmolGrpcTls {
    fn run<F, Fut>(test: F)
    where
        F: FnOnce(RuntimeHandle) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let runtime = gorums_smol::SmolRuntime::global()
            .with_tls(tls_cases::cluster_tls())
            .with_grpc();
        run_smol(std::sync::Arc::new(runtime), test);
    }
}

/// Runs `test` on `rt` (a runtime on smol's global executor).
fn run_smol<F, Fut>(rt: RuntimeHandle, test: F)
where
    F: FnOnce(RuntimeHandle) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let fut = test(rt.clone());
    let deadline = rt.sleep_until(rt.now() + std::time::Duration::from_secs(30));
    smol::block_on(async move {
        let mut fut = std::pin::pin!(fut);
        let mut deadline = deadline;
        std::future::poll_fn(|cx| {
            if fut.as_mut().poll(cx).is_ready() {
                return std::task::Poll::Ready(());
            }
            if deadline.as_mut().poll(cx).is_ready() {
                panic!("conformance case timed out after 30 s");
            }
            std::task::Poll::Pending
        })
        .await;
    });
}

/// The simulator (`gorums-sim`): one simulated process on host `127.0.0.1` runs the
/// whole case, servers and clients alike, over in-memory links in virtual time. The
/// seed is 1, or `GORUMS_SIM_SEED`.
#[derive(Debug)]
pub struct Sim;

impl Adapter for Sim {
    fn run<F, Fut>(test: F)
    where
        F: FnOnce(RuntimeHandle) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Sim::run_sim(|rt| test(std::sync::Arc::new(rt)));
    }
}

impl Sim {
    /// Runs `test` like [`Adapter::run`], with a [`WithIdentity`](tls_cases::WithIdentity)
    /// that gives the test's process runtimes presenting simulated certificates.
    pub fn run_with_identities<F, Fut>(test: F)
    where
        F: FnOnce(RuntimeHandle, tls_cases::WithIdentity) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Sim::run_sim(|rt| {
            let identities = tls_cases::sim_identities(rt.clone());
            test(std::sync::Arc::new(rt), identities)
        });
    }

    /// Runs `test` on the test process's [`SimRuntime`](gorums_sim::SimRuntime).
    fn run_sim<F, Fut>(test: F)
    where
        F: FnOnce(gorums_sim::SimRuntime) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let seed = std::env::var("GORUMS_SIM_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1);
        let config = gorums_sim::SimConfig {
            // The same bound as the other adapters' wall-clock timeout, in virtual time.
            time_limit: std::time::Duration::from_secs(30),
            ..gorums_sim::SimConfig::new(seed)
        };
        let mut sim = gorums_sim::Sim::new(config);
        let process = sim.add_process(gorums_sim::ProcessOptions::new("test"));
        let fut = test(sim.sim_runtime(process));
        if let Err(err) = sim.run(process, fut) {
            panic!("conformance case on the simulator: {err}; replay with GORUMS_SIM_SEED={seed}");
        }
    }
}
