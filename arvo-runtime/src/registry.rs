//! Registering handlers without ceremony: [`IntoHandler`], what
//! [`EventBrokerBuilder::handler`](crate::broker::EventBrokerBuilder::handler) takes, and the
//! program-wide registry of handlers written with [`#[arvo_handler]`](crate::arvo_handler).
//!
//! Everything that can serve events converts into the broker's `Arc<dyn DynEventHandler>`:
//! a handler built by hand ([`ArvoEventHandler`], [`ArvoResumable`](crate::ArvoResumable), any
//! [`EventHandler`]), an `Arc` of one, the builders (built with their options; a build error is
//! reported by the broker's `build`), and the values `#[arvo_handler]` produces (a function
//! `greet` becomes a unit value `greet`; an annotated `impl Greeter` makes `Greeter` one).
//!
//! # The registry
//! Every `#[arvo_handler]` *function* is also submitted (with [`inventory`]) to one registry of
//! the program, so a worker serves all of them with one call:
//! [`EventBrokerBuilder::registered_handlers`](crate::broker::EventBrokerBuilder::registered_handlers)
//! (or [`handlers`] for the list). Only stateless handlers can be collected this way: a
//! handler with state (an annotated `impl` block) is registered only when its attribute says
//! `register` (its type must then implement `Default`), and resumables never are (their memory
//! must be passed in: register them with
//! [`handler`](crate::broker::EventBrokerBuilder::handler)). A function is left out with
//! `#[arvo_handler(.., register = false)]`.
//!
//! The registry holds every annotated handler linked into the program (all crates), so two
//! handlers of one contract in one program make the broker's `build` fail with
//! `DuplicateHandler`; leave one of them out with `register = false`.

use crate::broker::EventBrokerBuilder;
use crate::handler::{
    ArvoEventHandler, ArvoEventHandlerBuilder, ContractDispatch, DynEventHandler, EventHandler,
};
use crate::memory::MachineMemory;
use crate::resumable::{ArvoResumableBuilder, Context, ResumableMemoryRecord};
use std::sync::Arc;

/// Why a value could not become a handler (the build error of a builder, or of a generated
/// handler's defaults), as text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IntoHandlerError(pub String);

/// What a broker registers: anything that becomes an `Arc<dyn DynEventHandler>`.
///
/// ```
/// use std::sync::Arc;
/// use arvo_runtime::broker::EventBroker;
/// use arvo_runtime::handler::{ArvoEventHandler, DynEventHandler};
/// # use arvo_runtime::contract::{ArvoContract, Schema};
/// # let s = Schema::new(serde_json::json!({"type": "object"}))?;
/// # let contract = |t: &str| ArvoContract::simple("#/x", t).version("1.0.0", s.clone(), s.clone()).build();
/// let a = ArvoEventHandler::builder(contract("a.run")?).version_sync("1.0.0", |_| Ok(vec![])).build()?;
/// let b = ArvoEventHandler::builder(contract("b.run")?).version_sync("1.0.0", |_| Ok(vec![]));
/// let c: Arc<dyn DynEventHandler> = Arc::new(
///     ArvoEventHandler::builder(contract("c.run")?).version_sync("1.0.0", |_| Ok(vec![])).build()?);
/// let broker = EventBroker::builder()
///     .handler(a)  // a handler
///     .handler(b)  // a builder: built by the broker
///     .handler(c)  // an `Arc<dyn DynEventHandler>`, as before
///     .build()?;
/// assert_eq!(broker.handlers(), ["com.a.run", "com.b.run", "com.c.run"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a handler the broker can register",
    label = "not a handler",
    note = "register an `ArvoEventHandler`, an `ArvoResumable` (or their builders), a function or `impl` block annotated with `#[arvo_handler]`, or an `Arc<dyn DynEventHandler>`"
)]
pub trait IntoHandler {
    /// The handler, ready for the broker.
    ///
    /// # Errors
    /// When a builder's options are invalid.
    fn into_handler(self) -> Result<Arc<dyn DynEventHandler>, IntoHandlerError>;
}

impl<T: EventHandler + 'static> IntoHandler for T {
    fn into_handler(self) -> Result<Arc<dyn DynEventHandler>, IntoHandlerError> {
        Ok(Arc::new(self))
    }
}

impl<T: EventHandler + 'static> IntoHandler for Arc<T> {
    fn into_handler(self) -> Result<Arc<dyn DynEventHandler>, IntoHandlerError> {
        Ok(self)
    }
}

impl IntoHandler for Arc<dyn DynEventHandler> {
    fn into_handler(self) -> Result<Arc<dyn DynEventHandler>, IntoHandlerError> {
        Ok(self)
    }
}

impl IntoHandler for ArvoEventHandlerBuilder {
    fn into_handler(self) -> Result<Arc<dyn DynEventHandler>, IntoHandlerError> {
        self.build()
            .map(|h| Arc::new(h) as Arc<dyn DynEventHandler>)
            .map_err(|e| IntoHandlerError(e.to_string()))
    }
}

impl<M, C> IntoHandler for ArvoResumableBuilder<M, C>
where
    M: MachineMemory<ResumableMemoryRecord<C>> + 'static,
    C: Context,
{
    fn into_handler(self) -> Result<Arc<dyn DynEventHandler>, IntoHandlerError> {
        self.build()
            .map(|h| Arc::new(h) as Arc<dyn DynEventHandler>)
            .map_err(|e| IntoHandlerError(e.to_string()))
    }
}

impl ArvoEventHandler {
    /// Starts a handler runtime for a value produced by `#[arvo_handler]` (a function's unit
    /// value, or a type whose `impl` block is annotated), to set options before `build()`:
    /// `ArvoEventHandler::of(greet).executionunits(1.0).build()?`. Registering the value
    /// itself (`.handler(greet)`) uses the defaults.
    pub fn of<H>(handler: H) -> ArvoEventHandlerBuilder
    where
        H: ContractDispatch<H> + Send + Sync + 'static,
    {
        Self::typed::<H, H>(handler)
    }
}

/// Builds the handler of a value produced by `#[arvo_handler]` with the default options (what
/// the generated `IntoHandler` impls call).
#[doc(hidden)]
pub fn build_typed<H>(handler: H) -> Result<Arc<dyn DynEventHandler>, IntoHandlerError>
where
    H: ContractDispatch<H> + Send + Sync + 'static,
{
    ArvoEventHandler::of(handler).into_handler()
}

/// One handler submitted to the program's registry by `#[arvo_handler]`.
pub struct Registered {
    name: &'static str,
    make: fn() -> Result<Arc<dyn DynEventHandler>, IntoHandlerError>,
}

impl Registered {
    /// A registry entry: the handler's Rust name and how to build it. Used by the code
    /// `#[arvo_handler]` generates.
    #[doc(hidden)]
    pub const fn new(
        name: &'static str,
        make: fn() -> Result<Arc<dyn DynEventHandler>, IntoHandlerError>,
    ) -> Self {
        Registered { name, make }
    }

    /// The Rust path of the annotated item (`module_path!()::name`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Builds the handler.
    ///
    /// # Errors
    /// As [`IntoHandler::into_handler`].
    pub fn build(&self) -> Result<Arc<dyn DynEventHandler>, IntoHandlerError> {
        (self.make)()
    }
}

impl std::fmt::Debug for Registered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registered")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

inventory::collect!(Registered);

/// Every handler of the registry, sorted by Rust name (the link order is unspecified).
pub fn registered() -> Vec<&'static Registered> {
    let mut all: Vec<&'static Registered> = inventory::iter::<Registered>.into_iter().collect();
    all.sort_by_key(|r| r.name);
    all
}

/// Builds every handler of the registry (see the [module docs](self)).
///
/// # Errors
/// The first handler that cannot be built, named.
pub fn handlers() -> Result<Vec<Arc<dyn DynEventHandler>>, IntoHandlerError> {
    registered()
        .into_iter()
        .map(|r| {
            r.build()
                .map_err(|e| IntoHandlerError(format!("{}: {e}", r.name)))
        })
        .collect()
}

impl EventBrokerBuilder {
    /// Registers every handler of the program's registry (every `#[arvo_handler]` function,
    /// and `impl` blocks annotated with `register`), with the
    /// [`defaults`](EventBrokerBuilder::defaults). Resumables are not in the registry (their
    /// memory must be passed in): add them with [`handler`](EventBrokerBuilder::handler).
    pub fn registered_handlers(mut self) -> Self {
        for r in registered() {
            self = self.handler(Registry(r));
        }
        self
    }
}

/// A registry entry as an [`IntoHandler`] (build errors named after the entry).
struct Registry(&'static Registered);

impl IntoHandler for Registry {
    fn into_handler(self) -> Result<Arc<dyn DynEventHandler>, IntoHandlerError> {
        self.0
            .build()
            .map_err(|e| IntoHandlerError(format!("{}: {e}", self.0.name)))
    }
}
