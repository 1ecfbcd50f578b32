//! The conformance suite on the simulator: the same cases, in virtual time.

gorums_tests::conformance_suite!(gorums_tests::Sim);

gorums_tests::identity_suite!(gorums_tests::Sim::run_with_identities);
