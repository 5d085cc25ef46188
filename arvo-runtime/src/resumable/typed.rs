//! The typed resumable API: typed init input, service events, context and completion.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::{Collected, Completion, Context, RawOutcome, ResumableResult, ResumableStep};
use crate::contract::VersionedContract;
use crate::event::{ArvoEvent, EventIdInput};
use crate::handler::{DomainSpec, HandlerError, RawOutput, Violation};
use crate::typed::{ContractVersion, Emits, OrchestratorInit, TypedContract};
use crate::violation::ArvoErrorPayload;

/// The typed events a resumable receives from its services: one value per emitted event type
/// of every service, plus their system errors. [`ServiceEvent<V>`] covers one service;
/// `#[arvo_resumable]`-style enums (or hand-written ones) cover several.
pub trait ServiceEvents: Sized + Send + 'static {
    /// What a step receives: the init payload `I` or one of these answers. A hand-written
    /// implementation writes `type Event<I: Send> = StepEvent<I, Self>;`;
    /// `#[arvo_resumable]` generates a flat enum (`<Name>Event<I>`: `Init(I)`, then per
    /// service `Key(<what it emits>)` and `KeyError(ArvoErrorPayload)`).
    type Event<I: Send>: From<StepEvent<I, Self>> + Send;

    /// The service contracts with their keys.
    fn contracts() -> Vec<(String, VersionedContract)>;

    /// The typed value of a service event (`Ok(None)`: a type of none of the services).
    ///
    /// # Errors
    /// When the data does not fit the type (a `Contract` violation inside).
    fn from_event(event: &ArvoEvent) -> Result<Option<Self>, HandlerError>;
}

/// Marks `Self` (a contract version) as a service of the resumable whose service events are
/// `S`: [`Step::call`] and [`Step::start_child`] take only such versions, so calling a service
/// the resumable did not declare does not compile (at the call) instead of failing at run
/// time. `#[arvo_resumable]` implements it for every `services(..)` entry; a hand-written
/// [`ServiceEvents`] enum implements it for each of its versions.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a service of this resumable",
    label = "not declared in its `services(..)`",
    note = "add it to `#[arvo_resumable(.., services(key = {Self}))]` (its answers then arrive as a variant of the services enum), or call a declared version"
)]
pub trait DeclaredService<S> {}

impl<V: ContractVersion> DeclaredService<ServiceEvent<V>> for V {}

/// What woke a resumable up: its init event's payload, or an answer of one of its services.
/// The [`ServiceEvents::Event`] of hand-written service types; `#[arvo_resumable]` generates a
/// flatter enum.
///
/// ```
/// use arvo_runtime::resumable::StepEvent;
/// let e: StepEvent<u8, ()> = StepEvent::Init(7);
/// assert!(matches!(e, StepEvent::Init(7)));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum StepEvent<I, S> {
    /// The init event's payload: the workflow starts.
    Init(I),
    /// A service's answer (an emitted event or its system error).
    Service(S),
}

/// The events of one service version `V`: what it emits, or its system error.
///
/// ```
/// use arvo_runtime::{arvo_contract, resumable::{ServiceEvent, ServiceEvents}};
/// # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)] pub struct In { a: f64 }
/// # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)] pub struct Out { r: f64 }
/// #[arvo_contract(uri = "#/calc/add", type = "calc.add", simple, version("1.0.0", accepts = In, emits = Out))]
/// pub struct CalcAdd;
/// let contracts = ServiceEvent::<CalcAddV1_0_0>::contracts();
/// assert_eq!(contracts[0].0, "com.calc.add");
/// ```
pub enum ServiceEvent<V: ContractVersion> {
    /// One of the service's emitted events.
    Emitted(V::Emits),
    /// The service's `sys.<type>.error`.
    SystemError(ArvoErrorPayload),
}

impl<V: ContractVersion> std::fmt::Debug for ServiceEvent<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Emitted(e) => f.debug_tuple("Emitted").field(&e.event_type()).finish(),
            Self::SystemError(p) => f.debug_tuple("SystemError").field(p).finish(),
        }
    }
}

fn data_error(event: &ArvoEvent, e: &serde_json::Error) -> HandlerError {
    HandlerError::from(Violation::contract(format!(
        "Event data of '{}' (id={}) does not fit its type: {}",
        crate::issue::quote_prefix(event.event_type()),
        crate::issue::quote_prefix(event.id()),
        crate::issue::quote_prefix(&e.to_string())
    )))
}

/// A service event none of the typed services covers (a service added to the builder beside
/// the handler's own): a `Config` violation, as an event of no registered contract.
fn unknown_answer(event: &ArvoEvent) -> HandlerError {
    HandlerError::from(Violation::config(format!(
        "Event type '{}' (id={}) is an answer of none of the typed services of this resumable",
        crate::issue::quote_prefix(event.event_type()),
        crate::issue::quote_prefix(event.id())
    )))
}

impl<V: ContractVersion> ServiceEvents for ServiceEvent<V> {
    type Event<I: Send> = StepEvent<I, Self>;

    fn contracts() -> Vec<(String, VersionedContract)> {
        vec![(
            <V::Contract as TypedContract>::TYPE.to_owned(),
            V::versioned(),
        )]
    }

    fn from_event(event: &ArvoEvent) -> Result<Option<Self>, HandlerError> {
        if event.event_type() == <V::Contract as TypedContract>::SYSTEM_ERROR_TYPE {
            return ArvoErrorPayload::deserialize(event.data())
                .map(|p| Some(Self::SystemError(p)))
                .map_err(|e| data_error(event, &e));
        }
        V::Emits::deserialize_data(event.event_type(), event.data())
            .map(|o| o.map(Self::Emitted))
            .map_err(|e| data_error(event, &e))
    }
}

/// The collected responses, typed (see [`Collected`]).
pub struct TypedCollected<'a, S> {
    raw: Collected<'a>,
    _s: PhantomData<fn() -> S>,
}

impl<'a, S: ServiceEvents> TypedCollected<'a, S> {
    /// The untyped view.
    pub fn raw(&self) -> Collected<'a> {
        self.raw
    }

    /// How many events of `event_type` were collected.
    pub fn count(&self, event_type: &str) -> usize {
        self.raw.count(event_type)
    }

    /// The collected events of `event_type`, typed, in emission order of their requests.
    ///
    /// # Errors
    /// When an event's data does not fit its type.
    pub fn of_type(&self, event_type: &str) -> Result<Vec<S>, HandlerError> {
        self.raw
            .of_type(event_type)
            .filter_map(|e| S::from_event(e).transpose())
            .collect()
    }

    /// Every collected event, typed.
    ///
    /// # Errors
    /// When an event's data does not fit its type.
    pub fn all(&self) -> Result<Vec<S>, HandlerError> {
        self.raw
            .iter()
            .filter_map(|e| S::from_event(e).transpose())
            .collect()
    }
}

/// What a typed handler receives for version `V` of its contract.
pub struct Step<'a, V: ContractVersion, C, S: ServiceEvents> {
    /// What woke the workflow up: the init payload or a declared service's answer (with
    /// `#[arvo_resumable]`, its generated `<Name>Event`: match it with
    /// `match &step.event { Init(init) => .., Greet(..) => .., GreetError(e) => .. }`).
    pub event: S::Event<V::Accepts>,
    /// The stored context (`None` until a step sets one).
    pub context: Option<&'a C>,
    /// The responses collected for the last emissions.
    pub collected: TypedCollected<'a, S>,
    /// Everything else (event, subject, record, trace context).
    pub raw: ResumableStep<'a, C>,
}

impl<V: ContractVersion, C, S: ServiceEvents> Step<'_, V, C, S> {
    /// A call of service version `W` with its typed input; `W` must be one of the resumable's
    /// services ([`DeclaredService`]).
    ///
    /// # Errors
    /// When `data` cannot be serialised.
    pub fn call<W: ContractVersion + DeclaredService<S>>(
        &self,
        data: &W::Accepts,
    ) -> Result<RawOutput, HandlerError> {
        Ok(RawOutput::new(
            <W::Contract as TypedContract>::TYPE,
            serde_json::to_value(data)?,
        ))
    }

    /// Starts the child orchestration `W` with this orchestration as parent
    /// (`parentSubject$$` = this subject): its completion comes back to this subject.
    ///
    /// # Errors
    /// When `data` cannot be serialised.
    pub fn start_child<W, T>(&self, data: T) -> Result<RawOutput, HandlerError>
    where
        W: ContractVersion<Accepts = OrchestratorInit<T>> + DeclaredService<S>,
        T: Serialize,
    {
        let init = OrchestratorInit {
            parent_subject: Some(self.raw.event.subject().to_owned()),
            data,
        };
        Ok(RawOutput::new(
            <W::Contract as TypedContract>::TYPE,
            serde_json::to_value(&init)?,
        ))
    }

    /// The subject of this orchestration.
    pub fn subject(&self) -> &str {
        self.raw.event.subject()
    }
}

/// What a typed handler returns for version `V`.
#[must_use]
pub struct Outcome<V: ContractVersion, C> {
    /// Replaces the stored context (`None`: keep it).
    pub context: Option<C>,
    /// Finishes the workflow with the version's completion.
    pub output: Option<V::Emits>,
    /// The completion's cost (`__executionunits`).
    pub executionunits: Option<f64>,
    /// The completion's id (`__id`).
    pub id: Option<EventIdInput>,
    /// The completion's domain specs (`__domain`).
    pub domain: Option<Vec<DomainSpec>>,
    /// Service events (emitted before the completion).
    pub services: Vec<RawOutput>,
}

impl<V: ContractVersion, C> Default for Outcome<V, C> {
    fn default() -> Self {
        Self {
            context: None,
            output: None,
            executionunits: None,
            id: None,
            domain: None,
            services: Vec::new(),
        }
    }
}

impl<V: ContractVersion, C> Outcome<V, C> {
    /// Nothing: keep waiting.
    pub fn wait() -> Self {
        Self::default()
    }

    /// Sets the new context.
    pub fn context(mut self, context: C) -> Self {
        self.context = Some(context);
        self
    }

    /// Finishes with `output`.
    pub fn complete(mut self, output: V::Emits) -> Self {
        self.output = Some(output);
        self
    }

    /// The completion's cost.
    pub fn completion_executionunits(mut self, units: f64) -> Self {
        self.executionunits = Some(units);
        self
    }

    /// Adds a service call.
    pub fn call(mut self, call: RawOutput) -> Self {
        // Room for this call only: a `RawOutput` is large, and a step usually makes one call
        // (the default growth would allocate four, over a kilobyte).
        self.services.reserve_exact(1);
        self.services.push(call);
        self
    }

    fn into_raw(self) -> ResumableResult<C> {
        let output = match self.output {
            Some(o) => Some(Completion {
                data: o.to_data()?,
                id: self.id,
                executionunits: self.executionunits,
                domain: self.domain,
            }),
            None => None,
        };
        Ok(RawOutcome {
            context: self.context,
            output,
            services: self.services,
        })
    }
}

/// A typed resumable handler of version `V` of its orchestrator contract.
///
/// Implement it once per version (`impl ResumableHandler<FlowV1_0_0> for MyFlow`) and register
/// each with [`ArvoResumableBuilder::handler`](super::ArvoResumableBuilder::handler); building
/// fails while a version has no handler.
pub trait ResumableHandler<V: ContractVersion>: Send + Sync + 'static {
    /// The context kept between steps (`state$$`).
    type Context: Context;
    /// The typed service events.
    type Services: ServiceEvents;

    /// One step.
    fn handle<'a>(
        &'a self,
        step: Step<'a, V, Self::Context, Self::Services>,
    ) -> impl Future<Output = Result<Outcome<V, Self::Context>, HandlerError>> + Send + 'a;
}

/// The untyped closure that runs a typed handler.
pub(super) fn adapter<V, H>(
    handler: Arc<H>,
) -> impl for<'a> Fn(ResumableStep<'a, H::Context>) -> BoxFuture<'a, ResumableResult<H::Context>>
+ Send
+ Sync
+ 'static
where
    V: ContractVersion,
    H: ResumableHandler<V>,
{
    move |raw: ResumableStep<'_, H::Context>| {
        let handler = Arc::clone(&handler);
        Box::pin(async move {
            let event = match (raw.input, raw.service) {
                (Some(e), _) => StepEvent::Init(
                    V::Accepts::deserialize(e.data()).map_err(|err| data_error(e, &err))?,
                ),
                (None, Some(e)) => match H::Services::from_event(e)? {
                    Some(answer) => StepEvent::Service(answer),
                    None => return Err(unknown_answer(e)),
                },
                // The core hands every step either its init event or a service's answer.
                (None, None) => return Err(unknown_answer(raw.event)),
            };
            let step = Step {
                event: event.into(),
                context: raw.context,
                collected: TypedCollected {
                    raw: raw.collected,
                    _s: PhantomData,
                },
                raw,
            };
            handler.handle(step).await?.into_raw()
        })
    }
}
