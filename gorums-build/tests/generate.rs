//! gorums-build on fixture `.proto` files: what it generates for each call type, that
//! the output is deterministic, and that every Gorums rule it enforces is an error that
//! names the method or message, all of them in one error.

use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn compile(file: &str) -> Result<String, gorums_build::Error> {
    let out = tempfile::tempdir().expect("temp dir");
    gorums_build::Builder::new()
        .emit_rerun_if_changed(false)
        .out_dir(out.path())
        .compile(&[fixtures().join(file)], &[fixtures()])?;
    Ok(std::fs::read_to_string(out.path().join("fixture.rs")).expect("fixture.rs written"))
}

fn compile_err(file: &str) -> String {
    match compile(file) {
        Ok(_) => panic!("{file} should not compile"),
        Err(err) => err.to_string(),
    }
}

#[test]
fn every_call_type_gets_its_function_on_the_right_type() {
    let code = compile("valid.proto").expect("valid.proto compiles");
    // prost-build formats the output; compare without line breaks and indentation.
    let flat = code.split_whitespace().collect::<Vec<_>>().join(" ");
    let flat = flat
        .replace("( ", "(")
        .replace(" )", ")")
        .replace(", )", ")")
        .replace(" .", ".");
    for expected in [
        "pub const LOOKUP: &str = \"fixture.Registry.Lookup\"",
        "pub struct RegistryConfiguration(::gorums_core::api::Configuration);",
        "pub struct RegistryNode(::gorums_core::api::Node);",
        "pub fn lookup(&self, request: &Name,)",
        "self.0.rpc(registry_methods::LOOKUP, request)",
        "self.0.rpc(registry_methods::MARKED, request)",
        "self.0.unicast(registry_methods::NOTIFY, request)",
        "self.0.multicast(registry_methods::ANNOUNCE, request)",
        "self.0.multicast_mapped(registry_methods::ANNOUNCE, map)",
        "self.0.quorum_call(registry_methods::COLLECT, request)",
        "self.0.correctable_call(registry_methods::WATCH, request)",
        "pub trait RegistryServer: Send + Sync + 'static",
        "system.register_unary(registry_methods::LOOKUP",
        "system.register_one_way(registry_methods::NOTIFY",
        "system.register_one_way(registry_methods::ANNOUNCE",
        "system.register_unary(registry_methods::COLLECT",
        "system.register_stream(registry_methods::WATCH",
        // A streaming handler can send only the method's reply type.
        "fn watch(&self, ctx: ::gorums_core::api::ServerCtx, request: Name, items: ::gorums_core::api::ItemSender<Entry>",
        "pub fn register_registry_server<T: RegistryServer>",
    ] {
        assert!(flat.contains(expected), "missing {expected:?} in:\n{code}");
    }
    // Proto comments become doc comments.
    assert!(code.contains("/// Registry keeps names."), "{code}");
    assert!(code.contains("/// Lookup asks one node."), "{code}");
    assert!(code.contains("/// Collect asks a quorum."), "{code}");
}

#[test]
fn the_output_is_the_same_on_every_run() {
    let first = compile("valid.proto").expect("compiles");
    for _ in 0..3 {
        assert_eq!(compile("valid.proto").expect("compiles"), first);
    }
}

#[test]
fn the_api_path_is_configurable() {
    let out = tempfile::tempdir().expect("temp dir");
    gorums_build::Builder::new()
        .emit_rerun_if_changed(false)
        .gorums_path("::gorums_tokio")
        .out_dir(out.path())
        .compile(&[fixtures().join("valid.proto")], &[fixtures()])
        .expect("compiles");
    let code = std::fs::read_to_string(out.path().join("fixture.rs")).expect("written");
    assert!(code.contains("::gorums_tokio::Configuration"));
    assert!(!code.contains("gorums_core"));
}

#[test]
fn two_call_type_options_name_the_method() {
    let err = compile_err("two_options.proto");
    assert!(err.contains("fixture.Svc.Both"), "{err}");
    assert!(
        err.contains("gorums.multicast") && err.contains("gorums.quorumcall"),
        "{err}"
    );
    assert!(!err.contains("fixture.Svc.Fine"), "{err}");
}

#[test]
fn client_streaming_names_the_method() {
    let err = compile_err("client_streaming.proto");
    assert!(err.contains("fixture.Svc.Upload"), "{err}");
    assert!(err.contains("client streaming"), "{err}");
}

#[test]
fn a_streamed_reply_without_quorumcall_names_the_method() {
    let err = compile_err("stream_without_quorumcall.proto");
    assert!(err.contains("fixture.Svc.Feed"), "{err}");
    assert!(err.contains("quorumcall"), "{err}");
}

#[test]
fn reserved_message_names_are_refused() {
    let err = compile_err("reserved_name.proto");
    assert!(err.contains("fixture.Configuration"), "{err}");
    assert!(err.contains("reserved"), "{err}");
}

#[test]
fn a_method_that_would_hide_a_generated_function_is_refused() {
    let err = compile_err("name_clash.proto");
    assert!(err.contains("fixture.Svc.Nodes"), "{err}");
    assert!(err.contains("`nodes`"), "{err}");
}

#[test]
fn every_broken_rule_is_reported_not_only_the_first() {
    let err = compile("many_invalid.proto").expect_err("many_invalid.proto should not compile");
    let text = err.to_string();
    let gorums_build::Error::Invalid(violations) = &err else {
        panic!("expected Error::Invalid, got {text}");
    };
    let expected = [
        ("message fixture.Node:", "reserved"),
        ("method fixture.Svc.Both:", "call-type options"),
        ("method fixture.Svc.Upload:", "client streaming"),
        ("method fixture.Svc.Feed:", "quorumcall"),
        ("method fixture.Other.Nodes:", "`nodes`"),
        ("method fixture.Other.SendMapped:", "`send_mapped`"),
    ];
    assert_eq!(violations.len(), expected.len(), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), expected.len(), "{text}");
    for (subject, what) in expected {
        assert!(
            lines.iter().any(|line| line.starts_with("gorums-build: ")
                && line.contains(subject)
                && line.contains(what)),
            "no line with {subject:?} and {what:?} in:\n{text}"
        );
    }
    assert!(!text.contains("fixture.Svc.Fine"), "{text}");
    // Broken in the .proto file, the first four name it; the clashes show in the
    // generated code only.
    assert!(
        lines[..4]
            .iter()
            .all(|line| line.contains("many_invalid.proto")),
        "{text}"
    );
}

#[test]
fn an_unwritable_output_directory_keeps_the_io_error() {
    let out = tempfile::tempdir().expect("temp dir");
    let missing = out.path().join("missing");
    let err = gorums_build::Builder::new()
        .emit_rerun_if_changed(false)
        .out_dir(&missing)
        .compile(&[fixtures().join("valid.proto")], &[fixtures()])
        .expect_err("the output directory does not exist");
    let gorums_build::Error::Write { dir, source } = &err else {
        panic!("expected Error::Write, got {err}");
    };
    assert_eq!(dir, &missing);
    assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
    let chained = std::error::Error::source(&err).expect("a source");
    assert!(chained.downcast_ref::<std::io::Error>().is_some());
    assert!(err.to_string().contains("writing to"), "{err}");
}

#[test]
fn a_syntax_error_names_the_file() {
    let err = compile_err("syntax_error.proto");
    assert!(err.contains("syntax_error.proto"), "{err}");
}

#[test]
fn a_missing_file_is_an_error_not_a_panic() {
    let err = compile_err("no_such_file.proto");
    assert!(err.contains("no_such_file.proto"), "{err}");
}
