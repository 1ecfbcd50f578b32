//! The server side of one connection: requests wait here until the one before them
//! replies or is released (per-sender FIFO).

use std::collections::{BTreeMap, VecDeque};

use super::{
    ConnectionError, MethodName, MsgId, NodeId, Request, RequestId, RequestKind, UsageError,
};
use crate::wire::proto;

/// One sender's queue of requests. At most one request holds the sender's turn; the next
/// is handed out when the turn is answered or released.
#[derive(Debug, Default)]
pub(crate) struct ServerQueue {
    waiting: VecDeque<Request>,
    /// The request holding the sender's turn, if any.
    turn: Option<MsgId>,
    /// Requests handed out and not yet answered (ids as on the wire), and what each
    /// expects back.
    open: BTreeMap<MsgId, RequestKind>,
    /// The method names of requests that came untyped (from Go Gorums' wire), whose
    /// replies must name their method again: Go decodes a reply by its method.
    echo: BTreeMap<MsgId, MethodName>,
}

/// Why a request cannot be answered.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum AnswerError {
    /// Not handed out, or answered already.
    Unknown,
    /// Stream items and ends go only to stream requests.
    NotAStream,
}

impl AnswerError {
    /// The usage error a command on `request` is refused with.
    pub(crate) fn usage(self, request: RequestId) -> UsageError {
        match self {
            AnswerError::Unknown => UsageError::UnknownRequest(request),
            AnswerError::NotAStream => UsageError::NotAStream(request),
        }
    }
}

impl ServerQueue {
    /// Whether a request with this id is open (a duplicate id from the sender).
    pub(crate) fn is_open(&self, msg: MsgId) -> bool {
        self.open.contains_key(&msg)
    }

    /// Takes in a request message from the sender `from`: a duplicate id is dropped, a
    /// method name that is not UTF-8 breaks the protocol (the connection must close);
    /// returns the request to hand out now, if the sender's turn is free.
    pub(crate) fn receive(
        &mut self,
        id: RequestId,
        from: NodeId,
        kind: RequestKind,
        msg: proto::Message,
        echo: bool,
    ) -> Result<Option<Request>, ConnectionError> {
        if self.is_open(id.msg) {
            tracing::debug!(?id, "duplicate request id dropped");
            return Ok(None);
        }
        let method = MethodName::new(msg.method).ok_or_else(|| {
            ConnectionError::Violation(String::from("a request's method name is not UTF-8"))
        })?;
        if echo {
            self.echo.insert(id.msg, method.clone());
        }
        Ok(self.push(Request {
            id,
            from,
            kind,
            method,
            metadata: msg.metadata,
            payload: msg.payload,
        }))
    }

    /// Queues a request; returns the request to hand out now, if the sender's turn is
    /// free.
    pub(crate) fn push(&mut self, request: Request) -> Option<Request> {
        self.waiting.push_back(request);
        self.next_turn()
    }

    /// The method name a reply to `msg` must carry (empty unless it came untyped).
    pub(crate) fn echo_method(&self, msg: MsgId) -> &str {
        self.echo.get(&msg).map_or("", |m| m.as_str())
    }

    /// What `msg` expects back, if it is open.
    pub(crate) fn kind_of(&self, msg: MsgId) -> Option<RequestKind> {
        self.open.get(&msg).copied()
    }

    /// Checks that `msg` is an open stream request (for a stream item).
    pub(crate) fn check_stream(&self, msg: MsgId) -> Result<(), AnswerError> {
        match self.open.get(&msg) {
            Some(RequestKind::Stream) => Ok(()),
            Some(_) => Err(AnswerError::NotAStream),
            None => Err(AnswerError::Unknown),
        }
    }

    /// Closes `msg` (its answer is going out): frees the turn if it held it. Returns what
    /// it expected back; the caller then hands out [`next_turn`](Self::next_turn).
    pub(crate) fn answer(&mut self, msg: MsgId) -> Result<RequestKind, AnswerError> {
        let kind = self.open.remove(&msg).ok_or(AnswerError::Unknown)?;
        self.echo.remove(&msg);
        if self.turn == Some(msg) {
            self.turn = None;
        }
        Ok(kind)
    }

    /// Lets the sender's next request go before `msg` is answered; returns it, if any.
    pub(crate) fn release(&mut self, msg: MsgId) -> Option<Request> {
        if self.turn != Some(msg) {
            return None;
        }
        self.turn = None;
        self.next_turn()
    }

    /// Hands out the next waiting request if no request holds the turn.
    pub(crate) fn next_turn(&mut self) -> Option<Request> {
        if self.turn.is_some() {
            return None;
        }
        let request = self.waiting.pop_front()?;
        self.turn = Some(request.id.msg);
        self.open.insert(request.id.msg, request.kind);
        Some(request)
    }
}
