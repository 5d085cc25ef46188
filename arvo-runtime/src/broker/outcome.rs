//! What a workflow produced: the events delivered back, failures, unroutable and domained
//! events; and the per-workflow collector behind it.

use crate::event::ArvoEvent;
use crate::handler::Violation;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::Notify;

/// The result of [`EventBroker::resolve`](super::EventBroker::resolve): everything one
/// workflow produced, in the order it happened.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
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
}

impl Outcome {
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
    /// The handler (its `source`) that failed or whose middleware rejected the event.
    pub handler: String,
    /// The event being handled (for an output rejection: the rejected output).
    pub event: Box<ArvoEvent>,
    /// How many times the handler was executed (0 for an input rejection).
    pub attempts: u32,
    /// What went wrong.
    pub kind: FailureKind,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "handler '{}' failed on event {} (type '{}') after {} attempt(s): {}",
            self.handler,
            self.event.id(),
            self.event.event_type(),
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
    /// The handler panicked (the message of the panic, when it was a string).
    #[error("handler panicked: {0}")]
    Panic(String),
    /// An input middleware refused to hand the event to the handler.
    #[error("input middleware rejected the event: {0}")]
    InputRejected(String),
    /// An output middleware refused an event the handler emitted.
    #[error("output middleware rejected the event: {0}")]
    OutputRejected(String),
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

/// Counts pending work (queued or running envelopes) and wakes waiters at zero.
#[derive(Debug, Default)]
pub(crate) struct Counter {
    pending: AtomicUsize,
    idle: Notify,
}

impl Counter {
    fn inc(&self) {
        self.pending.fetch_add(1, Ordering::AcqRel);
    }
    fn dec(&self) {
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle.notify_waiters();
        }
    }
    pub(crate) fn pending(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }
    /// Waits until no work is pending.
    pub(crate) async fn wait_idle(&self) {
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

/// One workflow: where its replies go and what it produced.
#[derive(Debug)]
pub(crate) struct Collector {
    /// The initiating event's source: events addressed there are replies.
    pub(crate) reply_to: Option<String>,
    pub(crate) work: Counter,
    outcome: Mutex<Outcome>,
}

impl Collector {
    pub(crate) fn new(reply_to: Option<String>) -> Arc<Collector> {
        Arc::new(Collector {
            reply_to,
            work: Counter::default(),
            outcome: Mutex::new(Outcome::default()),
        })
    }
    /// The outcome, locked; a poisoned lock is recovered (an outcome is plain data).
    pub(crate) fn outcome(&self) -> MutexGuard<'_, Outcome> {
        self.outcome.lock().unwrap_or_else(PoisonError::into_inner)
    }
    pub(crate) fn take(&self) -> Outcome {
        std::mem::take(&mut *self.outcome())
    }
}

/// A unit of pending work: while it lives, its workflow and the broker are not idle. Dropping it
/// (after the event is handled, or when a queue is torn down) releases the work.
#[derive(Debug)]
pub(crate) struct WorkToken {
    pub(crate) collector: Arc<Collector>,
    global: Arc<Counter>,
}

impl WorkToken {
    pub(crate) fn new(collector: Arc<Collector>, global: Arc<Counter>) -> WorkToken {
        collector.work.inc();
        global.inc();
        WorkToken { collector, global }
    }
    /// A new token of the same workflow.
    pub(crate) fn fork(&self) -> WorkToken {
        WorkToken::new(self.collector.clone(), self.global.clone())
    }
}

impl Drop for WorkToken {
    fn drop(&mut self) {
        self.collector.work.dec();
        self.global.dec();
    }
}
