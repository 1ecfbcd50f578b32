//! [`Outputs`]: what the engine's sub-states produce for the driver, in one place: the
//! event queue and the deadlines.

use std::collections::VecDeque;

use super::timers::Timers;
use super::{ConnId, Event};

/// The events not yet drained and the deadlines set, shared by the sub-states of one
/// endpoint (each gets it as `&mut` for the command it handles).
#[derive(Debug, Default)]
pub(crate) struct Outputs {
    pub(crate) events: VecDeque<Event>,
    pub(crate) timers: Timers,
}

impl Outputs {
    pub(crate) fn push(&mut self, event: Event) {
        self.events.push_back(event);
    }

    /// Tells the driver that `conn` has bytes to write.
    pub(crate) fn transmit(&mut self, conn: ConnId) {
        self.events.push_back(Event::Transmit(conn));
    }
}
