//! What can go wrong while generating code, each with the file and method it concerns.
//!
//! [`Error`] says which step failed; a broken Gorums rule is a [`Violation`], and all
//! of them are reported together in [`Error::Invalid`]. What a method does wrong is a
//! [`MethodRule`]. An editions feature prost cannot honour is an [`Unsupported`], all of
//! them in [`Error::Unsupported`].

use std::fmt;
use std::io;
use std::path::PathBuf;

use protox::prost_reflect::DescriptorError;

/// Why [`Builder::compile`](crate::Builder::compile) failed.
///
/// Its `Display` text names the file, and the method or message, at fault; its
/// [`source`](std::error::Error::source) is the underlying error, if there is one. Its
/// `Debug` output is its `Display` text, so that a build script that returns
/// `Result<(), Box<dyn Error>>` prints a readable message.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A proto2 or proto3 `.proto` file could not be read or parsed by protox (the
    /// message names file and line).
    #[error("gorums-build: {}", proto_message(.0))]
    Proto(#[from] protox::Error),
    /// The bundled protoc, which reads the files when one is an editions file, refused
    /// them. `message` is what it printed, one `file:line:column: what` line per
    /// problem.
    #[error("{}", protoc_lines(.message))]
    Protoc {
        /// protoc's error output.
        message: String,
    },
    /// `file` is an editions file, which needs the protoc that `protoc-bin-vendored`
    /// bundles, and it bundles none for this platform.
    #[error(
        "gorums-build: {file} is an editions file, read with the protoc bundled in \
         protoc-bin-vendored: {source}"
    )]
    ProtocUnavailable {
        /// The editions file, as imported or named.
        file: String,
        /// Which platform has no protoc (a `protoc_bin_vendored::Error`).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The bundled protoc could not be run, or its output not be read.
    #[error("gorums-build: running the bundled protoc ({}): {source}", protoc.display())]
    ProtocRun {
        /// The protoc binary.
        protoc: PathBuf,
        /// What failed; its [`kind`](io::Error::kind) says why.
        #[source]
        source: io::Error,
    },
    /// Editions or features that prost cannot honour: every one found, each with its
    /// file and line. The `Display` text puts each on its own line.
    #[error("{}", lines(.0))]
    Unsupported(Vec<Unsupported>),
    /// The compiled descriptors could not be decoded (a bug in a compiler, not in the
    /// `.proto` files).
    #[error("gorums-build: decoding the compiled descriptors: {0}")]
    Decode(#[source] prost::DecodeError),
    /// The compiled descriptors could not be read again to check the Gorums rules.
    #[error("gorums-build: reading the compiled descriptors: {0}")]
    Descriptors(#[source] DescriptorError),
    /// Methods or messages break Gorums rules: every one found, in the order of the
    /// files (first the message names and call types, then the generated names). The
    /// `Display` text puts each on its own line.
    #[error("{}", lines(.0))]
    Invalid(Vec<Violation>),
    /// No output directory: `OUT_DIR` is not set and [`Builder::out_dir`] was not called.
    ///
    /// [`Builder::out_dir`]: crate::Builder::out_dir
    #[error(
        "gorums-build: OUT_DIR is not set: call gorums-build from a build script, or set \
         Builder::out_dir"
    )]
    OutDirUnset,
    /// prost-build failed generating or writing the output into `dir`.
    #[error("gorums-build: writing to {}: {source}", dir.display())]
    Write {
        /// The output directory.
        dir: PathBuf,
        /// What prost-build reported; its [`kind`](io::Error::kind) says why.
        #[source]
        source: io::Error,
    },
}

/// A `.proto` definition that breaks a Gorums rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Violation {
    /// A method that cannot be generated as it is declared.
    #[error("{file}: method {method}: {rule}")]
    Method {
        /// The method's full name, e.g. `proto.Storage.ReadQC`.
        method: String,
        /// The `.proto` file it is declared in, or `(generated code)` when the problem
        /// shows only in the generated names.
        file: String,
        /// What is wrong and how to fix it.
        #[source]
        rule: MethodRule,
    },
    /// A message uses a name the Gorums API reserves.
    #[error(
        "{file}: message {message}: the names Configuration, Node, NodeContext and \
         ConfigContext are reserved by Gorums; rename the message"
    )]
    ReservedName {
        /// The message's full name.
        message: String,
        /// The `.proto` file it is declared in.
        file: String,
    },
}

/// An edition, or an editions feature, that gorums-build cannot turn into prost code
/// that means the same on the wire.
///
/// Its `Display` text is `file:line:column: subject: found is not supported; expected
/// ...`, pointing at the `edition` line or at the `features.x = ...` setting (which may
/// be on an enclosing message or the file); line and column are 1-based, 0 when the
/// descriptors carry no source position.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Unsupported {
    /// The `.proto` file, as protoc names it in its own errors.
    pub file: String,
    /// The line of the setting (1-based).
    pub line: u32,
    /// The column of the setting (1-based).
    pub column: u32,
    /// What it applies to, e.g. `field storage.Entry.value` or `file storage.proto`.
    pub subject: String,
    /// What the file says, e.g. `features.message_encoding = DELIMITED`.
    pub found: String,
    /// What gorums-build expected instead, and why.
    pub expected: String,
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        write!(
            f,
            ": {}: {} is not supported; expected {}",
            self.subject, self.found, self.expected
        )
    }
}

impl std::error::Error for Unsupported {}

/// The Gorums rule a method breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MethodRule {
    /// More than one of `rpc`, `unicast`, `multicast` and `quorumcall` is set.
    #[error(
        "has {} call-type options ({}); a method takes at most one",
        options.len(),
        options.join(", ")
    )]
    SeveralOptions {
        /// The options set, e.g. `gorums.quorumcall`.
        options: Vec<String>,
    },
    /// The request is a `stream`, which Gorums does not support.
    #[error("client streaming is not supported by Gorums; send a single request message")]
    ClientStreaming,
    /// The reply is a `stream` but the method is not a quorum call.
    #[error("a streamed reply needs `option (gorums.quorumcall) = true;` (a correctable call)")]
    StreamWithoutQuorumCall,
    /// The generated function has the name of another function of its type.
    #[error(
        "its generated {owner} function `{function}` clashes with another function of that \
         type; rename the method"
    )]
    NameClash {
        /// The type the function would be generated on.
        owner: GeneratedType,
        /// The function's name.
        function: String,
    },
    /// prost-build passed a method the descriptors do not have.
    #[error("is missing from the descriptor pool")]
    MissingFromPool,
}

/// A generated wrapper type of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GeneratedType {
    /// `FooConfiguration`, with the quorum calls, correctable calls and multicasts.
    Configuration,
    /// `FooNode`, with the RPCs and unicasts.
    Node,
}

impl fmt::Display for GeneratedType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GeneratedType::Configuration => "configuration",
            GeneratedType::Node => "node",
        })
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// protox's message, with the file in front unless it already names it.
fn proto_message(err: &protox::Error) -> String {
    let message = err.to_string();
    match err.file() {
        Some(file) if !message.contains(file) => format!("{file}: {message}"),
        _ => message,
    }
}

/// One `gorums-build: ` line per violation.
fn lines(violations: &[impl fmt::Display]) -> String {
    violations
        .iter()
        .map(|v| format!("gorums-build: {v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// protoc's output, each line behind `gorums-build: `.
fn protoc_lines(message: &str) -> String {
    let lines: Vec<&str> = message.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return String::from("gorums-build: protoc failed and printed nothing");
    }
    lines
        .iter()
        .map(|line| format!("gorums-build: {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    fn clash(method: &str) -> Violation {
        Violation::Method {
            method: method.into(),
            file: "(generated code)".into(),
            rule: MethodRule::NameClash {
                owner: GeneratedType::Node,
                function: "node".into(),
            },
        }
    }

    #[test]
    fn one_violation_reads_as_a_single_error() {
        let err = Error::Invalid(vec![clash("p.S.Node")]);
        assert_eq!(
            err.to_string(),
            "gorums-build: (generated code): method p.S.Node: its generated node function \
             `node` clashes with another function of that type; rename the method"
        );
        assert!(err.source().is_none());
    }

    #[test]
    fn every_violation_gets_its_own_line() {
        let reserved = Violation::ReservedName {
            message: "p.Node".into(),
            file: "p.proto".into(),
        };
        let err = Error::Invalid(vec![
            reserved.clone(),
            clash("p.S.Node"),
            Violation::Method {
                method: "p.S.Up".into(),
                file: "p.proto".into(),
                rule: MethodRule::ClientStreaming,
            },
        ]);
        let text = err.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[0], format!("gorums-build: {reserved}"));
        assert!(lines[1].contains("method p.S.Node"), "{text}");
        assert!(lines[2].starts_with("gorums-build: p.proto: method p.S.Up: client"));
        assert_eq!(format!("{err:?}"), text);
    }

    #[test]
    fn a_method_violation_has_its_rule_as_source() {
        let violation = clash("p.S.Node");
        let source = violation.source().expect("a source");
        assert!(
            source
                .to_string()
                .starts_with("its generated node function")
        );
    }

    #[test]
    fn several_options_are_listed() {
        let rule = MethodRule::SeveralOptions {
            options: vec!["gorums.multicast".into(), "gorums.quorumcall".into()],
        };
        assert_eq!(
            rule.to_string(),
            "has 2 call-type options (gorums.multicast, gorums.quorumcall); a method takes \
             at most one"
        );
    }

    #[test]
    fn an_unsupported_feature_reads_like_a_protoc_error() {
        let unsupported = Unsupported {
            file: "proto/a.proto".into(),
            line: 4,
            column: 22,
            subject: "field a.A.b".into(),
            found: "features.message_encoding = DELIMITED".into(),
            expected: "LENGTH_PREFIXED".into(),
        };
        let no_line = Unsupported {
            line: 0,
            column: 0,
            ..unsupported.clone()
        };
        let err = Error::Unsupported(vec![unsupported, no_line]);
        assert_eq!(
            err.to_string(),
            "gorums-build: proto/a.proto:4:22: field a.A.b: features.message_encoding = \
             DELIMITED is not supported; expected LENGTH_PREFIXED\n\
             gorums-build: proto/a.proto: field a.A.b: features.message_encoding = DELIMITED \
             is not supported; expected LENGTH_PREFIXED"
        );
    }

    #[test]
    fn protoc_errors_keep_their_lines() {
        let err = Error::Protoc {
            message: "a.proto:4:1: Expected \";\".\na.proto:4:1: Reached end of input.\n".into(),
        };
        assert_eq!(
            err.to_string(),
            "gorums-build: a.proto:4:1: Expected \";\".\ngorums-build: a.proto:4:1: Reached \
             end of input."
        );
        let silent = Error::Protoc {
            message: String::new(),
        };
        assert!(silent.to_string().contains("printed nothing"), "{silent}");
    }

    #[test]
    fn a_write_failure_keeps_the_io_error_and_the_directory() {
        let err = Error::Write {
            dir: PathBuf::from("/out"),
            source: io::Error::new(io::ErrorKind::PermissionDenied, "denied"),
        };
        assert_eq!(err.to_string(), "gorums-build: writing to /out: denied");
        let source = err.source().expect("a source");
        let io = source.downcast_ref::<io::Error>().expect("an io::Error");
        assert_eq!(io.kind(), io::ErrorKind::PermissionDenied);
    }
}
