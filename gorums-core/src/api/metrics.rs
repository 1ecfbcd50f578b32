//! Metrics through the `metrics` facade, recorded only when a system asks for them
//! ([`SystemOptions::metrics`](super::SystemOptions::metrics)); the application installs
//! the recorder or exporter it wants (the storage example serves Prometheus text).
//!
//! | name | kind | labels | what |
//! |---|---|---|---|
//! | `gorums_client_calls_total` | counter | `method`, `kind` | calls started |
//! | `gorums_client_replies_total` | counter | `method`, `node` | successful replies (each stream item) |
//! | `gorums_client_failures_total` | counter | `method`, `node`, `kind` | node failures, by [`FailureKind`] |
//! | `gorums_client_reply_seconds` | histogram | `method`, `node` | from a call's start to each node's outcome |
//!
//! Client outcomes are counted as the caller reads them (after decoding and
//! interceptors): a terminal method that is decided early leaves the outcomes it did
//! not read uncounted.
//!
//! | name | kind | labels | what |
//! |---|---|---|---|
//! | `gorums_server_requests_total` | counter | `method` | requests handled |
//! | `gorums_server_failures_total` | counter | `method`, `code` | requests answered with an error status (a panic is `Internal`) |
//! | `gorums_server_handler_seconds` | histogram | `method` | from a handler's start to its answer |

use std::borrow::Cow;
use std::time::Duration;

use metrics::SharedString;

use crate::engine::{CallKind, Code, FailureKind, Instant, NodeFailure, NodeId};

/// One call's metrics: its method and when it started.
#[derive(Debug)]
pub(crate) struct CallMetrics {
    method: SharedString,
    started: Instant,
}

impl CallMetrics {
    /// Counts a call of `kind` to `method` started at `now`.
    // A `Cow`, not a `&str`: a `'static` method name (every generated one) becomes a
    // label without an allocation per call.
    #[allow(clippy::ptr_arg)]
    pub(crate) fn start(method: &Cow<'static, str>, kind: CallKind, now: Instant) -> CallMetrics {
        let method = match method {
            Cow::Borrowed(m) => SharedString::const_str(m),
            Cow::Owned(m) => SharedString::from(m.clone()),
        };
        metrics::counter!("gorums_client_calls_total", "method" => method.clone(), "kind" => kind_label(kind))
            .increment(1);
        CallMetrics {
            method,
            started: now,
        }
    }

    /// Records `node`'s outcome, as the user sees it, at `now`.
    pub(crate) fn outcome<T>(&self, node: NodeId, result: &Result<T, NodeFailure>, now: Instant) {
        let node = node.0.to_string();
        let elapsed: Duration = now - self.started;
        metrics::histogram!("gorums_client_reply_seconds", "method" => self.method.clone(), "node" => node.clone())
            .record(elapsed.as_secs_f64());
        match result {
            Ok(_) => metrics::counter!("gorums_client_replies_total", "method" => self.method.clone(), "node" => node)
                .increment(1),
            Err(failure) => metrics::counter!(
                "gorums_client_failures_total",
                "method" => self.method.clone(),
                "node" => node,
                "kind" => failure_label(failure.kind())
            )
            .increment(1),
        }
    }
}

/// Records a handled request of `method`: how long its handler took and, if it failed,
/// its status code.
pub(crate) fn handled(method: &str, elapsed: Duration, failed: Option<Code>) {
    let method = SharedString::from(method.to_owned());
    metrics::counter!("gorums_server_requests_total", "method" => method.clone()).increment(1);
    metrics::histogram!("gorums_server_handler_seconds", "method" => method.clone())
        .record(elapsed.as_secs_f64());
    if let Some(code) = failed {
        metrics::counter!("gorums_server_failures_total", "method" => method, "code" => format!("{code:?}"))
            .increment(1);
    }
}

fn kind_label(kind: CallKind) -> &'static str {
    match kind {
        CallKind::Rpc => "rpc",
        CallKind::Unicast => "unicast",
        CallKind::Multicast => "multicast",
        CallKind::QuorumCall => "quorumcall",
        CallKind::Correctable => "correctable",
    }
}

fn failure_label(kind: FailureKind) -> &'static str {
    match kind {
        FailureKind::Status => "status",
        FailureKind::ConnectionLost => "connection_lost",
        FailureKind::NotConnected => "not_connected",
        FailureKind::SendQueueFull => "send_queue_full",
        FailureKind::Encode => "encode",
        FailureKind::InvalidReply => "invalid_reply",
        FailureKind::Rejected => "rejected",
        FailureKind::NoReply => "no_reply",
        FailureKind::Usage => "usage",
    }
}
