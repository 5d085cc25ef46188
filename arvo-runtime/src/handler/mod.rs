//! Event handlers (arvo-event-handler §1-§3): a stateless service that consumes the events of
//! one contract and emits the events that contract declares.
//!
//! * [`ArvoEventHandler`]: the runtime. Built from an [`ArvoContract`] and one implementation
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

mod domain;
mod output;
mod panic;
mod violation;

pub use domain::{Domain, DomainError, DomainResolver, DomainSpec};
pub use output::{HandlerInput, RawOutput};
pub use panic::{MAX_PANIC_MESSAGE, UserPanic};
pub(crate) use panic::{catch_panic, catch_panic_sync};
pub use violation::{HandlerError, TransactionCause, Violation};

use crate::contract::{ArvoContract, VersionedContract, dataschema};
use crate::event::{
    ArvoEvent, EmitType, EncodedParts, EncodedUri, EventTime, Extensions, create_shared_event_id,
};
use crate::otel::{ArvoSpanKind, TraceHeaders, attr};
use crate::violation::ArvoErrorPayload;
use futures_util::future::BoxFuture;
use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::future::Future;
use std::marker::PhantomData;

/// The default limit of [`ArvoEventHandler::execute_json`]: 1 MiB of JSON per event.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 1 << 20;

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
/// [`ArvoEventHandler::typed`]).
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

/// How versions are implemented.
trait Dispatch: Send + Sync {
    fn call<'a>(&'a self, slot: usize, input: HandlerInput<'a>) -> BoxFuture<'a, HandlerResult>;
}

struct Closures(Vec<VersionFn>);

impl Dispatch for Closures {
    fn call<'a>(&'a self, slot: usize, input: HandlerInput<'a>) -> BoxFuture<'a, HandlerResult> {
        match self.0.get(slot) {
            Some(f) => f(input),
            // Construction guarantees one closure per version slot.
            None => Box::pin(std::future::ready(Err(HandlerError::from(
                Violation::config(format!(
                    "No implementation for version {}",
                    input.contract.version()
                )),
            )))),
        }
    }
}

struct Typed<C, H> {
    handler: H,
    _contract: PhantomData<fn() -> C>,
}

impl<C: ContractDispatch<H>, H: Send + Sync> Dispatch for Typed<C, H> {
    fn call<'a>(&'a self, _slot: usize, input: HandlerInput<'a>) -> BoxFuture<'a, HandlerResult> {
        C::dispatch(&self.handler, input)
    }
}

/// Why a handler could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HandlerBuildError {
    /// A contract version has no implementation (the reference's message).
    #[error("Contract {uri} requires handler implementation for version {version}")]
    MissingVersion {
        /// The contract uri.
        uri: String,
        /// The version without implementation.
        version: String,
    },
    /// A default domain list is empty (the reference requires non-empty lists).
    #[error("The default {which} emission domains must not be empty")]
    EmptyDomains {
        /// `emits` or `systemError`.
        which: &'static str,
    },
    /// `executionunits` is not a finite number.
    #[error("executionunits must be a finite number, got {0}")]
    ExecutionUnits(f64),
}

/// Builds an [`ArvoEventHandler`] (`createArvoEventHandler`'s parameters).
#[must_use]
pub struct ArvoEventHandlerBuilder {
    contract: ArvoContract,
    executionunits: f64,
    emit_domains: Vec<DomainSpec>,
    system_error_domains: Vec<DomainSpec>,
    tracer: Option<BoxedTracer>,
    span_name: Option<String>,
    span_attributes: Vec<KeyValue>,
    closures: Vec<(String, VersionFn)>,
    typed: Option<Box<dyn Dispatch>>,
    max_event_bytes: usize,
}

impl ArvoEventHandlerBuilder {
    /// The default cost stamped on every emitted event (default 0).
    pub fn executionunits(mut self, executionunits: f64) -> Self {
        self.executionunits = executionunits;
        self
    }

    /// The default domain specs of emitted events (default `[OrchestrationContext]`).
    pub fn emit_domains(mut self, specs: Vec<DomainSpec>) -> Self {
        self.emit_domains = specs;
        self
    }

    /// The domain specs of system error events (default `[OrchestrationContext]`).
    pub fn system_error_domains(mut self, specs: Vec<DomainSpec>) -> Self {
        self.system_error_domains = specs;
        self
    }

    /// The tracer of the handler's spans (default: the global tracer provider's
    /// `arvo-instrumentation` tracer, a no-op unless the application installed one).
    pub fn tracer(mut self, tracer: BoxedTracer) -> Self {
        self.tracer = Some(tracer);
        self
    }

    /// The span name (default `Handler<uri>`).
    pub fn span_name(mut self, name: impl Into<String>) -> Self {
        self.span_name = Some(name.into());
        self
    }

    /// An extra span attribute (may override `arvo.span.kind` and `openinference.span.kind`,
    /// not `arvo.handler.source` and `arvo.contract.uri`).
    pub fn span_attribute(mut self, attribute: KeyValue) -> Self {
        self.span_attributes.push(attribute);
        self
    }

    /// The size limit of [`ArvoEventHandler::execute_json`] (default
    /// [`DEFAULT_MAX_EVENT_BYTES`]).
    pub fn max_event_bytes(mut self, max: usize) -> Self {
        self.max_event_bytes = max;
        self
    }

    /// The implementation of `version` (an async closure returning a boxed future:
    /// `|input| Box::pin(async move { ... })`). Keys that are not versions of the contract
    /// are ignored, as in the reference.
    pub fn version<F>(mut self, version: impl Into<String>, f: F) -> Self
    where
        F: for<'a> Fn(HandlerInput<'a>) -> BoxFuture<'a, HandlerResult> + Send + Sync + 'static,
    {
        let version = version.into();
        self.closures.retain(|(v, _)| *v != version);
        self.closures.push((version, Box::new(f)));
        self
    }

    /// A synchronous implementation of `version`.
    pub fn version_sync<F>(self, version: impl Into<String>, f: F) -> Self
    where
        F: for<'a> Fn(HandlerInput<'a>) -> HandlerResult + Send + Sync + 'static,
    {
        self.version(version, move |input| Box::pin(std::future::ready(f(input))))
    }

    /// Builds the handler.
    ///
    /// # Errors
    /// [`HandlerBuildError::MissingVersion`] when a contract version has no implementation,
    /// [`HandlerBuildError::EmptyDomains`], [`HandlerBuildError::ExecutionUnits`].
    pub fn build(self) -> Result<ArvoEventHandler, HandlerBuildError> {
        if !self.executionunits.is_finite() {
            return Err(HandlerBuildError::ExecutionUnits(self.executionunits));
        }
        if self.emit_domains.is_empty() {
            return Err(HandlerBuildError::EmptyDomains { which: "emits" });
        }
        if self.system_error_domains.is_empty() {
            return Err(HandlerBuildError::EmptyDomains {
                which: "systemError",
            });
        }
        let contract = self.contract;
        let versions: Vec<VersionedContract> = contract.versioned().collect();
        let dispatch: Box<dyn Dispatch> = match self.typed {
            Some(d) => d,
            None => {
                let mut closures = self.closures;
                let mut table = Vec::with_capacity(versions.len());
                for v in &versions {
                    let pos = closures.iter().position(|(k, _)| k == v.version().as_str());
                    match pos {
                        Some(i) => table.push(closures.swap_remove(i).1),
                        None => {
                            return Err(HandlerBuildError::MissingVersion {
                                uri: contract.uri().to_owned(),
                                version: v.version().to_string(),
                            });
                        }
                    }
                }
                Box::new(Closures(table))
            }
        };
        let latest = contract.latest();
        let source = contract.event_type().to_owned();
        let uri = contract.uri().to_owned();
        let mut span_attributes = vec![
            KeyValue::new(attr::ARVO_SPAN_KIND, ArvoSpanKind::EventHandler.as_str()),
            KeyValue::new(attr::OPENINFERENCE_SPAN_KIND, "CHAIN"),
        ];
        for kv in self.span_attributes {
            match span_attributes.iter_mut().find(|k| k.key == kv.key) {
                Some(slot) => *slot = kv,
                None => span_attributes.push(kv),
            }
        }
        span_attributes.retain(|k| {
            k.key.as_str() != attr::HANDLER_SOURCE && k.key.as_str() != attr::CONTRACT_URI
        });
        span_attributes.push(KeyValue::new(attr::HANDLER_SOURCE, source.clone()));
        span_attributes.push(KeyValue::new(attr::CONTRACT_URI, uri.clone()));
        let available_versions = contract
            .versions()
            .map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        // Encoded once here instead of once per emitted event: `encodeURI` of constants.
        let source_uri = EncodedUri::encode(&source);
        let dataschemas = versions
            .iter()
            .map(|v| EncodedUri::encode(v.dataschema()))
            .collect();
        Ok(ArvoEventHandler {
            source_uri,
            dataschemas,
            system_error_type: contract.system_error_type().to_owned(),
            span_name: self.span_name.unwrap_or_else(|| format!("Handler<{uri}>")),
            tracer: crate::otel::ExecutionTracer::new(self.tracer),
            contract,
            source,
            executionunits: self.executionunits,
            emit_domains: self.emit_domains,
            system_error_domains: self.system_error_domains,
            span_attributes,
            versions,
            latest,
            dispatch,
            available_versions,
            max_event_bytes: self.max_event_bytes,
        })
    }
}

/// The event handler runtime (`ArvoEventHandler`): one contract, one implementation per
/// version. See the [module docs](self) for an example.
pub struct ArvoEventHandler {
    contract: ArvoContract,
    source: String,
    /// `encodeURI(source)`.
    source_uri: EncodedUri,
    /// `encodeURI(dataschema)` of each version, by slot.
    dataschemas: Vec<EncodedUri>,
    system_error_type: String,
    executionunits: f64,
    emit_domains: Vec<DomainSpec>,
    system_error_domains: Vec<DomainSpec>,
    tracer: crate::otel::ExecutionTracer,
    span_name: String,
    span_attributes: Vec<KeyValue>,
    versions: Vec<VersionedContract>,
    latest: VersionedContract,
    dispatch: Box<dyn Dispatch>,
    available_versions: String,
    max_event_bytes: usize,
}

impl std::fmt::Debug for ArvoEventHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArvoEventHandler")
            .field("contract", &self.contract)
            .field("executionunits", &self.executionunits)
            .field("emit_domains", &self.emit_domains)
            .field("system_error_domains", &self.system_error_domains)
            .field("span_name", &self.span_name)
            .finish_non_exhaustive()
    }
}

/// The attributes one output shares between its domain copies.
#[derive(Clone)]
struct Shared {
    event_type: EmitType,
    subject: EncodedUri,
    dataschema: EncodedUri,
    data: Map<String, Value>,
    to: EncodedUri,
    accesscontrol: Option<String>,
    redirectto: Option<EncodedUri>,
    parentid: EncodedUri,
    extensions: Extensions,
}

/// Why the steps before the outputs stopped.
enum Failure {
    Violation(Violation),
    User(HandlerError),
}

impl From<Violation> for Failure {
    fn from(v: Violation) -> Self {
        Failure::Violation(v)
    }
}

impl ArvoEventHandler {
    /// Starts a handler for `contract`, implemented with closures per version.
    pub fn builder(contract: ArvoContract) -> ArvoEventHandlerBuilder {
        ArvoEventHandlerBuilder {
            contract,
            executionunits: 0.0,
            emit_domains: vec![DomainSpec::OrchestrationContext],
            system_error_domains: vec![DomainSpec::OrchestrationContext],
            tracer: None,
            span_name: None,
            span_attributes: Vec::new(),
            closures: Vec::new(),
            typed: None,
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
        }
    }

    /// Starts a handler for the typed contract `C`, implemented by `handler` (every version is
    /// covered by `C`'s dispatch, so the version check of [`ArvoEventHandlerBuilder::build`]
    /// is the compiler's).
    ///
    /// ```
    /// use arvo_runtime::contract::{ArvoContract, Schema};
    /// use arvo_runtime::handler::{ArvoEventHandler, ContractDispatch, HandlerInput, HandlerResult, RawOutput};
    /// use futures_util::future::BoxFuture;
    /// use serde_json::json;
    ///
    /// // What `#[arvo_contract]` generates, written by hand.
    /// struct Echo;
    /// trait EchoHandler: Send + Sync { fn v1_0_0(&self, x: f64) -> f64; }
    /// impl<H: EchoHandler + 'static> ContractDispatch<H> for Echo {
    ///     fn contract() -> ArvoContract {
    ///         let s = Schema::new(json!({"type":"object","properties":{"x":{"type":"number"}},"required":["x"]})).unwrap();
    ///         ArvoContract::simple("#/echo", "echo.run").version("1.0.0", s.clone(), s).build().unwrap()
    ///     }
    ///     fn dispatch<'a>(h: &'a H, input: HandlerInput<'a>) -> BoxFuture<'a, HandlerResult> {
    ///         Box::pin(async move {
    ///             #[derive(serde::Deserialize)] struct In { x: f64 }
    ///             let data: In = input.data_as()?;
    ///             Ok(vec![RawOutput::new("evt.echo.run.success", json!({"x": h.v1_0_0(data.x)}))])
    ///         })
    ///     }
    /// }
    /// struct Doubler;
    /// impl EchoHandler for Doubler { fn v1_0_0(&self, x: f64) -> f64 { 2.0 * x } }
    /// let handler = ArvoEventHandler::typed::<Echo, _>(Doubler).build()?;
    /// let event = arvo_runtime::ArvoEvent::builder().event_type("com.echo.run").source("com.client")
    ///     .subject("s-1").data_json(json!({"x": 2})).build()?;
    /// let out = futures_util::FutureExt::now_or_never(
    ///     handler.execute(&event, arvo_runtime::handler::ParentContext::Event)).unwrap()?;
    /// assert_eq!(out[0].data()["x"], json!(4.0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn typed<C, H>(handler: H) -> ArvoEventHandlerBuilder
    where
        C: ContractDispatch<H>,
        H: Send + Sync + 'static,
    {
        let mut b = Self::builder(C::contract());
        b.typed = Some(Box::new(Typed::<C, H> {
            handler,
            _contract: PhantomData,
        }));
        b
    }

    /// The contract.
    pub fn contract(&self) -> &ArvoContract {
        &self.contract
    }

    /// The default executionunits.
    pub fn executionunits(&self) -> f64 {
        self.executionunits
    }

    /// The default emission domains (`emits`, `systemError`).
    pub fn default_domains(&self) -> (&[DomainSpec], &[DomainSpec]) {
        (&self.emit_domains, &self.system_error_domains)
    }

    /// The span name.
    pub fn span_name(&self) -> &str {
        &self.span_name
    }

    /// The static span attributes (kinds, user attributes, source, contract uri).
    pub fn span_attributes(&self) -> &[KeyValue] {
        &self.span_attributes
    }

    /// Parses `json` as an event and executes it; events over the size limit and unparsable
    /// events are refused with a `Contract` violation before anything else is done.
    ///
    /// # Errors
    /// As [`execute`](Self::execute), plus the two refusals.
    pub async fn execute_json(
        &self,
        json: &[u8],
        parent: ParentContext,
    ) -> Result<Vec<ArvoEvent>, Violation> {
        if json.len() > self.max_event_bytes {
            return Err(Violation::contract(format!(
                "Event of {} bytes exceeds the limit of {} bytes",
                json.len(),
                self.max_event_bytes
            )));
        }
        let event = ArvoEvent::from_json_slice(json)
            .map_err(|e| Violation::contract(format!("Invalid ArvoEvent: {e}")))?;
        self.execute(&event, parent).await
    }

    /// Processes one event (spec §1.3): the events to emit, or the violation to hand to the
    /// infrastructure. Errors of the implementation that are not violations become system
    /// error events, and so does a panic of the implementation (a [`UserPanic`]): it never
    /// unwinds into the caller.
    ///
    /// # Errors
    /// `Config` (wrong event type, unknown version), `Contract` (dataschema of another
    /// contract, invalid input or output data, invalid output event), or a violation raised
    /// by the implementation.
    pub async fn execute(
        &self,
        event: &ArvoEvent,
        parent: ParentContext,
    ) -> Result<Vec<ArvoEvent>, Violation> {
        let parent_cx = match parent {
            ParentContext::Event => crate::otel::event_parent_context(event),
            ParentContext::Context(cx) => cx,
        };
        let span = self.tracer.start(
            || Cow::Owned(self.span_name.clone()),
            SpanKind::Consumer,
            parent_cx,
        );
        let (cx, recording) = (&span.cx, span.recording);
        let headers = TraceHeaders::from_context(cx);
        if recording {
            let span = cx.span();
            for kv in &self.span_attributes {
                span.set_attribute(kv.clone());
            }
            span.set_attribute(KeyValue::new(attr::EXECUTION_STATUS, "normal"));
            span.set_attribute(KeyValue::new(attr::EXECUTION_TYPE, "handler"));
            for (k, v) in event.otel_attributes() {
                span.set_attribute(KeyValue::new(
                    format!("{}{k}", attr::CONSUMABLE_PREFIX),
                    opentelemetry::Value::from(v),
                ));
            }
        }
        // Decodes the subject lazily, at most once, for outputs and system errors alike.
        let resolver = DomainResolver::new(
            None,
            event.subject(),
            self.contract.domain(),
            self.contract.domain(),
            event.domain(),
        );
        let mut failed = false;
        let result = match self.call_user(event, cx, &headers, recording).await {
            Ok((slot, outputs)) => self.emit(event, slot, outputs, &resolver, &headers),
            Err(Failure::Violation(v)) => Err(v),
            Err(Failure::User(err)) => match err.violation() {
                Some(v) => Err(v),
                None => {
                    if recording {
                        failed = true;
                        fail_span(cx, "Error", &err.to_string());
                    }
                    self.system_errors(event, &err, &resolver, &headers)
                }
            },
        };
        if recording {
            let span = cx.span();
            for msg in resolver.subject_errors() {
                span.add_event(
                    "exception",
                    vec![KeyValue::new(
                        attr::EXCEPTION_MESSAGE,
                        format!(
                            "Unable to parse the provided subject. Falling back to ArvoDomain.LOCAL. Error: {msg}"
                        ),
                    )],
                );
            }
            match &result {
                Ok(events) => {
                    // OpenTelemetry's `Ok` is final, so it is set at the end (the reference
                    // sets it first and may overwrite it with `ERROR`).
                    if !failed {
                        span.set_status(Status::Ok);
                    }
                    for (i, e) in events.iter().enumerate() {
                        for (k, v) in e.otel_attributes() {
                            span.set_attribute(KeyValue::new(
                                format!("{}{i}.{k}", attr::EMITTABLES_PREFIX),
                                opentelemetry::Value::from(v),
                            ));
                        }
                    }
                    log(
                        cx,
                        "INFO",
                        format!(
                            "Execution completed with issues and emitted {} events",
                            events.len()
                        ),
                    );
                }
                Err(v) => fail_span(cx, &v.name(), &v.to_string()),
            }
        }
        span.end();
        result
    }

    /// Steps 3-8: routing, dataschema, version, input validation, the implementation.
    async fn call_user(
        &self,
        event: &ArvoEvent,
        cx: &Context,
        headers: &TraceHeaders,
        recording: bool,
    ) -> Result<(usize, Vec<RawOutput>), Failure> {
        if event.event_type() != self.source {
            return Err(Violation::config(format!(
                "Event type mismatch: Received '{}', expected '{}'",
                crate::issue::quote_prefix(event.event_type()),
                self.source
            ))
            .into());
        }
        // Fast path: the dataschema is one of the versions' `<uri>/<version>` verbatim, which
        // `dataschema::parse` would split into this contract's uri and that version.
        let exact = event
            .dataschema()
            .and_then(|d| self.versions.iter().position(|v| v.dataschema() == d));
        let parsed = match exact {
            Some(_) => None,
            None => event.dataschema().and_then(|d| dataschema::parse(d).ok()),
        };
        let slot = match (exact, parsed) {
            (Some(slot), _) => slot,
            (None, parsed) => match parsed {
                Some(p) => {
                    if p.uri != self.contract.uri() {
                        return Err(Violation::contract(format!(
                        "Contract URI mismatch: Handler expects '{}' but event dataschema specifies '{}'. Events must reference the same contract URI as their handler.",
                        self.contract.uri(),
                        event.dataschema().unwrap_or_default()
                    ))
                    .into());
                    }
                    self.versions
                        .iter()
                        .position(|v| v.version().as_str() == p.version)
                        .ok_or_else(|| {
                            Violation::config(format!(
                                "Invalid contract version: {}. Available versions: {}",
                                p.version, self.available_versions
                            ))
                        })?
                }
                None => {
                    if recording {
                        log(
                            cx,
                            "WARNING",
                            format!(
                                "Version resolution failed for event with dataschema '{}'. Defaulting to latest version (={}) of contract (uri={})",
                                event.dataschema().unwrap_or("undefined"),
                                self.latest.version(),
                                self.contract.uri()
                            ),
                        );
                    }
                    self.versions
                        .iter()
                        .position(|v| v.version() == self.latest.version())
                        .unwrap_or(0)
                }
            },
        };
        let Some(versioned) = self.versions.get(slot) else {
            return Err(Violation::config("No contract version available").into());
        };
        if let Err(issues) = versioned.accepts().schema.validate(event.data_value()) {
            return Err(Violation::contract(format!(
                "Input event payload validation failed: {issues}"
            ))
            .into());
        }
        let input = HandlerInput {
            event,
            contract: versioned,
            source: &self.source,
            span_headers: headers,
            otel_context: cx,
        };
        // The one place a handler's implementation runs: a panic in it is the error it stands
        // for (a system error event), never an unwind into the caller.
        let fut = catch_panic(async { self.dispatch.call(slot, input).await });
        let outputs = if cx.span().span_context().is_valid() {
            use opentelemetry::context::FutureExt as _;
            fut.with_context(cx.clone()).await
        } else {
            fut.await
        };
        match outputs {
            Ok(outputs) => outputs.map(|o| (slot, o)).map_err(Failure::User),
            Err(panic) => Err(Failure::User(HandlerError::from(panic))),
        }
    }

    /// Step 9: the outputs, with every default, one event per distinct resolved domain.
    fn emit(
        &self,
        event: &ArvoEvent,
        slot: usize,
        outputs: Vec<RawOutput>,
        resolver: &DomainResolver<'_>,
        headers: &TraceHeaders,
    ) -> Result<Vec<ArvoEvent>, Violation> {
        let Some(versioned) = self.versions.get(slot) else {
            return Ok(Vec::new());
        };
        let mut events = Vec::with_capacity(outputs.len());
        for o in outputs {
            let specs = o.domain.as_deref().unwrap_or(&self.emit_domains);
            let domains = resolver.resolve_dedup(specs);
            let Some((emit_type, schema)) = EmitType::lookup(versioned, &o.event_type) else {
                return Err(Violation::contract(format!(
                    "Emit Event data validation failed: No contract available for {}",
                    o.event_type
                )));
            };
            let data = match schema.schema.parse_owned(o.data) {
                Ok(Value::Object(m)) => m,
                Ok(other) => {
                    return Err(Violation::contract(format!(
                        "Emit Event data validation failed: data must be an object, got {}",
                        crate::issue::json_type_name(&other)
                    )));
                }
                Err(issues) => {
                    return Err(Violation::contract(format!(
                        "Emit Event data validation failed: {issues}"
                    )));
                }
            };
            let accesscontrol = o.accesscontrol.as_deref().or(event.accesscontrol());
            let executionunits = o.executionunits.unwrap_or(self.executionunits);
            // `createArvoEvent`'s defaults and encodings, computed once per output. The URI
            // fields of the incoming event are valid URIs already (it was validated when built),
            // which makes their `encodeURI` a copy (see `ArvoEvent::encoded_subject`).
            let to = match o.to {
                // An empty `to` means `encodeURI(type)`, as in `createArvoEvent`.
                Some(t) if t.is_empty() => EncodedUri::encode(&o.event_type),
                Some(t) => EncodedUri::encode(&t),
                None => event
                    .encoded_redirectto()
                    .unwrap_or_else(|| event.encoded_source()),
            };
            let redirectto = o
                .redirectto
                .filter(|r| !r.is_empty())
                .map(|r| EncodedUri::encode(&r));
            let dataschema = self
                .dataschemas
                .get(slot)
                .cloned()
                .unwrap_or_else(|| EncodedUri::encode(versioned.dataschema()));
            let mut shared = Some(Shared {
                event_type: emit_type,
                subject: event.encoded_subject(),
                dataschema,
                data,
                to,
                accesscontrol: accesscontrol.map(str::to_owned),
                redirectto,
                parentid: EncodedUri::encode_shared(event.shared_id()),
                extensions: o.extensions,
            });
            let n = domains.len();
            for (i, domain) in domains.iter().enumerate() {
                // The last copy takes the values, the others clone them.
                let Some(sh) = (if i + 1 == n {
                    shared.take()
                } else {
                    shared.clone()
                }) else {
                    break;
                };
                let parts = EncodedParts {
                    id: create_shared_event_id(o.id.as_ref()),
                    time: EventTime::given_or_now(o.time.as_ref()),
                    source: self.source_uri.clone(),
                    event_type: sh.event_type,
                    subject: sh.subject,
                    dataschema: Some(sh.dataschema),
                    data: sh.data,
                    to: sh.to,
                    accesscontrol: sh.accesscontrol,
                    redirectto: sh.redirectto,
                    executionunits: Some(executionunits),
                    parentid: Some(sh.parentid),
                    domain: domain.map(str::to_owned),
                    traceparent: headers.traceparent.clone(),
                    tracestate: headers.tracestate.clone(),
                    extensions: sh.extensions,
                };
                events.push(
                    ArvoEvent::from_encoded_parts(parts)
                        .map_err(|e| Violation::contract(e.to_string()))?,
                );
            }
        }
        Ok(events)
    }

    /// §1.4: the system error events of a failed implementation.
    fn system_errors(
        &self,
        event: &ArvoEvent,
        err: &HandlerError,
        resolver: &DomainResolver<'_>,
        headers: &TraceHeaders,
    ) -> Result<Vec<ArvoEvent>, Violation> {
        system_error_events(&SystemErrorSpec {
            payload: &ArvoErrorPayload::from_error(err.as_error()),
            source: &self.source,
            system_error: self.latest.system_error(),
            subject: event.subject(),
            to: event.source(),
            parentid: event.id(),
            accesscontrol: event.accesscontrol(),
            executionunits: self.executionunits,
            domains: resolver.resolve_dedup(&self.system_error_domains),
            headers,
        })
    }
}

/// What the system error builder (§1.4) needs; shared by handlers and orchestrations, which
/// differ only in these values.
pub(crate) struct SystemErrorSpec<'a> {
    pub(crate) payload: &'a ArvoErrorPayload,
    pub(crate) source: &'a str,
    pub(crate) system_error: &'a crate::contract::SystemErrorSchema,
    pub(crate) subject: &'a str,
    pub(crate) to: &'a str,
    pub(crate) parentid: &'a str,
    pub(crate) accesscontrol: Option<&'a str>,
    pub(crate) executionunits: f64,
    /// Resolved and de-duplicated domains, one event each.
    pub(crate) domains: Vec<Option<&'a str>>,
    pub(crate) headers: &'a TraceHeaders,
}

/// §1.4: one `sys.<type>.error` event per domain of `spec`.
pub(crate) fn system_error_events(spec: &SystemErrorSpec<'_>) -> Result<Vec<ArvoEvent>, Violation> {
    let payload = spec.payload;
    let mut events = Vec::with_capacity(spec.domains.len());
    for domain in &spec.domains {
        let mut data = Map::with_capacity(3);
        data.insert(
            "errorName".to_owned(),
            Value::from(payload.error_name.as_str()),
        );
        data.insert(
            "errorMessage".to_owned(),
            Value::from(payload.error_message.as_str()),
        );
        data.insert(
            "errorStack".to_owned(),
            payload
                .error_stack
                .as_deref()
                .map_or(Value::Null, Value::from),
        );
        let e = ArvoEvent::builder()
            .source(spec.source)
            .event_type(spec.system_error.event_type.as_str())
            .subject(spec.subject)
            .dataschema(spec.system_error.dataschema.as_str())
            .data(data)
            .to(spec.to)
            .accesscontrol(spec.accesscontrol)
            .executionunits(spec.executionunits)
            .parentid(spec.parentid)
            .domain(*domain)
            .traceparent(spec.headers.traceparent.as_deref())
            .tracestate(spec.headers.tracestate.as_deref())
            .build()
            .map_err(|e| Violation::contract(e.to_string()))?;
        events.push(e);
    }
    Ok(events)
}

impl EventHandler for ArvoEventHandler {
    fn source(&self) -> &str {
        &self.source
    }
    fn system_error_type(&self) -> &str {
        &self.system_error_type
    }
    fn execute(
        &self,
        event: &ArvoEvent,
        parent: ParentContext,
    ) -> impl Future<Output = Result<Vec<ArvoEvent>, Violation>> + Send {
        ArvoEventHandler::execute(self, event, parent)
    }
}

/// Marks the span failed (§1.3 error path).
fn fail_span(cx: &Context, name: &str, message: &str) {
    crate::otel::record_failure(
        cx,
        name,
        message,
        format!("Event processing failed: {message}"),
    );
}

/// `logToSpan`: a span event named `log`.
fn log(cx: &Context, level: &'static str, message: String) {
    crate::otel::log_to_span(cx, level, || message);
}
