//! The test service: a few prost messages and handlers that record what they saw.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use gorums_core::api::{ItemSender, ServerCtx, Status, System};
use gorums_core::runtime::RuntimeHandle;

/// A request or reply carrying text, a number and the id of the node that made it.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Msg {
    /// Free text.
    #[prost(string, tag = "1")]
    pub text: String,
    /// A sequence number or value.
    #[prost(uint64, tag = "2")]
    pub seq: u64,
    /// The node that made the reply.
    #[prost(uint32, tag = "3")]
    pub node: u32,
}

/// A message of another shape, to check a reply of the wrong type.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Other {
    /// A field whose wire type clashes with [`Msg::text`].
    #[prost(uint64, tag = "1")]
    pub number: u64,
}

/// Method names of the test service.
pub mod method {
    /// Echoes the request with the server's id.
    pub const ECHO: &str = "test.Svc.Echo";
    /// Records the request's seq (one-way).
    pub const RECORD: &str = "test.Svc.Record";
    /// Sleeps `seq` milliseconds, then echoes.
    pub const SLOW: &str = "test.Svc.Slow";
    /// Releases, then sleeps `seq` milliseconds, then echoes.
    pub const SLOW_RELEASED: &str = "test.Svc.SlowReleased";
    /// Records `seq`, sleeps 10 ms, then echoes (a call that stays in flight a while,
    /// whatever its seq).
    pub const TICK: &str = "test.Svc.Tick";
    /// Streams `seq` items, numbered 1..=seq.
    pub const STREAM: &str = "test.Svc.Stream";
    /// Replies with the value of the request's metadata entry `k` as its text.
    pub const META: &str = "test.Svc.Meta";
    /// Records the value of the request's metadata entry `k`, parsed as a number
    /// (one-way).
    pub const RECORD_META: &str = "test.Svc.RecordMeta";
    /// Waits until its caller can no longer get the answer, records that (seq), and
    /// answers.
    pub const UNTIL_CANCELLED: &str = "test.Svc.UntilCancelled";
    /// Sleeps `seq` milliseconds, then streams one item.
    pub const SLOW_STREAM: &str = "test.Svc.SlowStream";
    /// Streams `seq` items, then fails with `Aborted`.
    pub const STREAM_THEN_FAIL: &str = "test.Svc.StreamThenFail";
    /// Panics.
    pub const PANIC: &str = "test.Svc.Panic";
    /// Never returns.
    pub const HANG: &str = "test.Svc.Hang";
    /// Fails with `NotFound`.
    pub const FAIL: &str = "test.Svc.Fail";
    /// Replies with the request's text grown by `seq` bytes.
    pub const PAD: &str = "test.Svc.Pad";
    /// Replies with an [`super::Other`].
    pub const WRONG_TYPE: &str = "test.Svc.WrongType";
    /// A quorum call over `ctx.config()` from inside the handler (nested).
    pub const NESTED: &str = "test.Svc.Nested";
    /// A quorum call over `ctx.client_config()` (reverse direction).
    pub const CALL_CLIENTS: &str = "test.Svc.CallClients";
}

/// What a server saw: the seq of every request, in the order its handlers started.
pub type Seen = Arc<Mutex<Vec<(u32, String, u64)>>>;

/// Registers the test service on `system`, recording into `seen`.
pub fn register(system: &System, rt: RuntimeHandle, seen: Seen) {
    let me = system.node_id().0;
    let record = move |seen: &Seen, method: &str, seq: u64| {
        seen.lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((me, method.to_owned(), seq));
    };
    let s = seen.clone();
    system.register_unary(method::ECHO, move |ctx: ServerCtx, req: Msg| {
        record(&s, method::ECHO, req.seq);
        // What the handler is told of its request, checked on every echo.
        let told = ctx.method() == method::ECHO && format!("{ctx:?}").contains(method::ECHO);
        async move {
            if !told {
                return Err(Status::new(
                    gorums_core::api::Code::Internal,
                    "the handler was told another method",
                ));
            }
            Ok(Msg { node: me, ..req })
        }
    });
    let s = seen.clone();
    system.register_one_way(method::RECORD, move |_ctx: ServerCtx, req: Msg| {
        record(&s, method::RECORD, req.seq);
        async {}
    });
    let s = seen.clone();
    let r = rt.clone();
    system.register_unary(method::SLOW, move |_ctx: ServerCtx, req: Msg| {
        record(&s, method::SLOW, req.seq);
        let sleep = r.sleep_until(r.now() + Duration::from_millis(req.seq));
        async move {
            sleep.await;
            Ok(Msg { node: me, ..req })
        }
    });
    let s = seen.clone();
    let r = rt.clone();
    system.register_unary(method::SLOW_RELEASED, move |ctx: ServerCtx, req: Msg| {
        record(&s, method::SLOW_RELEASED, req.seq);
        let r = r.clone();
        async move {
            ctx.release();
            r.sleep_until(r.now() + Duration::from_millis(req.seq))
                .await;
            Ok(Msg { node: me, ..req })
        }
    });
    let s = seen.clone();
    let r = rt.clone();
    system.register_unary(method::TICK, move |_ctx: ServerCtx, req: Msg| {
        record(&s, method::TICK, req.seq);
        let sleep = r.sleep_until(r.now() + Duration::from_millis(10));
        async move {
            sleep.await;
            Ok(Msg { node: me, ..req })
        }
    });
    let s = seen.clone();
    system.register_stream(
        method::STREAM,
        move |_ctx: ServerCtx, req: Msg, items: ItemSender<Msg>| {
            record(&s, method::STREAM, req.seq);
            stream_items(items, req, me)
        },
    );
    system.register_unary(method::META, move |ctx: ServerCtx, req: Msg| {
        let value = ctx
            .metadata()
            .iter()
            .find(|e| e.key == "k")
            .map(|e| e.value.clone())
            .unwrap_or_default();
        async move {
            Ok(Msg {
                text: value,
                node: me,
                ..req
            })
        }
    });
    let s = seen.clone();
    system.register_one_way(method::RECORD_META, move |ctx: ServerCtx, _req: Msg| {
        let value = ctx.metadata_value("k").and_then(|v| v.parse().ok());
        record(&s, method::RECORD_META, value.unwrap_or(u64::MAX));
        async {}
    });
    let s = seen.clone();
    system.register_unary(method::UNTIL_CANCELLED, move |ctx: ServerCtx, req: Msg| {
        let s = s.clone();
        async move {
            assert!(!ctx.is_cancelled(), "not cancelled at the start");
            ctx.release();
            ctx.cancelled().await;
            assert!(ctx.is_cancelled());
            record(&s, method::UNTIL_CANCELLED, req.seq);
            Ok(req)
        }
    });
    let r = rt.clone();
    system.register_stream(
        method::SLOW_STREAM,
        move |_ctx: ServerCtx, req: Msg, items: ItemSender<Msg>| {
            let sleep = r.sleep_until(r.now() + Duration::from_millis(req.seq));
            async move {
                sleep.await;
                stream_items(items, Msg { seq: 1, ..req }, me).await
            }
        },
    );
    system.register_stream(
        method::STREAM_THEN_FAIL,
        move |_ctx: ServerCtx, req: Msg, items: ItemSender<Msg>| async move {
            stream_items(items, req, me).await?;
            Err(Status::new(
                gorums_core::api::Code::Aborted,
                "failed mid-stream",
            ))
        },
    );
    let s = seen.clone();
    system.register_unary(method::PAD, move |_ctx: ServerCtx, req: Msg| {
        record(&s, method::PAD, req.seq);
        async move {
            let padding = usize::try_from(req.seq).unwrap_or(0);
            Ok(Msg {
                text: req.text + &"x".repeat(padding),
                node: me,
                ..Msg::default()
            })
        }
    });
    system.register_unary(method::PANIC, move |_ctx: ServerCtx, req: Msg| async move {
        if req.seq == 0 {
            panic!("handler panicked on purpose");
        }
        Ok(req)
    });
    system.register_unary(method::HANG, move |_ctx: ServerCtx, _req: Msg| async move {
        std::future::pending::<()>().await;
        Ok(Msg::default())
    });
    system.register_unary(method::FAIL, move |_ctx: ServerCtx, _req: Msg| async move {
        Err::<Msg, _>(Status::new(
            gorums_core::api::Code::NotFound,
            "no such thing",
        ))
    });
    system.register_unary(
        method::WRONG_TYPE,
        move |_ctx: ServerCtx, _req: Msg| async move { Ok(Other { number: 7 }) },
    );
    system.register_unary(method::NESTED, move |ctx: ServerCtx, req: Msg| async move {
        let config = ctx.config();
        ctx.release();
        let replies = config
            .quorum_call::<Msg, Msg>(
                method::ECHO,
                &Msg {
                    text: "nested".into(),
                    ..req.clone()
                },
            )
            .collect_all()
            .await;
        let ok = replies.iter().filter(|r| r.result.is_ok()).count() as u64;
        Ok(Msg {
            text: format!("nested over {}", config.len()),
            seq: ok,
            node: me,
        })
    });
    system.register_unary(
        method::CALL_CLIENTS,
        move |ctx: ServerCtx, req: Msg| async move {
            let clients = ctx.client_config();
            ctx.release();
            let reply = clients
                .quorum_call::<Msg, Msg>(method::ECHO, &req)
                .all()
                .await
                .map_err(|e| Status::new(gorums_core::api::Code::Unavailable, e.to_string()))?;
            Ok(Msg {
                seq: clients.len() as u64,
                ..reply
            })
        },
    );
}

/// The STREAM handler's body: `req.seq` items, numbered 1..=seq.
async fn stream_items(items: ItemSender<Msg>, req: Msg, me: u32) -> Result<(), Status> {
    if !format!("{items:?}").contains("test.Svc.") {
        return Err(Status::new(
            gorums_core::api::Code::Internal,
            "the item sender does not name its method",
        ));
    }
    for i in 1..=req.seq {
        items.send(&Msg {
            text: req.text.clone(),
            seq: i,
            node: me,
        })?;
    }
    Ok(())
}
