//! The conformance suite on the tokio adapter.

gorums_tests::conformance_suite!(gorums_tests::Tokio);

gorums_tests::tls_suite!(
    gorums_tests::Tokio,
    std::sync::Arc::new(|tls| {
        std::sync::Arc::new(gorums_tokio::TokioRuntime::current().with_tls(tls))
            as gorums_core::runtime::RuntimeHandle
    })
);

/// The cases about calls, failures and the reverse direction, over TLS.
mod over_tls {
    gorums_tests::conformance_suite!(over_tls gorums_tests::TokioTls);
}
