//! The conformance suite on the smol adapter: the same cases as on tokio.

gorums_tests::conformance_suite!(gorums_tests::Smol);
