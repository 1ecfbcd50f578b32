//! What can go wrong while generating code, each with the file and method it concerns.

use std::fmt;
use std::io;

/// Why [`Builder::compile`](crate::Builder::compile) failed.
///
/// Its `Debug` output is its `Display` text, so that a build script that returns
/// `Result<(), Box<dyn Error>>` prints a readable message.
pub enum Error {
    /// A `.proto` file could not be read or parsed (the message names file and line).
    Proto(protox::Error),
    /// A method breaks a Gorums rule: two call-type options, client streaming, a
    /// streamed reply without `quorumcall`, or a name clash in the generated code.
    Method {
        /// The method's full name, e.g. `proto.Storage.ReadQC`.
        method: String,
        /// The `.proto` file it is declared in.
        file: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A message uses a name the Gorums API reserves.
    ReservedName {
        /// The message's full name.
        message: String,
        /// The `.proto` file it is declared in.
        file: String,
    },
    /// The descriptors could not be read back, or prost-build failed writing the output.
    Generate(String),
    /// The output directory is unknown or could not be written.
    Io(io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Proto(err) => match err.file() {
                Some(file) if !err.to_string().contains(file) => {
                    write!(f, "gorums-build: {file}: {err}")
                }
                _ => write!(f, "gorums-build: {err}"),
            },
            Error::Method {
                method,
                file,
                reason,
            } => write!(f, "gorums-build: {file}: method {method}: {reason}"),
            Error::ReservedName { message, file } => write!(
                f,
                "gorums-build: {file}: message {message}: the names Configuration, Node, \
                 NodeContext and ConfigContext are reserved by Gorums; rename the message"
            ),
            Error::Generate(reason) => write!(f, "gorums-build: {reason}"),
            Error::Io(err) => write!(f, "gorums-build: {err}"),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Proto(err) => Some(err),
            Error::Io(err) => Some(err),
            _ => None,
        }
    }
}

impl From<protox::Error> for Error {
    fn from(err: protox::Error) -> Self {
        Error::Proto(err)
    }
}

impl From<io::Error> for Error {
    fn from(err: io::Error) -> Self {
        Error::Io(err)
    }
}
