//! The [`ArvoEventHandler`] and how it is built: its options and one implementation per
//! contract version.

use super::{
    ContractDispatch, DomainSpec, HandlerError, HandlerInput, HandlerResult, VersionFn, Violation,
};
use crate::contract::{ArvoContract, VersionedContract};
use crate::event::EncodedUri;
use crate::otel::{ArvoSpanKind, attr};
use futures_util::future::BoxFuture;
use indexmap::IndexMap;
use opentelemetry::KeyValue;
use opentelemetry::global::BoxedTracer;
use std::marker::PhantomData;

/// The default limit of [`ArvoEventHandler::execute_json`]: 1 MiB of JSON per event.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 1 << 20;

/// How versions are implemented.
pub(super) trait Dispatch: Send + Sync {
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

/// The event handler runtime (`ArvoEventHandler`): one contract, one implementation per
/// version. See the [module docs](super) for an example.
pub struct ArvoEventHandler {
    pub(super) contract: ArvoContract,
    pub(super) source: String,
    /// `encodeURI(source)`.
    pub(super) source_uri: EncodedUri,
    /// `encodeURI(dataschema)` of each version, by slot.
    pub(super) dataschemas: Vec<EncodedUri>,
    pub(super) system_error_type: String,
    pub(super) executionunits: f64,
    pub(super) emit_domains: Vec<DomainSpec>,
    pub(super) system_error_domains: Vec<DomainSpec>,
    pub(super) tracer: crate::otel::ExecutionTracer,
    pub(super) span_name: String,
    pub(super) span_attributes: Vec<KeyValue>,
    pub(super) versions: Vec<VersionedContract>,
    pub(super) latest: VersionedContract,
    pub(super) dispatch: Box<dyn Dispatch>,
    pub(super) available_versions: String,
    pub(super) max_event_bytes: usize,
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
    /// By version (hashed: many versions build in linear time).
    closures: IndexMap<String, VersionFn>,
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
        self.closures.insert(version, Box::new(f));
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
                    match closures.swap_remove(v.version().as_str()) {
                        Some(f) => table.push(f),
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
            closures: IndexMap::new(),
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
}
