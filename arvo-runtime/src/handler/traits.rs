//! The interfaces: what every handler kind implements, its object-safe form, and the typed
//! hook `#[arvo_contract]` generates.

use super::{HandlerError, HandlerInput, RawOutput, Violation};
use crate::contract::ArvoContract;
use crate::event::ArvoEvent;
use futures_util::future::BoxFuture;
use opentelemetry::Context;
use std::future::Future;

/// Where a handler's span gets its parent (`ArvoEventHandlerOpenTelemetryOptions`).
#[derive(Debug, Clone, Default)]
pub enum ParentContext {
    /// From the event's `traceparent` / `tracestate` (`inheritFrom: 'EVENT'`, the default); a
    /// new root when the event has none.
    #[default]
    Event,
    /// From the caller's context (`inheritFrom: 'CONTEXT'`).
    Context(Context),
}

/// The interface of every handler kind (`IArvoEventHandler`): consume an event, return the
/// events to emit, or a [`Violation`] for the infrastructure to handle.
pub trait EventHandler: Send + Sync {
    /// The event type this handler consumes (its routing topic).
    fn source(&self) -> &str;
    /// The type of its system error events (`sys.<type>.error`).
    fn system_error_type(&self) -> &str;
    /// Processes one event.
    fn execute(
        &self,
        event: &ArvoEvent,
        parent: ParentContext,
    ) -> impl Future<Output = Result<Vec<ArvoEvent>, Violation>> + Send;
}

/// [`EventHandler`] in object-safe form (boxed futures), implemented for every
/// [`EventHandler`], for registries holding `Arc<dyn DynEventHandler>`.
///
/// ```
/// use std::sync::Arc;
/// use arvo_runtime::handler::{ArvoEventHandler, DynEventHandler};
/// fn register(handlers: &mut Vec<Arc<dyn DynEventHandler>>, h: ArvoEventHandler) {
///     handlers.push(Arc::new(h));
/// }
/// ```
pub trait DynEventHandler: Send + Sync {
    /// See [`EventHandler::source`].
    fn source(&self) -> &str;
    /// See [`EventHandler::system_error_type`].
    fn system_error_type(&self) -> &str;
    /// See [`EventHandler::execute`].
    fn execute_dyn<'a>(
        &'a self,
        event: &'a ArvoEvent,
        parent: ParentContext,
    ) -> BoxFuture<'a, Result<Vec<ArvoEvent>, Violation>>;
}

impl<T: EventHandler> DynEventHandler for T {
    fn source(&self) -> &str {
        EventHandler::source(self)
    }
    fn system_error_type(&self) -> &str {
        EventHandler::system_error_type(self)
    }
    fn execute_dyn<'a>(
        &'a self,
        event: &'a ArvoEvent,
        parent: ParentContext,
    ) -> BoxFuture<'a, Result<Vec<ArvoEvent>, Violation>> {
        Box::pin(self.execute(event, parent))
    }
}

/// What one version's implementation returns.
pub type HandlerResult = Result<Vec<RawOutput>, HandlerError>;

/// An untyped implementation of one contract version.
pub type VersionFn =
    Box<dyn for<'a> Fn(HandlerInput<'a>) -> BoxFuture<'a, HandlerResult> + Send + Sync>;

/// The typed hook: dispatches an event of the contract `Self` to the implementation `H`
/// (what `#[arvo_contract]` generates for its per-contract handler trait, see
/// [`ArvoEventHandler::typed`](super::ArvoEventHandler::typed)).
///
/// It is implemented on the contract's marker type, generic over the implementation, so a
/// macro in the user's crate may write `impl<H: CalcAddHandler> ContractDispatch<H> for CalcAdd`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot run a typed handler",
    label = "not a service or simple contract declared with `#[arvo_contract]`",
    note = "`ArvoEventHandler::typed::<C, _>(handler)` takes a service or simple contract `C` declared with `#[arvo_contract]` and a `handler` implementing the trait `<C>Handler` it generates"
)]
pub trait ContractDispatch<H>: 'static {
    /// The runtime contract (every version must be handled by [`dispatch`](Self::dispatch)).
    fn contract() -> ArvoContract;
    /// Calls `handler`'s method for `input.contract.version()`.
    fn dispatch<'a>(handler: &'a H, input: HandlerInput<'a>) -> BoxFuture<'a, HandlerResult>;
}
