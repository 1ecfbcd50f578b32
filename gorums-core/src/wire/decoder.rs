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
    /// While set, the buffer's capacity never grows past this many bytes: the caller
    /// pushes at most [`room`](Self::room) bytes at a time (see
    /// [`set_hold_limit`](Self::set_hold_limit)).
    hold_limit: Option<usize>,
    preface_pending: bool,
    failed: Option<WireError>,
}

impl FrameDecoder {
    /// A decoder for a connection's incoming side: the preface, then frames.
    pub fn new(max_frame_len: usize) -> Self {
        FrameDecoder {
            buf: BytesMut::new(),
            max_frame_len,
            hold_limit: None,
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

    /// Changes the maximum frame body length; frames already returned are unaffected,
    /// a frame whose header is already buffered is checked against the new maximum.
    pub fn set_max_frame_len(&mut self, max_frame_len: usize) {
        self.max_frame_len = max_frame_len;
    }

    /// Bounds the memory this decoder holds: with `Some(limit)`, its buffer's capacity
    /// never passes `limit` bytes, as long as the caller pushes no more than
    /// [`room`](Self::room) at a time. A limit of at least the preface plus a frame
    /// header plus the maximum frame length always leaves room for the next frame.
    /// `None` lifts the bound (the buffer then grows as frames need).
    pub fn set_hold_limit(&mut self, limit: Option<usize>) {
        self.hold_limit = limit;
    }

    /// How many more bytes may be pushed now without passing the hold limit
    /// (`usize::MAX` without one).
    pub fn room(&self) -> usize {
        self.hold_limit
            .map_or(usize::MAX, |limit| limit.saturating_sub(self.buf.len()))
    }

    /// The bytes of memory the decoder's buffer holds (its capacity, used or not).
    pub fn held(&self) -> usize {
        self.buf.capacity()
    }

    /// Appends bytes received from the peer. Under a hold limit, push at most
    /// [`room`](Self::room) bytes at a time.
    pub fn push(&mut self, chunk: &[u8]) {
        if self.failed.is_none() {
            self.grow_for(self.buf.len() + chunk.len());
            self.buf.extend_from_slice(chunk);
        }
    }

    /// Makes room for `total` buffered bytes; under a hold limit the buffer grows to at
    /// most the limit (never by the doubling `BytesMut` would choose).
    fn grow_for(&mut self, total: usize) {
        let Some(limit) = self.hold_limit else {
            return;
        };
        if total <= self.buf.capacity() {
            return;
        }
        let cap = self
            .buf
            .capacity()
            .saturating_mul(2)
            .max(total)
            .min(limit.max(total));
        let mut bigger = BytesMut::with_capacity(cap);
        bigger.extend_from_slice(&self.buf);
        self.buf = bigger;
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
            if self.hold_limit.is_some() {
                self.grow_for(needed);
            } else {
                self.buf.reserve(needed - self.buf.len());
            }
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
