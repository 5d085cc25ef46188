//! [`EventBrokerBuilder`]: handlers, their configuration, middleware, hooks and bounds.

use super::hooks::{Hook, InputMiddleware, OutputMiddleware};
use super::outcome::{Collector, Counter};
use super::{
    BrokerError, DEFAULT_MAX_BUFFERED_EVENTS, DEFAULT_MAX_EVENTS_PER_RESOLVE, EventBroker,
    Forwarded, HandlerConfig, Inner, Slot, Slots, Verdict, observe,
};
use crate::event::ArvoEvent;
use crate::handler::DynEventHandler;
use crate::registry::IntoHandler;
use std::fmt;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::{Semaphore, mpsc};

/// Builds an [`EventBroker`]; see [`EventBroker::builder`].
#[must_use]
pub struct EventBrokerBuilder {
    handlers: Vec<(Arc<dyn DynEventHandler>, HandlerConfig)>,
    defaults: HandlerConfig,
    input_mw: Vec<InputMiddleware>,
    output_mw: Vec<OutputMiddleware>,
    on_domained: Option<Hook>,
    on_unroutable: Option<Hook>,
    max_events_per_resolve: usize,
    max_buffered: usize,
    /// Why registered values could not become handlers (reported by `build`).
    invalid: Vec<String>,
    pub(super) observers: Vec<observe::Observer>,
}

impl fmt::Debug for EventBrokerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sources: Vec<&str> = self.handlers.iter().map(|(h, _)| h.source()).collect();
        f.debug_struct("EventBrokerBuilder")
            .field("handlers", &sources)
            .field("defaults", &self.defaults)
            .field("max_events_per_resolve", &self.max_events_per_resolve)
            .field("max_buffered_events", &self.max_buffered)
            .finish_non_exhaustive()
    }
}

impl EventBrokerBuilder {
    /// An empty builder (see [`EventBroker::builder`]).
    pub(super) fn new() -> Self {
        EventBrokerBuilder {
            handlers: Vec::new(),
            defaults: HandlerConfig::default(),
            input_mw: Vec::new(),
            output_mw: Vec::new(),
            on_domained: None,
            on_unroutable: None,
            max_events_per_resolve: DEFAULT_MAX_EVENTS_PER_RESOLVE,
            max_buffered: DEFAULT_MAX_BUFFERED_EVENTS,
            invalid: Vec::new(),
            observers: Vec::new(),
        }
    }

    /// The configuration of handlers registered with [`handler`](Self::handler) (default:
    /// [`HandlerConfig::default`]).
    pub fn defaults(mut self, config: HandlerConfig) -> Self {
        self.defaults = config;
        self
    }

    /// The most events one [`resolve`](EventBroker::resolve) may produce, counting the
    /// initiating event and every event its handlers and hooks emit (default
    /// [`DEFAULT_MAX_EVENTS_PER_RESOLVE`]; values below 1 count as 1; `usize::MAX` disables the
    /// budget). Past it the workflow is stopped and `resolve` fails with
    /// [`BrokerError::EventBudgetExceeded`], naming the event types of the cycle. In the
    /// detached workflow ([`EventBroker::publish`]) the budget bounds what follows from each
    /// published event instead (see the [module docs](super#limits-cycles-and-memory)).
    ///
    /// ```
    /// use arvo_runtime::broker::EventBroker;
    /// let broker = EventBroker::builder().max_events_per_resolve(10_000).build()?;
    /// # Ok::<(), arvo_runtime::broker::BrokerError>(())
    /// ```
    pub fn max_events_per_resolve(mut self, max: usize) -> Self {
        self.max_events_per_resolve = max.max(1);
        self
    }

    /// The most events the broker holds at once over all workflows: queued, running, or
    /// emitted and not yet routed (default [`DEFAULT_MAX_BUFFERED_EVENTS`]; values below 2
    /// count as 2). External producers ([`EventBroker::publish`], [`EventBroker::resolve`])
    /// wait while half of it is used, so handlers always have the other half for what they
    /// emit; outputs that would exceed it are not routed (see the
    /// [module docs](super#limits-cycles-and-memory)).
    pub fn max_buffered_events(mut self, max: usize) -> Self {
        self.max_buffered = max.max(2);
        self
    }

    /// Registers a handler with the [`defaults`](Self::defaults): anything [`IntoHandler`]
    /// (a handler, its builder, an `#[arvo_handler]` value, an `Arc<dyn DynEventHandler>`).
    pub fn handler(self, handler: impl IntoHandler) -> Self {
        let config = self.defaults.clone();
        self.handler_with(handler, config)
    }

    /// Registers a handler with its own configuration.
    pub fn handler_with(mut self, handler: impl IntoHandler, config: HandlerConfig) -> Self {
        match handler.into_handler() {
            Ok(handler) => self.handlers.push((handler, config)),
            Err(e) => self.invalid.push(e.0),
        }
        self
    }

    /// Adds an input middleware: `f(event, handler_source)` runs, in registration order, before
    /// a handler gets each event; it may pass, replace or reject it.
    ///
    /// ```
    /// use arvo_runtime::broker::{EventBroker, Verdict};
    /// let broker = EventBroker::builder()
    ///     .input_middleware(|event, _handler| match event.accesscontrol() {
    ///         Some(_) => Verdict::Pass,
    ///         None => Verdict::Reject("no accesscontrol".into()),
    ///     })
    ///     .build()?;
    /// # Ok::<(), arvo_runtime::broker::BrokerError>(())
    /// ```
    pub fn input_middleware<F>(mut self, f: F) -> Self
    where
        F: Fn(&ArvoEvent, &str) -> Verdict + Send + Sync + 'static,
    {
        self.input_mw.push(Arc::new(f));
        self
    }

    /// Adds an output middleware: `f(output, input, handler_source)` runs, in registration
    /// order, on each event a handler emitted, before it is routed; it may pass, replace or
    /// reject it (a rejected output is recorded as a failure and not routed).
    ///
    /// ```
    /// use arvo_runtime::broker::{EventBroker, Verdict};
    /// let broker = EventBroker::builder()
    ///     .output_middleware(|output, input, _handler| {
    ///         if output.parentid() == Some(input.id()) { Verdict::Pass }
    ///         else { Verdict::Reject("parentid is not the input's id".into()) }
    ///     })
    ///     .build()?;
    /// # Ok::<(), arvo_runtime::broker::BrokerError>(())
    /// ```
    pub fn output_middleware<F>(mut self, f: F) -> Self
    where
        F: Fn(&ArvoEvent, &ArvoEvent, &str) -> Verdict + Send + Sync + 'static,
    {
        self.output_mw.push(Arc::new(f));
        self
    }

    /// Sets the hook for events a handler emits with a non-null `domain`. Such events are never
    /// routed locally; the hook gets each one (after it is recorded in
    /// [`Resolution::domained`](super::Resolution::domained)) and may re-publish it with [`Forwarded::publish`]. The workflow
    /// waits for the hook to finish.
    ///
    /// ```
    /// use arvo_runtime::broker::EventBroker;
    /// let broker = EventBroker::builder()
    ///     .on_domained(|fwd| async move {
    ///         // e.g. a human approved: send the event on, now without a domain.
    ///         let _ = fwd.domain();
    ///     })
    ///     .build()?;
    /// # Ok::<(), arvo_runtime::broker::BrokerError>(())
    /// ```
    pub fn on_domained<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Forwarded) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.on_domained = Some(Arc::new(move |fwd| Box::pin(f(fwd))));
        self
    }

    /// Sets the hook for events no handler takes (no `to`, or a `to` no handler is registered
    /// for and that is not the workflow's reply address). Without a hook they are only recorded
    /// in [`Resolution::unroutable`](super::Resolution::unroutable) (and logged); with one, they are recorded and handed to it.
    pub fn on_unroutable<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Forwarded) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.on_unroutable = Some(Arc::new(move |fwd| Box::pin(f(fwd))));
        self
    }

    /// Builds the broker. Its worker tasks start on the tokio runtime of the first
    /// `publish` / `try_publish` / `resolve` and live as long as the broker (or that runtime):
    /// build one broker per runtime (per `#[tokio::test]`). Dropping the last clone of an idle
    /// broker drops its handlers, and what they hold, at once; the worker tasks end when the
    /// runtime next runs them.
    ///
    /// # Errors
    /// [`BrokerError::DuplicateHandler`] when two handlers share a source;
    /// [`BrokerError::InvalidConfig`] for a prefetch or queue capacity of 0 or past
    /// `tokio::sync::Semaphore::MAX_PERMITS`;
    /// [`BrokerError::InvalidHandler`] when a registered builder could not be built.
    pub fn build(self) -> Result<EventBroker, BrokerError> {
        if let Some(reason) = self.invalid.into_iter().next() {
            return Err(BrokerError::InvalidHandler { reason });
        }
        let mut slots = Slots::with_capacity_and_hasher(self.handlers.len(), Default::default());
        for (handler, config) in self.handlers {
            let source = handler.source().to_owned();
            let invalid = |reason: &str| BrokerError::InvalidConfig {
                handler: source.clone(),
                reason: reason.to_owned(),
            };
            if config.prefetch == 0 {
                return Err(invalid("prefetch must be at least 1"));
            }
            if config.queue_capacity == 0 {
                return Err(invalid("queue_capacity must be at least 1"));
            }
            if config.queue_capacity > Semaphore::MAX_PERMITS {
                return Err(invalid("queue_capacity is too large"));
            }
            // Its dispatcher counts the events in progress with a semaphore, whose constructor
            // panics past this.
            if config.prefetch > Semaphore::MAX_PERMITS {
                return Err(invalid("prefetch is too large"));
            }
            if slots.contains_key(&source) {
                return Err(BrokerError::DuplicateHandler { handler: source });
            }
            let (tx, rx) = mpsc::channel(config.queue_capacity);
            let slot = Slot {
                handler,
                config,
                tx,
                rx: Mutex::new(Some(rx)),
                busy: AtomicUsize::new(0),
                exec: Semaphore::new(1),
            };
            slots.insert(source, Arc::new(slot));
        }
        Ok(EventBroker {
            inner: Arc::new(Inner {
                slots,
                input_mw: self.input_mw,
                output_mw: self.output_mw,
                observers: self.observers,
                on_domained: self.on_domained,
                on_unroutable: self.on_unroutable,
                global: Arc::new(Counter::with_room_at(self.max_buffered / 2)),
                detached: Collector::detached(self.max_events_per_resolve),
                max_events_per_resolve: self.max_events_per_resolve,
                max_buffered: self.max_buffered,
                started: OnceLock::new(),
                tasks: Mutex::new(Vec::new()),
            }),
        })
    }
}
