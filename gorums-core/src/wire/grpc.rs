//! Go Gorums' gRPC wire, translated to and from the native one at a connection's edge.
//!
//! Go Gorums carries one bidirectional gRPC stream per node pair (`stream.Gorums/
//! NodeStream`); each gRPC message is a `stream.Message`, whose first five fields are our
//! [`proto::Message`]'s. A gRPC message is a 5-byte prefix (a compression flag, then a
//! big-endian `u32` length) and that many bytes of protobuf.
//!
//! A transport that speaks this wire (the gRPC transport of the TCP adapters) keeps the
//! engine on native frames: it turns each native frame body into a gRPC message
//! ([`grpc_message_of_frame`]) and each gRPC message into a native frame
//! ([`frame_of_grpc_message`]). Between two gorums-rs nodes the envelope goes unchanged,
//! `kind` included (a [`GrpcPeer::Native`] announces itself in the stream's headers).
//! Go's wire has no `kind`: what Go sends is marked [`Kind::Untyped`] for the engine to
//! infer, and what goes to Go loses its `kind`; a stream's end, which Go has no frame
//! for, is dropped when it succeeded and sent as a status reply when it failed.
//!
//! This module is pure: bytes in, bytes out.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::proto::{self, Kind};
use super::{FRAME_HEADER_LEN, WireError, decode_message, encode_frame};

/// The length of a gRPC message's prefix: the compression flag and the length.
pub const GRPC_PREFIX_LEN: usize = 5;

/// The gRPC path of Go Gorums' node stream.
pub const NODE_STREAM_PATH: &str = "/stream.Gorums/NodeStream";

/// The gRPC metadata key that carries the dialler's node id (absent: a plain client;
/// `0`: an anonymous client that can be called back).
pub const NODE_ID_KEY: &str = "gorums-node-id";

/// The header a gorums-rs end of a gRPC stream sends, so that the other end knows its
/// messages carry `kind`.
pub const NATIVE_PEER_KEY: &str = "gorums-rs-wire";

/// What the other end of a gRPC stream is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum GrpcPeer {
    /// A gorums-rs node: envelopes cross unchanged, `kind` included.
    Native,
    /// A Go Gorums node: no `kind`, no end of a reply stream.
    Go,
}

/// Appends the gRPC message for the native frame `body` (an encoded
/// [`proto::Message`]) to `dst`; appends nothing for a successful stream end to Go.
pub fn grpc_message_of_frame(
    body: Bytes,
    peer: GrpcPeer,
    dst: &mut BytesMut,
) -> Result<(), WireError> {
    let body = match peer {
        GrpcPeer::Native => body,
        GrpcPeer::Go => {
            let mut msg = decode_message(body)?;
            let ok = msg.status.as_ref().is_none_or(|s| s.code == 0);
            if msg.kind == Kind::StreamEnd as i32 && ok {
                return Ok(());
            }
            msg.kind = 0;
            Bytes::from(prost::Message::encode_to_vec(&msg))
        }
    };
    let len = u32::try_from(body.len()).map_err(|_| WireError::OutgoingTooLarge {
        what: "gRPC message",
        len: body.len(),
        max: u32::MAX as usize,
    })?;
    dst.reserve(GRPC_PREFIX_LEN + body.len());
    dst.put_u8(0);
    dst.put_u32(len);
    dst.put_slice(&body);
    Ok(())
}

/// Appends the native frame for the gRPC message body `body` from `peer` to `dst`:
/// unchanged from a native peer, marked [`Kind::Untyped`] from Go.
pub fn frame_of_grpc_message(
    body: Bytes,
    peer: GrpcPeer,
    max_frame_len: usize,
    dst: &mut BytesMut,
) -> Result<(), WireError> {
    match peer {
        GrpcPeer::Native => {
            if body.len() > max_frame_len || body.len() > u32::MAX as usize {
                return Err(WireError::FrameTooLarge {
                    len: body.len(),
                    max: max_frame_len,
                });
            }
            dst.reserve(FRAME_HEADER_LEN + body.len());
            dst.put_u32(body.len() as u32);
            dst.put_slice(&body);
        }
        GrpcPeer::Go => {
            let mut msg: proto::Message = decode_message(body)?;
            msg.kind = Kind::Untyped as i32;
            encode_frame(&msg, max_frame_len, dst)?;
        }
    }
    Ok(())
}

/// An incremental decoder of the gRPC messages of one stream's data frames.
///
/// Chunk boundaries do not matter; a message announcing more than the maximum is
/// rejected before its body is buffered, and a compressed one (no compression is ever
/// negotiated) is an error.
#[derive(Debug)]
pub struct GrpcDecoder {
    buf: BytesMut,
    max_message_len: usize,
}

impl GrpcDecoder {
    /// A decoder of messages up to `max_message_len` bytes.
    pub fn new(max_message_len: usize) -> GrpcDecoder {
        GrpcDecoder {
            buf: BytesMut::new(),
            max_message_len,
        }
    }

    /// Appends bytes of the stream.
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next whole message body, `Ok(None)` if more bytes are needed.
    pub fn next_message(&mut self) -> Result<Option<Bytes>, WireError> {
        if self.buf.len() < GRPC_PREFIX_LEN {
            return Ok(None);
        }
        if self.buf[0] != 0 {
            return Err(WireError::Compressed);
        }
        let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
        if len > self.max_message_len {
            return Err(WireError::FrameTooLarge {
                len,
                max: self.max_message_len,
            });
        }
        if self.buf.len() < GRPC_PREFIX_LEN + len {
            return Ok(None);
        }
        self.buf.advance(GRPC_PREFIX_LEN);
        Ok(Some(self.buf.split_to(len).freeze()))
    }

    /// Checks that the stream did not end inside a message.
    pub fn finish(&self) -> Result<(), WireError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        Err(WireError::Truncated {
            what: "gRPC message",
            buffered: self.buf.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{DEFAULT_MAX_FRAME_LEN, FrameDecoder};

    fn message(kind: Kind, status: Option<i32>) -> proto::Message {
        proto::Message {
            message_seq_no: 7 | 1 << 63,
            method: Bytes::from_static(b"proto.Storage.ReadQC"),
            status: status.map(|code| proto::Status {
                code,
                message: String::from("why"),
            }),
            payload: Bytes::from_static(b"payload"),
            kind: kind as i32,
            ..Default::default()
        }
    }

    fn body(msg: &proto::Message) -> Bytes {
        Bytes::from(prost::Message::encode_to_vec(msg))
    }

    fn one_grpc_message(bytes: &[u8]) -> Option<proto::Message> {
        let mut decoder = GrpcDecoder::new(DEFAULT_MAX_FRAME_LEN);
        // One byte at a time: chunk boundaries must not matter.
        let mut got = None;
        for b in bytes {
            decoder.push(std::slice::from_ref(b));
            if let Some(m) = decoder.next_message().unwrap() {
                assert!(got.is_none());
                got = Some(decode_message(m).unwrap());
            }
        }
        decoder.finish().unwrap();
        got
    }

    #[test]
    fn native_peers_keep_the_kind_and_go_peers_lose_it() {
        for kind in [
            Kind::Request,
            Kind::StreamRequest,
            Kind::StreamItem,
            Kind::OneWay,
        ] {
            let msg = message(kind, None);
            let mut out = BytesMut::new();
            grpc_message_of_frame(body(&msg), GrpcPeer::Native, &mut out).unwrap();
            assert_eq!(one_grpc_message(&out), Some(msg.clone()));
            out.clear();
            grpc_message_of_frame(body(&msg), GrpcPeer::Go, &mut out).unwrap();
            let to_go = one_grpc_message(&out).unwrap();
            assert_eq!(to_go.kind, 0);
            assert_eq!(
                (to_go.message_seq_no, to_go.payload),
                (msg.message_seq_no, msg.payload)
            );
        }
    }

    #[test]
    fn a_stream_end_reaches_go_only_when_it_failed() {
        let mut out = BytesMut::new();
        grpc_message_of_frame(
            body(&message(Kind::StreamEnd, None)),
            GrpcPeer::Go,
            &mut out,
        )
        .unwrap();
        assert!(out.is_empty());
        grpc_message_of_frame(
            body(&message(Kind::StreamEnd, Some(5))),
            GrpcPeer::Go,
            &mut out,
        )
        .unwrap();
        assert_eq!(one_grpc_message(&out).unwrap().status.unwrap().code, 5);
    }

    #[test]
    fn what_go_sends_is_untyped_on_the_native_wire() {
        let mut from_go = message(Kind::Request, None);
        let mut out = BytesMut::new();
        frame_of_grpc_message(
            body(&from_go),
            GrpcPeer::Go,
            DEFAULT_MAX_FRAME_LEN,
            &mut out,
        )
        .unwrap();
        frame_of_grpc_message(
            body(&from_go),
            GrpcPeer::Native,
            DEFAULT_MAX_FRAME_LEN,
            &mut out,
        )
        .unwrap();
        let mut frames = FrameDecoder::without_preface(DEFAULT_MAX_FRAME_LEN);
        frames.push(&out);
        let first = decode_message(frames.next_frame().unwrap().unwrap()).unwrap();
        let second = decode_message(frames.next_frame().unwrap().unwrap()).unwrap();
        assert_eq!(second, from_go);
        from_go.kind = Kind::Untyped as i32;
        assert_eq!(first, from_go);
    }

    #[test]
    fn compressed_oversized_and_truncated_messages_are_errors() {
        let mut decoder = GrpcDecoder::new(16);
        decoder.push(&[1, 0, 0, 0, 1, 0]);
        assert_eq!(decoder.next_message(), Err(WireError::Compressed));
        let mut decoder = GrpcDecoder::new(16);
        decoder.push(&[0, 0, 0, 0, 17]);
        assert!(matches!(
            decoder.next_message(),
            Err(WireError::FrameTooLarge { len: 17, .. })
        ));
        let mut decoder = GrpcDecoder::new(16);
        decoder.push(&[0, 0, 0, 0, 2, 9]);
        assert_eq!(decoder.next_message(), Ok(None));
        assert!(decoder.finish().is_err());
    }

    #[test]
    fn a_message_exactly_at_the_limit_passes_and_one_byte_over_is_refused_both_ways() {
        let body = Bytes::from(vec![7u8; 16]);
        let mut out = BytesMut::new();
        frame_of_grpc_message(body.clone(), GrpcPeer::Native, 16, &mut out).unwrap();
        assert_eq!(&out[..FRAME_HEADER_LEN], &16u32.to_be_bytes());
        assert_eq!(&out[FRAME_HEADER_LEN..], &body[..]);
        let mut refused = BytesMut::new();
        assert_eq!(
            frame_of_grpc_message(body.clone(), GrpcPeer::Native, 15, &mut refused),
            Err(WireError::FrameTooLarge { len: 16, max: 15 })
        );
        assert!(refused.is_empty());

        let mut decoder = GrpcDecoder::new(16);
        decoder.push(&[0, 0, 0, 0, 16]);
        decoder.push(&body);
        assert_eq!(decoder.next_message(), Ok(Some(body)));
        decoder.finish().unwrap();
    }
}
