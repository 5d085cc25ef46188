//! `ArvoOrchestrator` (spec §6): a durable orchestration running [`ArvoMachine`] statecharts,
//! one machine per version of an orchestrator contract, inside the shared
//! [orchestration wrapper](crate::orchestration).
//!
//! Each event is routed to the machine of the version named in the workflow's **subject**
//! (`orchestrator.version`, spec §4.6), so a workflow started on v1 finishes on v1 while new
//! workflows start on the version their init event names ([`MachineRegistry`]). The step:
//! resolve the machine, validate the event against its contracts (§6.4), run the
//! [engine](ArvoMachine::execute) on the stored snapshot, add the completion event when the
//! machine reached a top-level final state, create the events (§6.5) and write a
//! [`MachineRecord`]. Beyond the reference, as [`ArvoResumable`](crate::ArvoResumable):
//! * **idempotency**: a re-delivered event (same id) whose step is remembered (the last
//!   [`idempotency_window`](ArvoOrchestratorBuilder::idempotency_window) steps) does not run
//!   the machine again and yields the same events again; nothing is written;
//! * a `done` workflow does not rewrite its unchanged record for every later event;
//! * the subject is decoded once per workflow (a [`SubjectCache`]).
//!
//! Parent/child: a machine starts a child orchestrator or resumable with
//! [`Emitter::start_child`](crate::machine::Emitter::start_child) (the child's contract is a
//! declared service); the child's `<child>.done` and `sys.<child>.error` come back on the
//! parent's subject and are ordinary transitions of the parent machine.
//!
//! ```
//! use arvo_runtime::broker::EventBroker;
//! use arvo_runtime::contract::{ArvoContract, Schema};
//! use arvo_runtime::factory::{ArvoOrchestratorEventFactory, EventInput};
//! use arvo_runtime::handler::{ArvoEventHandler, RawOutput};
//! use arvo_runtime::machine::ArvoMachine;
//! use arvo_runtime::memory::InMemoryMemory;
//! use arvo_runtime::orchestrator::ArvoOrchestrator;
//! use serde_json::{json, Value};
//!
//! let obj = |k: &[&str]| {
//!     let props: serde_json::Map<_, _> = k.iter().map(|k| (k.to_string(), json!({"type": "number"}))).collect();
//!     Schema::new(json!({"type": "object", "properties": props, "required": k})).unwrap()
//! };
//! let add = ArvoContract::simple("#/calc/add", "calc.add").version("1.0.0", obj(&["a", "b"]), obj(&["result"])).build()?;
//! let flow = ArvoContract::orchestrator("#/calc/flow", "calc.flow").version("1.0.0", obj(&["a", "b"]), obj(&["result"])).build()?;
//!
//! let machine = ArvoMachine::<Value>::builder("calc", flow.latest())
//!     .service("add", add.latest())
//!     .context(|init| Ok(Value::Object(init.data().clone())))
//!     .output(|c| Ok(json!({"result": c["result"]})))
//!     .initial("adding")
//!     .state("adding", |s| s
//!         .entry(|c, _, out| out.emit(RawOutput::new("com.calc.add", json!({"a": c["a"], "b": c["b"]}))))
//!         .on("evt.calc.add.success", |t| t.target("done").action(|c, e, _| {
//!             c["result"] = e.data()["result"].clone();
//!             Ok(())
//!         })))
//!     .state("done", |s| s.final_state())
//!     .build()?;
//!
//! let adder = ArvoEventHandler::builder(add.clone())
//!     .version_sync("1.0.0", |input| {
//!         let d = input.event.data();
//!         let r = d["a"].as_f64().unwrap_or(0.0) + d["b"].as_f64().unwrap_or(0.0);
//!         Ok(vec![RawOutput::new("evt.calc.add.success", json!({"result": r}))])
//!     });
//! let broker = EventBroker::builder()
//!     .handler(ArvoOrchestrator::builder(InMemoryMemory::new()).machine(machine))
//!     .handler(adder)
//!     .build()?;
//!
//! let init = ArvoOrchestratorEventFactory::new(flow.latest())?
//!     .init(EventInput::new("com.example.client", json!({"parentSubject$$": null, "a": 1, "b": 2})))?;
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let outcome = broker.resolve(init).await?;
//! let done = outcome.result().expect("a completion");
//! assert_eq!(done.event_type(), "arvo.orc.calc.flow.done");
//! assert_eq!(done.data()["result"], json!(3.0));
//! # Ok::<(), Box<dyn std::error::Error>>(()) })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod record;

pub use record::{MachineEvents, MachineRecord};

use std::future::Future;
use std::sync::Arc;

use opentelemetry::KeyValue;
use opentelemetry::global::BoxedTracer;
use serde_json::Value;

use crate::contract::{ContractKind, OrchestratorContract, dataschema};
use crate::event::{ArvoEvent, EncodedUri, EventIdInput};
use crate::handler::{
    DomainSpec, DynEventHandler, EventHandler, HandlerError, ParentContext, RawOutput, Violation,
};
use crate::machine::{ArvoMachine, Context, MachineStatus};
use crate::memory::{MachineMemory, SyncEventResource};
use crate::orchestration::{
    self, CoreError, CoreInput, CoreOutput, EmissionDomains, EmitContext, OrchestrationCore,
    OrchestrationKind, OrchestrationRecord, OrchestrationSettings, ServiceUris, SubjectCache,
    create_emittables,
};
use crate::registry::{IntoHandler, IntoHandlerError};
use crate::resumable::{DEFAULT_IDEMPOTENCY_WINDOW, DEFAULT_SUBJECT_CACHE, ProcessedEvent};
use crate::subject::{Subject, SubjectError};

/// What an orchestrator stores: its [`MachineRecord`] or the failure record.
pub type OrchestratorMemoryRecord<C> = OrchestrationRecord<MachineRecord<C>>;

/// Why an orchestrator (or a machine registry) could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrchestratorBuildError {
    /// No machine was given (the reference's message).
    #[error("At least one machine must be provided")]
    NoMachines,
    /// The machines do not share one source (the reference's message).
    #[error("All the machines in the orchestrator must have type '{source_type}'")]
    SourceMismatch {
        /// The first machine's source.
        source_type: String,
    },
    /// Two machines share a version (the reference's message).
    #[error(
        "An orchestrator must have unique machine versions. Machine ID:{id} has duplicate version {version}."
    )]
    DuplicateVersion {
        /// The later machine's id.
        id: String,
        /// The version.
        version: String,
    },
    /// `executionunits` is not finite.
    #[error("executionunits must be a finite number, got {0}")]
    ExecutionUnits(String),
}

/// The machines of an orchestrator, found by the orchestration subject's orchestrator name and
/// version (the reference's `MachineRegistry`, spec §8.1).
pub struct MachineRegistry<C> {
    machines: Vec<ArvoMachine<C>>,
}

impl<C> std::fmt::Debug for MachineRegistry<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.machines.iter()).finish()
    }
}

/// The reference's message for a registry without machines.
pub const NO_MACHINES_MESSAGE: &str = "Machine registry initialization failed: No machines provided. At least one machine must be registered.";

impl<C> MachineRegistry<C> {
    /// A registry of `machines` (any sources; the orchestrator checks they share one).
    ///
    /// # Errors
    /// [`OrchestratorBuildError::NoMachines`] when `machines` is empty (displayed with the
    /// orchestrator's message; the registry's own is [`NO_MACHINES_MESSAGE`]).
    pub fn new(machines: Vec<ArvoMachine<C>>) -> Result<Self, OrchestratorBuildError> {
        if machines.is_empty() {
            return Err(OrchestratorBuildError::NoMachines);
        }
        Ok(Self { machines })
    }

    /// The machines, in registration order.
    pub fn machines(&self) -> &[ArvoMachine<C>] {
        &self.machines
    }

    /// The machine of `name` (`arvo.orc.<name>`) at `version`.
    pub fn get(&self, source: &str, version: &str) -> Option<&ArvoMachine<C>> {
        self.machines
            .iter()
            .find(|m| m.version().as_str() == version && m.source() == source)
    }

    /// The machine for `event`: the one whose source and version are the orchestrator name and
    /// version of the event's subject; `Ok(None)` when there is none.
    ///
    /// # Errors
    /// The event's subject is not an orchestration subject.
    pub fn resolve(&self, event: &ArvoEvent) -> Result<Option<&ArvoMachine<C>>, SubjectError> {
        let subject = Subject::parse(event.subject())?;
        let c = subject.content();
        Ok(self.get(&c.orchestrator.name, &c.orchestrator.version))
    }
}

/// Builds an [`ArvoOrchestrator`] (`createArvoOrchestrator`'s parameters).
#[must_use]
pub struct ArvoOrchestratorBuilder<M, C> {
    memory: M,
    machines: Vec<ArvoMachine<C>>,
    executionunits: f64,
    requires_locking: Option<bool>,
    domains: EmissionDomains,
    window: usize,
    cache: usize,
    tracer: Option<BoxedTracer>,
    span_name: Option<String>,
    span_attributes: Vec<KeyValue>,
}

impl<M, C> std::fmt::Debug for ArvoOrchestratorBuilder<M, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArvoOrchestratorBuilder")
            .field("machines", &self.machines)
            .field("executionunits", &self.executionunits)
            .finish_non_exhaustive()
    }
}

impl<M, C: Context> ArvoOrchestratorBuilder<M, C>
where
    M: MachineMemory<OrchestratorMemoryRecord<C>>,
{
    /// Adds a machine (one per version of the orchestrator contract).
    pub fn machine(mut self, machine: ArvoMachine<C>) -> Self {
        self.machines.push(machine);
        self
    }

    /// Adds machines.
    pub fn machines(mut self, machines: impl IntoIterator<Item = ArvoMachine<C>>) -> Self {
        self.machines.extend(machines);
        self
    }

    /// The default cost of emitted events (default 0).
    pub fn executionunits(mut self, executionunits: f64) -> Self {
        self.executionunits = executionunits;
        self
    }

    /// Whether subjects are locked during a step (default: whether any machine
    /// [requires it](ArvoMachine::requires_locking)).
    pub fn requires_locking(mut self, requires: bool) -> Self {
        self.requires_locking = Some(requires);
        self
    }

    /// The default emission domains.
    pub fn domains(mut self, domains: EmissionDomains) -> Self {
        self.domains = domains;
        self
    }

    /// How many processed steps a record remembers for idempotency (default
    /// [`DEFAULT_IDEMPOTENCY_WINDOW`]; 1 remembers only the last step).
    pub fn idempotency_window(mut self, steps: usize) -> Self {
        self.window = steps.max(1);
        self
    }

    /// Capacity of the subject cache (default [`DEFAULT_SUBJECT_CACHE`]; 0 disables it).
    pub fn subject_cache(mut self, capacity: usize) -> Self {
        self.cache = capacity;
        self
    }

    /// The tracer of the orchestrator's spans (default: the global `arvo-instrumentation`
    /// tracer).
    pub fn tracer(mut self, tracer: BoxedTracer) -> Self {
        self.tracer = Some(tracer);
        self
    }

    /// The span name (default `Orchestrator<uri>@<event type>`).
    pub fn span_name(mut self, name: impl Into<String>) -> Self {
        self.span_name = Some(name.into());
        self
    }

    /// An extra span attribute.
    pub fn span_attribute(mut self, attribute: KeyValue) -> Self {
        self.span_attributes.push(attribute);
        self
    }

    /// Builds the orchestrator.
    ///
    /// # Errors
    /// See [`OrchestratorBuildError`].
    pub fn build(self) -> Result<ArvoOrchestrator<M, C>, OrchestratorBuildError> {
        if !self.executionunits.is_finite() {
            return Err(OrchestratorBuildError::ExecutionUnits(
                self.executionunits.to_string(),
            ));
        }
        let Some(first) = self.machines.first() else {
            return Err(OrchestratorBuildError::NoMachines);
        };
        let source = first.source().to_owned();
        let contract = OrchestratorContract::new_unchecked(first.contract().contract().clone());
        for (i, m) in self.machines.iter().enumerate() {
            if m.source() != source || m.contract().uri() != contract.uri() {
                return Err(OrchestratorBuildError::SourceMismatch {
                    source_type: source,
                });
            }
            if self.machines[..i]
                .iter()
                .any(|e| e.version() == m.version())
            {
                return Err(OrchestratorBuildError::DuplicateVersion {
                    id: m.id().to_owned(),
                    version: m.version().to_string(),
                });
            }
        }
        let requires_locking = self
            .requires_locking
            .unwrap_or_else(|| self.machines.iter().any(ArvoMachine::requires_locking));
        let settings = OrchestrationSettings::new(
            OrchestrationKind::Orchestrator,
            contract,
            self.executionunits,
            self.domains,
            self.tracer,
            self.span_name,
            self.span_attributes,
        );
        let entries = self
            .machines
            .iter()
            .map(|m| Entry {
                self_dataschema: EncodedUri::encode(m.contract().dataschema()),
                service_uris: m.service_list.iter().map(ServiceUris::of).collect(),
            })
            .collect();
        Ok(ArvoOrchestrator {
            core: OrchestratorCore {
                system_error_type: settings.contract().system_error_type().to_owned(),
                settings,
                registry: MachineRegistry {
                    machines: self.machines,
                },
                entries,
                window: self.window,
                cache: SubjectCache::new(self.cache),
            },
            resource: SyncEventResource::new(self.memory, requires_locking),
        })
    }
}

/// What is precomputed per machine (same order as the registry's machines).
struct Entry {
    self_dataschema: EncodedUri,
    service_uris: Vec<ServiceUris>,
}

struct OrchestratorCore<C> {
    settings: OrchestrationSettings,
    system_error_type: String,
    registry: MachineRegistry<C>,
    entries: Vec<Entry>,
    window: usize,
    cache: SubjectCache,
}

/// A durable orchestration running [`ArvoMachine`]s (see the [module docs](self)). `M` is the
/// memory, `C` the machines' context type.
pub struct ArvoOrchestrator<M, C> {
    core: OrchestratorCore<C>,
    resource: SyncEventResource<M, OrchestratorMemoryRecord<C>>,
}

impl<M, C> std::fmt::Debug for ArvoOrchestrator<M, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArvoOrchestrator")
            .field("settings", &self.core.settings)
            .field("machines", &self.core.registry)
            .field("window", &self.core.window)
            .finish_non_exhaustive()
    }
}

impl<M, C: Context> ArvoOrchestrator<M, C>
where
    M: MachineMemory<OrchestratorMemoryRecord<C>>,
{
    /// A builder of an orchestrator storing its records in `memory`; add machines with
    /// [`machine`](ArvoOrchestratorBuilder::machine).
    pub fn builder(memory: M) -> ArvoOrchestratorBuilder<M, C> {
        ArvoOrchestratorBuilder {
            memory,
            machines: Vec::new(),
            executionunits: 0.0,
            requires_locking: None,
            domains: EmissionDomains::default(),
            window: DEFAULT_IDEMPOTENCY_WINDOW,
            cache: DEFAULT_SUBJECT_CACHE,
            tracer: None,
            span_name: None,
            span_attributes: Vec::new(),
        }
    }

    /// The source (`arvo.orc.<name>`), the event type it is routed by.
    pub fn source(&self) -> &str {
        self.core.settings.source()
    }

    /// The orchestrator contract.
    pub fn contract(&self) -> &OrchestratorContract {
        self.core.settings.contract()
    }

    /// The type of its system error events (`sys.arvo.orc.<name>.error`).
    pub fn system_error_type(&self) -> &str {
        &self.core.system_error_type
    }

    /// Whether subjects are locked during a step.
    pub fn requires_locking(&self) -> bool {
        self.resource.requires_locking()
    }

    /// The memory.
    pub fn memory(&self) -> &M {
        self.resource.memory()
    }

    /// The machine registry.
    pub fn registry(&self) -> &MachineRegistry<C> {
        &self.core.registry
    }

    /// The machine of `version`.
    pub fn machine(&self, version: &str) -> Option<&ArvoMachine<C>> {
        self.core
            .registry
            .machines
            .iter()
            .find(|m| m.version().as_str() == version)
    }

    /// Processes one event (spec §6.2 with the core of §6.3).
    ///
    /// # Errors
    /// The violations of the wrapper (see [`orchestration::execute`]) and of the core: `Config`
    /// (no machine for the subject's version, event in no contract of the machine, an emit to
    /// an undeclared service, an incompatible snapshot), `Contract` (dataschema, data), or a
    /// violation raised by an action. Other errors of the machine end the workflow: failure
    /// record and `sys.<type>.error` events (returned, not an `Err`).
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

impl<M, C: Context> EventHandler for ArvoOrchestrator<M, C>
where
    M: MachineMemory<OrchestratorMemoryRecord<C>>,
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
        ArvoOrchestrator::execute(self, event, parent)
    }
}

impl<M, C> IntoHandler for ArvoOrchestratorBuilder<M, C>
where
    M: MachineMemory<OrchestratorMemoryRecord<C>> + 'static,
    C: Context,
{
    fn into_handler(self) -> Result<Arc<dyn DynEventHandler>, IntoHandlerError> {
        self.build()
            .map(|h| Arc::new(h) as Arc<dyn DynEventHandler>)
            .map_err(|e| IntoHandlerError(e.to_string()))
    }
}

/// The reference's `__id`, `__executionunits` and `__domain` keys of a machine output, removed
/// from the completion data.
struct CompletionFields {
    data: Value,
    id: Option<EventIdInput>,
    executionunits: Option<f64>,
    domain: Option<Vec<DomainSpec>>,
}

fn completion_fields(output: Value) -> Result<CompletionFields, HandlerError> {
    let Value::Object(mut map) = output else {
        return Ok(CompletionFields {
            data: output,
            id: None,
            executionunits: None,
            domain: None,
        });
    };
    let id = match map.shift_remove("__id") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let value = v
                .get("value")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            match v.get("deduplication").and_then(Value::as_str) {
                Some("ARVO_MANAGED") => Some(EventIdInput::ArvoManaged(value)),
                Some("DEVELOPER_MANAGED") => Some(EventIdInput::DeveloperManaged(value)),
                _ => {
                    return Err(HandlerError::msg(format!(
                        "Invalid machine output: __id must be {{\"deduplication\": \"ARVO_MANAGED\" | \"DEVELOPER_MANAGED\", \"value\": string}}, got {v}"
                    )));
                }
            }
        }
    };
    let executionunits = match map.shift_remove("__executionunits") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_f64().ok_or_else(|| {
            HandlerError::msg(format!(
                "Invalid machine output: __executionunits must be a number, got {v}"
            ))
        })?),
    };
    let domain = match map.shift_remove("__domain") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            let mut specs = Vec::with_capacity(items.len());
            for item in &items {
                let spec = match item {
                    Value::Null => DomainSpec::from_reference(None),
                    Value::String(s) => DomainSpec::from_reference(Some(s)),
                    other => {
                        return Err(HandlerError::msg(format!(
                            "Invalid machine output: __domain items must be strings or null, got {other}"
                        )));
                    }
                };
                specs.push(spec.map_err(|e| {
                    HandlerError::msg(format!("Invalid machine output: __domain: {e}"))
                })?);
            }
            Some(specs)
        }
        Some(v) => {
            return Err(HandlerError::msg(format!(
                "Invalid machine output: __domain must be a list of domains, got {v}"
            )));
        }
    };
    Ok(CompletionFields {
        data: Value::Object(map),
        id,
        executionunits,
        domain,
    })
}

impl<C: Context> OrchestratorCore<C> {
    /// `validateInputEvent` (§6.4) with the machine's versioned self contract.
    fn validate_input(&self, machine: &ArvoMachine<C>, event: &ArvoEvent) -> Result<(), Violation> {
        let invalid = |msg: String| {
            Violation::contract(format!(
                "Input validation failed - Event data does not meet contract requirements: {msg}"
            ))
        };
        let ds = event.dataschema().unwrap_or_default();
        let Some(parsed) = event.dataschema().and_then(|d| dataschema::parse(d).ok()) else {
            return Err(invalid(format!(
                "Event dataschema resolution failed: Unable to parse dataschema='{}' for event(id='{}', type='{}'). This makes the event opaque and does not allow contract resolution",
                event.dataschema().unwrap_or("null"),
                event.id(),
                event.event_type()
            )));
        };
        let is_init = event.event_type() == machine.source();
        let (contract, label) = if is_init {
            (machine.contract(), "self")
        } else {
            let found = machine.service_list.iter().find(|c| {
                c.system_error().event_type == event.event_type()
                    || c.emit_list()
                        .iter()
                        .any(|e| e.event_type == event.event_type())
            });
            match found {
                Some(c) => (c, "service"),
                None => {
                    return Err(Violation::config(
                        "Contract validation failed - Event does not match any registered contract schemas in the machine",
                    ));
                }
            }
        };
        if parsed.uri != contract.uri() {
            return Err(invalid(format!(
                "Contract URI mismatch: {label} Contract(uri='{}', type='{}') does not match Event(dataschema='{ds}', type='{}')",
                contract.uri(),
                contract.accepts().event_type,
                event.event_type()
            )));
        }
        if parsed.version != arvo_rules::WILDCARD_VERSION
            && parsed.version != contract.version().as_str()
        {
            return Err(invalid(format!(
                "Contract version mismatch: {label} Contract(version='{}', type='{}', uri={}) does not match Event(dataschema='{ds}', type='{}')",
                contract.version(),
                contract.accepts().event_type,
                contract.uri(),
                event.event_type()
            )));
        }
        let schema = if is_init {
            &contract.accepts().schema
        } else {
            match contract.emit(event.event_type()) {
                Some(e) => &e.schema,
                None => &contract.system_error().schema,
            }
        };
        schema
            .validate(event.data_value())
            .map_err(|issues| invalid(issues.to_string()))
    }

    async fn run(
        &self,
        input: CoreInput<'_, MachineRecord<C>>,
    ) -> Result<CoreOutput<MachineRecord<C>>, CoreError> {
        let CoreInput {
            event,
            subject,
            state,
            parent_subject,
            init_event_id,
            headers,
            otel_context: _,
        } = input;
        // Idempotency: a remembered event is answered from the record, nothing runs again.
        if let Some(produced) = state.as_ref().and_then(|s| s.produced_for(event.id())) {
            return Ok(CoreOutput {
                events: produced.to_vec(),
                record: None,
            });
        }
        let content = subject.content();
        let Some(index) = self.registry.machines.iter().position(|m| {
            m.version().as_str() == content.orchestrator.version
                && m.source() == content.orchestrator.name
        }) else {
            return Err(Violation::config(format!(
                "Machine resolution failed: No machine found matching orchestrator name='{}' and version='{}'.",
                content.orchestrator.name, content.orchestrator.version
            ))
            .into());
        };
        let machine = &self.registry.machines[index];
        let entry = &self.entries[index];
        self.validate_input(machine, event)?;
        if let Some(s) = &state
            && s.status == MachineStatus::Done
        {
            tracing::info!(
                "The orchestration has already reached the terminal state. Ignoring event(id={})",
                event.id()
            );
            return Ok(CoreOutput {
                events: Vec::new(),
                record: None,
            });
        }
        let (snapshot, mut processed, previous) = match state {
            Some(prev) => {
                let MachineRecord {
                    state,
                    events,
                    processed,
                    ..
                } = prev;
                (Some(state), processed, Some(events))
            }
            None => (None, Vec::new(), None),
        };
        let step = machine
            .execute(snapshot, event)
            .map_err(CoreError::Failure)?;
        let mut raws = step.events;
        for r in &mut raws {
            if r.domain.is_none() {
                r.domain = Some(self.settings.domains().services.clone());
            }
        }
        let done = step.snapshot.status == MachineStatus::Done;
        if let Some(out) = step.output {
            let fields = completion_fields(out).map_err(CoreError::Failure)?;
            let meta = &content.meta;
            let to = meta
                .get("redirectto")
                .map_or(content.execution.initiator.as_str(), String::as_str);
            let complete_type = match machine.contract().kind() {
                ContractKind::Orchestrator { complete_type, .. } => complete_type.as_str(),
                _ => self.settings.contract().complete_type(),
            };
            let mut raw = RawOutput::new(complete_type, fields.data).to(to);
            raw.id = fields.id;
            raw.executionunits = fields.executionunits;
            raw.domain = Some(
                fields
                    .domain
                    .unwrap_or_else(|| self.settings.domains().complete.clone()),
            );
            raws.push(raw);
        }
        let parent_content = match parent_subject {
            Some(p) => self.cache.get_or_parse(p).ok(),
            None => None,
        };
        let ctx = EmitContext {
            source: self.settings.source(),
            source_uri: &self.settings.source_uri,
            self_dataschema: &entry.self_dataschema,
            service_uris: &entry.service_uris,
            executionunits: self.settings.executionunits(),
            self_version: machine.contract(),
            services: &machine.service_list,
            event,
            subject,
            parent_subject,
            parent_content: parent_content.as_ref().map(Subject::content),
            init_event_id,
            headers,
        };
        let emitted = create_emittables(&ctx, raws)?;
        if let Some(prev) = previous
            && self.window > 1
        {
            processed.push(ProcessedEvent {
                id: prev.consumed.id().to_owned(),
                produced: prev.produced,
            });
        }
        let excess = processed
            .len()
            .saturating_sub(self.window.saturating_sub(1));
        processed.drain(..excess);
        if done {
            self.cache.remove(event.subject());
        }
        let snapshot = step.snapshot;
        let record = MachineRecord {
            init_event_id: Arc::clone(init_event_id),
            subject: Arc::clone(event.shared_subject()),
            parent_subject: parent_subject.map(str::to_owned),
            status: snapshot.status,
            value: snapshot.value.clone(),
            state: snapshot,
            events: MachineEvents {
                consumed: event.clone(),
                produced: emitted.clone(),
            },
            machine_definition: None,
            processed,
        };
        Ok(CoreOutput {
            events: emitted,
            record: Some(record),
        })
    }
}

impl<C: Context> OrchestrationCore for OrchestratorCore<C> {
    type Record = MachineRecord<C>;

    fn step<'a>(
        &'a self,
        input: CoreInput<'a, Self::Record>,
    ) -> impl Future<Output = Result<CoreOutput<Self::Record>, CoreError>> + Send + 'a {
        self.run(input)
    }
}
