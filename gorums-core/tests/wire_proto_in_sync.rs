//! `src/wire/proto.rs` is generated from `proto/wire.proto` and committed, so that
//! gorums-core needs no build script and no `.proto` compiler. This test regenerates it
//! (with protox: no `protoc` needed) and fails if the committed file is stale.
//! Run with `GORUMS_BLESS=1` to rewrite it.

use std::path::Path;

#[test]
fn committed_wire_types_match_the_proto_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let proto_dir = root.join("proto");
    let fds =
        protox::compile([proto_dir.join("wire.proto")], [&proto_dir]).expect("wire.proto compiles");
    let out = tempfile::tempdir().expect("temp dir");
    prost_build::Config::new()
        .bytes(["."])
        .out_dir(out.path())
        .compile_fds(fds)
        .expect("prost-build generates");
    let generated =
        std::fs::read_to_string(out.path().join("gorums.wire.rs")).expect("generated file");
    let generated = format!(
        "// @generated from proto/wire.proto by tests/wire_proto_in_sync.rs; do not edit.\n{generated}"
    );
    let committed_path = root.join("gorums-core/src/wire/proto.rs");
    let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
    if std::env::var_os("GORUMS_BLESS").is_some() {
        std::fs::write(&committed_path, &generated).expect("write proto.rs");
        return;
    }
    assert!(
        committed == generated,
        "gorums-core/src/wire/proto.rs is stale: run `GORUMS_BLESS=1 cargo test -p gorums-core --test wire_proto_in_sync`"
    );
}
