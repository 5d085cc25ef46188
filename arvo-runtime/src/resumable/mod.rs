//! `ArvoResumable` (spec §7): an imperative, durable orchestration. One handler per version of
//! an orchestrator contract receives the init event or a service response together with its
//! saved context and the responses collected so far, and answers with a new context, service
//! calls and, to finish, the completion output.
//!
//! Two ways to write the handler:
//! * typed ([`ResumableHandler`], registered with [`ArvoResumableBuilder::handler`]): typed init
//!   input, typed service events ([`ServiceEvents`]), typed context, typed completion;
//! * untyped closures per version ([`ArvoResumableBuilder::version`]) over [`ResumableStep`].
//!
//! It runs inside the shared [orchestration wrapper](crate::orchestration) and stores a
//! [`ResumableRecord`] per subject. Beyond the reference:
//! * **idempotency**: a re-delivered event (same id) whose step is remembered (the last
//!   [`idempotency_window`](ArvoResumableBuilder::idempotency_window) steps) does not run the
//!   handler again and yields the same events again; nothing is written;
//! * every version must have a handler ([`ResumableBuildError::MissingVersion`] at build time);
//! * the subject is decoded once per workflow (a cache of decoded subjects), and the record holds typed
//!   values (events and the context), not JSON values;
//! * a `done` resumable does not rewrite its unchanged record for every later event.
//!
//! ```
//! use arvo_runtime::contract::{ArvoContract, Schema};
//! use arvo_runtime::factory::{ArvoOrchestratorEventFactory, EventInput};
//! use arvo_runtime::handler::{ParentContext, RawOutput};
//! use arvo_runtime::memory::InMemoryMemory;
//! use arvo_runtime::resumable::{ArvoResumable, RawOutcome};
//! use serde_json::json;
//!
//! let obj = |k: &[&str]| {
//!     let props: serde_json::Map<_, _> = k.iter().map(|k| (k.to_string(), json!({"type": "number"}))).collect();
//!     Schema::new(json!({"type": "object", "properties": props, "required": k})).unwrap()
//! };
//! let add = ArvoContract::simple("#/calc/add", "calc.add").version("1.0.0", obj(&["a", "b"]), obj(&["result"])).build()?;
//! let flow = ArvoContract::orchestrator("#/calc/flow", "calc.flow").version("1.0.0", obj(&["a", "b"]), obj(&["result"])).build()?;
//!
//! let resumable = ArvoResumable::<_, serde_json::Value>::builder(flow.clone(), InMemoryMemory::new())
//!     .service("calc", add.latest())
//!     .version("1.0.0", |step| Box::pin(async move {
//!         if let Some(init) = step.input {
//!             let call = RawOutput::new("com.calc.add", json!({"a": init.data()["a"], "b": init.data()["b"]}));
//!             return Ok(RawOutcome::default().services(vec![call]));
//!         }
//!         let result = step.service.map(|e| e.data()["result"].clone()).unwrap_or_default();
//!         Ok(RawOutcome::default().complete(json!({"result": result})))
//!     }))
//!     .build()?;
//!
//! let init = ArvoOrchestratorEventFactory::new(flow.latest())?
//!     .init(EventInput::new("com.example.client", json!({"parentSubject$$": null, "a": 1, "b": 2})))?;
//! # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
//! let out = resumable.execute(&init, ParentContext::Event).await?;
//! assert_eq!(out[0].event_type(), "com.calc.add");
//! assert_eq!(out[0].redirectto(), Some("arvo.orc.calc.flow"));
//! # Ok::<(), Box<dyn std::error::Error>>(()) })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod record;
mod typed;

pub use record::{
    ExpectedEvents, ProcessedEvent, ResumableEvents, ResumableRecord, ResumableStatus,
};
pub use typed::{
    DeclaredService, Outcome, ResumableHandler, ServiceEvent, ServiceEvents, Step, StepEvent,
    TypedCollected,
};

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use indexmap::IndexMap;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::contract::{ContractKind, OrchestratorContract, VersionedContract};
use crate::event::{ArvoEvent, EncodedUri, EventIdInput};
use crate::handler::{
    DomainSpec, EventHandler, HandlerError, ParentContext, RawOutput, Violation, push_output,
};
use crate::memory::{MachineMemory, SyncEventResource};
use crate::orchestration::builder::{
    BuilderSettings, FinishedSettings, ServiceClash, builder_setters, service_clash,
};
use crate::orchestration::{
    self, CoreError, CoreInput, CoreOutput, EmitContext, InputKind, OrchestrationCore,
    OrchestrationKind, OrchestrationRecord, OrchestrationSettings, ServiceUris, SubjectCache,
    create_emittables,
};
use crate::otel::TraceHeaders;
use crate::subject::Subject;

/// What a resumable stores: its [`ResumableRecord`] or the failure record.
pub type ResumableMemoryRecord<C> = OrchestrationRecord<ResumableRecord<C>>;

/// The default number of steps remembered for idempotency.
pub const DEFAULT_IDEMPOTENCY_WINDOW: usize = 16;

/// The default capacity of the subject cache.
pub const DEFAULT_SUBJECT_CACHE: usize = 65_536;

/// The responses collected for the last emissions, in emission order, then arrival order
/// (the reference's `collectedEvents`).
#[derive(Debug, Clone, Copy)]
pub struct Collected<'a> {
    expected: Option<&'a ExpectedEvents>,
}

impl<'a> Collected<'a> {
    /// Every collected event, in emission order of the requests, then arrival order.
    pub fn iter(&self) -> impl Iterator<Item = &'a ArvoEvent> + 'a {
        self.expected.into_iter().flat_map(|m| m.values()).flatten()
    }

    /// The collected events of one type, in order.
    pub fn of_type<'t>(&self, event_type: &'t str) -> impl Iterator<Item = &'a ArvoEvent> + 't
    where
        'a: 't,
    {
        self.iter().filter(move |e| e.event_type() == event_type)
    }

    /// How many events of `event_type` were collected.
    pub fn count(&self, event_type: &str) -> usize {
        self.of_type(event_type).count()
    }

    /// Grouped by type, types in order of first appearance (the reference's object).
    pub fn by_type(&self) -> IndexMap<&'a str, Vec<&'a ArvoEvent>> {
        let mut out: IndexMap<&str, Vec<&ArvoEvent>> = IndexMap::new();
        for e in self.iter() {
            out.entry(e.event_type()).or_default().push(e);
        }
        out
    }
}

/// What an untyped handler receives (the reference's handler input, §7.2).
pub struct ResumableStep<'a, C> {
    /// The event being processed.
    pub event: &'a ArvoEvent,
    /// Its subject, decoded.
    pub subject: &'a Subject,
    /// The self contract at the subject's version.
    pub contract: &'a VersionedContract,
    /// The service contracts.
    pub services: &'a [VersionedContract],
    /// The stored record (`None` on init).
    pub metadata: Option<&'a ResumableRecord<C>>,
    /// The stored context (`state$$`).
    pub context: Option<&'a C>,
    /// The event, when it is the init event.
    pub input: Option<&'a ArvoEvent>,
    /// The event, when it is a service response or system error.
    pub service: Option<&'a ArvoEvent>,
    /// The responses collected for the last emissions.
    pub collected: Collected<'a>,
    /// `(event.domain, self contract domain)`.
    pub domain: (Option<&'a str>, Option<&'a str>),
    /// The trace headers of the resumable's span.
    pub span_headers: &'a TraceHeaders,
    /// The OpenTelemetry context holding the resumable's span.
    pub otel_context: &'a opentelemetry::Context,
}

impl<C> ResumableStep<'_, C> {
    /// A raw event starting the child orchestration `child` (an orchestrator contract version)
    /// with this orchestration as its parent: `parentSubject$$` is set to this subject, so the
    /// child's completion comes back here.
    pub fn start_child(&self, child: &VersionedContract, mut data: Value) -> RawOutput {
        if let Value::Object(m) = &mut data {
            m.insert(
                crate::contract::PARENT_SUBJECT_FIELD.to_owned(),
                Value::String(self.event.subject().to_owned()),
            );
        }
        RawOutput::new(child.accepts().event_type.clone(), data)
    }
}

/// The completion of a resumable: the version's `complete` payload plus the reference's
/// `__id`, `__executionunits`, `__domain`.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The completion data (validated with the complete schema).
    pub data: Value,
    /// The completion event's id (`__id`).
    pub id: Option<EventIdInput>,
    /// Its cost (`__executionunits`).
    pub executionunits: Option<f64>,
    /// Its domain specs (`__domain`; default: the resumable's `complete` domains).
    pub domain: Option<Vec<DomainSpec>>,
}

/// What an untyped handler returns (`{ context?, output?, services? }`).
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct RawOutcome<C> {
    /// Replaces the stored context (`None`: keep it).
    pub context: Option<C>,
    /// Finishes the workflow.
    pub output: Option<Completion>,
    /// Service events to emit (before the completion).
    pub services: Vec<RawOutput>,
}

impl<C> Default for RawOutcome<C> {
    fn default() -> Self {
        Self {
            context: None,
            output: None,
            services: Vec::new(),
        }
    }
}

impl<C> RawOutcome<C> {
    /// Sets the new context.
    pub fn context(mut self, context: C) -> Self {
        self.context = Some(context);
        self
    }

    /// Finishes with `data` as completion payload.
    pub fn complete(mut self, data: Value) -> Self {
        self.output = Some(Completion {
            data,
            id: None,
            executionunits: None,
            domain: None,
        });
        self
    }

    /// Finishes with a completion built by the caller.
    pub fn completion(mut self, completion: Completion) -> Self {
        self.output = Some(completion);
        self
    }

    /// Service events to emit.
    pub fn services(mut self, services: Vec<RawOutput>) -> Self {
        self.services = services;
        self
    }
}

/// The result of a handler.
pub type ResumableResult<C> = Result<RawOutcome<C>, HandlerError>;

/// An untyped handler of one version.
pub type ResumableFn<C> =
    Box<dyn for<'a> Fn(ResumableStep<'a, C>) -> BoxFuture<'a, ResumableResult<C>> + Send + Sync>;

/// The context type of a resumable: serde both ways, cloneable.
pub trait Context: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {}

impl<T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static> Context for T {}

/// Why a resumable could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ResumableBuildError {
    /// A version of the self contract has no handler (the reference only fails at run time).
    #[error("ArvoResumable (uri={uri}) requires a handler for version {version}")]
    MissingVersion {
        /// The self contract uri.
        uri: String,
        /// The version.
        version: String,
    },
    /// A handler was registered for a version the contract does not have.
    #[error("ArvoResumable (uri={uri}) has no version {version} to register a handler for")]
    UnknownVersion {
        /// The self contract uri.
        uri: String,
        /// The version.
        version: String,
    },
    /// Two service contracts share a URI (the reference's message).
    #[error(
        "In ArvoResumable, the service contracts must have unique URIs. Multiple versions of the same contract are not allow. The contracts '{later}' and '{earlier}' have the same URI '{uri}'"
    )]
    DuplicateService {
        /// The later key.
        later: String,
        /// The earlier key.
        earlier: String,
        /// The shared URI.
        uri: String,
    },
    /// The self contract is registered as a service (the reference's message).
    #[error(
        "In ArvoResumable, Circular dependency detected: Machine with URI '{uri}' is registered as service '{key}'. Self-referential services create execution loops and are prohibited."
    )]
    CircularService {
        /// The self URI.
        uri: String,
        /// The service key.
        key: String,
    },
    /// `executionunits` is not finite.
    #[error("executionunits must be a finite number, got {0}")]
    ExecutionUnits(f64),
}

/// Builds an [`ArvoResumable`] (`createArvoResumable`'s parameters).
#[must_use]
pub struct ArvoResumableBuilder<M, C> {
    contract: OrchestratorContract,
    memory: M,
    services: Vec<(String, VersionedContract)>,
    settings: BuilderSettings,
    /// By version (hashed: many versions build in linear time).
    handlers: IndexMap<String, ResumableFn<C>>,
}

impl<M, C: Context> ArvoResumableBuilder<M, C>
where
    M: MachineMemory<ResumableMemoryRecord<C>>,
{
    /// Adds a service contract under `key` (the reference's `contracts.services` record).
    pub fn service(mut self, key: impl Into<String>, contract: VersionedContract) -> Self {
        let key = key.into();
        self.services.retain(|(k, _)| *k != key);
        self.services.push((key, contract));
        self
    }

    builder_setters!(
        handler = "resumable",
        locking_default = "more than one service contract, as in the reference",
        span_default = "Resumable<uri>@<event type>",
    );

    /// The untyped handler of `version`: `|step| Box::pin(async move { ... })`.
    pub fn version<F>(mut self, version: impl Into<String>, f: F) -> Self
    where
        F: for<'a> Fn(ResumableStep<'a, C>) -> BoxFuture<'a, ResumableResult<C>>
            + Send
            + Sync
            + 'static,
    {
        let version = version.into();
        self.handlers.insert(version, Box::new(f));
        self
    }

    /// The typed handler of version `V`; its service contracts are added.
    pub fn handler<V, H>(mut self, handler: Arc<H>) -> Self
    where
        V: crate::typed::ContractVersion,
        H: ResumableHandler<V, Context = C>,
    {
        for (key, c) in H::Services::contracts() {
            if !self.services.iter().any(|(_, s)| s == &c) {
                self = self.service(key, c);
            }
        }
        self.version(V::VERSION, typed::adapter::<V, H>(handler))
    }

    /// Builds the resumable.
    ///
    /// # Errors
    /// See [`ResumableBuildError`].
    pub fn build(self) -> Result<ArvoResumable<M, C>, ResumableBuildError> {
        if !self.settings.executionunits.is_finite() {
            return Err(ResumableBuildError::ExecutionUnits(
                self.settings.executionunits,
            ));
        }
        let uri = self.contract.uri().to_owned();
        match service_clash(&uri, &self.services) {
            Some(ServiceClash::Circular { key }) => {
                return Err(ResumableBuildError::CircularService { uri, key });
            }
            Some(ServiceClash::Duplicate {
                later,
                earlier,
                uri,
            }) => {
                return Err(ResumableBuildError::DuplicateService {
                    later,
                    earlier,
                    uri,
                });
            }
            None => {}
        }
        let mut handlers = self.handlers;
        let known: HashSet<&str> = self.contract.versions().map(|v| v.as_str()).collect();
        for v in handlers.keys() {
            if !known.contains(v.as_str()) {
                return Err(ResumableBuildError::UnknownVersion {
                    uri,
                    version: v.clone(),
                });
            }
        }
        let mut versions = Vec::with_capacity(handlers.len());
        for v in self.contract.versioned() {
            match handlers.swap_remove(v.version().as_str()) {
                Some(f) => versions.push((v, f)),
                None => {
                    return Err(ResumableBuildError::MissingVersion {
                        uri,
                        version: v.version().to_string(),
                    });
                }
            }
        }
        let several_services = self.services.len() > 1;
        let FinishedSettings {
            settings,
            requires_locking,
            window,
            cache,
        } = self
            .settings
            .finish(OrchestrationKind::Resumable, self.contract, || {
                several_services
            });
        let services: Vec<VersionedContract> = self.services.into_iter().map(|(_, c)| c).collect();
        Ok(ArvoResumable {
            core: ResumableCore {
                self_dataschemas: versions
                    .iter()
                    .map(|(v, _)| EncodedUri::encode(v.dataschema()))
                    .collect(),
                service_uris: services.iter().map(ServiceUris::of).collect(),
                system_error_type: settings.contract().system_error_type().to_owned(),
                settings,
                versions,
                services,
                window,
                cache,
            },
            resource: SyncEventResource::new(self.memory, requires_locking),
        })
    }
}

struct ResumableCore<C> {
    settings: OrchestrationSettings,
    system_error_type: String,
    versions: Vec<(VersionedContract, ResumableFn<C>)>,
    services: Vec<VersionedContract>,
    /// `encodeURI` of each version's dataschema (same order as `versions`).
    self_dataschemas: Vec<EncodedUri>,
    /// `encodeURI` of each service's dataschema (same order as `services`).
    service_uris: Vec<ServiceUris>,
    window: usize,
    cache: SubjectCache,
}

/// An imperative, durable orchestration over an orchestrator contract (see the
/// [module docs](self)). `M` is the memory, `C` the typed context.
pub struct ArvoResumable<M, C> {
    core: ResumableCore<C>,
    resource: SyncEventResource<M, ResumableMemoryRecord<C>>,
}

impl<M, C> std::fmt::Debug for ArvoResumable<M, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArvoResumable")
            .field("settings", &self.core.settings)
            .field("services", &self.core.services)
            .field("window", &self.core.window)
            .finish_non_exhaustive()
    }
}

impl<M, C: Context> ArvoResumable<M, C>
where
    M: MachineMemory<ResumableMemoryRecord<C>>,
{
    /// A builder for a resumable over `contract`, storing its records in `memory`.
    pub fn builder(
        contract: impl Into<OrchestratorContract>,
        memory: M,
    ) -> ArvoResumableBuilder<M, C> {
        ArvoResumableBuilder {
            contract: contract.into(),
            memory,
            services: Vec::new(),
            settings: BuilderSettings::default(),
            handlers: IndexMap::new(),
        }
    }

    /// The source (`arvo.orc.<name>`), the event type it is routed by.
    pub fn source(&self) -> &str {
        self.core.settings.source()
    }

    /// Whether subjects are locked during a step.
    pub fn requires_locking(&self) -> bool {
        self.resource.requires_locking()
    }

    /// The memory.
    pub fn memory(&self) -> &M {
        self.resource.memory()
    }

    /// The service contracts.
    pub fn services(&self) -> &[VersionedContract] {
        &self.core.services
    }

    /// Processes one event (spec §6.2 with the core of §7.3).
    ///
    /// # Errors
    /// The violations of the wrapper (see the [`orchestration`] module) and of the core: `Config`
    /// (no handler for the subject's version, event in no contract), `Contract` (dataschema,
    /// data), `Execution` (child subjects), or a violation raised by the handler.
    pub async fn execute(
        &self,
        event: &ArvoEvent,
        parent: ParentContext,
    ) -> Result<Vec<ArvoEvent>, Violation> {
        orchestration::execute(
            &self.core.settings,
            &self.resource,
            &self.core.cache,
            &self.core,
            event,
            parent,
        )
        .await
    }
}

impl<M, C: Context> EventHandler for ArvoResumable<M, C>
where
    M: MachineMemory<ResumableMemoryRecord<C>>,
{
    fn source(&self) -> &str {
        self.core.settings.source()
    }
    fn system_error_type(&self) -> &str {
        &self.core.system_error_type
    }
    fn execute(
        &self,
        event: &ArvoEvent,
        parent: ParentContext,
    ) -> impl Future<Output = Result<Vec<ArvoEvent>, Violation>> + Send {
        ArvoResumable::execute(self, event, parent)
    }
}

impl<C: Context> ResumableCore<C> {
    /// `validateInputEvent` (§6.4) with the unversioned self contract.
    fn validate_input(&self, event: &ArvoEvent) -> Result<InputKind, CoreError> {
        orchestration::validate_input(
            event,
            self.settings.source(),
            // An unknown version here is a plain error in the reference (failure record).
            |version| {
                self.settings
                    .contract()
                    .version(version)
                    .map(std::borrow::Cow::Owned)
                    .map_err(|e| CoreError::Failure(HandlerError::from(e)))
            },
            &self.services,
            "resumable",
        )
    }

    async fn run(
        &self,
        input: CoreInput<'_, ResumableRecord<C>>,
    ) -> Result<CoreOutput<ResumableRecord<C>>, CoreError> {
        let CoreInput {
            event,
            subject,
            state,
            parent_subject,
            init_event_id,
            headers,
            otel_context,
        } = input;
        // Idempotency: a remembered event is answered from the record, nothing runs again.
        if let Some(produced) = state.as_ref().and_then(|s| s.produced_for(event.id())) {
            return Ok(CoreOutput {
                events: produced.to_vec(),
                record: None,
            });
        }
        let content = subject.content();
        let Some((self_version, handler)) = self
            .versions
            .iter()
            .find(|(v, _)| v.version().as_str() == content.orchestrator.version)
        else {
            return Err(Violation::config(format!(
                "Handler resolution failed: No handler found matching orchestrator name='{}' and version='{}'.",
                crate::issue::quote_prefix(&content.orchestrator.name),
                crate::issue::quote_prefix(&content.orchestrator.version)
            ))
            .into());
        };
        let kind = self.validate_input(event)?;
        let mut state = state;
        if let Some(s) = &state
            && s.status == ResumableStatus::Done
        {
            tracing::info!(
                "The resumable has already reached the terminal state. Ignoring event(id={})",
                event.id()
            );
            return Ok(CoreOutput {
                events: Vec::new(),
                record: None,
            });
        }
        // The record shares the event (consumed, and collected when it answers one of the
        // last emissions): cloning an event does not copy it.
        let consumed = event.clone();
        // Collect a response to one of the last emissions.
        if let (Some(s), Some(pid)) = (state.as_mut(), event.parentid())
            && let Some(list) = s.events.expected.as_mut().and_then(|m| m.get_mut(pid))
        {
            list.push(consumed.clone());
        }
        let outcome = {
            let step = ResumableStep {
                event,
                subject,
                contract: self_version,
                services: &self.services,
                metadata: state.as_deref(),
                context: state.as_ref().and_then(|s| s.context.as_ref()),
                input: matches!(kind, InputKind::Init).then_some(event),
                service: matches!(kind, InputKind::Service).then_some(event),
                collected: Collected {
                    expected: state.as_ref().and_then(|s| s.events.expected.as_ref()),
                },
                domain: (event.domain(), self_version.domain()),
                span_headers: headers,
                otel_context,
            };
            handler(step).await.map_err(CoreError::Failure)?
        };
        let RawOutcome {
            context,
            output,
            services,
        } = outcome;
        let done = output.is_some();
        let mut raws = services;
        for r in &mut raws {
            if r.domain.is_none() {
                r.domain = Some(self.settings.domains().services.clone());
            }
        }
        if let Some(out) = output {
            let meta = &content.meta;
            let to = meta
                .get("redirectto")
                .map_or(content.execution.initiator.as_str(), String::as_str);
            let mut raw = RawOutput::new(self.complete_type(self_version), out.data).to(to);
            raw.id = out.id;
            raw.executionunits = out.executionunits;
            raw.domain = Some(
                out.domain
                    .unwrap_or_else(|| self.settings.domains().complete.clone()),
            );
            push_output(&mut raws, raw);
        }
        let parent_content = match parent_subject {
            Some(p) => self.cache.get_or_parse(p).ok(),
            None => None,
        };
        let encoded;
        let self_dataschema = match self
            .versions
            .iter()
            .zip(&self.self_dataschemas)
            .find(|((v, _), _)| std::ptr::eq(v, self_version))
        {
            Some((_, d)) => d,
            None => {
                encoded = EncodedUri::encode(self_version.dataschema());
                &encoded
            }
        };
        let ctx = EmitContext {
            source: self.settings.source(),
            source_uri: &self.settings.source_uri,
            self_dataschema,
            service_uris: &self.service_uris,
            executionunits: self.settings.executionunits(),
            self_version,
            services: &self.services,
            event,
            subject,
            parent_subject,
            parent_content: parent_content.as_ref().map(Subject::content),
            init_event_id,
            headers,
        };
        let emitted = create_emittables(&ctx, raws)?;
        // The new record; the previous step moves into the idempotency window.
        let (expected, previous_context, mut processed) = match state.map(|prev| *prev) {
            Some(prev) => {
                let mut processed = prev.processed;
                if self.window > 1 {
                    processed.push(ProcessedEvent {
                        id: prev.events.consumed.id().to_owned(),
                        produced: prev.events.produced,
                    });
                }
                (prev.events.expected, prev.context, processed)
            }
            None => (None, None, Vec::new()),
        };
        let excess = processed
            .len()
            .saturating_sub(self.window.saturating_sub(1));
        processed.drain(..excess);
        let expected = if emitted.is_empty() {
            expected
        } else {
            Some(
                emitted
                    .iter()
                    .map(|e| (e.id().to_owned(), Vec::new()))
                    .collect(),
            )
        };
        if done {
            self.cache.remove(event.subject());
        }
        let record = ResumableRecord {
            status: if done {
                ResumableStatus::Done
            } else {
                ResumableStatus::Active
            },
            init_event_id: Arc::clone(init_event_id),
            parent_subject: parent_subject.map(str::to_owned),
            subject: Arc::clone(event.shared_subject()),
            events: ResumableEvents {
                consumed,
                expected,
                produced: emitted.clone(),
            },
            context: context.or(previous_context),
            processed,
        };
        Ok(CoreOutput {
            events: emitted,
            record: Some(Box::new(record)),
        })
    }

    fn complete_type<'v>(&'v self, v: &'v VersionedContract) -> &'v str {
        match v.kind() {
            ContractKind::Orchestrator { complete_type, .. } => complete_type,
            _ => self.settings.source(),
        }
    }
}

impl<C: Context> OrchestrationCore for ResumableCore<C> {
    type Record = ResumableRecord<C>;

    fn step<'a>(
        &'a self,
        input: CoreInput<'a, Self::Record>,
    ) -> impl Future<Output = Result<CoreOutput<Self::Record>, CoreError>> + Send + 'a {
        self.run(input)
    }
}
