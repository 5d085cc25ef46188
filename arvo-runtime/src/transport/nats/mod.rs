//! The NATS JetStream transport (cargo feature `nats`): handlers served by worker processes,
//! events carried as the reference's JSON, acknowledged only once their effects are safe.
//!
//! # Layout on the server
//! One deployment is one [`NatsStreams`] configuration (a name, e.g. `ARVO`):
//! - the **event stream** `{name}` holds the subjects `{name}.>` with work-queue retention: an
//!   event stays until the handler that takes it acknowledges it;
//! - the **dead-letter stream** `{name}_DLQ` holds `{name}_dlq.>`: events whose handler failed
//!   [`max_deliveries`](NatsWorkerBuilder::max_deliveries) times, each wrapped in a JSON
//!   envelope that records the failure ([`DeadLetter`]).
//!
//! # Subjects
//! An event is published on the subject of its `to` ([`NatsStreams::subject`]):
//! `{name}.ev.{tokens}`, where the `to` is split on `.` and each piece becomes one NATS token
//! ([`encode_token`]): ASCII letters, digits, `-` and `_` are kept, every other byte is written
//! `~HH` (two upper-case hex digits, `~` itself included), and an empty piece is written `~`.
//! So a valid Arvo event type (`[a-z0-9]+(\.[a-z0-9]+)+`) maps to itself
//! (`com.calc.add` → `ARVO.ev.com.calc.add`), while anything NATS treats specially in a `to`
//! (which is any URI that `encodeURI` leaves unchanged, so it may hold `*`, `:`, `/`, `#`, ...),
//! such as `*`, `>`, whitespace, empty tokens (`a..b`, a leading or trailing dot), is escaped.
//! The mapping is injective, and [`decode_subject`] inverts it.
//!
//! Events a handler emits with a `domain` go to `{name}.domain.{domain}` (the domain as one
//! escaped token, dots included) unless an [`on_domained`](NatsWorkerBuilder::on_domained)
//! hook takes them (the in-process broker's domained hook). That subject is in the event
//! stream, so nothing is silently dropped.
//!
//! There is no unroutable case as in the in-process broker: no process knows every handler of
//! a deployment, and every valid event has a `to`, so an event addressed to a handler that no
//! worker serves yet waits in the stream on its subject (up to the streams'
//! [`max_age`](NatsStreams::max_age)) until a worker starts serving it. A `to`-less event
//! (which event validation does not let through) would be kept on `{name}.unroutable`.
//!
//! # Delivery
//! Every handler is a durable pull consumer named `arvo_{escaped source}` filtered on the
//! subject of its source, shared by every [`NatsWorker`] that serves it: each event is handled
//! by one of them. A worker
//! 1. fetches at most [`in_flight`](NatsWorkerBuilder::in_flight) events per handler (pull
//!    requests only ask for free slots, so memory stays bounded whatever the backlog);
//! 2. runs the handler, sending in-progress heartbeats (`+WPI`) every third of
//!    [`ack_wait`](NatsWorkerBuilder::ack_wait) while it runs, for at most
//!    [`run_timeout`](NatsWorkerBuilder::run_timeout) (a run still going then is cancelled
//!    and counts as a failed delivery);
//! 3. publishes every emitted event with `Nats-Msg-Id` = the event's id and awaits each
//!    publish acknowledgement (a re-publish of the same event after a crash, such as a
//!    resumable answering a re-delivered event from its record, is suppressed by JetStream
//!    within the stream's duplicate window);
//! 4. only then acknowledges the input (double ack: the server confirms it).
//!
//! Orchestrators and resumables write their memory before they return, so a successful return
//! means the state write succeeded. A handler failure (a [`Violation`](crate::handler::Violation) or a panic) or a failed
//! publish is negatively acknowledged with a backoff delay ([`RetryPolicy`](crate::broker::RetryPolicy)); a worker that
//! crashes or stalls past `ack_wait` gets its events re-delivered to another worker. On the
//! `max_deliveries`-th failed delivery the event goes to the dead-letter stream and is
//! terminated. An [`Execution`](crate::handler::Violation::Execution) violation, user code's
//! "stop, dead-letter this" (spec §11), goes to the dead-letter stream on its first delivery:
//! the handler is not run again ([`Violation::forbids_retry`](crate::handler::Violation::forbids_retry)).
//! A run that fails because the workflow's state cannot be had (a
//! [`Transaction`](crate::handler::Violation::Transaction) violation: the lease held by
//! another worker, perhaps one that crashed mid-step and holds it until it expires, or the
//! memory unreachable; one that [is transient](crate::handler::Violation::is_transient), so not
//! a record too deep to store or one stored in a shape this code cannot read, which would fail
//! the same way every time) does not count as a failed delivery at first: it is retried in place,
//! under heartbeats, for up to [`memory_wait`](NatsWorkerBuilder::memory_wait) (default
//! [`DEFAULT_MEMORY_WAIT`]), so a crash or a database restart delays workflows instead of
//! dead-lettering their events. (The reference's PostgreSQL tools retry a lock three times
//! within half a second, and their job queue retries a failed job a set number of times,
//! whatever the failure was.) The consumers themselves have no delivery limit: the worker counts deliveries,
//! so an event whose last delivery was lost with a crashed worker is still dead-lettered
//! rather than silently dropped by the server.
//!
//! # Cycles: the hop budget
//! Every event a worker publishes for a handler carries a NATS header, `Arvo-Hops`
//! ([`HOPS_HEADER`]): how many handler runs led to it (the input's count plus one; an event
//! published by [`NatsTransport::publish`] or [`resolve`](NatsTransport::resolve) has none,
//! which counts as 0). The JSON is untouched, so the events stay the reference's. A worker
//! dead-letters, instead of handling, an event that [`max_hops`](NatsWorkerBuilder::max_hops)
//! runs already led to (default [`DEFAULT_MAX_HOPS`], the in-process broker's event budget per
//! workflow: a workflow that runs in one process runs here too), and one whose header is not a
//! count. Two handlers that answer each other for ever (or an orchestrator that keeps calling
//! a service) so stop after the budget, with the cycle's last event in the dead-letter stream,
//! where the in-process broker's `resolve` fails with
//! [`EventBudgetExceeded`](crate::broker::BrokerError::EventBudgetExceeded). The reference's
//! transports have no such bound. What the count does not follow: events given to an
//! [`on_domained`](NatsWorkerBuilder::on_domained) hook, and events a process publishes by
//! other means (a service of the TypeScript reference on the same streams does not copy the
//! header, so its outputs start again at 0).
//!
//! The count is per chain of events, not per workflow as the in-process budget is: no process
//! sees a whole workflow. So a linear cycle stops after `max_hops` runs, but a fan-out cycle
//! (each step emitting two or more events back into it) grows its events exponentially within
//! the hop budget. The **workflow budget** bounds that too, with a shared counter per workflow
//! on the server: every event a worker publishes also carries [`WORKFLOW_HEADER`], the id of its
//! workflow (the input's, or a new UUID when the input has none: an event published by a
//! client starts a workflow). A worker built with
//! [`workflow_budget(n)`](NatsWorkerBuilder::workflow_budget) adds each run to its workflow's
//! count in a key-value bucket ([`NatsStreams::budget_bucket`], compare-and-set on the key's
//! revision) and dead-letters, instead of handling, an event whose workflow already took `n`
//! runs, as the in-process broker bounds a workflow to `max_events_per_resolve` events. It is
//! off by default: it costs two round trips to the server per event. An event whose workflow
//! header is not a UUID is dead-lettered (whether the budget is on or not). A re-delivered event
//! counts again, so a workflow whose events are retried reaches its budget sooner.
//!
//! This is at-least-once delivery with duplicate suppression for re-published events: a
//! handler may run twice for one event (after a crash between its effects and the ack), which
//! the resumable's idempotency window and `Nats-Msg-Id` make harmless for workflows.
//!
//! # Resolve
//! [`NatsTransport::resolve`] publishes an event (e.g. an orchestrator's init) and waits, with a
//! timeout, for the first event addressed back to its `source` with the same subject (the
//! completion, or a system error).

use crate::issue::quote_prefix;
use std::fmt::Write as _;
use std::time::Duration;

mod dead_letter;
mod subject;
mod transport;
mod worker;

pub use subject::{decode_subject, decode_token, encode_to, encode_token};
pub use transport::{DeadLetter, NatsStreams, NatsTransport, PublishReceipt, QueueStats, Replayed};
pub use worker::{NatsHook, NatsWorker, NatsWorkerBuilder, WorkerStats};

/// The longest NATS subject the transport publishes on, in bytes: a default server's
/// `max_control_line` (4 KB) less room for the rest of the publish line (`HPUB`, the reply
/// inbox, the sizes). The server would refuse a longer subject (and drop the connection it
/// came on, with every operation in flight on it), so an event whose `to` or domain makes one
/// is refused before it is sent ([`NatsError::SubjectTooLong`]).
pub const MAX_SUBJECT_BYTES: usize = 3968;

/// The NATS header that counts the handler runs that led to an event (see the
/// [module docs](self#cycles-the-hop-budget)).
pub const HOPS_HEADER: &str = "Arvo-Hops";

/// The NATS header that names the workflow an event belongs to, for the
/// [`workflow_budget`](NatsWorkerBuilder::workflow_budget) (see the
/// [module docs](self#cycles-the-hop-budget)).
pub const WORKFLOW_HEADER: &str = "Arvo-Workflow";

/// The default of [`NatsWorkerBuilder::max_hops`]: the in-process broker's
/// [`DEFAULT_MAX_EVENTS_PER_RESOLVE`](crate::broker::DEFAULT_MAX_EVENTS_PER_RESOLVE).
pub const DEFAULT_MAX_HOPS: u32 = 10_000;

/// The most events of one handler a worker runs at once ([`NatsWorkerBuilder::in_flight`]):
/// each pull request asks the server for as many events as there are free slots.
pub const MAX_IN_FLIGHT: usize = 10_000;

/// The longest [`NatsWorkerBuilder::ack_wait`], [`NatsWorkerBuilder::fetch_expiry`] and
/// [`NatsWorkerBuilder::memory_wait`]: 24 hours.
/// A handler that runs longer keeps its event with heartbeats; it needs no longer `ack_wait`.
pub const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);

/// The default of [`NatsWorkerBuilder::run_timeout`]: 10 minutes.
pub const DEFAULT_RUN_TIMEOUT: Duration = Duration::from_secs(600);

/// The default of [`NatsWorkerBuilder::memory_wait`]: 3 minutes, longer than a lease left by a
/// crashed worker lives ([`DEFAULT_LOCK_TTL`](crate::memory::DEFAULT_LOCK_TTL), 2 minutes).
pub const DEFAULT_MEMORY_WAIT: Duration = Duration::from_secs(180);

/// Errors of the NATS transport.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NatsError {
    /// A stream name is unusable.
    #[error("invalid NATS stream name '{name}': {reason}")]
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// Connecting to the server failed.
    #[error("cannot connect to NATS at '{url}': {reason}")]
    Connect {
        /// The server URL.
        url: String,
        /// The client's error.
        reason: String,
    },
    /// Creating, reading or deleting a stream failed.
    #[error("JetStream stream '{stream}': {reason}")]
    Stream {
        /// The stream.
        stream: String,
        /// The server's or client's error.
        reason: String,
    },
    /// Creating or reading a handler's consumer failed.
    #[error(
        "JetStream consumer '{}' (handler '{}'): {reason}",
        quote_prefix(consumer),
        quote_prefix(handler)
    )]
    Consumer {
        /// The handler's source.
        handler: String,
        /// The consumer's durable name.
        consumer: String,
        /// The server's or client's error.
        reason: String,
    },
    /// Publishing failed or was not acknowledged.
    #[error(
        "publishing event '{}' on '{}' failed: {reason}",
        quote_prefix(event_id),
        quote_prefix(subject)
    )]
    Publish {
        /// The event's id.
        event_id: String,
        /// The NATS subject.
        subject: String,
        /// The server's or client's error.
        reason: String,
    },
    /// The event has no `to`, so it has no subject.
    #[error(
        "event '{}' has no \"to\": it cannot be published",
        quote_prefix(event_id)
    )]
    MissingTo {
        /// The event's id.
        event_id: String,
    },
    /// Subscribing for `resolve` failed.
    #[error("subscribing to '{}' failed: {reason}", quote_prefix(subject))]
    Subscribe {
        /// The subject.
        subject: String,
        /// The client's error.
        reason: String,
    },
    /// `resolve` saw no answer in time.
    #[error(
        "no answer to event '{}' (subject '{}') within {after:?}",
        quote_prefix(event_id),
        quote_prefix(subject)
    )]
    Timeout {
        /// The published event's id.
        event_id: String,
        /// Its Arvo subject.
        subject: String,
        /// The timeout.
        after: Duration,
    },
    /// The event's NATS subject (from its `to`, or its domain; for
    /// [`NatsTransport::resolve`], also the one its answer comes on, from its `source`) is
    /// longer than [`MAX_SUBJECT_BYTES`]: the server would refuse it, so nothing is sent.
    #[error(
        "event '{}' cannot be published: its NATS subject is {len} bytes long, over the {max}-byte limit ('{}')",
        quote_prefix(event_id),
        quote_prefix(subject)
    )]
    SubjectTooLong {
        /// The event's id.
        event_id: String,
        /// The NATS subject.
        subject: String,
        /// Its length in bytes.
        len: usize,
        /// [`MAX_SUBJECT_BYTES`].
        max: usize,
    },
    /// The worker's configuration is unusable.
    #[error("invalid NATS worker configuration: {0}")]
    InvalidConfig(String),
}

fn err_text(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        let _ = write!(s, ": {inner}");
        source = inner.source();
    }
    s
}
