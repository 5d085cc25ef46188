//! The in-process event broker (arvo-event-handler §9 `SimpleEventBroker` /
//! `createSimpleEventBroker`, with the features of `@arvo-tools/concurrent`'s
//! `ConcurrentEventBroker`).
//!
//! An [`EventBroker`] holds handlers ([`DynEventHandler`]s, one per `source`) and routes every
//! event to the handler whose `source` equals the event's `to`. Each handler has its own
//! bounded FIFO queue, served with at most [`HandlerConfig::prefetch`] executions at a time;
//! failures go through the handler's [`OnError`] policy (retries with backoff, fail, or
//! suppress). Input and output middleware see every event on its way into and out of a
//! handler. Events a handler emits with a non-null `domain` are not routed locally but handed
//! to the domained hook, and events nobody takes to the unroutable hook; both are always
//! recorded in the [`Outcome`], never silently dropped.
//!
//! [`EventBroker::resolve`] publishes an event and waits until its workflow has no work left,
//! then returns the workflow's [`Outcome`]: the events delivered back to the event's `source`
//! (the last one is the [`result`](Outcome::result)), failures, unroutable and domained events.
//!
//! ```
//! use arvo_runtime::broker::EventBroker;
//! use arvo_runtime::event::ArvoEvent;
//! use arvo_runtime::handler::{EventHandler, ParentContext, Violation};
//! use serde_json::json;
//! use std::sync::Arc;
//!
//! /// Answers `com.example.greet` events with a greeting, back to whoever asked.
//! struct Greeter;
//! impl EventHandler for Greeter {
//!     fn source(&self) -> &str { "com.example.greet" }
//!     fn system_error_type(&self) -> &str { "sys.com.example.greet.error" }
//!     async fn execute(&self, event: &ArvoEvent, _: ParentContext) -> Result<Vec<ArvoEvent>, Violation> {
//!         let name = event.data()["name"].as_str().unwrap_or("stranger");
//!         let reply = ArvoEvent::builder()
//!             .source("com.example.greet").event_type("evt.greet.done").subject(event.subject())
//!             .to(event.source()).parentid(event.id())
//!             .data_json(json!({ "greeting": format!("hello {name}") }))
//!             .build().map_err(|e| Violation::execution(e.to_string()))?;
//!         Ok(vec![reply])
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
//! let broker = EventBroker::builder().handler(Arc::new(Greeter)).build()?;
//! let ask = ArvoEvent::builder()
//!     .source("com.client").event_type("com.example.greet").subject("s-1")
//!     .data_json(json!({ "name": "ada" })).build()?; // `to` defaults to the type
//! let outcome = broker.resolve(ask).await?;
//! assert!(outcome.is_ok());
//! assert_eq!(outcome.result().map(|e| e.data()["greeting"].clone()), Some(json!("hello ada")));
//! # Ok::<(), Box<dyn std::error::Error>>(()) })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Workflows: how concurrent `resolve` calls are kept apart
//! Every event the broker holds belongs to exactly one *workflow*: the one of the
//! [`resolve`](EventBroker::resolve) that published it, or of the handler execution that
//! emitted it, or of the hook ([`Forwarded::publish`]) that re-published it. Events published
//! with [`EventBroker::publish`] belong to the broker's *detached* workflow
//! ([`EventBroker::take_detached_outcome`]). Correlation is by causal lineage, not by subject,
//! so concurrent `resolve` calls on one broker, even with the same `source` and subject, each
//! get exactly their own events, and a workflow is finished when none of its events is queued
//! or running. An event a handler emits whose `to` is the initiating event's `source` is a
//! reply: it is collected into [`Outcome::events`] instead of being routed.
//!
//! ## Ordering and backpressure
//! Each handler's queue is FIFO: events are taken in the order they were enqueued, and the
//! events one handler execution emits are enqueued in emission order, so with `prefetch = 1` a
//! handler sees a fan-out `[e0, e1, e2]` as `e0, e1, e2`. With `prefetch = N` up to N events run
//! at once (they start in FIFO order but may finish in any order). Queues are bounded:
//! [`EventBroker::publish`] waits for room, [`EventBroker::try_publish`] fails fast with
//! [`BrokerError::QueueFull`]. A handler's execution slot is released before its outputs are
//! forwarded, so cyclic topologies (orchestrator ⇄ service) keep moving when queues fill up.
//! Retries happen in place, holding the execution slot during the backoff.
//!
//! ## Deliberate differences from the reference (`SimpleEventBroker`, spec §14.2)
//! * **FIFO, not LIFO.** The reference documents FIFO but takes the *last* queued event
//!   (`Array.pop()`): its own vector `simple_event_broker.json` shows a fan-out `i = 0, 1, 2`
//!   processed as `2, 1, 0`. Here it is `0, 1, 2` (tested in `tests/broker_spec.rs`).
//! * **No sleep.** The reference waits 1 ms before every event; this broker does not.
//! * Domained events are recorded in the outcome even without a hook (the reference drops
//!   them silently); unroutable events likewise.
//! * Duplicate sources are refused at [`EventBrokerBuilder::build`] (the reference's
//!   `assertUnique` lets a second subscriber through).
//! * `resolve` keeps no subscription: the same source can be resolved any number of times,
//!   concurrently.
//! * Bounded queues wait instead of throwing (`Event queue is full`) on `publish`.

mod config;
mod hooks;
mod observe;
mod outcome;

pub use config::{HandlerConfig, OnError, RetryPolicy};
pub use hooks::{Forwarded, Verdict};
pub use outcome::{Failure, FailureKind, Outcome};

use crate::event::ArvoEvent;
use crate::handler::{DynEventHandler, ParentContext};
use crate::registry::IntoHandler;
use futures_util::FutureExt;
use hooks::{Hook, InputMiddleware, OutputMiddleware};
use outcome::{Collector, Counter, WorkToken};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinHandle;

/// Errors of the broker's own operations (handler failures are not errors of `resolve`: they
/// are recorded in its [`Outcome`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokerError {
    /// The event has no `to`, so it cannot be routed (the reference's message).
    #[error("Event must have a \"to\" property (event id '{event_id}')")]
    MissingTo {
        /// The event's id.
        event_id: String,
    },
    /// [`EventBroker::try_publish`] found the target queue full.
    #[error("Event queue is full (max size: {capacity}) for handler '{handler}'")]
    QueueFull {
        /// The handler whose queue is full.
        handler: String,
        /// Its capacity.
        capacity: usize,
    },
    /// [`EventBroker::try_publish`] found no handler for the event's `to` (the reference's
    /// message). [`EventBroker::publish`] records such events as unroutable instead.
    #[error("No handlers registered for event type: {to}")]
    NoHandler {
        /// The event's `to`.
        to: String,
    },
    /// `resolve` was given an event whose `source` is a registered handler, so replies could
    /// not be told from requests (the reference's message).
    #[error(
        "The event source cannot be one of the handlers in the broker. Please update the event.source, the given is '{given}'"
    )]
    SourceIsHandler {
        /// The event's source.
        given: String,
    },
    /// Two handlers with the same `source` were registered (the reference's message).
    #[error("Only one subscriber allowed per topic: {handler}")]
    DuplicateHandler {
        /// The duplicated source.
        handler: String,
    },
    /// A value given to [`EventBrokerBuilder::handler`] could not be built into a handler.
    #[error("A registered handler could not be built: {reason}")]
    InvalidHandler {
        /// The build error.
        reason: String,
    },
    /// A handler's configuration is unusable.
    #[error("Invalid configuration of handler '{handler}': {reason}")]
    InvalidConfig {
        /// The handler.
        handler: String,
        /// What is wrong.
        reason: String,
    },
}

/// A queued event and the work it stands for in its workflow.
struct Envelope {
    event: ArvoEvent,
    token: WorkToken,
}

/// One registered handler and its queue.
struct Slot {
    handler: Arc<dyn DynEventHandler>,
    config: HandlerConfig,
    tx: mpsc::Sender<Envelope>,
    rx: Mutex<Option<mpsc::Receiver<Envelope>>>,
}

pub(crate) struct Inner {
    slots: HashMap<String, Arc<Slot>>,
    input_mw: Vec<InputMiddleware>,
    output_mw: Vec<OutputMiddleware>,
    observers: Vec<observe::Observer>,
    on_domained: Option<Hook>,
    on_unroutable: Option<Hook>,
    pub(crate) global: Arc<Counter>,
    detached: Arc<Collector>,
    started: OnceLock<()>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let tasks = self.tasks.get_mut().unwrap_or_else(PoisonError::into_inner);
        for task in tasks.drain(..) {
            task.abort();
        }
    }
}

/// An in-process event broker. Cheap to clone (clones share the broker); safe to use from
/// many tasks at once. See the [module docs](self).
#[derive(Clone)]
pub struct EventBroker {
    inner: Arc<Inner>,
}

impl fmt::Debug for EventBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventBroker")
            .field("handlers", &self.handlers())
            .field("pending", &self.inner.global.pending())
            .finish_non_exhaustive()
    }
}

/// Builds an [`EventBroker`]; see [`EventBroker::builder`].
#[must_use]
pub struct EventBrokerBuilder {
    handlers: Vec<(Arc<dyn DynEventHandler>, HandlerConfig)>,
    defaults: HandlerConfig,
    input_mw: Vec<InputMiddleware>,
    output_mw: Vec<OutputMiddleware>,
    on_domained: Option<Hook>,
    on_unroutable: Option<Hook>,
    /// Why registered values could not become handlers (reported by `build`).
    invalid: Vec<String>,
    observers: Vec<observe::Observer>,
}

impl fmt::Debug for EventBrokerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sources: Vec<&str> = self.handlers.iter().map(|(h, _)| h.source()).collect();
        f.debug_struct("EventBrokerBuilder")
            .field("handlers", &sources)
            .field("defaults", &self.defaults)
            .finish_non_exhaustive()
    }
}

impl EventBrokerBuilder {
    /// The configuration of handlers registered with [`handler`](Self::handler) (default:
    /// [`HandlerConfig::default`]).
    pub fn defaults(mut self, config: HandlerConfig) -> Self {
        self.defaults = config;
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
    /// [`Outcome::domained`]) and may re-publish it with [`Forwarded::publish`]. The workflow
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
    /// in [`Outcome::unroutable`] (and logged); with one, they are recorded and handed to it.
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
    /// build one broker per runtime (per `#[tokio::test]`).
    ///
    /// # Errors
    /// [`BrokerError::DuplicateHandler`] when two handlers share a source;
    /// [`BrokerError::InvalidConfig`] for a prefetch or queue capacity of 0;
    /// [`BrokerError::InvalidHandler`] when a registered builder could not be built.
    pub fn build(self) -> Result<EventBroker, BrokerError> {
        if let Some(reason) = self.invalid.into_iter().next() {
            return Err(BrokerError::InvalidHandler { reason });
        }
        let mut slots = HashMap::with_capacity(self.handlers.len());
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
            if slots.contains_key(&source) {
                return Err(BrokerError::DuplicateHandler { handler: source });
            }
            let (tx, rx) = mpsc::channel(config.queue_capacity);
            let slot = Slot {
                handler,
                config,
                tx,
                rx: Mutex::new(Some(rx)),
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
                global: Arc::new(Counter::default()),
                detached: Collector::new(None),
                started: OnceLock::new(),
                tasks: Mutex::new(Vec::new()),
            }),
        })
    }
}

impl EventBroker {
    /// Starts a broker with no handlers and default configuration.
    pub fn builder() -> EventBrokerBuilder {
        EventBrokerBuilder {
            handlers: Vec::new(),
            defaults: HandlerConfig::default(),
            input_mw: Vec::new(),
            output_mw: Vec::new(),
            on_domained: None,
            on_unroutable: None,
            invalid: Vec::new(),
            observers: Vec::new(),
        }
    }

    /// The sources of the registered handlers (the routing topics), sorted.
    pub fn handlers(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.inner.slots.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// How many events wait in the queue of handler `source` (not counting running ones), or
    /// `None` for an unknown source.
    pub fn queue_len(&self, source: &str) -> Option<usize> {
        let slot = self.inner.slots.get(source)?;
        Some(slot.tx.max_capacity() - slot.tx.capacity())
    }

    /// How many events are queued or running in all workflows.
    pub fn pending(&self) -> usize {
        self.inner.global.pending()
    }

    /// Publishes an event into the broker's detached workflow (see the
    /// [module docs](self#workflows-how-concurrent-resolve-calls-are-kept-apart)) and returns
    /// once it is queued. Waits while the target queue is full. An event for an unknown `to`
    /// goes to the unroutable hook and is recorded. `domain` is not looked at: a published
    /// event is routed by `to` (as the reference's `broker.publish`).
    ///
    /// # Errors
    /// [`BrokerError::MissingTo`] when the event has no `to`.
    pub async fn publish(&self, event: ArvoEvent) -> Result<(), BrokerError> {
        self.inner.ensure_started();
        if event.to().is_none() {
            return Err(BrokerError::MissingTo {
                event_id: event.id().to_owned(),
            });
        }
        let token = WorkToken::new(self.inner.detached.clone(), self.inner.global.clone());
        self.inner.deliver(event, &token, false).await;
        Ok(())
    }

    /// Like [`publish`](Self::publish) but never waits: fails when the target queue is full.
    ///
    /// # Errors
    /// [`BrokerError::MissingTo`], [`BrokerError::NoHandler`] for an unknown `to`,
    /// [`BrokerError::QueueFull`].
    pub fn try_publish(&self, event: ArvoEvent) -> Result<(), BrokerError> {
        self.inner.ensure_started();
        let Some(to) = event.to() else {
            return Err(BrokerError::MissingTo {
                event_id: event.id().to_owned(),
            });
        };
        let Some(slot) = self.inner.slots.get(to) else {
            return Err(BrokerError::NoHandler { to: to.to_owned() });
        };
        observe::notify(&self.inner.observers, &event);
        let token = WorkToken::new(self.inner.detached.clone(), self.inner.global.clone());
        match slot.tx.try_send(Envelope { event, token }) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(BrokerError::QueueFull {
                handler: slot.handler.source().to_owned(),
                capacity: slot.config.queue_capacity,
            }),
            // Unreachable while `self` lives (the receiver lives with the broker); recorded so
            // the event is not lost.
            Err(TrySendError::Closed(env)) => {
                self.inner.detached.outcome().unroutable.push(env.event);
                Ok(())
            }
        }
    }

    /// Publishes `event` as a new workflow, waits until the workflow has no work left, and
    /// returns its [`Outcome`]. Handler failures do not make this fail: they are in
    /// [`Outcome::errors`]. Waits as long as the workflow runs (wrap it in
    /// `tokio::time::timeout` to bound it). Any number of `resolve` calls may run at once.
    ///
    /// # Errors
    /// [`BrokerError::MissingTo`], [`BrokerError::SourceIsHandler`].
    pub async fn resolve(&self, event: ArvoEvent) -> Result<Outcome, BrokerError> {
        if self.inner.slots.contains_key(event.source()) {
            return Err(BrokerError::SourceIsHandler {
                given: event.source().to_owned(),
            });
        }
        if event.to().is_none() {
            return Err(BrokerError::MissingTo {
                event_id: event.id().to_owned(),
            });
        }
        self.inner.ensure_started();
        let collector = Collector::new(Some(event.source().to_owned()));
        {
            let token = WorkToken::new(collector.clone(), self.inner.global.clone());
            self.inner.deliver(event, &token, false).await;
        }
        collector.work.wait_idle().await;
        Ok(collector.take())
    }

    /// Waits until no workflow has work left (all queues empty, no handler running).
    pub async fn idle(&self) {
        self.inner.global.wait_idle().await;
    }

    /// Takes what the detached workflow (events from [`publish`](Self::publish) /
    /// [`try_publish`](Self::try_publish)) produced so far: failures, unroutable and domained
    /// events. Its `events` stay empty (a detached workflow has no reply address).
    pub fn take_detached_outcome(&self) -> Outcome {
        self.inner.detached.take()
    }
}

impl Inner {
    /// Spawns one dispatcher per handler on the current runtime, once.
    fn ensure_started(self: &Arc<Self>) {
        if self.started.get().is_some() || tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        self.started.get_or_init(|| {
            let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
            for slot in self.slots.values() {
                let rx = slot
                    .rx
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                if let Some(rx) = rx {
                    let task = dispatch(Arc::downgrade(self), slot.clone(), rx);
                    tasks.push(tokio::spawn(task));
                }
            }
        });
    }

    /// Routes one event of the workflow of `parent`: to the domained hook (when
    /// `check_domain` and it has a domain), back to the workflow's caller, to a handler's
    /// queue (waiting for room), or to the unroutable hook.
    async fn deliver(self: &Arc<Self>, event: ArvoEvent, parent: &WorkToken, check_domain: bool) {
        observe::notify(&self.observers, &event);
        let collector = &parent.collector;
        if check_domain && event.domain().is_some() {
            collector.outcome().domained.push(event.clone());
            if let Some(hook) = &self.on_domained {
                hook(self.forwarded(event, collector)).await;
            }
            return;
        }
        let to = event.to();
        if to.is_some() && to == collector.reply_to.as_deref() {
            collector.outcome().events.push(event);
            return;
        }
        let slot = to.and_then(|to| self.slots.get(to));
        let event = match slot {
            Some(slot) => {
                let envelope = Envelope {
                    event,
                    token: parent.fork(),
                };
                match slot.tx.send(envelope).await {
                    Ok(()) => return,
                    Err(mpsc::error::SendError(env)) => env.event,
                }
            }
            None => event,
        };
        tracing::warn!(
            event_id = event.id(),
            event_type = event.event_type(),
            to = event.to(),
            "no handler takes this event: recorded as unroutable"
        );
        collector.outcome().unroutable.push(event.clone());
        if let Some(hook) = &self.on_unroutable {
            hook(self.forwarded(event, collector)).await;
        }
    }

    fn forwarded(self: &Arc<Self>, event: ArvoEvent, collector: &Arc<Collector>) -> Forwarded {
        Forwarded {
            event,
            inner: self.clone(),
            collector: collector.clone(),
        }
    }

    fn record(&self, slot: &Slot, collector: &Collector, failure: Failure) {
        tracing::warn!(
            handler = slot.handler.source(),
            event_id = failure.event.id(),
            attempts = failure.attempts,
            error = %failure.kind,
            "event handling failed"
        );
        let mut outcome = collector.outcome();
        match slot.config.on_error {
            OnError::Suppress => outcome.suppressed.push(failure),
            OnError::Retry(_) | OnError::Fail => outcome.errors.push(failure),
        }
    }
}

/// Serves one handler's queue: takes events in FIFO order, at most `prefetch` running.
async fn dispatch(inner: Weak<Inner>, slot: Arc<Slot>, mut rx: mpsc::Receiver<Envelope>) {
    let permits = Arc::new(Semaphore::new(slot.config.prefetch));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let Some(envelope) = rx.recv().await else {
            return;
        };
        let Some(inner) = inner.upgrade() else {
            return;
        };
        tokio::spawn(process(inner, slot.clone(), envelope, permit));
    }
}

/// Handles one event: input middleware, execution with the on-error policy, output
/// middleware, routing of the outputs.
async fn process(
    inner: Arc<Inner>,
    slot: Arc<Slot>,
    envelope: Envelope,
    permit: OwnedSemaphorePermit,
) {
    let Envelope { mut event, token } = envelope;
    let source = slot.handler.source();
    for mw in &inner.input_mw {
        match mw(&event, source) {
            Verdict::Pass => {}
            Verdict::Replace(e) => event = *e,
            Verdict::Reject(reason) => {
                let failure = Failure {
                    handler: source.to_owned(),
                    event: Box::new(event),
                    attempts: 0,
                    kind: FailureKind::InputRejected(reason),
                };
                token.collector.outcome().errors.push(failure);
                return;
            }
        }
    }
    let mut attempts = 0u32;
    let outputs = loop {
        attempts += 1;
        let run = AssertUnwindSafe(slot.handler.execute_dyn(&event, ParentContext::Event));
        let kind = match run.catch_unwind().await {
            Ok(Ok(outputs)) => break outputs,
            Ok(Err(violation)) => FailureKind::Violation(violation),
            Err(panic) => FailureKind::Panic(panic_message(panic.as_ref())),
        };
        if let OnError::Retry(policy) = &slot.config.on_error
            && attempts <= policy.max_retries
        {
            tracing::debug!(handler = source, attempts, error = %kind, "retrying");
            tokio::time::sleep(policy.delay(attempts)).await;
            continue;
        }
        let failure = Failure {
            handler: source.to_owned(),
            event: Box::new(event),
            attempts,
            kind,
        };
        inner.record(&slot, &token.collector, failure);
        return;
    };
    drop(permit);
    token.collector.outcome().handled += 1;
    'outputs: for mut output in outputs {
        for mw in &inner.output_mw {
            match mw(&output, &event, source) {
                Verdict::Pass => {}
                Verdict::Replace(e) => output = *e,
                Verdict::Reject(reason) => {
                    let failure = Failure {
                        handler: source.to_owned(),
                        event: Box::new(output),
                        attempts,
                        kind: FailureKind::OutputRejected(reason),
                    };
                    token.collector.outcome().errors.push(failure);
                    continue 'outputs;
                }
            }
        }
        inner.deliver(output, &token, true).await;
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_owned()
    }
}
