//! A tiny workload of each kind, on each system, runs and checks its replies; nothing
//! is timed and nothing asserts speed.

use super::*;

fn tiny(w: Workload, system: SystemKind, runtime: RuntimeKind, threads: usize) -> Spec {
    Spec {
        workload: w,
        system,
        runtime,
        threads,
        n: 3,
        q: 2,
        concurrent: 2,
        payload: 16,
        time: Duration::ZERO,
        warmup: Duration::ZERO,
        max_async: 8,
        calls: Some(50),
        remotes: Vec::new(),
    }
}

#[test]
fn every_workload_runs_fifty_calls_on_both_adapters() {
    for (runtime, threads) in [
        (RuntimeKind::Tokio, 2),
        (RuntimeKind::Tokio, 1),
        (RuntimeKind::Smol, 2),
    ] {
        for w in [
            Workload::QuorumCall,
            Workload::AsyncQuorumCall,
            Workload::Multicast,
        ] {
            let row = run::run(&tiny(w, SystemKind::Gorums, runtime, threads)).expect("runs");
            assert_eq!(
                (row.ops, row.errors),
                (50, 0),
                "{w:?} on {runtime:?}/{threads}"
            );
        }
    }
}

#[test]
fn gorums_over_grpc_runs_fifty_calls_on_both_adapters() {
    for runtime in [RuntimeKind::Tokio, RuntimeKind::Smol] {
        for w in [
            Workload::QuorumCall,
            Workload::AsyncQuorumCall,
            Workload::Multicast,
        ] {
            let spec = tiny(w, SystemKind::GorumsGrpc, runtime, 2);
            assert!(spec.label().starts_with("gorums-grpc/"), "{}", spec.label());
            let row = run::run(&spec).expect("runs");
            assert_eq!((row.ops, row.errors), (50, 0), "{w:?} on {runtime:?}");
        }
    }
}

#[test]
fn the_tonic_peer_runs_fifty_calls() {
    for w in [Workload::QuorumCall, Workload::AsyncQuorumCall] {
        let row = run::run(&tiny(w, SystemKind::Tonic, RuntimeKind::Tokio, 2)).expect("runs");
        assert_eq!((row.ops, row.errors), (50, 0), "{w:?}");
    }
}

#[test]
fn durations_parse_like_go_flags() {
    assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
    assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    assert!(parse_duration("3 parsecs").is_err());
}

#[test]
fn the_tonic_peer_speaks_tls_when_given_certificates() {
    let tls = exec::BenchTls::generate().expect("certificates");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let addr = grpc::serve(([127, 0, 0, 1], 0).into(), Some(&tls))
            .expect("serves")
            .to_string();
        let payload = bytes::Bytes::from_static(b"over tls");
        let method = service::EchoMethod::QuorumCall;
        let fan = grpc::FanOut::connect(std::slice::from_ref(&addr), 1, Some(&tls))
            .await
            .expect("a client trusting the authority connects");
        fan.call(method, &payload).await.expect("echoed over TLS");
        // The server really speaks TLS: plain HTTP/2 gets no echo.
        if let Ok(plain) = grpc::FanOut::connect(&[addr], 1, None).await {
            plain
                .call(method, &payload)
                .await
                .expect_err("a plain client is not served by a TLS server");
        }
    });
}

#[test]
fn metrics_count_the_calls_of_a_run() {
    metrics::install().expect("the recorder installs");
    let row = run::run(&tiny(
        Workload::QuorumCall,
        SystemKind::Gorums,
        RuntimeKind::Tokio,
        2,
    ))
    .expect("runs");
    assert_eq!(row.ops, 50);
    let text = metrics::render().expect("installed");
    // The 50 calls and the one that connects (each answered by at least a quorum, 2 of
    // 3 servers); other tests of this binary may add more.
    let count = |name: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(name) && l.contains("QuorumCall\""))
            .filter(|l| !l.contains("AsyncQuorumCall"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    assert!(count("gorums_client_calls_total{") >= 51.0, "{text}");
    assert!(
        count("gorums_server_requests_total{") >= 2.0 * 51.0,
        "{text}"
    );
    assert!(text.contains("gorums_client_reply_seconds"), "{text}");
}
