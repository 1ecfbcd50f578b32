use std::fmt;

/// Why a byte stream is not valid gorums wire traffic.
///
/// Every variant means the connection that carried the bytes must be closed; none of them
/// concerns any other connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The stream did not open with the gorums magic bytes.
    #[error("bad preface: expected {expected:?}, got {got:?}")]
    BadPreface {
        /// The bytes a preface starts with.
        expected: ByteString,
        /// What arrived instead.
        got: ByteString,
    },
    /// The peer speaks a protocol version this crate does not.
    #[error("unsupported protocol version {0} (this side speaks {ours})", ours = super::PROTOCOL_VERSION)]
    UnsupportedVersion(u16),
    /// A frame announced a body longer than the configured maximum.
    #[error("frame of {len} bytes exceeds the maximum of {max} bytes")]
    FrameTooLarge {
        /// The announced body length.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The stream ended inside the preface or a frame.
    #[error("stream truncated: {buffered} bytes of an unfinished {what} at close")]
    Truncated {
        /// What was being read: `preface`, `frame header` or `frame body`.
        what: &'static str,
        /// How many bytes of it had arrived.
        buffered: usize,
    },
    /// A frame body is not a valid protobuf message of the expected type.
    #[error("undecodable {what}: {source}")]
    Undecodable {
        /// The message type expected (`hello` or `message`).
        what: &'static str,
        /// The decoder's error.
        #[source]
        source: prost::DecodeError,
    },
    /// A gRPC message is compressed, though no compression was negotiated.
    #[error("compressed gRPC message (no compression was negotiated)")]
    Compressed,
    /// An outgoing message is larger than the configured maximum frame size.
    #[error("outgoing {what} of {len} bytes exceeds the maximum frame of {max} bytes")]
    OutgoingTooLarge {
        /// What was being encoded.
        what: &'static str,
        /// Its encoded length.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
}

impl WireError {
    pub(crate) fn undecodable(what: &'static str, err: prost::DecodeError) -> Self {
        WireError::Undecodable { what, source: err }
    }
}

/// A short byte string shown escaped in error messages.
#[derive(Clone, PartialEq, Eq)]
pub struct ByteString(pub Vec<u8>);

impl fmt::Debug for ByteString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.0.escape_ascii())
    }
}
