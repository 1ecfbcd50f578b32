//! TLS and certificate-bound node ids. The TLS cases run on the adapters that speak TLS
//! (tokio, smol), certificates made at test time (rcgen), each case taking the adapter's
//! way of giving a runtime TLS settings. The identity cases run on the simulator too:
//! they take a [`WithIdentity`], real certificates over rustls on tokio and smol
//! ([`tls_identities`]), simulated ones on the simulator ([`sim_identities`]).

use std::sync::Arc;
use std::time::Duration;

use gorums_core::api::{
    ConnectionError, IdentityRule, NodeFailure, NodeId, NodeList, System, SystemOptions,
};
use gorums_core::runtime::{PeerIdentity, RuntimeHandle};
use gorums_core::tls::{ClientAuth, Tls, TlsOptions};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

use crate::service::{self, Msg, Seen, method};
use crate::support::{eventually, msg};

/// Makes a runtime of the adapter under test that speaks TLS with the given settings.
pub type WithTls = Arc<dyn Fn(Tls) -> RuntimeHandle + Send + Sync>;

/// Makes a runtime of the adapter under test whose connections present a certificate
/// for the given names (DNS names or IP addresses), trusted by every runtime the same
/// maker made, and that requires a certificate of each peer that dials it.
pub type WithIdentity = Arc<dyn Fn(&[&str]) -> RuntimeHandle + Send + Sync>;

/// [`WithIdentity`] over real TLS: one authority made now signs every certificate.
pub fn tls_identities(with_tls: WithTls) -> WithIdentity {
    let ca = Ca::new("test ca");
    Arc::new(move |names| {
        with_tls(
            ca.options(names)
                .client_auth(ClientAuth::Required)
                .build()
                .unwrap(),
        )
    })
}

/// [`WithIdentity`] on the simulator: runtimes of `rt`'s process whose connections
/// present a (self-signed) certificate for the names, handed to the other end as
/// verified, with no handshake.
pub fn sim_identities(rt: gorums_sim::SimRuntime) -> WithIdentity {
    Arc::new(move |names| {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let cert = CertificateParams::new(names)
            .unwrap()
            .self_signed(&KeyPair::generate().unwrap())
            .unwrap();
        let identity = PeerIdentity {
            chain: vec![cert.der().to_vec()],
        };
        Arc::new(rt.clone().with_identity(identity)) as RuntimeHandle
    })
}

/// TLS settings that serve and dial every node of a conformance case on loopback: one
/// authority made now, one certificate for `127.0.0.1` and `localhost` (a server's and,
/// required by every server, a client's).
pub fn cluster_tls() -> Tls {
    Ca::new("conformance ca")
        .options(&["127.0.0.1", "localhost"])
        .client_auth(ClientAuth::Required)
        .build()
        .unwrap()
}

/// A certificate authority made for one test.
struct Ca(CertifiedIssuer<'static, KeyPair>);

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        Ca(CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap())
    }

    /// TLS options trusting this authority, with a certificate it signs for `names`.
    fn options(&self, names: &[&str]) -> TlsOptions {
        self.trusting(self, names)
    }

    /// TLS options trusting `roots`, with a certificate this authority signs for `names`.
    fn trusting(&self, roots: &Ca, names: &[&str]) -> TlsOptions {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        self.signing(roots, CertificateParams::new(names).unwrap())
    }

    /// TLS options trusting this authority, with a certificate for `names` that expired
    /// in 2020.
    fn expired(&self, names: &[&str]) -> TlsOptions {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.not_before = rcgen::date_time_ymd(2019, 1, 1);
        params.not_after = rcgen::date_time_ymd(2020, 1, 1);
        self.signing(self, params)
    }

    /// TLS options trusting `roots`, with the certificate `params` this authority signs.
    fn signing(&self, roots: &Ca, params: CertificateParams) -> TlsOptions {
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.0).unwrap();
        TlsOptions::new(vec![roots.0.der().clone()])
            .certificate_pem(cert.pem().as_bytes(), key.serialize_pem().as_bytes())
            .unwrap()
    }
}

/// The names of node `id`'s certificate: its id as the identity rule reads it, and the
/// address its server is dialled at.
fn node_names(id: u32) -> Vec<String> {
    vec![format!("node-{id}.gorums"), String::from("127.0.0.1")]
}

fn node_tls(ca: &Ca, id: u32) -> Tls {
    let names = node_names(id);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    ca.options(&names)
        .client_auth(ClientAuth::Required)
        .build()
        .unwrap()
}

/// Options of node `id`, its peers' ids bound to their certificates' names.
fn node_options(id: u32) -> SystemOptions {
    let mut options = SystemOptions::with_id(NodeId(id));
    options.identity = Some(IdentityRule::dns_name("node-", ".gorums").allow_anonymous_clients());
    options
}

/// A TLS server of node `id` serving the test service; returns it and its address.
async fn server(with_tls: &WithTls, tls: Tls, options: SystemOptions) -> (System, String) {
    let rt = with_tls(tls);
    let system = System::new(rt.clone(), options);
    service::register(&system, rt, Seen::default());
    let addr = system.listen("127.0.0.1:0").await.unwrap();
    (system, addr)
}

/// A client trusting `ca`, with a certificate it signed, configured with the one node at
/// `addr`.
fn trusted_client(with_tls: &WithTls, ca: &Ca, addr: String) -> gorums_core::api::Configuration {
    System::new(
        with_tls(ca.options(&["client.gorums"]).build().unwrap()),
        SystemOptions::default(),
    )
    .configuration(NodeList::addrs([addr]))
    .unwrap()
}

/// The connection error a node's last failure carries.
fn connection_error(failure: &NodeFailure) -> Option<&ConnectionError> {
    match failure {
        NodeFailure::NotConnected(Some(e)) | NodeFailure::ConnectionLost(e) => Some(e),
        _ => None,
    }
}

/// Waits until a call on `config`'s only node fails with a TLS error, and returns its
/// reason.
async fn tls_refusal(rt: &RuntimeHandle, client: &gorums_core::api::Configuration) -> String {
    let node = client.nodes()[0].clone();
    let is_tls = |f: &NodeFailure| matches!(connection_error(f), Some(ConnectionError::Tls { .. }));
    eventually(rt, || node.last_error().is_some_and(|f| is_tls(&f))).await;
    let failure = node.last_error().unwrap();
    assert!(failure.to_string().contains("tls: "), "{failure}");
    let err = client
        .with_timeout(Duration::from_secs(5))
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(1))
        .all()
        .await
        .expect_err("a refused node cannot answer");
    assert_eq!(err.failed_nodes().count(), 1, "{err}");
    match connection_error(&failure) {
        Some(ConnectionError::Tls { reason }) => reason.clone(),
        _ => unreachable!("checked above"),
    }
}

/// Three TLS servers with mutual TLS and ids bound to their certificates know each other
/// and serve quorum calls to an anonymous TLS client; a client speaking plain TCP to
/// them gets nothing.
pub async fn a_tls_cluster_serves_quorum_calls(rt: RuntimeHandle, with_tls: WithTls) {
    let ca = Ca::new("test ca");
    let mut servers = Vec::new();
    for id in 1..=3 {
        servers.push(server(&with_tls, node_tls(&ca, id), node_options(id)).await);
    }
    let nodes: Vec<(u32, String)> = (1..=3)
        .map(|i| (i, servers[i as usize - 1].1.clone()))
        .collect();
    let mut configs = Vec::new();
    for (system, _) in &servers {
        configs.push(system.configuration(NodeList::map(nodes.clone())).unwrap());
    }
    // Every server reaches the two others: ids proved by certificates were admitted.
    for config in &configs {
        let reply = config
            .with_timeout(Duration::from_secs(10))
            .quorum_call::<Msg, Msg>(method::ECHO, &msg(7))
            .all()
            .await
            .expect("every node answers over TLS");
        assert_eq!(reply.seq, 7);
    }
    // An anonymous client whose certificate names no node.
    let client_tls = ca.options(&["client.gorums"]).build().unwrap();
    let client = System::new(with_tls(client_tls), SystemOptions::default())
        .configuration(NodeList::addrs(nodes.iter().map(|(_, a)| a.clone())))
        .unwrap();
    for seq in 0..20 {
        let reply = client
            .with_timeout(Duration::from_secs(10))
            .quorum_call::<Msg, Msg>(method::ECHO, &msg(seq))
            .all()
            .await
            .expect("the client's calls are served over TLS");
        assert_eq!(reply.seq, seq);
    }
    // The servers really speak TLS: plain TCP is not served.
    let plain = System::new(rt.clone(), SystemOptions::default())
        .configuration(NodeList::addrs([nodes[0].1.clone()]))
        .unwrap();
    let err = plain
        .with_timeout(Duration::from_millis(1500))
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(1))
        .all()
        .await
        .expect_err("a plain client is not served by a TLS server");
    assert_eq!(err.failed_nodes().count(), 1, "{err}");
}

/// An unknown CA (either way), a wrong name, a missing client certificate and an expired
/// certificate (either way) are each that node's TLS error, never a hang; the server
/// serves a good client meanwhile.
pub async fn tls_refusals_are_that_nodes_clear_error(rt: RuntimeHandle, with_tls: WithTls) {
    let ca = Ca::new("test ca");
    let other = Ca::new("another ca");
    let (_server, addr) = server(&with_tls, node_tls(&ca, 1), node_options(1)).await;
    let dial = |tls: Tls| {
        System::new(with_tls(tls), SystemOptions::default())
            .configuration(NodeList::addrs([addr.clone()]))
            .unwrap()
    };

    // The client does not trust the server's CA.
    let wrong_roots = dial(other.options(&["client.gorums"]).build().unwrap());
    let reason = tls_refusal(&rt, &wrong_roots).await;
    assert!(reason.contains("UnknownIssuer"), "{reason}");

    // The server does not trust the client's CA.
    let wrong_client_ca = dial(other.trusting(&ca, &["client.gorums"]).build().unwrap());
    let reason = tls_refusal(&rt, &wrong_client_ca).await;
    assert!(
        reason.contains("alert") || reason.contains("UnknownCA"),
        "{reason}"
    );

    // The client has no certificate; the server requires one.
    let no_cert = dial(TlsOptions::new(vec![ca.0.der().clone()]).build().unwrap());
    let reason = tls_refusal(&rt, &no_cert).await;
    assert!(
        reason.contains("alert") || reason.contains("Certificate"),
        "{reason}"
    );

    // The server's certificate is for another name.
    let (_misnamed, misnamed_addr) = server(
        &with_tls,
        ca.options(&["elsewhere.gorums"]).build().unwrap(),
        node_options(2),
    )
    .await;
    let reason = tls_refusal(&rt, &trusted_client(&with_tls, &ca, misnamed_addr)).await;
    assert!(reason.contains("not valid for name"), "{reason}");

    // The server's certificate has expired.
    let (_expired, expired_addr) = server(
        &with_tls,
        ca.expired(&["127.0.0.1"]).build().unwrap(),
        node_options(3),
    )
    .await;
    let reason = tls_refusal(&rt, &trusted_client(&with_tls, &ca, expired_addr)).await;
    assert!(reason.contains("certificate expired"), "{reason}");

    // The client's certificate has expired.
    let expired_client = dial(ca.expired(&["client.gorums"]).build().unwrap());
    let reason = tls_refusal(&rt, &expired_client).await;
    assert!(
        reason.contains("alert") || reason.contains("Certificate"),
        "{reason}"
    );

    // Meanwhile the server serves a client it trusts.
    let good = dial(ca.options(&["client.gorums"]).build().unwrap());
    let reply = good
        .with_timeout(Duration::from_secs(10))
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(3))
        .all()
        .await
        .expect("a trusted client is served");
    assert_eq!(reply.seq, 3);
}

/// A peer whose certificate says node 2 but whose hello claims node 3 is refused; the
/// real node 2 is admitted, and a peer with a certificate naming no node is refused, as
/// a node and as an anonymous client, when the rule allows no anonymous clients.
pub async fn a_spoofed_node_id_is_refused(_rt: RuntimeHandle, identities: WithIdentity) {
    let certified = |id: u32| {
        let names = node_names(id);
        identities(&names.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let mut strict = SystemOptions::with_id(NodeId(1));
    strict.identity = Some(IdentityRule::dns_name("node-", ".gorums"));
    let server_rt = certified(1);
    let server1 = System::new(server_rt.clone(), strict);
    service::register(&server1, server_rt, Seen::default());
    let addr = server1.listen("127.0.0.1:0").await.unwrap();
    let peer = |rt: RuntimeHandle, id: u32| {
        System::new(rt, SystemOptions::with_id(NodeId(id)))
            .configuration(NodeList::map([(1, addr.clone())]))
            .unwrap()
    };
    let call = |config: gorums_core::api::Configuration| async move {
        config
            .with_timeout(Duration::from_secs(3))
            .quorum_call::<Msg, Msg>(method::ECHO, &msg(5))
            .all()
            .await
    };

    // Node 2's certificate, claiming to be node 3.
    let spoof = peer(certified(2), 3);
    let err = call(spoof).await.expect_err("a spoofed id is refused");
    assert_eq!(err.failed_nodes().collect::<Vec<_>>(), [NodeId(1)], "{err}");

    // A certificate naming no node, claiming node 4: refused (no anonymous clients here).
    let nameless = || identities(&["client.gorums"]);
    call(peer(nameless(), 4))
        .await
        .expect_err("a certificate that names no node proves no id");
    // ... and as an anonymous client: refused too.
    let anonymous = System::new(nameless(), SystemOptions::default())
        .configuration(NodeList::addrs([addr.clone()]))
        .unwrap();
    call(anonymous)
        .await
        .expect_err("this server allows no anonymous clients");

    // The real node 2 is admitted, as node 2.
    // `honest` is kept until the server has been seen to list node 2: dropping it closes
    // the connection, which could take node 2 out of the server's peers first.
    let honest = peer(certified(2), 2);
    assert_eq!(call(honest.clone()).await.expect("node 2 is node 2").seq, 5);
    let peers = server1
        .wait_for_config(|c| c.contains(NodeId(2)))
        .await
        .unwrap();
    assert!(
        !peers.contains(NodeId(3)),
        "the spoofer never joined: {:?}",
        peers.ids()
    );
    drop(honest);
}

/// Expands to the identity cases as `#[test]`s: `$run` is a function that runs an async
/// test given a runtime and a [`WithIdentity`] of that runtime's adapter.
#[macro_export]
macro_rules! identity_suite {
    ($run:path) => {
        $crate::identity_suite!(@cases $run; a_spoofed_node_id_is_refused,);
    };
    (@cases $run:path; $($case:ident,)*) => {
        $(
            #[test]
            fn $case() {
                $run(|rt, identities| $crate::tls_cases::$case(rt, identities));
            }
        )*
    };
}

/// Expands to the TLS cases and the identity cases (over real certificates) as
/// `#[test]`s on `$adapter`, whose runtimes `$with_tls` (an expression of type
/// [`WithTls`], evaluated inside the runtime) gives TLS settings.
#[macro_export]
macro_rules! tls_suite {
    ($adapter:ty, $with_tls:expr) => {
        $crate::tls_suite!(@cases $adapter, $with_tls;
            a_tls_cluster_serves_quorum_calls,
            tls_refusals_are_that_nodes_clear_error,
        );
        fn run_with_identities<F, Fut>(test: F)
        where
            F: FnOnce(::gorums_core::runtime::RuntimeHandle, $crate::tls_cases::WithIdentity) -> Fut,
            Fut: ::std::future::Future<Output = ()> + Send + 'static,
        {
            <$adapter as $crate::Adapter>::run(|rt| {
                test(rt, $crate::tls_cases::tls_identities($with_tls))
            });
        }
        $crate::identity_suite!(run_with_identities);
    };
    (@cases $adapter:ty, $with_tls:expr; $($case:ident,)*) => {
        $(
            #[test]
            fn $case() {
                <$adapter as $crate::Adapter>::run(|rt| {
                    $crate::tls_cases::$case(rt, $with_tls)
                });
            }
        )*
    };
}
