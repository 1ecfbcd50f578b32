//! Frame encode and decode (`gorums_core::wire`): the bytes every call puts on and takes
//! off the socket, without IO.

#![allow(missing_docs)] // criterion_group! expands to an undocumented function.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use gorums_core::wire::{
    DEFAULT_MAX_FRAME_LEN, EnvelopeRef, FrameDecoder, decode_message, encode_frame, proto,
};

const METHOD: &str = "benchmark.Benchmark.QuorumCall";

fn envelope(payload: &[u8]) -> EnvelopeRef<'_> {
    EnvelopeRef {
        id: 42,
        method: METHOD,
        status: None,
        metadata: &[],
        payload,
        kind: proto::Kind::Request,
    }
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    for size in [0usize, 64, 1024] {
        let payload = vec![7u8; size];
        group.throughput(Throughput::Elements(1));
        // The path the engine takes: an envelope from borrowed parts.
        group.bench_with_input(BenchmarkId::new("envelope_ref", size), &payload, |b, p| {
            let mut buf = BytesMut::with_capacity(64 * 1024);
            b.iter(|| {
                if buf.len() > 60 * 1024 {
                    buf.clear();
                }
                black_box(envelope(p).encode_frame(DEFAULT_MAX_FRAME_LEN, &mut buf))
            });
        });
        // The same frame through prost's generated encoder.
        let msg = envelope(&payload).to_message();
        group.bench_with_input(BenchmarkId::new("prost_message", size), &msg, |b, m| {
            let mut buf = BytesMut::with_capacity(64 * 1024);
            b.iter(|| {
                if buf.len() > 60 * 1024 {
                    buf.clear();
                }
                black_box(encode_frame(m, DEFAULT_MAX_FRAME_LEN, &mut buf))
            });
        });
    }
    group.finish();
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    for size in [0usize, 64, 1024] {
        let payload = vec![7u8; size];
        let mut one = BytesMut::new();
        envelope(&payload)
            .encode_frame(DEFAULT_MAX_FRAME_LEN, &mut one)
            .expect("encodes");
        let one: Bytes = one.freeze();
        group.throughput(Throughput::Elements(1));
        // Push one frame's bytes, take the frame, decode the envelope.
        group.bench_with_input(
            BenchmarkId::new("frame_and_envelope", size),
            &one,
            |b, f| {
                let mut decoder = FrameDecoder::without_preface(DEFAULT_MAX_FRAME_LEN);
                b.iter(|| {
                    decoder.push(f);
                    let body = decoder.next_frame().expect("valid").expect("whole frame");
                    black_box(decode_message(body).expect("decodes"))
                });
            },
        );
    }
    group.finish();
}

criterion_group!(benches, encode, decode);
criterion_main!(benches);
