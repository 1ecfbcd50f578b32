//! The gRPC transport: Go Gorums' `stream.Gorums/NodeStream` over h2, presented to the
//! engine as a native byte stream.
//!
//! Each connection is one HTTP/2 connection carrying one bidirectional gRPC stream. An
//! edge task sits between the h2 stream and an in-memory pipe whose other end is the
//! engine's [`Connection`]: it reads the engine's preface and hello (the dialler's node
//! id goes out in the `gorums-node-id` metadata key, its hello metadata as further
//! metadata), writes the peer's hello for the engine from the stream's metadata, and
//! translates every envelope with [`gorums_core::wire::grpc`]. No protocol decision is
//! made here.
//!
//! What the translation loses against Go (said in the README): the id an anonymous
//! dialler was given is not sent back (Go has no field for it), and the accepting side's
//! hello metadata is not sent.

use std::future::poll_fn;
use std::io;

use bytes::{Bytes, BytesMut};
use gorums_core::runtime::Connection;
use gorums_core::wire::grpc::{
    GrpcDecoder, GrpcPeer, NATIVE_PEER_KEY, NODE_ID_KEY, NODE_STREAM_PATH, frame_of_grpc_message,
    grpc_message_of_frame,
};
use gorums_core::wire::proto::{Hello, MetadataEntry};
use gorums_core::wire::{
    DEFAULT_MAX_FRAME_LEN, FrameDecoder, PROTOCOL_VERSION, WireError, decode_hello, encode_frame,
    encode_preface,
};
use h2::{RecvStream, SendStream};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};

use super::{Reader, Writer};

/// The largest gRPC message taken, and the size of a native frame the edge hands on:
/// the engine applies its own (smaller or equal) limit to what it is given.
const MAX_MESSAGE_LEN: usize = DEFAULT_MAX_FRAME_LEN;

/// Bytes the pipe between the edge task and the engine buffers each way.
const PIPE_LEN: usize = 256 * 1024;

/// gRPC status codes the transport sends itself.
const GRPC_UNIMPLEMENTED: &str = "12";
const GRPC_INVALID_ARGUMENT: &str = "3";

/// The h2 error as an io error.
fn h2_error(e: h2::Error) -> io::Error {
    if e.is_io() {
        if let Some(io) = e.into_io() {
            return io;
        }
        return io::Error::other("h2 io error");
    }
    io::Error::other(e)
}

fn wire_error(e: WireError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// The engine's end of a new pipe, as a connection to `peer_addr`, and the edge's end.
fn pipe(peer_addr: String) -> (Connection, DuplexStream) {
    let (engine, edge) = tokio::io::duplex(PIPE_LEN);
    let (read, write) = tokio::io::split(engine);
    let conn = Connection::new(Box::new(Reader(read)), Box::new(Writer(write)), peer_addr);
    (conn, edge)
}

/// Dials the gRPC node stream over `io` (a TCP stream to `addr`).
pub(crate) async fn connect<S>(io: S, addr: &str, peer_addr: String) -> io::Result<Connection>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (send_request, h2_conn) = h2::client::handshake(io).await.map_err(h2_error)?;
    tokio::spawn(async move {
        if let Err(e) = h2_conn.await {
            tracing::debug!(%e, "gRPC client connection ended");
        }
    });
    let uri = format!("http://{addr}{NODE_STREAM_PATH}");
    let (conn, edge) = pipe(peer_addr);
    tokio::spawn(async move {
        if let Err(e) = dial_edge(send_request, uri, edge).await {
            tracing::debug!(%e, "gRPC stream closed");
        }
    });
    Ok(conn)
}

async fn dial_edge(
    mut send_request: h2::client::SendRequest<Bytes>,
    uri: String,
    mut edge: DuplexStream,
) -> io::Result<()> {
    let mut frames = FrameDecoder::new(MAX_MESSAGE_LEN);
    let hello = read_hello(&mut edge, &mut frames).await?;
    let mut request = Request::post(uri).body(()).map_err(io::Error::other)?;
    let headers = request.headers_mut();
    grpc_headers(headers);
    if hello.serves || hello.node_id != 0 {
        headers.insert(NODE_ID_KEY, HeaderValue::from(hello.node_id));
    }
    metadata_headers(&hello.metadata, headers);
    send_request = send_request.ready().await.map_err(h2_error)?;
    let (response, send) = send_request
        .send_request(request, false)
        .map_err(h2_error)?;
    // The acceptor's hello: Go sends none, so the engine gets one that names no node
    // (a dialled node is the node dialled, whatever its hello says).
    write_hello(&mut edge, 0, false, Vec::new()).await?;
    let (edge_read, mut edge_write) = tokio::io::split(edge);
    // Until the acceptor's headers say what it is, envelopes go out whole: only requests
    // leave before them, and Go ignores the one field it does not know.
    let (peer_tx, peer_rx) = tokio::sync::watch::channel(GrpcPeer::Native);
    let inbound = async {
        let response = response.await.map_err(h2_error)?;
        let (parts, body) = response.into_parts();
        if parts.status != StatusCode::OK {
            return Err(io::Error::other(format!(
                "gRPC stream refused: HTTP {}",
                parts.status
            )));
        }
        if let Some(refusal) = grpc_failure(&parts.headers) {
            return Err(refusal);
        }
        let peer = peer_kind(&parts.headers);
        // The receiver lives in `outbound`, alive as long as this future.
        let _ = peer_tx.send(peer);
        relay_inbound(body, peer, &mut edge_write).await
    };
    let outbound = relay_outbound(edge_read, frames, send, peer_rx, false);
    tokio::select! {
        r = inbound => r,
        r = outbound => r,
    }
}

/// Accepts the gRPC node stream over `io` (an accepted TCP stream from `peer_addr`).
pub(crate) async fn accept<S>(io: S, peer_addr: String) -> io::Result<Connection>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut h2_conn = h2::server::handshake(io).await.map_err(h2_error)?;
    let (request, mut respond) = match h2_conn.accept().await {
        Some(r) => r.map_err(h2_error)?,
        None => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
    };
    // The connection is driven from here on; any further stream is refused.
    tokio::spawn(async move {
        while let Some(next) = h2_conn.accept().await {
            match next {
                Ok((_, mut respond)) => {
                    let _ = respond.send_response(refusal(GRPC_UNIMPLEMENTED), true);
                }
                Err(e) => {
                    tracing::debug!(%e, "gRPC server connection ended");
                    break;
                }
            }
        }
    });
    let (parts, body) = request.into_parts();
    if parts.uri.path() != NODE_STREAM_PATH {
        let _ = respond.send_response(refusal(GRPC_UNIMPLEMENTED), true);
        return Err(io::Error::other(format!(
            "gRPC call to {}, not the node stream",
            parts.uri.path()
        )));
    }
    // Go's rule: a dialler with a server of its own sends its id (0 when anonymous);
    // one without sends none and cannot be called back.
    let (node_id, serves) = match parts.headers.get(NODE_ID_KEY) {
        None => (0, false),
        Some(v) => match v.to_str().ok().and_then(|v| v.parse::<u32>().ok()) {
            Some(id) => (id, true),
            None => {
                let _ = respond.send_response(refusal(GRPC_INVALID_ARGUMENT), true);
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad {NODE_ID_KEY} {v:?}"),
                ));
            }
        },
    };
    let peer = peer_kind(&parts.headers);
    let mut response = Response::new(());
    grpc_headers(response.headers_mut());
    let send = respond.send_response(response, false).map_err(h2_error)?;
    let (conn, mut edge) = pipe(peer_addr);
    write_hello(&mut edge, node_id, serves, header_metadata(&parts.headers)).await?;
    tokio::spawn(async move {
        if let Err(e) = accept_edge(edge, body, send, peer).await {
            tracing::debug!(%e, "gRPC stream closed");
        }
    });
    Ok(conn)
}

async fn accept_edge(
    mut edge: DuplexStream,
    body: RecvStream,
    send: SendStream<Bytes>,
    peer: GrpcPeer,
) -> io::Result<()> {
    let mut frames = FrameDecoder::new(MAX_MESSAGE_LEN);
    // Our hello has nothing Go's wire can carry.
    read_hello(&mut edge, &mut frames).await?;
    let (edge_read, mut edge_write) = tokio::io::split(edge);
    let (_peer_tx, peer_rx) = tokio::sync::watch::channel(peer);
    tokio::select! {
        r = relay_inbound(body, peer, &mut edge_write) => r,
        r = relay_outbound(edge_read, frames, send, peer_rx, true) => r,
    }
}

/// A response that refuses a stream with gRPC status `code` (trailers only).
fn refusal(code: &'static str) -> Response<()> {
    let mut response = Response::new(());
    grpc_headers(response.headers_mut());
    response
        .headers_mut()
        .insert("grpc-status", HeaderValue::from_static(code));
    response
}

fn grpc_headers(headers: &mut HeaderMap) {
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    headers.insert(http::header::TE, HeaderValue::from_static("trailers"));
    headers.insert(NATIVE_PEER_KEY, HeaderValue::from_static("1"));
}

fn peer_kind(headers: &HeaderMap) -> GrpcPeer {
    if headers.contains_key(NATIVE_PEER_KEY) {
        GrpcPeer::Native
    } else {
        GrpcPeer::Go
    }
}

/// The error a trailers-only response or the trailers say, if not OK.
fn grpc_failure(headers: &HeaderMap) -> Option<io::Error> {
    let code = headers.get("grpc-status")?.to_str().ok()?;
    if code == "0" {
        return None;
    }
    let message = headers
        .get("grpc-message")
        .and_then(|m| m.to_str().ok())
        .unwrap_or("");
    Some(io::Error::other(format!("gRPC status {code}: {message}")))
}

/// Hello metadata as gRPC metadata; an entry that cannot be a header is left out, and
/// said so.
fn metadata_headers(metadata: &[MetadataEntry], headers: &mut HeaderMap) {
    for entry in metadata {
        let name = HeaderName::from_bytes(entry.key.to_ascii_lowercase().as_bytes());
        let value = HeaderValue::from_str(&entry.value);
        match (name, value) {
            (Ok(name), Ok(value)) => {
                headers.append(name, value);
            }
            _ => {
                tracing::warn!(key = %entry.key, "hello metadata not valid as gRPC metadata; not sent")
            }
        }
    }
}

/// The application's gRPC metadata of a stream: every header but HTTP/2's and gRPC's own.
fn header_metadata(headers: &HeaderMap) -> Vec<MetadataEntry> {
    headers
        .iter()
        .filter(|(name, _)| {
            let name = name.as_str();
            !(name.starts_with("grpc-")
                || name == NODE_ID_KEY
                || name == NATIVE_PEER_KEY
                || name == "content-type"
                || name == "te"
                || name == "user-agent")
        })
        .filter_map(|(name, value)| {
            Some(MetadataEntry {
                key: name.as_str().to_owned(),
                value: value.to_str().ok()?.to_owned(),
            })
        })
        .collect()
}

/// Reads the engine's preface and hello from `edge`.
async fn read_hello(edge: &mut DuplexStream, frames: &mut FrameDecoder) -> io::Result<Hello> {
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
async fn write_hello(
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
async fn relay_inbound<W: AsyncWrite + Unpin>(
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
async fn relay_outbound<R: AsyncRead + Unpin>(
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
