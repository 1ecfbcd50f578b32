//! Rewrites each editions file (edition 2023 or 2024) into the proto3 form that
//! prost-build and prost-reflect read (both predate editions), with the same bytes on
//! the wire; proto2 and proto3 files pass unchanged. It also keeps what prost-types
//! drops and the Gorums options need: each method's encoded options.
//!
//! Field by field, after resolving its features ([`features`]):
//!
//! | editions | proto3 form | Rust |
//! |---|---|---|
//! | `field_presence = IMPLICIT` | a plain field | `pub key: String` |
//! | `EXPLICIT` (the default), scalar or enum | `optional`: `proto3_optional` and its synthetic oneof | `Option<..>` |
//! | `EXPLICIT`, message, or in a oneof | unchanged (always has presence) | `Option<..>` |
//! | `LEGACY_REQUIRED` | `required` | a plain field, required on decode |
//! | `repeated_field_encoding = EXPANDED` | `[packed = false]` | |
//! | `PACKED` (the default) | packed, the proto3 default | |
//!
//! Features whose meaning prost cannot give are errors that point at the line setting
//! them: `message_encoding = DELIMITED` (prost writes message fields length-prefixed
//! only), `utf8_validation = NONE` on a string field (prost's `String` always checks
//! UTF-8), `enum_type = CLOSED` (prost's enums are open), and any edition other than 2023
//! and 2024. `json_format` is accepted and has no effect (prost writes no JSON).

mod features;

use std::collections::{BTreeMap, HashMap, HashSet};

use prost::Message as _;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{
    DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FieldOptions, FileDescriptorProto,
    FileDescriptorSet, OneofDescriptorProto,
};

use crate::descriptor::{self, tag};
use crate::{Error, Unsupported};
use features::{Feature, Features, UnknownValue};

/// `Edition.EDITION_2023`.
const EDITION_2023: i32 = 1000;
/// `Edition.EDITION_2024`.
const EDITION_2024: i32 = 1001;

/// The descriptors as prost-build reads them, and what they no longer carry.
#[derive(Debug)]
pub(crate) struct Lowered {
    /// Every file in proto2 or proto3 form.
    pub(crate) files: FileDescriptorSet,
    /// Each method's encoded `MethodOptions` (extensions included), by full name
    /// (`package.Service.Method`).
    pub(crate) method_options: BTreeMap<String, Vec<u8>>,
}

/// Decodes an encoded `FileDescriptorSet` (as protoc or protox write it) and rewrites
/// its editions files. `display_name` turns a file's name in the set into the name to
/// show in an error (its path on disk, where known).
///
/// # Errors
///
/// [`Error::Decode`] if the bytes are not a descriptor set, else
/// [`Error::Unsupported`] with every unsupported edition and feature in the set.
pub(crate) fn lower(bytes: &[u8], display_name: &dyn Fn(&str) -> String) -> Result<Lowered, Error> {
    let mut files = FileDescriptorSet::decode(bytes).map_err(Error::Decode)?;
    let editions = descriptor::FileSet::decode(bytes).map_err(Error::Decode)?;
    debug_assert_eq!(files.file.len(), editions.file.len());
    let mut unsupported = Vec::new();
    let mut method_options = BTreeMap::new();
    for (file, mirror) in files.file.iter_mut().zip(&editions.file) {
        collect_method_options(file, mirror, &mut method_options);
        if file.syntax() == "editions" {
            let mut lowering = FileLowering::default();
            lowering.file(file, mirror);
            unsupported.extend(lowering.into_unsupported(file, display_name));
        }
    }
    if unsupported.is_empty() {
        Ok(Lowered {
            files,
            method_options,
        })
    } else {
        Err(Error::Unsupported(unsupported))
    }
}

/// Records the encoded options of every method of `file`.
fn collect_method_options(
    file: &FileDescriptorProto,
    mirror: &descriptor::File,
    options: &mut BTreeMap<String, Vec<u8>>,
) {
    for (service, s) in file.service.iter().zip(&mirror.service) {
        let service_name = join(file.package(), service.name());
        for (method, m) in service.method.iter().zip(&s.method) {
            options.insert(
                format!("{service_name}.{}", method.name()),
                m.options.clone().unwrap_or_default(),
            );
        }
    }
}

/// `package.Name`, or `Name` without a package.
fn join(scope: &str, name: &str) -> String {
    if scope.is_empty() {
        name.to_owned()
    } else {
        format!("{scope}.{name}")
    }
}

/// `path` followed by `more`.
fn sub(path: &[i32], more: &[i32]) -> Vec<i32> {
    path.iter().chain(more).copied().collect()
}

/// A list index as a `SourceCodeInfo` path element.
fn index(i: usize) -> i32 {
    i32::try_from(i).unwrap_or(i32::MAX)
}

/// An unsupported setting, before it is given a line.
#[derive(Debug)]
struct Problem {
    /// The `SourceCodeInfo` path of what to point at.
    at: Vec<i32>,
    subject: String,
    found: String,
    expected: String,
}

/// Rewrites one editions file, collecting what cannot be rewritten.
#[derive(Debug, Default)]
struct FileLowering {
    problems: Vec<Problem>,
}

impl FileLowering {
    fn file(&mut self, file: &mut FileDescriptorProto, mirror: &descriptor::File) {
        if !matches!(mirror.edition, Some(EDITION_2023 | EDITION_2024)) {
            let at = match mirror.edition {
                Some(_) => vec![tag::file::EDITION],
                None => vec![tag::file::SYNTAX],
            };
            self.problems.push(Problem {
                at,
                subject: format!("file {}", file.name()),
                found: format!("edition {}", edition_name(mirror.edition)),
                expected: String::from("edition 2023 or 2024"),
            });
            return;
        }
        let set = mirror.options.as_ref().and_then(|o| o.features.as_ref());
        let features = self.features(
            &Features::edition_defaults(),
            set,
            &[tag::file::OPTIONS, tag::file::FEATURES],
            &format!("file {}", file.name()),
        );
        let package = file.package().to_owned();
        for (i, (message, m)) in file
            .message_type
            .iter_mut()
            .zip(&mirror.message_type)
            .enumerate()
        {
            self.message(
                message,
                m,
                &features,
                &[tag::file::MESSAGE_TYPE, index(i)],
                &package,
            );
        }
        for (i, (enum_, e)) in file.enum_type.iter().zip(&mirror.enum_type).enumerate() {
            self.enum_(
                enum_,
                e,
                &features,
                &[tag::file::ENUM_TYPE, index(i)],
                &package,
            );
        }
        file.syntax = Some(String::from("proto3"));
    }

    /// `parent` with the features `set` at `path` (an options message's `features`),
    /// reporting values unknown here as problems of `subject`.
    fn features(
        &mut self,
        parent: &Features,
        set: Option<&descriptor::FeatureSet>,
        path: &[i32],
        subject: &str,
    ) -> Features {
        let mut unknown = Vec::new();
        let features = parent.with(set, path, &mut unknown);
        for UnknownValue {
            feature,
            value,
            set_at,
        } in unknown
        {
            self.problems.push(Problem {
                at: set_at,
                subject: subject.to_owned(),
                found: feature.setting(value),
                expected: feature.known_values(),
            });
        }
        features
    }

    fn message(
        &mut self,
        message: &mut DescriptorProto,
        mirror: &descriptor::Message,
        parent: &Features,
        path: &[i32],
        scope: &str,
    ) {
        let full_name = join(scope, message.name());
        let set = mirror.options.as_ref().and_then(|o| o.features.as_ref());
        let features = self.features(
            parent,
            set,
            &sub(path, &[tag::message::OPTIONS, tag::message::FEATURES]),
            &format!("message {full_name}"),
        );
        let oneof_features: Vec<Features> = message
            .oneof_decl
            .iter()
            .zip(&mirror.oneof_decl)
            .enumerate()
            .map(|(k, (oneof, o))| {
                let set = o.options.as_ref().and_then(|o| o.features.as_ref());
                self.features(
                    &features,
                    set,
                    &sub(
                        path,
                        &[
                            tag::message::ONEOF_DECL,
                            index(k),
                            tag::oneof::OPTIONS,
                            tag::oneof::FEATURES,
                        ],
                    ),
                    &format!("oneof {full_name}.{}", oneof.name()),
                )
            })
            .collect();
        let is_map_entry = message
            .options
            .as_ref()
            .and_then(|o| o.map_entry)
            .unwrap_or(false);
        let map_entries: HashSet<String> = message
            .nested_type
            .iter()
            .filter(|n| {
                n.options
                    .as_ref()
                    .and_then(|o| o.map_entry)
                    .unwrap_or(false)
            })
            .map(|n| format!(".{full_name}.{}", n.name()))
            .collect();
        let mut taken = names_in_scope(message);
        let real_oneofs = message.oneof_decl.len();
        let mut synthetic = Vec::new();
        let mut field_features = HashMap::new();
        for (j, (field, f)) in message.field.iter_mut().zip(&mirror.field).enumerate() {
            let field_path = sub(path, &[tag::message::FIELD, index(j)]);
            let subject = format!("field {full_name}.{}", field.name());
            let parent = field
                .oneof_index
                .and_then(|k| oneof_features.get(usize::try_from(k).ok()?))
                .unwrap_or(&features);
            // protoc copies a map field's features onto its entry's fields, which have no
            // place in the source; they are taken from the map field (the parent here),
            // so that an error points at its line.
            let set = if is_map_entry {
                None
            } else {
                f.options.as_ref().and_then(|o| o.features.as_ref())
            };
            let resolved = self.features(
                parent,
                set,
                &sub(&field_path, &[tag::field::OPTIONS, tag::field::FEATURES]),
                &subject,
            );
            let is_map = map_entries.contains(field.type_name());
            self.check_field(
                field,
                &resolved,
                is_map || is_map_entry,
                &field_path,
                &subject,
            );
            if !is_map_entry && set_presence(field, &resolved, real_oneofs + synthetic.len()) {
                synthetic.push(OneofDescriptorProto {
                    name: Some(synthetic_oneof_name(field.name(), &mut taken)),
                    options: None,
                });
            }
            if is_map {
                field_features.insert(field.type_name().to_owned(), resolved);
            }
        }
        message.oneof_decl.extend(synthetic);
        for (k, (nested, n)) in message
            .nested_type
            .iter_mut()
            .zip(&mirror.nested_type)
            .enumerate()
        {
            // A map's entry has the features of the map field, as in protoc.
            let entry = format!(".{full_name}.{}", nested.name());
            let parent = field_features.get(&entry).unwrap_or(&features);
            self.message(
                nested,
                n,
                parent,
                &sub(path, &[tag::message::NESTED_TYPE, index(k)]),
                &full_name,
            );
        }
        for (k, (enum_, e)) in message.enum_type.iter().zip(&mirror.enum_type).enumerate() {
            self.enum_(
                enum_,
                e,
                &features,
                &sub(path, &[tag::message::ENUM_TYPE, index(k)]),
                &full_name,
            );
        }
    }

    /// Reports the features of `field` that prost cannot honour. `in_map` is true for a
    /// map field and the fields of a map entry, which are always length-prefixed.
    fn check_field(
        &mut self,
        field: &FieldDescriptorProto,
        features: &Features,
        in_map: bool,
        path: &[i32],
        subject: &str,
    ) {
        let delimited = field.r#type() == Type::Message
            && !in_map
            && features.message_encoding.value == features::DELIMITED;
        if delimited {
            self.unsupported(
                &features.message_encoding,
                &features::MESSAGE_ENCODING,
                path,
                subject,
                "LENGTH_PREFIXED: prost reads and writes message fields length-prefixed only \
                 (DELIMITED is the group encoding)",
            );
        }
        if field.r#type() == Type::String && features.utf8_validation.value == features::NONE {
            self.unsupported(
                &features.utf8_validation,
                &features::UTF8_VALIDATION,
                path,
                subject,
                "VERIFY: prost's String always checks UTF-8 (declare the field `bytes` if it \
                 may hold other text)",
            );
        }
    }

    fn enum_(
        &mut self,
        enum_: &EnumDescriptorProto,
        mirror: &descriptor::Enum,
        parent: &Features,
        path: &[i32],
        scope: &str,
    ) {
        let subject = format!("enum {}", join(scope, enum_.name()));
        let set = mirror.options.as_ref().and_then(|o| o.features.as_ref());
        let features = self.features(
            parent,
            set,
            &sub(path, &[tag::enum_::OPTIONS, tag::enum_::FEATURES]),
            &subject,
        );
        if features.enum_type.value == features::CLOSED {
            self.unsupported(
                &features.enum_type,
                &features::ENUM_TYPE,
                path,
                &subject,
                "OPEN: prost's enums are open (the field is an i32 that keeps any value), so \
                 a CLOSED enum would accept values its peers refuse",
            );
        }
    }

    /// Records that `setting` of `feature` cannot be honoured for the element at `path`.
    /// One setting is reported once, for the first element it reaches.
    fn unsupported(
        &mut self,
        setting: &features::Setting,
        feature: &'static Feature,
        path: &[i32],
        subject: &str,
        expected: &str,
    ) {
        let at = setting.set_at.clone().unwrap_or_else(|| path.to_vec());
        if self.problems.iter().any(|p| p.at == at) {
            return;
        }
        self.problems.push(Problem {
            at,
            subject: subject.to_owned(),
            found: feature.setting(setting.value),
            expected: expected.to_owned(),
        });
    }

    /// The problems, each with the line and column `file`'s source info gives it, in
    /// the order of the file.
    fn into_unsupported(
        self,
        file: &FileDescriptorProto,
        display_name: &dyn Fn(&str) -> String,
    ) -> Vec<Unsupported> {
        let spans: HashMap<&[i32], &[i32]> = file
            .source_code_info
            .iter()
            .flat_map(|info| &info.location)
            .map(|location| (location.path.as_slice(), location.span.as_slice()))
            .collect();
        let name = display_name(file.name());
        let mut unsupported: Vec<Unsupported> = self
            .problems
            .into_iter()
            .map(|problem| {
                // The setting itself, else the nearest element around it.
                let span = (0..=problem.at.len())
                    .rev()
                    .find_map(|len| spans.get(&problem.at[..len]))
                    .copied()
                    .unwrap_or(&[]);
                let one_based = |i: usize| {
                    span.get(i)
                        .and_then(|n| u32::try_from(*n).ok())
                        .map_or(0, |n| n + 1)
                };
                Unsupported {
                    file: name.clone(),
                    line: one_based(0),
                    column: one_based(1),
                    subject: problem.subject,
                    found: problem.found,
                    expected: problem.expected,
                }
            })
            .collect();
        unsupported.sort_by_key(|u| (u.line, u.column));
        unsupported
    }
}

/// Gives `field` its proto3 form for `features`; returns whether it became a proto3
/// `optional` field whose synthetic oneof, at `next_oneof`, must be added.
fn set_presence(field: &mut FieldDescriptorProto, features: &Features, next_oneof: usize) -> bool {
    if field.label() == Label::Repeated {
        if is_packable(field.r#type())
            && features.repeated_field_encoding.value == features::EXPANDED
        {
            field
                .options
                .get_or_insert_with(FieldOptions::default)
                .packed = Some(false);
        }
        return false;
    }
    match features.field_presence.value {
        features::LEGACY_REQUIRED => {
            field.set_label(Label::Required);
            false
        }
        // protoc allows IMPLICIT on singular scalars outside oneofs only; a message field
        // or oneof member inheriting it keeps its presence, as in proto3.
        features::IMPLICIT => false,
        // EXPLICIT (or a value already reported as unknown).
        _ => {
            let has_presence = field.oneof_index.is_some()
                || matches!(field.r#type(), Type::Message | Type::Group)
                || field.extendee.is_some();
            if has_presence {
                return false;
            }
            field.proto3_optional = Some(true);
            field.oneof_index = Some(index(next_oneof));
            true
        }
    }
}

/// Whether a repeated field of type `ty` can be packed.
fn is_packable(ty: Type) -> bool {
    !matches!(ty, Type::String | Type::Bytes | Type::Message | Type::Group)
}

/// The names a synthetic oneof of `message` must not take: its fields' and oneofs'.
fn names_in_scope(message: &DescriptorProto) -> HashSet<String> {
    let fields = message.field.iter().map(|f| f.name());
    let oneofs = message.oneof_decl.iter().map(|o| o.name());
    fields.chain(oneofs).map(str::to_owned).collect()
}

/// The name protoc gives the synthetic oneof of a proto3 `optional` field: the field's
/// name with a `_` in front (unless it has one), then `X`s in front until it is unique.
fn synthetic_oneof_name(field: &str, taken: &mut HashSet<String>) -> String {
    let mut name = if field.starts_with('_') {
        field.to_owned()
    } else {
        format!("_{field}")
    };
    while taken.contains(&name) {
        name.insert(0, 'X');
    }
    taken.insert(name.clone());
    name
}

/// `2023`, `2026`, `UNSTABLE`, as written in `edition = "..."`.
fn edition_name(edition: Option<i32>) -> String {
    match edition {
        None => String::from("(none)"),
        Some(EDITION_2023) => String::from("2023"),
        Some(EDITION_2024) => String::from("2024"),
        Some(1002) => String::from("2026"),
        Some(9999) => String::from("UNSTABLE"),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
