//! Waiting for peers: what `wait_for_config` and `wait_for_client_config` do, and the
//! system's graceful stop.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use super::config::Configuration;
use super::shared::{Inner, State};
use crate::engine::NodeId;

/// The system stopped while something waited on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the system stopped")]
pub struct Stopped;

/// Waits until the configuration of `members` satisfies `pred`, and returns it; fails
/// with [`Stopped`] if the system stops first. Dropping the future stops waiting.
pub(crate) async fn wait_for(
    inner: &Arc<Inner>,
    members: impl Fn(&State) -> Vec<NodeId>,
    pred: impl Fn(&Configuration) -> bool,
) -> Result<Configuration, Stopped> {
    let mut slot = WaiterSlot { inner, id: None };
    poll_fn(|cx| {
        let st = inner.lock();
        if st.stopped {
            return Poll::Ready(Err(Stopped));
        }
        let ids = members(&st);
        let version = st.membership_version;
        drop(st);
        let config = Configuration::from_ids(inner.clone(), ids);
        if pred(&config) {
            return Poll::Ready(Ok(config));
        }
        let mut st = inner.lock();
        if st.membership_version != version {
            // Changed while the predicate ran: look again at once.
            cx.waker().wake_by_ref();
        } else {
            // One entry per future, replaced on every poll: polling often adds nothing.
            let id = *slot.id.get_or_insert_with(|| {
                st.next_waiter += 1;
                st.next_waiter
            });
            st.membership_waiters.insert(id, cx.waker().clone());
        }
        Poll::Pending
    })
    .await
}

/// A waiting future's entry among the system's membership waiters, removed when the
/// future is dropped: a cancelled wait leaves no waker behind.
struct WaiterSlot<'a> {
    inner: &'a Arc<Inner>,
    id: Option<u64>,
}

impl Drop for WaiterSlot<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.inner.lock().membership_waiters.remove(&id);
        }
    }
}

/// Stops gracefully: stops accepting connections, lets running handlers finish for up to
/// `grace`, then closes every connection.
pub(crate) async fn shutdown(inner: &Arc<Inner>, grace: Duration) {
    inner.stop_listening();
    let deadline = inner.rt.now() + grace;
    let step = Duration::from_millis(5);
    // Handlers first, then the replies they queued, then the writers' last bytes.
    while (inner.upcalls.running_handlers() > 0
        || inner.lock().ep.queued_bytes() > 0
        || inner.writes_in_flight() > 0)
        && inner.rt.now() < deadline
    {
        inner
            .rt
            .sleep_until((inner.rt.now() + step).min(deadline))
            .await;
    }
    inner.shutdown();
}
