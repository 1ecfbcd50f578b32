//! Every method of [`System`], one process's gorums instance, and the one place its
//! parts are put together: the engine, the connection tasks and the server, joined
//! through the [`Upcalls`] the shared state calls back into.

use std::any::Any;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::config::{self, Configuration, NodeList};
use super::driver;
use super::membership::{self, Stopped};
use super::options::SystemOptions;
use super::server::{self, Handlers, ItemSender, Outcome, ServerCtx, ServerOptions};
use super::shared::{Handle, Inner, State, System, Upcalls};
use super::signal::ConnSignal;
use crate::engine::{
    ConfigError, ConnId, Endpoint, NodeId, PeerInfo, Request, RequestKind, Status,
};
use crate::runtime::{BoxFuture, RuntimeHandle};

/// What the shared state calls back into: the connection tasks (driver) and the
/// handlers (server).
struct Parts {
    handlers: Handlers,
}

impl Upcalls for Parts {
    fn dial(
        &self,
        inner: &Arc<Inner>,
        conn: ConnId,
        addr: String,
        signal: Arc<ConnSignal>,
    ) -> BoxFuture<'static, ()> {
        Box::pin(driver::dial(inner.clone(), conn, addr, signal))
    }

    fn dispatch(&self, inner: &Arc<Inner>, request: Request, signal: Option<Arc<ConnSignal>>) {
        server::dispatch(inner, &self.handlers, request, signal);
    }

    fn membership_changed(&self, inner: &Arc<Inner>, connected: &[PeerInfo]) {
        server::notify_membership(inner, &self.handlers, connected);
    }

    fn running_handlers(&self) -> usize {
        self.handlers.running()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl std::fmt::Debug for System {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("System")
            .field("node_id", &self.node_id())
            .finish_non_exhaustive()
    }
}

impl System {
    /// A new system on `runtime`. It connects to nothing and serves nothing until asked:
    /// see [`configuration`](Self::configuration) and [`listen`](Self::listen).
    pub fn new(runtime: RuntimeHandle, options: SystemOptions) -> System {
        Self::with_server(runtime, options, ServerOptions::default())
    }

    /// A new system whose server side uses `server` options (interceptors, callbacks).
    pub fn with_server(
        runtime: RuntimeHandle,
        options: SystemOptions,
        server: ServerOptions,
    ) -> System {
        let now = runtime.now();
        let mut endpoint = Endpoint::new(options.endpoint.clone(), now);
        // A system serves requests on the connections it dials once it has a handler
        // (see `register_handler`); until then its hellos say it cannot be called back.
        endpoint.set_serving(false);
        let state = State::new(endpoint, now);
        let parts = Arc::new(Parts {
            handlers: Handlers::new(server),
        });
        let inner = Arc::new(Inner::new(runtime, options, parts, state));
        inner.rt.spawn(Box::pin(driver::timer(inner.clone())));
        System {
            handle: Arc::new(Handle { inner }),
        }
    }

    pub(crate) fn inner(&self) -> &Arc<Inner> {
        &self.handle.inner
    }

    fn handlers(&self) -> &Handlers {
        match self.inner().upcalls.as_any().downcast_ref::<Parts>() {
            Some(parts) => &parts.handlers,
            // Every system is built by `with_server`, with `Parts` as its upcalls.
            None => unreachable!("a system's upcalls are its Parts"),
        }
    }

    /// Registers `handler` for `method`; from now on this system's hellos say it serves
    /// requests on the connections it dials, so the servers it dials afterwards can call
    /// it back (an anonymous client with no handler is served but cannot be called back,
    /// as in Go Gorums, where a client dials with a server or without one).
    fn register_handler(&self, method: &str, handler: server::Handler) {
        server::register(self.handlers(), method, handler);
        self.inner().lock().ep.set_serving(true);
    }

    /// This process's node id (0 for an anonymous client).
    pub fn node_id(&self) -> NodeId {
        self.inner().options.node_id()
    }

    /// The runtime this system runs on.
    pub fn runtime(&self) -> &RuntimeHandle {
        &self.inner().rt
    }

    /// A configuration of `nodes`, dialling those this system does not know yet. This
    /// system's own id, if listed, is served in-process (no socket). Register handlers
    /// first if the nodes are to call this system back: a hello sent before any
    /// handler says this system serves nothing.
    pub fn configuration(&self, nodes: NodeList) -> Result<Configuration, ConfigError> {
        let inner = self.inner().clone();
        let ids = config::register(&inner, nodes)?;
        let mut config = Configuration::from_ids(inner, ids);
        config.keep = Some(self.handle.clone());
        Ok(config)
    }

    /// Starts serving on `addr` (port 0 picks a free one); returns the bound address.
    pub async fn listen(&self, addr: &str) -> io::Result<String> {
        let inner = self.inner().clone();
        let listener = inner.rt.listen(addr).await?;
        let local = listener.local_addr();
        let signal = Arc::new(ConnSignal::default());
        inner.lock().listeners.push(signal.clone());
        inner.rt.spawn(Box::pin(driver::accept_loop(
            inner.clone(),
            listener,
            signal,
        )));
        Ok(local)
    }

    /// Registers the handler of a unary method (an RPC or a quorum call): it receives
    /// the decoded request and returns the reply or an error status.
    pub fn register_unary<Req, Resp, F, Fut>(&self, method: &str, handler: F)
    where
        Req: prost::Message + Default + 'static,
        Resp: prost::Message + 'static,
        F: Fn(ServerCtx, Req) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Resp, Status>> + Send + 'static,
    {
        self.set_method_kind(method, RequestKind::Unary);
        self.register_handler(method, server::unary(handler));
    }

    /// Registers the handler of a one-way method (unicast or multicast).
    pub fn register_one_way<Req, F, Fut>(&self, method: &str, handler: F)
    where
        Req: prost::Message + Default + 'static,
        F: Fn(ServerCtx, Req) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.set_method_kind(method, RequestKind::OneWay);
        self.register_handler(method, server::one_way(handler));
    }

    /// Registers the handler of a streaming method (a correctable call): it sends items
    /// of the reply type `Resp` through the [`ItemSender`] it is given and returns when
    /// the stream ends.
    pub fn register_stream<Req, Resp, F, Fut>(&self, method: &str, handler: F)
    where
        Req: prost::Message + Default + 'static,
        Resp: prost::Message + 'static,
        F: Fn(ServerCtx, Req, ItemSender<Resp>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Status>> + Send + 'static,
    {
        self.set_method_kind(method, RequestKind::Stream);
        self.register_handler(method, server::stream(handler));
    }

    /// Records `method`'s kind in the engine, for requests from a wire that does not
    /// carry it (Go Gorums' gRPC stream).
    fn set_method_kind(&self, method: &str, kind: RequestKind) {
        self.inner()
            .with(|st, _| st.ep.set_method_kind(method, kind));
    }

    /// Registers an untyped handler for `method`, replacing any earlier one. A raw
    /// streaming handler sends its items with [`ServerCtx::send_encoded_item`].
    /// Requests for it from Go Gorums' gRPC wire, which carries no call type, are
    /// served as unary.
    pub fn register_raw<F>(&self, method: &str, handler: F)
    where
        F: Fn(ServerCtx, Bytes) -> BoxFuture<'static, Outcome> + Send + Sync + 'static,
    {
        self.register_handler(method, Arc::new(handler));
    }

    /// Waits until the configuration of known peers a call can reach (this process
    /// included; see [`ServerCtx::config`]) satisfies `pred`, and returns it. Returns at
    /// once if it already does; fails with [`Stopped`] if the system stops first.
    /// Dropping the future stops waiting.
    pub async fn wait_for_config(
        &self,
        pred: impl Fn(&Configuration) -> bool,
    ) -> Result<Configuration, Stopped> {
        membership::wait_for(self.inner(), |st| st.ep.connected_peers(), pred).await
    }

    /// Waits until the configuration of connected anonymous clients satisfies `pred`.
    pub async fn wait_for_client_config(
        &self,
        pred: impl Fn(&Configuration) -> bool,
    ) -> Result<Configuration, Stopped> {
        membership::wait_for(self.inner(), |st| st.ep.clients(), pred).await
    }

    /// Stops the system: listeners stop accepting and every connection closes; calls in
    /// flight fail with "connection lost". Handlers already running finish on their own.
    pub fn stop(&self) {
        self.inner().shutdown();
    }

    /// Stops gracefully: stops accepting connections, lets running handlers finish for
    /// up to `grace`, then closes every connection (as [`stop`](Self::stop)).
    pub async fn shutdown(&self, grace: Duration) {
        membership::shutdown(self.inner(), grace).await;
    }

    /// The number of connections this system holds now, dialled and accepted (the
    /// in-process connection to itself not counted).
    pub fn connection_count(&self) -> usize {
        let st = self.inner().lock();
        let local = usize::from(!st.ep.node_id().is_anonymous());
        st.ep.connection_count() - local
    }

    /// The number of two-way calls whose state the engine still holds (for checking
    /// that cancelled and finished calls are freed).
    pub fn live_calls(&self) -> usize {
        self.inner().lock().ep.live_calls()
    }

    /// The bytes the engine holds for accepted connections whose peer has not finished
    /// its handshake (at most
    /// [`EndpointConfig::handshake_memory_bound`](crate::engine::EndpointConfig::handshake_memory_bound)).
    pub fn handshake_bytes(&self) -> usize {
        self.inner().lock().ep.handshake_bytes()
    }

    /// The number of accepted connections whose peer has not finished its handshake (at
    /// most [`EndpointConfig::max_handshaking`](crate::engine::EndpointConfig::max_handshaking)).
    pub fn handshaking(&self) -> usize {
        self.inner().lock().ep.handshaking()
    }
}

impl Configuration {
    /// Connects to `nodes` as an anonymous client on `runtime` (a new [`System`] with
    /// `options`) and returns their configuration.
    pub fn new(
        runtime: RuntimeHandle,
        nodes: NodeList,
        options: SystemOptions,
    ) -> Result<Configuration, ConfigError> {
        System::new(runtime, options).configuration(nodes)
    }
}
