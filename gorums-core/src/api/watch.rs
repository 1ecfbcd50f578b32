//! [`ConfigWatch`]: a sub-configuration re-derived periodically.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;

use super::config::Configuration;
use crate::runtime::BoxFuture;

/// A stream of configurations derived from one, yielding the derived configuration at
/// once and then each time it changes, checked every interval. Dropping it ends the
/// watch.
pub struct ConfigWatch {
    base: Configuration,
    derive: Box<dyn Fn(&Configuration) -> Configuration + Send + Sync>,
    interval: Duration,
    last: Option<Configuration>,
    sleep: Option<BoxFuture<'static, ()>>,
}

impl std::fmt::Debug for ConfigWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigWatch")
            .field("base", &self.base)
            .field("last", &self.last)
            .finish_non_exhaustive()
    }
}

impl Configuration {
    /// Re-derives a sub-configuration every `interval` with `derive` (say, the two
    /// fastest nodes by latency) and yields it when it changes, the first at once.
    pub fn watch(
        &self,
        interval: Duration,
        derive: impl Fn(&Configuration) -> Configuration + Send + Sync + 'static,
    ) -> ConfigWatch {
        ConfigWatch {
            base: self.clone(),
            derive: Box::new(derive),
            interval,
            last: None,
            sleep: None,
        }
    }
}

impl Stream for ConfigWatch {
    type Item = Configuration;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Configuration>> {
        let this = self.get_mut();
        loop {
            if let Some(sleep) = &mut this.sleep {
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.sleep = None;
            }
            let derived = (this.derive)(&this.base);
            let rt = this.base.inner.rt.clone();
            this.sleep = Some(rt.sleep_until(rt.now() + this.interval));
            if this.last.as_ref() != Some(&derived) {
                this.last = Some(derived.clone());
                return Poll::Ready(Some(derived));
            }
        }
    }
}
