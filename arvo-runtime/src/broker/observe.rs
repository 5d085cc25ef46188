//! Observers: callbacks that see every event the broker routes (what the demo's printer did
//! with an input middleware, as a library feature).

use super::EventBrokerBuilder;
use crate::event::ArvoEvent;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

/// A registered observer.
pub(super) type Observer = Arc<dyn Fn(&ArvoEvent) + Send + Sync>;

impl EventBrokerBuilder {
    /// Adds an observer: `f(event)` is called, in registration order, for every event the
    /// broker routes, once each: the events given to `publish` / `resolve`, every event a
    /// handler emits (after the output middleware; replies to the caller, domained and
    /// unroutable events included) and events re-published by hooks. It runs on the routing
    /// path, so keep it short (print, count, send to a channel); a panic in it is caught and
    /// logged, and routing goes on.
    ///
    /// ```
    /// use arvo_runtime::broker::EventBroker;
    /// use std::sync::{Arc, Mutex};
    /// let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    /// let log = seen.clone();
    /// let broker = EventBroker::builder()
    ///     .observe(move |e| log.lock().unwrap().push(e.event_type().to_owned()))
    ///     .build()?;
    /// # let _ = broker;
    /// # Ok::<(), arvo_runtime::broker::BrokerError>(())
    /// ```
    pub fn observe<F>(mut self, f: F) -> Self
    where
        F: Fn(&ArvoEvent) + Send + Sync + 'static,
    {
        self.observers.push(Arc::new(f));
        self
    }
}

/// Shows `event` to every observer; a panicking observer is logged and skipped.
pub(super) fn notify(observers: &[Observer], event: &ArvoEvent) {
    for observer in observers {
        if catch_unwind(AssertUnwindSafe(|| observer(event))).is_err() {
            tracing::warn!(event_id = event.id(), "a broker observer panicked");
        }
    }
}
