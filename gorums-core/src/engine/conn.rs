//! One connection's state: handshake, decoder, outgoing queue, and the FIFO of requests
//! its sender is waiting on.

use std::collections::{BTreeMap, VecDeque};

use bytes::{Bytes, BytesMut};

use super::{CallId, Instant, MsgId, NodeFailure, NodeId, Request, RequestKind};
use crate::wire::proto::MetadataEntry;
use crate::wire::{EnvelopeRef, FrameDecoder};

/// Which side opened the connection.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Side {
    /// We dialled it, to reach a node of ours.
    Dialled(NodeId),
    /// The peer dialled it.
    Accepted,
    /// The in-process connection to ourselves (self dispatch); carries no bytes.
    Local,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Phase {
    /// The driver is dialling.
    Connecting,
    /// The socket is up; waiting for the peer's hello.
    AwaitingHello,
    /// Hello exchanged.
    Open,
}

/// A frame waiting for the driver, tagged with the call it belongs to so that a cancel
/// can take it back before it is written.
#[derive(Debug)]
pub(crate) struct OutFrame {
    pub(crate) call: Option<CallId>,
    pub(crate) bytes: Bytes,
}

/// Frames are cut from a per-connection buffer of at least this size: small frames then
/// cost no allocation each (one per chunk instead of two per frame), and the frames
/// queued on a stalled connection keep only that connection's chunks alive, so its
/// memory stays bounded by its send queue.
const FRAME_CHUNK: usize = 4 * 1024;

#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) side: Side,
    pub(crate) phase: Phase,
    pub(crate) addr: String,
    /// The peer's node id once its hello arrived (for a dialled connection, the node we
    /// dialled).
    pub(crate) peer: NodeId,
    pub(crate) anonymous_peer: bool,
    pub(crate) peer_metadata: Vec<MetadataEntry>,
    pub(crate) decoder: FrameDecoder,
    pub(crate) out: VecDeque<OutFrame>,
    pub(crate) out_bytes: usize,
    /// The buffer frames are encoded into and cut from (see [`FRAME_CHUNK`]).
    chunk: BytesMut,
    /// A `Transmit` event is outstanding: the driver has not taken the queue since.
    pub(crate) transmit_signalled: bool,
    /// When a connect or handshake still under way gives up.
    pub(crate) open_deadline: Option<Instant>,
    pub(crate) server: ServerQueue,
}

impl Conn {
    pub(crate) fn new(side: Side, addr: String, peer: NodeId, max_frame_len: usize) -> Conn {
        Conn {
            side,
            phase: Phase::Connecting,
            addr,
            peer,
            anonymous_peer: false,
            peer_metadata: Vec::new(),
            decoder: FrameDecoder::new(max_frame_len),
            out: VecDeque::new(),
            out_bytes: 0,
            chunk: BytesMut::new(),
            transmit_signalled: false,
            open_deadline: None,
            server: ServerQueue::default(),
        }
    }

    /// Whether we accepted this connection, so the ids we start on it carry the top bit.
    pub(crate) fn we_accepted(&self) -> bool {
        self.side == Side::Accepted
    }

    /// The wire id for a call id of ours sent on this connection.
    pub(crate) fn wire_id(&self, call: CallId) -> u64 {
        if self.we_accepted() {
            call.0 | MsgId::ACCEPTOR_BIT
        } else {
            call.0
        }
    }

    /// The call a reply on this connection answers, if its id carries our side's mark.
    pub(crate) fn call_of_reply(&self, wire_id: u64) -> Option<CallId> {
        let marked = wire_id & MsgId::ACCEPTOR_BIT != 0;
        (marked == self.we_accepted()).then_some(CallId(wire_id & !MsgId::ACCEPTOR_BIT))
    }

    /// Encodes `envelope` as a frame and queues it, unless the queue would pass
    /// `send_queue_limit` bytes.
    pub(crate) fn queue_envelope(
        &mut self,
        call: Option<CallId>,
        envelope: &EnvelopeRef<'_>,
        max_frame_len: usize,
        send_queue_limit: usize,
    ) -> Result<(), NodeFailure> {
        let need = envelope.frame_len();
        if self.out_bytes + need > send_queue_limit {
            return Err(NodeFailure::SendQueueFull);
        }
        if self.chunk.capacity() - self.chunk.len() < need {
            self.chunk.reserve(need.max(FRAME_CHUNK));
        }
        let len = envelope
            .encode_frame(max_frame_len, &mut self.chunk)
            .map_err(|e| NodeFailure::Encode(e.to_string()))?;
        self.out_bytes += len;
        self.out.push_back(OutFrame {
            call,
            bytes: self.chunk.split().freeze(),
        });
        Ok(())
    }

    pub(crate) fn push_frame(&mut self, call: Option<CallId>, mut bytes: BytesMut) {
        self.out_bytes += bytes.len();
        self.out.push_back(OutFrame {
            call,
            bytes: bytes.split().freeze(),
        });
    }

    /// Takes back the frames of `call` that the driver has not taken yet.
    pub(crate) fn unqueue_call(&mut self, call: CallId) {
        let mut freed = 0;
        self.out.retain(|f| {
            let keep = f.call != Some(call);
            if !keep {
                freed += f.bytes.len();
            }
            keep
        });
        self.out_bytes -= freed;
    }

    pub(crate) fn can_write(&self) -> bool {
        self.phase != Phase::Connecting && self.side != Side::Local
    }
}

/// The server side of one connection: requests wait here until the one before them
/// replies or is released (per-sender FIFO).
#[derive(Debug, Default)]
pub(crate) struct ServerQueue {
    pub(crate) waiting: VecDeque<Request>,
    /// The request holding the sender's turn, if any.
    pub(crate) turn: Option<MsgId>,
    /// Requests handed out and not yet answered (ids as on the wire), and what each
    /// expects back.
    pub(crate) open: BTreeMap<MsgId, RequestKind>,
}
