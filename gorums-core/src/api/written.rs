//! One-way calls that wait for the send (Go Gorums' default for `Unicast` and
//! `Multicast`): [`Node::unicast_written`] and [`Configuration::multicast_written`]
//! return once each node's request is written to its connection, or its connection
//! failed first. The queue-and-return [`Node::unicast`] and [`Configuration::multicast`]
//! are in the call module.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::call::CallOptions;
use super::config::{Configuration, Node};
use super::metrics::CallMetrics;
use super::shared::{CallSlot, Inner, encode};
use crate::engine::{
    CallEvent, CallId, CallKind, CallSpec, Cause, Code, NodeError, NodeFailure, Payload,
    QuorumCallError, Status,
};

impl Configuration {
    /// Sends `request` one-way to every node, at once, and waits until it is written to
    /// every node's connection (Go Gorums' `Multicast` without `IgnoreErrors`).
    ///
    /// `Ok` once every node's request has left; otherwise a `SendFailure` naming each
    /// node it could not be sent to (not connected, send queue full) or whose connection
    /// closed before its request was written (`ConnectionLost` with the connection's
    /// error). It never waits for the servers: "written" means handed to the
    /// connection's transport (the socket, or TLS), not received. `options.timeout`
    /// bounds the wait (`DeadlineExceeded`); the configuration's deadline does not apply.
    ///
    /// Cancellation: dropping the future stops the wait only; the requests are queued
    /// already and still go out.
    pub fn multicast_written<Req, M>(
        &self,
        method: M,
        request: &Req,
        options: CallOptions,
    ) -> impl Future<Output = Result<(), QuorumCallError>> + Send + 'static + use<Req, M>
    where
        Req: prost::Message,
        M: Into<Cow<'static, str>>,
    {
        WrittenCall::start(
            self,
            CallKind::Multicast,
            method.into(),
            Payload::Shared(encode(request)),
            options,
        )
    }
}

impl Node {
    /// Sends `request` one-way to this node, at once, and waits until it is written to
    /// the node's connection (Go Gorums' `Unicast` without `IgnoreErrors`).
    ///
    /// `Ok` once the request has left; the node's error if it could not be sent (not
    /// connected, send queue full) or its connection closed before the request was
    /// written (`ConnectionLost` with the connection's error). "Written" means handed to
    /// the connection's transport, not received by the server. `options.timeout` bounds
    /// the wait (a `DeadlineExceeded` status).
    ///
    /// Cancellation: dropping the future stops the wait only; the request still goes out.
    pub fn unicast_written<Req, M>(
        &self,
        method: M,
        request: &Req,
        options: CallOptions,
    ) -> impl Future<Output = Result<(), NodeError>> + Send + 'static + use<Req, M>
    where
        Req: prost::Message,
        M: Into<Cow<'static, str>>,
    {
        let node = self.id();
        let call = WrittenCall::start(
            &self.config,
            CallKind::Unicast,
            method.into(),
            Payload::Shared(encode(request)),
            options,
        );
        async move {
            call.await
                .map_err(|e| match (e.cause, e.node_errors.into_iter().next()) {
                    (_, Some(error)) => error,
                    (Cause::Usage(usage), None) => NodeError {
                        node,
                        failure: NodeFailure::Usage(usage),
                    },
                    (Cause::DeadlineExceeded, None) => NodeError {
                        node,
                        failure: NodeFailure::Status(Status::new(
                            Code::DeadlineExceeded,
                            "request not written before the deadline",
                        )),
                    },
                    (_, None) => NodeError {
                        node,
                        failure: NodeFailure::NotConnected(None),
                    },
                })
        }
    }
}

/// A one-way call the engine reports on until every node's request is written.
struct WrittenCall {
    inner: Arc<Inner>,
    /// `None` when the call never started (a usage error, in `outcome`).
    call: Option<CallId>,
    /// The nodes that failed so far: at once, or before their request was written.
    errors: Vec<NodeError>,
    outcome: Option<Result<(), QuorumCallError>>,
}

impl WrittenCall {
    /// Queues the requests now (one-way calls send at once).
    fn start(
        config: &Configuration,
        kind: CallKind,
        method: Cow<'static, str>,
        payload: Payload,
        options: CallOptions,
    ) -> WrittenCall {
        let inner = config.inner.clone();
        if inner.options.metrics {
            CallMetrics::start(&method, kind, inner.rt.now());
        }
        let mut spec = CallSpec::new(kind, method, config.set.shared_ids(), payload);
        spec.metadata = options.metadata;
        spec.report_written = true;
        let started = inner.with(|st, now| {
            spec.deadline = options.timeout.map(|t| now + t);
            let started = st.ep.start_call(now, spec)?;
            // Inserted before the events are drained: a call over at once (every node
            // failed, or only ourselves) finds its events here.
            st.calls.insert(started.id, CallSlot::default());
            Ok::<_, crate::engine::UsageError>(started)
        });
        match started {
            Ok(started) => WrittenCall {
                inner,
                call: Some(started.id),
                errors: started.send_failures,
                outcome: None,
            },
            Err(usage) => WrittenCall {
                inner,
                call: None,
                errors: Vec::new(),
                outcome: Some(Err(QuorumCallError::usage(usage))),
            },
        }
    }
}

impl Future for WrittenCall {
    type Output = Result<(), QuorumCallError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some(outcome) = this.outcome.take() {
            return Poll::Ready(outcome);
        }
        let Some(call) = this.call else {
            return Poll::Ready(Ok(()));
        };
        let mut st = this.inner.lock();
        let Some(slot) = st.calls.get_mut(&call) else {
            return Poll::Ready(Ok(()));
        };
        for event in slot.events.drain(..) {
            match event {
                CallEvent::Written {
                    node,
                    result: Err(failure),
                } => this.errors.push(NodeError { node, failure }),
                CallEvent::Finished(result) => {
                    this.outcome = Some(match result {
                        Ok(()) if this.errors.is_empty() => Ok(()),
                        Ok(()) => Err(QuorumCallError::new(
                            Cause::SendFailure,
                            std::mem::take(&mut this.errors),
                        )),
                        Err(e) => Err(e),
                    });
                }
                _ => {}
            }
        }
        match this.outcome.take() {
            Some(outcome) => {
                st.calls.remove(&call);
                this.call = None;
                Poll::Ready(outcome)
            }
            None => {
                if let Some(slot) = st.calls.get_mut(&call) {
                    slot.waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

impl Drop for WrittenCall {
    fn drop(&mut self) {
        let Some(call) = self.call else { return };
        // The requests stay queued: a one-way call sent at once is not taken back.
        self.inner.with(|st, now| {
            st.calls.remove(&call);
            st.ep.finish(now, call);
        });
    }
}
