//! Typed contracts: the traits and types that [`#[arvo_contract]`](crate::arvo_contract)
//! implements, so that the compiler checks what the reference checks at run time.
//!
//! For a contract struct `CalcAdd` the macro generates:
//! - `impl TypedContract for CalcAdd` and `CalcAdd::contract()`, the runtime
//!   [`ArvoContract`], built once through the same builders as a
//!   hand-written contract;
//! - one marker type per version, `CalcAddV1_0_0: ContractVersion`, whose
//!   [`Accepts`](ContractVersion::Accepts) is the input payload and whose
//!   [`Emits`](ContractVersion::Emits) is an enum with one variant per emitted event type, so a
//!   handler can only emit what its version declares;
//! - for service and simple contracts, a handler trait `CalcAddHandler` with one method per
//!   version (`v1_0_0`), so an implementation that misses a version fails with E0046, and
//!   `impl<H: CalcAddHandler> ContractDispatch<H> for CalcAdd`, so that
//!   [`ArvoEventHandler::typed`](crate::handler::ArvoEventHandler::typed) runs it.
//!
//! A method receives an [`Input`] (the typed payload, the triggering event, the resolved
//! version, the span's trace headers) and returns [`Emission`]s: values of the version's emits
//! enum, the only way to choose an event type and payload, with optional per-event options.
//!
//! # Serde and JSON Schema
//! Payload types derive `serde::Serialize`, `serde::Deserialize` and `schemars::JsonSchema`.
//! Unknown keys: serde ignores them by default (the typed value drops them), which is what the
//! reference's zod objects do at run time (they strip unknown keys) although its exported schema
//! says `additionalProperties: false`. `Option<T>` fields accept a missing key or `null`;
//! `#[serde(default)]` fields accept a missing key. Add `#[serde(deny_unknown_fields)]` to reject
//! unknown keys instead (not with [`OrchestratorInit`], which flattens the user's type).

use crate::contract::{ArvoContract, ContractError, VersionedContract};
use crate::event::{ArvoEvent, EventIdInput, ExtensionValue};
use crate::handler::{DomainSpec, HandlerInput, HandlerResult, RawOutput, Violation};
use crate::otel::TraceHeaders;
use futures_util::future::BoxFuture;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::borrow::Cow;
use std::future::Future;

/// Seals the typed-contract traits: only `#[arvo_contract]` implements them (through
/// `__private`), so a hand-written, inconsistent implementation cannot exist by accident.
#[doc(hidden)]
pub mod sealed {
    /// The seal. Not part of the public API.
    pub trait Sealed {}
}

/// What an event payload type must implement: serde both ways and a JSON Schema.
///
/// It is implemented for every type with those traits.
///
/// ```
/// #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
/// pub struct Add { a: f64, b: f64 }
/// fn is_payload<T: arvo_runtime::typed::Payload>() {}
/// is_payload::<Add>();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an Arvo event payload",
    note = "derive `serde::Serialize`, `serde::Deserialize` and `schemars::JsonSchema` on `{Self}`"
)]
pub trait Payload: Serialize + DeserializeOwned + JsonSchema + Send + 'static {}

impl<T: Serialize + DeserializeOwned + JsonSchema + Send + 'static> Payload for T {}

/// A contract declared with `#[arvo_contract]`.
///
/// ```
/// use arvo_runtime::{arvo_contract, typed::TypedContract};
/// # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)] pub struct In { a: f64 }
/// # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)] pub struct Out { r: f64 }
/// #[arvo_contract(uri = "#/calc/add", type = "calc.add", simple, version("1.0.0", accepts = In, emits = Out))]
/// pub struct CalcAdd;
///
/// assert_eq!(CalcAdd::TYPE, "com.calc.add");
/// assert_eq!(CalcAdd::SYSTEM_ERROR_TYPE, "sys.com.calc.add.error");
/// assert_eq!(<CalcAdd as TypedContract>::contract().uri(), "#/calc/add");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an Arvo contract",
    note = "declare contracts with `#[arvo_contract(...)]` on a unit struct"
)]
pub trait TypedContract: sealed::Sealed + Send + Sync + 'static {
    /// The contract's URI.
    const URI: &'static str;
    /// The event type the contract accepts (`arvo.orc.<name>` for orchestrators).
    const TYPE: &'static str;
    /// `sys.<TYPE>.error`.
    const SYSTEM_ERROR_TYPE: &'static str;
    /// The versions, in declaration order.
    const VERSIONS: &'static [&'static str];
    /// Per version (as [`VERSIONS`](TypedContract::VERSIONS)), the compile error of a handler
    /// or resumable that does not handle it. Used by the macros' checks.
    #[doc(hidden)]
    const UNHANDLED: &'static [&'static str];
    /// The runtime contract, built on first use (through the same builders as a hand-written
    /// contract, with the schemas of the payload types) and then shared; `Err` if a payload
    /// type's JSON Schema cannot be compiled (the macro has already checked every literal).
    fn try_contract() -> Result<&'static ArvoContract, &'static ContractError>;

    /// [`try_contract`](TypedContract::try_contract), for contracts known to be valid.
    ///
    /// # Panics
    /// When a payload type's JSON Schema does not compile (a bug in a hand-written
    /// `JsonSchema` impl); the message names the contract and the schema error.
    fn contract() -> &'static ArvoContract {
        match Self::try_contract() {
            Ok(contract) => contract,
            Err(e) => panic!(
                "the typed contract {} (uri={}) is invalid: {e}",
                Self::TYPE,
                Self::URI
            ),
        }
    }
}

/// One version of a typed contract (a marker type generated per version, e.g. `CalcAddV1_0_0`).
///
/// ```
/// use arvo_runtime::{arvo_contract, typed::{ContractVersion, Emits}};
/// # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)] pub struct In { a: f64 }
/// # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)] pub struct Out { r: f64 }
/// #[arvo_contract(uri = "#/calc/add", type = "calc.add", simple, version("1.0.0", accepts = In, emits = Out))]
/// pub struct CalcAdd;
///
/// assert_eq!(CalcAddV1_0_0::VERSION, "1.0.0");
/// assert_eq!(CalcAddV1_0_0::DATASCHEMA, "#/calc/add/1.0.0");
/// assert_eq!(CalcAddV1_0_0::versioned().dataschema(), CalcAddV1_0_0::DATASCHEMA);
/// let out = CalcAddV1_0_0Emits::Success(Out { r: 3.0 });
/// assert_eq!(out.event_type(), "evt.calc.add.success");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a version of an Arvo contract",
    note = "`#[arvo_contract]` generates one marker type per version, named `<Contract>V<major>_<minor>_<patch>`"
)]
pub trait ContractVersion: sealed::Sealed + Send + Sync + 'static {
    /// The contract this version belongs to.
    type Contract: TypedContract;
    /// The version text, e.g. `"1.0.0"`.
    const VERSION: &'static str;
    /// `<uri>/<version>`, the `dataschema` of the events of this version.
    const DATASCHEMA: &'static str;
    /// The payload of the accepted event (for orchestrators, [`OrchestratorInit`] around the
    /// user's init payload).
    type Accepts: Payload;
    /// The events this version may emit: an enum with one variant per emitted event type.
    type Emits: Emits;

    /// The runtime view of this version (`contract().version(VERSION)`).
    ///
    /// # Panics
    /// As [`TypedContract::contract`].
    fn versioned() -> VersionedContract {
        match <Self::Contract as TypedContract>::contract().version(Self::VERSION) {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        }
    }
}

/// The typed emitted events of one contract version: one variant per event type, holding its
/// payload. Serialises to the pair (event type, data).
///
/// ```
/// use arvo_runtime::{arvo_contract, typed::Emits};
/// # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)] pub struct In { a: f64 }
/// #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
/// pub struct Done { ok: bool }
/// #[arvo_contract(uri = "#/job", type = "com.job.run",
///     version("1.0.0", accepts = In, emits("evt.job.done" = Done)))]
/// pub struct Job;
///
/// let e = JobV1_0_0Emits::EvtJobDone(Done { ok: true });
/// assert_eq!(e.event_type(), "evt.job.done");
/// assert_eq!(e.to_data().unwrap(), serde_json::json!({"ok": true}));
/// let back = JobV1_0_0Emits::from_data("evt.job.done", serde_json::json!({"ok": false})).unwrap();
/// assert!(matches!(back, Some(JobV1_0_0Emits::EvtJobDone(Done { ok: false }))));
/// assert!(JobV1_0_0Emits::from_data("evt.other.type", serde_json::json!({})).unwrap().is_none());
/// assert_eq!(JobV1_0_0Emits::EVENT_TYPES, ["evt.job.done"]);
/// assert_eq!(JobV1_0_0Emits::VARIANTS, ["EvtJobDone"]);
/// ```
pub trait Emits: Sized + Send + 'static {
    /// Every event type of the enum, in declaration order.
    const EVENT_TYPES: &'static [&'static str];

    /// The variant of each event type, as [`EVENT_TYPES`](Emits::EVENT_TYPES) (`"Success"`,
    /// `"EvtJobDone"`): how `#[arvo_machine]` turns `service::Variant` into the event type.
    /// Empty for hand-written enums.
    const VARIANTS: &'static [&'static str] = &[];

    /// The event type of this value.
    fn event_type(&self) -> &'static str;

    /// Serialises the payload alone (the event's `data`).
    fn serialize_data<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error>;

    /// Deserialises the payload of an event of type `event_type`; `Ok(None)` when this version
    /// does not emit that type.
    fn deserialize_data<'de, D: Deserializer<'de>>(
        event_type: &str,
        data: D,
    ) -> Result<Option<Self>, D::Error>;

    /// A [`Serialize`] view of the payload.
    fn data(&self) -> Data<'_, Self> {
        Data(self)
    }

    /// The payload as a JSON value.
    fn to_data(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::to_value(Data(self))
    }

    /// Reads a payload from a JSON value (see [`Emits::deserialize_data`]).
    fn from_data(
        event_type: &str,
        data: serde_json::Value,
    ) -> Result<Option<Self>, serde_json::Error> {
        Self::deserialize_data(event_type, data)
    }
}

/// The `Debug` of a generated emits enum: the event type and the payload as JSON, e.g.
/// `evt.calc.add.success({"result":3.0})` (payload types need not implement `Debug`).
#[doc(hidden)]
pub fn fmt_emits<E: Emits>(emits: &E, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    match serde_json::to_string(&Data(emits)) {
        Ok(json) => write!(f, "{}({json})", emits.event_type()),
        Err(_) => write!(f, "{}(<unserialisable payload>)", emits.event_type()),
    }
}

/// Serialises the payload of an [`Emits`] value.
///
/// ```
/// # use arvo_runtime::{arvo_contract, typed::Emits};
/// # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)] pub struct In { a: f64 }
/// # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)] pub struct Done { ok: bool }
/// # #[arvo_contract(uri = "#/job", type = "com.job.run", version("1.0.0", accepts = In, emits("evt.job.done" = Done)))]
/// # pub struct Job;
/// let e = JobV1_0_0Emits::EvtJobDone(Done { ok: true });
/// assert_eq!(serde_json::to_string(&e.data()).unwrap(), r#"{"ok":true}"#);
/// ```
pub struct Data<'a, E>(pub &'a E);

impl<E: Emits> Serialize for Data<'_, E> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_data(serializer)
    }
}

/// What a handler method receives for version `V`: the accepted payload, already validated
/// and typed, and (when run by the handler runtime) the triggering event, the resolved contract
/// version and the handler span's trace headers, all borrowed for the call.
///
/// The runtime builds it with [`Input::with_context`]; a unit test of a typed method builds
/// one with [`Input::new`] (no event: the accessors return `None`).
///
/// ```
/// # use arvo_runtime::{arvo_contract, typed::Input};
/// # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)] pub struct In { a: f64 }
/// # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)] pub struct Out { r: f64 }
/// # #[arvo_contract(uri = "#/calc/add", type = "calc.add", simple, version("1.0.0", accepts = In, emits = Out))]
/// # pub struct CalcAdd;
/// let input = Input::<CalcAddV1_0_0>::new(In { a: 1.0 });
/// assert_eq!(input.data.a, 1.0);
/// assert!(input.event().is_none());
/// ```
pub struct Input<'a, V: ContractVersion> {
    /// The payload of the accepted event.
    pub data: V::Accepts,
    context: Option<HandlerInput<'a>>,
}

impl<'a, V: ContractVersion> Input<'a, V> {
    /// Wraps a payload, without an event (for unit tests of a typed method).
    pub fn new(data: V::Accepts) -> Self {
        Input {
            data,
            context: None,
        }
    }

    /// Wraps a payload with the runtime's view of the call (what the handler runtime does).
    ///
    /// ```
    /// # use arvo_runtime::{arvo_contract, typed::{ContractVersion, Input}};
    /// use arvo_runtime::handler::HandlerInput;
    /// use arvo_runtime::otel::TraceHeaders;
    /// # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)] pub struct In { a: f64 }
    /// # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)] pub struct Out { r: f64 }
    /// # #[arvo_contract(uri = "#/calc/add", type = "calc.add", simple, version("1.0.0", accepts = In, emits = Out))]
    /// # pub struct CalcAdd;
    /// let event = arvo_runtime::ArvoEvent::builder().event_type("com.calc.add")
    ///     .source("com.client").subject("s-1").data_json(serde_json::json!({"a": 1})).build()?;
    /// let contract = CalcAddV1_0_0::versioned();
    /// let (headers, cx) = (TraceHeaders::default(), opentelemetry::Context::new());
    /// let context = HandlerInput {
    ///     event: &event, contract: &contract, source: CalcAdd::TYPE,
    ///     span_headers: &headers, otel_context: &cx,
    /// };
    /// let input = Input::<CalcAddV1_0_0>::with_context(In { a: 1.0 }, context);
    /// assert_eq!(input.event().map(|e| e.subject()), Some("s-1"));
    /// assert_eq!(input.contract().map(|c| c.version().as_str()), Some("1.0.0"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_context(data: V::Accepts, context: HandlerInput<'a>) -> Self {
        Input {
            data,
            context: Some(context),
        }
    }

    /// The triggering event (id, subject, source, domain, accesscontrol, ...); its `data` is
    /// the raw payload that [`data`](Input::data) was read from.
    pub fn event(&self) -> Option<&'a ArvoEvent> {
        self.context.map(|c| c.event)
    }

    /// The contract version resolved for the event.
    pub fn contract(&self) -> Option<&'a VersionedContract> {
        self.context.map(|c| c.contract)
    }

    /// The W3C trace headers of the handler's span (both `None` when nothing is traced).
    pub fn span_headers(&self) -> Option<&'a TraceHeaders> {
        self.context.map(|c| c.span_headers)
    }

    /// Everything the runtime passes to untyped handlers (adds the OpenTelemetry context,
    /// to start child spans in, and the handler's source).
    pub fn context(&self) -> Option<&HandlerInput<'a>> {
        self.context.as_ref()
    }
}

/// The one error type of user code in handlers and resumables (the same type as
/// [`handler::HandlerError`](crate::handler::HandlerError), re-exported here): the handler
/// runtime turns it into a `sys.<type>.error` event, unless it is (or wraps, as a `source()`) a
/// [`Violation`], which is returned to the caller as a violation.
pub use crate::handler::HandlerError;

/// One event a typed handler emits: a value of the version's emits enum (the only way to
/// choose the event type and payload) with per-event options. Every option defaults as in
/// [`RawOutput`]; `From<E>` makes a plain emits value an emission.
///
/// ```
/// # use arvo_runtime::arvo_contract;
/// use arvo_runtime::handler::DomainSpec;
/// use arvo_runtime::typed::Emission;
/// # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)] pub struct In { a: f64 }
/// # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)] pub struct Out { r: f64 }
/// # #[arvo_contract(uri = "#/calc/add", type = "calc.add", simple, version("1.0.0", accepts = In, emits = Out))]
/// # pub struct CalcAdd;
/// let plain: Emission<_> = CalcAddV1_0_0Emits::Success(Out { r: 1.0 }).into();
/// let routed = Emission::new(CalcAddV1_0_0Emits::Success(Out { r: 2.0 }))
///     .to("com.audit")
///     .domains(vec![DomainSpec::Local, DomainSpec::FromTriggeringEvent])
///     .executionunits(3.0);
/// assert_eq!(routed.options().to.as_deref(), Some("com.audit"));
/// let raw = routed.into_raw()?;
/// assert_eq!(raw.event_type, "evt.calc.add.success");
/// assert_eq!(raw.data, serde_json::json!({"r": 2.0}));
/// assert_eq!(raw.executionunits, Some(3.0));
/// # let _ = plain;
/// # Ok::<(), arvo_runtime::handler::Violation>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Emission<E> {
    /// The event type and payload.
    pub event: E,
    /// The options; `event_type` and `data` are unused until [`into_raw`](Emission::into_raw).
    options: RawOutput,
}

impl<E: Emits> Emission<E> {
    /// An emission of `event` with every option defaulted.
    pub fn new(event: E) -> Self {
        Emission {
            event,
            options: RawOutput::new(String::new(), Value::Null),
        }
    }

    /// Sets the id (default: fresh per copy).
    pub fn id(mut self, id: EventIdInput) -> Self {
        self.options.id = Some(id);
        self
    }

    /// Sets `to` (default: the incoming `redirectto`, else its `source`).
    pub fn to(mut self, to: impl Into<String>) -> Self {
        self.options.to = Some(to.into());
        self
    }

    /// Sets `accesscontrol` (default: the incoming event's).
    pub fn accesscontrol(mut self, accesscontrol: impl Into<String>) -> Self {
        self.options.accesscontrol = Some(accesscontrol.into());
        self
    }

    /// Sets `redirectto` (default: null).
    pub fn redirectto(mut self, redirectto: impl Into<String>) -> Self {
        self.options.redirectto = Some(redirectto.into());
        self
    }

    /// Sets `executionunits` (default: the handler's).
    pub fn executionunits(mut self, executionunits: f64) -> Self {
        self.options.executionunits = Some(executionunits);
        self
    }

    /// Sets the domain specs: one event per distinct resolved domain (default: the handler's
    /// emit domains; an empty list emits nothing).
    pub fn domains(mut self, specs: Vec<DomainSpec>) -> Self {
        self.options.domain = Some(specs);
        self
    }

    /// Adds a custom extension.
    pub fn extension(mut self, key: impl Into<String>, value: impl Into<ExtensionValue>) -> Self {
        self.options.extensions.insert(key, value);
        self
    }

    /// The options set so far (its `event_type` and `data` are not filled in yet).
    pub fn options(&self) -> &RawOutput {
        &self.options
    }

    /// The untyped output: the event type and serialised payload with the options.
    ///
    /// # Errors
    /// A `Contract` violation when the payload's `Serialize` impl fails.
    pub fn into_raw(self) -> Result<RawOutput, Violation> {
        let Emission { event, mut options } = self;
        let event_type = event.event_type();
        options.data = serde_json::to_value(Data(&event)).map_err(|e| {
            Violation::contract(format!(
                "Emit Event data serialisation failed for {event_type}: {e}"
            ))
        })?;
        options.event_type = std::borrow::Cow::Borrowed(event_type);
        Ok(options)
    }
}

impl<E: Emits> From<E> for Emission<E> {
    fn from(event: E) -> Self {
        Emission::new(event)
    }
}

/// What a handler method returns for version `V`: the events it emits, each typed by `V`
/// (write `Ok(vec![emits.into()])` for plain events, [`Emission`]'s builder for options).
pub type HandlerOutput<V> = Result<Vec<Emission<<V as ContractVersion>::Emits>>, HandlerError>;

/// What an `#[arvo_handler]` function or method of version `V` may return: `Result<T, E>`
/// where `E` converts into [`HandlerError`] (any `std::error::Error`, a [`Violation`], or
/// `HandlerError` itself) and `T` is one event or several ([`IntoEmissions`]): so a single
/// emission is `Ok(GreetV1_0_0Emits::Success(..))`, without `vec!` or `.into()`.
///
/// ```
/// # use arvo_runtime::arvo_contract;
/// use arvo_runtime::typed::{Emission, HandlerError, HandlerReturn};
/// # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)] pub struct In { a: f64 }
/// # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)] pub struct Out { r: f64 }
/// # #[arvo_contract(uri = "#/calc/add", type = "calc.add", simple, version("1.0.0", accepts = In, emits = Out))]
/// # pub struct CalcAdd;
/// let one: Result<_, HandlerError> = Ok(CalcAddV1_0_0Emits::Success(Out { r: 1.0 }));
/// assert_eq!(HandlerReturn::<CalcAddV1_0_0>::into_emissions(one)?.len(), 1);
/// let none: Result<Vec<CalcAddV1_0_0Emits>, std::io::Error> = Ok(vec![]);
/// assert!(HandlerReturn::<CalcAddV1_0_0>::into_emissions(none)?.is_empty());
/// let routed: Result<_, HandlerError> = Ok(Emission::new(CalcAddV1_0_0Emits::Success(Out { r: 2.0 })).to("com.audit"));
/// assert_eq!(HandlerReturn::<CalcAddV1_0_0>::into_emissions(routed)?[0].options().to.as_deref(), Some("com.audit"));
/// # Ok::<(), HandlerError>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not what a handler of `{V}` returns",
    label = "not an output of `{V}`",
    note = "return `Result<T, HandlerError>` where `T` is `{V}`'s emits enum (one event), an `Emission` of it, or a `Vec` of either (e.g. `HandlerOutput<{V}>`)"
)]
pub trait HandlerReturn<V: ContractVersion> {
    /// The emissions, or the error.
    ///
    /// # Errors
    /// The handler's own error, converted.
    fn into_emissions(self) -> HandlerOutput<V>;
}

impl<V, T, E> HandlerReturn<V> for Result<T, E>
where
    V: ContractVersion,
    T: IntoEmissions<V::Emits>,
    E: Into<HandlerError>,
{
    fn into_emissions(self) -> HandlerOutput<V> {
        match self {
            Ok(t) => Ok(t.into_emissions()),
            Err(e) => Err(e.into()),
        }
    }
}

/// One or several events of the emits enum `E`: `E`, [`Emission<E>`], `Vec<E>`,
/// `Vec<Emission<E>>` (see [`HandlerReturn`]).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not one or several events of `{E}`",
    label = "not events of `{E}`",
    note = "a handler of a version returns `Result<T, HandlerError>` where `T` is that version's emits enum (`{E}`), an `Emission` of it, or a `Vec` of either"
)]
pub trait IntoEmissions<E> {
    /// The emissions.
    fn into_emissions(self) -> Vec<Emission<E>>;
}

impl<E: Emits> IntoEmissions<E> for E {
    fn into_emissions(self) -> Vec<Emission<E>> {
        vec![Emission::new(self)]
    }
}

impl<E: Emits> IntoEmissions<E> for Emission<E> {
    fn into_emissions(self) -> Vec<Emission<E>> {
        vec![self]
    }
}

impl<E: Emits> IntoEmissions<E> for Vec<Emission<E>> {
    fn into_emissions(self) -> Vec<Emission<E>> {
        self
    }
}

impl<E: Emits> IntoEmissions<E> for Vec<E> {
    fn into_emissions(self) -> Vec<Emission<E>> {
        self.into_iter().map(Emission::new).collect()
    }
}

/// The future a generated handler method returns (named here so the generated trait stays
/// short).
pub trait HandlerFuture<V: ContractVersion>: Future<Output = HandlerOutput<V>> + Send {}

impl<V: ContractVersion, F: Future<Output = HandlerOutput<V>> + Send> HandlerFuture<V> for F {}

/// Runs one typed version for the handler runtime (what the generated
/// [`ContractDispatch`](crate::handler::ContractDispatch) impls call): reads the payload
/// without copying the event, calls the method, serialises its emissions. A violation returned
/// by the method stays findable (the boxed error is wrapped, not re-boxed).
#[doc(hidden)]
pub fn dispatch_version<'a, V, F, Fut>(
    input: HandlerInput<'a>,
    method: F,
) -> BoxFuture<'a, HandlerResult>
where
    V: ContractVersion,
    F: FnOnce(Input<'a, V>) -> Fut + Send + 'a,
    Fut: Future<Output = HandlerOutput<V>> + Send + 'a,
{
    Box::pin(async move {
        let data = input.data_as::<V::Accepts>()?;
        let emissions = method(Input::with_context(data, input)).await?;
        let mut outputs = Vec::with_capacity(emissions.len());
        for emission in emissions {
            outputs.push(emission.into_raw()?);
        }
        Ok(outputs)
    })
}

/// The error of a generated dispatch that meets a version it does not know (the runtime
/// resolves versions from the same contract, so this is a configuration bug).
#[doc(hidden)]
pub fn unknown_version<'a, C: TypedContract>(
    input: HandlerInput<'a>,
) -> BoxFuture<'a, HandlerResult> {
    let violation = Violation::config(format!(
        "No implementation of contract {} for version {}",
        C::URI,
        input.contract.version()
    ));
    Box::pin(std::future::ready(Err(violation.into())))
}

use crate::contract::PARENT_SUBJECT_DESCRIPTION;

/// The payload of an orchestrator's init event: the framework's `parentSubject$$` next to the
/// user's init payload (flattened, so the JSON is one object).
///
/// `parentSubject$$` is required (a missing key is an error, as in the reference) and is either
/// `null` (a root orchestration) or a non-empty string (the parent's subject).
///
/// ```
/// use arvo_runtime::typed::OrchestratorInit;
/// #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
/// pub struct Start { a: f64 }
///
/// let init: OrchestratorInit<Start> =
///     serde_json::from_str(r#"{"parentSubject$$": null, "a": 1}"#).unwrap();
/// assert_eq!(init.parent_subject, None);
/// assert_eq!(serde_json::to_string(&init).unwrap(), r#"{"parentSubject$$":null,"a":1.0}"#);
/// assert!(serde_json::from_str::<OrchestratorInit<Start>>(r#"{"a": 1}"#).is_err());
/// assert!(serde_json::from_str::<OrchestratorInit<Start>>(r#"{"parentSubject$$": "", "a": 1}"#).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrchestratorInit<T> {
    /// The parent orchestration's subject, `None` for a root orchestration.
    #[serde(rename = "parentSubject$$", deserialize_with = "parent_subject")]
    pub parent_subject: Option<String>,
    /// The user's init payload.
    #[serde(flatten)]
    pub data: T,
}

impl<T> OrchestratorInit<T> {
    /// A root orchestration's init payload (`parentSubject$$: null`).
    pub fn root(data: T) -> Self {
        OrchestratorInit {
            parent_subject: None,
            data,
        }
    }
}

/// Required `string (min 1) | null`; a custom function makes serde treat a missing key as an
/// error instead of `None`.
fn parent_subject<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let value = Option::<String>::deserialize(d)?;
    if value.as_deref() == Some("") {
        return Err(serde::de::Error::custom(
            "The parent subject must not be an empty string",
        ));
    }
    Ok(value)
}

impl<T: JsonSchema> JsonSchema for OrchestratorInit<T> {
    fn schema_name() -> Cow<'static, str> {
        format!("OrchestratorInit_{}", T::schema_name()).into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut schema = T::json_schema(generator);
        let object = schema.ensure_object();
        let parent = serde_json::json!({
            "anyOf": [{"type": "string", "minLength": 1}, {"type": "null"}],
            "description": PARENT_SUBJECT_DESCRIPTION,
        });
        match object
            .get_mut("properties")
            .and_then(serde_json::Value::as_object_mut)
        {
            Some(props) => {
                props.shift_insert(0, "parentSubject$$".to_owned(), parent);
            }
            None => {
                let mut props = serde_json::Map::new();
                props.insert("parentSubject$$".to_owned(), parent);
                object.insert("properties".to_owned(), props.into());
            }
        }
        let key = serde_json::Value::from("parentSubject$$");
        match object
            .get_mut("required")
            .and_then(serde_json::Value::as_array_mut)
        {
            Some(required) => required.insert(0, key),
            None => {
                object.insert("required".to_owned(), vec![key].into());
            }
        }
        schema
    }
}
