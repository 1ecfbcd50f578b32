//! Arbitrary bytes, cut into arbitrary chunks, into the frame decoder: it never panics,
//! never yields a frame over its limit, and every frame it yields re-encodes to exactly
//! the bytes it came from.
#![no_main]

use gorums_core::wire::{FrameDecoder, PREFACE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first two bytes choose the limit and whether a preface is expected; the next
    // few choose chunk sizes; the rest is the stream.
    let Some((&[limit_byte, mode], rest)) = data.split_first_chunk::<2>() else { return };
    let max = usize::from(limit_byte) * 4;
    let with_preface = mode & 1 == 1;
    let Some((chunk_sizes, stream)) = rest.split_first_chunk::<4>() else { return };

    let mut decoder = if with_preface { FrameDecoder::new(max) } else { FrameDecoder::without_preface(max) };
    let mut reencoded = Vec::new();
    let mut fed = 0;
    let mut turn = 0;
    let mut failed = false;
    while fed < stream.len() && !failed {
        let size = usize::from(chunk_sizes[turn % 4]).max(1);
        turn += 1;
        let end = (fed + size).min(stream.len());
        decoder.push(&stream[fed..end]);
        fed = end;
        loop {
            match decoder.next_frame() {
                Ok(Some(body)) => {
                    assert!(body.len() <= max, "frame over the limit");
                    reencoded.extend_from_slice(&(body.len() as u32).to_be_bytes());
                    reencoded.extend_from_slice(&body);
                }
                Ok(None) => break,
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        assert!(decoder.buffered() <= stream.len());
    }
    let start = if with_preface && !reencoded.is_empty() { PREFACE.len() } else { 0 };
    if !reencoded.is_empty() {
        assert_eq!(&stream[start..start + reencoded.len()], &reencoded[..], "frames re-encode to their bytes");
    }
    if !failed {
        let _ = decoder.finish();
    }
});
