//! The server interceptors of the example, chosen with `--interceptors`.

use std::sync::Arc;
use std::time::Duration;

use gorums_core::api::{Code, Next, Outcome, ServerCtx, ServerInterceptor, Status};
use gorums_core::runtime::{BoxFuture, RuntimeHandle};

/// The interceptors named in `names`, in that order (outermost first).
pub fn by_names(names: &[String], rt: RuntimeHandle) -> Vec<Arc<dyn ServerInterceptor>> {
    names
        .iter()
        .filter_map(|name| -> Option<Arc<dyn ServerInterceptor>> {
            match name.as_str() {
                "logging" => Some(Arc::new(logging)),
                "nofoo" => Some(Arc::new(no_foo)),
                "metadata" => Some(Arc::new(metadata)),
                "delayed" => {
                    let rt = rt.clone();
                    Some(Arc::new(
                        move |ctx: ServerCtx, req: bytes::Bytes, next: Next| {
                            delayed(rt.clone(), ctx, req, next)
                        },
                    ))
                }
                other => {
                    eprintln!("warning: unknown interceptor {other:?} ignored");
                    None
                }
            }
        })
        .collect()
}

/// Logs each request and how it ended.
fn logging(ctx: ServerCtx, req: bytes::Bytes, next: Next) -> BoxFuture<'static, Outcome> {
    Box::pin(async move {
        let (peer, method) = (ctx.peer().0, ctx.method().to_owned());
        tracing::info!(peer, %method, bytes = req.len(), "request");
        eprintln!("[logging] {method} from node {peer}");
        let outcome = next(ctx, req).await;
        eprintln!(
            "[logging] {method} done: {}",
            match &outcome {
                Outcome::Reply(Err(s)) | Outcome::StreamEnd(Err(s)) => s.to_string(),
                _ => String::from("ok"),
            }
        );
        outcome
    })
}

/// Rejects any request for the key `foo`.
fn no_foo(ctx: ServerCtx, req: bytes::Bytes, next: Next) -> BoxFuture<'static, Outcome> {
    Box::pin(async move {
        if request_key(&req).as_deref() == Some("foo") {
            let status = Status::new(Code::PermissionDenied, "the key foo is not allowed");
            // The right outcome for the call type, whichever it is.
            return ctx.reject(status);
        }
        next(ctx, req).await
    })
}

/// Prints the request's metadata.
fn metadata(ctx: ServerCtx, req: bytes::Bytes, next: Next) -> BoxFuture<'static, Outcome> {
    Box::pin(async move {
        let entries: Vec<String> = ctx
            .metadata()
            .iter()
            .map(|e| format!("{}={}", e.key, e.value))
            .collect();
        eprintln!(
            "[metadata] {} from node {}: {{{}}}",
            ctx.method(),
            ctx.peer().0,
            entries.join(", ")
        );
        next(ctx, req).await
    })
}

/// Delays every request by 10 ms.
fn delayed(
    rt: RuntimeHandle,
    ctx: ServerCtx,
    req: bytes::Bytes,
    next: Next,
) -> BoxFuture<'static, Outcome> {
    Box::pin(async move {
        rt.sleep_until(rt.now() + Duration::from_millis(10)).await;
        next(ctx, req).await
    })
}

/// The `key` field (tag 1) of a read or write request, if the bytes decode as one.
fn request_key(req: &[u8]) -> Option<String> {
    ServerCtx::decode_request::<crate::proto::ReadRequest>(req)
        .ok()
        .map(|r| r.key)
}
