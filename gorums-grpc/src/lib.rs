//! Go Gorums' wire for the gorums-rs adapters: one bidirectional gRPC stream
//! (`stream.Gorums/NodeStream`) per connection, over HTTP/2 (hyperium's h2).
//!
//! [`connect`] and [`accept`] take a byte stream already open (a TCP socket, with
//! tokio's io traits; smol's sockets pass through `tokio_util::compat`) and hand back the
//! engine's [`Connection`]: an in-memory pipe whose other end an edge task relays to
//! the h2 stream. The edge reads the engine's preface and hello (the dialler's node id
//! goes out in the `gorums-node-id` metadata key, its hello metadata as further
//! metadata), writes the peer's hello for the engine from the stream's headers, and
//! translates every envelope with [`gorums_core::wire::grpc`].
//!
//! What this crate is not: it makes no protocol decision (the engine in gorums-core
//! decides, and infers the call type of a Go peer's request from the method
//! registered), and it runs no executor, timer or socket of its own: the adapter gives
//! it a way to spawn and the stream. It needs no tokio runtime.
//!
//! What the translation loses against Go (said in the README): the id an anonymous
//! dialler was given is not sent back (Go has no field for it), and the accepting side's
//! hello metadata is not sent.

use std::future::{Future, poll_fn};
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use gorums_core::runtime::{BoxFuture, Connection};
use gorums_core::wire::FrameDecoder;
use gorums_core::wire::grpc::{GrpcPeer, NODE_ID_KEY, NODE_STREAM_PATH};
use h2::{RecvStream, SendStream};
use http::{HeaderValue, Request, Response, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream};

mod end;
mod headers;
mod relay;

use end::{EdgeEnd, EndGuard, Recorded};
use headers::{
    GRPC_INVALID_ARGUMENT, GRPC_UNIMPLEMENTED, dialler_id, grpc_failure, grpc_headers,
    header_metadata, metadata_headers, peer_kind, refusal,
};
use relay::{
    MAX_MESSAGE_LEN, h2_error, pipe, read_hello, relay_inbound, relay_outbound, write_hello,
};

/// How the adapter runs a background task (the h2 connection, the edge's relays).
pub type Spawn = Arc<dyn Fn(BoxFuture<'static, ()>) + Send + Sync>;

/// Dials the node stream over `io` (a byte stream to `addr`, open): HTTP/2's handshake,
/// then the stream's request once the engine's hello says who is dialling.
pub async fn connect<S>(
    io: S,
    addr: &str,
    peer_addr: String,
    spawn: Spawn,
) -> io::Result<Connection>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (io, end) = Recorded::new(io);
    let (send_request, h2_conn) = h2::client::handshake(io).await.map_err(h2_error)?;
    spawn(Box::pin(async move {
        if let Err(e) = h2_conn.await {
            tracing::debug!(%e, "gRPC client connection ended");
        }
    }));
    let uri = format!("http://{addr}{NODE_STREAM_PATH}");
    let (conn, edge) = pipe(peer_addr, &end);
    spawn(Box::pin(run_edge(end, dial_edge(send_request, uri, edge))));
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
    first_of(inbound, outbound).await
}

/// Accepts the node stream over `io` (an accepted byte stream from `peer_addr`): the
/// HTTP/2 handshake and the stream's request, refusing any other method.
pub async fn accept<S>(io: S, peer_addr: String, spawn: Spawn) -> io::Result<Connection>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (io, end) = Recorded::new(io);
    let mut h2_conn = h2::server::handshake(io).await.map_err(h2_error)?;
    let (request, mut respond) = match h2_conn.accept().await {
        Some(r) => r.map_err(h2_error)?,
        None => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
    };
    // The connection is driven from here on; any further stream is refused.
    spawn(Box::pin(async move {
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
    }));
    let (parts, body) = request.into_parts();
    if parts.uri.path() != NODE_STREAM_PATH {
        let _ = respond.send_response(refusal(GRPC_UNIMPLEMENTED), true);
        return Err(io::Error::other(format!(
            "gRPC call to {}, not the node stream",
            parts.uri.path()
        )));
    }
    let (node_id, serves) = match dialler_id(&parts.headers) {
        Ok(id) => id,
        Err(e) => {
            let _ = respond.send_response(refusal(GRPC_INVALID_ARGUMENT), true);
            return Err(e);
        }
    };
    let peer = peer_kind(&parts.headers);
    let mut response = Response::new(());
    grpc_headers(response.headers_mut());
    let send = respond.send_response(response, false).map_err(h2_error)?;
    let (conn, mut edge) = pipe(peer_addr, &end);
    write_hello(&mut edge, node_id, serves, header_metadata(&parts.headers)).await?;
    spawn(Box::pin(run_edge(end, accept_edge(edge, body, send, peer))));
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
    first_of(
        relay_inbound(body, peer, &mut edge_write),
        relay_outbound(edge_read, frames, send, peer_rx, true),
    )
    .await
}

/// Runs an edge's relays to their end, then tells the engine's side how they ended
/// (also if the task is dropped first).
async fn run_edge(end: Arc<EdgeEnd>, edge: impl Future<Output = io::Result<()>>) {
    let end = EndGuard(end);
    if let Err(e) = edge.await {
        tracing::debug!(%e, "gRPC stream closed");
        end.0.record(&e);
    }
}

/// The output of whichever of `a` and `b` ends first; the other is dropped. (tokio's
/// `select!` wants tokio's runtime for its fairness; this crate runs without one.)
async fn first_of<T>(a: impl Future<Output = T>, b: impl Future<Output = T>) -> T {
    let (mut a, mut b) = (pin!(a), pin!(b));
    poll_fn(|cx| {
        if let Poll::Ready(out) = a.as_mut().poll(cx) {
            return Poll::Ready(out);
        }
        b.as_mut().poll(cx)
    })
    .await
}
