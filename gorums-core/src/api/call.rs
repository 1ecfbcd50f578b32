//! Calls: starting them through the engine, and [`Responses`], the replies of a quorum
//! call as a stream and through its terminal methods.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;

use super::config::{Configuration, Node};
use super::intercept::{CallInfo, Chain, NodeResponse, PerOutcome, ReplyInterceptor};
use super::metrics::CallMetrics;
use super::shared::{CallSlot, encode};
use crate::engine::{
    CallEvent, CallId, CallKind, CallSpec, Cause, NodeError, NodeFailure, NodeId, Payload,
    QuorumCallError,
};
use crate::wire::proto::MetadataEntry;

/// One `map_request` step: the node's request so far (encoded) in, the request to go on
/// with out; `Ok(None)` skips the node, `Err` fails it.
type RequestMapper = Arc<dyn Fn(&Bytes, &Node) -> Result<Option<Bytes>, NodeFailure> + Send + Sync>;
type ResponseMapper<T> = Arc<dyn Fn(NodeId, T) -> Result<T, NodeFailure> + Send + Sync>;

/// Per-call options for the calls without a builder of their own (RPC, unicast and
/// multicast); quorum and correctable calls take the same through
/// [`Responses::metadata`] and [`Responses::timeout`].
///
/// ```
/// use std::time::Duration;
/// use gorums_core::api::CallOptions;
///
/// let options = CallOptions::new()
///     .metadata("trace-id", "42")
///     .timeout(Duration::from_millis(200));
/// assert_eq!(options.timeout, Some(Duration::from_millis(200)));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CallOptions {
    /// Metadata sent with the request (the handler reads it from its `ServerCtx`).
    pub metadata: Vec<MetadataEntry>,
    /// A deadline from the call's start, in place of the configuration's (two-way calls
    /// only).
    pub timeout: Option<Duration>,
}

impl CallOptions {
    /// No metadata, the configuration's deadline.
    pub fn new() -> CallOptions {
        CallOptions::default()
    }

    /// These options with a metadata entry added.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> CallOptions {
        self.metadata.push(MetadataEntry {
            key: key.into(),
            value: value.into(),
        });
        self
    }

    /// These options with a deadline of `timeout` from the call's start.
    pub fn timeout(mut self, timeout: Duration) -> CallOptions {
        self.timeout = Some(timeout);
        self
    }
}

/// What a call sends, before it starts (its `map_request` steps and metadata, which
/// few calls have, wait in [`Extras`]).
struct Pending {
    kind: CallKind,
    method: Cow<'static, str>,
    request: Bytes,
    timeout: Option<Duration>,
}

/// Where a call is: one of these at a time, so they share their room.
enum Stage {
    /// Not sent yet.
    Pending(Pending),
    /// Sent: the engine's id for it.
    Started(CallId),
    /// Over (or refused at start): how it ended.
    Over(Result<(), QuorumCallError>),
}

/// What few calls use: request and reply mappers, interceptors, metadata, outcomes
/// known at start, metrics. Boxed and made on first use, so a call without them (most
/// calls, and every call the benchmark keeps in flight) carries 8 bytes for them, not
/// their 250; a call with one of them allocates for it anyway.
struct Extras<T> {
    map_request: Vec<RequestMapper>,
    metadata: Vec<MetadataEntry>,
    /// Outcomes known at start (send failures), given out before the engine's events.
    early: VecDeque<NodeResponse<Bytes>>,
    map_response: Option<ResponseMapper<T>>,
    interceptors: Chain<T>,
    info: Option<CallInfo>,
    /// The call's metrics, if its system records them.
    metrics: Option<CallMetrics>,
}

impl<T> Default for Extras<T> {
    fn default() -> Self {
        Extras {
            map_request: Vec::new(),
            metadata: Vec::new(),
            early: VecDeque::new(),
            map_response: None,
            interceptors: Chain::default(),
            info: None,
            metrics: None,
        }
    }
}

/// The replies of a quorum call or correctable call.
///
/// A call made with [`Configuration::quorum_call`] is **lazy**: nothing is sent until it
/// is first polled (as a [`Stream`] or through a terminal method). The `async_*` methods
/// send at once, so two of them made one after the other reach every node in that order.
///
/// Terminal methods: [`first`](Self::first), [`majority`](Self::majority),
/// [`all`](Self::all), [`threshold`](Self::threshold) return the first successful reply
/// once enough nodes have succeeded, or a [`QuorumCallError`] as soon as that cannot
/// happen. As a [`Stream`] it yields every node's [`NodeResponse`] as it arrives.
///
/// Cancellation: dropping it before it has finished cancels the call on every node:
/// requests not yet written are taken back and later replies are dropped. The
/// connections stay up.
pub struct Responses<T> {
    config: Configuration,
    stage: Stage,
    extras: Option<Box<Extras<T>>>,
    /// Nodes skipped by `map_request` (`u32`s: node counts, and half the room).
    skipped: u32,
    /// Nodes whose reply stream ended without an error (correctable calls).
    streams_ended: u32,
    met: bool,
    _reply: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Responses<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responses")
            .field("config", &self.config)
            .field("call", &self.call_id())
            .finish_non_exhaustive()
    }
}

impl Configuration {
    /// A quorum call of `method` with `request` to every node; lazy until polled.
    pub fn quorum_call<Req: prost::Message, Resp: prost::Message + Default + 'static>(
        &self,
        method: impl Into<Cow<'static, str>>,
        request: &Req,
    ) -> Responses<Resp> {
        Responses::new(self.clone(), CallKind::QuorumCall, method, encode(request))
    }

    /// A correctable call: like a quorum call, but each node streams replies; see
    /// [`Responses::correctable`].
    pub fn correctable_call<Req: prost::Message, Resp: prost::Message + Default + 'static>(
        &self,
        method: impl Into<Cow<'static, str>>,
        request: &Req,
    ) -> Responses<Resp> {
        Responses::new(self.clone(), CallKind::Correctable, method, encode(request))
    }

    /// Sends `request` one-way to every node, at once. Returns the nodes it could not
    /// be queued for (as a `SendFailure`); it waits neither for the servers nor for the
    /// send (Go Gorums' `Multicast` with `IgnoreErrors`). To wait until every request is
    /// written, see [`multicast_written`](Self::multicast_written).
    pub fn multicast<Req: prost::Message>(
        &self,
        method: impl Into<Cow<'static, str>>,
        request: &Req,
    ) -> Result<(), QuorumCallError> {
        self.multicast_with(method, request, CallOptions::default())
    }

    /// [`multicast`](Self::multicast) with per-call `options` (its metadata; a one-way
    /// call has no deadline).
    pub fn multicast_with<Req: prost::Message>(
        &self,
        method: impl Into<Cow<'static, str>>,
        request: &Req,
        options: CallOptions,
    ) -> Result<(), QuorumCallError> {
        self.one_way(
            CallKind::Multicast,
            method,
            Payload::Shared(encode(request)),
            options.metadata,
        )
    }

    /// Like [`multicast`](Self::multicast), with a request per node from `map`
    /// (`None` skips the node).
    pub fn multicast_mapped<Req: prost::Message>(
        &self,
        method: impl Into<Cow<'static, str>>,
        map: impl Fn(&Node) -> Option<Req>,
    ) -> Result<(), QuorumCallError> {
        let payloads = self
            .nodes()
            .iter()
            .map(|n| map(n).map(|r| encode(&r)))
            .collect();
        self.one_way(
            CallKind::Multicast,
            method,
            Payload::PerNode(payloads),
            Vec::new(),
        )
    }

    pub(crate) fn one_way(
        &self,
        kind: CallKind,
        method: impl Into<Cow<'static, str>>,
        payload: Payload,
        metadata: Vec<MetadataEntry>,
    ) -> Result<(), QuorumCallError> {
        let method = method.into();
        if self.inner.options.metrics {
            CallMetrics::start(&method, kind, self.inner.rt.now());
        }
        let mut spec = CallSpec::new(kind, method, self.set.shared_ids(), payload);
        spec.metadata = metadata;
        let started = self.inner.with(|st, now| st.ep.start_call(now, spec));
        match started {
            Ok(s) if s.send_failures.is_empty() => Ok(()),
            Ok(s) => Err(QuorumCallError::new(Cause::SendFailure, s.send_failures)),
            Err(usage) => Err(QuorumCallError::usage(usage)),
        }
    }
}

impl Node {
    /// An ordered RPC: `request` to this node, its reply back.
    ///
    /// The request is encoded now and sent when the future is first polled; dropping the
    /// future before the reply cancels the call.
    ///
    /// The future owns what it needs and captures no lifetime (`use<..>`): it borrows
    /// neither the node nor the request, so a caller's own `impl Future + 'static` can
    /// return it in any edition (before 2024 a caller's `impl Trait` captures no lifetime
    /// either, and would not compile around one that did).
    pub fn rpc<Req, Resp, M>(
        &self,
        method: M,
        request: &Req,
    ) -> impl Future<Output = Result<Resp, NodeError>> + Send + 'static + use<Req, Resp, M>
    where
        Req: prost::Message,
        Resp: prost::Message + Default + 'static,
        M: Into<Cow<'static, str>>,
    {
        self.rpc_with(method, request, CallOptions::default())
    }

    /// [`rpc`](Self::rpc) with per-call `options`: metadata sent with the request, and a
    /// deadline of its own (in place of the configuration's).
    pub fn rpc_with<Req, Resp, M>(
        &self,
        method: M,
        request: &Req,
        options: CallOptions,
    ) -> impl Future<Output = Result<Resp, NodeError>> + Send + 'static + use<Req, Resp, M>
    where
        Req: prost::Message,
        Resp: prost::Message + Default + 'static,
        M: Into<Cow<'static, str>>,
    {
        let mut responses =
            Responses::<Resp>::new(self.config.clone(), CallKind::Rpc, method, encode(request))
                .with_options(options);
        let id = self.id();
        async move {
            match futures_next(&mut responses).await {
                Some(NodeResponse {
                    result: Ok(reply), ..
                }) => {
                    responses.mark_met();
                    Ok(reply)
                }
                Some(NodeResponse {
                    node,
                    result: Err(failure),
                }) => Err(NodeError { node, failure }),
                None => Err(NodeError {
                    node: id,
                    failure: responses.no_reply_failure(),
                }),
            }
        }
    }

    /// A one-way message to this node, queued at once; it returns without waiting for
    /// the send (Go Gorums' `Unicast` with `IgnoreErrors`). To wait until the request is
    /// written, see [`unicast_written`](Self::unicast_written).
    pub fn unicast<Req: prost::Message>(
        &self,
        method: impl Into<Cow<'static, str>>,
        request: &Req,
    ) -> Result<(), NodeError> {
        self.unicast_with(method, request, CallOptions::default())
    }

    /// [`unicast`](Self::unicast) with per-call `options` (its metadata; a one-way call
    /// has no deadline).
    pub fn unicast_with<Req: prost::Message>(
        &self,
        method: impl Into<Cow<'static, str>>,
        request: &Req,
        options: CallOptions,
    ) -> Result<(), NodeError> {
        self.config
            .one_way(
                CallKind::Unicast,
                method,
                Payload::Shared(encode(request)),
                options.metadata,
            )
            .map_err(|e| {
                let node = self.id();
                match (e.cause, e.node_errors.into_iter().next()) {
                    (_, Some(error)) => error,
                    (Cause::Usage(usage), None) => NodeError {
                        node,
                        failure: NodeFailure::Usage(usage),
                    },
                    (_, None) => NodeError {
                        node,
                        failure: NodeFailure::NotConnected(None),
                    },
                }
            })
    }
}

impl<T: prost::Message + Default + 'static> Responses<T> {
    fn new(
        config: Configuration,
        kind: CallKind,
        method: impl Into<Cow<'static, str>>,
        request: Bytes,
    ) -> Responses<T> {
        let timeout = config.timeout;
        Responses {
            config,
            stage: Stage::Pending(Pending {
                kind,
                method: method.into(),
                request,
                timeout,
            }),
            extras: None,
            skipped: 0,
            streams_ended: 0,
            met: false,
            _reply: PhantomData,
        }
    }

    /// The extras, made on first use.
    fn extras(&mut self) -> &mut Extras<T> {
        self.extras.get_or_insert_with(Box::default)
    }

    fn is_pending(&self) -> bool {
        matches!(self.stage, Stage::Pending(_))
    }

    /// Sends each node its own request (Go Gorums' `MapRequest`): `map` gets the request
    /// and the node and returns the request for that node, or `None` to skip the node (it
    /// is then sent nothing and never replies, and still counts in the configuration's
    /// size). Several `map_request`s compose, in the order added: each gets what the one
    /// before returned for that node, and a skip ends the chain. Only before the call
    /// starts.
    ///
    /// `Req` is the call's request type: the request is decoded as `Req` for each node
    /// (one that does not decode fails that node as
    /// [`NodeFailure::Rejected`]) and the result encoded again.
    pub fn map_request<Req: prost::Message + Default + 'static>(
        mut self,
        map: impl Fn(Req, &Node) -> Option<Req> + Send + Sync + 'static,
    ) -> Self {
        if self.is_pending() {
            self.extras()
                .map_request
                .push(Arc::new(move |request, node| {
                    let request = Req::decode(request.clone()).map_err(|e| {
                        NodeFailure::Rejected(format!(
                            "map_request: the request does not decode as {}: {e}",
                            std::any::type_name::<Req>()
                        ))
                    })?;
                    Ok(map(request, node).map(|r| encode(&r)))
                }));
        }
        self
    }

    /// Transforms (or rejects) each node's decoded reply before it is counted: an
    /// `Err` counts as that node's failure.
    pub fn map_response(
        mut self,
        map: impl Fn(NodeId, T) -> Result<T, NodeFailure> + Send + Sync + 'static,
    ) -> Self {
        let map: ResponseMapper<T> = match self.extras().map_response.take() {
            Some(first) => {
                Arc::new(move |node, reply| first(node, reply).and_then(|r| map(node, r)))
            }
            None => Arc::new(map),
        };
        self.extras().map_response = Some(map);
        self
    }

    /// Adds a per-outcome client interceptor: it sees every node's outcome (after
    /// decoding and `map_response`) with the call's method, configuration and request,
    /// and passes it on, changes it, or filters it out (`None`), which counts as that
    /// node's failure ([`NodeFailure::Rejected`]), so a quorum that can no longer be met
    /// fails at once. Interceptors of both kinds run in the order added.
    pub fn intercept(
        mut self,
        interceptor: impl FnMut(&CallInfo, NodeResponse<T>) -> Option<NodeResponse<T>> + Send + 'static,
    ) -> Self {
        self.extras()
            .interceptors
            .push(Box::new(PerOutcome(interceptor)));
        self
    }

    /// Adds a client interceptor over the reply stream (Go Gorums'
    /// `QuorumInterceptor`): it may drop, hold back, reorder or add outcomes. What it
    /// drops is not counted at all, neither success nor failure (see
    /// [`ReplyInterceptor`] for the rule). Interceptors of both kinds run in the order
    /// added.
    pub fn intercept_replies(mut self, interceptor: impl ReplyInterceptor<T>) -> Self {
        self.extras().interceptors.push(Box::new(interceptor));
        self
    }

    /// Adds a metadata entry sent with the request. Only before the call starts.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        if self.is_pending() {
            self.extras().metadata.push(MetadataEntry {
                key: key.into(),
                value: value.into(),
            });
        }
        self
    }

    /// Gives up after `timeout` from the start (`DeadlineExceeded`). Only before the call
    /// starts.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        if let Stage::Pending(p) = &mut self.stage {
            p.timeout = Some(timeout);
        }
        self
    }

    /// Applies `options` (metadata and deadline). Only before the call starts.
    pub(crate) fn with_options(mut self, options: CallOptions) -> Self {
        if let Stage::Pending(p) = &mut self.stage {
            if options.timeout.is_some() {
                p.timeout = options.timeout;
            }
            if !options.metadata.is_empty() {
                self.extras().metadata.extend(options.metadata);
            }
        }
        self
    }

    /// The configuration the call goes to.
    pub fn config(&self) -> &Configuration {
        &self.config
    }

    /// Sends the requests now, if not sent yet.
    pub fn start(&mut self) {
        self.start_for(None);
    }

    /// [`start`](Self::start), telling the runtime the quorum the caller waits for
    /// (the simulator's adversary reads it; other runtimes ignore it).
    pub(crate) fn start_for(&mut self, quorum: Option<crate::quorum::Quorum>) {
        if !self.is_pending() {
            return;
        }
        // A placeholder until the call's id (or its refusal) is known below.
        let Stage::Pending(p) = std::mem::replace(&mut self.stage, Stage::Over(Ok(()))) else {
            return;
        };
        let (map_request, metadata) = match self.extras.as_mut() {
            Some(x) => (
                std::mem::take(&mut x.map_request),
                std::mem::take(&mut x.metadata),
            ),
            None => (Vec::new(), Vec::new()),
        };
        if self
            .extras
            .as_ref()
            .is_some_and(|x| !x.interceptors.is_empty())
        {
            let info = CallInfo {
                method: p.method.to_string(),
                config: self.config.clone(),
                request: p.request.clone(),
            };
            self.extras().info = Some(info);
        }
        let payload = if map_request.is_empty() {
            Payload::Shared(p.request.clone())
        } else {
            let mut per_node = Vec::new();
            for node in self.config.nodes() {
                match map_for(&map_request, &p.request, &node) {
                    Ok(Some(request)) => per_node.push(Some(request)),
                    Ok(None) => {
                        self.skipped += 1;
                        per_node.push(None);
                    }
                    Err(failure) => {
                        self.extras().early.push_back(NodeResponse {
                            node: node.id(),
                            result: Err(failure),
                        });
                        per_node.push(None);
                    }
                }
            }
            Payload::PerNode(per_node)
        };
        let inner = self.config.inner.clone();
        if inner.options.metrics {
            self.extras().metrics = Some(CallMetrics::start(&p.method, p.kind, inner.rt.now()));
        }
        let nodes = self.config.set.shared_ids();
        let (kind, method) = (p.kind, p.method.clone());
        let mut spec = CallSpec::new(p.kind, p.method, nodes.clone(), payload);
        spec.metadata = metadata;
        let timeout = p.timeout.map(|t| {
            if inner.rt.buggify(super::buggify::EARLY_TIMEOUT) {
                t / 4
            } else {
                t
            }
        });
        let started = inner.with(|st, now| {
            spec.deadline = timeout.map(|t| now + t);
            let started = st.ep.start_call(now, spec)?;
            st.calls.insert(started.id, CallSlot::default());
            Ok::<_, crate::engine::UsageError>(started)
        });
        match started {
            Ok(started) => {
                self.stage = Stage::Started(started.id);
                inner.rt.call_started(&crate::runtime::CallStart {
                    id: started.id,
                    kind,
                    method: &method,
                    threshold: quorum.map(|q| q.required(nodes.len())),
                    nodes: &nodes,
                });
                if !started.send_failures.is_empty() {
                    self.extras()
                        .early
                        .extend(started.send_failures.into_iter().map(|e| NodeResponse {
                            node: e.node,
                            result: Err(e.failure),
                        }));
                }
            }
            Err(usage) => self.stage = Stage::Over(Err(QuorumCallError::usage(usage))),
        }
    }

    /// The next raw outcome: a node's reply bytes or failure; `None` when the call is
    /// over.
    pub(crate) fn poll_raw(&mut self, cx: &mut Context<'_>) -> Poll<Option<NodeResponse<Bytes>>> {
        self.start();
        if let Some(early) = self.extras.as_mut().and_then(|x| x.early.pop_front()) {
            return Poll::Ready(Some(early));
        }
        let Stage::Started(call) = self.stage else {
            return Poll::Ready(None);
        };
        loop {
            let mut st = self.config.inner.lock();
            let Some(slot) = st.calls.get_mut(&call) else {
                return Poll::Ready(None);
            };
            let Some(event) = slot.events.pop_front() else {
                slot.waker = Some(cx.waker().clone());
                return Poll::Pending;
            };
            drop(st);
            match event {
                CallEvent::Reply { node, result } => {
                    return Poll::Ready(Some(NodeResponse { node, result }));
                }
                CallEvent::Item { node, payload } => {
                    return Poll::Ready(Some(NodeResponse {
                        node,
                        result: Ok(payload),
                    }));
                }
                CallEvent::End { result: Ok(()), .. } => self.streams_ended += 1,
                CallEvent::End {
                    node,
                    result: Err(failure),
                } => {
                    return Poll::Ready(Some(NodeResponse {
                        node,
                        result: Err(failure),
                    }));
                }
                // Only one-way calls are told when they are written (written.rs).
                CallEvent::Written { .. } => {}
                CallEvent::Finished(result) => {
                    self.config.inner.lock().calls.remove(&call);
                    self.stage = Stage::Over(result);
                    return Poll::Ready(None);
                }
            }
        }
    }

    fn decode(&mut self, raw: NodeResponse<Bytes>) -> NodeResponse<T> {
        let node = raw.node;
        let result = raw.result.and_then(|bytes| {
            let reply = T::decode(bytes).map_err(NodeFailure::InvalidReply)?;
            match self.extras.as_ref().and_then(|x| x.map_response.as_ref()) {
                Some(map) => map(node, reply),
                None => Ok(reply),
            }
        });
        NodeResponse { node, result }
    }

    /// The next outcome out of the interceptors (decoded, mapped, intercepted); `None`
    /// once the call is over and the interceptors have nothing more.
    fn poll_intercepted(&mut self, cx: &mut Context<'_>) -> Poll<Option<NodeResponse<T>>> {
        // Starting sets `info` when there are interceptors: it must happen before the
        // check, or a reply that arrives while the first poll sends would skip them.
        self.start();
        let Some(info) = self.extras.as_mut().and_then(|x| x.info.take()) else {
            // No interceptors: each outcome goes straight on, with no buffer.
            return self.poll_raw(cx).map(|raw| raw.map(|r| self.decode(r)));
        };
        let polled = loop {
            let chain = &mut self.extras().interceptors;
            if let Some(ready) = chain.pop() {
                break Poll::Ready(Some(ready));
            }
            if chain.is_ended() {
                break Poll::Ready(None);
            }
            match self.poll_raw(cx) {
                Poll::Ready(Some(raw)) => {
                    let response = self.decode(raw);
                    self.extras().interceptors.feed(&info, response);
                }
                Poll::Ready(None) => self.extras().interceptors.end(&info),
                Poll::Pending => break Poll::Pending,
            }
        };
        self.extras().info = Some(info);
        polled
    }

    /// Marks the call as having served its purpose: dropping it now lets requests not
    /// yet written still go out.
    pub(crate) fn mark_met(&mut self) {
        self.met = true;
    }

    /// Nodes skipped by `map_request`: they are sent nothing and never answer.
    pub(crate) fn skipped(&self) -> usize {
        self.skipped as usize
    }

    /// Nodes that will send nothing more without having failed: skipped by
    /// `map_request`, or their reply stream ended.
    pub(crate) fn closed_quietly(&self) -> usize {
        self.skipped as usize + self.streams_ended as usize
    }

    /// Why a call that ended without a reply from its one node got none: the call's
    /// own failure (a usage error, say), else no reply within the deadline.
    fn no_reply_failure(&self) -> NodeFailure {
        match self.finished() {
            Some(Err(QuorumCallError {
                cause: Cause::Usage(usage),
                ..
            })) => NodeFailure::Usage(*usage),
            _ => NodeFailure::NoReply,
        }
    }

    /// The nodes that still owed their reply when the call's deadline passed (none if
    /// the call ended otherwise): each with [`NodeFailure::NoReply`].
    pub(crate) fn stalled_nodes(&self) -> Vec<NodeError> {
        match self.finished() {
            Some(Err(e)) if e.cause == Cause::DeadlineExceeded => e
                .node_errors
                .iter()
                .filter(|n| n.failure == NodeFailure::NoReply)
                .cloned()
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The cause to report when the replies ran out before the quorum was met.
    pub(crate) fn end_cause(&self) -> Cause {
        match self.finished() {
            Some(Err(e)) => e.cause,
            _ => Cause::Incomplete,
        }
    }
}

impl<T: prost::Message + Default + 'static> Stream for Responses<T> {
    type Item = NodeResponse<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        this.poll_intercepted(cx).map(|response| {
            response.inspect(|response| {
                if let Some(m) = this.extras.as_ref().and_then(|x| x.metrics.as_ref()) {
                    m.outcome(response.node, &response.result, this.config.inner.rt.now());
                }
            })
        })
    }
}

impl<T> Responses<T> {
    /// How the call ended, once it has.
    fn finished(&self) -> Option<&Result<(), QuorumCallError>> {
        match &self.stage {
            Stage::Over(result) => Some(result),
            Stage::Pending(_) | Stage::Started(_) => None,
        }
    }

    /// The engine's id of a call sent and not yet over.
    fn call_id(&self) -> Option<CallId> {
        match self.stage {
            Stage::Started(id) => Some(id),
            Stage::Pending(_) | Stage::Over(_) => None,
        }
    }
}

impl<T> Unpin for Responses<T> {}

impl<T> Drop for Responses<T> {
    fn drop(&mut self) {
        let Some(call) = self.call_id() else { return };
        let met = self.met;
        self.config.inner.with(|st, now| {
            st.calls.remove(&call);
            if met {
                st.ep.finish(now, call);
            } else {
                st.ep.cancel(now, call);
            }
        });
    }
}

/// The request for `node` after every `map_request` step.
fn map_for(
    steps: &[RequestMapper],
    request: &Bytes,
    node: &Node,
) -> Result<Option<Bytes>, NodeFailure> {
    let mut request = request.clone();
    for step in steps {
        match step(&request, node)? {
            Some(next) => request = next,
            None => return Ok(None),
        }
    }
    Ok(Some(request))
}

/// The next item of a stream, as a future.
pub(crate) async fn futures_next<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
}
