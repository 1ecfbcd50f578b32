//! The gRPC transport is the wire, not a name: a `with_grpc` dialler opens with
//! HTTP/2's connection preface on tokio and on smol, and the two adapters' gRPC
//! transports serve each other (a smol server, a tokio client, and the other way round),
//! while a native-wire client gets nothing from a gRPC server.

use std::io::Read as _;
use std::sync::Arc;
use std::time::Duration;

use gorums_core::api::{Configuration, NodeId, NodeList, System, SystemOptions};
use gorums_core::runtime::RuntimeHandle;
use gorums_tests::service::{self, Msg, method};

/// HTTP/2's client connection preface (RFC 9113 §3.4).
const HTTP2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The first bytes a configuration made on `rt` sends to a plain TCP listener.
fn first_bytes_dialled(make: impl FnOnce(String) -> Configuration) -> Vec<u8> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let _config = make(addr);
    let (mut stream, _) = listener.accept().expect("the node is dialled");
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    // Up to the preface's length, or what came before the dialler stopped writing.
    let mut first = Vec::new();
    let mut buf = [0u8; 64];
    while first.len() < HTTP2_PREFACE.len() {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => first.extend_from_slice(&buf[..n]),
        }
    }
    first.truncate(HTTP2_PREFACE.len());
    first
}

fn client(rt: RuntimeHandle, addr: String) -> Configuration {
    Configuration::new(rt, NodeList::addrs([addr]), SystemOptions::default()).expect("config")
}

#[test]
fn a_grpc_dialler_opens_with_the_http2_preface_on_both_adapters() {
    let tokio = tokio_runtime();
    let first = first_bytes_dialled(|addr| {
        let _guard = tokio.enter();
        client(
            Arc::new(gorums_tokio::TokioRuntime::current().with_grpc()),
            addr,
        )
    });
    assert_eq!(first, HTTP2_PREFACE, "tokio");
    let first = first_bytes_dialled(|addr| {
        client(
            Arc::new(gorums_smol::SmolRuntime::global().with_grpc()),
            addr,
        )
    });
    assert_eq!(first, HTTP2_PREFACE, "smol");
    // And the native wire does not: the check can tell the two apart.
    let first = first_bytes_dialled(|addr| client(gorums_smol::runtime(), addr));
    assert_ne!(first, HTTP2_PREFACE, "smol, native wire");
}

/// A server with the test service on `rt`, listening on a free port; its address.
async fn server(rt: RuntimeHandle) -> (System, String) {
    let system = System::new(rt.clone(), SystemOptions::with_id(NodeId(1)));
    service::register(&system, rt, Arc::default());
    let addr = system.listen("127.0.0.1:0").await.expect("listen");
    (system, addr)
}

async fn echo(rt: RuntimeHandle, addr: String) -> Result<Msg, String> {
    let config = client(rt, addr);
    let request = Msg {
        text: "across".into(),
        seq: 7,
        node: 0,
    };
    config
        .quorum_call::<Msg, Msg>(method::ECHO, &request)
        .timeout(Duration::from_secs(3))
        .first()
        .await
        .map_err(|e| e.to_string())
}

#[test]
fn a_smol_grpc_server_serves_a_tokio_grpc_client() {
    let smol_rt: RuntimeHandle = Arc::new(gorums_smol::SmolRuntime::global().with_grpc());
    let (_server, addr) = smol::block_on(server(smol_rt));
    let tokio = tokio_runtime();
    let reply = tokio.block_on(async move {
        echo(
            Arc::new(gorums_tokio::TokioRuntime::current().with_grpc()),
            addr,
        )
        .await
    });
    let reply = reply.expect("the tokio client's call succeeds");
    assert_eq!((reply.seq, reply.node), (7, 1));
}

#[test]
fn a_tokio_grpc_server_serves_a_smol_grpc_client_and_not_a_native_one() {
    let tokio = tokio_runtime();
    let (_server, addr) = tokio.block_on(async {
        server(Arc::new(gorums_tokio::TokioRuntime::current().with_grpc())).await
    });
    let smol_rt: RuntimeHandle = Arc::new(gorums_smol::SmolRuntime::global().with_grpc());
    let reply = smol::block_on(echo(smol_rt, addr.clone()));
    let reply = reply.expect("the smol client's call succeeds");
    assert_eq!((reply.seq, reply.node), (7, 1));
    let native = smol::block_on(echo(gorums_smol::runtime(), addr));
    assert!(native.is_err(), "a native client got {native:?}");
}
