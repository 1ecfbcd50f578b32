//! One call of each kind through the generated client, against three local servers.
//! Written once and compiled in each fixture's edition (so: no async closures, nothing
//! from a newer prelude).

use std::collections::BTreeSet;
use std::pin::Pin;
use std::time::Duration;

use futures_core::Stream;
use gorums_tokio::{Configuration, NodeId, NodeList, System, SystemOptions, local_systems};

use crate::client::{ask_from, ask_majority, ask_ok, say_untyped};
use crate::fixture::{EchoConfiguration, EchoNode, Empty, Ping, register_echo_server};
use crate::server::Recorder;

const N: u32 = 3;

/// Three servers that know each other, and a client of all three. The servers stop when
/// their systems are dropped, so the caller keeps them.
async fn cluster() -> (Vec<(System, Configuration)>, EchoConfiguration) {
    let rt = gorums_tokio::runtime();
    let servers = local_systems(rt.clone(), N, SystemOptions::default(), |s| {
        register_echo_server(s, Recorder::new(s.node_id()))
    })
    .await
    .expect("local servers start");
    let addrs: Vec<String> = servers
        .iter()
        .map(|(s, c)| {
            let node = c
                .node(s.node_id())
                .expect("a server is in its own configuration");
            node.addr().to_owned()
        })
        .collect();
    let client = Configuration::new(rt, NodeList::addrs(addrs), SystemOptions::default())
        .expect("client configuration");
    (servers.into_vec(), EchoConfiguration::new(client))
}

fn ping(text: &str, times: u32) -> Ping {
    Ping {
        text: text.to_owned(),
        times,
    }
}

fn all_ids() -> BTreeSet<u32> {
    (1..=N).collect()
}

async fn next<S: Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| Pin::new(&mut *s).poll_next(cx)).await
}

/// What `node` has recorded, once it has recorded `want` texts (or after 10 s).
async fn heard(node: &EchoNode, want: usize) -> Vec<String> {
    let mut texts = Vec::new();
    for _ in 0..1000 {
        texts = node.heard(&Empty {}).await.expect("Heard answers").texts;
        if texts.len() >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    texts
}

#[tokio::test]
async fn every_call_type_through_the_generated_client() {
    let (_servers, config) = cluster().await;
    let nodes = config.nodes();
    assert_eq!(nodes.len(), N as usize);

    // RPC: each node answers itself. The future borrows neither the node nor the
    // request: it outlives both.
    let later = nodes[0].clone().say(&ping("later", 0));
    for node in &nodes {
        let pong = node.say(&ping("rpc", 0)).await.expect("Say answers");
        assert_eq!((pong.node, pong.text.as_str()), (node.id().0, "rpc"));
    }
    let pong = later.await.expect("Say answers");
    assert_eq!((pong.node, pong.text.as_str()), (nodes[0].id().0, "later"));

    // Quorum call: a majority's first reply, then every node's.
    let pong = config
        .ask(&ping("qc", 0))
        .majority()
        .await
        .expect("majority");
    assert_eq!(pong.text, "qc");
    assert!(all_ids().contains(&pong.node));
    let mut answered = BTreeSet::new();
    for r in config.ask(&ping("qc", 0)).collect_all().await {
        let pong = r.result.expect("every node answers");
        assert_eq!((pong.node, pong.text.as_str()), (r.node.0, "qc"));
        answered.insert(pong.node);
    }
    assert_eq!(answered, all_ids());

    // Correctable call: two echoes from each node raise the level to 2 * N.
    let call = config.count(&ping("cc", 2)).correctable(2 * N as usize);
    let (pong, level) = call.watch(1).await.expect("a first level");
    assert!(level >= 1);
    assert_eq!(pong.text, "cc");
    let (pong, level) = call.get().await.expect("the last level");
    assert_eq!((pong.text.as_str(), level), ("cc", 2 * N as usize));

    // Unicast to the first node, then a multicast to all: the first node hears both, in
    // order; the others only the multicast.
    nodes[0].tell(&ping("unicast", 0)).expect("Tell is sent");
    config
        .shout(&ping("multicast", 0))
        .expect("Shout is sent to all");
    assert_eq!(heard(&nodes[0], 2).await, ["unicast", "multicast"]);
    for node in &nodes[1..] {
        assert_eq!(heard(node, 1).await, ["multicast"]);
    }
}

#[tokio::test]
async fn the_api_behind_this_editions_own_impl_trait() {
    let (_servers, config) = cluster().await;

    let first = config.nodes()[0].clone();
    let later = say_untyped(&first.clone(), &ping("untyped", 0));
    let pong = later.await.expect("Say answers");
    assert_eq!((pong.node, pong.text.as_str()), (first.id().0, "untyped"));

    let pong = ask_majority(&config, &ping("async", 0))
        .await
        .expect("majority");
    assert_eq!(pong.text, "async");

    let mut ok = ask_ok(&config, &ping("ok", 0));
    let mut answered = BTreeSet::new();
    while let Some((node, pong)) = next(&mut ok).await {
        assert_eq!((pong.node, pong.text.as_str()), (node.0, "ok"));
        answered.insert(node.0);
    }
    assert_eq!(answered, all_ids());

    let mut from_two = ask_from(&config, &ping("two", 0), &[NodeId(2)]);
    let r = next(&mut from_two).await.expect("node 2's outcome");
    assert_eq!(r.node, NodeId(2));
    assert_eq!(r.result.expect("node 2 answers").text, "two");
    assert!(next(&mut from_two).await.is_none());
}
