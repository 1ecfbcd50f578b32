//! One connection's state: its side and handshake phase, its decoder, and its send queue.
//!
//! The send queue numbers every frame it takes, so a call's share can remember where
//! its request sits and a cancel can take that frame back in O(1), without scanning the
//! queue (see [`Conn::take_back`]).
//!
//! It also follows the frames whose callers wait for them to be written (one-way calls
//! with `report_written`): once the driver has taken such a frame, the connection keeps
//! the stream offset its last byte ends at, and the driver's reports of bytes written
//! ([`Conn::written`]) say when it has left.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use super::server::ServerQueue;
use super::{Authenticated, CallId, Instant, MsgId, NodeFailure, NodeId};

/// A call share waiting for its frame to be written: the call and the node it goes to.
pub(crate) type WrittenWatch = (CallId, NodeId);
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

/// How far the connection's handshake has come.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Phase {
    /// The driver is dialling.
    Connecting,
    /// The socket is up; waiting for the peer's hello.
    AwaitingHello,
    /// Hello exchanged.
    Open,
}

/// Where a queued frame sits in its connection's send queue: the frame's sequence
/// number, counted from the connection's first frame.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) struct FrameSeq(u64);

/// A frame waiting for the driver; `None` once it was taken back by a cancel (it is then
/// skipped, never written).
#[derive(Debug)]
struct OutFrame(Option<Bytes>);

/// Frames are cut from a per-connection buffer of at least this size: small frames then
/// cost no allocation each (one per chunk instead of two per frame), and the frames
/// queued on a stalled connection keep only that connection's chunks alive, so its
/// memory stays bounded by its send queue.
const FRAME_CHUNK: usize = 4 * 1024;

/// One connection.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) side: Side,
    pub(crate) phase: Phase,
    pub(crate) addr: String,
    /// The peer's node id once its hello arrived (for a dialled connection, the node we
    /// dialled).
    pub(crate) peer: NodeId,
    pub(crate) anonymous_peer: bool,
    /// What the transport proved about an accepted peer (`None`: nothing checked).
    pub(crate) authenticated: Option<Authenticated>,
    pub(crate) peer_metadata: Vec<MetadataEntry>,
    pub(crate) decoder: FrameDecoder,
    /// When a connect or handshake still under way gives up.
    pub(crate) open_deadline: Option<Instant>,
    pub(crate) server: ServerQueue,
    out: VecDeque<OutFrame>,
    /// The sequence number of `out`'s front frame: every frame before it was taken.
    out_front: u64,
    out_bytes: usize,
    /// The buffer frames are encoded into and cut from (see [`FRAME_CHUNK`]).
    chunk: BytesMut,
    /// A `Transmit` event is outstanding: the driver has not taken the queue since.
    transmit_signalled: bool,
    /// Queued frames whose callers wait for them to be written, oldest first.
    watched: VecDeque<(FrameSeq, WrittenWatch)>,
    /// Watched frames the driver has taken, with the stream offset their last byte ends
    /// at, oldest first.
    in_flight: VecDeque<(u64, WrittenWatch)>,
    /// Bytes handed to the driver since the connection opened.
    taken: u64,
    /// Of those, bytes the driver has said are written.
    written_bytes: u64,
}

impl Conn {
    /// A connection still in its handshake: until [`open`](Self::open), its decoder
    /// takes frames of at most `max_handshake_frame_len` and holds at most
    /// `hold_limit` bytes.
    pub(crate) fn new(
        side: Side,
        addr: String,
        peer: NodeId,
        max_handshake_frame_len: usize,
        hold_limit: usize,
    ) -> Conn {
        let mut decoder = FrameDecoder::new(max_handshake_frame_len);
        decoder.set_hold_limit(Some(hold_limit));
        Conn {
            side,
            phase: Phase::Connecting,
            addr,
            peer,
            anonymous_peer: false,
            authenticated: None,
            peer_metadata: Vec::new(),
            decoder,
            open_deadline: None,
            server: ServerQueue::default(),
            out: VecDeque::new(),
            out_front: 0,
            out_bytes: 0,
            chunk: BytesMut::new(),
            transmit_signalled: false,
            watched: VecDeque::new(),
            in_flight: VecDeque::new(),
            taken: 0,
            written_bytes: 0,
        }
    }

    /// The hello was accepted: frames up to `max_frame_len` are now taken, and the
    /// decoder's buffer grows as they need.
    pub(crate) fn open(&mut self, max_frame_len: usize) {
        self.phase = Phase::Open;
        self.open_deadline = None;
        self.decoder.set_max_frame_len(max_frame_len);
        self.decoder.set_hold_limit(None);
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
    /// `send_queue_limit` bytes; returns where it sits.
    pub(crate) fn queue_envelope(
        &mut self,
        envelope: &EnvelopeRef<'_>,
        max_frame_len: usize,
        send_queue_limit: usize,
    ) -> Result<FrameSeq, NodeFailure> {
        let need = envelope.frame_len();
        if self.out_bytes + need > send_queue_limit {
            return Err(NodeFailure::SendQueueFull);
        }
        if self.chunk.capacity() - self.chunk.len() < need {
            self.chunk.reserve(need.max(FRAME_CHUNK));
        }
        envelope
            .encode_frame(max_frame_len, &mut self.chunk)
            .map_err(NodeFailure::Encode)?;
        let frame = self.chunk.split().freeze();
        Ok(self.push(frame))
    }

    /// Queues a frame already encoded (one a call shares between its connections),
    /// unless the queue would pass `send_queue_limit` bytes; returns where it sits.
    pub(crate) fn queue_frame(
        &mut self,
        frame: Bytes,
        send_queue_limit: usize,
    ) -> Result<FrameSeq, NodeFailure> {
        if self.out_bytes + frame.len() > send_queue_limit {
            return Err(NodeFailure::SendQueueFull);
        }
        Ok(self.push(frame))
    }

    /// Queues bytes already framed (the preface and hello).
    pub(crate) fn push_frame(&mut self, mut bytes: BytesMut) {
        self.push(bytes.split().freeze());
    }

    fn push(&mut self, frame: Bytes) -> FrameSeq {
        let seq = FrameSeq(self.out_front + self.out.len() as u64);
        self.out_bytes += frame.len();
        self.out.push_back(OutFrame(Some(frame)));
        seq
    }

    /// Takes back the frame at `seq` if the driver has not taken it yet: O(1).
    pub(crate) fn take_back(&mut self, seq: FrameSeq) {
        let Some(at) = seq.0.checked_sub(self.out_front) else {
            return;
        };
        if let Some(frame) = usize::try_from(at).ok().and_then(|i| self.out.get_mut(i))
            && let Some(bytes) = frame.0.take()
        {
            self.out_bytes -= bytes.len();
        }
    }

    /// Reports the frame at `seq` as `watch` once the driver has written all of it
    /// (see [`written`](Self::written)). Frames are watched in the order queued.
    pub(crate) fn watch_written(&mut self, seq: FrameSeq, watch: WrittenWatch) {
        debug_assert!(self.watched.back().is_none_or(|(last, _)| last.0 < seq.0));
        self.watched.push_back((seq, watch));
    }

    /// Whether bytes the driver has taken hold a watched frame not yet written: the
    /// driver must then report its writes ([`written`](Self::written)).
    pub(crate) fn awaits_write(&self) -> bool {
        !self.in_flight.is_empty()
    }

    /// The driver wrote `bytes` more of what it took; returns the watched frames now
    /// wholly written, oldest first.
    pub(crate) fn written(&mut self, bytes: usize) -> Vec<WrittenWatch> {
        self.written_bytes = (self.written_bytes + bytes as u64).min(self.taken);
        let mut done = Vec::new();
        while let Some(&(end, watch)) = self.in_flight.front() {
            if end > self.written_bytes {
                break;
            }
            self.in_flight.pop_front();
            done.push(watch);
        }
        done
    }

    /// Bytes queued and not yet taken by the driver.
    pub(crate) fn queued_bytes(&self) -> usize {
        self.out_bytes
    }

    /// Whether the driver should be told (once) that this connection has bytes for it.
    pub(crate) fn needs_transmit_signal(&mut self) -> bool {
        let due = self.can_write() && !self.transmit_signalled && self.out_bytes > 0;
        if due {
            self.transmit_signalled = true;
        }
        due
    }

    /// Appends queued bytes to `buf` (many frames in one write), whole frames only,
    /// up to `max` bytes (at least one frame, however long), and returns how many; zero
    /// while the connection cannot be written. What stays queued is signalled again.
    pub(crate) fn take_transmit(&mut self, buf: &mut BytesMut, max: usize) -> usize {
        if !self.can_write() {
            return 0;
        }
        buf.reserve(self.out_bytes.min(max));
        // A driver takes again only once it has written what it took before; one that
        // reports no writes (nothing it took was watched) is caught up here.
        if self.in_flight.is_empty() {
            self.written_bytes = self.taken;
        }
        let mut offset = self.taken;
        let mut took = 0;
        while let Some(frame) = self.out.front() {
            let len = frame.0.as_ref().map_or(0, Bytes::len);
            if took > 0 && took + len > max {
                break;
            }
            let Some(frame) = self.out.pop_front() else {
                break;
            };
            let seq = self.out_front;
            self.out_front += 1;
            let sent = frame.0.is_some();
            if let Some(bytes) = frame.0 {
                buf.extend_from_slice(&bytes);
                offset += bytes.len() as u64;
                took += bytes.len();
            }
            while let Some(&(at, watch)) = self.watched.front() {
                if at.0 > seq {
                    break;
                }
                self.watched.pop_front();
                // A frame taken back belongs to a cancelled call: nobody waits for it.
                if at.0 == seq && sent {
                    self.in_flight.push_back((offset, watch));
                }
            }
        }
        self.taken = offset;
        self.out_bytes -= took;
        self.transmit_signalled = false;
        took
    }

    fn can_write(&self) -> bool {
        self.phase != Phase::Connecting && self.side != Side::Local
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::proto::Kind;

    fn open_conn() -> Conn {
        let mut c = Conn::new(Side::Dialled(NodeId(1)), "a".into(), NodeId(1), 1024, 1024);
        c.open(1 << 20);
        c
    }

    fn queue(c: &mut Conn, payload: &[u8]) -> FrameSeq {
        let envelope = EnvelopeRef {
            id: 1,
            method: "m",
            status: None,
            metadata: &[],
            payload,
            kind: Kind::OneWay,
        };
        c.queue_envelope(&envelope, 1 << 20, 1 << 20).unwrap()
    }

    #[test]
    fn a_bounded_take_leaves_whole_frames_queued_in_order() {
        let mut c = open_conn();
        let mut all = BytesMut::new();
        for payload in [&b"one"[..], b"two", b"three", b"four"] {
            queue(&mut c, payload);
        }
        let queued = c.queued_bytes();
        let frame = queued / 4 - 1;
        // Two frames fit in a bound of two and a half; a bound under one frame still
        // takes one, so a batch never comes back empty while frames wait.
        let mut buf = BytesMut::new();
        let first = c.take_transmit(&mut buf, frame * 2 + frame / 2);
        all.extend_from_slice(&buf);
        assert!(first < queued && first > frame, "took {first} of {queued}");
        let mut buf = BytesMut::new();
        let second = c.take_transmit(&mut buf, 1);
        all.extend_from_slice(&buf);
        assert!(second > 0 && first + second < queued);
        let mut buf = BytesMut::new();
        let rest = c.take_transmit(&mut buf, usize::MAX);
        all.extend_from_slice(&buf);
        assert_eq!(first + second + rest, queued);
        assert_eq!(c.queued_bytes(), 0);
        // The batches joined are the frames in the order queued.
        let mut whole = open_conn();
        for payload in [&b"one"[..], b"two", b"three", b"four"] {
            queue(&mut whole, payload);
        }
        let mut expected = BytesMut::new();
        whole.take_transmit(&mut expected, usize::MAX);
        assert_eq!(all, expected);
    }

    /// The bound is inclusive: frames that sum to exactly `max` go in one batch.
    #[test]
    fn a_take_bounded_at_two_frames_takes_exactly_two() {
        let mut c = open_conn();
        for _ in 0..3 {
            queue(&mut c, b"abc");
        }
        let frame = c.queued_bytes() / 3;
        let mut buf = BytesMut::new();
        assert_eq!(c.take_transmit(&mut buf, 2 * frame), 2 * frame);
        assert_eq!(c.queued_bytes(), frame);
    }

    #[test]
    fn a_watched_frame_is_reported_once_its_last_byte_is_written() {
        let mut c = open_conn();
        // An unwatched batch the driver never reports does not shift the count.
        queue(&mut c, b"before");
        let mut buf = BytesMut::new();
        c.take_transmit(&mut buf, usize::MAX);
        let first = queue(&mut c, b"first");
        let taken_back = queue(&mut c, b"cancelled");
        let second = queue(&mut c, b"second");
        c.watch_written(first, (CallId(1), NodeId(1)));
        c.watch_written(taken_back, (CallId(2), NodeId(1)));
        c.watch_written(second, (CallId(3), NodeId(1)));
        c.take_back(taken_back);
        let mut buf = BytesMut::new();
        let n = c.take_transmit(&mut buf, usize::MAX);
        assert!(c.awaits_write());
        // One byte short of the first frame: nothing yet.
        let whole_first = queue_len(b"first");
        assert!(c.written(whole_first - 1).is_empty());
        assert_eq!(c.written(1), [(CallId(1), NodeId(1))]);
        assert!(c.awaits_write());
        // The taken-back frame is not reported; the second is, with the last byte.
        assert_eq!(c.written(n - whole_first), [(CallId(3), NodeId(1))]);
        assert!(!c.awaits_write());
    }

    fn queue_len(payload: &[u8]) -> usize {
        let mut c = open_conn();
        queue(&mut c, payload);
        c.queued_bytes()
    }
}
