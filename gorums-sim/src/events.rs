//! The event queue: what happens at which virtual time ([`Event`]), kept in
//! `(time, sequence)` order so that two events at one instant fire in the order they
//! were scheduled.

use std::collections::BTreeMap;
use std::task::Waker;

use crate::faults::Fault;
use crate::ids::ConnId;

/// Where an event sits in the queue: its time and its scheduling sequence number.
pub(crate) type EventKey = (u64, u64);

/// Something that happens at a virtual time.
pub(crate) enum Event {
    /// A timer: wake its task.
    Wake(Waker),
    /// Bytes (or the end) of one direction of a connection arrive.
    Deliver { conn: ConnId, dir: usize },
    /// A connection request reaches its listener (or finds none).
    ConnectArrive(ConnId),
    /// The dialler learns the outcome of its connection request.
    ConnectDone(ConnId),
    /// A scripted or random fault, or the undoing of one.
    Fault(Fault),
    /// Time to draw the next random fault.
    RandomFault,
}

/// Pending events in firing order.
#[derive(Default)]
pub(crate) struct EventQueue {
    seq: u64,
    events: BTreeMap<EventKey, Event>,
}

impl EventQueue {
    /// Queues `event` at `at`, or at `now` if `at` has passed; returns its key.
    pub(crate) fn schedule(&mut self, now: u64, at: u64, event: Event) -> EventKey {
        self.seq += 1;
        let key = (at.max(now), self.seq);
        self.events.insert(key, event);
        key
    }

    /// The key of the next event to fire.
    pub(crate) fn first(&self) -> Option<EventKey> {
        self.events.first_key_value().map(|(&key, _)| key)
    }

    /// Takes the event at `key` out of the queue.
    pub(crate) fn remove(&mut self, key: &EventKey) -> Option<Event> {
        self.events.remove(key)
    }

    /// The event at `key`, still queued.
    pub(crate) fn get_mut(&mut self, key: &EventKey) -> Option<&mut Event> {
        self.events.get_mut(key)
    }

    /// Whether nothing is pending.
    pub(crate) fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Takes every pending event (to drop them outside the world's lock).
    pub(crate) fn take_all(&mut self) -> BTreeMap<EventKey, Event> {
        std::mem::take(&mut self.events)
    }
}
