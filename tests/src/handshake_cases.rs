//! Conformance cases for connections that have not said who they are: what they may
//! make a server hold, and how many of them it takes at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use gorums_core::api::EndpointConfig;
use gorums_core::runtime::RuntimeHandle;
use gorums_core::wire;

use crate::service::{Msg, method};
use crate::support::{cluster, eventually, msg, sleep, write_all};

/// CONFORMANCE (ours): 100 connections open at once to one server and send the preface
/// and a first frame, never a hello: half announce 4 MiB and go on sending its bytes,
/// half announce a frame just under the handshake limit and send most of it, slowly.
/// The bytes the server holds for them stay under the stated bound (at most
/// `max_handshaking` connections of `handshake_hold_limit` bytes), and quorum calls on
/// the authenticated connections go on meanwhile.
pub async fn a_flood_of_unauthenticated_first_frames_stays_under_the_bound(rt: RuntimeHandle) {
    let c = cluster(&rt, 3).await;
    let server = c.servers[0].0.clone();
    let defaults = EndpointConfig::default();
    let bound = defaults.handshake_memory_bound();
    // The client's connections are up before the flood: a connection accepted while
    // `max_handshaking` others are in their handshake is refused, the client's too.
    c.client
        .quorum_call::<Msg, Msg>(method::ECHO, &msg(0))
        .all()
        .await
        .expect("the client is connected");
    let done = Arc::new(AtomicUsize::new(0));
    for i in 0..100usize {
        let (rt2, addr, done) = (rt.clone(), c.addrs[0].clone(), done.clone());
        let slow = i % 2 == 1;
        let announced = if slow {
            defaults.max_handshake_frame_len
        } else {
            4 * 1024 * 1024
        };
        rt.spawn(Box::pin(async move {
            if let Ok(mut conn) = rt2.connect(&addr).await {
                let mut first = wire::PREFACE.to_vec();
                first.extend_from_slice(&u32::try_from(announced).unwrap().to_be_bytes());
                let chunk = vec![0xabu8; 8 * 1024];
                let mut sent = 0;
                if write_all(&mut conn.writer, &first).await {
                    while sent + chunk.len() < announced.min(4 * 1024 * 1024) - 1024 {
                        if !write_all(&mut conn.writer, &chunk).await {
                            break;
                        }
                        sent += chunk.len();
                        if slow {
                            sleep(&rt2, Duration::from_millis(5)).await;
                        }
                    }
                }
                // Holds the connection (and what the server buffered) a while longer.
                sleep(&rt2, Duration::from_millis(300)).await;
                drop(conn);
            }
            done.fetch_add(1, Ordering::AcqRel);
        }));
    }
    let mut most = (0, 0);
    for i in 0..40u64 {
        let reply = c
            .client
            .quorum_call::<Msg, Msg>(method::ECHO, &msg(i))
            .all()
            .await
            .expect("calls go on during the flood");
        assert_eq!(reply.seq, i);
        let (held, handshaking) = (server.handshake_bytes(), server.handshaking());
        assert!(
            held <= bound,
            "{held} bytes held, over the bound of {bound}"
        );
        assert!(handshaking <= defaults.max_handshaking, "{handshaking}");
        most = (most.0.max(held), most.1.max(handshaking));
        sleep(&rt, Duration::from_millis(10)).await;
    }
    assert!(
        most.0 > 10 * 1024,
        "the slow senders' frames were held while they arrived: {most:?}"
    );
    assert!(most.1 > 0, "the flood's connections were counted: {most:?}");
    eventually(&rt, || done.load(Ordering::Acquire) == 100).await;
    eventually(&rt, || server.handshaking() == 0).await;
    assert_eq!(server.handshake_bytes(), 0);
}
