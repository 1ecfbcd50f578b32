use bytes::{BufMut, BytesMut};

use super::{FRAME_HEADER_LEN, PREFACE, WireError};

/// Appends the connection [preface](super::PREFACE) to `dst`.
pub fn encode_preface(dst: &mut BytesMut) {
    dst.extend_from_slice(&PREFACE);
}

/// Appends `msg` to `dst` as one frame: its length as a big-endian `u32`, then its
/// protobuf encoding.
///
/// Frames accumulate back to back in `dst`, so a driver can write many of them with one
/// syscall. Returns the number of bytes appended. A message longer than `max_frame_len`
/// is not appended and is an [`WireError::OutgoingTooLarge`] error: the peer would reject
/// it anyway.
///
/// ```
/// use bytes::BytesMut;
/// use gorums_core::wire::{encode_frame, proto, FrameDecoder, DEFAULT_MAX_FRAME_LEN};
///
/// let msg = proto::Message { message_seq_no: 7, method: "proto.Storage.ReadQC".into(), ..Default::default() };
/// let mut out = BytesMut::new();
/// encode_frame(&msg, DEFAULT_MAX_FRAME_LEN, &mut out)?;
/// encode_frame(&msg, DEFAULT_MAX_FRAME_LEN, &mut out)?;
///
/// let mut decoder = FrameDecoder::without_preface(DEFAULT_MAX_FRAME_LEN);
/// decoder.push(&out);
/// assert!(decoder.next_frame()?.is_some());
/// assert!(decoder.next_frame()?.is_some());
/// assert!(decoder.next_frame()?.is_none());
/// # Ok::<(), gorums_core::wire::WireError>(())
/// ```
pub fn encode_frame<M: prost::Message>(
    msg: &M,
    max_frame_len: usize,
    dst: &mut BytesMut,
) -> Result<usize, WireError> {
    let len = msg.encoded_len();
    if len > max_frame_len || len > u32::MAX as usize {
        return Err(WireError::OutgoingTooLarge {
            what: short_type_name::<M>(),
            len,
            max: max_frame_len,
        });
    }
    dst.reserve(FRAME_HEADER_LEN + len);
    // The length fits in u32: checked above.
    dst.put_u32(len as u32);
    // Cannot fail: capacity was reserved above.
    msg.encode_raw(dst);
    Ok(FRAME_HEADER_LEN + len)
}

fn short_type_name<M>() -> &'static str {
    let full = std::any::type_name::<M>();
    full.rsplit("::").next().unwrap_or(full)
}
