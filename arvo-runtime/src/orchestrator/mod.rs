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
//! * the subject is decoded once per workflow (a cache of decoded subjects).
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

mod machine_registry;
mod record;
mod step;

pub use machine_registry::{MachineRegistry, NO_MACHINES_MESSAGE};
pub use record::{MachineEvents, MachineRecord};

use step::{Entry, OrchestratorCore};

use std::future::Future;
use std::sync::Arc;

use crate::contract::OrchestratorContract;
use crate::event::{ArvoEvent, EncodedUri};
use crate::handler::{DynEventHandler, EventHandler, ParentContext, Violation};
use crate::machine::{ArvoMachine, Context};
use crate::memory::{MachineMemory, SyncEventResource};
use crate::orchestration::builder::{BuilderSettings, FinishedSettings, builder_setters};
use crate::orchestration::{self, OrchestrationKind, OrchestrationRecord, ServiceUris};
use crate::registry::{IntoHandler, IntoHandlerError};

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

/// Builds an [`ArvoOrchestrator`] (`createArvoOrchestrator`'s parameters).
#[must_use]
pub struct ArvoOrchestratorBuilder<M, C> {
    memory: M,
    machines: Vec<ArvoMachine<C>>,
    settings: BuilderSettings,
}

impl<M, C> std::fmt::Debug for ArvoOrchestratorBuilder<M, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArvoOrchestratorBuilder")
            .field("machines", &self.machines)
            .field("executionunits", &self.settings.executionunits)
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

    builder_setters!(
        handler = "orchestrator",
        locking_default = "whether any machine [requires it](ArvoMachine::requires_locking)",
        span_default = "Orchestrator<uri>@<event type>",
    );

    /// Builds the orchestrator.
    ///
    /// # Errors
    /// See [`OrchestratorBuildError`].
    pub fn build(self) -> Result<ArvoOrchestrator<M, C>, OrchestratorBuildError> {
        if !self.settings.executionunits.is_finite() {
            return Err(OrchestratorBuildError::ExecutionUnits(
                self.settings.executionunits.to_string(),
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
        let machines = &self.machines;
        let FinishedSettings {
            settings,
            requires_locking,
            window,
            cache,
        } = self
            .settings
            .finish(OrchestrationKind::Orchestrator, contract, || {
                machines.iter().any(ArvoMachine::requires_locking)
            });
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
                window,
                cache,
            },
            resource: SyncEventResource::new(self.memory, requires_locking),
        })
    }
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
            settings: BuilderSettings::default(),
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
    /// The violations of the wrapper (see the [`orchestration`] module) and of the core: `Config`
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
