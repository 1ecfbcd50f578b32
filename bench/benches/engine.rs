//! One quorum call through the engine alone, with no IO: a client `Endpoint` and n
//! server `Endpoint`s wired through in-memory byte buffers (after gorums-core's test
//! harness). One iteration: start the call, carry the request frames to the servers, let
//! each server take its request and respond, carry the replies back, and feed the
//! client's reply events to a majority [`Tally`] until it is met, then finish the call:
//! the path the API drives (the engine reports, the API's judge decides).

#![allow(missing_docs)] // criterion_group! expands to an undocumented function.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use gorums_core::engine::{
    CallEvent, CallKind, CallSpec, ConnId, Endpoint, EndpointConfig, Event, Instant, NodeId,
    Payload,
};
use gorums_core::quorum::{Quorum, Tally, Verdict};

/// A client connected to `n` servers, all in memory.
struct Cluster {
    now: Instant,
    client: Endpoint,
    servers: Vec<Endpoint>,
    /// For server i: (client's conn to it, the server's conn from the client).
    links: Vec<(ConnId, ConnId)>,
    nodes: std::sync::Arc<[NodeId]>,
    buf: BytesMut,
}

impl Cluster {
    fn new(n: u32) -> Cluster {
        let now = Instant::ZERO;
        let mut client = Endpoint::new(EndpointConfig::default(), now);
        let mut servers = Vec::new();
        for id in 1..=n {
            let config = EndpointConfig {
                node_id: NodeId(id),
                ..EndpointConfig::default()
            };
            servers.push(Endpoint::new(config, now));
            client
                .add_node(now, NodeId(id), format!("s{id}"))
                .expect("add node");
        }
        let mut links: Vec<Option<(ConnId, ConnId)>> = vec![None; n as usize];
        while let Some(event) = client.poll_event() {
            if let Event::Connect { conn, node, .. } = event {
                let i = node.0 as usize - 1;
                let accepted = servers[i].handle_accepted(now, "client");
                client.handle_connected(now, conn);
                links[i] = Some((conn, accepted));
            }
        }
        let links = links
            .into_iter()
            .map(|l| l.expect("every node dialled"))
            .collect();
        let nodes = (1..=n).map(NodeId).collect::<Vec<_>>().into();
        let mut cluster = Cluster {
            now,
            client,
            servers,
            links,
            nodes,
            buf: BytesMut::with_capacity(64 * 1024),
        };
        cluster.pump(None);
        cluster
    }

    /// Carries bytes both ways and answers requests until `tally` is decided (or, with
    /// none, until nothing moves).
    fn pump(&mut self, mut tally: Option<&mut Tally>) -> Option<bool> {
        loop {
            let mut moved = false;
            while let Some(event) = self.client.poll_event() {
                match (&mut tally, event) {
                    (
                        Some(t),
                        Event::Call {
                            event: CallEvent::Reply { result, .. },
                            ..
                        },
                    ) => match result {
                        Ok(reply) => {
                            black_box(reply);
                            t.success();
                        }
                        Err(_) => t.failure(),
                    },
                    (_, other) => drop(black_box(other)),
                }
            }
            if let Some(t) = &tally {
                match t.verdict() {
                    Verdict::Met => return Some(true),
                    Verdict::Impossible => return Some(false),
                    Verdict::Pending => {}
                }
            }
            for i in 0..self.servers.len() {
                let (c, s) = self.links[i];
                self.buf.clear();
                if self.client.poll_transmit(c, &mut self.buf) > 0 {
                    moved = true;
                    self.servers[i].handle_bytes(self.now, s, &self.buf);
                }
                while let Some(event) = self.servers[i].poll_event() {
                    if let Event::Request(req) = event {
                        let reply = req.payload.clone();
                        self.servers[i]
                            .respond(self.now, req.id, Ok(reply))
                            .expect("respond");
                    }
                }
                self.buf.clear();
                if self.servers[i].poll_transmit(s, &mut self.buf) > 0 {
                    moved = true;
                    self.client.handle_bytes(self.now, c, &self.buf);
                }
            }
            if !moved {
                return None;
            }
        }
    }

    fn quorum_call(&mut self, payload: &Bytes) -> bool {
        let spec = CallSpec::new(
            CallKind::QuorumCall,
            "benchmark.Benchmark.QuorumCall",
            self.nodes.clone(),
            Payload::Shared(payload.clone()),
        );
        let n = self.nodes.len();
        let mut tally = Tally::new(Quorum::Majority.required(n), n);
        let started = self.client.start_call(self.now, spec).expect("starts");
        let ok = self.pump(Some(&mut tally)).unwrap_or(false);
        // The API finishes a call once its future is done; late replies are then dropped.
        self.client.finish(self.now, started.id);
        ok
    }
}

fn quorum_call(c: &mut Criterion) {
    let mut group = c.benchmark_group("engine_quorum_call");
    group.throughput(Throughput::Elements(1));
    for n in [3u32, 4] {
        let mut cluster = Cluster::new(n);
        let payload = Bytes::from_static(&[7u8; 16]);
        assert!(cluster.quorum_call(&payload), "the call meets its quorum");
        group.bench_function(BenchmarkId::new("n", n), |b| {
            b.iter(|| black_box(cluster.quorum_call(&payload)));
        });
    }
    group.finish();
}

criterion_group!(benches, quorum_call);
criterion_main!(benches);
