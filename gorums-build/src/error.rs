//! What can go wrong while generating code, each with the file and method it concerns.
//!
//! [`Error`] says which step failed; a broken Gorums rule is a [`Violation`], and all
//! of them are reported together in [`Error::Invalid`]. What a method does wrong is a
//! [`MethodRule`].

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
    /// A `.proto` file could not be read or parsed (the message names file and line).
    #[error("gorums-build: {}", proto_message(.0))]
    Proto(#[from] protox::Error),
    /// The descriptors protox compiled could not be decoded again to read the Gorums
    /// options.
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
fn lines(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|v| format!("gorums-build: {v}"))
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
