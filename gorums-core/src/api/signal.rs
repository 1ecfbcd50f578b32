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
    /// Handlers waiting for this connection to close (`ServerCtx::cancelled`), by
    /// watcher id; a watcher removes its entry when dropped.
    watchers: Mutex<Watchers>,
}

#[derive(Default)]
struct Watchers {
    next: u64,
    waiting: std::collections::BTreeMap<u64, Waker>,
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

    /// Marks the connection closed; returns the wakers of its tasks and watchers.
    pub(crate) fn close(&self) -> Vec<Waker> {
        self.closed.store(true, Ordering::Release);
        let mut wakers: Vec<Waker> = self.slots().iter_mut().filter_map(Option::take).collect();
        let watchers = std::mem::take(&mut self.watchers().waiting);
        wakers.extend(watchers.into_values());
        wakers
    }

    fn watchers(&self) -> std::sync::MutexGuard<'_, Watchers> {
        self.watchers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wakes `waker` when the connection closes (at once if it has). `id` is the
    /// watcher's entry, given on its first call; [`unwatch`](Self::unwatch) it when done.
    pub(crate) fn watch(&self, id: &mut Option<u64>, waker: &Waker) {
        let mut watchers = self.watchers();
        let key = *id.get_or_insert_with(|| {
            watchers.next += 1;
            watchers.next
        });
        watchers.waiting.insert(key, waker.clone());
        drop(watchers);
        if self.is_closed() {
            waker.wake_by_ref();
        }
    }

    /// Removes a watcher's entry (its future was dropped or is done).
    pub(crate) fn unwatch(&self, id: u64) {
        self.watchers().waiting.remove(&id);
    }

    /// How many watchers are registered: a done or dropped watcher must leave none.
    #[cfg(test)]
    pub(crate) fn watchers_waiting(&self) -> usize {
        self.watchers().waiting.len()
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
