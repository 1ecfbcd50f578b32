//! The native wire: preface, length-prefixed frames and the protobuf envelope.
//!
//! A connection carries, each way, an 8-byte [preface](PREFACE) (`GORUMS` and the protocol
//! version), then frames: a 4-byte big-endian body length followed by the body, a
//! protobuf-encoded [`proto::Hello`] for the first frame and a [`proto::Message`] for every
//! later one. `proto/wire.proto` in the repository is the schema.
//!
//! This module is pure: bytes in, frames out. [`encode_frame`] appends frames to a caller's
//! buffer, so many frames can leave in one write; [`FrameDecoder`] is fed arbitrary chunks
//! (one byte at a time works) and yields whole frame bodies as [`bytes::Bytes`] slices of
//! its buffer, without copying them again. Every limit is checked before memory is
//! committed to it: a length over the maximum is an error before the body is read.

mod decoder;
mod encoder;
mod envelope;
mod error;
pub mod grpc;
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub mod proto;

pub use decoder::FrameDecoder;
pub use encoder::{encode_frame, encode_preface};
pub use envelope::EnvelopeRef;
pub use error::{ByteString, WireError};

/// The magic bytes that open every connection.
pub const MAGIC: [u8; 6] = *b"GORUMS";

/// The wire protocol version this crate speaks.
pub const PROTOCOL_VERSION: u16 = 1;

/// The full preface: [`MAGIC`] then [`PROTOCOL_VERSION`] as a big-endian `u16`.
pub const PREFACE: [u8; 8] = {
    let v = PROTOCOL_VERSION.to_be_bytes();
    [
        MAGIC[0], MAGIC[1], MAGIC[2], MAGIC[3], MAGIC[4], MAGIC[5], v[0], v[1],
    ]
};

/// The size of a frame's length prefix.
pub const FRAME_HEADER_LEN: usize = 4;

/// The default maximum frame body size: 4 MiB.
pub const DEFAULT_MAX_FRAME_LEN: usize = 4 * 1024 * 1024;

/// Decodes a frame body as the [`proto::Message`] envelope.
///
/// Payload bytes are slices of `body`, not copies.
pub fn decode_message(body: bytes::Bytes) -> Result<proto::Message, WireError> {
    <proto::Message as prost::Message>::decode(body)
        .map_err(|e| WireError::undecodable("message", e))
}

/// Decodes a frame body as the connection's [`proto::Hello`].
pub fn decode_hello(body: bytes::Bytes) -> Result<proto::Hello, WireError> {
    <proto::Hello as prost::Message>::decode(body).map_err(|e| WireError::undecodable("hello", e))
}

#[cfg(test)]
mod tests;
