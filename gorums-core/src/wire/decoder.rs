use bytes::{Buf, Bytes, BytesMut};

use super::{ByteString, FRAME_HEADER_LEN, MAGIC, PREFACE, PROTOCOL_VERSION, WireError};

/// An incremental decoder of one connection's incoming byte stream.
///
/// Feed it whatever the socket gave with [`push`](Self::push), then call
/// [`next_frame`](Self::next_frame) until it returns `Ok(None)`. Chunk boundaries do not
/// matter: a frame split over many pushes, or many frames in one push, decode the same.
/// At end of stream call [`finish`](Self::finish) to learn whether the peer stopped in the
/// middle of a frame.
///
/// Errors are sticky: after one, every call returns it again, and the connection must be
/// closed. Memory held is bounded by the bytes pushed and not yet returned; a frame header
/// announcing more than the maximum is rejected before any of its body is buffered
/// for it.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: BytesMut,
    max_frame_len: usize,
    preface_pending: bool,
    failed: Option<WireError>,
}

impl FrameDecoder {
    /// A decoder for a connection's incoming side: the preface, then frames.
    pub fn new(max_frame_len: usize) -> Self {
        FrameDecoder {
            buf: BytesMut::new(),
            max_frame_len,
            preface_pending: true,
            failed: None,
        }
    }

    /// A decoder for a bare sequence of frames, with no preface.
    pub fn without_preface(max_frame_len: usize) -> Self {
        FrameDecoder {
            preface_pending: false,
            ..Self::new(max_frame_len)
        }
    }

    /// The maximum frame body length this decoder accepts.
    pub fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }

    /// Appends bytes received from the peer.
    pub fn push(&mut self, chunk: &[u8]) {
        if self.failed.is_none() {
            self.buf.extend_from_slice(chunk);
        }
    }

    /// The number of bytes pushed and not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Returns the next whole frame body, `Ok(None)` if more bytes are needed, or the
    /// error that makes this stream invalid.
    ///
    /// The body is a slice of the decoder's buffer: no copy is made.
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, WireError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        match self.decode() {
            Err(err) => {
                self.buf = BytesMut::new();
                self.failed = Some(err.clone());
                Err(err)
            }
            ok => ok,
        }
    }

    /// Checks that the stream ended on a frame boundary; call it when the peer closed.
    pub fn finish(&self) -> Result<(), WireError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let buffered = self.buf.len();
        if buffered == 0 {
            return Ok(());
        }
        let what = if self.preface_pending {
            "preface"
        } else if buffered < FRAME_HEADER_LEN {
            "frame header"
        } else {
            "frame body"
        };
        Err(WireError::Truncated { what, buffered })
    }

    fn decode(&mut self) -> Result<Option<Bytes>, WireError> {
        if self.preface_pending && !self.take_preface()? {
            return Ok(None);
        }
        if self.buf.len() < FRAME_HEADER_LEN {
            return Ok(None);
        }
        let header: [u8; FRAME_HEADER_LEN] = [self.buf[0], self.buf[1], self.buf[2], self.buf[3]];
        let len = u32::from_be_bytes(header) as usize;
        if len > self.max_frame_len {
            return Err(WireError::FrameTooLarge {
                len,
                max: self.max_frame_len,
            });
        }
        let needed = FRAME_HEADER_LEN + len;
        if self.buf.len() < needed {
            // The length is within the limit: reserving it now saves regrowing the buffer
            // once per chunk of a large body.
            self.buf.reserve(needed - self.buf.len());
            return Ok(None);
        }
        self.buf.advance(FRAME_HEADER_LEN);
        Ok(Some(self.buf.split_to(len).freeze()))
    }

    /// Consumes the preface once it is all here; rejects a wrong magic byte as soon as it
    /// arrives.
    fn take_preface(&mut self) -> Result<bool, WireError> {
        let seen = self.buf.len().min(MAGIC.len());
        if self.buf[..seen] != MAGIC[..seen] {
            return Err(WireError::BadPreface {
                expected: ByteString(MAGIC.to_vec()),
                got: ByteString(self.buf[..self.buf.len().min(PREFACE.len())].to_vec()),
            });
        }
        if self.buf.len() < PREFACE.len() {
            return Ok(false);
        }
        let version = u16::from_be_bytes([self.buf[MAGIC.len()], self.buf[MAGIC.len() + 1]]);
        if version != PROTOCOL_VERSION {
            return Err(WireError::UnsupportedVersion(version));
        }
        self.buf.advance(PREFACE.len());
        self.preface_pending = false;
        Ok(true)
    }
}
