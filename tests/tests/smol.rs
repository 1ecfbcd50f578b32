//! The conformance suite on the smol adapter: the same cases as on tokio.

gorums_tests::conformance_suite!(gorums_tests::Smol);

gorums_tests::tls_suite!(
    gorums_tests::Smol,
    std::sync::Arc::new(|tls| {
        std::sync::Arc::new(gorums_smol::SmolRuntime::global().with_tls(tls))
            as gorums_core::runtime::RuntimeHandle
    })
);

/// The cases about calls, failures and the reverse direction, over TLS.
mod over_tls {
    gorums_tests::conformance_suite!(over_tls gorums_tests::SmolTls);
}
