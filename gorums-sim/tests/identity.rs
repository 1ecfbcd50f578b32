//! Simulated certificates: each end of a connection finds the identity the other end
//! presents (its process's, or its runtime handle's own), as TLS would hand it up.

use gorums_sim::{PeerIdentity, ProcessOptions, Runtime, Sim, SimConfig};

fn cert(name: &str) -> PeerIdentity {
    PeerIdentity {
        chain: vec![name.as_bytes().to_vec()],
    }
}

#[test]
fn each_end_sees_the_identity_the_other_presents() {
    let mut sim = Sim::new(SimConfig::new(1));
    let server = sim.add_process(ProcessOptions::new("server").identity(cert("server")));
    let client = sim.add_process(ProcessOptions::new("client").identity(cert("client")));
    let plain = sim.add_process(ProcessOptions::new("plain"));
    let server_rt = sim.runtime(server);
    let client_rt = sim.sim_runtime(client);
    let plain_rt = sim.runtime(plain);
    let seen = sim
        .run(client, async move {
            let mut listener = server_rt.listen("10.0.0.1:7000").await.unwrap();
            let mut seen = Vec::new();
            let dialled = client_rt.connect("10.0.0.1:7000").await.unwrap();
            seen.push(dialled.identity.clone());
            seen.push(listener.accept().await.unwrap().identity);
            let other = client_rt.clone().with_identity(cert("other"));
            let _other = other.connect("10.0.0.1:7000").await.unwrap();
            seen.push(listener.accept().await.unwrap().identity);
            let _plain = plain_rt.connect("10.0.0.1:7000").await.unwrap();
            seen.push(listener.accept().await.unwrap().identity);
            seen
        })
        .unwrap();
    assert_eq!(
        seen,
        [
            Some(cert("server")),
            Some(cert("client")),
            Some(cert("other")),
            None
        ]
    );
}
