//! [`NatsTransport`]: the streams, publishing, resolving, and reading the queues and the
//! dead letters.

use super::subject::check_subject;
use super::subject::{encode_to, encode_token};
use super::{HOPS_HEADER, NatsError, WORKFLOW_HEADER, err_text};
use crate::event::ArvoEvent;
use async_nats::HeaderMap;
use async_nats::jetstream::{self, stream};
use futures_util::StreamExt;
use serde_json::Value;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The streams of one deployment: their names, subjects and limits. See the
/// [module docs](super).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsStreams {
    pub(super) name: String,
    pub(super) max_age: Duration,
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

    /// The key-value bucket of the workflows' run counts (`{name}_BUDGET`), used by workers with
    /// a [`workflow_budget`](super::NatsWorkerBuilder::workflow_budget).
    pub fn budget_bucket(&self) -> String {
        format!("{}_BUDGET", self.name)
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

    /// The subject of events without a `to` (see the [module docs](super)).
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
    pub(super) client: async_nats::Client,
    pub(super) js: jetstream::Context,
    pub(super) streams: Arc<NatsStreams>,
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
    /// The subject the event was delivered on (where
    /// [`replay_dead_letters`](NatsTransport::replay_dead_letters) publishes it again).
    pub subject: String,
    /// The letter's sequence number in the dead-letter stream.
    pub sequence: u64,
}

/// What [`NatsTransport::replay_dead_letters`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Replayed {
    /// Letters whose event was published again and which were then removed from the
    /// dead-letter stream.
    pub replayed: usize,
    /// Letters left in the stream: not selected, or without a whole event to publish (a
    /// payload that was not an Arvo event, or one shortened to fit the server's limit).
    pub kept: usize,
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
        let ack = self.send(subject.clone(), event, 0, None).await?;
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
    pub(super) async fn send(
        &self,
        subject: String,
        event: &ArvoEvent,
        hops: u32,
        workflow: Option<&str>,
    ) -> Result<jetstream::context::PublishAckFuture, NatsError> {
        self.send_as(subject, event, event.id(), hops, workflow)
            .await
    }

    /// [`send`](Self::send) with `msg_id` as the `Nats-Msg-Id`.
    async fn send_as(
        &self,
        subject: String,
        event: &ArvoEvent,
        msg_id: &str,
        hops: u32,
        workflow: Option<&str>,
    ) -> Result<jetstream::context::PublishAckFuture, NatsError> {
        check_subject(&subject, event)?;
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", msg_id);
        headers.insert("Content-Type", "application/cloudevents+json");
        if hops > 0 {
            headers.insert(HOPS_HEADER, hops.to_string().as_str());
        }
        if let Some(workflow) = workflow {
            headers.insert(WORKFLOW_HEADER, workflow);
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
        let stream = self.dead_letter_stream().await?;
        Ok(read_letters(&stream, limit).await)
    }

    /// The dead-letter stream, its state as of now.
    async fn dead_letter_stream(&self) -> Result<jetstream::stream::Stream, NatsError> {
        let name = self.streams.dead_letter_name();
        self.js
            .get_stream(&name)
            .await
            .map_err(|e| NatsError::Stream {
                stream: name,
                reason: err_text(&e),
            })
    }

    /// Publishes the events of the dead letters that `which` selects (up to `limit` letters
    /// read, oldest first) again on the subjects they were delivered on, and deletes each
    /// letter once the server has acknowledged its event: after the fault that sent them there
    /// is fixed (a service back, a contract deployed), nothing dead-lettered is lost. Letters
    /// without a whole event (a payload that was not an Arvo event, or one shortened to fit)
    /// stay, as do the letters not selected.
    ///
    /// The event is published with a `Nats-Msg-Id` of its own (the event's id and the letter's
    /// sequence), so JetStream's duplicate window, which still holds the event's first
    /// publication, does not swallow it; its hop count starts again at 0. Delivery is at least
    /// once: when this stops between a publication and its letter's deletion, the next replay
    /// publishes that event again. Run one replay at a time.
    ///
    /// # Errors
    /// [`NatsError::Stream`] when the stream cannot be read or a letter deleted,
    /// [`NatsError::Publish`] when an event is not acknowledged (the letters replayed before it
    /// are deleted; that one and the rest stay).
    pub async fn replay_dead_letters(
        &self,
        limit: usize,
        which: impl Fn(&DeadLetter) -> bool,
    ) -> Result<Replayed, NatsError> {
        let stream = self.dead_letter_stream().await?;
        let letters = read_letters(&stream, limit).await;
        let mut done = Replayed::default();
        for letter in letters {
            let Some(event) = letter.event.as_ref().filter(|_| which(&letter)) else {
                done.kept += 1;
                continue;
            };
            let subject = if letter.subject.is_empty() {
                self.streams.subject(&letter.handler)
            } else {
                letter.subject.clone()
            };
            let msg_id = format!("{}~replay~{}", event.id(), letter.sequence);
            let ack = self
                .send_as(subject.clone(), event, &msg_id, 0, None)
                .await?;
            ack.await.map_err(|e| NatsError::Publish {
                event_id: event.id().to_owned(),
                subject,
                reason: err_text(&e),
            })?;
            stream
                .delete_message(letter.sequence)
                .await
                .map_err(|e| NatsError::Stream {
                    stream: self.streams.dead_letter_name(),
                    reason: err_text(&e),
                })?;
            done.replayed += 1;
        }
        Ok(done)
    }

    /// Deletes both streams (and so every consumer), and the
    /// [budget bucket](NatsStreams::budget_bucket) when there is one, e.g. at the end of a test.
    ///
    /// # Errors
    /// [`NatsError::Stream`] when a stream cannot be deleted.
    pub async fn delete_streams(&self) -> Result<(), NatsError> {
        // A key-value bucket is the stream `KV_{bucket}`.
        let bucket = format!("KV_{}", self.streams.budget_bucket());
        if self.js.get_stream(&bucket).await.is_ok() {
            self.js
                .delete_stream(&bucket)
                .await
                .map_err(|e| NatsError::Stream {
                    stream: bucket.clone(),
                    reason: err_text(&e),
                })?;
        }
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

/// Up to `limit` letters of the dead-letter `stream`, oldest first, from the state it was
/// fetched with; a letter deleted since is skipped.
async fn read_letters(stream: &jetstream::stream::Stream, limit: usize) -> Vec<DeadLetter> {
    let state = &stream.cached_info().state;
    let mut out = Vec::new();
    if state.messages == 0 {
        return out;
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
            subject: text("subject"),
            sequence: seq,
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
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
