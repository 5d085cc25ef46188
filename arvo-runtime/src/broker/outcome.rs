//! What a workflow produced: the events delivered back, failures, unroutable and domained
//! events; and the per-workflow collector behind it.

use super::BrokerError;
use crate::event::ArvoEvent;
use crate::handler::Violation;
use crate::issue::quote_prefix;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::Notify;

/// The result of [`EventBroker::resolve`](super::EventBroker::resolve): everything one
/// workflow produced, in the order it happened.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resolution {
    /// The events delivered back to the initiating event's `source` (replies, completions,
    /// system errors), in arrival order.
    pub events: Vec<ArvoEvent>,
    /// Failures left after the on-error policy ([`OnError::Retry`](super::OnError::Retry)
    /// exhausted, or [`OnError::Fail`](super::OnError::Fail)) and middleware rejections.
    pub errors: Vec<Failure>,
    /// Failures of handlers configured with [`OnError::Suppress`](super::OnError::Suppress).
    pub suppressed: Vec<Failure>,
    /// Events no handler takes (no `to`, or a `to` nobody registered), after the unroutable
    /// hook saw them.
    pub unroutable: Vec<ArvoEvent>,
    /// Events emitted with a non-null `domain`, after the domained hook saw them.
    pub domained: Vec<ArvoEvent>,
    /// How many events handlers executed successfully in this workflow.
    pub handled: usize,
    /// Records (failures, unroutable and domained events) the detached workflow did not keep
    /// because their list was full: it keeps at most
    /// [`max_events_per_resolve`](super::EventBrokerBuilder::max_events_per_resolve) of each
    /// between two [`take_detached_resolution`](super::EventBroker::take_detached_resolution)
    /// calls, so a long-lived broker's memory stays bounded (failures are logged either way).
    /// Always 0 for a `resolve`, whose budget bounds its lists.
    pub unrecorded: usize,
}

impl Resolution {
    /// The last event delivered back to the source: the workflow's result (the reference's
    /// `resolve` return value), if any.
    pub fn result(&self) -> Option<&ArvoEvent> {
        self.events.last()
    }
    /// `true` when no failure is recorded in [`errors`](Self::errors).
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// One failure the broker recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// The handler (its `source`) that failed or whose middleware rejected (or panicked on) the
    /// event; for a panicking hook, the `source` of the event it was given.
    pub handler: String,
    /// The event being handled (for an output rejection: the rejected output).
    pub event: Box<ArvoEvent>,
    /// How many times the handler was executed (0 for an input rejection).
    pub attempts: u32,
    /// What went wrong.
    pub kind: FailureKind,
}

/// The handler, the event's id and type quoted as bounded prefixes
/// ([`quote_prefix`]), then the failure.
impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "handler '{}' failed on event {} (type '{}') after {} attempt(s): {}",
            quote_prefix(&self.handler),
            quote_prefix(self.event.id()),
            quote_prefix(self.event.event_type()),
            self.attempts,
            self.kind
        )
    }
}

/// The kinds of [`Failure`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FailureKind {
    /// The handler returned a violation.
    #[error("{0}")]
    Violation(Violation),
    /// The handler panicked (the message of the panic, when it was a string, bounded as
    /// [`UserPanic`](crate::handler::UserPanic)'s). An
    /// [`ArvoEventHandler`](crate::handler::ArvoEventHandler) or
    /// [`ArvoResumable`](crate::resumable::ArvoResumable) never gets here: it turns a panic of
    /// its implementation into `sys.<type>.error` events itself; only a hand-written
    /// [`EventHandler`](crate::handler::EventHandler) that panics does.
    #[error("handler panicked: {0}")]
    Panic(String),
    /// The handler was still running after its
    /// [`run_timeout`](super::HandlerConfig::run_timeout) (the duration): the run was
    /// cancelled.
    #[error("handler still running after run_timeout ({0:?}): cancelled")]
    TimedOut(std::time::Duration),
    /// A middleware or hook panicked. A panicking middleware counts as a rejection (the event
    /// is not handed on: fail closed); a panicking hook has already had its event recorded in
    /// [`Resolution::domained`] / [`Resolution::unroutable`]. Either way the failure is in
    /// [`Resolution::errors`], so `resolve` never reports success for a lost event.
    #[error("{stage} panicked: {message}")]
    StagePanic {
        /// Where the panic happened.
        stage: Stage,
        /// The panic's message (bounded, as [`UserPanic`](crate::handler::UserPanic)'s).
        message: String,
    },
    /// The outputs of a handler in the detached workflow (events from
    /// [`EventBroker::publish`](super::EventBroker::publish)) were dropped because the broker's
    /// buffer was full ([`BrokerError::BufferFull`]) or their chain of events reached the
    /// budget ([`BrokerError::EventBudgetExceeded`]: a cycle; see the
    /// [broker's limits](super#limits-cycles-and-memory)). In a `resolve` workflow the same
    /// conditions make `resolve` fail instead.
    #[error("outputs dropped: {0}")]
    Dropped(BrokerError),
    /// An input middleware refused to hand the event to the handler.
    #[error("input middleware rejected the event: {0}")]
    InputRejected(String),
    /// An output middleware refused an event the handler emitted.
    #[error("output middleware rejected the event: {0}")]
    OutputRejected(String),
}

/// The broker stages that run user code besides handlers (see [`FailureKind::StagePanic`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The input middleware registered `index`-th (0-based).
    InputMiddleware {
        /// Its registration index.
        index: usize,
    },
    /// The output middleware registered `index`-th (0-based).
    OutputMiddleware {
        /// Its registration index.
        index: usize,
    },
    /// The hook of domained events.
    DomainedHook,
    /// The hook of unroutable events.
    UnroutableHook,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::InputMiddleware { index } => write!(f, "input middleware #{index}"),
            Stage::OutputMiddleware { index } => write!(f, "output middleware #{index}"),
            Stage::DomainedHook => f.write_str("domained hook"),
            Stage::UnroutableHook => f.write_str("unroutable hook"),
        }
    }
}

impl FailureKind {
    /// The violation, when the handler returned one.
    pub fn violation(&self) -> Option<&Violation> {
        match self {
            FailureKind::Violation(v) => Some(v),
            _ => None,
        }
    }
}

/// Counts pending work (events queued, running, or emitted and waiting to be routed) and wakes
/// waiters at zero, and, for the broker's counter, when it falls below the room threshold.
#[derive(Debug)]
pub(crate) struct Counter {
    pending: AtomicUsize,
    idle: Notify,
    /// External producers wait while `pending` is at or above this.
    room_at: usize,
    room: Notify,
}

impl Default for Counter {
    fn default() -> Self {
        Counter::with_room_at(usize::MAX)
    }
}

impl Counter {
    pub(crate) fn with_room_at(room_at: usize) -> Counter {
        Counter {
            pending: AtomicUsize::new(0),
            idle: Notify::new(),
            room_at,
            room: Notify::new(),
        }
    }
    fn inc(&self) {
        self.pending.fetch_add(1, Ordering::AcqRel);
    }
    fn sub(&self, n: usize) {
        let prev = self.pending.fetch_sub(n, Ordering::AcqRel);
        let now = prev - n;
        if now == 0 {
            self.idle.notify_waiters();
        }
        if prev >= self.room_at && now < self.room_at {
            self.room.notify_waiters();
        }
    }
    pub(crate) fn pending(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }
    /// Adds `n` if the count stays at most `limit`.
    pub(crate) fn try_add(&self, n: usize, limit: usize) -> bool {
        self.pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |p| {
                p.checked_add(n).filter(|&q| q <= limit)
            })
            .is_ok()
    }
    /// Waits until one more unit fits below the room threshold, and adds it.
    pub(crate) async fn add_one_when_room(&self) {
        // Fast path: room now, without registering as a waiter.
        if self.try_add(1, self.room_at) {
            return;
        }
        loop {
            let notified = self.room.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.try_add(1, self.room_at) {
                return;
            }
            notified.await;
        }
    }
    /// Waits until no work is pending.
    pub(crate) async fn wait_idle(&self) {
        // Fast path (a `resolve` whose workflow ran inline): idle now, without registering as a
        // waiter.
        if self.pending() == 0 {
            return;
        }
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.pending() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// How many of the last events before a workflow's budget have their types counted, to name the
/// cycle in [`BrokerError::EventBudgetExceeded`].
const TAIL: usize = 256;
/// How many event types an error lists at most.
const MAX_TYPES: usize = 8;

/// One workflow: where its replies go, what it produced, and its budget.
#[derive(Debug)]
pub(crate) struct Collector {
    /// The initiating event's source: events addressed there are replies.
    pub(crate) reply_to: Option<String>,
    pub(crate) work: Counter,
    outcome: Mutex<Resolution>,
    /// The most entries each list of the outcome keeps (see [`Resolution::unrecorded`]).
    cap: usize,
    /// The events the workflow may still produce (unlimited for the detached workflow, where
    /// each published event has a budget of its own: see [`WorkToken::budget`]).
    pub(crate) budget: Budget,
    aborted: AtomicBool,
    /// The first reason the workflow was aborted.
    abort: Mutex<Option<BrokerError>>,
}

/// An event budget: a `resolve`'s workflow has one, and so has each event published into the
/// detached workflow (for everything that follows from it).
#[derive(Debug)]
pub(crate) struct Budget {
    /// Events produced so far.
    produced: AtomicUsize,
    /// The most events that may be produced (`usize::MAX`: no budget).
    limit: usize,
    /// The types of the last [`TAIL`] events before the limit (and of the handlers that
    /// emitted them), with their counts.
    tail: Mutex<HashMap<String, usize>>,
}

impl Collector {
    pub(crate) fn new(reply_to: Option<String>, budget: usize) -> Arc<Collector> {
        Self::with_cap(reply_to, budget, usize::MAX)
    }
    /// The detached workflow's collector: no budget of its own (each published event has one),
    /// at most `cap` entries per list.
    pub(crate) fn detached(cap: usize) -> Arc<Collector> {
        Self::with_cap(None, usize::MAX, cap)
    }
    fn with_cap(reply_to: Option<String>, budget: usize, cap: usize) -> Arc<Collector> {
        Arc::new(Collector {
            reply_to,
            work: Counter::default(),
            outcome: Mutex::new(Resolution::default()),
            cap,
            budget: Budget::new(budget),
            aborted: AtomicBool::new(false),
            abort: Mutex::new(None),
        })
    }
    /// The outcome, locked; a poisoned lock is recovered (an outcome is plain data).
    pub(crate) fn outcome(&self) -> MutexGuard<'_, Resolution> {
        self.outcome.lock().unwrap_or_else(PoisonError::into_inner)
    }
    /// Records a failure (in `suppressed` when `suppressed`, else in `errors`).
    pub(crate) fn record_failure(&self, failure: Failure, suppressed: bool) {
        if suppressed {
            self.record(failure, |r| &mut r.suppressed);
        } else {
            self.record(failure, |r| &mut r.errors);
        }
    }
    /// Records an event no handler takes.
    pub(crate) fn record_unroutable(&self, event: ArvoEvent) {
        self.record(event, |r| &mut r.unroutable);
    }
    /// Records a domained event.
    pub(crate) fn record_domained(&self, event: ArvoEvent) {
        self.record(event, |r| &mut r.domained);
    }
    /// Pushes `item` onto the outcome's `list` while it holds fewer than the cap; counts it in
    /// [`Resolution::unrecorded`] otherwise.
    fn record<T>(&self, item: T, list: fn(&mut Resolution) -> &mut Vec<T>) {
        let mut outcome = self.outcome();
        if list(&mut outcome).len() < self.cap {
            list(&mut outcome).push(item);
        } else {
            outcome.unrecorded += 1;
        }
    }
    pub(crate) fn take(&self) -> Resolution {
        std::mem::take(&mut *self.outcome())
    }
    /// Whether the workflow was aborted: its events are dropped, not handled.
    pub(crate) fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::Acquire)
    }
    /// Aborts the workflow (the first reason is kept).
    pub(crate) fn abort(&self, reason: BrokerError) {
        let mut slot = self.abort.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(reason);
        }
        self.aborted.store(true, Ordering::Release);
    }
    /// Why the workflow was aborted, if it was.
    pub(crate) fn abort_reason(&self) -> Option<BrokerError> {
        self.abort
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Budget {
    /// A budget of `limit` events, none produced yet.
    pub(crate) fn new(limit: usize) -> Budget {
        Budget {
            produced: AtomicUsize::new(0),
            limit,
            tail: Mutex::new(HashMap::new()),
        }
    }
    /// Counts `events` against the budget: `Err` with the budget error when they exceed it.
    /// Costs one atomic add, except for the last [`TAIL`] events before the budget, whose types
    /// are counted, and, when the events were `emitted` by a handler, their sources too: an
    /// emitted event's source is the type its handler consumes, so a fan-out cycle whose last
    /// events are all of one type (one generation of the fan-out) is still named by both ends
    /// of its edges.
    pub(crate) fn count(&self, events: &[ArvoEvent], emitted: bool) -> Result<(), BrokerError> {
        let n = events.len();
        let after = self
            .produced
            .fetch_add(n, Ordering::AcqRel)
            .saturating_add(n);
        if after <= self.limit.saturating_sub(TAIL) {
            return Ok(());
        }
        let mut tail = self.tail.lock().unwrap_or_else(PoisonError::into_inner);
        let mut note = |t: &str| match tail.get_mut(t) {
            Some(c) => *c += 1,
            None => {
                tail.insert(t.to_owned(), 1);
            }
        };
        for e in events {
            note(e.event_type());
            if emitted && e.source() != e.event_type() {
                note(e.source());
            }
        }
        if after <= self.limit {
            return Ok(());
        }
        Err(BrokerError::EventBudgetExceeded {
            limit: self.limit,
            event_types: top_types(tail.iter().map(|(t, c)| (t.as_str(), *c))),
        })
    }
}

/// The [`MAX_TYPES`] most frequent types (ties by name), most frequent first.
pub(crate) fn top_types<'a>(
    counts: impl Iterator<Item = (&'a str, usize)>,
) -> Vec<(String, usize)> {
    let mut v: Vec<(&str, usize)> = counts.collect();
    v.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    v.truncate(MAX_TYPES);
    v.into_iter().map(|(t, c)| (t.to_owned(), c)).collect()
}

/// The types of `events` with their counts (see [`top_types`]).
pub(crate) fn types_of(events: &[ArvoEvent]) -> Vec<(String, usize)> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for e in events {
        *counts.entry(e.event_type()).or_default() += 1;
    }
    top_types(counts.into_iter())
}

/// A unit of pending work: while it lives, its workflow and the broker are not idle. Dropping it
/// (after the event is handled, or when a queue is torn down) releases the work.
#[derive(Debug)]
pub(crate) struct WorkToken {
    pub(crate) collector: Arc<Collector>,
    global: Arc<Counter>,
    /// In the detached workflow, the budget of the events that follow from the same
    /// [`publish`](super::EventBroker::publish) (itself included); `None` in a `resolve`
    /// workflow, whose [`Collector`] has the budget.
    pub(crate) budget: Option<Arc<Budget>>,
}

impl Drop for WorkToken {
    fn drop(&mut self) {
        self.collector.work.sub(1);
        self.global.sub(1);
    }
}

/// Room taken in the broker's buffer for events of one workflow: each [`token`](Self::token)
/// turns one unit into a [`WorkToken`]; units not taken are given back on drop.
#[derive(Debug)]
pub(crate) struct Reservation {
    collector: Arc<Collector>,
    global: Arc<Counter>,
    left: usize,
    /// The [`WorkToken::budget`] of its tokens.
    pub(crate) budget: Option<Arc<Budget>>,
}

impl Reservation {
    /// Room for `n` events, if the broker's buffer (`global`) stays at most `limit`.
    pub(crate) fn try_new(
        collector: &Arc<Collector>,
        global: &Arc<Counter>,
        n: usize,
        limit: usize,
    ) -> Option<Reservation> {
        global.try_add(n, limit).then(|| Reservation {
            collector: collector.clone(),
            global: global.clone(),
            left: n,
            budget: None,
        })
    }
    /// Room for one event, waiting while the buffer is at its room threshold (backpressure
    /// on external producers).
    pub(crate) async fn one_when_room(
        collector: &Arc<Collector>,
        global: &Arc<Counter>,
    ) -> Reservation {
        global.add_one_when_room().await;
        Reservation {
            collector: collector.clone(),
            global: global.clone(),
            left: 1,
            budget: None,
        }
    }
    /// One event's token (`None` once all units are taken).
    pub(crate) fn token(&mut self) -> Option<WorkToken> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        self.collector.work.inc();
        Some(WorkToken {
            collector: self.collector.clone(),
            global: self.global.clone(),
            budget: self.budget.clone(),
        })
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.left > 0 {
            self.global.sub(self.left);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(event_type: &str, source: &str) -> ArvoEvent {
        ArvoEvent::builder()
            .event_type(event_type)
            .source(source)
            .subject("s")
            .to(event_type)
            .data_json(serde_json::json!({}))
            .build()
            .unwrap_or_else(|e| panic!("test event: {e}"))
    }

    fn names(e: &BrokerError) -> Vec<&str> {
        let BrokerError::EventBudgetExceeded { event_types, .. } = e else {
            panic!("expected the budget error, got {e:?}");
        };
        let mut v: Vec<&str> = event_types.iter().map(|(t, _)| t.as_str()).collect();
        v.sort_unstable();
        v
    }

    /// The last generation of a fan-out cycle a -> b -> a is all of one type: the emitting
    /// handlers' types (the events' sources) still name the other end of the cycle.
    #[test]
    fn the_budget_error_names_both_ends_of_a_one_type_tail() {
        let c = Collector::new(Some("com.client".into()), 1_000);
        let b_from_a: Vec<ArvoEvent> = (0..10).map(|_| event("com.t.b", "com.t.a")).collect();
        let mut result = Ok(());
        for _ in 0..101 {
            result = c.budget.count(&b_from_a, true);
            if result.is_err() {
                break;
            }
        }
        let err = result.expect_err("1,010 events exceed a budget of 1,000");
        assert_eq!(names(&err), ["com.t.a", "com.t.b"]);
    }

    /// The initiating event's source is the client, not a handler: it is not counted.
    #[test]
    fn the_initiating_events_source_is_not_a_cycle_type() {
        let c = Collector::new(Some("com.client".into()), 1);
        assert!(
            c.budget
                .count(&[event("com.t.a", "com.client")], false)
                .is_ok()
        );
        let err = c
            .budget
            .count(&[event("com.t.a", "com.client")], false)
            .expect_err("2 events exceed a budget of 1");
        assert_eq!(names(&err), ["com.t.a"]);
    }
}
