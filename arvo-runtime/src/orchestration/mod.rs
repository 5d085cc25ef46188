//! The orchestration wrapper shared by orchestrators and resumables (spec §6.2), the creation
//! of their emitted events (§6.5), their persisted records (§6.6) and error handling (§6.7).
//!
//! A handler kind supplies a core (crate-internal): the step that turns the event and the
//! state read into the events to emit and the record to write. The wrapper runs it in the
//! reference's order:
//!
//! 1. the subject must be an orchestration subject (`ExecutionViolation` otherwise); it is
//!    decoded **once** per step (and served from a cache of decoded subjects on later steps of the same
//!    workflow) and shared with the core, emittable creation, domain resolution and system
//!    errors;
//! 2. a subject naming another orchestrator yields no events (no lock, nothing persisted);
//! 3. lock (when required), read — memory failures are `TransactionViolation`s with the
//!    reference's causes and messages;
//! 4. a failure record ignores the event; no state and a non-init event ignores it; the parent
//!    subject is the stored one once a record exists (an init event sent again does not replace
//!    it, unlike the reference, which takes it from any init event);
//! 5. the core step; the record is written (compare-and-swap over the version read, fenced by
//!    the lease) and the events are returned only once the write succeeded;
//! 6. violations are returned with nothing persisted; any other error writes the terminal
//!    failure record and returns `sys.<type>.error` events; a panic of the core step (user
//!    code) is such an error (a [`UserPanic`](crate::handler::UserPanic)), not an unwind;
//! 7. the lease is released on every path.
//!
//! See [`crate::orchestrator`] and [`crate::resumable`] for the handler kinds built on it; both
//! validate their input events with one function (`validateInputEvent`, spec §6.4).

pub(crate) mod builder;
mod emit;
mod input;
mod record;

pub use emit::ORCHESTRATOR_CONTRACT_HINT;
pub(crate) use emit::{EmitContext, ServiceUris, create_emittables};
pub(crate) use input::{InputKind, validate_input};
pub use record::{FailureRecord, NormalRecord, OrchestrationRecord};

use std::collections::HashMap;
use std::future::Future;
use std::hash::BuildHasher;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt};
use opentelemetry::{Context, KeyValue};

use crate::contract::OrchestratorContract;
use crate::event::{ArvoEvent, EncodedUri};
use crate::handler::{
    DomainResolver, DomainSpec, HandlerError, ParentContext, SystemErrorSpec, Violation,
    system_error_events,
};
use crate::memory::{MachineMemory, MemoryRecord, SyncEventResource, TransactionError};
use crate::otel::{TraceHeaders, attr};
use crate::subject::{self, Subject, SubjectContent};
use crate::violation::ArvoErrorPayload;

/// The two orchestration handler kinds; they differ in names only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OrchestrationKind {
    /// `ArvoOrchestrator` (state machines).
    Orchestrator,
    /// `ArvoResumable` (imperative handlers).
    Resumable,
}

impl OrchestrationKind {
    /// `orchestrator` / `resumable` (the `arvo.handler.execution.type` attribute).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Orchestrator => "orchestrator",
            Self::Resumable => "resumable",
        }
    }

    /// `ArvoOrchestrator` / `ArvoResumable` (the reference's log prefixes).
    pub const fn handler_name(self) -> &'static str {
        match self {
            Self::Orchestrator => "ArvoOrchestrator",
            Self::Resumable => "ArvoResumable",
        }
    }

    /// `Orchestrator` / `Resumable`: the default span name prefix.
    const fn span_prefix(self) -> &'static str {
        match self {
            Self::Orchestrator => "Orchestrator",
            Self::Resumable => "Resumable",
        }
    }
}

/// The default domain specs of an orchestration's emissions (`defaultEventEmissionDomains`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmissionDomains {
    /// System error events (default `[OrchestrationContext]`).
    pub system_error: Vec<DomainSpec>,
    /// Service events without their own domain (default `[Local]`).
    pub services: Vec<DomainSpec>,
    /// The completion event without its own domain (default `[OrchestrationContext]`).
    pub complete: Vec<DomainSpec>,
}

impl Default for EmissionDomains {
    fn default() -> Self {
        Self {
            system_error: vec![DomainSpec::OrchestrationContext],
            services: vec![DomainSpec::Local],
            complete: vec![DomainSpec::OrchestrationContext],
        }
    }
}

/// The settings the wrapper needs of an orchestration handler.
pub(crate) struct OrchestrationSettings {
    pub(crate) kind: OrchestrationKind,
    pub(crate) contract: OrchestratorContract,
    pub(crate) source: String,
    /// `encodeURI(source)`, computed once.
    pub(crate) source_uri: EncodedUri,
    pub(crate) executionunits: f64,
    pub(crate) domains: EmissionDomains,
    pub(crate) tracer: crate::otel::ExecutionTracer,
    pub(crate) span_name: Option<String>,
    /// `<Prefix><<uri>>@<`: the default span name up to the event type, built once.
    pub(crate) span_name_prefix: String,
    pub(crate) span_attributes: Vec<KeyValue>,
}

impl std::fmt::Debug for OrchestrationSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrchestrationSettings")
            .field("kind", &self.kind)
            .field("source", &self.source)
            .field("executionunits", &self.executionunits)
            .field("domains", &self.domains)
            .finish_non_exhaustive()
    }
}

impl OrchestrationSettings {
    /// Settings for `contract` (its init type is the source).
    pub(crate) fn new(
        kind: OrchestrationKind,
        contract: OrchestratorContract,
        executionunits: f64,
        domains: EmissionDomains,
        tracer: Option<BoxedTracer>,
        span_name: Option<String>,
        mut span_attributes: Vec<KeyValue>,
    ) -> Self {
        let source = contract.init_type().to_owned();
        let arvo_kind = match kind {
            OrchestrationKind::Orchestrator => "handler.orchestrator.statemachine",
            OrchestrationKind::Resumable => "handler.orchestrator.imperative",
        };
        let mut attrs = vec![
            KeyValue::new(attr::ARVO_SPAN_KIND, arvo_kind),
            KeyValue::new(attr::OPENINFERENCE_SPAN_KIND, "CHAIN"),
        ];
        span_attributes.retain(|k| {
            k.key.as_str() != attr::HANDLER_SOURCE && k.key.as_str() != attr::CONTRACT_URI
        });
        for kv in span_attributes {
            match attrs.iter_mut().find(|k| k.key == kv.key) {
                Some(slot) => *slot = kv,
                None => attrs.push(kv),
            }
        }
        attrs.push(KeyValue::new(attr::HANDLER_SOURCE, source.clone()));
        attrs.push(KeyValue::new(attr::CONTRACT_URI, contract.uri().to_owned()));
        Self {
            kind,
            source_uri: EncodedUri::encode(&source),
            source,
            executionunits,
            domains,
            tracer: crate::otel::ExecutionTracer::new(tracer),
            span_name_prefix: format!("{}<{}>@<", kind.span_prefix(), contract.uri()),
            span_name,
            span_attributes: attrs,
            contract,
        }
    }

    /// The orchestration's source: its contract's init type (`arvo.orc.<name>`).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The self contract.
    pub fn contract(&self) -> &OrchestratorContract {
        &self.contract
    }

    /// The default cost of emitted events.
    pub fn executionunits(&self) -> f64 {
        self.executionunits
    }

    /// The default emission domains.
    pub fn domains(&self) -> &EmissionDomains {
        &self.domains
    }
}

/// foldhash: several times faster than SipHash on ~180-character subjects, randomly seeded.
type RandomState = foldhash::quality::RandomState;

type CacheShard = Mutex<HashMap<Arc<str>, Arc<SubjectContent>, RandomState>>;

/// Decoded subjects of running workflows, so a workflow's subject is decoded once, not once
/// per step. Bounded: when full it is emptied (entries are only a shortcut: a miss decodes).
/// Entries of finished workflows are removed by the handler kinds.
///
/// Decoding is a pure function of the subject string, so a cached result is exactly the check
/// that a fresh decode would make.
pub(crate) struct SubjectCache {
    shards: Box<[CacheShard]>,
    hasher: RandomState,
    per_shard: usize,
}

impl std::fmt::Debug for SubjectCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubjectCache")
            .field("capacity", &(self.per_shard * self.shards.len()))
            .finish_non_exhaustive()
    }
}

const CACHE_SHARDS: usize = 16;

impl SubjectCache {
    /// A cache of about `capacity` subjects (0 disables it).
    pub fn new(capacity: usize) -> Self {
        Self {
            shards: (0..CACHE_SHARDS)
                .map(|_| Mutex::new(HashMap::with_hasher(RandomState::default())))
                .collect(),
            hasher: RandomState::default(),
            per_shard: capacity.div_ceil(CACHE_SHARDS),
        }
    }

    fn shard(&self, subject: &str) -> &CacheShard {
        let key = crate::memory::in_memory::shard_key(subject);
        let i = usize::try_from(self.hasher.hash_one(key) % CACHE_SHARDS as u64).unwrap_or(0);
        &self.shards[i % self.shards.len()]
    }

    /// The subject, from the cache or decoded (and then cached).
    ///
    /// # Errors
    /// The decode error of an invalid subject (never cached).
    pub fn get_or_parse(&self, subject: &str) -> Result<Subject, subject::SubjectError> {
        self.get_or_parse_shared(&Arc::from(subject))
    }

    /// [`SubjectCache::get_or_parse`] of a shared string (an event's subject), which the
    /// subject and the cache then share instead of copying it.
    pub(crate) fn get_or_parse_shared(
        &self,
        subject: &Arc<str>,
    ) -> Result<Subject, subject::SubjectError> {
        if self.per_shard == 0 {
            return Subject::parse_shared(subject);
        }
        let shard = self.shard(subject);
        let hit = shard
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&**subject)
            .cloned();
        if let Some(content) = hit {
            return Ok(Subject::from_shared(Arc::clone(subject), content));
        }
        let parsed = Subject::parse_shared(subject)?;
        self.insert(&parsed);
        Ok(parsed)
    }

    /// Caches a subject known to be valid (one this process created).
    pub fn insert(&self, subject: &Subject) {
        if self.per_shard == 0 {
            return;
        }
        let mut map = self
            .shard(subject.as_str())
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if map.len() >= self.per_shard {
            map.clear();
        }
        map.insert(Arc::clone(subject.shared_str()), subject.shared_content());
    }

    /// Forgets a subject (its workflow finished).
    pub fn remove(&self, subject: &str) {
        if self.per_shard == 0 {
            return;
        }
        self.shard(subject)
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(subject);
    }
}

/// Why a core step failed: a violation for the infrastructure, or an error of the handler that
/// ends the orchestration (failure record + system error events).
#[derive(Debug)]
pub(crate) enum CoreError {
    /// Returned as is, nothing persisted.
    Violation(Violation),
    /// Persisted as the failure record and reported as `sys.<type>.error` events.
    Failure(HandlerError),
}

impl From<Violation> for CoreError {
    fn from(v: Violation) -> Self {
        Self::Violation(v)
    }
}

/// What the wrapper hands to a core step.
pub(crate) struct CoreInput<'a, R> {
    /// The event.
    pub event: &'a ArvoEvent,
    /// Its subject, decoded once for the whole step.
    pub subject: &'a Subject,
    /// The normal record read (`None`: a new orchestration); boxed, as it is moved through
    /// futures that are kept small.
    pub state: Option<Box<R>>,
    /// The orchestration's parent subject (from the record, or the init event's
    /// `parentSubject$$`).
    pub parent_subject: Option<&'a str>,
    /// The id of the event that started the orchestration (this event's on init).
    pub init_event_id: &'a Arc<str>,
    /// The trace headers of the orchestration's span.
    pub headers: &'a TraceHeaders,
    /// The OpenTelemetry context of the orchestration's span.
    pub otel_context: &'a Context,
}

/// What a core step returns: the events to emit and the record to write (`None`: nothing to
/// write, e.g. a re-delivered event answered from the record).
pub(crate) struct CoreOutput<R> {
    /// The events, returned once the record is written.
    pub events: Vec<ArvoEvent>,
    /// The new normal record (boxed, as [`state`](CoreInput::state)).
    pub record: Option<Box<R>>,
}

/// The step of a handler kind, run inside [`execute`].
pub(crate) trait OrchestrationCore: Send + Sync {
    /// The normal record of this kind.
    type Record: MemoryRecord + NormalRecord;

    /// Runs one step.
    fn step<'a>(
        &'a self,
        input: CoreInput<'a, Self::Record>,
    ) -> impl Future<Output = Result<CoreOutput<Self::Record>, CoreError>> + Send + 'a;
}

#[cold]
fn transaction_violation(e: TransactionError, event: &ArvoEvent) -> Violation {
    Violation::Transaction {
        cause: e.cause,
        message: e.message,
        initiating_event: Some(Box::new(event.clone())),
        memory_error: Some(Box::new(e.source)),
    }
}

#[inline]
fn log(cx: &Context, recording: bool, level: &'static str, message: impl FnOnce() -> String) {
    if recording {
        crate::otel::log_to_span(cx, level, message);
    }
}

#[cold]
#[inline(never)]
fn fail_span(cx: &Context, name: &str, message: &str) {
    crate::otel::record_failure(cx, name, message, message.to_owned());
}

/// Runs one orchestration step in the reference's order (see the [module docs](self)).
///
/// # Errors
/// `Execution` (invalid subject, invalid child subject), `Transaction` (memory), and whatever
/// violation the core returns (`Config`, `Contract`, ...). Nothing is persisted for them.
pub(crate) async fn execute<M, C>(
    settings: &OrchestrationSettings,
    resource: &SyncEventResource<M, OrchestrationRecord<C::Record>>,
    cache: &SubjectCache,
    core: &C,
    event: &ArvoEvent,
    parent: ParentContext,
) -> Result<Vec<ArvoEvent>, Violation>
where
    M: MachineMemory<OrchestrationRecord<C::Record>>,
    C: OrchestrationCore,
{
    let parent_cx = match parent {
        ParentContext::Event => crate::otel::event_parent_context(event),
        ParentContext::Context(cx) => cx,
    };
    let name = || -> std::borrow::Cow<'static, str> {
        match &settings.span_name {
            Some(name) => name.clone().into(),
            None => [&settings.span_name_prefix, event.event_type(), ">"]
                .concat()
                .into(),
        }
    };
    let span = settings.tracer.start(name, SpanKind::Producer, parent_cx);
    let (cx, recording) = (&span.cx, span.recording);
    let headers = TraceHeaders::from_context(cx);
    if recording {
        crate::otel::record_start(cx, &settings.span_attributes, settings.kind.as_str(), event);
    }
    log(cx, recording, "INFO", || {
        format!(
            "Starting execution for {} on subject {}",
            crate::issue::quote_prefix(event.event_type()),
            crate::issue::quote_prefix(event.subject())
        )
    });
    let result = run(
        settings, resource, cache, core, event, cx, recording, &headers,
    )
    .await;
    if recording {
        record_end(cx, &result);
    }
    span.end();
    result
}

/// The span attributes of a recording execution's result (out of the hot path).
#[cold]
#[inline(never)]
fn record_end(cx: &Context, result: &Result<Vec<ArvoEvent>, Violation>) {
    match result {
        Ok(events) => crate::otel::record_emittables(cx, events),
        Err(v) => fail_span(cx, &v.name(), &v.to_string()),
    }
}

/// The subject's span attributes (out of the hot path).
#[cold]
#[inline(never)]
fn record_subject(cx: &Context, content: &SubjectContent) {
    let span = cx.span();
    span.set_attribute(KeyValue::new(
        attr::SUBJECT_ORCHESTRATOR_NAME,
        content.orchestrator.name.clone(),
    ));
    span.set_attribute(KeyValue::new(
        attr::SUBJECT_ORCHESTRATOR_VERSION,
        content.orchestrator.version.clone(),
    ));
}

/// What a step starts from, once the record is read: the normal record (`None`: a new
/// orchestration), the parent subject and the init event id (`None`: the step ends here).
type StepStart<R> = (Option<Box<R>>, Option<String>, Option<Arc<str>>);

/// Steps 5-8 on the record read, synchronously: a failed orchestration or a non-init event
/// without a record ends the step (no init event id, logged); else what the core starts from.
///
/// The record is taken by value and only borrowed here. In [`run`]'s body, a large value that
/// is borrowed, or moved out of in parts, is kept in its future across every later await
/// (rustc keeps such locals' storage), so [`run`] only moves whole values.
fn start_step<R: NormalRecord>(
    settings: &OrchestrationSettings,
    event: &ArvoEvent,
    state: Option<OrchestrationRecord<R>>,
    cx: &Context,
    recording: bool,
) -> StepStart<R> {
    let state = match state {
        Some(OrchestrationRecord::Failure(_)) => {
            if recording {
                ignored_after_failure(cx, event);
            }
            return (None, None, None);
        }
        Some(OrchestrationRecord::Normal(n)) => Some(Box::new(n)),
        None => None,
    };
    let is_init = event.event_type() == settings.source;
    if state.is_none() && !is_init {
        log(cx, recording, "WARNING", || {
            format!(
                "Invalid initialization event detected. Expected type '{}' but received '{}'.",
                settings.source,
                crate::issue::quote_prefix(event.event_type())
            )
        });
        return (None, None, None);
    }
    // 6-8. Parent subject and init id. The parent is the one the workflow started with: an init
    // event for a workflow that exists already does not replace it (the reference takes any init
    // event's `parentSubject$$`, so a second init could send the completion to another parent).
    let parent_subject: Option<String> = match &state {
        Some(s) => s.parent_subject().map(str::to_owned),
        None => event
            .data()
            .get(crate::contract::PARENT_SUBJECT_FIELD)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned),
    };
    let init_event_id: Arc<str> = state
        .as_deref()
        .map_or_else(|| Arc::from(event.id()), NormalRecord::shared_init_event_id);
    (state, parent_subject, Some(init_event_id))
}

/// The span status and log of an event for an orchestration that failed before (cold).
#[cold]
#[inline(never)]
fn ignored_after_failure(cx: &Context, event: &ArvoEvent) {
    let msg = format!(
        "The orchestration has failed in a previous event. Ignoring event id: {} with event subject: {}",
        crate::issue::quote_prefix(event.id()),
        crate::issue::quote_prefix(event.subject())
    );
    cx.span()
        .set_attribute(KeyValue::new(attr::EXECUTION_STATUS, "failure"));
    log(cx, true, "WARNING", || msg.clone());
    cx.span().set_status(Status::error(msg));
}

/// How a core step ended, other than with a record to persist and events to return.
enum StepError {
    /// Returned as is, nothing persisted; logged at CRITICAL when `logged` (a violation the core
    /// returned, not one a user's error carried).
    Violation { violation: Violation, logged: bool },
    /// The failure path (step 12).
    Failure(HandlerError),
}

/// The core's result as [`run`] takes it apart: the record to persist and the events to
/// return, or how it failed.
#[allow(clippy::type_complexity)]
fn end_step<R>(
    step: Result<CoreOutput<R>, CoreError>,
) -> Result<(Option<Box<R>>, Vec<ArvoEvent>), StepError> {
    match step {
        Ok(CoreOutput { events, record }) => Ok((record, events)),
        Err(CoreError::Violation(violation)) => Err(StepError::Violation {
            violation,
            logged: true,
        }),
        Err(CoreError::Failure(err)) => match err.violation() {
            Some(violation) => Err(StepError::Violation {
                violation,
                logged: false,
            }),
            None => Err(StepError::Failure(err)),
        },
    }
}

/// The body of an orchestration step, steps 2-12 of the module docs.
///
/// Kept small as a future, since the broker boxes it per event: the record read and the
/// record written are moved (into the core's future, into the memory's write), never borrowed
/// here, and the decisions in between are made by synchronous helpers.
#[allow(clippy::too_many_arguments)]
async fn run<M, C>(
    settings: &OrchestrationSettings,
    resource: &SyncEventResource<M, OrchestrationRecord<C::Record>>,
    cache: &SubjectCache,
    core: &C,
    event: &ArvoEvent,
    cx: &Context,
    recording: bool,
    headers: &TraceHeaders,
) -> Result<Vec<ArvoEvent>, Violation>
where
    M: MachineMemory<OrchestrationRecord<C::Record>>,
    C: OrchestrationCore,
{
    // 2. Subject validation, once per step (and once per workflow through the cache).
    let subject = cache.get_or_parse_shared(event.shared_subject()).map_err(|_| {
        Violation::execution(format!(
            "Invalid event (id={}) subject format. Expected an ArvoOrchestrationSubject but received '{}'. The subject must follow the format specified by ArvoOrchestrationSubject schema",
            crate::issue::quote_prefix(event.id()),
            crate::issue::quote_prefix(event.subject())
        ))
    })?;
    let content = subject.content();
    if recording {
        record_subject(cx, content);
    }
    if content.orchestrator.name != settings.source {
        log(cx, recording, "WARNING", || {
            format!(
                "Event subject mismatch - expected '{}' but got '{}'",
                settings.source,
                crate::issue::quote_prefix(&content.orchestrator.name)
            )
        });
        return Ok(Vec::new());
    }
    // 3-8. Lock and read (the lock is released if the read fails), then what the step starts
    // from.
    let (mut tx, state) = match resource.open(event.subject()).await {
        Ok(opened) => opened,
        Err(e) => return Err(transaction_violation(e, event)),
    };
    let (state, parent_subject, init_event_id) = start_step(settings, event, state, cx, recording);
    let Some(init_event_id) = init_event_id else {
        drop(state);
        tx.release().await;
        return Ok(Vec::new());
    };
    // 9. The core: the one place an orchestration's user code runs. A panic in it is the
    // error it stands for (failure record, system error events, lock released), never an
    // unwind into the caller with the lock still held.
    let step = crate::handler::catch_panic(core.step(CoreInput {
        event,
        subject: &subject,
        state,
        parent_subject: parent_subject.as_deref(),
        init_event_id: &init_event_id,
        headers,
        otel_context: cx,
    }))
    .await
    .unwrap_or_else(|panic| Err(CoreError::Failure(HandlerError::from(panic))));
    let (record, events) = match end_step(step) {
        Ok(parts) => parts,
        Err(error) => {
            // 11-12. A violation, or the failure path, in a future of its own (boxed: the rare
            // paths stay out of the step's future and code).
            let failed: Pin<Box<dyn Future<Output = _> + Send + '_>> =
                Box::pin(step_failed(FailInput {
                    settings,
                    tx,
                    cache,
                    event,
                    cx,
                    recording,
                    parent_subject: parent_subject.as_deref(),
                    content,
                    init_event_id: &init_event_id,
                    headers,
                    error,
                }));
            return failed.await;
        }
    };
    // 10. Persist; events only after a successful write.
    let written = match record {
        Some(record) => tx
            .persist(OrchestrationRecord::Normal(*record))
            .await
            .map(|_| ()),
        None => Ok(()),
    };
    tx.release().await;
    match written {
        Ok(()) => Ok(events),
        Err(e) => Err(transaction_violation(e, event)),
    }
}

/// What the failure path of [`run`] needs.
struct FailInput<'a, 'r, M: MachineMemory<T>, T: MemoryRecord> {
    settings: &'a OrchestrationSettings,
    tx: crate::memory::Transaction<'r, M, T>,
    cache: &'a SubjectCache,
    event: &'a ArvoEvent,
    cx: &'a Context,
    recording: bool,
    parent_subject: Option<&'a str>,
    content: &'a SubjectContent,
    init_event_id: &'a Arc<str>,
    headers: &'a TraceHeaders,
    error: StepError,
}

/// Steps 11-12 of [`run`]: a violation (lock released, returned as is), or the terminal failure
/// record and the system error events.
async fn step_failed<R, M>(
    input: FailInput<'_, '_, M, OrchestrationRecord<R>>,
) -> Result<Vec<ArvoEvent>, Violation>
where
    R: MemoryRecord + NormalRecord,
    M: MachineMemory<OrchestrationRecord<R>>,
{
    let FailInput {
        settings,
        mut tx,
        cache,
        event,
        cx,
        recording,
        parent_subject,
        content,
        init_event_id,
        headers,
        error,
    } = input;
    let failure = match error {
        StepError::Violation { violation, logged } => {
            tx.release().await;
            if logged {
                log(cx, recording, "CRITICAL", || {
                    format!(
                        "{} violation error: {violation}",
                        settings.kind.handler_name()
                    )
                });
            }
            return Err(violation);
        }
        StepError::Failure(failure) => failure,
    };
    let payload = ArvoErrorPayload::from_error(failure.as_error());
    if recording {
        fail_span(cx, &payload.error_name, &payload.error_message);
    }
    let record = OrchestrationRecord::Failure(FailureRecord {
        subject: event.subject().to_owned(),
        error: payload.clone(),
    });
    if let Err(e) = tx.persist(record).await {
        log(cx, recording, "CRITICAL", || {
            format!("Error in orchestrator persisting the failure state: {e}")
        });
        tracing::error!("Error in orchestrator persisting the failure state: {e}");
    }
    tx.release().await;
    cache.remove(event.subject());
    log(cx, recording, "ERROR", || {
        format!(
            "{} execution failed: {}",
            settings.kind.handler_name(),
            payload.error_message
        )
    });
    let parent_content = match parent_subject {
        Some(p) => subject::parse(p).ok(),
        None => None,
    };
    let self_domain = settings.contract.domain();
    let resolver = DomainResolver::new(
        parent_subject,
        event.subject(),
        self_domain,
        self_domain,
        event.domain(),
    )
    .with_current_domain(content.execution.domain.as_deref());
    let resolver = match &parent_content {
        Some(p) => resolver.with_parent_domain(p.execution.domain.as_deref()),
        None => resolver,
    };
    let versioned = settings
        .contract
        .version(&content.orchestrator.version)
        .unwrap_or_else(|_| settings.contract.latest());
    system_error_events(&SystemErrorSpec {
        payload: &payload,
        source: &settings.source,
        system_error: versioned.system_error(),
        subject: parent_subject.unwrap_or(event.subject()),
        to: &content.execution.initiator,
        parentid: init_event_id,
        accesscontrol: event.accesscontrol(),
        executionunits: settings.executionunits,
        domains: resolver.resolve_dedup(&settings.domains.system_error),
        headers,
    })
}
