//! The HTTP/2 headers of a node stream: gRPC's own, Go Gorums' node id, and the
//! application's metadata.

use std::io;

use gorums_core::wire::grpc::{GrpcPeer, NATIVE_PEER_KEY, NODE_ID_KEY};
use gorums_core::wire::proto::MetadataEntry;
use http::{HeaderMap, HeaderName, HeaderValue, Response};

/// gRPC status codes the transport sends itself.
pub(crate) const GRPC_UNIMPLEMENTED: &str = "12";
pub(crate) const GRPC_INVALID_ARGUMENT: &str = "3";

/// A response that refuses a stream with gRPC status `code` (trailers only).
pub(crate) fn refusal(code: &'static str) -> Response<()> {
    let mut response = Response::new(());
    grpc_headers(response.headers_mut());
    response
        .headers_mut()
        .insert("grpc-status", HeaderValue::from_static(code));
    response
}

/// The headers every request and response of the stream carries; `NATIVE_PEER_KEY`
/// tells another gorums-rs node that it may keep our envelope's extra field.
pub(crate) fn grpc_headers(headers: &mut HeaderMap) {
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    headers.insert(http::header::TE, HeaderValue::from_static("trailers"));
    headers.insert(NATIVE_PEER_KEY, HeaderValue::from_static("1"));
}

/// Whether the other end is a gorums-rs node or Go Gorums.
pub(crate) fn peer_kind(headers: &HeaderMap) -> GrpcPeer {
    if headers.contains_key(NATIVE_PEER_KEY) {
        GrpcPeer::Native
    } else {
        GrpcPeer::Go
    }
}

/// Go's rule for the dialler's id: a dialler with a server of its own sends its id (0
/// when anonymous); one without sends none and cannot be called back. `Ok((id,
/// serves))`, or `Err` for a value that is not a number.
pub(crate) fn dialler_id(headers: &HeaderMap) -> Result<(u32, bool), io::Error> {
    match headers.get(NODE_ID_KEY) {
        None => Ok((0, false)),
        Some(v) => match v.to_str().ok().and_then(|v| v.trim().parse::<u32>().ok()) {
            Some(id) => Ok((id, true)),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad {NODE_ID_KEY} {v:?}"),
            )),
        },
    }
}

/// The error a trailers-only response or the trailers say, if not OK.
pub(crate) fn grpc_failure(headers: &HeaderMap) -> Option<io::Error> {
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
pub(crate) fn metadata_headers(metadata: &[MetadataEntry], headers: &mut HeaderMap) {
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
pub(crate) fn header_metadata(headers: &HeaderMap) -> Vec<MetadataEntry> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dialler_id_follows_go() {
        let mut headers = HeaderMap::new();
        assert_eq!(dialler_id(&headers).ok(), Some((0, false)));
        headers.insert(NODE_ID_KEY, HeaderValue::from_static("0"));
        assert_eq!(dialler_id(&headers).ok(), Some((0, true)));
        headers.insert(NODE_ID_KEY, HeaderValue::from_static("7"));
        assert_eq!(dialler_id(&headers).ok(), Some((7, true)));
        headers.insert(NODE_ID_KEY, HeaderValue::from_static("seven"));
        let err = dialler_id(&headers).err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("bad gorums-node-id \"seven\""));
    }

    #[test]
    fn metadata_leaves_out_the_transports_own_headers() {
        let mut headers = HeaderMap::new();
        grpc_headers(&mut headers);
        headers.insert(NODE_ID_KEY, HeaderValue::from_static("3"));
        headers.insert("grpc-timeout", HeaderValue::from_static("1S"));
        metadata_headers(
            &[MetadataEntry {
                key: "Tenant".into(),
                value: "blue".into(),
            }],
            &mut headers,
        );
        let metadata = header_metadata(&headers);
        assert_eq!(
            metadata,
            vec![MetadataEntry {
                key: "tenant".into(),
                value: "blue".into(),
            }]
        );
        assert_eq!(peer_kind(&headers), GrpcPeer::Native);
        assert_eq!(peer_kind(&HeaderMap::new()), GrpcPeer::Go);
    }

    #[test]
    fn a_failed_status_is_an_error_and_ok_is_none() {
        let mut headers = HeaderMap::new();
        headers.insert("grpc-status", HeaderValue::from_static("0"));
        assert!(grpc_failure(&headers).is_none());
        headers.insert("grpc-status", HeaderValue::from_static("12"));
        headers.insert("grpc-message", HeaderValue::from_static("no such method"));
        let err = grpc_failure(&headers).map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("gRPC status 12: no such method"));
        assert!(grpc_failure(&HeaderMap::new()).is_none());
    }
}
