//! Encoding a [`proto::Message`] envelope from borrowed parts, without building one.
//!
//! A call sends one envelope per node that differs only in its id: building a
//! `proto::Message` for each would copy the method name, metadata and payload each time.
//! [`EnvelopeRef`] borrows them and encodes to exactly the bytes prost would.

use bytes::{BufMut, BytesMut};
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint, key_len};

use super::proto::{self, Kind, MetadataEntry};
use super::{FRAME_HEADER_LEN, WireError};

/// The parts of a [`proto::Message`], borrowed.
#[derive(Clone, Copy, Debug)]
pub struct EnvelopeRef<'a> {
    /// `message_seq_no`.
    pub id: u64,
    /// The full method name.
    pub method: &'a str,
    /// The status code and message, if any.
    pub status: Option<(i32, &'a str)>,
    /// Per-message metadata.
    pub metadata: &'a [MetadataEntry],
    /// The encoded payload.
    pub payload: &'a [u8],
    /// What the message is.
    pub kind: Kind,
}

fn bytes_field_len(tag: u32, len: usize) -> usize {
    key_len(tag) + encoded_len_varint(len as u64) + len
}

fn put_bytes_field(tag: u32, bytes: &[u8], dst: &mut BytesMut) {
    encode_key(tag, WireType::LengthDelimited, dst);
    encode_varint(bytes.len() as u64, dst);
    dst.put_slice(bytes);
}

impl EnvelopeRef<'_> {
    fn status_body_len(code: i32, message: &str) -> usize {
        let code_len = if code != 0 {
            key_len(1) + encoded_len_varint(i64::from(code) as u64)
        } else {
            0
        };
        let message_len = if message.is_empty() {
            0
        } else {
            bytes_field_len(2, message.len())
        };
        code_len + message_len
    }

    /// The length of the protobuf encoding.
    pub fn encoded_len(&self) -> usize {
        let mut len = 0;
        if self.id != 0 {
            len += key_len(1) + encoded_len_varint(self.id);
        }
        if !self.method.is_empty() {
            len += bytes_field_len(2, self.method.len());
        }
        if let Some((code, message)) = self.status {
            len += bytes_field_len(3, Self::status_body_len(code, message));
        }
        for entry in self.metadata {
            len += bytes_field_len(4, prost::Message::encoded_len(entry));
        }
        if !self.payload.is_empty() {
            len += bytes_field_len(5, self.payload.len());
        }
        if self.kind as i32 != 0 {
            len += key_len(6) + encoded_len_varint(i64::from(self.kind as i32) as u64);
        }
        len
    }

    fn encode_raw(&self, dst: &mut BytesMut) {
        if self.id != 0 {
            encode_key(1, WireType::Varint, dst);
            encode_varint(self.id, dst);
        }
        if !self.method.is_empty() {
            put_bytes_field(2, self.method.as_bytes(), dst);
        }
        if let Some((code, message)) = self.status {
            encode_key(3, WireType::LengthDelimited, dst);
            encode_varint(Self::status_body_len(code, message) as u64, dst);
            if code != 0 {
                encode_key(1, WireType::Varint, dst);
                encode_varint(i64::from(code) as u64, dst);
            }
            if !message.is_empty() {
                put_bytes_field(2, message.as_bytes(), dst);
            }
        }
        for entry in self.metadata {
            encode_key(4, WireType::LengthDelimited, dst);
            encode_varint(prost::Message::encoded_len(entry) as u64, dst);
            prost::Message::encode_raw(entry, dst);
        }
        if !self.payload.is_empty() {
            put_bytes_field(5, self.payload, dst);
        }
        if self.kind as i32 != 0 {
            encode_key(6, WireType::Varint, dst);
            encode_varint(i64::from(self.kind as i32) as u64, dst);
        }
    }

    /// The length of this envelope's frame, header included.
    pub fn frame_len(&self) -> usize {
        FRAME_HEADER_LEN + self.encoded_len()
    }

    /// Appends this envelope to `dst` as one frame; the same bytes as
    /// [`encode_frame`](super::encode_frame) of the equivalent [`proto::Message`].
    pub fn encode_frame(
        &self,
        max_frame_len: usize,
        dst: &mut BytesMut,
    ) -> Result<usize, WireError> {
        let len = self.encoded_len();
        if len > max_frame_len || len > u32::MAX as usize {
            return Err(WireError::OutgoingTooLarge {
                what: "Message",
                len,
                max: max_frame_len,
            });
        }
        dst.reserve(FRAME_HEADER_LEN + len);
        dst.put_u32(len as u32);
        self.encode_raw(dst);
        Ok(FRAME_HEADER_LEN + len)
    }

    /// The owned message (for in-process delivery, where no bytes are needed).
    pub fn to_message(&self) -> proto::Message {
        proto::Message {
            message_seq_no: self.id,
            method: bytes::Bytes::copy_from_slice(self.method.as_bytes()),
            status: self.status.map(|(code, message)| proto::Status {
                code,
                message: message.to_owned(),
            }),
            metadata: self.metadata.to_vec(),
            payload: bytes::Bytes::copy_from_slice(self.payload),
            kind: self.kind as i32,
        }
    }
}
