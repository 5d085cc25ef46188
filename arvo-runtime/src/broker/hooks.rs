//! Middleware and hooks: what users plug into the broker.

use super::{BrokerError, Inner};
use crate::broker::outcome::Collector;
use crate::event::ArvoEvent;
use futures_util::future::BoxFuture;
use std::fmt;
use std::sync::Arc;

/// What a middleware decides about an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Let the event through unchanged.
    Pass,
    /// Let this event through instead (see [`Verdict::replace`]).
    Replace(Box<ArvoEvent>),
    /// Stop the event; the reason is recorded as a [`Failure`](super::Failure) in the outcome.
    Reject(String),
}

impl Verdict {
    /// [`Verdict::Replace`] with `event`.
    pub fn replace(event: ArvoEvent) -> Verdict {
        Verdict::Replace(Box::new(event))
    }
}

/// Input middleware: sees each event before the handler `handler` (its source) gets it.
pub(crate) type InputMiddleware = Arc<dyn Fn(&ArvoEvent, &str) -> Verdict + Send + Sync>;
/// Output middleware: sees each event a handler emitted, with the input that caused it.
pub(crate) type OutputMiddleware =
    Arc<dyn Fn(&ArvoEvent, &ArvoEvent, &str) -> Verdict + Send + Sync>;
/// A hook for events the broker does not route to a local handler.
pub(crate) type Hook = Arc<dyn Fn(Forwarded) -> BoxFuture<'static, ()> + Send + Sync>;

/// An event handed to a hook (domained or unroutable), with a way to publish into the same
/// workflow: events published with [`Forwarded::publish`] count towards the workflow's
/// [`resolve`](super::EventBroker::resolve) as if a handler had emitted them.
///
/// A `Forwarded` kept past the hook keeps the broker alive; publishing after the workflow's
/// `resolve` returned runs the events without anyone collecting their outcome.
pub struct Forwarded {
    /// The event.
    pub event: ArvoEvent,
    pub(crate) inner: Arc<Inner>,
    pub(crate) collector: Arc<Collector>,
    /// The budget of the detached publish `event` follows from (see `WorkToken::budget`).
    pub(crate) budget: Option<Arc<super::outcome::Budget>>,
}

impl fmt::Debug for Forwarded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Forwarded")
            .field("event", &self.event)
            .finish_non_exhaustive()
    }
}

impl Forwarded {
    /// The event's domain (`None` for an unroutable event without one).
    pub fn domain(&self) -> Option<&str> {
        self.event.domain()
    }

    /// Publishes `event` into the same workflow. Like
    /// [`EventBroker::publish`](super::EventBroker::publish), routing is by `to` only (a
    /// `domain` on a published event is not looked at again), and waits while the target queue
    /// is full.
    ///
    /// The event counts against the workflow's budget and the broker's buffer as an event a
    /// handler emits does.
    ///
    /// # Errors
    /// [`BrokerError::MissingTo`] when the event has no `to`;
    /// [`BrokerError::EventBudgetExceeded`] / [`BrokerError::BufferFull`] when it does not fit
    /// (it is dropped, and a `resolve` workflow is stopped with that error).
    pub async fn publish(&self, event: ArvoEvent) -> Result<(), BrokerError> {
        if event.to().is_none() {
            return Err(BrokerError::MissingTo {
                event_id: event.id().to_owned(),
            });
        }
        let mut room = self.inner.admit(
            &self.collector,
            std::slice::from_ref(&event),
            self.budget.as_ref(),
        )?;
        if let Some(token) = room.token() {
            drop(room);
            self.inner.deliver(event, token, false).await;
        }
        Ok(())
    }
}
