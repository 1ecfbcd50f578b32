//! The conformance suite on the tokio adapter.

gorums_tests::conformance_suite!(gorums_tests::Tokio);
