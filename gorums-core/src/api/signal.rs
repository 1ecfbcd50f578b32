//! [`ConnSignal`]: how the engine's side tells a connection's task that it has bytes
//! to write or that the connection is done.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Waker;

/// Tells a connection's tasks that the engine is done with it, and wakes its writer when
/// the engine has bytes for it.
#[derive(Default)]
pub(crate) struct ConnSignal {
    closed: AtomicBool,
    wakers: Mutex<[Option<Waker>; 2]>,
}

/// Which of a connection's tasks parks on the signal.
#[derive(Clone, Copy)]
pub(crate) enum Role {
    Reader = 0,
    Writer = 1,
}

impl ConnSignal {
    fn slots(&self) -> std::sync::MutexGuard<'_, [Option<Waker>; 2]> {
        self.wakers.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Marks the connection closed; returns the wakers of its tasks.
    pub(crate) fn close(&self) -> Vec<Waker> {
        self.closed.store(true, Ordering::Release);
        self.slots().iter_mut().filter_map(Option::take).collect()
    }

    pub(crate) fn take_writer_waker(&self) -> Option<Waker> {
        self.slots()[Role::Writer as usize].take()
    }

    pub(crate) fn park(&self, role: Role, waker: &Waker) {
        let mut slots = self.slots();
        let slot = &mut slots[role as usize];
        if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *slot = Some(waker.clone());
        }
    }
}
