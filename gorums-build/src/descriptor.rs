//! The parts of an encoded `FileDescriptorSet` that prost-types 0.14 does not keep: each
//! file's edition, the editions features set on each element, and each method's options
//! as bytes (the Gorums options are extensions, unknown fields to prost-types).
//!
//! These types are decoded from the same bytes as prost-types' set and skip everything
//! else, so each list here lines up, index for index, with the prost-types list of the
//! same name. Field numbers are those of `google/protobuf/descriptor.proto`.

/// `FileDescriptorSet`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct FileSet {
    #[prost(message, repeated, tag = "1")]
    pub(crate) file: Vec<File>,
}

/// `FileDescriptorProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct File {
    #[prost(message, repeated, tag = "4")]
    pub(crate) message_type: Vec<Message>,
    #[prost(message, repeated, tag = "5")]
    pub(crate) enum_type: Vec<Enum>,
    #[prost(message, repeated, tag = "6")]
    pub(crate) service: Vec<Service>,
    #[prost(message, optional, tag = "8")]
    pub(crate) options: Option<FileOptions>,
    /// `Edition`, set when `syntax` is `"editions"`.
    #[prost(int32, optional, tag = "14")]
    pub(crate) edition: Option<i32>,
}

/// `FileOptions`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct FileOptions {
    #[prost(message, optional, tag = "50")]
    pub(crate) features: Option<FeatureSet>,
}

/// `DescriptorProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Message {
    #[prost(message, repeated, tag = "2")]
    pub(crate) field: Vec<Field>,
    #[prost(message, repeated, tag = "3")]
    pub(crate) nested_type: Vec<Message>,
    #[prost(message, repeated, tag = "4")]
    pub(crate) enum_type: Vec<Enum>,
    #[prost(message, optional, tag = "7")]
    pub(crate) options: Option<MessageOptions>,
    #[prost(message, repeated, tag = "8")]
    pub(crate) oneof_decl: Vec<Oneof>,
}

/// `MessageOptions`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct MessageOptions {
    #[prost(message, optional, tag = "12")]
    pub(crate) features: Option<FeatureSet>,
}

/// `FieldDescriptorProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Field {
    #[prost(message, optional, tag = "8")]
    pub(crate) options: Option<FieldOptions>,
}

/// `FieldOptions`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct FieldOptions {
    #[prost(message, optional, tag = "21")]
    pub(crate) features: Option<FeatureSet>,
}

/// `OneofDescriptorProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Oneof {
    #[prost(message, optional, tag = "2")]
    pub(crate) options: Option<OneofOptions>,
}

/// `OneofOptions`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct OneofOptions {
    #[prost(message, optional, tag = "1")]
    pub(crate) features: Option<FeatureSet>,
}

/// `EnumDescriptorProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Enum {
    #[prost(message, optional, tag = "3")]
    pub(crate) options: Option<EnumOptions>,
}

/// `EnumOptions`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct EnumOptions {
    #[prost(message, optional, tag = "7")]
    pub(crate) features: Option<FeatureSet>,
}

/// `ServiceDescriptorProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Service {
    #[prost(message, repeated, tag = "2")]
    pub(crate) method: Vec<Method>,
}

/// `MethodDescriptorProto`, with its options undecoded.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Method {
    /// The encoded `MethodOptions`, extensions included.
    #[prost(bytes = "vec", optional, tag = "4")]
    pub(crate) options: Option<Vec<u8>>,
}

/// `FeatureSet`: the features every generator reads. Language features (`pb.cpp`,
/// `pb.java`, `pb.go`, ... at 1000 and up) are for other generators and are skipped, as
/// are the source-retention ones protoc checks itself and strips
/// (`enforce_naming_style`, `default_symbol_visibility`).
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub(crate) struct FeatureSet {
    #[prost(int32, optional, tag = "1")]
    pub(crate) field_presence: Option<i32>,
    #[prost(int32, optional, tag = "2")]
    pub(crate) enum_type: Option<i32>,
    #[prost(int32, optional, tag = "3")]
    pub(crate) repeated_field_encoding: Option<i32>,
    #[prost(int32, optional, tag = "4")]
    pub(crate) utf8_validation: Option<i32>,
    #[prost(int32, optional, tag = "5")]
    pub(crate) message_encoding: Option<i32>,
    #[prost(int32, optional, tag = "6")]
    pub(crate) json_format: Option<i32>,
}

/// Field numbers of `descriptor.proto`, for `SourceCodeInfo` paths.
pub(crate) mod tag {
    /// In `FileDescriptorProto`.
    pub(crate) mod file {
        pub(crate) const MESSAGE_TYPE: i32 = 4;
        pub(crate) const ENUM_TYPE: i32 = 5;
        pub(crate) const OPTIONS: i32 = 8;
        pub(crate) const SYNTAX: i32 = 12;
        pub(crate) const EDITION: i32 = 14;
        /// `FileOptions.features`.
        pub(crate) const FEATURES: i32 = 50;
    }
    /// In `DescriptorProto`.
    pub(crate) mod message {
        pub(crate) const FIELD: i32 = 2;
        pub(crate) const NESTED_TYPE: i32 = 3;
        pub(crate) const ENUM_TYPE: i32 = 4;
        pub(crate) const OPTIONS: i32 = 7;
        pub(crate) const ONEOF_DECL: i32 = 8;
        /// `MessageOptions.features`.
        pub(crate) const FEATURES: i32 = 12;
    }
    /// In `FieldDescriptorProto`.
    pub(crate) mod field {
        pub(crate) const OPTIONS: i32 = 8;
        /// `FieldOptions.features`.
        pub(crate) const FEATURES: i32 = 21;
    }
    /// In `OneofDescriptorProto`.
    pub(crate) mod oneof {
        pub(crate) const OPTIONS: i32 = 2;
        /// `OneofOptions.features`.
        pub(crate) const FEATURES: i32 = 1;
    }
    /// In `EnumDescriptorProto`.
    pub(crate) mod enum_ {
        pub(crate) const OPTIONS: i32 = 3;
        /// `EnumOptions.features`.
        pub(crate) const FEATURES: i32 = 7;
    }
}
