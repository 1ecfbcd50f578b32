//! The pipe between the engine and the h2 stream, and the two relays across it: native
//! frames one side, gRPC messages the other.

use std::future::poll_fn;
use std::io;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use gorums_core::runtime::Connection;
use gorums_core::wire::grpc::{
    GrpcDecoder, GrpcPeer, frame_of_grpc_message, grpc_message_of_frame,
};
use gorums_core::wire::proto::{Hello, MetadataEntry};
use gorums_core::wire::{
    DEFAULT_MAX_FRAME_LEN, FrameDecoder, PROTOCOL_VERSION, WireError, decode_hello, encode_frame,
    encode_preface,
};
use h2::{RecvStream, SendStream};
use http::{HeaderMap, HeaderValue};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio_util::compat::{TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};

use crate::end::{EdgeEnd, EngineReader, EngineWriter};
use crate::headers::grpc_failure;

/// The largest gRPC message taken, and the size of a native frame the edge hands on:
/// the engine applies its own (smaller or equal) limit to what it is given.
pub(crate) const MAX_MESSAGE_LEN: usize = DEFAULT_MAX_FRAME_LEN;

/// Bytes the pipe between the edge task and the engine buffers each way.
const PIPE_LEN: usize = 256 * 1024;

/// The h2 error as an io error.
pub(crate) fn h2_error(e: h2::Error) -> io::Error {
    if e.is_io() {
        if let Some(io) = e.into_io() {
            return io;
        }
        return io::Error::other("h2 io error");
    }
    io::Error::other(e)
}

pub(crate) fn wire_error(e: WireError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// The engine's end of a new pipe, as a connection to `peer_addr` that reports `end`'s
/// error, and the edge's end.
pub(crate) fn pipe(peer_addr: String, end: &Arc<EdgeEnd>) -> (Connection, DuplexStream) {
    let (engine, edge) = tokio::io::duplex(PIPE_LEN);
    let (read, write) = tokio::io::split(engine);
    let reader = EngineReader {
        pipe: read.compat(),
        end: end.clone(),
    };
    let writer = EngineWriter {
        pipe: write.compat_write(),
        end: end.clone(),
    };
    let conn = Connection::new(Box::new(reader), Box::new(writer), peer_addr);
    (conn, edge)
}

/// Reads the engine's preface and hello from `edge`.
pub(crate) async fn read_hello(
    edge: &mut DuplexStream,
    frames: &mut FrameDecoder,
) -> io::Result<Hello> {
    let mut buf = vec![0u8; 4096];
    loop {
        if let Some(body) = frames.next_frame().map_err(wire_error)? {
            return decode_hello(body).map_err(wire_error);
        }
        let n = edge.read(&mut buf).await?;
        if n == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
        }
        frames.push(&buf[..n]);
    }
}

/// Writes the peer's preface and hello, as the engine expects them, to `edge`.
pub(crate) async fn write_hello(
    edge: &mut DuplexStream,
    node_id: u32,
    serves: bool,
    metadata: Vec<MetadataEntry>,
) -> io::Result<()> {
    let hello = Hello {
        protocol_version: u32::from(PROTOCOL_VERSION),
        node_id,
        metadata,
        assigned_node_id: 0,
        serves,
    };
    let mut out = BytesMut::new();
    encode_preface(&mut out);
    encode_frame(&hello, MAX_MESSAGE_LEN, &mut out).map_err(wire_error)?;
    edge.write_all(&out).await
}

/// Peer to engine: gRPC messages to native frames, until the peer ends the stream.
pub(crate) async fn relay_inbound<W: AsyncWrite + Unpin>(
    mut body: RecvStream,
    peer: GrpcPeer,
    edge: &mut W,
) -> io::Result<()> {
    let mut decoder = GrpcDecoder::new(MAX_MESSAGE_LEN);
    let mut out = BytesMut::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(h2_error)?;
        decoder.push(&chunk);
        while let Some(message) = decoder.next_message().map_err(wire_error)? {
            frame_of_grpc_message(message, peer, MAX_MESSAGE_LEN, &mut out).map_err(wire_error)?;
        }
        edge.write_all(&out).await?;
        out.clear();
        // Credit goes back once the engine has taken the bytes: a slow engine slows
        // the peer.
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    decoder.finish().map_err(wire_error)?;
    if let Some(trailers) = body.trailers().await.map_err(h2_error)?
        && let Some(failure) = grpc_failure(&trailers)
    {
        return Err(failure);
    }
    edge.shutdown().await
}

/// Engine to peer: native frames to gRPC messages, until the engine closes; then the
/// stream ends (with OK trailers from the accepting side).
pub(crate) async fn relay_outbound<R: AsyncRead + Unpin>(
    mut edge: R,
    mut frames: FrameDecoder,
    mut send: SendStream<Bytes>,
    peer: tokio::sync::watch::Receiver<GrpcPeer>,
    accepted: bool,
) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = BytesMut::new();
    loop {
        while let Some(body) = frames.next_frame().map_err(wire_error)? {
            grpc_message_of_frame(body, *peer.borrow(), &mut out).map_err(wire_error)?;
        }
        if !out.is_empty() {
            send_all(&mut send, out.split().freeze()).await?;
        }
        let n = edge.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        frames.push(&buf[..n]);
    }
    if accepted {
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", HeaderValue::from_static("0"));
        send.send_trailers(trailers).map_err(h2_error)
    } else {
        send.send_data(Bytes::new(), true).map_err(h2_error)
    }
}

/// Sends `data` on `send` as the peer's flow-control window allows.
async fn send_all(send: &mut SendStream<Bytes>, mut data: Bytes) -> io::Result<()> {
    while !data.is_empty() {
        send.reserve_capacity(data.len());
        let granted = match poll_fn(|cx| send.poll_capacity(cx)).await {
            Some(granted) => granted.map_err(h2_error)?,
            None => return Err(io::Error::from(io::ErrorKind::BrokenPipe)),
        };
        if granted == 0 {
            continue;
        }
        let chunk = data.split_to(granted.min(data.len()));
        send.send_data(chunk, false).map_err(h2_error)?;
    }
    Ok(())
}
