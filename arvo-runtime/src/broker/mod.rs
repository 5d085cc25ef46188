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
//! recorded in the [`Resolution`], never silently dropped.
//!
//! [`EventBroker::resolve`] publishes an event and waits until its workflow has no work left,
//! then returns the workflow's [`Resolution`]: the events delivered back to the event's `source`
//! (the last one is the [`result`](Resolution::result)), failures, unroutable and domained events.
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
//! ([`EventBroker::take_detached_resolution`]). Correlation is by causal lineage, not by subject,
//! so concurrent `resolve` calls on one broker, even with the same `source` and subject, each
//! get exactly their own events, and a workflow is finished when none of its events is queued
//! or running. An event a handler emits whose `to` is the initiating event's `source` is a
//! reply: it is collected into [`Resolution::events`] instead of being routed.
//!
//! ## Ordering and backpressure
//! Each handler's queue is FIFO: events are taken in the order they were enqueued, and the
//! events one handler execution emits are enqueued in emission order, so with `prefetch = 1` a
//! handler sees a fan-out `[e0, e1, e2]` as `e0, e1, e2`. With `prefetch = N` up to N events run
//! at once (they start in FIFO order but may finish in any order). Queues are bounded:
//! [`EventBroker::publish`] waits for room, [`EventBroker::try_publish`] fails fast with
//! [`BrokerError::QueueFull`]. A handler's execution slot is released before its outputs are
//! forwarded, so cyclic topologies (orchestrator ⇄ service) keep moving when queues fill up.
//! With `prefetch = 1` (the default) a queue's own task executes its events, without a task per
//! event; only outputs that have to wait (a full queue, a hook) move the rest of that
//! execution's routing, in order, to a task of their own. A [`resolve`](EventBroker::resolve)
//! runs the events of its workflow whose `prefetch = 1` handler is idle (nothing queued or
//! running) itself, in the caller's task, under the same one-at-a-time execution slot and in
//! the same order: no task switch per event. An execution that does not finish at its first
//! poll, and anything that has to wait, goes on in a task of its own, so dropping `resolve`
//! never cancels a handler; after 64 such executions the rest of the workflow goes through the
//! queues.
//! Retries happen in place, holding the execution slot during the backoff.
//!
//! ## Limits: cycles and memory
//! A handler graph may loop (A emits to B, B back to A) or fan out without end; the broker
//! bounds both, so a `resolve` always ends and memory stays bounded whatever handlers emit:
//! * **Event budget per resolve** ([`EventBrokerBuilder::max_events_per_resolve`], default
//!   [`DEFAULT_MAX_EVENTS_PER_RESOLVE`]): every event of a `resolve`'s workflow counts (the
//!   initiating one, everything its handlers emit, what hooks re-publish). Past the budget the
//!   workflow is stopped: its outputs are dropped, its queued events are skipped without being
//!   run, and `resolve` fails with [`BrokerError::EventBudgetExceeded`], which lists the most
//!   frequent event types among the last 256 events before the limit: the cycle's types.
//!   Counting costs one atomic add per handler execution.
//! * **Buffer** ([`EventBrokerBuilder::max_buffered_events`], default
//!   [`DEFAULT_MAX_BUFFERED_EVENTS`]): [`EventBroker::pending`] counts every event the broker
//!   holds (queued, running, or emitted by a finished execution and not yet routed, which
//!   includes outputs waiting for room in a full queue) and never exceeds it. External
//!   producers ([`EventBroker::publish`], [`EventBroker::resolve`]) wait while the buffer is half
//!   full ([`EventBroker::try_publish`] fails with [`BrokerError::BufferFull`]): that is the
//!   backpressure. Outputs of handlers are never waited for (a finished execution waiting for
//!   room that only its own workflow can free would deadlock a cycle); when they do not fit
//!   in the whole buffer they are dropped and their workflow is stopped with
//!   [`BrokerError::BufferFull`] (in the detached workflow, which has no `resolve` to fail, a
//!   [`FailureKind::Dropped`] is recorded instead). A single execution's outputs must fit in
//!   the buffer.
//!
//! * **Run timeout** ([`HandlerConfig::run_timeout`], default none, as the reference): a
//!   handler run still going after it is cancelled and is a [`FailureKind::TimedOut`] (subject
//!   to the handler's on-error policy), so a handler that never returns frees its execution
//!   slot and its queue goes on.
//!
//! The detached workflow (events from [`EventBroker::publish`]) is not one run: it lasts as
//! long as the broker, so the budget applies to each published event instead: the event and
//! everything that follows from it (its handler's outputs, theirs, what hooks given them
//! publish) may be at most `max_events_per_resolve` events, as a `resolve`'s workflow. Outputs
//! past that are dropped and a [`FailureKind::Dropped`] with
//! [`BrokerError::EventBudgetExceeded`] (naming the types at both ends of the last edges) is
//! recorded in its resolution; a hook's [`Forwarded::publish`] fails with that error. So a
//! cycle, or a fan-out cycle, among detached events stops too, while any number of published
//! events run. The buffer bounds its memory.
//!
//! ## Panics in user code
//! A panic in a handler, a middleware or a hook never unwinds out of the broker. An
//! [`ArvoEventHandler`](crate::handler::ArvoEventHandler) or an
//! [`ArvoResumable`](crate::resumable::ArvoResumable) turns a panic of its implementation into
//! `sys.<type>.error` events itself (so an orchestrator waiting for a service hears of it), and
//! a resumable also writes its failure record and releases its lock; a hand-written
//! [`EventHandler`](crate::handler::EventHandler) that panics is a [`FailureKind::Panic`]
//! (subject to its on-error policy). A panicking middleware fails closed: the event is not
//! handed on, and a [`FailureKind::StagePanic`] naming the middleware is recorded in
//! [`Resolution::errors`]; a panicking hook is recorded the same way (its event is already in
//! [`Resolution::domained`] / [`Resolution::unroutable`]). So `resolve` never reports success for an
//! event it lost.
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
//! * A resolve is bounded (event budget, buffer; see above): the reference's `resolve` never
//!   returns on a cycle, and its queue grows without bound.
//! * A throwing middleware or hook loses nothing silently: it is a recorded failure.

mod builder;
mod config;
mod dispatch;
mod hooks;
mod observe;
mod outcome;

pub use builder::EventBrokerBuilder;
pub use config::{HandlerConfig, OnError, RetryPolicy};
pub use hooks::{Forwarded, Verdict};
pub use outcome::{Failure, FailureKind, Resolution, Stage};

use crate::event::ArvoEvent;
use crate::handler::{DynEventHandler, catch_panic};
use crate::issue::quote_prefix;
use dispatch::{Local, MAX_INLINE, Routing, detach, dispatch, execute};
use hooks::{Hook, InputMiddleware, OutputMiddleware};
use outcome::{Budget, Collector, Counter, Reservation, WorkToken, types_of};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::Poll;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;

/// Errors of the broker's own operations (handler failures are not errors of `resolve`: they
/// are recorded in its [`Resolution`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokerError {
    /// The event has no `to`, so it cannot be routed (the reference's message). Like every
    /// message of this enum, it quotes at most a bounded prefix of a value it names
    /// ([`quote_prefix`]); the fields hold the whole values.
    #[error(
        "Event must have a \"to\" property (event id '{}')",
        quote_prefix(event_id)
    )]
    MissingTo {
        /// The event's id.
        event_id: String,
    },
    /// [`EventBroker::try_publish`] found the target queue full.
    #[error(
        "Event queue is full (max size: {capacity}) for handler '{}'",
        quote_prefix(handler)
    )]
    QueueFull {
        /// The handler whose queue is full.
        handler: String,
        /// Its capacity.
        capacity: usize,
    },
    /// [`EventBroker::try_publish`] found no handler for the event's `to` (the reference's
    /// message). [`EventBroker::publish`] records such events as unroutable instead.
    #[error("No handlers registered for event type: {}", quote_prefix(to))]
    NoHandler {
        /// The event's `to`.
        to: String,
    },
    /// `resolve` was given an event whose `source` is a registered handler, so replies could
    /// not be told from requests (the reference's message).
    #[error(
        "The event source cannot be one of the handlers in the broker. Please update the event.source, the given is '{}'",
        quote_prefix(given)
    )]
    SourceIsHandler {
        /// The event's source.
        given: String,
    },
    /// Two handlers with the same `source` were registered (the reference's message).
    #[error("Only one subscriber allowed per topic: {}", quote_prefix(handler))]
    DuplicateHandler {
        /// The duplicated source.
        handler: String,
    },
    /// A `resolve`'s workflow produced more events than
    /// [`max_events_per_resolve`](EventBrokerBuilder::max_events_per_resolve) (a cycle, or a
    /// runaway fan-out): the workflow was stopped, its remaining events dropped. Lists the most
    /// frequent event types among the last events before the limit and the types their
    /// emitting handlers consume (an emitted event's source): the cycle's types.
    #[error(
        "The workflow exceeded its budget of {limit} events (a cycle between handlers?); most frequent event types before the limit: {}",
        fmt_types(event_types)
    )]
    EventBudgetExceeded {
        /// The budget.
        limit: usize,
        /// Event types with their counts among the last events before the limit and their
        /// sources (the types their handlers consume), most frequent first (at most 8).
        event_types: Vec<(String, usize)>,
    },
    /// The broker already holds
    /// [`max_buffered_events`](EventBrokerBuilder::max_buffered_events) events (queued,
    /// running, or emitted and not yet routed), so these could not be added: a `resolve`'s
    /// workflow is stopped with this error; [`EventBroker::try_publish`] and
    /// [`Forwarded::publish`] return it.
    #[error(
        "The broker's buffer is full ({limit} events held); event types that did not fit: {}",
        fmt_types(event_types)
    )]
    BufferFull {
        /// The buffer's bound.
        limit: usize,
        /// The types of the events that did not fit, with their counts (at most 8).
        event_types: Vec<(String, usize)>,
    },
    /// A value given to [`EventBrokerBuilder::handler`] could not be built into a handler.
    #[error("A registered handler could not be built: {reason}")]
    InvalidHandler {
        /// The build error.
        reason: String,
    },
    /// A handler's configuration is unusable.
    #[error(
        "Invalid configuration of handler '{}': {reason}",
        quote_prefix(handler)
    )]
    InvalidConfig {
        /// The handler.
        handler: String,
        /// What is wrong.
        reason: String,
    },
}

/// `type ×count, ...` for error messages.
fn fmt_types(types: &[(String, usize)]) -> String {
    let mut out = String::new();
    for (i, (t, c)) in types.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&quote_prefix(t));
        out.push_str(" ×");
        out.push_str(&c.to_string());
    }
    if out.is_empty() {
        out.push_str("(none)");
    }
    out
}

/// The default of [`EventBrokerBuilder::max_events_per_resolve`].
pub const DEFAULT_MAX_EVENTS_PER_RESOLVE: usize = 10_000;

/// The default of [`EventBrokerBuilder::max_buffered_events`].
pub const DEFAULT_MAX_BUFFERED_EVENTS: usize = 262_144;

/// A queued event and the work it stands for in its workflow.
struct Envelope {
    event: ArvoEvent,
    token: WorkToken,
}

/// What is left of a delivery that has to wait (see [`Inner::try_deliver`]); the token keeps
/// the workflow busy until it is done.
enum Pending {
    /// The handler's queue is full: wait for room.
    Queue(Arc<Slot>, Envelope),
    /// A domained event for the domained hook.
    Domained(ArvoEvent, WorkToken),
    /// An unroutable event for the unroutable hook.
    Unroutable(ArvoEvent, WorkToken),
}

/// One registered handler and its queue.
struct Slot {
    handler: Arc<dyn DynEventHandler>,
    config: HandlerConfig,
    tx: mpsc::Sender<Envelope>,
    rx: Mutex<Option<mpsc::Receiver<Envelope>>>,
    /// Events of this handler queued or executing (counted from before they are sent until
    /// their execution ended): 0 means idle, so a `resolve` may run an event inline.
    busy: AtomicUsize,
    /// The execution slot of a `prefetch = 1` handler, shared by its dispatcher and the
    /// `resolve` calls that run its events inline: at most one execution at a time.
    exec: Semaphore,
}

/// A `prefetch = 1` handler's execution slot, taken by a `resolve` that found the handler
/// idle (see [`Slot::claim`]); released (slot, then the busy count) on drop.
struct Claim {
    slot: Arc<Slot>,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.slot.exec.add_permits(1);
        self.slot.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Slot {
    /// Queues an envelope without waiting (counted busy while queued).
    fn try_send(&self, envelope: Envelope) -> Result<(), TrySendError<Envelope>> {
        self.busy.fetch_add(1, Ordering::AcqRel);
        self.tx.try_send(envelope).inspect_err(|_| {
            self.busy.fetch_sub(1, Ordering::AcqRel);
        })
    }

    /// Queues an envelope, waiting for room (counted busy while waiting and queued).
    async fn send(&self, envelope: Envelope) -> Result<(), mpsc::error::SendError<Envelope>> {
        self.busy.fetch_add(1, Ordering::AcqRel);
        self.tx.send(envelope).await.inspect_err(|_| {
            self.busy.fetch_sub(1, Ordering::AcqRel);
        })
    }

    /// Whether a `resolve` may run this handler's events inline: `prefetch = 1`, and nothing
    /// queued or executing now.
    fn is_idle(&self) -> bool {
        self.config.prefetch == 1 && self.busy.load(Ordering::Acquire) == 0
    }

    /// Takes the execution slot of an idle `prefetch = 1` handler: nothing is queued, so an
    /// event run now keeps the queue's FIFO order, and later events wait for the claim.
    fn claim(self: &Arc<Self>) -> Option<Claim> {
        if self.config.prefetch != 1
            || self
                .busy
                .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return None;
        }
        match self.exec.try_acquire() {
            Ok(permit) => {
                permit.forget();
                Some(Claim { slot: self.clone() })
            }
            Err(_) => {
                self.busy.fetch_sub(1, Ordering::AcqRel);
                None
            }
        }
    }
}

/// Handlers by source. foldhash: the lookup by `to` is on every delivery, and SipHash costs
/// several times more on names of 20-odd bytes; the keys are the registered sources only.
type Slots = HashMap<String, Arc<Slot>, foldhash::fast::RandomState>;

pub(crate) struct Inner {
    slots: Slots,
    input_mw: Vec<InputMiddleware>,
    output_mw: Vec<OutputMiddleware>,
    observers: Vec<observe::Observer>,
    on_domained: Option<Hook>,
    on_unroutable: Option<Hook>,
    pub(crate) global: Arc<Counter>,
    detached: Arc<Collector>,
    max_events_per_resolve: usize,
    max_buffered: usize,
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

impl EventBroker {
    /// Starts a broker with no handlers and default configuration.
    pub fn builder() -> EventBrokerBuilder {
        EventBrokerBuilder::new()
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

    /// How many events the broker holds in all workflows: queued, running, or emitted and not
    /// yet routed. Never more than [`max_buffered_events`](Self::max_buffered_events).
    pub fn pending(&self) -> usize {
        self.inner.global.pending()
    }

    /// The bound of [`pending`](Self::pending) (see
    /// [`EventBrokerBuilder::max_buffered_events`]).
    pub fn max_buffered_events(&self) -> usize {
        self.inner.max_buffered
    }

    /// The event budget of a `resolve` (see [`EventBrokerBuilder::max_events_per_resolve`]).
    pub fn max_events_per_resolve(&self) -> usize {
        self.inner.max_events_per_resolve
    }

    /// Publishes an event into the broker's detached workflow (see the
    /// [module docs](self#workflows-how-concurrent-resolve-calls-are-kept-apart)) and returns
    /// once it is queued. Waits while the target queue is full, and while the broker's buffer
    /// is half full (see [`EventBrokerBuilder::max_buffered_events`]). An event for an unknown `to`
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
        let mut room = Reservation::one_when_room(&self.inner.detached, &self.inner.global).await;
        room.budget = Some(self.inner.published_budget(&event));
        if let Some(token) = room.token() {
            self.inner.deliver(event, token, false).await;
        }
        Ok(())
    }

    /// Like [`publish`](Self::publish) but never waits: fails when the target queue is full.
    ///
    /// # Errors
    /// [`BrokerError::MissingTo`], [`BrokerError::NoHandler`] for an unknown `to`,
    /// [`BrokerError::QueueFull`], [`BrokerError::BufferFull`] when the broker's buffer is half
    /// full (where [`publish`](Self::publish) would wait).
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
        let room = self.inner.max_buffered / 2;
        let Some(token) = Reservation::try_new(&self.inner.detached, &self.inner.global, 1, room)
            .and_then(|mut r| {
                r.budget = Some(self.inner.published_budget(&event));
                r.token()
            })
        else {
            return Err(BrokerError::BufferFull {
                limit: room,
                event_types: vec![(event.event_type().to_owned(), 1)],
            });
        };
        observe::notify(&self.inner.observers, &event);
        match slot.try_send(Envelope { event, token }) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(BrokerError::QueueFull {
                handler: slot.handler.source().to_owned(),
                capacity: slot.config.queue_capacity,
            }),
            // Unreachable while `self` lives (the receiver lives with the broker); recorded so
            // the event is not lost.
            Err(TrySendError::Closed(env)) => {
                self.inner.detached.record_unroutable(env.event);
                Ok(())
            }
        }
    }

    /// Publishes `event` as a new workflow, waits until the workflow has no work left, and
    /// returns its [`Resolution`]. Handler failures do not make this fail: they are in
    /// [`Resolution::errors`]. Waits as long as the workflow runs, which the event budget bounds
    /// ([`EventBrokerBuilder::max_events_per_resolve`]; wrap the call in `tokio::time::timeout`
    /// to bound its time too). Waits before publishing while the broker's buffer is half full.
    /// Any number of `resolve` calls may run at once.
    ///
    /// # Errors
    /// [`BrokerError::MissingTo`], [`BrokerError::SourceIsHandler`];
    /// [`BrokerError::EventBudgetExceeded`] when the workflow produced more events than its
    /// budget (a cycle), [`BrokerError::BufferFull`] when its handlers emitted more than the
    /// broker's buffer could hold: in both cases the workflow was stopped and its remaining
    /// events dropped.
    pub async fn resolve(&self, event: ArvoEvent) -> Result<Resolution, BrokerError> {
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
        let collector = Collector::new(
            Some(event.source().to_owned()),
            self.inner.max_events_per_resolve,
        );
        let mut room = Reservation::one_when_room(&collector, &self.inner.global).await;
        collector
            .budget
            .count(std::slice::from_ref(&event), false)?;
        if let Some(token) = room.token() {
            drop(room);
            let mut local = Local::new();
            if let Some(pending) = self
                .inner
                .try_deliver(event, token, false, Some(&mut local))
            {
                self.inner.deliver_slow(pending).await;
            }
            self.inner.run_inline(local).await;
        }
        collector.work.wait_idle().await;
        if let Some(reason) = collector.abort_reason() {
            return Err(reason);
        }
        Ok(collector.take())
    }

    /// Waits until no workflow has work left (all queues empty, no handler running).
    pub async fn idle(&self) {
        self.inner.global.wait_idle().await;
    }

    /// Takes what the detached workflow (events from [`publish`](Self::publish) /
    /// [`try_publish`](Self::try_publish)) produced so far: failures, unroutable and domained
    /// events. Its `events` stay empty (a detached workflow has no reply address).
    pub fn take_detached_resolution(&self) -> Resolution {
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
                    let task = dispatch(Arc::downgrade(self), Arc::downgrade(slot), rx);
                    tasks.push(tokio::spawn(task));
                }
            }
        });
    }

    /// The budget of what follows from `event`, published into the detached workflow: it
    /// counts `event` itself.
    fn published_budget(&self, event: &ArvoEvent) -> Arc<Budget> {
        let budget = Budget::new(self.max_events_per_resolve);
        // The builder makes a budget at least 1, so one event fits.
        let _ = budget.count(std::slice::from_ref(event), false);
        Arc::new(budget)
    }

    /// Admits `events`, emitted into the workflow of `collector` (in the detached workflow,
    /// following from the published event whose `budget` it is): counts them against the
    /// budget and takes room for them in the broker's buffer. On `Err` nothing was taken and
    /// the events must be dropped; a `resolve` workflow is then aborted with the error (the
    /// detached workflow is never aborted: the caller records the error).
    pub(crate) fn admit(
        &self,
        collector: &Arc<Collector>,
        events: &[ArvoEvent],
        budget: Option<&Arc<Budget>>,
    ) -> Result<Reservation, BrokerError> {
        let counted = budget.map_or(&collector.budget, |b| b).count(events, true);
        let admitted = counted.and_then(|()| {
            Reservation::try_new(collector, &self.global, events.len(), self.max_buffered)
                .map(|mut room| {
                    room.budget = budget.cloned();
                    room
                })
                .ok_or_else(|| BrokerError::BufferFull {
                    limit: self.max_buffered,
                    event_types: types_of(events),
                })
        });
        if let Err(e) = &admitted
            && collector.reply_to.is_some()
        {
            tracing::warn!(error = %e, "workflow stopped");
            collector.abort(e.clone());
        }
        admitted
    }

    /// Routes one event (whose work `token` stands for): to the domained hook (when
    /// `check_domain` and it has a domain), back to the workflow's caller, to a handler's
    /// queue (waiting for room), or to the unroutable hook.
    async fn deliver(self: &Arc<Self>, event: ArvoEvent, token: WorkToken, check_domain: bool) {
        if let Some(pending) = self.try_deliver(event, token, check_domain, None) {
            self.deliver_slow(pending).await;
        }
    }

    /// The part of [`deliver`](Self::deliver) that needs no waiting: everything but a full
    /// queue and the hooks, which are returned as [`Pending`] (the observers have seen the
    /// event and it is recorded where it must be; only the waiting is left). With `local`
    /// (a `resolve` running its workflow inline), an event for an idle `prefetch = 1` handler
    /// is put there instead of into the handler's queue.
    fn try_deliver<'s>(
        self: &'s Arc<Self>,
        event: ArvoEvent,
        token: WorkToken,
        check_domain: bool,
        local: Option<&mut Local<'s>>,
    ) -> Option<Pending> {
        let collector = &token.collector;
        if collector.is_aborted() {
            return None;
        }
        observe::notify(&self.observers, &event);
        if check_domain && event.domain().is_some() {
            collector.record_domained(event.clone());
            return self
                .on_domained
                .is_some()
                .then_some(Pending::Domained(event, token));
        }
        let to = event.to();
        if to.is_some() && to == collector.reply_to.as_deref() {
            collector.outcome().events.push(event);
            return None;
        }
        let (event, token) = match to.and_then(|to| self.slots.get(to)) {
            Some(slot) => {
                let envelope = Envelope { event, token };
                if let Some(local) = local
                    && slot.is_idle()
                {
                    local.push_back((slot, envelope));
                    return None;
                }
                match slot.try_send(envelope) {
                    Ok(()) => return None,
                    Err(TrySendError::Full(env)) => {
                        return Some(Pending::Queue(slot.clone(), env));
                    }
                    Err(TrySendError::Closed(env)) => (env.event, env.token),
                }
            }
            None => (event, token),
        };
        self.unroutable(event, token)
            .map(|(event, token)| Pending::Unroutable(event, token))
    }

    /// Runs a `resolve`'s events that were routed to idle `prefetch = 1` handlers (`local`)
    /// here, in the caller's task, instead of handing each to the handler's dispatcher: an
    /// event is executed under the handler's execution slot ([`Slot::claim`]), then its
    /// outputs are routed, those for idle handlers back into `local` (FIFO). Same work, same
    /// order, same accounting as through the queues, without a task switch per event.
    ///
    /// Nothing here makes the caller wait, so dropping `resolve` never cancels an execution:
    /// a handler that does not finish at its first poll goes on in a task of its own, and
    /// anything that has to wait (a full queue, a hook) is handed to a task with the events
    /// after it. An event whose handler is busy by now goes through its queue, and after
    /// [`MAX_INLINE`] executions the rest does.
    async fn run_inline(self: &Arc<Self>, mut local: Local<'_>) {
        let mut left = MAX_INLINE;
        while let Some((slot, envelope)) = local.pop_front() {
            let claim = if left > 0 { slot.claim() } else { None };
            let Some(claim) = claim else {
                match slot.try_send(envelope) {
                    Ok(()) => {}
                    Err(TrySendError::Full(env)) => {
                        let first = Pending::Queue(slot.clone(), env);
                        detach(self.hand_off(first, local)).await;
                        return;
                    }
                    Err(TrySendError::Closed(env)) => {
                        if let Some((event, token)) = self.unroutable(env.event, env.token) {
                            let first = Pending::Unroutable(event, token);
                            detach(self.hand_off(first, local)).await;
                            return;
                        }
                    }
                }
                continue;
            };
            left -= 1;
            // Cooperative: one unit of the task's tokio budget per inline execution, so a
            // caller that loops over `resolve` (each finishing without ever waiting) still
            // yields to the runtime's other tasks once its budget is spent.
            tokio::task::coop::consume_budget().await;
            let inner = self.clone();
            let mut run: Pin<Box<dyn Future<Output = Option<Routing>> + Send>> =
                Box::pin(async move {
                    let routing = execute(&inner, &claim.slot, envelope).await;
                    drop(claim);
                    routing
                });
            let routing = match std::future::poll_fn(|cx| Poll::Ready(run.as_mut().poll(cx))).await
            {
                Poll::Ready(routing) => routing,
                Poll::Pending => {
                    let (inner, slot) = (self.clone(), slot.clone());
                    detach(async move {
                        if let Some(routing) = run.await {
                            routing.route(inner, slot, None).await;
                        }
                    })
                    .await;
                    continue;
                }
            };
            let Some(mut routing) = routing else {
                continue;
            };
            while let Some((output, token)) = routing.next(self, slot) {
                if let Some(pending) = self.try_deliver(output, token, true, Some(&mut local)) {
                    detach(routing.route(self.clone(), slot.clone(), Some(pending))).await;
                    break;
                }
            }
        }
    }

    /// What is left of an inline run when a delivery has to wait: `first`, then the events of
    /// `rest` through their queues, in order.
    fn hand_off(
        self: &Arc<Self>,
        first: Pending,
        rest: Local<'_>,
    ) -> impl Future<Output = ()> + Send + 'static {
        let inner = self.clone();
        let rest: Vec<(Arc<Slot>, Envelope)> = rest
            .into_iter()
            .map(|(slot, envelope)| (slot.clone(), envelope))
            .collect();
        async move {
            inner.deliver_slow(first).await;
            for (slot, envelope) in rest {
                inner.deliver_slow(Pending::Queue(slot, envelope)).await;
            }
        }
    }

    /// Records an event no handler takes; gives it back when the unroutable hook is to see it.
    fn unroutable(&self, event: ArvoEvent, token: WorkToken) -> Option<(ArvoEvent, WorkToken)> {
        tracing::warn!(
            event_id = event.id(),
            event_type = event.event_type(),
            to = event.to(),
            "no handler takes this event: recorded as unroutable"
        );
        token.collector.record_unroutable(event.clone());
        self.on_unroutable.is_some().then_some((event, token))
    }

    /// The waiting part of [`deliver`](Self::deliver): for room in a full queue, or for a hook.
    async fn deliver_slow(self: &Arc<Self>, pending: Pending) {
        let (hook, stage, event, token) = match pending {
            Pending::Queue(slot, env) => {
                // The receiver lives with the broker: closed only while it is torn down.
                let Err(mpsc::error::SendError(env)) = slot.send(env).await else {
                    return;
                };
                let Some((event, token)) = self.unroutable(env.event, env.token) else {
                    return;
                };
                (&self.on_unroutable, Stage::UnroutableHook, event, token)
            }
            Pending::Domained(event, token) => {
                (&self.on_domained, Stage::DomainedHook, event, token)
            }
            Pending::Unroutable(event, token) => {
                (&self.on_unroutable, Stage::UnroutableHook, event, token)
            }
        };
        if let Some(hook) = hook {
            self.run_hook(hook, stage, event, &token).await;
        }
    }

    /// Runs a hook on `event`; a panic in it is recorded as a failure of the workflow.
    async fn run_hook(
        self: &Arc<Self>,
        hook: &Hook,
        stage: Stage,
        event: ArvoEvent,
        token: &WorkToken,
    ) {
        let collector = &token.collector;
        let handler = event.source().to_owned();
        let kept = event.clone();
        let forwarded = self.forwarded(event, collector, token.budget.clone());
        if let Err(panic) = catch_panic(async { hook(forwarded).await }).await {
            tracing::warn!(%stage, error = %panic, "hook panicked");
            let failure = Failure {
                handler,
                event: Box::new(kept),
                attempts: 0,
                kind: FailureKind::StagePanic {
                    stage,
                    message: panic.message().to_owned(),
                },
            };
            collector.record_failure(failure, false);
        }
    }

    fn forwarded(
        self: &Arc<Self>,
        event: ArvoEvent,
        collector: &Arc<Collector>,
        budget: Option<Arc<Budget>>,
    ) -> Forwarded {
        Forwarded {
            event,
            inner: self.clone(),
            collector: collector.clone(),
            budget,
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
        let suppressed = matches!(slot.config.on_error, OnError::Suppress);
        collector.record_failure(failure, suppressed);
    }
}
