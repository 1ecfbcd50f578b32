//! Lowering run on what the bundled protoc makes of small editions files.

use std::path::Path;

use prost_types::field_descriptor_proto::Label;
use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorProto};

use super::{Lowered, lower};
use crate::{Error, Unsupported};

/// `source` as `t.proto`, compiled by protoc and lowered.
fn lowered(source: &str) -> Result<Lowered, Error> {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("t.proto");
    std::fs::write(&file, source).expect("write t.proto");
    let bytes = crate::protoc::compile(&[file.as_path()], &[dir.path()], "t.proto")?;
    lower(&bytes, &|name| name.to_owned())
}

fn file(source: &str) -> FileDescriptorProto {
    let lowered = lowered(source).expect("lowers");
    lowered
        .files
        .file
        .into_iter()
        .find(|f| f.name() == "t.proto")
        .expect("t.proto in the set")
}

fn unsupported(source: &str) -> Vec<Unsupported> {
    match lowered(source) {
        Err(Error::Unsupported(all)) => all,
        other => panic!("expected Error::Unsupported, got {other:?}"),
    }
}

fn message<'a>(file: &'a FileDescriptorProto, name: &str) -> &'a DescriptorProto {
    file.message_type
        .iter()
        .find(|m| m.name() == name)
        .expect("message")
}

fn field<'a>(message: &'a DescriptorProto, name: &str) -> &'a FieldDescriptorProto {
    message
        .field
        .iter()
        .find(|f| f.name() == name)
        .expect("field")
}

/// The name of the oneof `field` is in, if any.
fn oneof<'a>(message: &'a DescriptorProto, field: &FieldDescriptorProto) -> Option<&'a str> {
    let index = usize::try_from(field.oneof_index?).ok()?;
    Some(message.oneof_decl[index].name())
}

#[test]
fn file_level_implicit_gives_plain_proto3_fields() {
    let file = file(
        "edition = \"2024\";\npackage t;\noption features.field_presence = IMPLICIT;\n\
         message M { string key = 1; int64 n = 2; M next = 3; }\n",
    );
    assert_eq!(file.syntax(), "proto3");
    let m = message(&file, "M");
    for name in ["key", "n", "next"] {
        let f = field(m, name);
        assert_eq!(f.proto3_optional, None, "{name}");
        assert_eq!(f.oneof_index, None, "{name}");
        assert_eq!(f.label(), Label::Optional, "{name}");
    }
    assert!(m.oneof_decl.is_empty());
}

#[test]
fn explicit_presence_becomes_proto3_optional_with_a_synthetic_oneof() {
    let file = file(
        "edition = \"2023\";\npackage t;\n\
         message M {\n  int32 a = 1;\n  string _b = 2;\n  string b = 3;\n  M sub = 4;\n\
         oneof choice { int32 x = 5; }\n  int32 c = 6 [features.field_presence = IMPLICIT];\n\
         int32 d = 7 [default = 7];\n}\n",
    );
    let m = message(&file, "M");
    // The real oneof first, then one synthetic oneof per optional field, named as protoc
    // names them in a proto3 file (checked with protoc 36.2: `_b` is a field's name).
    let names: Vec<&str> = m.oneof_decl.iter().map(|o| o.name()).collect();
    assert_eq!(names, ["choice", "_a", "X_b", "XX_b", "_d"]);
    for (name, oneof_name) in [("a", "_a"), ("_b", "X_b"), ("b", "XX_b"), ("d", "_d")] {
        let f = field(m, name);
        assert_eq!(f.proto3_optional, Some(true), "{name}");
        assert_eq!(oneof(m, f), Some(oneof_name), "{name}");
    }
    assert_eq!(field(m, "d").default_value(), "7");
    // A message field and a oneof member have presence already; IMPLICIT is plain.
    assert_eq!(field(m, "sub").proto3_optional, None);
    assert_eq!(oneof(m, field(m, "sub")), None);
    assert_eq!(field(m, "x").proto3_optional, None);
    assert_eq!(oneof(m, field(m, "x")), Some("choice"));
    assert_eq!(field(m, "c").proto3_optional, None);
    assert_eq!(oneof(m, field(m, "c")), None);
}

#[test]
fn a_file_level_feature_reaches_nested_messages_and_a_field_overrides_it() {
    // protoc lets field_presence be set on files and fields only, not on messages.
    let file = file(
        "edition = \"2023\";\npackage t;\noption features.field_presence = IMPLICIT;\n\
         message Outer {\n  int32 a = 1;\n\
         message Inner { int32 b = 1; int32 c = 2 [features.field_presence = EXPLICIT]; }\n}\n",
    );
    let outer = message(&file, "Outer");
    let inner = &outer.nested_type[0];
    assert_eq!(field(outer, "a").proto3_optional, None);
    assert_eq!(field(inner, "b").proto3_optional, None);
    assert_eq!(field(inner, "c").proto3_optional, Some(true));
    assert_eq!(oneof(inner, field(inner, "c")), Some("_c"));
}

#[test]
fn expanded_repeated_fields_are_not_packed_and_required_is_required() {
    let file = file(
        "edition = \"2023\";\npackage t;\n\
         message M {\n  repeated int32 packed = 1;\n\
         repeated int32 expanded = 2 [features.repeated_field_encoding = EXPANDED];\n\
         repeated string names = 3;\n  int32 must = 4 [features.field_presence = LEGACY_REQUIRED];\n\
         map<string, int32> counts = 5;\n}\n",
    );
    let m = message(&file, "M");
    let packed = |name: &str| field(m, name).options.as_ref().and_then(|o| o.packed);
    assert_eq!(packed("packed"), None, "packed is the proto3 default");
    assert_eq!(packed("expanded"), Some(false));
    assert_eq!(packed("names"), None);
    assert_eq!(field(m, "must").label(), Label::Required);
    assert_eq!(field(m, "must").proto3_optional, None);
    // A map entry's key and value stay plain, as protoc writes proto3 maps.
    let entry = &m.nested_type[0];
    assert!(entry.field.iter().all(|f| f.proto3_optional.is_none()));
    assert!(entry.oneof_decl.is_empty());
}

#[test]
fn proto3_files_and_method_options_pass_through() {
    let lowered = lowered(
        "edition = \"2023\";\npackage t;\nimport \"gorums.proto\";\n\
         import \"google/protobuf/empty.proto\";\nmessage M {}\n\
         service S { rpc Q(M) returns (M) { option (gorums.quorumcall) = true; }\n\
         rpc R(M) returns (google.protobuf.Empty); }\n",
    )
    .expect("lowers");
    let empty = lowered
        .files
        .file
        .iter()
        .find(|f| f.name() == "google/protobuf/empty.proto")
        .expect("imports included");
    assert_eq!(empty.syntax(), "proto3");
    // The built-in gorums.proto: quorumcall is extension 50004 (tag 50004 << 3, varint).
    let q = &lowered.method_options["t.S.Q"];
    assert_eq!(q.as_slice(), [0xa0, 0xb5, 0x18, 0x01]);
    assert!(lowered.method_options["t.S.R"].is_empty());
}

#[test]
fn delimited_messages_are_refused_where_the_feature_is_set() {
    let all = unsupported(
        "edition = \"2023\";\npackage t;\nmessage A {}\n\
         message M {\n  A a = 1 [features.message_encoding = DELIMITED];\n  map<string, A> m = 2;\n}\n",
    );
    assert_eq!(all.len(), 1, "{all:?}");
    let u = &all[0];
    assert_eq!((u.file.as_str(), u.line, u.column), ("t.proto", 5, 12));
    assert_eq!(u.subject, "field t.M.a");
    assert_eq!(u.found, "features.message_encoding = DELIMITED");
    assert!(u.expected.starts_with("LENGTH_PREFIXED"), "{u}");
}

#[test]
fn a_file_level_setting_is_reported_once_at_its_own_line() {
    let all = unsupported(
        "edition = \"2023\";\npackage t;\noption features.utf8_validation = NONE;\n\
         message M { string a = 1; string b = 2; bytes c = 3; }\n",
    );
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!((all[0].line, all[0].column), (3, 1));
    assert_eq!(all[0].subject, "field t.M.a");
    assert_eq!(all[0].found, "features.utf8_validation = NONE");
}

#[test]
fn a_map_field_setting_is_reported_at_the_map_field() {
    let all = unsupported(
        "edition = \"2023\";\npackage t;\n\
         message M {\n  map<string, int32> m = 1 [features.utf8_validation = NONE];\n}\n",
    );
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!((all[0].line, all[0].column), (4, 29));
    assert_eq!(all[0].subject, "field t.M.MEntry.key");
}

#[test]
fn closed_enums_and_every_other_problem_are_all_reported() {
    let all = unsupported(
        "edition = \"2023\";\npackage t;\n\
         enum E { option features.enum_type = CLOSED; E_ONE = 1; }\n\
         message M { string s = 1 [features.utf8_validation = NONE]; }\n",
    );
    let found: Vec<(&str, u32)> = all.iter().map(|u| (u.found.as_str(), u.line)).collect();
    assert_eq!(
        found,
        [
            ("features.enum_type = CLOSED", 3),
            ("features.utf8_validation = NONE", 4)
        ]
    );
    assert_eq!(all[0].subject, "enum t.E");
}

#[test]
fn an_edition_protoc_accepts_but_prost_cannot_is_refused() {
    // protoc 36.2 accepts edition 2026 without complaint.
    let all = unsupported("edition = \"2026\";\npackage t;\nmessage M { int32 a = 1; }\n");
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!((all[0].line, all[0].column), (1, 1));
    assert_eq!(all[0].found, "edition 2026");
    assert_eq!(all[0].expected, "edition 2023 or 2024");
    assert_eq!(
        all[0].to_string(),
        "t.proto:1:1: file t.proto: edition 2026 is not supported; expected edition 2023 or 2024"
    );
}

#[test]
fn protoc_errors_name_file_line_and_column() {
    let err = lowered("edition = \"2023\";\npackage t;\nmessage M { int32 a = 1 \n")
        .expect_err("malformed");
    let Error::Protoc { message } = &err else {
        panic!("expected Error::Protoc, got {err:?}");
    };
    assert!(
        message.contains("t.proto:4:1: Expected \";\"."),
        "{message}"
    );
    assert!(Path::new(message.split(':').next().unwrap_or("")).ends_with("t.proto"));
}
