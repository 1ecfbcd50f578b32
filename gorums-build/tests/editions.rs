//! gorums-build on editions files: Go Gorums' own files unchanged (tests/fixtures/go, see
//! its README for where they come from), every call type, field presence as the
//! features say, the same Rust and the same bytes on the wire as the proto3 version of
//! one service, and errors that name the file and line.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use protox::prost_reflect::{
    DescriptorPool, DynamicMessage, Kind, MapKey, MessageDescriptor, Value,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Compiles `file` (under tests/fixtures) with `includes` (under tests/fixtures) and
/// returns the generated `<package>.rs`.
fn compile(file: &str, includes: &[&str], package: &str) -> Result<String, gorums_build::Error> {
    let out = tempfile::tempdir().expect("temp dir");
    let includes: Vec<PathBuf> = includes.iter().map(|i| fixtures().join(i)).collect();
    gorums_build::Builder::new()
        .emit_rerun_if_changed(false)
        .out_dir(out.path())
        .compile(&[fixtures().join(file)], &includes)?;
    let generated = out.path().join(format!("{package}.rs"));
    Ok(std::fs::read_to_string(&generated).expect("<package>.rs written"))
}

/// The generated code on one line, without the line breaks and indentation of
/// prettyplease, so that a test can look for a declaration.
fn flat(code: &str) -> String {
    code.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace("( ", "(")
        .replace(" )", ")")
        .replace(", )", ")")
        .replace(" .", ".")
}

fn assert_has(code: &str, expected: &[&str]) {
    let flat = flat(code);
    for expected in expected {
        assert!(flat.contains(expected), "missing {expected:?} in:\n{code}");
    }
}

const STRING: &str = "::prost::alloc::string::String";
const TIMESTAMP: &str = "::core::option::Option<::prost_types::Timestamp>";

#[test]
fn go_gorums_storage_proto_compiles_unchanged() {
    let code = compile("go/storage.proto", &["go"], "proto").expect("storage.proto compiles");
    assert_has(
        &code,
        &[
            // file-level IMPLICIT: plain fields; a message field is an Option, as in proto3
            &format!(
                "pub struct ReadRequest {{ #[prost(string, tag = \"1\")] pub key: {STRING}, }}"
            ),
            "#[prost(bool, tag = \"1\")] pub ok: bool,",
            &format!("#[prost(message, optional, tag = \"3\")] pub time: {TIMESTAMP},"),
            "#[prost(bool, tag = \"1\")] pub new: bool,",
            // every call type
            "pub struct StorageConfiguration(::gorums_core::api::Configuration);",
            "pub struct StorageNode(::gorums_core::api::Node);",
            "self.0.rpc(storage_methods::READ_RPC, request)",
            "self.0.unicast(storage_methods::WRITE_UNICAST, request)",
            "self.0.multicast(storage_methods::WRITE_MULTICAST, request)",
            "self.0.quorum_call(storage_methods::READ_QC, request)",
            "self.0.quorum_call(storage_methods::WRITE_NESTED_MULTICAST, request)",
            "self.0.correctable_call(storage_methods::READ_CORRECTABLE, request)",
            "pub trait StorageServer: Send + Sync + 'static",
            "pub fn register_storage_server<T: StorageServer>",
            "system.register_stream(storage_methods::READ_CORRECTABLE",
            "pub const READ_QC: &str = \"proto.Storage.ReadQC\";",
        ],
    );
    assert!(!flat(&code).contains("Option<bool>"), "{code}");
    assert!(
        code.contains("/// ReadQC executes a Read quorum call on a configuration of nodes and"),
        "{code}"
    );
}

#[test]
fn go_gorums_own_gorums_proto_on_the_include_path_means_the_same() {
    let built_in = compile("go/storage.proto", &["go"], "proto").expect("built-in");
    let go = compile("go/storage.proto", &["go", "go-include"], "proto").expect("Go's");
    assert_eq!(built_in, go);
}

#[test]
fn go_gorums_benchmark_proto_compiles_unchanged() {
    let code = compile("go/benchmark.proto", &["go", "go-include"], "benchmark")
        .expect("benchmark.proto compiles");
    assert_has(
        &code,
        &[
            "#[prost(bytes = \"vec\", tag = \"1\")] pub payload: ::prost::alloc::vec::Vec<u8>,",
            "#[prost(int64, tag = \"1\")] pub send_time: i64,",
            "#[prost(message, repeated, tag = \"9\")] pub server_stats: ::prost::alloc::vec::Vec<MemoryStat>,",
            "pub struct StartRequest {}",
            "pub struct BenchmarkConfiguration(::gorums_core::api::Configuration);",
            "self.0.quorum_call(benchmark_methods::QUORUM_CALL, request)",
            "self.0.quorum_call(benchmark_methods::STOP_SERVER_BENCHMARK, request)",
            "self.0.multicast(benchmark_methods::MULTICAST, request)",
            "pub trait BenchmarkServer",
        ],
    );
}

#[test]
fn every_call_type_and_field_level_feature_in_an_editions_file() {
    let code = compile("editions/calls.proto", &["editions"], "fixture").expect("compiles");
    assert_has(
        &code,
        &[
            &format!("#[prost(string, tag = \"1\")] pub name: {STRING},"),
            "#[prost(uint64, tag = \"2\")] pub version: u64,",
            // field-level EXPLICIT overrides the file's IMPLICIT
            "#[prost(uint64, optional, tag = \"3\")] pub seen_by: ::core::option::Option<u64>,",
            &format!("#[prost(message, optional, tag = \"4\")] pub time: {TIMESTAMP},"),
            "#[prost(uint32, repeated, packed = \"false\", tag = \"5\")] pub nodes: ::prost::alloc::vec::Vec<u32>,",
            "self.0.rpc(registry_methods::LOOKUP, request)",
            "self.0.rpc(registry_methods::MARKED, request)",
            "self.0.unicast(registry_methods::NOTIFY, request)",
            "self.0.multicast(registry_methods::ANNOUNCE, request)",
            "self.0.multicast_mapped(registry_methods::ANNOUNCE, map)",
            "self.0.quorum_call(registry_methods::COLLECT, request)",
            "self.0.correctable_call(registry_methods::WATCH, request)",
            "pub fn register_registry_server<T: RegistryServer>",
        ],
    );
    assert!(
        code.contains("/// Set only by a node that has seen the name."),
        "{code}"
    );
    assert!(code.contains("/// Watch is a correctable call."), "{code}");
}

#[test]
fn a_proto3_file_may_import_an_editions_file() {
    // mixed.proto is proto3; Go's gorums.proto, which it imports, is edition 2023.
    let code = compile(
        "editions/mixed.proto",
        &["editions", "go-include"],
        "fixture",
    )
    .expect("compiles");
    assert_has(
        &code,
        &[
            "#[prost(uint64, tag = \"1\")] pub n: u64,",
            "#[prost(uint64, optional, tag = \"2\")] pub max: ::core::option::Option<u64>,",
            "self.0.quorum_call(counter_methods::COUNT, request)",
        ],
    );
}

/// `code` without its comment lines.
fn without_comments(code: &str) -> Vec<&str> {
    code.lines()
        .map(str::trim)
        .filter(|line| !line.starts_with("//"))
        .collect()
}

#[test]
fn the_editions_and_proto3_versions_generate_the_same_rust() {
    let editions = compile("editions/presence.proto", &["editions"], "fixture").expect("editions");
    let proto3 = compile("proto3/presence.proto", &["proto3"], "fixture").expect("proto3");
    assert_eq!(without_comments(&editions), without_comments(&proto3));
    assert_has(
        &editions,
        &[
            "#[prost(uint64, tag = \"1\")] pub id: u64,",
            "#[prost(uint64, optional, tag = \"2\")] pub version: ::core::option::Option<u64>,",
            "#[prost(enumeration = \"Kind\", optional, tag = \"5\")] pub previous_kind: ::core::option::Option<i32>,",
            "#[prost(sint32, repeated, packed = \"false\", tag = \"7\")]",
            "pub struct StoreConfiguration(",
        ],
    );
}

#[test]
fn go_gorums_storage_proto_and_its_proto3_form_generate_the_same_rust() {
    let editions = compile("go/storage.proto", &["go"], "proto").expect("editions");
    let proto3 = compile("proto3/storage.proto", &["proto3"], "proto").expect("proto3");
    assert_eq!(without_comments(&editions), without_comments(&proto3));
}

/// The descriptors of `file` as gorums-build hands them to prost-build.
fn pool(file: &str, include: &str) -> DescriptorPool {
    let set = gorums_build::Builder::new()
        .emit_rerun_if_changed(false)
        .file_descriptor_set(&[fixtures().join(file)], &[fixtures().join(include)])
        .expect("descriptors");
    DescriptorPool::from_file_descriptor_set(set).expect("a valid pool")
}

/// How to fill a message: every field at its zero value, or at a value of its own.
#[derive(Clone, Copy, PartialEq)]
enum Fill {
    Zero,
    Distinct,
}

/// A value of `kind`, distinct per field `number` unless `fill` is `Zero`.
fn value(kind: &Kind, fill: Fill, number: u32, depth: u32) -> Value {
    let n = if fill == Fill::Zero { 0 } else { number };
    match kind {
        Kind::Double => Value::F64(f64::from(n) + 0.5 * f64::from(n.min(1))),
        Kind::Float => Value::F32(n as f32),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(-(n as i32)),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(-i64::from(n)),
        Kind::Uint32 | Kind::Fixed32 => Value::U32(n),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(u64::from(n)),
        Kind::Bool => Value::Bool(n != 0),
        Kind::String => Value::String(if n == 0 {
            String::new()
        } else {
            format!("s{n}")
        }),
        Kind::Bytes => {
            Value::Bytes(vec![u8::try_from(n).unwrap_or(u8::MAX); n.min(3) as usize].into())
        }
        Kind::Enum(e) => Value::EnumNumber(if n == 0 {
            0
        } else {
            e.values().last().map_or(0, |v| v.number())
        }),
        Kind::Message(m) => Value::Message(message(m, fill, depth + 1)),
    }
}

/// A message of type `desc` with every field set (the first member of each real oneof
/// only), nested messages down to depth 3.
fn message(desc: &MessageDescriptor, fill: Fill, depth: u32) -> DynamicMessage {
    let mut msg = DynamicMessage::new(desc.clone());
    if depth > 3 {
        return msg;
    }
    for field in desc.fields() {
        if let Some(oneof) = field.containing_oneof()
            && !oneof.is_synthetic()
            && oneof.fields().next().map(|f| f.number()) != Some(field.number())
        {
            continue;
        }
        let kind = field.kind();
        let v = if field.is_map() {
            let Kind::Message(entry) = &kind else {
                unreachable!("a map is a message")
            };
            let key = match value(
                &entry.map_entry_key_field().kind(),
                Fill::Distinct,
                1,
                depth,
            ) {
                Value::String(s) => MapKey::String(s),
                other => panic!("fixture maps have string keys, not {other:?}"),
            };
            let val = value(
                &entry.map_entry_value_field().kind(),
                fill,
                field.number(),
                depth,
            );
            Value::Map(HashMap::from([(key, val)]))
        } else if field.is_list() {
            let v = value(&kind, fill, field.number(), depth);
            Value::List(vec![v.clone(), v, value(&kind, Fill::Distinct, 3, depth)])
        } else {
            value(&kind, fill, field.number(), depth)
        };
        msg.set_field(&field, v);
    }
    msg
}

#[test]
fn the_editions_and_proto3_versions_put_the_same_bytes_on_the_wire() {
    let editions = pool("editions/presence.proto", "editions");
    let proto3 = pool("proto3/presence.proto", "proto3");
    for name in ["fixture.Key", "fixture.Value"] {
        let e = editions
            .get_message_by_name(name)
            .expect("in the editions pool");
        let p = proto3
            .get_message_by_name(name)
            .expect("in the proto3 pool");
        for fill in [Fill::Zero, Fill::Distinct] {
            let e_bytes = prost::Message::encode_to_vec(&message(&e, fill, 0));
            let p_bytes = prost::Message::encode_to_vec(&message(&p, fill, 0));
            assert_eq!(e_bytes, p_bytes, "{name}");
        }
    }
    // And what they are, so that both cannot be wrong alike: at zero, only the explicit
    // fields are sent (version = 0: tag 2 varint 0; label = "": tag 4, length 0).
    let key = proto3.get_message_by_name("fixture.Key").expect("Key");
    let zero = prost::Message::encode_to_vec(&message(&key, Fill::Zero, 0));
    assert_eq!(zero, [0x10, 0x00, 0x22, 0x00]);
}

fn error(file: &str) -> gorums_build::Error {
    match compile(file, &["editions"], "fixture") {
        Ok(code) => panic!("{file} should not compile:\n{code}"),
        Err(err) => err,
    }
}

#[test]
fn a_feature_prost_cannot_honour_names_file_line_and_what_was_expected() {
    let err = error("editions/delimited.proto");
    let gorums_build::Error::Unsupported(all) = &err else {
        panic!("expected Error::Unsupported, got {err}");
    };
    assert_eq!(all.len(), 1, "{err}");
    let path = fixtures().join("editions/delimited.proto");
    assert_eq!(all[0].file, path.display().to_string());
    assert_eq!((all[0].line, all[0].column), (10, 20));
    assert_eq!(
        err.to_string(),
        format!(
            "gorums-build: {}:10:20: field fixture.Outer.inner: features.message_encoding = \
             DELIMITED is not supported; expected LENGTH_PREFIXED: prost reads and writes \
             message fields length-prefixed only (DELIMITED is the group encoding)",
            path.display()
        )
    );
}

#[test]
fn an_unsupported_edition_names_file_and_line() {
    let err = error("editions/edition_2026.proto").to_string();
    assert!(err.contains("edition_2026.proto:1:1: file edition_2026.proto: edition 2026 is not supported; expected edition 2023 or 2024"), "{err}");
}

#[test]
fn a_malformed_editions_file_is_protocs_error_with_line_and_column() {
    let err = error("editions/malformed.proto");
    assert!(matches!(err, gorums_build::Error::Protoc { .. }), "{err}");
    let text = err.to_string();
    assert!(text.starts_with("gorums-build: "), "{text}");
    assert!(
        text.contains("malformed.proto:7:1: Expected \";\"."),
        "{text}"
    );
}

#[test]
fn an_unknown_feature_is_protocs_error_with_line_and_column() {
    let text = error("editions/unknown_feature.proto").to_string();
    assert!(text.contains("unknown_feature.proto:5:8:"), "{text}");
    assert!(text.contains("features.field_presense"), "{text}");
}
