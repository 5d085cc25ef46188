//! [`NatsWorker`]: serves handlers from their consumers (fetch, run with heartbeats and a
//! timeout, publish the effects, acknowledge), with the hop budget and the dead letters.

use super::dead_letter::{DEAD_LETTER_HEADROOM, DeadLetterFields, dead_letter_body};
use super::transport::{NatsStreams, NatsTransport};
use super::{
    DEFAULT_MAX_HOPS, DEFAULT_MEMORY_WAIT, DEFAULT_RUN_TIMEOUT, HOPS_HEADER, MAX_IN_FLIGHT,
    MAX_WAIT, NatsError, WORKFLOW_HEADER, err_text,
};
use crate::broker::RetryPolicy;
use crate::event::ArvoEvent;
use crate::handler::{DynEventHandler, ParentContext, Violation};
use crate::issue::quote_prefix;
use async_nats::HeaderMap;
use async_nats::jetstream::kv;
use async_nats::jetstream::{AckKind, Message, consumer, stream};
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt};
use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::OnceCell;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;

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
    memory_waits: AtomicU64,
}

impl WorkerStats {
    /// Events handled and acknowledged, the server having confirmed the acknowledgement (one
    /// whose confirmation was lost with the connection is not counted, though the server may
    /// have taken it).
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
    /// Runs retried in place because the workflow's state could not be had (see
    /// [`NatsWorkerBuilder::memory_wait`]).
    pub fn memory_waits(&self) -> u64 {
        self.memory_waits.load(Ordering::Relaxed)
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
    workflow_budget: Option<u32>,
    run_timeout: Duration,
    memory_wait: Duration,
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
            .field("memory_wait", &self.memory_wait)
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

    /// At most this many events of each handler run at once in this worker (default 16, at most
    /// [`MAX_IN_FLIGHT`]).
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
    /// [module docs](super#cycles-the-hop-budget)). With 1, only events published by
    /// [`NatsTransport::publish`] are handled.
    pub fn max_hops(mut self, n: u32) -> Self {
        self.max_hops = n;
        self
    }

    /// Counts the handler runs of each workflow on the server, and dead-letters, instead of
    /// handling, an event of a workflow that already took `n` runs (default: off; see the
    /// [module docs](super#cycles-the-hop-budget)). This bounds a fan-out cycle, which
    /// [`max_hops`](Self::max_hops) does not, at the price of two round trips to the server's
    /// key-value store per event (the bucket [`NatsStreams::budget_bucket`], created when
    /// missing). The bucket keeps one count per workflow for the streams'
    /// [`max_age`](NatsStreams::max_age), as long as an event of the workflow may still wait:
    /// about 100 bytes of server storage per workflow started in that time, so a deployment
    /// with many short workflows should give its streams a `max_age` to match.
    pub fn workflow_budget(mut self, n: u32) -> Self {
        self.workflow_budget = Some(n);
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

    /// How long one delivery keeps retrying while the workflow's state cannot be had (default
    /// [`DEFAULT_MEMORY_WAIT`]; zero turns it off; at most [`MAX_WAIT`]): while a run ends in a
    /// [`Violation::Transaction`] that [is transient](Violation::is_transient) (the workflow's
    /// lease is held by another worker, the memory cannot be reached, a write lost a race; not
    /// a record too deep to store or one this code cannot read back, which counts as a failed
    /// delivery at once), the run is retried in place, with the
    /// [`retry`](Self::retry) backoff and under heartbeats, instead of counting as a failed
    /// delivery. A worker that crashed mid-step holds its workflows' leases until they expire
    /// ([`DEFAULT_LOCK_TTL`](crate::memory::DEFAULT_LOCK_TTL)), and a database restart takes
    /// seconds to minutes: counted as failures, the few [`max_deliveries`](Self::max_deliveries)
    /// would be spent within a second and the workflow's events dead-lettered. A delivery still
    /// failing so after this long counts as failed, and the next delivery waits again. The
    /// waiting run holds its slot of [`in_flight`](Self::in_flight); a graceful shutdown hands
    /// it back to the server at once.
    pub fn memory_wait(mut self, wait: Duration) -> Self {
        self.memory_wait = wait;
        self
    }

    /// How long the server waits for an acknowledgement before re-delivering (default 30 s;
    /// a running handler extends it with heartbeats; 100 ms to [`MAX_WAIT`]). Used when the
    /// consumer is created.
    pub fn ack_wait(mut self, wait: Duration) -> Self {
        self.ack_wait = wait;
        self
    }

    /// How long one pull request waits for events (default 1 s; 100 ms to [`MAX_WAIT`]): also
    /// how long a graceful shutdown may wait for the last request to end.
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
    /// `in_flight`, `max_deliveries` or `max_hops` of 0, an `in_flight` over [`MAX_IN_FLIGHT`],
    /// an `ack_wait`, `fetch_expiry` or `run_timeout` under 100 ms, or an `ack_wait`,
    /// `fetch_expiry` or `memory_wait` over [`MAX_WAIT`].
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
        // Each pull request asks for as many events as there are free slots, and collects a
        // permit per slot first.
        if self.in_flight > MAX_IN_FLIGHT {
            return invalid(format!(
                "in_flight must be at most {MAX_IN_FLIGHT} (got {})",
                self.in_flight
            ));
        }
        if self.max_deliveries < 1 {
            return invalid("max_deliveries must be at least 1".into());
        }
        if self.max_hops < 1 {
            return invalid("max_hops must be at least 1".into());
        }
        if self.workflow_budget == Some(0) {
            return invalid("workflow_budget must be at least 1".into());
        }
        if self.ack_wait < Duration::from_millis(100)
            || self.fetch_expiry < Duration::from_millis(100)
            || self.run_timeout < Duration::from_millis(100)
        {
            return invalid(
                "ack_wait, fetch_expiry and run_timeout must be at least 100 ms".into(),
            );
        }
        // Longer waits are sent to the server in nanoseconds that would wrap, and the
        // heartbeats' first deadline would overflow the clock.
        if self.ack_wait > MAX_WAIT || self.fetch_expiry > MAX_WAIT || self.memory_wait > MAX_WAIT {
            return invalid(format!(
                "ack_wait, fetch_expiry and memory_wait must be at most {} h (ack_wait {:?}, \
                 fetch_expiry {:?}, memory_wait {:?})",
                MAX_WAIT.as_secs() / 3600,
                self.ack_wait,
                self.fetch_expiry,
                self.memory_wait
            ));
        }
        Ok(NatsWorker {
            shared: Arc::new(Shared {
                transport: self.transport,
                max_deliveries: self.max_deliveries,
                max_hops: self.max_hops,
                budget: self.workflow_budget.map(|n| (n, OnceCell::new())),
                run_timeout: self.run_timeout,
                memory_wait: self.memory_wait,
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
    /// The workflow budget and its bucket (opened on first use).
    budget: Option<(u32, OnceCell<kv::Store>)>,
    run_timeout: Duration,
    memory_wait: Duration,
    ack_wait: Duration,
    retry: RetryPolicy,
    on_domained: Option<NatsHook>,
    stats: Arc<WorkerStats>,
}

/// A worker: serves a set of handlers from their JetStream consumers until told to stop. Any
/// number of workers (in any processes) may serve the same handlers. See the
/// [module docs](super) for the delivery guarantees.
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
            workflow_budget: None,
            run_timeout: DEFAULT_RUN_TIMEOUT,
            memory_wait: DEFAULT_MEMORY_WAIT,
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
                    tasks.spawn(process(
                        shared.clone(),
                        handler.clone(),
                        msg,
                        permit,
                        stop.clone(),
                    ));
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
    /// Refused (without running the handler, or by the handler's
    /// [`Execution`](Violation::Execution) violation): dead-letter now.
    Refused(String),
    /// The workflow's state could not be had (a [transient](Violation::is_transient)
    /// [`Violation::Transaction`]): retried in place for up to `memory_wait` (see
    /// [`run_waiting`]), then a failed delivery as [`Retry`](Failed::Retry) is.
    Unavailable(String),
    /// The worker stops while the run waits for the memory: handed back to the server.
    Stopping,
}

/// Handles one delivery: runs the handler with heartbeats, makes its effects safe, then acks.
async fn process(
    shared: Arc<Shared>,
    handler: Arc<dyn DynEventHandler>,
    msg: Message,
    permit: OwnedSemaphorePermit,
    stop: watch::Receiver<bool>,
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
    let result = match admit(&shared, source, &event, &msg, delivered).await {
        Ok((hops, workflow)) => {
            run_waiting(&shared, &handler, &event, &msg, hops, &workflow, stop).await
        }
        Err(refused) => Err(refused),
    };
    match result {
        Ok(()) => {
            if let Err(e) = msg.double_ack().await {
                tracing::warn!(handler = source, event_id = event.id(), error = %err_text(&*e),
                    "ack failed: the event will be re-delivered");
            } else {
                bump(&shared.stats.handled);
            }
        }
        Err(Failed::Stopping) => {
            if let Err(e) = msg.ack_with(AckKind::Nak(None)).await {
                tracing::warn!(handler = source, error = %err_text(&*e), "nak failed: re-delivery after ack_wait");
            }
        }
        Err(Failed::Retry(error) | Failed::Unavailable(error))
            if delivered < shared.max_deliveries =>
        {
            bump(&shared.stats.failed);
            let attempt = u32::try_from(delivered).unwrap_or(u32::MAX);
            let delay = shared.retry.delay(attempt);
            tracing::warn!(handler = source, event_id = event.id(), delivered, ?delay, %error,
                "event handling failed: retrying");
            if let Err(e) = msg.ack_with(AckKind::Nak(Some(delay))).await {
                tracing::warn!(handler = source, error = %err_text(&*e), "nak failed: re-delivery after ack_wait");
            }
        }
        Err(Failed::Retry(error) | Failed::Refused(error) | Failed::Unavailable(error)) => {
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
    }
}

/// Whether handler `source` may run `event` (delivery number `delivered` of `msg`): the hop
/// count of its outputs and their workflow id when it may; why not otherwise
/// ([`Failed::Refused`]), or [`Failed::Retry`] when the workflow budget could not be counted
/// (the run is not counted then).
async fn admit(
    shared: &Shared,
    source: &str,
    event: &ArvoEvent,
    msg: &Message,
    delivered: i64,
) -> Result<(u32, String), Failed> {
    let refuse = |error: String| Err(Failed::Refused(error));
    // Only a publisher that bypassed `NatsTransport::publish` puts an event on a handler's
    // subject that is addressed elsewhere; running the handler on it could have effects meant
    // for no one.
    if event.to() != Some(source) {
        return refuse(format!(
            "addressed to '{}', not to this handler: it was published on the handler's subject \
             without going through NatsTransport::publish",
            quote_prefix(event.to().unwrap_or_default())
        ));
    }
    let hops = match hops_of(msg) {
        Ok(h) if h >= shared.max_hops => {
            return refuse(format!(
                "{h} handler runs led to this event (max_hops {}): a cycle between handlers?",
                shared.max_hops
            ));
        }
        Ok(h) => h,
        Err(value) => {
            return refuse(format!(
                "its {HOPS_HEADER} header is not a count of handler runs: '{}'",
                quote_prefix(&value)
            ));
        }
    };
    // The last allowed delivery was lost (a crashed or stalled worker).
    if delivered > shared.max_deliveries {
        return refuse(format!(
            "delivered {delivered} times (max {}): earlier deliveries were not acknowledged",
            shared.max_deliveries
        ));
    }
    let workflow = match workflow_of(msg) {
        Ok(workflow) => workflow,
        Err(value) => {
            return refuse(format!(
                "its {WORKFLOW_HEADER} header is not a workflow id: '{}'",
                quote_prefix(&value)
            ));
        }
    };
    let Some(id) = workflow else {
        // A first event starts a workflow (a new id per delivery: the re-published outputs of
        // a re-delivery are duplicates JetStream drops).
        return Ok((hops + 1, uuid::Uuid::new_v4().hyphenated().to_string()));
    };
    if let Some((budget, bucket)) = &shared.budget {
        let runs = count_run(shared, bucket, &id)
            .await
            .map_err(|e| Failed::Retry(format!("the workflow budget could not be counted: {e}")))?;
        if runs > u64::from(*budget) {
            return refuse(format!(
                "its workflow took {runs} handler runs (workflow_budget {budget}): a fan-out cycle?"
            ));
        }
    }
    // Below `max_hops`, so the outputs' count fits.
    Ok((hops + 1, id))
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

/// The delivery's [`WORKFLOW_HEADER`]: `None` when absent, the header's text when it is not a
/// workflow id (a hyphenated UUID, as workers write it).
fn workflow_of(msg: &Message) -> Result<Option<String>, String> {
    match msg.headers.as_ref().and_then(|h| h.get(WORKFLOW_HEADER)) {
        None => Ok(None),
        Some(value) => {
            let text = value.as_str();
            match uuid::Uuid::try_parse(text) {
                Ok(id) if text.len() == 36 => Ok(Some(id.hyphenated().to_string())),
                _ => Err(text.to_owned()),
            }
        }
    }
}

/// Adds one run to workflow `id`'s count in the budget bucket (opened, or created, on first
/// use) and returns the new count. Compare-and-set on the key's revision, retried when another
/// worker counted in between.
async fn count_run(shared: &Shared, bucket: &OnceCell<kv::Store>, id: &str) -> Result<u64, String> {
    let store = bucket
        .get_or_try_init(|| open_bucket(&shared.transport))
        .await?;
    let mut last = String::new();
    for _ in 0..64 {
        let entry = store.entry(id).await.map_err(|e| err_text(&e))?;
        let written = match entry {
            Some(entry) if entry.operation == kv::Operation::Put => {
                let runs = std::str::from_utf8(&entry.value)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                    .unwrap_or(0)
                    .saturating_add(1);
                store
                    .update(id, runs.to_string().into(), entry.revision)
                    .await
                    .map(|_| runs)
                    .map_err(|e| err_text(&e))
            }
            _ => store
                .create(id, "1".into())
                .await
                .map(|_| 1)
                .map_err(|e| err_text(&e)),
        };
        match written {
            Ok(runs) => return Ok(runs),
            // Another worker wrote first (or the write failed): read again.
            Err(e) => last = e,
        }
    }
    Err(format!(
        "could not count a run of workflow '{id}' in 64 tries; the last: {last}"
    ))
}

/// The budget bucket of `transport`'s streams, created when missing. Its stream is made here
/// with the settings `create_key_value` gives one (`KV_{bucket}` on `$KV.{bucket}.>`, one value
/// per key, direct gets, rollups, no deletes): `create_key_value` first queries the account,
/// which fails on servers before 2.10.
async fn open_bucket(transport: &NatsTransport) -> Result<kv::Store, String> {
    let name = transport.streams.budget_bucket();
    let max_age = transport.streams.max_age;
    transport
        .js
        .get_or_create_stream(stream::Config {
            name: format!("KV_{name}"),
            subjects: vec![format!("$KV.{name}.>")],
            max_messages_per_subject: 1,
            max_age,
            duplicate_window: max_age.min(Duration::from_secs(120)),
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            discard: stream::DiscardPolicy::New,
            num_replicas: 1,
            ..Default::default()
        })
        .await
        .map_err(|e| {
            format!(
                "could not create the key-value bucket '{name}': {}",
                err_text(&e)
            )
        })?;
    transport.js.get_key_value(&name).await.map_err(|e| {
        format!(
            "could not open the key-value bucket '{name}': {}",
            err_text(&e)
        )
    })
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

/// Runs the handler (under heartbeats) and publishes its outputs; while the run ends in
/// [`Failed::Unavailable`], runs it again after the retry backoff (also under heartbeats) for up
/// to `memory_wait` in all, then reports the last such failure (a failed delivery). A stop
/// while waiting gives [`Failed::Stopping`].
async fn run_waiting(
    shared: &Shared,
    handler: &Arc<dyn DynEventHandler>,
    event: &ArvoEvent,
    msg: &Message,
    hops: u32,
    workflow: &str,
    mut stop: watch::Receiver<bool>,
) -> Result<(), Failed> {
    let started = tokio::time::Instant::now();
    let mut attempt = 0u32;
    loop {
        let run = effects(shared, handler, event, hops, workflow);
        let error = match with_heartbeats(msg, shared.ack_wait, run).await {
            Err(Failed::Unavailable(error)) => error,
            other => return other,
        };
        attempt = attempt.saturating_add(1);
        let delay = shared.retry.delay(attempt);
        let waited = started.elapsed();
        if waited.saturating_add(delay) > shared.memory_wait {
            return Err(Failed::Unavailable(if attempt > 1 {
                format!("{error} (still after retrying for {waited:?}, memory_wait)")
            } else {
                error
            }));
        }
        if attempt == 1 {
            tracing::warn!(handler = handler.source(), event_id = event.id(), %error,
                "the workflow's state cannot be had: retrying for up to memory_wait ({:?})", shared.memory_wait);
        } else {
            tracing::debug!(handler = handler.source(), event_id = event.id(), attempt, %error, "still waiting for the memory");
        }
        bump(&shared.stats.memory_waits);
        let pause = async {
            tokio::select! {
                () = tokio::time::sleep(delay) => true,
                _ = stop.wait_for(|stopping| *stopping) => false,
            }
        };
        if !with_heartbeats(msg, shared.ack_wait, pause).await {
            return Err(Failed::Stopping);
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
    workflow: &str,
) -> Result<(), Failed> {
    let run = AssertUnwindSafe(handler.execute_dyn(event, ParentContext::Event));
    let outputs = match tokio::time::timeout(shared.run_timeout, run.catch_unwind()).await {
        Ok(Ok(Ok(outputs))) => outputs,
        Ok(Ok(Err(violation))) if violation.is_transient() => {
            return Err(Failed::Unavailable(violation_text(&violation)));
        }
        Ok(Ok(Err(violation))) if violation.forbids_retry() => {
            return Err(Failed::Refused(violation_text(&violation)));
        }
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
            .send(subject.clone(), output, hops, Some(workflow))
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
