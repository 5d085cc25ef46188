//! `ArvoMachine` (spec §4, §5): statecharts for [`ArvoOrchestrator`](crate::orchestrator::ArvoOrchestrator).
//!
//! A machine implements one version of an orchestrator contract and talks to declared service
//! contracts. It is the XState subset the reference uses (spec §4.5), written with Rust types:
//!
//! * states: atomic, compound ([`StateBuilder::initial`] + child states), parallel
//!   ([`StateBuilder::parallel`]), final ([`StateBuilder::final_state`]);
//! * transitions on an exact event type or `"*"` ([`StateBuilder::on`]), ordered guarded
//!   candidates (the first whose guard passes wins), eventless [`always`](StateBuilder::always)
//!   transitions taken until none is enabled (bounded by [`MAX_EVENTLESS_STEPS`]),
//!   [`on_done`](StateBuilder::on_done) when a compound state reaches a final child or every
//!   region of a parallel state is final;
//! * entry, exit and transition actions `Fn(&mut C, &ArvoEvent, &mut Emitter) -> Result<(), HandlerError>`
//!   over a typed context `C` (`Serialize + DeserializeOwned + Clone`), and guards
//!   `Fn(&C, &ArvoEvent) -> bool`;
//! * the context comes from the init event ([`MachineBuilder::context`]); the output
//!   ([`MachineBuilder::output`]) is computed when a top-level final state is reached;
//! * [`Emitter::emit`] calls a declared service, [`Emitter::enqueue`] queues any event (the
//!   reference's `enqueueArvoEvent`); a step returns all emitted events, then all queued ones.
//!
//! What the reference forbids by run-time checks (invoked actors, delays) is not representable.
//! Mistakes in the definition are [`MachineBuildError`]s from [`MachineBuilder::build`], each
//! naming the machine, the state and the event: an unknown target, a missing or unknown
//! initial state, duplicate names or ids, a final state with children or transitions, a
//! transition on an event the machine can never receive, duplicate or self-referential
//! services, states nested deeper than [`MAX_STATE_DEPTH`] levels. Building takes time linear
//! in the machine's states and transitions.
//!
//! The engine ([`ArvoMachine::execute`]) is synchronous and persists a versioned
//! [`MachineSnapshot`]. A panicking guard, action, context or output function is an error (a
//! [`UserPanic`](crate::handler::UserPanic)), never an unwind.
//!
//! Deliberate differences from the reference (documented in one place):
//! * completion: the reference emits a completion only when the output differs from the
//!   previous output, so an output of `{}` never completes a workflow; here the step that reaches
//!   a top-level final state completes it whatever the output (a machine without an output
//!   function still never completes, as in the reference);
//! * `emit` of a type no declared service accepts is a `Config` violation (the reference's
//!   TypeScript types forbid it; at run time it slipped through);
//! * transitions on events the machine can never receive are build errors;
//! * a compound or parallel state's completion is handled by its
//!   [`on_done`](StateBuilder::on_done) transitions (XState's `onDone`), taken after eventless
//!   transitions settle; there is no `done.state.*` event to match with `on`, no history state
//!   and no delayed event;
//! * entry actions run at start receive the init event (XState passes `xstate.init`);
//! * snapshots are this crate's own format (`{"version": 1, status, value, context, output?}`),
//!   not XState's.
//!
//! ```
//! use arvo_runtime::contract::{ArvoContract, Schema};
//! use arvo_runtime::factory::{ArvoEventFactory, ArvoOrchestratorEventFactory, EventInput};
//! use arvo_runtime::handler::RawOutput;
//! use arvo_runtime::machine::{ArvoMachine, MachineStatus};
//! use serde::{Deserialize, Serialize};
//! use serde_json::json;
//!
//! let obj = |k: &[&str]| {
//!     let props: serde_json::Map<_, _> = k.iter().map(|k| (k.to_string(), json!({"type": "number"}))).collect();
//!     Schema::new(json!({"type": "object", "properties": props, "required": k})).unwrap()
//! };
//! let add = ArvoContract::simple("#/calc/add", "calc.add").version("1.0.0", obj(&["a", "b"]), obj(&["result"])).build()?;
//! let flow = ArvoContract::orchestrator("#/calc/flow", "calc.flow").version("1.0.0", obj(&["a", "b"]), obj(&["result"])).build()?;
//!
//! #[derive(Clone, Serialize, Deserialize)]
//! struct Ctx { a: f64, b: f64, result: Option<f64> }
//!
//! let machine = ArvoMachine::<Ctx>::builder("calc", flow.latest())
//!     .service("add", add.latest())
//!     .context(|init| Ok(Ctx { a: init.data()["a"].as_f64().unwrap_or(0.0), b: init.data()["b"].as_f64().unwrap_or(0.0), result: None }))
//!     .output(|c| Ok(json!({"result": c.result})))
//!     .initial("adding")
//!     .state("adding", |s| s
//!         .entry(|c, _, out| out.emit(RawOutput::new("com.calc.add", json!({"a": c.a, "b": c.b}))))
//!         .on("evt.calc.add.success", |t| t.target("done").action(|c, e, _| {
//!             c.result = e.data()["result"].as_f64();
//!             Ok(())
//!         })))
//!     .state("done", |s| s.final_state())
//!     .build()?;
//!
//! let init = ArvoOrchestratorEventFactory::new(flow.latest())?
//!     .init(EventInput::new("com.example.client", json!({"parentSubject$$": null, "a": 1, "b": 2})))?;
//! let step = machine.start(&init)?;
//! assert_eq!(step.events[0].event_type, "com.calc.add");
//! assert_eq!(serde_json::to_value(&step.snapshot.value)?, json!("adding"));
//!
//! let answer = ArvoEventFactory::new(add.latest()).emits(
//!     EventInput::new("com.calc.add", json!({"result": 3}))
//!         .with_type("evt.calc.add.success")
//!         .with_subject(init.subject()),
//! )?;
//! let step = machine.resume(step.snapshot, &answer)?;
//! assert_eq!(step.snapshot.status, MachineStatus::Done);
//! assert_eq!(step.output, Some(json!({"result": 3.0})));
//! assert!(machine.mermaid().starts_with("stateDiagram-v2"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod engine;
mod error;
mod mermaid;
mod model;
mod snapshot;
mod tree;

pub use arvo_rules::MAX_STATE_DEPTH;
pub use engine::{Emitter, MAX_EVENTLESS_STEPS, MachineStep};
pub use error::MachineBuildError;
pub use model::{Action, Guard, StateBuilder, StateKind, Transition};
pub use snapshot::{MachineSnapshot, MachineStatus, SNAPSHOT_VERSION, StateValue};

pub use crate::resumable::Context;

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value;

use crate::contract::{ArvoVersion, ContractKind, VersionedContract};
use crate::event::ArvoEvent;
use crate::handler::HandlerError;
use crate::orchestration::builder::{ServiceClash, service_clash};

use tree::Tree;

/// The context factory: the machine's initial context from the init event.
pub type ContextFn<C> = Arc<dyn Fn(&ArvoEvent) -> Result<C, HandlerError> + Send + Sync>;

/// The output function: the completion data from the final context. The reference's
/// `__id` (`{"deduplication": "ARVO_MANAGED" | "DEVELOPER_MANAGED", "value": ..}`),
/// `__executionunits` and `__domain` (a list of domain specs) keys set the completion event's
/// id, cost and domains, and are removed from its data.
pub type OutputFn<C> = Arc<dyn Fn(&C) -> Result<Value, HandlerError> + Send + Sync>;

/// A statechart implementing one version of an orchestrator contract (see the
/// [module docs](self)). Built with [`ArvoMachine::builder`]; run by
/// [`ArvoOrchestrator`](crate::orchestrator::ArvoOrchestrator) or directly with
/// [`execute`](ArvoMachine::execute).
pub struct ArvoMachine<C> {
    pub(crate) id: String,
    pub(crate) contract: VersionedContract,
    pub(crate) source: String,
    pub(crate) services: Vec<(String, VersionedContract)>,
    pub(crate) service_list: Vec<VersionedContract>,
    pub(crate) context: ContextFn<C>,
    pub(crate) output: Option<OutputFn<C>>,
    pub(crate) tree: Tree<C>,
    pub(crate) requires_locking: bool,
}

impl<C> std::fmt::Debug for ArvoMachine<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArvoMachine")
            .field("id", &self.id)
            .field("source", &self.source)
            .field("version", &self.contract.version().as_str())
            .field("services", &self.services)
            .field("requires_locking", &self.requires_locking)
            .finish_non_exhaustive()
    }
}

impl<C: Context> ArvoMachine<C> {
    /// A builder for the machine `id` implementing `contract` (one version of an orchestrator
    /// contract, e.g. `contract.version("1.0.0")?`).
    pub fn builder(id: impl Into<String>, contract: VersionedContract) -> MachineBuilder<C> {
        MachineBuilder {
            id: id.into(),
            contract,
            services: Vec::new(),
            context: None,
            output: None,
            root: StateBuilder::new(),
        }
    }
}

impl<C> ArvoMachine<C> {
    /// The machine's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The version it implements (its self contract's version).
    pub fn version(&self) -> &ArvoVersion {
        self.contract.version()
    }

    /// The self contract (the version implemented).
    pub fn contract(&self) -> &VersionedContract {
        &self.contract
    }

    /// `arvo.orc.<name>`: the init event type, the orchestrator's source.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The service contracts with their keys, in declaration order.
    pub fn services(&self) -> &[(String, VersionedContract)] {
        &self.services
    }

    /// Whether the orchestrator must lock a workflow's subject during a step (the reference's
    /// analysis, spec §4.2 step 4): the machine has a parallel state, or a service emits more
    /// than one event type. Otherwise events of one workflow cannot race and the lock is
    /// skipped.
    pub fn requires_locking(&self) -> bool {
        self.requires_locking
    }

    /// Whether the machine has an output function (without one it never completes).
    pub fn has_output(&self) -> bool {
        self.output.is_some()
    }

    /// The dotted paths of every state, in definition order (the root excluded).
    pub fn state_paths(&self) -> impl Iterator<Item = &str> {
        self.tree.nodes.iter().skip(1).map(|n| n.path.as_str())
    }

    /// The machine as a Mermaid `stateDiagram-v2` (hierarchy, parallel regions separated by
    /// `--`, transitions labelled with their event and guard, `always` for eventless ones and
    /// `done` for [`on_done`](StateBuilder::on_done)). Machine-level transitions (on the root)
    /// are not drawn.
    pub fn mermaid(&self) -> String {
        mermaid::render(&self.id, &self.tree)
    }
}

/// Builds an [`ArvoMachine`]: services, context factory, output, states (the top level of the
/// machine is a [`StateBuilder`] too: [`root`](Self::root) gives full access).
#[must_use]
pub struct MachineBuilder<C> {
    id: String,
    contract: VersionedContract,
    services: Vec<(String, VersionedContract)>,
    context: Option<ContextFn<C>>,
    output: Option<OutputFn<C>>,
    root: StateBuilder<C>,
}

impl<C> std::fmt::Debug for MachineBuilder<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MachineBuilder")
            .field("id", &self.id)
            .field("contract", &self.contract)
            .field("services", &self.services)
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl<C: Context> MachineBuilder<C> {
    /// Declares the service `key` (the reference's `contracts.services` record). A later
    /// service with the same key replaces the earlier one.
    pub fn service(mut self, key: impl Into<String>, contract: VersionedContract) -> Self {
        let key = key.into();
        self.services.retain(|(k, _)| *k != key);
        self.services.push((key, contract));
        self
    }

    /// The context factory, from the init event (required).
    pub fn context<F>(mut self, f: F) -> Self
    where
        F: Fn(&ArvoEvent) -> Result<C, HandlerError> + Send + Sync + 'static,
    {
        self.context = Some(Arc::new(f));
        self
    }

    /// The output function: the completion data (see [`OutputFn`]).
    pub fn output<F>(mut self, f: F) -> Self
    where
        F: Fn(&C) -> Result<Value, HandlerError> + Send + Sync + 'static,
    {
        self.output = Some(Arc::new(f));
        self
    }

    /// The top-level state entered first.
    pub fn initial(mut self, key: impl Into<String>) -> Self {
        self.root = self.root.initial(key);
        self
    }

    /// Adds the top-level state `key`.
    pub fn state(
        mut self,
        key: impl Into<String>,
        f: impl FnOnce(StateBuilder<C>) -> StateBuilder<C>,
    ) -> Self {
        self.root = self.root.state(key, f);
        self
    }

    /// Adds the top-level state `key`, already built (as [`StateBuilder::child`]).
    pub fn child(mut self, key: impl Into<String>, state: StateBuilder<C>) -> Self {
        self.root = self.root.child(key, state);
        self
    }

    /// Makes the top level parallel (every top-level state is a region).
    pub fn parallel(mut self) -> Self {
        self.root = self.root.parallel();
        self
    }

    /// Adds a machine-level transition (taken from any state that does not handle the event).
    pub fn on(
        mut self,
        event_type: impl Into<String>,
        f: impl FnOnce(Transition<C>) -> Transition<C>,
    ) -> Self {
        self.root = self.root.on(event_type, f);
        self
    }

    /// Edits the top level as a [`StateBuilder`] (entry/exit actions, `always`, ...).
    pub fn root(mut self, f: impl FnOnce(StateBuilder<C>) -> StateBuilder<C>) -> Self {
        self.root = f(self.root);
        self
    }

    /// Checks and compiles the machine.
    ///
    /// # Errors
    /// See [`MachineBuildError`].
    pub fn build(self) -> Result<ArvoMachine<C>, MachineBuildError> {
        let ContractKind::Orchestrator { .. } = self.contract.kind() else {
            return Err(MachineBuildError::NotOrchestrator {
                machine: self.id,
                uri: self.contract.uri().to_owned(),
            });
        };
        let uri = self.contract.uri().to_owned();
        match service_clash(&uri, &self.services) {
            Some(ServiceClash::Circular { key }) => {
                return Err(MachineBuildError::CircularService { uri, key });
            }
            Some(ServiceClash::Duplicate {
                later,
                earlier,
                uri,
            }) => {
                return Err(MachineBuildError::DuplicateService {
                    later,
                    earlier,
                    uri,
                });
            }
            None => {}
        }
        let Some(context) = self.context else {
            return Err(MachineBuildError::MissingContext { machine: self.id });
        };
        let source = self.contract.accepts().event_type.clone();
        let services = self.services;
        let receivable: HashSet<&str> = services
            .iter()
            .flat_map(|(_, s)| {
                std::iter::once(s.system_error().event_type.as_str())
                    .chain(s.emit_list().iter().map(|e| e.event_type.as_str()))
            })
            .collect();
        let receivable = |t: &str| receivable.contains(t);
        let tree = Tree::build(&self.id, self.root, &receivable, &source)?;
        let requires_locking =
            tree.has_parallel || services.iter().any(|(_, s)| s.emit_list().len() > 1);
        Ok(ArvoMachine {
            id: self.id,
            contract: self.contract,
            source,
            service_list: services.iter().map(|(_, c)| c.clone()).collect(),
            services,
            context,
            output: self.output,
            tree,
            requires_locking,
        })
    }
}
