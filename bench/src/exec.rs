//! The executors a run uses: tokio (multi-thread with `threads` workers, or
//! current-thread for one) or smol (an executor run on `threads` threads, the main
//! thread among them). A fresh one per run, so runs do not share warm state.

use std::future::Future;
use std::sync::Arc;

use gorums_core::runtime::RuntimeHandle;

/// Which async runtime a run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RuntimeKind {
    /// tokio: multi-thread with `--threads` workers, current-thread with one.
    Tokio,
    /// smol: one executor run on `--threads` threads.
    Smol,
}

impl RuntimeKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            RuntimeKind::Tokio => "tokio",
            RuntimeKind::Smol => "smol",
        }
    }
}

/// A running executor.
pub(crate) enum Exec {
    Tokio(Option<tokio::runtime::Runtime>),
    Smol {
        ex: Arc<smol::Executor<'static>>,
        stop: Option<smol::channel::Sender<()>>,
        threads: Vec<std::thread::JoinHandle<()>>,
    },
}

impl Exec {
    pub(crate) fn new(kind: RuntimeKind, threads: usize) -> std::io::Result<Exec> {
        let threads = threads.max(1);
        Ok(match kind {
            RuntimeKind::Tokio => {
                let rt = if threads == 1 {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?
                } else {
                    tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(threads)
                        .enable_all()
                        .build()?
                };
                Exec::Tokio(Some(rt))
            }
            RuntimeKind::Smol => {
                let ex = Arc::new(smol::Executor::new());
                let (stop, stopped) = smol::channel::bounded::<()>(1);
                // The main thread runs the executor in `block_on`; the rest here.
                let handles = (1..threads)
                    .map(|i| {
                        let ex = ex.clone();
                        let stopped = stopped.clone();
                        std::thread::Builder::new()
                            .name(format!("smol-{i}"))
                            .spawn(move || {
                                let _ = smol::block_on(ex.run(stopped.recv()));
                            })
                    })
                    .collect::<std::io::Result<Vec<_>>>()?;
                Exec::Smol {
                    ex,
                    stop: Some(stop),
                    threads: handles,
                }
            }
        })
    }

    /// gorums' runtime on this executor (speaking TLS after [`use_tls`]; Go Gorums'
    /// gRPC wire if `grpc`, over TLS too).
    pub(crate) fn gorums(&self, grpc: bool) -> RuntimeHandle {
        let tls = TLS.get().map(|t| t.gorums.clone());
        match self {
            Exec::Tokio(rt) => {
                let runtime = gorums_tokio::TokioRuntime::with_handle(
                    rt.as_ref()
                        .map(|r| r.handle().clone())
                        .unwrap_or_else(|| unreachable!()),
                );
                match (tls, grpc) {
                    (Some(tls), true) => Arc::new(runtime.with_tls(tls).with_grpc()),
                    (Some(tls), false) => Arc::new(runtime.with_tls(tls)),
                    (None, true) => Arc::new(runtime.with_grpc()),
                    (None, false) => Arc::new(runtime),
                }
            }
            Exec::Smol { ex, .. } => {
                let runtime = gorums_smol::SmolRuntime::with_executor(ex.clone());
                match (tls, grpc) {
                    (Some(tls), true) => Arc::new(runtime.with_tls(tls).with_grpc()),
                    (Some(tls), false) => Arc::new(runtime.with_tls(tls)),
                    (None, true) => Arc::new(runtime.with_grpc()),
                    (None, false) => Arc::new(runtime),
                }
            }
        }
    }

    /// Runs `fut` to completion, the calling thread helping to run the executor.
    pub(crate) fn block_on<F: Future>(&self, fut: F) -> F::Output {
        match self {
            Exec::Tokio(rt) => rt.as_ref().unwrap_or_else(|| unreachable!()).block_on(fut),
            Exec::Smol { ex, .. } => smol::block_on(ex.run(fut)),
        }
    }

    /// Spawns `fut` in the background.
    pub(crate) fn spawn(&self, fut: impl Future<Output = ()> + Send + 'static) {
        match self {
            Exec::Tokio(rt) => {
                drop(rt.as_ref().unwrap_or_else(|| unreachable!()).spawn(fut));
            }
            Exec::Smol { ex, .. } => ex.spawn(fut).detach(),
        }
    }
}

impl Drop for Exec {
    fn drop(&mut self) {
        match self {
            Exec::Tokio(rt) => {
                if let Some(rt) = rt.take() {
                    rt.shutdown_timeout(std::time::Duration::from_millis(200));
                }
            }
            Exec::Smol { stop, threads, .. } => {
                drop(stop.take());
                for t in threads.drain(..) {
                    let _ = t.join();
                }
            }
        }
    }
}

/// The certificates of `--tls`, made once at start: every server of this process
/// (gorums-rs and tonic alike) presents `cert` for 127.0.0.1, which `ca` signed and
/// every client trusts.
#[derive(Debug)]
pub(crate) struct BenchTls {
    /// The authority's certificate (PEM).
    pub(crate) ca: String,
    /// The servers' certificate (PEM).
    pub(crate) cert: String,
    /// Its private key (PEM).
    pub(crate) key: String,
    /// The same as gorums-rs' TLS settings.
    gorums: gorums_core::tls::Tls,
}

static TLS: std::sync::OnceLock<BenchTls> = std::sync::OnceLock::new();

/// The certificates of `--tls`, if it was given.
pub(crate) fn tls() -> Option<&'static BenchTls> {
    TLS.get()
}

/// Makes every server and client of this process speak TLS, with [`BenchTls::generate`]d
/// certificates.
pub(crate) fn use_tls() -> Result<(), String> {
    TLS.set(BenchTls::generate()?)
        .map_err(|_| String::from("--tls given twice"))
}

impl BenchTls {
    /// A server certificate for 127.0.0.1, made now by rcgen and signed by a fresh
    /// authority.
    pub(crate) fn generate() -> Result<BenchTls, String> {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let fail = |e: &dyn std::fmt::Display| format!("--tls: {e}");
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(|e| fail(&e))?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().map_err(|e| fail(&e))?)
            .map_err(|e| fail(&e))?;
        let key = KeyPair::generate().map_err(|e| fail(&e))?;
        let cert = CertificateParams::new(vec![String::from("127.0.0.1")])
            .map_err(|e| fail(&e))?
            .signed_by(&key, &ca)
            .map_err(|e| fail(&e))?;
        let (ca, cert, key) = (ca.pem(), cert.pem(), key.serialize_pem());
        let gorums = gorums_core::tls::TlsOptions::from_pem_roots(ca.as_bytes())
            .and_then(|o| o.certificate_pem(cert.as_bytes(), key.as_bytes()))
            .and_then(|o| o.build())
            .map_err(|e| fail(&e))?;
        Ok(BenchTls {
            ca,
            cert,
            key,
            gorums,
        })
    }
}
