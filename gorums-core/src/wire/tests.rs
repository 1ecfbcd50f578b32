use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;

fn message(id: u64, method: &str, payload: &[u8]) -> proto::Message {
    proto::Message {
        message_seq_no: id,
        method: method.to_owned().into(),
        payload: Bytes::copy_from_slice(payload),
        ..Default::default()
    }
}

fn arb_message() -> impl Strategy<Value = proto::Message> {
    (
        any::<u64>(),
        "[a-zA-Z.]{0,24}",
        proptest::option::of((any::<i32>(), "[ -~]{0,16}")),
        proptest::collection::vec(("[a-z-]{0,8}", "[ -~]{0,8}"), 0..3),
        proptest::collection::vec(any::<u8>(), 0..300),
        0i32..6,
    )
        .prop_map(
            |(id, method, status, metadata, payload, kind)| proto::Message {
                message_seq_no: id,
                method: method.into(),
                status: status.map(|(code, message)| proto::Status { code, message }),
                metadata: metadata
                    .into_iter()
                    .map(|(key, value)| proto::MetadataEntry { key, value })
                    .collect(),
                payload: payload.into(),
                kind,
            },
        )
}

fn decode_all(decoder: &mut FrameDecoder) -> Vec<proto::Message> {
    let mut out = Vec::new();
    while let Some(body) = decoder.next_frame().expect("valid stream") {
        out.push(decode_message(body).expect("valid envelope"));
    }
    out
}

proptest! {
    /// Any sequence of envelopes, encoded back to back after a preface and cut into any
    /// chunks, decodes to the same sequence.
    #[test]
    fn envelopes_survive_any_chunking(
        messages in proptest::collection::vec(arb_message(), 0..12),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..20),
    ) {
        let mut stream = BytesMut::new();
        encode_preface(&mut stream);
        for m in &messages {
            encode_frame(m, DEFAULT_MAX_FRAME_LEN, &mut stream).unwrap();
        }
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        points.push(0);
        points.push(stream.len());
        points.sort_unstable();
        let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_LEN);
        let mut decoded = Vec::new();
        for pair in points.windows(2) {
            decoder.push(&stream[pair[0]..pair[1]]);
            decoded.extend(decode_all(&mut decoder));
        }
        decoder.finish().unwrap();
        prop_assert_eq!(decoded, messages);
    }

    /// An envelope encoded from borrowed parts is byte for byte what prost encodes.
    #[test]
    fn borrowed_envelopes_encode_as_prost_does(m in arb_message()) {
        let kind = proto::Kind::try_from(m.kind).unwrap_or(proto::Kind::Request);
        let m = proto::Message { kind: kind as i32, ..m };
        let parts = EnvelopeRef {
            id: m.message_seq_no,
            method: std::str::from_utf8(&m.method).unwrap(),
            status: m.status.as_ref().map(|s| (s.code, s.message.as_str())),
            metadata: &m.metadata,
            payload: &m.payload,
            kind,
        };
        let (mut ours, mut theirs) = (BytesMut::new(), BytesMut::new());
        parts.encode_frame(DEFAULT_MAX_FRAME_LEN, &mut ours).unwrap();
        encode_frame(&m, DEFAULT_MAX_FRAME_LEN, &mut theirs).unwrap();
        prop_assert_eq!(&ours[..], &theirs[..]);
        prop_assert_eq!(parts.to_message(), m);
    }

    /// Frame level: every frame decoded re-encodes to the same bytes.
    #[test]
    fn frames_reencode_to_the_same_bytes(bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..8)) {
        let mut stream = BytesMut::new();
        for body in &bodies {
            stream.extend_from_slice(&(body.len() as u32).to_be_bytes());
            stream.extend_from_slice(body);
        }
        let mut decoder = FrameDecoder::without_preface(DEFAULT_MAX_FRAME_LEN);
        decoder.push(&stream);
        let mut reencoded = BytesMut::new();
        while let Some(body) = decoder.next_frame().unwrap() {
            reencoded.extend_from_slice(&(body.len() as u32).to_be_bytes());
            reencoded.extend_from_slice(&body);
        }
        prop_assert_eq!(&reencoded[..], &stream[..]);
    }

    /// Garbage never panics the decoder, and what it accepts stays within the limit.
    #[test]
    fn garbage_is_an_error_or_bounded_frames(bytes in proptest::collection::vec(any::<u8>(), 0..512), max in 0usize..64) {
        let mut decoder = FrameDecoder::new(max);
        decoder.push(&bytes);
        while let Ok(Some(frame)) = decoder.next_frame() {
            prop_assert!(frame.len() <= max);
            let _ = decode_message(frame);
        }
    }
}

#[test]
fn one_byte_at_a_time() {
    let msgs = [
        message(1, "a.B.C", b"xyz"),
        message(2, "", b""),
        message(u64::MAX, "x", &[0; 1000]),
    ];
    let mut stream = BytesMut::new();
    encode_preface(&mut stream);
    for m in &msgs {
        encode_frame(m, DEFAULT_MAX_FRAME_LEN, &mut stream).unwrap();
    }
    let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_LEN);
    let mut decoded = Vec::new();
    for b in stream.iter() {
        decoder.push(std::slice::from_ref(b));
        decoded.extend(decode_all(&mut decoder));
    }
    assert_eq!(decoded, msgs);
    assert_eq!(decoder.buffered(), 0);
}

#[test]
fn frame_one_byte_over_the_limit_is_rejected_before_its_body() {
    let max = 1024;
    let mut decoder = FrameDecoder::without_preface(max);
    decoder.push(&((max + 1) as u32).to_be_bytes());
    assert_eq!(
        decoder.next_frame(),
        Err(WireError::FrameTooLarge { len: max + 1, max })
    );
    // Sticky: the stream is dead, and nothing more is buffered for it.
    decoder.push(&[0; 4096]);
    assert_eq!(decoder.buffered(), 0);
    assert!(decoder.next_frame().is_err());

    // Exactly at the limit is fine.
    let mut decoder = FrameDecoder::without_preface(max);
    decoder.push(&(max as u32).to_be_bytes());
    assert_eq!(decoder.next_frame(), Ok(None));
    decoder.push(&vec![7; max]);
    assert_eq!(decoder.next_frame().unwrap().unwrap().len(), max);
}

#[test]
fn a_huge_announced_length_allocates_nothing_for_it() {
    let mut decoder = FrameDecoder::without_preface(DEFAULT_MAX_FRAME_LEN);
    decoder.push(&u32::MAX.to_be_bytes());
    assert!(matches!(
        decoder.next_frame(),
        Err(WireError::FrameTooLarge { .. })
    ));
}

#[test]
fn outgoing_message_over_the_limit_is_refused() {
    let mut out = BytesMut::new();
    let err = encode_frame(&message(1, "m", &[0; 100]), 50, &mut out).unwrap_err();
    assert!(
        matches!(err, WireError::OutgoingTooLarge { max: 50, .. }),
        "{err}"
    );
    assert!(out.is_empty());
}

#[test]
fn bad_preface_is_rejected_at_the_first_wrong_byte() {
    let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_LEN);
    decoder.push(b"GET");
    let err = decoder.next_frame().unwrap_err();
    assert!(matches!(err, WireError::BadPreface { .. }));
    assert!(err.to_string().contains("GET"), "{err}");

    let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_LEN);
    decoder.push(b"GOR");
    assert_eq!(decoder.next_frame(), Ok(None));
}

#[test]
fn other_protocol_versions_are_rejected() {
    let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_LEN);
    decoder.push(&MAGIC);
    decoder.push(&99u16.to_be_bytes());
    assert_eq!(decoder.next_frame(), Err(WireError::UnsupportedVersion(99)));
}

#[test]
fn truncation_at_close_is_reported() {
    let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_LEN);
    decoder.push(&PREFACE[..3]);
    assert!(matches!(
        decoder.finish(),
        Err(WireError::Truncated {
            what: "preface",
            buffered: 3
        })
    ));

    let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_LEN);
    decoder.push(&PREFACE);
    decoder.push(&[0, 0]);
    assert_eq!(decoder.next_frame(), Ok(None));
    assert!(matches!(
        decoder.finish(),
        Err(WireError::Truncated {
            what: "frame header",
            ..
        })
    ));

    decoder.push(&[0, 9, 1]);
    assert_eq!(decoder.next_frame(), Ok(None));
    assert!(matches!(
        decoder.finish(),
        Err(WireError::Truncated {
            what: "frame body",
            ..
        })
    ));
}

#[test]
fn undecodable_envelope_is_a_typed_error() {
    // Field 1 with wire type 7 (invalid).
    let err = decode_message(Bytes::from_static(&[0x0f, 0x01])).unwrap_err();
    assert!(
        matches!(
            err,
            WireError::Undecodable {
                what: "message",
                ..
            }
        ),
        "{err}"
    );
    // The decoder's error is the source, not a copy of its text.
    let source = std::error::Error::source(&err).expect("a source");
    assert!(
        source.downcast_ref::<prost::DecodeError>().is_some(),
        "{source}"
    );
    let err = decode_hello(Bytes::from_static(&[0x12, 0xff])).unwrap_err();
    assert!(
        matches!(err, WireError::Undecodable { what: "hello", .. }),
        "{err}"
    );
}

#[test]
fn payload_is_not_copied() {
    let mut stream = BytesMut::new();
    encode_frame(
        &message(3, "m", &[5; 64]),
        DEFAULT_MAX_FRAME_LEN,
        &mut stream,
    )
    .unwrap();
    let mut decoder = FrameDecoder::without_preface(DEFAULT_MAX_FRAME_LEN);
    decoder.push(&stream);
    let body = decoder.next_frame().unwrap().unwrap();
    let range = body.as_ptr_range();
    let msg = decode_message(body).unwrap();
    assert!(
        range.contains(&msg.payload.as_ptr()),
        "payload points into the frame body"
    );
}

#[test]
fn a_frame_is_its_big_endian_length_then_its_body() {
    let msg = message(7, "proto.Storage.Read", b"abc");
    let body = prost::Message::encode_to_vec(&msg);
    let mut out = BytesMut::from(&b"earlier"[..]);
    let written = encode_frame(&msg, DEFAULT_MAX_FRAME_LEN, &mut out).unwrap();
    assert_eq!(written, FRAME_HEADER_LEN + body.len());
    let mut expected = b"earlier".to_vec();
    expected.extend_from_slice(&(body.len() as u32).to_be_bytes());
    expected.extend_from_slice(&body);
    assert_eq!(&out[..], &expected[..], "appended after what was there");
}

#[test]
fn a_message_exactly_at_the_limit_is_sent_and_one_byte_over_is_refused_by_name() {
    let msg = message(1, "m", &[0; 100]);
    let len = prost::Message::encoded_len(&msg);
    let mut out = BytesMut::new();
    assert_eq!(
        encode_frame(&msg, len, &mut out).unwrap(),
        FRAME_HEADER_LEN + len
    );
    let mut refused = BytesMut::new();
    let err = encode_frame(&msg, len - 1, &mut refused).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "outgoing Message of {len} bytes exceeds the maximum frame of {} bytes",
            len - 1
        )
    );
    assert!(refused.is_empty());

    // The same limit holds for the same message encoded from borrowed parts.
    let parts = EnvelopeRef {
        id: msg.message_seq_no,
        method: "m",
        status: None,
        metadata: &[],
        payload: &msg.payload,
        kind: proto::Kind::try_from(msg.kind).unwrap(),
    };
    assert_eq!(parts.encoded_len(), len);
    assert_eq!(
        parts.encode_frame(len, &mut out).unwrap(),
        FRAME_HEADER_LEN + len
    );
    assert!(parts.encode_frame(len - 1, &mut refused).is_err());
    assert!(refused.is_empty());
}

#[test]
fn the_preface_is_the_magic_then_the_version() {
    let mut out = BytesMut::from(&b"x"[..]);
    encode_preface(&mut out);
    let mut expected = b"x".to_vec();
    expected.extend_from_slice(&MAGIC);
    expected.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
    assert_eq!(&out[..], &expected[..]);
    assert_eq!(&out[1..], &PREFACE[..]);
}

/// The names of the kinds are the ones in `gorums.proto` (the generated code is checked
/// in, so a hand edit of it would show here), and each name reads back as its kind.
#[test]
fn every_kind_has_its_proto_name_and_reads_back_from_it() {
    use proto::Kind;
    let names = [
        (Kind::Request, "KIND_REQUEST"),
        (Kind::Reply, "KIND_REPLY"),
        (Kind::OneWay, "KIND_ONE_WAY"),
        (Kind::StreamRequest, "KIND_STREAM_REQUEST"),
        (Kind::StreamItem, "KIND_STREAM_ITEM"),
        (Kind::StreamEnd, "KIND_STREAM_END"),
        (Kind::Untyped, "KIND_UNTYPED"),
    ];
    for (kind, name) in names {
        assert_eq!(kind.as_str_name(), name);
        assert_eq!(Kind::from_str_name(name), Some(kind), "{name}");
    }
    assert_eq!(Kind::from_str_name("KIND_NONE"), None);
}

/// What a driver reads off a decoder to bound its reads: the frame limit it was given,
/// the bytes it holds, and how many more it may be handed under a hold limit (which its
/// buffer never passes, however the bytes are split).
#[test]
fn a_decoder_reports_its_limit_its_bytes_and_its_room_and_keeps_under_its_hold_limit() {
    let mut decoder = FrameDecoder::new(4096);
    assert_eq!(decoder.max_frame_len(), 4096);
    decoder.set_max_frame_len(77);
    assert_eq!(decoder.max_frame_len(), 77);
    assert_eq!(decoder.room(), usize::MAX, "no hold limit");
    decoder.set_hold_limit(Some(1000));
    assert_eq!(decoder.room(), 1000);
    decoder.push(&[0; 600]);
    assert_eq!((decoder.buffered(), decoder.room()), (600, 400));
    decoder.push(&[0; 400]);
    assert_eq!((decoder.buffered(), decoder.room()), (1000, 0));
    assert!(decoder.held() <= 1000, "held {}", decoder.held());

    // Frames taken leave what follows them buffered.
    let mut decoder = FrameDecoder::without_preface(64);
    let mut bytes = BytesMut::new();
    encode_frame(&message(1, "m", b"x"), 64, &mut bytes).unwrap();
    let frame_len = bytes.len();
    bytes.extend_from_slice(&[0, 0]);
    decoder.push(&bytes);
    assert_eq!(decoder.buffered(), frame_len + 2);
    decoder.next_frame().unwrap().expect("a frame");
    assert_eq!(decoder.buffered(), 2);
}

/// A close right after a whole frame header is inside the frame's body, not its header;
/// and once a header is here the decoder holds room for its whole frame at once (no
/// regrowing per chunk of a large body).
#[test]
fn a_close_after_a_whole_header_is_inside_the_body_and_the_header_reserves_the_frame() {
    let mut decoder = FrameDecoder::without_preface(DEFAULT_MAX_FRAME_LEN);
    decoder.push(&1000u32.to_be_bytes());
    assert_eq!(decoder.next_frame(), Ok(None));
    assert!(
        decoder.held() >= FRAME_HEADER_LEN + 1000,
        "held {}",
        decoder.held()
    );
    assert!(matches!(
        decoder.finish(),
        Err(WireError::Truncated {
            what: "frame body",
            buffered: 4
        })
    ));
}
