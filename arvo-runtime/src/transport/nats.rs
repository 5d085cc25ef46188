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
//! means the state write succeeded. A handler failure (a [`Violation`] or a panic) or a failed
//! publish is negatively acknowledged with a backoff delay ([`RetryPolicy`]); a worker that
//! crashes or stalls past `ack_wait` gets its events re-delivered to another worker. On the
//! `max_deliveries`-th failed delivery the event goes to the dead-letter stream and is
//! terminated. The consumers themselves have no delivery limit: the worker counts deliveries,
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
//! sees a whole workflow, and counting it would take a shared counter per workflow on the
//! server. So a linear cycle stops after `max_hops` runs, but a fan-out cycle (each step
//! emitting two or more events back into it) grows its events exponentially within the hop
//! budget; only the stream's [`max_age`](NatsStreams::max_age) and the server's storage limits
//! bound it. A deployment that may have one should set `max_hops` close to its longest
//! workflow.
//!
//! This is at-least-once delivery with duplicate suppression for re-published events: a
//! handler may run twice for one event (after a crash between its effects and the ack), which
//! the resumable's idempotency window and `Nats-Msg-Id` make harmless for workflows.
//!
//! # Resolve
//! [`NatsTransport::resolve`] publishes an event (e.g. an orchestrator's init) and waits, with a
//! timeout, for the first event addressed back to its `source` with the same subject (the
//! completion, or a system error).

use crate::broker::RetryPolicy;
use crate::event::ArvoEvent;
use crate::handler::{DynEventHandler, ParentContext, Violation};
use crate::issue::quote_prefix;
use async_nats::HeaderMap;
use async_nats::jetstream::{self, AckKind, Message, consumer, stream};
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::fmt;
use std::fmt::Write as _;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;

/// The longest NATS subject the transport publishes on, in bytes: a default server's
/// `max_control_line` (4 KB) less room for the rest of the publish line (`HPUB`, the reply
/// inbox, the sizes). The server would refuse a longer subject (and drop the connection it
/// came on, with every operation in flight on it), so an event whose `to` or domain makes one
/// is refused before it is sent ([`NatsError::SubjectTooLong`]).
pub const MAX_SUBJECT_BYTES: usize = 3968;

/// The NATS header that counts the handler runs that led to an event (see the
/// [module docs](self#cycles-the-hop-budget)).
pub const HOPS_HEADER: &str = "Arvo-Hops";

/// The default of [`NatsWorkerBuilder::max_hops`]: the in-process broker's
/// [`DEFAULT_MAX_EVENTS_PER_RESOLVE`](crate::broker::DEFAULT_MAX_EVENTS_PER_RESOLVE).
pub const DEFAULT_MAX_HOPS: u32 = 10_000;

/// The default of [`NatsWorkerBuilder::run_timeout`]: 10 minutes.
pub const DEFAULT_RUN_TIMEOUT: Duration = Duration::from_secs(600);

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

/// Writes `piece` as one NATS token: `[A-Za-z0-9_-]` kept, every other byte as `~HH`, and an
/// empty piece as `~` (see the [module docs](self)).
///
/// ```
/// use arvo_runtime::transport::nats::encode_token;
/// assert_eq!(encode_token("calc"), "calc");
/// assert_eq!(encode_token("a*b c"), "a~2Ab~20c");
/// assert_eq!(encode_token(""), "~");
/// assert_eq!(encode_token("a.b"), "a~2Eb");
/// ```
pub fn encode_token(piece: &str) -> String {
    let mut out = String::with_capacity(piece.len());
    push_token(&mut out, piece);
    out
}

fn push_token(out: &mut String, piece: &str) {
    if piece.is_empty() {
        out.push('~');
        return;
    }
    for b in piece.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "~{b:02X}");
        }
    }
}

/// Reads a token written by [`encode_token`]; `None` when it is not one.
pub fn decode_token(token: &str) -> Option<String> {
    if token == "~" {
        return Some(String::new());
    }
    let bytes = token.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'~' {
            let hex = token.get(i + 1..i + 3)?;
            let v = u8::from_str_radix(hex, 16).ok()?;
            if hex.bytes().any(|h| h.is_ascii_lowercase()) {
                return None;
            }
            out.push(v);
            i += 3;
        } else if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(b);
            i += 1;
        } else {
            return None;
        }
    }
    String::from_utf8(out).ok()
}

/// The tokens of a `to` (without the `{name}.ev.` prefix): each `.`-separated piece as one
/// [`encode_token`].
///
/// ```
/// use arvo_runtime::transport::nats::encode_to;
/// assert_eq!(encode_to("com.calc.add"), "com.calc.add");
/// assert_eq!(encode_to("a..b>"), "a.~.b~3E");
/// ```
pub fn encode_to(to: &str) -> String {
    let mut out = String::with_capacity(to.len() + 8);
    for (i, piece) in to.split('.').enumerate() {
        if i > 0 {
            out.push('.');
        }
        push_token(&mut out, piece);
    }
    out
}

/// The `to` back from the tokens [`encode_to`] wrote; `None` when they are not such tokens.
pub fn decode_subject(tokens: &str) -> Option<String> {
    let mut out = String::with_capacity(tokens.len());
    for (i, token) in tokens.split('.').enumerate() {
        if i > 0 {
            out.push('.');
        }
        out.push_str(&decode_token(token)?);
    }
    Some(out)
}

/// The streams of one deployment: their names, subjects and limits. See the
/// [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsStreams {
    name: String,
    max_age: Duration,
    duplicate_window: Duration,
}

impl NatsStreams {
    /// The streams named `name` (`{name}` and `{name}_DLQ`). The name is 1 to 64 of
    /// `[A-Za-z0-9_-]`. Defaults: events kept at most 7 days, a duplicate window of 2 minutes.
    ///
    /// # Errors
    /// [`NatsError::InvalidName`] for any other name.
    pub fn new(name: impl Into<String>) -> Result<NatsStreams, NatsError> {
        let name = name.into();
        let reason = if name.is_empty() || name.len() > 64 {
            Some("it must have 1 to 64 characters")
        } else if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            Some("it may only hold ASCII letters, digits, '-' and '_'")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(NatsError::InvalidName { name, reason }),
            None => Ok(NatsStreams {
                name,
                max_age: Duration::from_secs(7 * 24 * 3600),
                duplicate_window: Duration::from_secs(120),
            }),
        }
    }

    /// How long the streams keep a message at most (also unanswered replies to clients).
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// How long JetStream remembers event ids to suppress duplicates.
    pub fn duplicate_window(mut self, window: Duration) -> Self {
        self.duplicate_window = window;
        self
    }

    /// The event stream's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The dead-letter stream's name (`{name}_DLQ`).
    pub fn dead_letter_name(&self) -> String {
        format!("{}_DLQ", self.name)
    }

    /// The NATS subject of events addressed to `to`: `{name}.ev.{encode_to(to)}`.
    ///
    /// ```
    /// use arvo_runtime::transport::nats::NatsStreams;
    /// let streams = NatsStreams::new("ARVO")?;
    /// assert_eq!(streams.subject("com.calc.add"), "ARVO.ev.com.calc.add");
    /// assert_eq!(streams.subject("x.*.y"), "ARVO.ev.x.~2A.y");
    /// # Ok::<(), arvo_runtime::transport::nats::NatsError>(())
    /// ```
    pub fn subject(&self, to: &str) -> String {
        format!("{}.ev.{}", self.name, encode_to(to))
    }

    /// The subject of events emitted with `domain` (when no domained hook takes them).
    pub fn domain_subject(&self, domain: &str) -> String {
        format!("{}.domain.{}", self.name, encode_token(domain))
    }

    /// The subject of events without a `to` (see the [module docs](self)).
    pub fn unroutable_subject(&self) -> String {
        format!("{}.unroutable", self.name)
    }

    /// The dead-letter subject of a handler.
    pub fn dead_letter_subject(&self, handler: &str) -> String {
        format!("{}_dlq.{}", self.name, encode_token(handler))
    }

    /// The durable consumer name of a handler: `arvo_{escaped source}`.
    pub fn consumer_name(handler: &str) -> String {
        format!("arvo_{}", encode_token(handler))
    }
}

/// A connection to one deployment's streams: publish, resolve, dead letters, statistics.
/// Cheap to clone.
#[derive(Clone)]
pub struct NatsTransport {
    client: async_nats::Client,
    js: jetstream::Context,
    streams: Arc<NatsStreams>,
}

impl fmt::Debug for NatsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsTransport")
            .field("streams", &self.streams)
            .finish_non_exhaustive()
    }
}

/// What JetStream answered to a publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishReceipt {
    /// The message's sequence in the stream (of the first copy, for a duplicate).
    pub sequence: u64,
    /// `true` when an event with the same id was already in the duplicate window: this
    /// publish was suppressed.
    pub duplicate: bool,
}

/// Queue statistics of one handler's consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueStats {
    /// Events waiting to be delivered.
    pub pending: u64,
    /// Events delivered and not acknowledged yet.
    pub ack_pending: usize,
    /// Events delivered more than once (and not acknowledged yet).
    pub redelivered: usize,
    /// Events of this handler in the dead-letter stream.
    pub dead_lettered: u64,
}

/// One entry of the dead-letter stream: the event and why it is there.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// The handler that failed on it.
    pub handler: String,
    /// How many deliveries failed.
    pub deliveries: i64,
    /// The last error.
    pub error: String,
    /// The event, when its payload was a valid event.
    pub event: Option<ArvoEvent>,
    /// The original payload (as text) when it was not a valid event; when the letter was
    /// shortened, the first part of the payload (the event's JSON or the text).
    pub raw: Option<String>,
    /// The length in bytes of the payload when it was cut to fit the server's maximum message
    /// size (`event` is then `None` and `raw` a prefix); `None` when the payload is whole. A
    /// letter that does not fit whole first has its `error` cut to 4 KB.
    pub truncated_from: Option<u64>,
}

/// [`NatsError::SubjectTooLong`] when `subject` (one `event` is sent on, or its answer read
/// from) is over [`MAX_SUBJECT_BYTES`].
fn check_subject(subject: &str, event: &ArvoEvent) -> Result<(), NatsError> {
    if subject.len() <= MAX_SUBJECT_BYTES {
        return Ok(());
    }
    Err(NatsError::SubjectTooLong {
        event_id: event.id().to_owned(),
        subject: subject.to_owned(),
        len: subject.len(),
        max: MAX_SUBJECT_BYTES,
    })
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

impl NatsTransport {
    /// Connects to `url` and creates the streams when they do not exist.
    ///
    /// # Errors
    /// [`NatsError::Connect`] or [`NatsError::Stream`].
    pub async fn connect(url: &str, streams: NatsStreams) -> Result<NatsTransport, NatsError> {
        let client = async_nats::connect(url)
            .await
            .map_err(|e| NatsError::Connect {
                url: url.to_owned(),
                reason: err_text(&e),
            })?;
        NatsTransport::new(client, streams).await
    }

    /// Uses an existing client and creates the streams when they do not exist.
    ///
    /// # Errors
    /// [`NatsError::Stream`].
    pub async fn new(
        client: async_nats::Client,
        streams: NatsStreams,
    ) -> Result<NatsTransport, NatsError> {
        let js = jetstream::new(client.clone());
        let events = stream::Config {
            name: streams.name.clone(),
            subjects: vec![format!("{}.>", streams.name)],
            retention: stream::RetentionPolicy::WorkQueue,
            max_age: streams.max_age,
            duplicate_window: streams.duplicate_window,
            ..Default::default()
        };
        let dead = stream::Config {
            name: streams.dead_letter_name(),
            subjects: vec![format!("{}_dlq.>", streams.name)],
            retention: stream::RetentionPolicy::Limits,
            max_age: streams.max_age,
            duplicate_window: streams.duplicate_window,
            ..Default::default()
        };
        for config in [events, dead] {
            let name = config.name.clone();
            js.get_or_create_stream(config)
                .await
                .map_err(|e| NatsError::Stream {
                    stream: name,
                    reason: err_text(&e),
                })?;
        }
        Ok(NatsTransport {
            client,
            js,
            streams: Arc::new(streams),
        })
    }

    /// The streams' configuration.
    pub fn streams(&self) -> &NatsStreams {
        &self.streams
    }

    /// The underlying client.
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// Publishes `event` on the subject of its `to`, with `Nats-Msg-Id` = its id, and waits
    /// for JetStream's acknowledgement.
    ///
    /// # Errors
    /// [`NatsError::MissingTo`] without a `to`; [`NatsError::Publish`] when the server does not
    /// acknowledge.
    pub async fn publish(&self, event: &ArvoEvent) -> Result<PublishReceipt, NatsError> {
        let to = event.to().ok_or_else(|| NatsError::MissingTo {
            event_id: event.id().to_owned(),
        })?;
        let subject = self.streams.subject(to);
        self.publish_on(subject, event).await
    }

    async fn publish_on(
        &self,
        subject: String,
        event: &ArvoEvent,
    ) -> Result<PublishReceipt, NatsError> {
        let ack = self.send(subject.clone(), event, 0).await?;
        let fail = |reason: String| NatsError::Publish {
            event_id: event.id().to_owned(),
            subject: subject.clone(),
            reason,
        };
        let ack = ack.await.map_err(|e| fail(err_text(&e)))?;
        Ok(PublishReceipt {
            sequence: ack.sequence,
            duplicate: ack.duplicate,
        })
    }

    /// Sends without waiting for the acknowledgement (returned as a future); `hops` (when not
    /// 0) goes in the [`HOPS_HEADER`].
    async fn send(
        &self,
        subject: String,
        event: &ArvoEvent,
        hops: u32,
    ) -> Result<jetstream::context::PublishAckFuture, NatsError> {
        check_subject(&subject, event)?;
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", event.id());
        headers.insert("Content-Type", "application/cloudevents+json");
        if hops > 0 {
            headers.insert(HOPS_HEADER, hops.to_string().as_str());
        }
        self.js
            .publish_with_headers(subject.clone(), headers, event.to_json_string().into())
            .await
            .map_err(|e| NatsError::Publish {
                event_id: event.id().to_owned(),
                subject,
                reason: err_text(&e),
            })
    }

    /// Publishes `event` and waits up to `timeout` for the first event addressed back to its
    /// `source` with the same subject: the workflow's completion (or a system error).
    ///
    /// The answer is read from a plain NATS subscription on the subject of the event's
    /// `source`, opened before the event is published, so the `source` must not be one of the
    /// deployment's handlers' sources for the answer to stay in the stream for auditing only.
    ///
    /// # Errors
    /// [`NatsError::Subscribe`], the errors of [`publish`](Self::publish), and
    /// [`NatsError::Timeout`].
    pub async fn resolve(
        &self,
        event: ArvoEvent,
        timeout: Duration,
    ) -> Result<ArvoEvent, NatsError> {
        let reply = self.streams.subject(event.source());
        check_subject(&reply, &event)?;
        let mut sub =
            self.client
                .subscribe(reply.clone())
                .await
                .map_err(|e| NatsError::Subscribe {
                    subject: reply.clone(),
                    reason: err_text(&e),
                })?;
        self.publish(&event).await?;
        let wait = async {
            while let Some(msg) = sub.next().await {
                match ArvoEvent::from_json_slice(&msg.payload) {
                    Ok(answer)
                        if answer.subject() == event.subject()
                            && answer.to() == Some(event.source()) =>
                    {
                        return Some(answer);
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(subject = %msg.subject, error = %e,
                        "resolve: not an event on the reply subject"),
                }
            }
            None
        };
        let timed_out = || NatsError::Timeout {
            event_id: event.id().to_owned(),
            subject: event.subject().to_owned(),
            after: timeout,
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(Some(answer)) => Ok(answer),
            Ok(None) | Err(_) => Err(timed_out()),
        }
    }

    /// The queue statistics of `handler`'s consumer.
    ///
    /// # Errors
    /// [`NatsError::Consumer`] when the consumer does not exist or cannot be read.
    pub async fn queue_stats(&self, handler: &str) -> Result<QueueStats, NatsError> {
        let name = NatsStreams::consumer_name(handler);
        let fail = |reason: String| NatsError::Consumer {
            handler: handler.to_owned(),
            consumer: name.clone(),
            reason,
        };
        let stream = self
            .js
            .get_stream_no_info(&self.streams.name)
            .await
            .map_err(|e| fail(err_text(&e)))?;
        let info = stream
            .consumer_info(&name)
            .await
            .map_err(|e| fail(err_text(&e)))?;
        let dlq_name = self.streams.dead_letter_name();
        let dlq_fail = |reason: String| NatsError::Stream {
            stream: dlq_name.clone(),
            reason,
        };
        let dlq = self
            .js
            .get_stream_no_info(&dlq_name)
            .await
            .map_err(|e| dlq_fail(err_text(&e)))?;
        let mut subjects = dlq
            .info_with_subjects(self.streams.dead_letter_subject(handler))
            .await
            .map_err(|e| dlq_fail(err_text(&e)))?;
        let mut dead_lettered = 0;
        while let Some(entry) = subjects.next().await {
            let (_, count) = entry.map_err(|e| dlq_fail(err_text(&e)))?;
            dead_lettered += count as u64;
        }
        Ok(QueueStats {
            pending: info.num_pending,
            ack_pending: info.num_ack_pending,
            redelivered: info.num_redelivered,
            dead_lettered,
        })
    }

    /// Reads up to `limit` entries of the dead-letter stream, oldest first.
    ///
    /// # Errors
    /// [`NatsError::Stream`] when the stream cannot be read.
    pub async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, NatsError> {
        let name = self.streams.dead_letter_name();
        let fail = |reason: String| NatsError::Stream {
            stream: name.clone(),
            reason,
        };
        let mut stream = self
            .js
            .get_stream(&name)
            .await
            .map_err(|e| fail(err_text(&e)))?;
        let state = stream
            .info()
            .await
            .map_err(|e| fail(err_text(&e)))?
            .state
            .clone();
        let mut out = Vec::new();
        if state.messages == 0 {
            return Ok(out);
        }
        for seq in state.first_sequence..=state.last_sequence {
            if out.len() >= limit {
                break;
            }
            let Ok(msg) = stream.get_raw_message(seq).await else {
                continue; // deleted
            };
            let v: Value = serde_json::from_slice(&msg.payload).unwrap_or(Value::Null);
            let text = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
            out.push(DeadLetter {
                handler: text("handler"),
                deliveries: v["deliveries"].as_i64().unwrap_or_default(),
                error: text("error"),
                event: serde_json::from_value::<ArvoEvent>(v["event"].clone()).ok(),
                raw: v["raw"].as_str().map(str::to_owned),
                truncated_from: if v["truncated"] == true {
                    v["payloadBytes"].as_u64()
                } else {
                    None
                },
            });
        }
        Ok(out)
    }

    /// Deletes both streams (and so every consumer), e.g. at the end of a test.
    ///
    /// # Errors
    /// [`NatsError::Stream`] when a stream cannot be deleted.
    pub async fn delete_streams(&self) -> Result<(), NatsError> {
        for name in [self.streams.name.clone(), self.streams.dead_letter_name()] {
            self.js
                .delete_stream(&name)
                .await
                .map_err(|e| NatsError::Stream {
                    stream: name.clone(),
                    reason: err_text(&e),
                })?;
        }
        Ok(())
    }
}

/// A hook for emitted events with a `domain`, instead of publishing them on their domain's
/// subject. Returning an error makes the input event fail this delivery (it is retried).
pub type NatsHook = Arc<dyn Fn(ArvoEvent) -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// Counters of one [`NatsWorker`] (all handlers), readable while it runs.
#[derive(Debug, Default)]
pub struct WorkerStats {
    handled: AtomicU64,
    failed: AtomicU64,
    redelivered: AtomicU64,
    dead_lettered: AtomicU64,
    published: AtomicU64,
}

impl WorkerStats {
    /// Events handled and acknowledged.
    pub fn handled(&self) -> u64 {
        self.handled.load(Ordering::Relaxed)
    }
    /// Deliveries that failed and were negatively acknowledged (retried later).
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
    /// Deliveries that were re-deliveries (delivery count above 1).
    pub fn redelivered(&self) -> u64 {
        self.redelivered.load(Ordering::Relaxed)
    }
    /// Events moved to the dead-letter stream.
    pub fn dead_lettered(&self) -> u64 {
        self.dead_lettered.load(Ordering::Relaxed)
    }
    /// Events published (emitted by handlers).
    pub fn published(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Builds a [`NatsWorker`]; see [`NatsWorker::builder`].
#[must_use]
pub struct NatsWorkerBuilder {
    transport: NatsTransport,
    handlers: Vec<Arc<dyn DynEventHandler>>,
    in_flight: usize,
    max_deliveries: i64,
    max_hops: u32,
    run_timeout: Duration,
    ack_wait: Duration,
    fetch_expiry: Duration,
    retry: RetryPolicy,
    on_domained: Option<NatsHook>,
    on_ready: Option<ReadyHook>,
}

/// Called once when a worker's consumers exist, before its first fetch.
type ReadyHook = Box<dyn FnOnce() + Send>;

impl fmt::Debug for NatsWorkerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sources: Vec<&str> = self.handlers.iter().map(|h| h.source()).collect();
        f.debug_struct("NatsWorkerBuilder")
            .field("handlers", &sources)
            .field("in_flight", &self.in_flight)
            .field("max_deliveries", &self.max_deliveries)
            .field("max_hops", &self.max_hops)
            .field("run_timeout", &self.run_timeout)
            .field("ack_wait", &self.ack_wait)
            .finish_non_exhaustive()
    }
}

impl NatsWorkerBuilder {
    /// Serves `handler` (its `source` names its consumer).
    pub fn handler(mut self, handler: Arc<dyn DynEventHandler>) -> Self {
        self.handlers.push(handler);
        self
    }

    /// At most this many events of each handler run at once in this worker (default 16).
    pub fn in_flight(mut self, n: usize) -> Self {
        self.in_flight = n;
        self
    }

    /// Deliveries of one event before it is dead-lettered (default 5).
    pub fn max_deliveries(mut self, n: u32) -> Self {
        self.max_deliveries = i64::from(n);
        self
    }

    /// An event that this many handler runs led to (its [`HOPS_HEADER`]) is dead-lettered
    /// instead of handled (default [`DEFAULT_MAX_HOPS`]; see the
    /// [module docs](self#cycles-the-hop-budget)). With 1, only events published by
    /// [`NatsTransport::publish`] are handled.
    pub fn max_hops(mut self, n: u32) -> Self {
        self.max_hops = n;
        self
    }

    /// The longest one run of a handler may take (default [`DEFAULT_RUN_TIMEOUT`]). A run
    /// still going after it is cancelled and counts as a failed delivery (retried, then
    /// dead-lettered), so a handler that never returns cannot hold its event, and a slot of
    /// [`in_flight`](Self::in_flight), for ever under heartbeats. Publishing its outputs is
    /// bounded separately (each publish acknowledgement has the client's timeout).
    pub fn run_timeout(mut self, timeout: Duration) -> Self {
        self.run_timeout = timeout;
        self
    }

    /// How long the server waits for an acknowledgement before re-delivering (default 30 s;
    /// a running handler extends it with heartbeats). Used when the consumer is created.
    pub fn ack_wait(mut self, wait: Duration) -> Self {
        self.ack_wait = wait;
        self
    }

    /// How long one pull request waits for events (default 1 s): also how long a graceful
    /// shutdown may wait for the last request to end.
    pub fn fetch_expiry(mut self, expiry: Duration) -> Self {
        self.fetch_expiry = expiry;
        self
    }

    /// The backoff of retries: the delay of the negative acknowledgement after the n-th
    /// failed delivery is `retry.delay(n)` (default [`RetryPolicy::default`]; its
    /// `max_retries` is not used, see [`max_deliveries`](Self::max_deliveries)).
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// A hook for emitted events with a `domain` (instead of publishing them on
    /// [`NatsStreams::domain_subject`]). The input is acknowledged after the hook returns `Ok`.
    pub fn on_domained<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(ArvoEvent) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.on_domained = Some(Arc::new(move |e| Box::pin(f(e))));
        self
    }

    /// Called once by [`run`](NatsWorker::run) when every handler's consumer exists, before
    /// the first fetch: the moment to announce that the worker serves (a health line).
    pub fn on_ready(mut self, f: impl FnOnce() + Send + 'static) -> Self {
        self.on_ready = Some(Box::new(f));
        self
    }

    /// Builds the worker.
    ///
    /// # Errors
    /// [`NatsError::InvalidConfig`] for no handler, two handlers with one source, an
    /// `in_flight`, `max_deliveries` or `max_hops` of 0, or an `ack_wait`, `fetch_expiry` or
    /// `run_timeout` under 100 ms.
    pub fn build(self) -> Result<NatsWorker, NatsError> {
        let invalid = |s: String| Err(NatsError::InvalidConfig(s));
        if self.handlers.is_empty() {
            return invalid("no handler registered".into());
        }
        let mut seen = HashSet::new();
        for h in &self.handlers {
            if !seen.insert(h.source()) {
                return invalid(format!("handler '{}' registered twice", h.source()));
            }
        }
        if self.in_flight == 0 {
            return invalid("in_flight must be at least 1".into());
        }
        if self.max_deliveries < 1 {
            return invalid("max_deliveries must be at least 1".into());
        }
        if self.max_hops < 1 {
            return invalid("max_hops must be at least 1".into());
        }
        if self.ack_wait < Duration::from_millis(100)
            || self.fetch_expiry < Duration::from_millis(100)
            || self.run_timeout < Duration::from_millis(100)
        {
            return invalid(
                "ack_wait, fetch_expiry and run_timeout must be at least 100 ms".into(),
            );
        }
        Ok(NatsWorker {
            shared: Arc::new(Shared {
                transport: self.transport,
                max_deliveries: self.max_deliveries,
                max_hops: self.max_hops,
                run_timeout: self.run_timeout,
                ack_wait: self.ack_wait,
                retry: self.retry,
                on_domained: self.on_domained,
                stats: Arc::default(),
            }),
            handlers: self.handlers,
            in_flight: self.in_flight,
            fetch_expiry: self.fetch_expiry,
            on_ready: self.on_ready,
        })
    }
}

struct Shared {
    transport: NatsTransport,
    max_deliveries: i64,
    max_hops: u32,
    run_timeout: Duration,
    ack_wait: Duration,
    retry: RetryPolicy,
    on_domained: Option<NatsHook>,
    stats: Arc<WorkerStats>,
}

/// A worker: serves a set of handlers from their JetStream consumers until told to stop. Any
/// number of workers (in any processes) may serve the same handlers. See the
/// [module docs](self) for the delivery guarantees.
pub struct NatsWorker {
    shared: Arc<Shared>,
    handlers: Vec<Arc<dyn DynEventHandler>>,
    in_flight: usize,
    fetch_expiry: Duration,
    on_ready: Option<ReadyHook>,
}

impl fmt::Debug for NatsWorker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sources: Vec<&str> = self.handlers.iter().map(|h| h.source()).collect();
        f.debug_struct("NatsWorker")
            .field("handlers", &sources)
            .field("in_flight", &self.in_flight)
            .finish_non_exhaustive()
    }
}

impl NatsWorker {
    /// A builder for a worker on `transport`'s streams.
    pub fn builder(transport: NatsTransport) -> NatsWorkerBuilder {
        NatsWorkerBuilder {
            transport,
            handlers: Vec::new(),
            in_flight: 16,
            max_deliveries: 5,
            max_hops: DEFAULT_MAX_HOPS,
            run_timeout: DEFAULT_RUN_TIMEOUT,
            ack_wait: Duration::from_secs(30),
            fetch_expiry: Duration::from_secs(1),
            retry: RetryPolicy::default(),
            on_domained: None,
            on_ready: None,
        }
    }

    /// The worker's counters (shared: they keep counting while [`run`](Self::run) runs).
    pub fn stats(&self) -> Arc<WorkerStats> {
        self.shared.stats.clone()
    }

    /// Creates (or finds) the handlers' consumers, then serves them until `shutdown`
    /// completes; then stops fetching, finishes and acknowledges the events in flight, and
    /// returns the counters.
    ///
    /// # Errors
    /// [`NatsError::Stream`] / [`NatsError::Consumer`] when a consumer cannot be set up.
    pub async fn run(
        mut self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<Arc<WorkerStats>, NatsError> {
        let transport = &self.shared.transport;
        let stream_name = transport.streams.name.clone();
        let stream = transport
            .js
            .get_stream_no_info(&stream_name)
            .await
            .map_err(|e| NatsError::Stream {
                stream: stream_name.clone(),
                reason: err_text(&e),
            })?;
        let mut consumers = Vec::with_capacity(self.handlers.len());
        for handler in &self.handlers {
            let name = NatsStreams::consumer_name(handler.source());
            let config = consumer::pull::Config {
                durable_name: Some(name.clone()),
                filter_subject: transport.streams.subject(handler.source()),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: self.shared.ack_wait,
                max_deliver: -1,
                max_ack_pending: -1,
                ..Default::default()
            };
            let consumer = stream
                .get_or_create_consumer(&name, config)
                .await
                .map_err(|e| NatsError::Consumer {
                    handler: handler.source().to_owned(),
                    consumer: name.clone(),
                    reason: err_text(&e),
                })?;
            consumers.push((handler.clone(), consumer));
        }
        tracing::info!(
            stream = %stream_name,
            handlers = ?self.handlers.iter().map(|h| h.source()).collect::<Vec<_>>(),
            in_flight = self.in_flight,
            "NATS worker serving"
        );
        if let Some(ready) = self.on_ready.take() {
            ready();
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut loops = JoinSet::new();
        for (handler, consumer) in consumers {
            loops.spawn(serve(
                self.shared.clone(),
                handler,
                consumer,
                self.in_flight,
                self.fetch_expiry,
                stop_rx.clone(),
            ));
        }
        shutdown.await;
        tracing::info!(stream = %stream_name, "NATS worker stopping: finishing in-flight events");
        let _ = stop_tx.send(true);
        while loops.join_next().await.is_some() {}
        Ok(self.shared.stats.clone())
    }
}

/// Serves one handler's consumer: pulls only as many events as there are free slots.
async fn serve(
    shared: Arc<Shared>,
    handler: Arc<dyn DynEventHandler>,
    consumer: consumer::Consumer<consumer::pull::Config>,
    in_flight: usize,
    expiry: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(in_flight));
    let mut tasks = JoinSet::new();
    'fetch: loop {
        if *stop.borrow() {
            break;
        }
        while tasks.try_join_next().is_some() {}
        let first = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = stop.changed() => break,
        };
        let mut permits: Vec<OwnedSemaphorePermit> = vec![first];
        while let Ok(p) = slots.clone().try_acquire_owned() {
            permits.push(p);
        }
        let batch = consumer
            .batch()
            .max_messages(permits.len())
            .expires(expiry)
            .messages()
            .await;
        let mut batch = match batch {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(handler = handler.source(), error = %err_text(&e), "pull request failed; retrying in 1 s");
                drop(permits);
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue 'fetch,
                    _ = stop.changed() => break 'fetch,
                }
            }
        };
        // The request is at the server: take what it delivers (up to its expiry), even when
        // asked to stop, so nothing is left delivered and unhandled.
        while let Some(item) = batch.next().await {
            match item {
                Ok(msg) => {
                    let Some(permit) = permits.pop() else {
                        tracing::error!(
                            handler = handler.source(),
                            "the server sent more events than requested: left for re-delivery"
                        );
                        continue;
                    };
                    tasks.spawn(process(shared.clone(), handler.clone(), msg, permit));
                }
                Err(e) => {
                    tracing::warn!(handler = handler.source(), error = %err_text(&*e), "pull request ended with an error");
                    break;
                }
            }
        }
    }
    while tasks.join_next().await.is_some() {}
}

/// What went wrong with one delivery.
enum Failed {
    /// Retry later (nak with backoff), or dead-letter on the last delivery.
    Retry(String),
}

/// Handles one delivery: runs the handler with heartbeats, makes its effects safe, then acks.
async fn process(
    shared: Arc<Shared>,
    handler: Arc<dyn DynEventHandler>,
    msg: Message,
    permit: OwnedSemaphorePermit,
) {
    let _permit = permit;
    let source = handler.source();
    let (delivered, stream_seq) = match msg.info() {
        Ok(info) => (info.delivered, info.stream_sequence),
        Err(e) => {
            tracing::error!(handler = source, error = %err_text(&*e), "delivery without JetStream metadata: left for re-delivery");
            return;
        }
    };
    if delivered > 1 {
        bump(&shared.stats.redelivered);
    }
    let event = match ArvoEvent::from_json_slice(&msg.payload) {
        Ok(event) => event,
        Err(e) => {
            let raw = String::from_utf8_lossy(&msg.payload).into_owned();
            let error = format!("not an Arvo event: {e}");
            dead_letter(
                &shared,
                source,
                &msg,
                delivered,
                stream_seq,
                error,
                None,
                Some(raw),
            )
            .await;
            return;
        }
    };
    let hops = hops_of(&msg);
    let refused = match &hops {
        // Only a publisher that bypassed `NatsTransport::publish` puts an event on a handler's
        // subject that is addressed elsewhere; running the handler on it could have effects
        // meant for no one.
        _ if event.to() != Some(source) => Some(format!(
            "addressed to '{}', not to this handler: it was published on the handler's subject \
             without going through NatsTransport::publish",
            quote_prefix(event.to().unwrap_or_default())
        )),
        Err(value) => Some(format!(
            "its {HOPS_HEADER} header is not a count of handler runs: '{}'",
            quote_prefix(value)
        )),
        Ok(h) if *h >= shared.max_hops => Some(format!(
            "{h} handler runs led to this event (max_hops {}): a cycle between handlers?",
            shared.max_hops
        )),
        // The last allowed delivery was lost (a crashed or stalled worker).
        Ok(_) if delivered > shared.max_deliveries => Some(format!(
            "delivered {delivered} times (max {}): earlier deliveries were not acknowledged",
            shared.max_deliveries
        )),
        Ok(_) => None,
    };
    if let Some(error) = refused {
        dead_letter(
            &shared,
            source,
            &msg,
            delivered,
            stream_seq,
            error,
            Some(&event),
            None,
        )
        .await;
        return;
    }
    // Refused above when not a count below `max_hops`, so the outputs' count fits.
    let effects = effects(&shared, &handler, &event, hops.unwrap_or_default() + 1);
    let result = with_heartbeats(&msg, shared.ack_wait, effects).await;
    match result {
        Ok(()) => {
            if let Err(e) = msg.double_ack().await {
                tracing::warn!(handler = source, event_id = event.id(), error = %err_text(&*e),
                    "ack failed: the event will be re-delivered");
            } else {
                bump(&shared.stats.handled);
            }
        }
        Err(Failed::Retry(error)) if delivered >= shared.max_deliveries => {
            dead_letter(
                &shared,
                source,
                &msg,
                delivered,
                stream_seq,
                error,
                Some(&event),
                None,
            )
            .await;
        }
        Err(Failed::Retry(error)) => {
            bump(&shared.stats.failed);
            let attempt = u32::try_from(delivered).unwrap_or(u32::MAX);
            let delay = shared.retry.delay(attempt);
            tracing::warn!(handler = source, event_id = event.id(), delivered, ?delay, %error,
                "event handling failed: retrying");
            if let Err(e) = msg.ack_with(AckKind::Nak(Some(delay))).await {
                tracing::warn!(handler = source, error = %err_text(&*e), "nak failed: re-delivery after ack_wait");
            }
        }
    }
}

/// The delivery's [`HOPS_HEADER`]: 0 when absent, the header's text when it is not a count.
fn hops_of(msg: &Message) -> Result<u32, String> {
    match msg.headers.as_ref().and_then(|h| h.get(HOPS_HEADER)) {
        None => Ok(0),
        Some(value) => value
            .as_str()
            .parse()
            .map_err(|_| value.as_str().to_owned()),
    }
}

/// Runs `work`, telling the server every third of `ack_wait` that the event is in progress.
async fn with_heartbeats<T>(msg: &Message, ack_wait: Duration, work: impl Future<Output = T>) -> T {
    let beat = ack_wait / 3;
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + beat, beat);
    tokio::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = tick.tick() => {
                if let Err(e) = msg.ack_with(AckKind::Progress).await {
                    tracing::debug!(error = %err_text(&*e), "in-progress heartbeat failed");
                }
            }
        }
    }
}

/// Runs the handler and publishes its outputs, awaiting every publish acknowledgement.
/// The outputs carry `hops` in their [`HOPS_HEADER`].
async fn effects(
    shared: &Shared,
    handler: &Arc<dyn DynEventHandler>,
    event: &ArvoEvent,
    hops: u32,
) -> Result<(), Failed> {
    let run = AssertUnwindSafe(handler.execute_dyn(event, ParentContext::Event));
    let outputs = match tokio::time::timeout(shared.run_timeout, run.catch_unwind()).await {
        Ok(Ok(Ok(outputs))) => outputs,
        Ok(Ok(Err(violation))) => return Err(Failed::Retry(violation_text(&violation))),
        Ok(Err(panic)) => {
            return Err(Failed::Retry(format!(
                "handler panicked: {}",
                panic_text(&*panic)
            )));
        }
        Err(_) => {
            return Err(Failed::Retry(format!(
                "handler still running after run_timeout ({:?}): cancelled",
                shared.run_timeout
            )));
        }
    };
    let transport = &shared.transport;
    let mut acks = Vec::with_capacity(outputs.len());
    for output in &outputs {
        let subject = if let Some(domain) = output.domain() {
            if let Some(hook) = &shared.on_domained {
                hook(output.clone()).await.map_err(Failed::Retry)?;
                continue;
            }
            transport.streams.domain_subject(domain)
        } else if let Some(to) = output.to() {
            transport.streams.subject(to)
        } else {
            tracing::warn!(
                event_id = output.id(),
                event_type = output.event_type(),
                "emitted event without \"to\": unroutable"
            );
            transport.streams.unroutable_subject()
        };
        let ack = transport
            .send(subject.clone(), output, hops)
            .await
            .map_err(|e| Failed::Retry(e.to_string()))?;
        acks.push((output.id(), subject, ack));
    }
    for (id, subject, ack) in acks {
        ack.await.map_err(|e| {
            Failed::Retry(format!(
                "publishing event '{}' on '{}' was not acknowledged: {}",
                quote_prefix(id),
                quote_prefix(&subject),
                err_text(&e)
            ))
        })?;
        bump(&shared.stats.published);
    }
    Ok(())
}

fn violation_text(v: &Violation) -> String {
    v.to_string()
}

/// A handler's panic as text: [`UserPanic`](crate::handler::UserPanic)'s bounded message.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    crate::handler::UserPanic::from_payload(panic)
        .message()
        .to_owned()
}

/// A header value: no CR/LF, at most 512 bytes.
fn header_text(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let keep = crate::issue::prefix_within(&out, 512).len();
    out.truncate(keep);
    out
}

/// Bytes of the server's maximum message size a dead letter leaves to its headers.
const DEAD_LETTER_HEADROOM: usize = 4096;
/// The longest error text a shortened dead letter keeps, in bytes.
const DEAD_LETTER_ERROR_MAX: usize = 4096;

/// What a dead letter says about one delivery.
struct DeadLetterFields<'a> {
    handler: &'a str,
    deliveries: i64,
    error: &'a str,
    subject: &'a str,
    stream_sequence: u64,
    event: Option<&'a ArvoEvent>,
    raw: Option<&'a str>,
}

/// The dead letter's JSON, at most `max` bytes long whenever `max` leaves room for its fixed
/// fields. Whole when it fits. Otherwise the error keeps its first [`DEAD_LETTER_ERROR_MAX`]
/// bytes; if the letter still does not fit (an event near the server's maximum message size,
/// or a payload that grew when read as text: every byte that is not UTF-8 becomes a 3-byte
/// U+FFFD), the event's JSON or the raw text becomes a `raw` prefix that fits, and the letter says `"truncated": true` and how long the
/// payload was (`payloadBytes`). Without this a dead letter over the limit could not be
/// published, and its event would be re-delivered for ever.
fn dead_letter_body(f: DeadLetterFields<'_>, max: usize) -> Vec<u8> {
    let envelope = |error: &str, event: Option<Value>, raw: Option<&str>, cut: Option<usize>| {
        let mut v = json!({
            "handler": f.handler,
            "deliveries": f.deliveries,
            "error": error,
            "subject": f.subject,
            "streamSequence": f.stream_sequence,
            "event": event,
            "raw": raw,
        });
        if let (Some(len), Value::Object(m)) = (cut, &mut v) {
            m.insert("truncated".to_owned(), Value::Bool(true));
            m.insert("payloadBytes".to_owned(), json!(len));
        }
        serde_json::to_vec(&v).unwrap_or_default()
    };
    let event = f.event.map(ArvoEvent::to_json_value);
    let whole = envelope(f.error, event.clone(), f.raw, None);
    if whole.len() <= max {
        return whole;
    }
    // A long error is cut first: the payload stays whole (an event replayable) if that fits.
    let error = crate::issue::prefix_within(f.error, DEAD_LETTER_ERROR_MAX);
    if error.len() < f.error.len() {
        let body = envelope(error, event, f.raw, None);
        if body.len() <= max {
            return body;
        }
    }
    let payload = match (f.event, f.raw) {
        (Some(e), _) => e.to_json_string(),
        (None, Some(r)) => r.to_owned(),
        (None, None) => String::new(),
    };
    let fixed = envelope(error, None, Some(""), Some(payload.len())).len();
    // A character is never shorter in JSON than in UTF-8, so cutting as many bytes as the
    // letter is over makes it fit: one or two rounds.
    let mut keep = max.saturating_sub(fixed);
    loop {
        let prefix = crate::issue::prefix_within(&payload, keep);
        let body = envelope(error, None, Some(prefix), Some(payload.len()));
        if body.len() <= max || prefix.is_empty() {
            return body;
        }
        keep = prefix.len().saturating_sub(body.len() - max);
    }
}

/// Publishes the dead letter (awaiting its ack), then terminates the delivery. When the dead
/// letter cannot be published the delivery is left for re-delivery (nothing is lost); a
/// letter too long for the server is shortened first (see [`dead_letter_body`]).
#[allow(clippy::too_many_arguments)]
async fn dead_letter(
    shared: &Shared,
    handler: &str,
    msg: &Message,
    delivered: i64,
    stream_seq: u64,
    error: String,
    event: Option<&ArvoEvent>,
    raw: Option<String>,
) {
    let streams = &shared.transport.streams;
    let body = dead_letter_body(
        DeadLetterFields {
            handler,
            deliveries: delivered,
            error: &error,
            subject: msg.subject.as_str(),
            stream_sequence: stream_seq,
            event,
            raw: raw.as_deref(),
        },
        // Headers count against the server's limit too; theirs stay under 2 KB.
        shared
            .transport
            .client
            .max_payload()
            .saturating_sub(DEAD_LETTER_HEADROOM),
    );
    let mut headers = HeaderMap::new();
    headers.insert(
        "Nats-Msg-Id",
        format!("{}-{stream_seq}", streams.name).as_str(),
    );
    headers.insert("Arvo-Handler", header_text(handler).as_str());
    headers.insert("Arvo-Deliveries", delivered.to_string().as_str());
    headers.insert("Arvo-Error", header_text(&error).as_str());
    let subject = streams.dead_letter_subject(handler);
    let published = match shared
        .transport
        .js
        .publish_with_headers(subject.clone(), headers, body.into())
        .await
    {
        Ok(ack) => ack.await.map(|_| ()).map_err(|e| err_text(&e)),
        Err(e) => Err(err_text(&e)),
    };
    if let Err(reason) = published {
        tracing::error!(handler, %subject, %reason, "dead-lettering failed: the event will be re-delivered");
        let _ = msg
            .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
            .await;
        return;
    }
    tracing::warn!(handler, delivered, %error, event_id = event.map(ArvoEvent::id), "event dead-lettered");
    bump(&shared.stats.dead_lettered);
    if let Err(e) = msg.double_ack_with(AckKind::Term).await {
        tracing::warn!(handler, error = %err_text(&*e), "terminating a dead-lettered event failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_map_to_themselves() {
        for t in [
            "com.calc.add",
            "arvo.orc.bench.calc",
            "a.b.c0",
            "sys.com.x.error",
        ] {
            assert_eq!(encode_to(t), t);
            assert_eq!(decode_subject(t).as_deref(), Some(t));
        }
    }

    #[test]
    fn special_characters_are_escaped_and_decoded() {
        let cases = [
            ("*", "~2A"),
            (">", "~3E"),
            ("a b", "a~20b"),
            ("a..b", "a.~.b"),
            (".a.", "~.a.~"),
            ("", "~"),
            ("~", "~7E"),
            ("x/y:z#*", "x~2Fy~3Az~23~2A"),
            ("é", "~C3~A9"),
        ];
        for (to, tokens) in cases {
            assert_eq!(encode_to(to), tokens, "{to:?}");
            assert_eq!(decode_subject(tokens).as_deref(), Some(to), "{tokens:?}");
            for token in tokens.split('.') {
                assert!(!token.is_empty());
                assert!(
                    token
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_~".contains(&b))
                );
            }
        }
    }

    #[test]
    fn bad_tokens_are_refused() {
        for bad in ["~2", "~zz", "a*b", "~2a", "a b"] {
            assert_eq!(decode_token(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn stream_names_are_checked() {
        assert!(NatsStreams::new("ARVO_test-1").is_ok());
        for bad in ["", "a.b", "a*", "a b", "a>", &"x".repeat(65)] {
            assert!(
                matches!(NatsStreams::new(bad), Err(NatsError::InvalidName { .. })),
                "{bad:?}"
            );
        }
        let s = NatsStreams::new("T").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.domain_subject("human.review"), "T.domain.human~2Ereview");
        assert_eq!(
            NatsStreams::consumer_name("com.calc.add"),
            "arvo_com~2Ecalc~2Eadd"
        );
        assert_eq!(s.dead_letter_subject("com.x.y"), "T_dlq.com~2Ex~2Ey");
    }

    fn fields<'a>(
        error: &'a str,
        event: Option<&'a ArvoEvent>,
        raw: Option<&'a str>,
    ) -> DeadLetterFields<'a> {
        DeadLetterFields {
            handler: "com.test.echo",
            deliveries: 1,
            error,
            subject: "T.com~2Etest~2Eecho",
            stream_sequence: 7,
            event,
            raw,
        }
    }

    fn read(body: &[u8]) -> Value {
        serde_json::from_slice(body).expect("a dead letter is JSON")
    }

    #[test]
    fn a_dead_letter_that_fits_is_whole() {
        let event = ArvoEvent::builder()
            .source("com.test.client")
            .event_type("com.test.echo")
            .subject("s-1")
            .data_json(json!({"n": 1}))
            .build()
            .unwrap();
        let v = read(&dead_letter_body(
            fields("boom", Some(&event), None),
            1 << 20,
        ));
        assert_eq!(v["event"], event.to_json_value());
        assert_eq!(v["error"], "boom");
        assert_eq!(v["streamSequence"], 7);
        assert!(v.get("truncated").is_none());
    }

    #[test]
    fn a_dead_letter_over_the_limit_keeps_a_prefix_that_fits() {
        let max = 64 * 1024;
        // Text that grew from bytes that were not UTF-8 (3 bytes per U+FFFD).
        let lossy = "\u{FFFD}".repeat(max / 2);
        // An event whose data JSON-escapes to 6 bytes per character.
        let event = ArvoEvent::builder()
            .source("com.test.client")
            .event_type("com.test.echo")
            .subject("s-2")
            .data_json(json!({"text": "\u{1}".repeat(max)}))
            .build()
            .unwrap();
        let long_error = "e".repeat(3 * max);
        let event_json = event.to_json_string();
        for (f, payload) in [
            (
                fields("not an Arvo event", None, Some(&lossy)),
                lossy.as_str(),
            ),
            (fields(&long_error, Some(&event), None), event_json.as_str()),
        ] {
            let error_len = f.error.len();
            let body = dead_letter_body(f, max);
            assert!(body.len() <= max, "{} > {max}", body.len());
            let v = read(&body);
            assert_eq!(v["truncated"], true);
            assert_eq!(v["payloadBytes"], payload.len());
            assert_eq!(v["event"], Value::Null);
            let raw = v["raw"].as_str().unwrap();
            assert!(!raw.is_empty() && payload.starts_with(raw));
            // Most of the room goes to the payload.
            assert!(raw.len() > max / 8, "{}", raw.len());
            let error = v["error"].as_str().unwrap();
            assert_eq!(error.len(), error_len.min(DEAD_LETTER_ERROR_MAX));
        }
    }

    #[test]
    fn a_long_error_is_cut_before_the_payload() {
        let event = ArvoEvent::builder()
            .source("com.test.client")
            .event_type("com.test.echo")
            .subject("s-3")
            .data_json(json!({"n": 3}))
            .build()
            .unwrap();
        let max = 64 * 1024;
        let long_error = "e".repeat(2 * max);
        let body = dead_letter_body(fields(&long_error, Some(&event), None), max);
        assert!(body.len() <= max, "{} > {max}", body.len());
        let v = read(&body);
        assert_eq!(v["event"], event.to_json_value(), "the event stays whole");
        assert_eq!(v["error"].as_str().unwrap().len(), DEAD_LETTER_ERROR_MAX);
        assert!(v.get("truncated").is_none());
    }

    #[test]
    fn a_limit_below_the_fixed_fields_gives_an_empty_prefix() {
        let raw = "x".repeat(1000);
        let v = read(&dead_letter_body(fields("boom", None, Some(&raw)), 10));
        assert_eq!(v["raw"], "");
        assert_eq!(v["payloadBytes"], 1000);
    }
}
