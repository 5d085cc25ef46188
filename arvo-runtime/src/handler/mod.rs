//! Event handlers (arvo-event-handler §1-§3): a stateless service that consumes the events of
//! one contract and emits the events that contract declares.
//!
//! * [`ArvoEventHandler`]: the runtime. Built from an [`ArvoContract`](crate::contract::ArvoContract) and one implementation
//!   per contract version, it routes each event to its version (from `dataschema`, the latest
//!   when absent), validates the input with the version's schema (compiled once, with the
//!   contract), calls the implementation, fills in every default of the emitted events,
//!   validates them, and turns errors of user code into `sys.<type>.error` events. Problems the
//!   infrastructure must handle are returned as a [`Violation`].
//! * [`EventHandler`]: the interface every handler kind implements (`IArvoEventHandler`), and
//!   [`DynEventHandler`], its object-safe form for brokers holding `Arc<dyn DynEventHandler>`.
//! * [`DomainSpec`] / [`Domain`] / [`DomainResolver`]: typed domains and their resolution.
//!
//! Implementations come in two forms: closures per version (the untyped escape hatch,
//! [`ArvoEventHandlerBuilder::version`]) or a type implementing [`ContractDispatch`] (the hook
//! of `#[arvo_contract]`'s typed handler traits, [`ArvoEventHandler::typed`]).
//!
//! A handler needs no broker: give it an event, get events back.
//!
//! ```
//! use arvo_runtime::contract::{ArvoContract, Schema};
//! use arvo_runtime::factory::{ArvoEventFactory, EventInput};
//! use arvo_runtime::handler::{ArvoEventHandler, ParentContext, RawOutput};
//! use serde_json::json;
//!
//! let number = |k: &str| Schema::new(json!({"type":"object","properties":{k:{"type":"number"}},"required":[k]})).unwrap();
//! let ab = Schema::new(json!({"type":"object","properties":{"a":{"type":"number"},"b":{"type":"number"}},"required":["a","b"]}))?;
//! let contract = ArvoContract::simple("#/bench/calc/add", "calc.add")
//!     .version("1.0.0", ab, number("result"))
//!     .build()?;
//!
//! let handler = ArvoEventHandler::builder(contract.clone())
//!     .executionunits(0.5)
//!     .version("1.0.0", |input| Box::pin(async move {
//!         let a = input.event.data()["a"].as_f64().unwrap_or_default();
//!         let b = input.event.data()["b"].as_f64().unwrap_or_default();
//!         Ok(vec![RawOutput::new("evt.calc.add.success", json!({"result": a + b}))])
//!     }))
//!     .build()?;
//!
//! let event = ArvoEventFactory::new(contract.latest())
//!     .accepts(EventInput::new("com.example.client", json!({"a": 2, "b": 3})).with_subject("order-1"))?;
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! let out = handler.execute(&event, ParentContext::Event).await?;
//! assert_eq!(out.len(), 1);
//! assert_eq!(out[0].event_type(), "evt.calc.add.success");
//! assert_eq!(out[0].data()["result"], json!(5.0));
//! assert_eq!(out[0].to(), Some("com.example.client")); // back to the source
//! assert_eq!(out[0].parentid(), Some(event.id()));
//! # Ok::<(), Box<dyn std::error::Error>>(()) })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Deliberate differences from the reference
//! * Domain resolution decodes the subject only when a spec's result depends on it, at most
//!   once per execution: with the default `ORCHESTRATION_CONTEXT`, no parent and a null
//!   triggering domain, nothing is decoded (the reference decodes needlessly).
//! * Span names are a fixed string per handler (default `Handler<uri>`), not a callback.
//! * [`ArvoEventHandler::execute_json`] refuses events over a size limit before parsing them.
//! * A system error event that cannot be built (which the reference lets escape as a plain
//!   error) is returned as a `Contract` violation.
//! * A panic in an implementation is caught where the implementation runs and becomes
//!   `sys.<type>.error` events, as a thrown error does in the reference (see [`UserPanic`]).

mod builder;
mod domain;
mod emit;
mod execute;
mod output;
mod panic;
mod system_error;
mod traits;
mod violation;

pub use builder::{
    ArvoEventHandler, ArvoEventHandlerBuilder, DEFAULT_MAX_EVENT_BYTES, HandlerBuildError,
};
pub use domain::{Domain, DomainError, DomainResolver, DomainSpec};
pub(crate) use output::push_output;
pub use output::{HandlerInput, RawOutput};
pub use panic::{MAX_PANIC_MESSAGE, UserPanic};
pub(crate) use panic::{catch_panic, catch_panic_sync};
pub(crate) use system_error::{SystemErrorSpec, system_error_events};
pub use traits::{
    ContractDispatch, DynEventHandler, EventHandler, HandlerResult, ParentContext, VersionFn,
};
pub use violation::{HandlerError, TransactionCause, Violation};
