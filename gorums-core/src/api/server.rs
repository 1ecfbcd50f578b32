//! The server side: handlers registered per method, the context they run with, server
//! interceptors, and the dispatch of engine requests to handler tasks.

use std::collections::BTreeMap;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};

use bytes::Bytes;

use super::config::Configuration;
use super::shared::{Inner, encode};
use super::signal::ConnSignal;
use crate::engine::{Code, NodeId, PeerInfo, Request, RequestId, RequestKind, Status};
use crate::runtime::BoxFuture;
use crate::wire::proto::MetadataEntry;

/// What a handler (or an interceptor) produced for one request, untyped.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The encoded reply of a unary request, or an error status.
    Reply(Result<Bytes, Status>),
    /// The end of a stream request's replies (items were sent with
    /// an [`ItemSender`]), or an error status.
    StreamEnd(Result<(), Status>),
    /// A one-way message was handled.
    Done,
}

/// The next step of a server interceptor chain: the inner interceptors, then the
/// handler.
pub type Next = Box<dyn FnOnce(ServerCtx, Bytes) -> BoxFuture<'static, Outcome> + Send>;

/// Wraps every handler of a server: log, delay, check metadata, reject.
///
/// Interceptors run outermost first: with `[i1, i2]` a request passes
/// `i1 → i2 → handler → i2 → i1`.
pub trait ServerInterceptor: Send + Sync + 'static {
    /// Handles `request` (its encoded payload), calling `next` to go on, or not.
    fn intercept(&self, ctx: ServerCtx, request: Bytes, next: Next) -> BoxFuture<'static, Outcome>;
}

impl<F> ServerInterceptor for F
where
    F: Fn(ServerCtx, Bytes, Next) -> BoxFuture<'static, Outcome> + Send + Sync + 'static,
{
    fn intercept(&self, ctx: ServerCtx, request: Bytes, next: Next) -> BoxFuture<'static, Outcome> {
        self(ctx, request, next)
    }
}

/// A callback run when a peer connects, with what it said in its hello.
pub type ConnectCallback = Arc<dyn Fn(&PeerInfo) + Send + Sync>;

/// A callback run when the configuration of connected known peers changes.
pub type ConfigChangeCallback = Arc<dyn Fn(&Configuration) + Send + Sync>;

/// Server-side options of a [`System`](super::System).
#[derive(Clone, Default)]
pub struct ServerOptions {
    /// Interceptors around every handler, outermost first.
    pub interceptors: Vec<Arc<dyn ServerInterceptor>>,
    /// Called for every peer that connects (known peer or anonymous client).
    pub on_connect: Option<ConnectCallback>,
    /// Called when the configuration of connected known peers changes.
    pub on_config_change: Option<ConfigChangeCallback>,
}

impl std::fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerOptions")
            .field("interceptors", &self.interceptors.len())
            .finish_non_exhaustive()
    }
}

pub(crate) type Handler =
    Arc<dyn Fn(ServerCtx, Bytes) -> BoxFuture<'static, Outcome> + Send + Sync>;

/// How many handlers are being polled inline, one inside another, on this thread. An
/// answer can hand out the sender's next request, whose handler is polled inline in
/// turn; past this depth the request waits in [`DEFERRED`] instead, and the outermost
/// dispatch runs it after its own, so the stack stays bounded.
const MAX_INLINE_DEPTH: u32 = 4;

/// A request handed out while handlers were polled inline as deep as allowed.
type Deferred = (Arc<Inner>, Request, Option<Arc<ConnSignal>>);

thread_local! {
    static INLINE_DEPTH: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    /// Requests handed out past [`MAX_INLINE_DEPTH`], oldest first: run one after
    /// another by the outermost dispatch on this thread, not one inside another. A
    /// chain of a sender's requests (each answer hands out the next) then runs to its
    /// end in the task that read them, as deep chains did before a task of their own
    /// took over every fifth: with those tasks, a reader outran its handlers and a
    /// burst of 100 000 calls in flight queued at the server (900 B per call).
    static DEFERRED: std::cell::RefCell<std::collections::VecDeque<Deferred>> =
        const { std::cell::RefCell::new(std::collections::VecDeque::new()) };
    /// The outermost dispatch is running the deferred requests.
    static DRAINING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

pub(crate) struct Handlers {
    map: RwLock<BTreeMap<String, (Arc<str>, Handler)>>,
    running: Arc<AtomicUsize>,
    options: ServerOptions,
    last_config: std::sync::Mutex<Vec<NodeId>>,
}

impl Handlers {
    pub(crate) fn new(options: ServerOptions) -> Handlers {
        Handlers {
            map: RwLock::new(BTreeMap::new()),
            running: Arc::new(AtomicUsize::new(0)),
            options,
            last_config: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The number of handlers running now.
    pub(crate) fn running(&self) -> usize {
        self.running.load(Ordering::Acquire)
    }

    fn get(&self, method: &str) -> Option<(Arc<str>, Handler)> {
        self.map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(method)
            .cloned()
    }

    fn insert(&self, method: &str, handler: Handler) {
        self.map
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(method.to_owned(), (Arc::from(method), handler));
    }
}

/// What a handler knows of the request it serves, and what it can do besides replying.
#[derive(Clone)]
pub struct ServerCtx {
    shared: Arc<CtxShared>,
}

/// One allocation per request holds everything a handler's context knows.
struct CtxShared {
    inner: Arc<Inner>,
    request: RequestId,
    kind: RequestKind,
    from: NodeId,
    method: Arc<str>,
    metadata: Vec<MetadataEntry>,
    released: AtomicBool,
    /// The context this one was made from with `with_metadata`: its `released` is the
    /// one that counts, so the sender's turn is released once.
    origin: Option<Arc<CtxShared>>,
    /// The request's connection; `None` for a request to ourselves.
    signal: Option<Arc<ConnSignal>>,
}

impl std::fmt::Debug for ServerCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerCtx")
            .field("from", &self.shared.from)
            .field("method", &self.shared.method)
            .finish_non_exhaustive()
    }
}

impl ServerCtx {
    /// The sender's node id (the id given to it if it is an anonymous client).
    pub fn peer(&self) -> NodeId {
        self.shared.from
    }

    /// The full method name of the request.
    pub fn method(&self) -> &str {
        &self.shared.method
    }

    /// The request's per-message metadata.
    pub fn metadata(&self) -> &[MetadataEntry] {
        &self.shared.metadata
    }

    /// The value of metadata entry `key`, if present.
    pub fn metadata_value(&self, key: &str) -> Option<&str> {
        self.shared
            .metadata
            .iter()
            .find(|e| e.key == key)
            .map(|e| e.value.as_str())
    }

    /// The sender's address and hello metadata, as its connection announced them.
    pub fn peer_hello(&self) -> Option<(String, Vec<MetadataEntry>)> {
        let st = self.shared.inner.lock();
        st.ep
            .peer_of(self.shared.request.conn)
            .map(|(_, md, addr)| (addr.to_owned(), md.to_vec()))
    }

    /// Lets the sender's next request start before this handler returns. Call it
    /// before making nested calls, so the server keeps serving this sender meanwhile.
    pub fn release(&self) {
        let root = self.shared.origin.as_deref().unwrap_or(&self.shared);
        if !root.released.swap(true, Ordering::AcqRel) {
            let request = self.shared.request;
            self.shared
                .inner
                .with(|st, now| st.ep.release(now, request));
        }
    }

    /// The known peers a call can reach now, this process included: the configuration
    /// for nested calls. A node this process dials is in it while that connection is up;
    /// a peer it does not dial, while the peer's own connection to it is. With declared
    /// known peers ([`SystemOptions::known_peers`](super::SystemOptions::known_peers)),
    /// only those.
    pub fn config(&self) -> Configuration {
        let ids = self.shared.inner.lock().ep.connected_peers();
        Configuration::from_ids(self.shared.inner.clone(), ids)
    }

    /// The anonymous clients connected now, reached back over the connections they
    /// opened.
    pub fn client_config(&self) -> Configuration {
        let ids = self.shared.inner.lock().ep.clients();
        Configuration::from_ids(self.shared.inner.clone(), ids)
    }

    /// What the request expects back: a reply (RPC, quorum call), a reply stream
    /// (correctable call), or nothing (unicast, multicast).
    pub fn kind(&self) -> RequestKind {
        self.shared.kind
    }

    /// The outcome that fails this request with `status`, whatever its kind: an error
    /// reply, an error at the end of the reply stream, or (one-way) nothing to answer. An
    /// interceptor rejects a request with it without knowing the call type.
    pub fn reject(&self, status: Status) -> Outcome {
        match self.shared.kind {
            RequestKind::Unary => Outcome::Reply(Err(status)),
            RequestKind::Stream => Outcome::StreamEnd(Err(status)),
            RequestKind::OneWay => Outcome::Done,
        }
    }

    /// This context with a metadata entry added, for an interceptor to pass on to the
    /// handler (which reads it with [`metadata_value`](Self::metadata_value)).
    pub fn with_metadata(&self, key: impl Into<String>, value: impl Into<String>) -> ServerCtx {
        let s = &self.shared;
        let mut metadata = s.metadata.clone();
        metadata.push(MetadataEntry {
            key: key.into(),
            value: value.into(),
        });
        ServerCtx {
            shared: Arc::new(CtxShared {
                inner: s.inner.clone(),
                request: s.request,
                kind: s.kind,
                from: s.from,
                method: s.method.clone(),
                metadata,
                released: AtomicBool::new(false),
                origin: Some(s.origin.clone().unwrap_or_else(|| self.shared.clone())),
                signal: s.signal.clone(),
            }),
        }
    }

    /// The request decoded as `M` (Go Gorums' `AsProto`), for an interceptor that looks
    /// at typed requests; an undecodable request is an `InvalidArgument` status.
    pub fn decode_request<M: prost::Message + Default>(request: &[u8]) -> Result<M, Status> {
        decode(request)
    }

    /// Whether the protocol's fault-injection point `site` fires here: asks the
    /// system's runtime ([`Runtime::buggify`](crate::runtime::Runtime::buggify)), which
    /// says yes only in a simulator configured to, and no on tokio and smol.
    ///
    /// ```no_run
    /// # use gorums_core::api::ServerCtx;
    /// # async fn handler(ctx: ServerCtx) {
    /// if ctx.buggify("store.slow-sync") {
    ///     // A sync that takes long is legal: make it happen in simulation.
    /// }
    /// # }
    /// ```
    pub fn buggify(&self, site: &'static str) -> bool {
        self.shared.inner.rt.buggify(site)
    }

    /// Whether the caller can no longer get this call's answer: the connection its
    /// request came on has closed (the caller went away, or this system stopped).
    pub fn is_cancelled(&self) -> bool {
        self.shared.signal.as_ref().is_some_and(|s| s.is_closed())
    }

    /// Completes when the caller can no longer get this call's answer: the connection
    /// its request came on closes (as Go Gorums cancels a handler's context when its
    /// stream ends). A handler doing long work can race it and stop early. A caller
    /// that cancels one call without closing its connection is not signalled (as in Go
    /// Gorums: there is no cancel message on the wire); a request this process sent to
    /// itself is never cancelled this way.
    ///
    /// Cancellation: dropping the future stops waiting.
    pub fn cancelled(&self) -> impl Future<Output = ()> + Send + 'static + use<> {
        Cancelled {
            signal: self.shared.signal.clone(),
            watcher: None,
        }
    }

    /// Sends one encoded item of this stream request's replies, for a handler
    /// registered untyped ([`System::register_raw`](super::System::register_raw)). A
    /// typed streaming handler sends through the [`ItemSender`] it is given, which takes
    /// only the method's reply type.
    pub fn send_encoded_item(&self, item: Bytes) -> Result<(), Status> {
        let request = self.shared.request;
        self.shared
            .inner
            .with(|st, now| st.ep.send_item(now, request, item))
            .map_err(|e| Status::new(Code::FailedPrecondition, e.to_string()))
    }
}

/// The reply stream of one correctable (server-streaming) request, typed by the method's
/// reply type: a typed streaming handler is given one, so it can send only that type.
///
/// ```
/// use gorums_core::api::{ItemSender, ServerCtx, Status};
///
/// #[derive(Clone, PartialEq, prost::Message)]
/// struct Count { #[prost(uint64, tag = "1")] n: u64 }
///
/// async fn count_to(_ctx: ServerCtx, to: Count, items: ItemSender<Count>) -> Result<(), Status> {
///     for n in 1..=to.n {
///         items.send(&Count { n })?;
///     }
///     Ok(())
/// }
/// ```
///
/// Another message type does not compile:
///
/// ```compile_fail,E0308
/// use gorums_core::api::{ItemSender, Status};
///
/// #[derive(Clone, PartialEq, prost::Message)]
/// struct Count { #[prost(uint64, tag = "1")] n: u64 }
/// #[derive(Clone, PartialEq, prost::Message)]
/// struct Other { #[prost(string, tag = "1")] text: String }
///
/// fn send_other(items: &ItemSender<Count>) -> Result<(), Status> {
///     items.send(&Other { text: String::new() })
/// }
/// ```
pub struct ItemSender<T> {
    ctx: ServerCtx,
    _item: PhantomData<fn(&T)>,
}

impl<T> Clone for ItemSender<T> {
    fn clone(&self) -> Self {
        ItemSender {
            ctx: self.ctx.clone(),
            _item: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for ItemSender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ItemSender")
            .field("method", &self.ctx.method())
            .finish_non_exhaustive()
    }
}

impl<T: prost::Message> ItemSender<T> {
    /// The reply stream of the request `ctx` serves.
    pub(crate) fn new(ctx: &ServerCtx) -> ItemSender<T> {
        ItemSender {
            ctx: ctx.clone(),
            _item: PhantomData,
        }
    }

    /// Sends one item to the caller, at once (it raises the caller's correctable level by
    /// one). Fails with `FailedPrecondition` once the stream has ended or the caller has
    /// gone.
    pub fn send(&self, item: &T) -> Result<(), Status> {
        self.ctx.send_encoded_item(encode(item))
    }
}

/// Registers an untyped handler for `method` on the system behind `inner`, replacing
/// any earlier one.
pub(crate) fn register(handlers: &Handlers, method: &str, handler: Handler) {
    handlers.insert(method, handler);
}

/// A typed unary handler, untyped: decodes the request, encodes the reply.
pub(crate) fn unary<Req, Resp, F, Fut>(handler: F) -> Handler
where
    Req: prost::Message + Default + 'static,
    Resp: prost::Message + 'static,
    F: Fn(ServerCtx, Req) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Resp, Status>> + Send + 'static,
{
    let handler = Arc::new(handler);
    Arc::new(move |ctx, payload| {
        let handler = handler.clone();
        Box::pin(async move {
            match decode::<Req>(&payload) {
                Ok(req) => Outcome::Reply(handler(ctx, req).await.map(|r| encode(&r))),
                Err(status) => Outcome::Reply(Err(status)),
            }
        })
    })
}

/// A typed one-way handler, untyped.
pub(crate) fn one_way<Req, F, Fut>(handler: F) -> Handler
where
    Req: prost::Message + Default + 'static,
    F: Fn(ServerCtx, Req) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let handler = Arc::new(handler);
    Arc::new(move |ctx, payload| {
        let handler = handler.clone();
        Box::pin(async move {
            match decode::<Req>(&payload) {
                Ok(req) => handler(ctx, req).await,
                Err(status) => tracing::debug!(%status, "one-way request dropped"),
            }
            Outcome::Done
        })
    })
}

/// A typed stream handler, untyped: it gets the request's [`ItemSender`].
pub(crate) fn stream<Req, Resp, F, Fut>(handler: F) -> Handler
where
    Req: prost::Message + Default + 'static,
    Resp: prost::Message + 'static,
    F: Fn(ServerCtx, Req, ItemSender<Resp>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Status>> + Send + 'static,
{
    let handler = Arc::new(handler);
    Arc::new(move |ctx, payload| {
        let handler = handler.clone();
        Box::pin(async move {
            match decode::<Req>(&payload) {
                Ok(req) => {
                    let items = ItemSender::new(&ctx);
                    Outcome::StreamEnd(handler(ctx, req, items).await)
                }
                Err(status) => Outcome::StreamEnd(Err(status)),
            }
        })
    })
}

fn decode<M: prost::Message + Default>(payload: &[u8]) -> Result<M, Status> {
    M::decode(payload)
        .map_err(|e| Status::new(Code::InvalidArgument, format!("undecodable request: {e}")))
}

/// Runs the handler of `request` in a task of its own, through the interceptors, and
/// answers the engine with its outcome. A panicking handler fails that call with
/// `Internal`; the server goes on.
pub(crate) fn dispatch(
    inner: &Arc<Inner>,
    handlers: &Handlers,
    request: Request,
    signal: Option<Arc<ConnSignal>>,
) {
    let depth = INLINE_DEPTH.with(|d| d.get());
    if depth >= MAX_INLINE_DEPTH {
        DEFERRED.with(|q| q.borrow_mut().push_back((inner.clone(), request, signal)));
        return;
    }
    dispatch_now(inner, handlers, request, signal);
    if depth > 0 || DRAINING.with(|d| d.replace(true)) {
        return;
    }
    /// Clears [`DRAINING`] however the loop ends, so a later dispatch drains again.
    struct Drained;
    impl Drop for Drained {
        fn drop(&mut self) {
            DRAINING.with(|d| d.set(false));
        }
    }
    let _drained = Drained;
    while let Some((inner, request, signal)) = DEFERRED.with(|q| q.borrow_mut().pop_front()) {
        inner.upcalls.dispatch(&inner, request, signal);
    }
}

/// Runs the handler of `request`: polled once inline (below [`MAX_INLINE_DEPTH`]),
/// then in a task of its own if it waits.
fn dispatch_now(
    inner: &Arc<Inner>,
    handlers: &Handlers,
    request: Request,
    signal: Option<Arc<ConnSignal>>,
) {
    let Request {
        id,
        from,
        kind,
        method,
        metadata,
        payload,
    } = request;
    let Some((name, handler)) = handlers.get(&method) else {
        let status = Status::new(Code::Unimplemented, format!("unknown method {method}"));
        let outcome = match kind {
            RequestKind::Unary => Outcome::Reply(Err(status)),
            RequestKind::Stream => Outcome::StreamEnd(Err(status)),
            RequestKind::OneWay => Outcome::Done,
        };
        return answer(inner, id, outcome);
    };
    let ctx = ServerCtx {
        shared: Arc::new(CtxShared {
            inner: inner.clone(),
            request: id,
            kind,
            from,
            method: name,
            metadata,
            released: AtomicBool::new(false),
            origin: None,
            signal,
        }),
    };
    let interceptors = &handlers.options.interceptors;
    let call = if interceptors.is_empty() {
        handler(ctx, payload)
    } else {
        chain(interceptors, handler)(ctx, payload)
    };
    handlers.running.fetch_add(1, Ordering::AcqRel);
    let started = inner.options.metrics.then(|| inner.rt.now());
    let mut call = call;
    // Most handlers finish without waiting: poll once here, and answer without a task
    // of their own, an allocation for one, or a wake-up. One that waits goes on in a
    // task, whose first poll registers the real waker (a future wakes only the waker of
    // its latest poll).
    let depth = INLINE_DEPTH.with(|d| d.get());
    if depth < MAX_INLINE_DEPTH {
        INLINE_DEPTH.with(|d| d.set(depth + 1));
        let first = Pin::new(&mut CatchUnwind(&mut call))
            .poll(&mut Context::from_waker(std::task::Waker::noop()));
        // Answered at this depth too: answering releases the sender's next request,
        // which is dispatched (and maybe polled inline) from inside `finish`.
        let done = match first {
            Poll::Ready(result) => {
                finish(inner, handlers, (id, kind, &method, started), result);
                true
            }
            Poll::Pending => false,
        };
        INLINE_DEPTH.with(|d| d.set(depth));
        if done {
            return;
        }
    }
    let task_inner = inner.clone();
    let task_handlers = handlers.running.clone();
    inner.rt.spawn(Box::pin(async move {
        let result = CatchUnwind(call).await;
        finish_counted(
            &task_inner,
            &task_handlers,
            (id, kind, &method, started),
            result,
        );
    }));
}

/// Answers a request with its handler's outcome, or with `Internal` if it panicked.
fn finish(
    inner: &Arc<Inner>,
    handlers: &Handlers,
    request: Handled<'_>,
    result: Result<Outcome, Box<dyn std::any::Any + Send>>,
) {
    finish_counted(inner, &handlers.running, request, result);
}

/// A handled request: its id, kind, method, and when its handler started (if metrics
/// are recorded).
type Handled<'a> = (
    RequestId,
    RequestKind,
    &'a str,
    Option<crate::engine::Instant>,
);

/// [`finish`], given the counter of running handlers.
fn finish_counted(
    inner: &Arc<Inner>,
    running: &AtomicUsize,
    (id, kind, method, started): Handled<'_>,
    result: Result<Outcome, Box<dyn std::any::Any + Send>>,
) {
    let outcome = result.unwrap_or_else(|panic| {
        let what = panic_message(&panic);
        tracing::error!(%method, %what, "handler panicked");
        let status = Status::new(Code::Internal, format!("handler panicked: {what}"));
        match kind {
            RequestKind::Unary => Outcome::Reply(Err(status)),
            RequestKind::Stream => Outcome::StreamEnd(Err(status)),
            RequestKind::OneWay => Outcome::Done,
        }
    });
    running.fetch_sub(1, Ordering::AcqRel);
    if let Some(started) = started {
        let failed = match &outcome {
            Outcome::Reply(Err(s)) | Outcome::StreamEnd(Err(s)) => Some(s.code),
            _ => None,
        };
        super::metrics::handled(method, inner.rt.now() - started, failed);
    }
    answer(inner, id, outcome);
}

fn chain(interceptors: &[Arc<dyn ServerInterceptor>], handler: Handler) -> Next {
    let mut next: Next = Box::new(move |ctx, payload| handler(ctx, payload));
    for interceptor in interceptors.iter().rev() {
        let interceptor = interceptor.clone();
        let inner_next = next;
        next = Box::new(move |ctx, payload| interceptor.intercept(ctx, payload, inner_next));
    }
    next
}

fn answer(inner: &Arc<Inner>, id: RequestId, outcome: Outcome) {
    inner.with(|st, now| {
        // The requester may have gone meanwhile: then there is no one to answer.
        let _ = match outcome {
            Outcome::Reply(result) => st.ep.respond(now, id, result),
            Outcome::StreamEnd(result) => st.ep.end_stream(now, id, result),
            Outcome::Done => st.ep.respond(now, id, Ok(Bytes::new())),
        };
    });
}

/// Runs connect callbacks and the configuration-change callback, outside the lock.
pub(crate) fn notify_membership(inner: &Arc<Inner>, handlers: &Handlers, connected: &[PeerInfo]) {
    let options = &handlers.options;
    if let Some(on_connect) = &options.on_connect {
        for peer in connected {
            on_connect(peer);
        }
    }
    if let Some(on_change) = &options.on_config_change {
        let ids = inner.lock().ep.connected_peers();
        let mut last = handlers
            .last_config
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if *last != ids {
            last.clone_from(&ids);
            drop(last);
            on_change(&Configuration::from_ids(inner.clone(), ids));
        }
    }
}

/// The future of [`ServerCtx::cancelled`]: parked on its connection's signal, and
/// unparked when dropped, so a handler that finishes normally leaves nothing behind.
struct Cancelled {
    signal: Option<Arc<ConnSignal>>,
    watcher: Option<u64>,
}

impl Future for Cancelled {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        match &this.signal {
            Some(s) if s.is_closed() => Poll::Ready(()),
            Some(s) => {
                s.watch(&mut this.watcher, cx.waker());
                Poll::Pending
            }
            None => Poll::Pending,
        }
    }
}

impl Drop for Cancelled {
    fn drop(&mut self) {
        if let (Some(s), Some(id)) = (&self.signal, self.watcher) {
            s.unwatch(id);
        }
    }
}

/// Catches a panic raised while polling the wrapped future.
struct CatchUnwind<F>(F);

impl<F: Future + Unpin> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn std::any::Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = &mut self.0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(fut).poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        String::from("non-string panic payload")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Wake, Waker};

    use super::*;

    /// Counts its wake-ups.
    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn cancelled_on(signal: &Arc<ConnSignal>) -> Cancelled {
        Cancelled {
            signal: Some(signal.clone()),
            watcher: None,
        }
    }

    /// A connection's signal, and a waker that counts its wake-ups.
    fn setting() -> (Arc<ConnSignal>, Arc<CountingWaker>, Waker) {
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        (Arc::new(ConnSignal::default()), counter, waker)
    }

    /// A handler that waits on `cancelled()` and then finishes (the usual case: its
    /// connection stayed up) must leave nothing on the connection; otherwise every such
    /// request would leak a waker for as long as the connection lives.
    #[test]
    fn a_dropped_cancelled_future_leaves_no_watcher_behind() {
        let (signal, counter, waker) = setting();
        let mut cx = Context::from_waker(&waker);
        let mut first = cancelled_on(&signal);
        let mut second = cancelled_on(&signal);
        for _ in 0..3 {
            assert!(Pin::new(&mut first).poll(&mut cx).is_pending());
        }
        assert!(Pin::new(&mut second).poll(&mut cx).is_pending());
        assert_eq!(
            signal.watchers_waiting(),
            2,
            "one entry per future, however often polled"
        );
        drop(first);
        assert_eq!(signal.watchers_waiting(), 1);
        drop(second);
        assert_eq!(signal.watchers_waiting(), 0);
        assert_eq!(
            counter.0.load(Ordering::SeqCst),
            0,
            "nothing closed, nothing woken"
        );
    }

    /// Closing the connection wakes each waiting future once, and then it is ready.
    #[test]
    fn closing_the_connection_wakes_and_readies_its_cancelled_futures() {
        let (signal, counter, waker) = setting();
        let mut cx = Context::from_waker(&waker);
        let mut waiting = cancelled_on(&signal);
        assert!(Pin::new(&mut waiting).poll(&mut cx).is_pending());
        for w in signal.close() {
            w.wake();
        }
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert!(Pin::new(&mut waiting).poll(&mut cx).is_ready());
        assert_eq!(signal.watchers_waiting(), 0);
        assert!(
            Pin::new(&mut cancelled_on(&signal))
                .poll(&mut cx)
                .is_ready()
        );
    }
}
