//! TLS settings for the TCP adapters (feature `rustls`): the certificates and roots of
//! one [`System`](crate::api::System), made into rustls client and server settings with
//! the *ring* crypto provider (it builds with the Rust toolchain and the system C
//! compiler only), and the small pieces both adapters share: the server name of an
//! address, TLS errors as [`TlsError`]s, and the peer's [`PeerIdentity`].
//!
//! What this module is not: it does no IO. The adapters run the TLS sessions
//! (tokio-rustls on tokio, futures-rustls on smol); the engine and the API see bytes.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
pub use rustls;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::runtime::{PeerIdentity, TlsError};

/// Whether a server asks dialling peers for certificates (mutual TLS).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientAuth {
    /// Peers need no certificate (the default): ids in hellos are trusted as sent.
    #[default]
    None,
    /// A peer may present a certificate, which must then chain to the roots; one without
    /// is an anonymous client at most (see [`IdentityRule`](crate::api::IdentityRule)).
    Optional,
    /// Every peer must present a certificate that chains to the roots.
    Required,
}

/// The TLS settings of one system, to be [`build`](Self::build)-t: the roots it trusts,
/// and its own certificate (needed to listen, and presented to servers that ask).
///
/// ```
/// use gorums_core::tls::{ClientAuth, TlsOptions};
/// # fn demo(ca: &[u8], cert: &[u8], key: &[u8]) -> Result<(), gorums_core::api::TlsError> {
/// let tls = TlsOptions::from_pem_roots(ca)?
///     .certificate_pem(cert, key)?
///     .client_auth(ClientAuth::Required)
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TlsOptions {
    roots: Vec<CertificateDer<'static>>,
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    client_auth: ClientAuth,
}

impl TlsOptions {
    /// Trusts `roots` (DER certificates of the authorities that sign peers).
    pub fn new(roots: Vec<CertificateDer<'static>>) -> TlsOptions {
        TlsOptions {
            roots,
            identity: None,
            client_auth: ClientAuth::None,
        }
    }

    /// Trusts the PEM certificates in `pem`.
    pub fn from_pem_roots(pem: &[u8]) -> Result<TlsOptions, TlsError> {
        Ok(TlsOptions::new(certificates(pem)?))
    }

    /// These options with this system's own certificate chain (its own first) and key.
    pub fn certificate(
        mut self,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> TlsOptions {
        self.identity = Some((chain, key));
        self
    }

    /// These options with this system's own certificate chain and key, in PEM.
    pub fn certificate_pem(self, chain: &[u8], key: &[u8]) -> Result<TlsOptions, TlsError> {
        let key = PrivateKeyDer::from_pem_slice(key)
            .map_err(|e| TlsError::new(format!("reading the private key: {e}")))?;
        Ok(self.certificate(certificates(chain)?, key))
    }

    /// These options with servers asking dialling peers for certificates as `auth` says.
    pub fn client_auth(mut self, auth: ClientAuth) -> TlsOptions {
        self.client_auth = auth;
        self
    }

    /// The rustls client and server settings, with the ring provider.
    pub fn build(self) -> Result<Tls, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        for root in self.roots {
            roots.add(root).map_err(tls_error)?;
        }
        let roots = Arc::new(roots);
        let client = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(tls_error)?
            .with_root_certificates(roots.clone());
        let client = match &self.identity {
            Some((chain, key)) => client
                .with_client_auth_cert(chain.clone(), key.clone_key())
                .map_err(tls_error)?,
            None => client.with_no_client_auth(),
        };
        let server = match self.identity {
            None => None,
            Some((chain, key)) => {
                let builder = ServerConfig::builder_with_provider(provider.clone())
                    .with_safe_default_protocol_versions()
                    .map_err(tls_error)?;
                let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider);
                let builder = match self.client_auth {
                    ClientAuth::None => builder.with_no_client_auth(),
                    ClientAuth::Optional => builder.with_client_cert_verifier(
                        verifier
                            .allow_unauthenticated()
                            .build()
                            .map_err(tls_error)?,
                    ),
                    ClientAuth::Required => {
                        builder.with_client_cert_verifier(verifier.build().map_err(tls_error)?)
                    }
                };
                Some(Arc::new(
                    builder.with_single_cert(chain, key).map_err(tls_error)?,
                ))
            }
        };
        Ok(Tls {
            client: Arc::new(client),
            server,
        })
    }
}

/// Built TLS settings: what an adapter's runtime needs to speak TLS.
#[derive(Clone, Debug)]
pub struct Tls {
    /// For connections this system dials.
    pub client: Arc<ClientConfig>,
    /// For connections it accepts (`None`: it has no certificate and cannot listen).
    pub server: Option<Arc<ServerConfig>>,
}

impl Tls {
    /// These settings offering and taking only HTTP/2 by ALPN (`h2`), as gRPC over TLS
    /// wants (Go's gRPC refuses a TLS peer that does not negotiate it): what an adapter's
    /// gRPC transport dials and listens with.
    pub fn with_h2_alpn(&self) -> Tls {
        let h2 = vec![b"h2".to_vec()];
        let mut client = (*self.client).clone();
        client.alpn_protocols = h2.clone();
        let server = self.server.as_ref().map(|server| {
            let mut server = (**server).clone();
            server.alpn_protocols = h2;
            Arc::new(server)
        });
        Tls {
            client: Arc::new(client),
            server,
        }
    }

    /// The server settings, or the error listening without them is.
    pub fn server_or_err(&self) -> io::Result<Arc<ServerConfig>> {
        self.server.clone().ok_or_else(|| {
            io::Error::other(TlsError::new(
                "cannot listen with TLS: no certificate was given",
            ))
        })
    }
}

/// The PEM certificates in `pem`.
fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::new(format!("reading certificates: {e}")))?;
    if certs.is_empty() {
        return Err(TlsError::new("no certificate in the PEM text"));
    }
    Ok(certs)
}

fn tls_error(e: impl std::fmt::Display) -> TlsError {
    TlsError::new(e.to_string())
}

/// The name a dialled server's certificate must carry: the host of `addr`
/// (`host:port`, `[v6]:port`), a DNS name or an IP address.
pub fn server_name(addr: &str) -> io::Result<ServerName<'static>> {
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned())
        .map_err(|e| io::Error::other(TlsError::new(format!("no server name in {addr:?}: {e}"))))
}

/// `err`, from a TLS handshake or session, with a rustls error inside made a
/// [`TlsError`]. In the handshake (`handshake`), every error is TLS's (a peer that
/// hangs up mid-handshake has refused it).
pub fn io_error(err: io::Error, handshake: bool) -> io::Error {
    if TlsError::of(&err).is_some() {
        return err;
    }
    let rustls = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
        .map(ToString::to_string);
    match rustls {
        Some(reason) => io::Error::other(TlsError::new(reason)),
        None if handshake => io::Error::other(TlsError::new(format!("handshake failed: {err}"))),
        None => err,
    }
}

/// The identity a peer proved with its certificate chain.
pub fn identity(chain: Option<&[CertificateDer<'_>]>) -> Option<PeerIdentity> {
    let chain = chain.filter(|c| !c.is_empty())?;
    Some(PeerIdentity {
        chain: chain.iter().map(|c| c.as_ref().to_vec()).collect(),
    })
}

/// A half of a TLS stream whose errors are [`TlsError`]s where they are TLS's (a peer's
/// alert, a certificate refused after the handshake in TLS 1.3).
#[derive(Debug)]
pub struct TlsErrors<T>(pub T);

impl<T: AsyncRead + Unpin> AsyncRead for TlsErrors<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0)
            .poll_read(cx, buf)
            .map_err(|e| io_error(e, false))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TlsErrors<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0)
            .poll_write(cx, buf)
            .map_err(|e| io_error(e, false))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0)
            .poll_flush(cx)
            .map_err(|e| io_error(e, false))
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_of_addresses() {
        assert_eq!(
            server_name("127.0.0.1:9000").expect("ip"),
            ServerName::try_from("127.0.0.1").expect("ip")
        );
        assert_eq!(
            server_name("[::1]:9000").expect("v6"),
            ServerName::try_from("::1").expect("v6")
        );
        assert_eq!(
            server_name("node-1.gorums:9000").expect("dns"),
            ServerName::try_from("node-1.gorums").expect("dns")
        );
    }
}
