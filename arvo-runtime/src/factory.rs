//! Event factories (spec §5): build the events of one contract version, validated against its
//! schemas, with generated orchestration subjects.
//!
//! * [`ArvoEventFactory`] (`createArvoEventFactory`): [`accepts`](ArvoEventFactory::accepts),
//!   [`emits`](ArvoEventFactory::emits), [`system_error`](ArvoEventFactory::system_error).
//! * [`ArvoOrchestratorEventFactory`] (`createArvoOrchestratorEventFactory`): adds
//!   [`init`](ArvoOrchestratorEventFactory::init) and
//!   [`complete`](ArvoOrchestratorEventFactory::complete); it can only be made from an
//!   orchestrator contract, and derefs to the plain factory for the inherited methods.
//!
//! Every method validates `data` with the contract schema and stores the **parsed** data
//! (defaults applied, unknown keys stripped); when no `subject` is given it generates a fresh
//! orchestration subject whose initiator is the event `source`; the fields given by the caller
//! go through the event builder (`createArvoEvent`: `to` defaults to the type, URI fields are
//! `encodeURI`d, every field validated).
//!
//! ```
//! use arvo_runtime::contract::{ArvoContract, Schema, VersionSpec};
//! use arvo_runtime::factory::{ArvoEventFactory, EventInput};
//! use serde_json::json;
//! let s = |v| Schema::new(v).unwrap();
//! let contract = ArvoContract::builder("#/calc/add", "com.calc.add")
//!     .version("1.0.0", VersionSpec::new(s(json!({"type":"object","properties":{"a":{"type":"number"}},"required":["a"]})))
//!         .emit("evt.calc.add.success", s(json!({"type":"object","properties":{"r":{"type":"number"}},"required":["r"]}))))
//!     .build()?;
//! let factory = ArvoEventFactory::new(contract.version("latest")?);
//! let event = factory.accepts(EventInput::new("com.calc.client", json!({"a": 1})))?;
//! assert_eq!(event.event_type(), "com.calc.add");
//! assert_eq!(event.dataschema(), Some("#/calc/add/1.0.0"));
//! // No subject given: a new orchestration subject, initiated by the source.
//! let subject = arvo_runtime::subject::parse(event.subject())?;
//! assert_eq!(subject.execution.initiator, "com.calc.client");
//! let err = factory.emits(EventInput::new("com.calc.client", json!({})).with_type("evt.unknown.type")).unwrap_err();
//! assert_eq!(err.to_string(), "Emit Event data validation failed: No contract available for evt.unknown.type");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Differences from the reference
//! * No `EventFactory.<method><type>` spans are opened (the handler spans carry the emitted
//!   events' attributes); `traceparent`/`tracestate` default to the ambient OpenTelemetry
//!   context's, as in the reference.
//! * `system_error` takes a Rust error (or a ready [`ArvoErrorPayload`]); `errorStack` is the
//!   error's cause chain (see [`ArvoErrorPayload::from_error`]).

use crate::contract::{ContractKind, EventSchema, PARENT_SUBJECT_FIELD, VersionedContract};
use crate::event::{ArvoEvent, EventError, EventIdInput, Extensions};
use crate::issue::Issues;
use crate::otel::TraceHeaders;
use crate::subject::{self, Meta, NewSubject, SubjectError};
use crate::violation::ArvoErrorPayload;
use serde_json::Value;
use std::error::Error;
use std::ops::Deref;

/// Why a factory refused to build an event. Messages are the reference's.
#[derive(Debug, thiserror::Error)]
pub enum FactoryError {
    /// `accepts`: the data does not match the accepts schema.
    #[error("Accept Event data validation failed: {0}")]
    AcceptData(Issues),
    /// `emits` / `complete`: the data does not match the emitted type's schema.
    #[error("Emit Event data validation failed: {0}")]
    EmitData(Issues),
    /// `emits`: the version does not emit this type (or no type was given).
    #[error("Emit Event data validation failed: No contract available for {0}")]
    UnknownEmitType(String),
    /// `complete`: the version has no schema for the completion type.
    #[error("Emit Event data validation failed: No schema available for {0}")]
    MissingCompleteSchema(String),
    /// `init`: the data does not match the (merged) init schema.
    #[error("Init Event data validation failed: {0}")]
    InitData(Issues),
    /// The subject could not be generated (e.g. a `source` that is not an event type), or a
    /// `parentSubject$$` could not be parsed.
    #[error(transparent)]
    Subject(#[from] SubjectError),
    /// The event itself is invalid (a field refused by the event layer).
    #[error(transparent)]
    Event(#[from] EventError),
    /// [`ArvoOrchestratorEventFactory::new`] was given a contract that is not an orchestrator
    /// contract.
    #[error("This factory can only be used for ArvoOrchestratorContract")]
    NotOrchestrator,
}

/// The caller's fields of an event made by a factory (the reference's `e` argument). The
/// factory fixes `type` (except for `emits`), `dataschema`, `datacontenttype` and `data`.
///
/// ```
/// use arvo_runtime::factory::EventInput;
/// let e = EventInput::new("com.test.test", serde_json::json!({"a": 1})).with_subject("s-1");
/// assert_eq!(e.subject.as_deref(), Some("s-1"));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventInput {
    /// `id` (default: a fresh UUID v4).
    pub id: Option<EventIdInput>,
    /// `time` (default: now).
    pub time: Option<String>,
    /// `source` (required).
    pub source: String,
    /// `subject`; `None` generates an orchestration subject.
    pub subject: Option<String>,
    /// The event type, required by [`ArvoEventFactory::emits`], ignored elsewhere.
    pub event_type: Option<String>,
    /// The payload (validated and parsed with the schema).
    pub data: Value,
    /// `to` (default: the event type).
    pub to: Option<String>,
    /// `accesscontrol`.
    pub accesscontrol: Option<String>,
    /// `redirectto`.
    pub redirectto: Option<String>,
    /// `executionunits`.
    pub executionunits: Option<f64>,
    /// `parentid`.
    pub parentid: Option<String>,
    /// `domain` of the event (and of a generated subject).
    pub domain: Option<String>,
    /// `traceparent` (default: the current OpenTelemetry context's).
    pub traceparent: Option<String>,
    /// `tracestate` (default: the current OpenTelemetry context's).
    pub tracestate: Option<String>,
    /// Custom extensions.
    pub extensions: Extensions,
}

impl EventInput {
    /// An input with `source` and `data`, everything else unset.
    pub fn new(source: impl Into<String>, data: Value) -> Self {
        EventInput {
            source: source.into(),
            data,
            ..Default::default()
        }
    }

    /// Sets the event type (for [`ArvoEventFactory::emits`]).
    #[must_use]
    pub fn with_type(mut self, event_type: impl Into<String>) -> Self {
        self.event_type = Some(event_type.into());
        self
    }

    /// Sets the subject.
    #[must_use]
    pub fn with_subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Sets the domain.
    #[must_use]
    pub fn with_domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }
}

/// Builds the events of one contract version (`createArvoEventFactory`). Cheap to clone.
#[derive(Debug, Clone)]
pub struct ArvoEventFactory {
    contract: VersionedContract,
}

impl ArvoEventFactory {
    /// A factory for `contract`.
    pub fn new(contract: VersionedContract) -> Self {
        ArvoEventFactory { contract }
    }

    /// The contract version this factory builds events for.
    pub fn contract(&self) -> &VersionedContract {
        &self.contract
    }

    /// The accepted event: type = the contract type, data validated with the accepts schema.
    ///
    /// # Errors
    /// [`FactoryError::AcceptData`], [`FactoryError::Subject`], [`FactoryError::Event`].
    pub fn accepts(&self, mut e: EventInput) -> Result<ArvoEvent, FactoryError> {
        let accepts = self.contract.accepts();
        let data = accepts
            .schema
            .parse_owned(std::mem::take(&mut e.data))
            .map_err(FactoryError::AcceptData)?;
        let t = accepts.event_type.clone();
        let ds = self.contract.dataschema().to_owned();
        self.build(e, t, ds, data, &accepts.event_type)
    }

    /// An emitted event of type `e.event_type`, validated with that type's schema.
    ///
    /// # Errors
    /// [`FactoryError::UnknownEmitType`], [`FactoryError::EmitData`], [`FactoryError::Subject`],
    /// [`FactoryError::Event`].
    pub fn emits(&self, mut e: EventInput) -> Result<ArvoEvent, FactoryError> {
        let event_type = e.event_type.take().unwrap_or_default();
        let Some(EventSchema { schema, .. }) = self.contract.emit(&event_type) else {
            return Err(FactoryError::UnknownEmitType(event_type));
        };
        let data = schema
            .parse_owned(std::mem::take(&mut e.data))
            .map_err(FactoryError::EmitData)?;
        let ds = self.contract.dataschema().to_owned();
        // The subject is generated before the type moves into the event.
        let subject = self.generated_subject(&e, &event_type)?;
        self.build_with_subject(e, event_type, ds, data, subject)
    }

    /// A system error event (`sys.<type>.error`, dataschema `<uri>/0.0.0`) whose data is
    /// [`ArvoErrorPayload::from_error`] of `error`; `e.data` is ignored.
    ///
    /// # Errors
    /// [`FactoryError::Subject`], [`FactoryError::Event`].
    pub fn system_error(
        &self,
        error: &(dyn Error + 'static),
        e: EventInput,
    ) -> Result<ArvoEvent, FactoryError> {
        self.system_error_payload(&ArvoErrorPayload::from_error(error), e)
    }

    /// [`system_error`](Self::system_error) with a ready payload.
    ///
    /// # Errors
    /// [`FactoryError::Subject`], [`FactoryError::Event`].
    pub fn system_error_payload(
        &self,
        payload: &ArvoErrorPayload,
        e: EventInput,
    ) -> Result<ArvoEvent, FactoryError> {
        let sys = self.contract.system_error();
        self.build(
            e,
            sys.event_type.clone(),
            sys.dataschema.clone(),
            payload.to_value(),
            &sys.event_type,
        )
    }

    fn generated_subject(
        &self,
        e: &EventInput,
        orchestrator: &str,
    ) -> Result<Option<String>, FactoryError> {
        if e.subject.is_some() {
            return Ok(None);
        }
        let mut meta = Meta::new();
        if let Some(r) = e.redirectto.as_deref().filter(|r| !r.is_empty()) {
            meta.insert("redirectto".to_owned(), r.to_owned());
        }
        let s = subject::new(NewSubject {
            orchestrator,
            version: Some(self.contract.version().as_str()),
            initiator: &e.source,
            domain: e.domain.as_deref(),
            meta,
        })?;
        Ok(Some(s.into_string()))
    }

    fn build(
        &self,
        e: EventInput,
        event_type: String,
        dataschema: String,
        data: Value,
        orchestrator: &str,
    ) -> Result<ArvoEvent, FactoryError> {
        let subject = self.generated_subject(&e, orchestrator)?;
        self.build_with_subject(e, event_type, dataschema, data, subject)
    }

    /// `createArvoEvent` with the caller's fields first, then the forced ones.
    pub(crate) fn build_with_subject(
        &self,
        e: EventInput,
        event_type: String,
        dataschema: String,
        data: Value,
        generated_subject: Option<String>,
    ) -> Result<ArvoEvent, FactoryError> {
        let (traceparent, tracestate) = if e.traceparent.is_some() || e.tracestate.is_some() {
            (e.traceparent, e.tracestate)
        } else {
            let h = TraceHeaders::current();
            (h.traceparent, h.tracestate)
        };
        let mut b = ArvoEvent::builder()
            .source(e.source)
            .event_type(event_type)
            .dataschema(dataschema)
            .data_json(data)
            .to(e.to)
            .accesscontrol(e.accesscontrol)
            .redirectto(e.redirectto)
            .executionunits(e.executionunits)
            .parentid(e.parentid)
            .domain(e.domain)
            .traceparent(traceparent)
            .tracestate(tracestate);
        if let Some(s) = e.subject.or(generated_subject) {
            b = b.subject(s);
        }
        if let Some(id) = e.id {
            b = b.id(id);
        }
        if let Some(t) = e.time {
            b = b.time(t);
        }
        for (k, v) in e.extensions.iter() {
            b = b.extension(k, v.clone());
        }
        Ok(b.build()?)
    }
}

/// The factory of an orchestrator contract version (`createArvoOrchestratorEventFactory`):
/// [`init`](Self::init), [`complete`](Self::complete), and every method of
/// [`ArvoEventFactory`] through `Deref`.
///
/// ```
/// use arvo_runtime::contract::{ArvoContract, Schema};
/// use arvo_runtime::factory::{ArvoOrchestratorEventFactory, EventInput, FactoryError};
/// use serde_json::json;
/// let s = |v| Schema::new(v).unwrap();
/// let orc = ArvoContract::orchestrator("test://example", "test.contract")
///     .version("1.0.0", s(json!({"type":"object","properties":{"foo":{"type":"string"}},"required":["foo"]})),
///                       s(json!({"type":"object","properties":{"bar":{"type":"number"}},"required":["bar"]})))
///     .build()?;
/// let f = ArvoOrchestratorEventFactory::new(orc.version("latest")?)?;
/// let init = f.init(EventInput::new("com.test.test", json!({"parentSubject$$": null, "foo": "x"})))?;
/// assert_eq!(init.event_type(), "arvo.orc.test.contract");
/// // A plain contract is refused.
/// let plain = ArvoContract::builder("#/p", "com.p.q").version("1.0.0",
///     arvo_runtime::contract::VersionSpec::new(s(json!({})))).build()?;
/// let err = ArvoOrchestratorEventFactory::new(plain.latest()).unwrap_err();
/// assert_eq!(err.to_string(), "This factory can only be used for ArvoOrchestratorContract");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ArvoOrchestratorEventFactory {
    inner: ArvoEventFactory,
    complete_type: String,
}

impl ArvoOrchestratorEventFactory {
    /// A factory for an orchestrator contract version.
    ///
    /// # Errors
    /// [`FactoryError::NotOrchestrator`] when `contract` is not an orchestrator contract.
    pub fn new(contract: VersionedContract) -> Result<Self, FactoryError> {
        let ContractKind::Orchestrator { complete_type, .. } = contract.kind() else {
            return Err(FactoryError::NotOrchestrator);
        };
        let complete_type = complete_type.clone();
        Ok(ArvoOrchestratorEventFactory {
            inner: ArvoEventFactory::new(contract),
            complete_type,
        })
    }

    /// The init event (`arvo.orc.<name>`), validated with the merged init schema. Without a
    /// subject: a new root subject when `parentSubject$$` is null, else a child of the parent
    /// subject (domain `e.domain` or the parent's; meta `redirectto` = `e.redirectto` or the
    /// parent's initiator).
    ///
    /// # Errors
    /// [`FactoryError::InitData`], [`FactoryError::Subject`] (also for an unparsable
    /// `parentSubject$$`), [`FactoryError::Event`].
    pub fn init(&self, mut e: EventInput) -> Result<ArvoEvent, FactoryError> {
        let c = &self.inner.contract;
        let accepts = c.accepts();
        let data = accepts
            .schema
            .parse_owned(std::mem::take(&mut e.data))
            .map_err(FactoryError::InitData)?;
        let subject = match (
            &e.subject,
            data.get(PARENT_SUBJECT_FIELD).and_then(Value::as_str),
        ) {
            (Some(_), _) => None,
            (None, None) => self.inner.generated_subject(&e, &accepts.event_type)?,
            (None, Some(parent)) => {
                let parent = subject::parse(parent)?;
                let mut meta = Meta::new();
                let redirect = e
                    .redirectto
                    .as_deref()
                    .filter(|r| !r.is_empty())
                    .unwrap_or(&parent.execution.initiator);
                if !redirect.is_empty() {
                    meta.insert("redirectto".to_owned(), redirect.to_owned());
                }
                let child = subject::child_of(
                    &parent,
                    &accepts.event_type,
                    Some(c.version().as_str()),
                    e.domain.as_deref(),
                    meta,
                )?;
                Some(child.into_string())
            }
        };
        let t = accepts.event_type.clone();
        let ds = c.dataschema().to_owned();
        self.inner.build_with_subject(e, t, ds, data, subject)
    }

    /// The completion event (`arvo.orc.<name>.done`), validated with the complete schema.
    ///
    /// # Errors
    /// [`FactoryError::MissingCompleteSchema`], [`FactoryError::EmitData`],
    /// [`FactoryError::Subject`], [`FactoryError::Event`].
    pub fn complete(&self, mut e: EventInput) -> Result<ArvoEvent, FactoryError> {
        let c = &self.inner.contract;
        let Some(EventSchema { schema, .. }) = c.emit(&self.complete_type) else {
            return Err(FactoryError::MissingCompleteSchema(
                self.complete_type.clone(),
            ));
        };
        let data = schema
            .parse_owned(std::mem::take(&mut e.data))
            .map_err(FactoryError::EmitData)?;
        let subject = self.inner.generated_subject(&e, &self.complete_type)?;
        let ds = c.dataschema().to_owned();
        self.inner
            .build_with_subject(e, self.complete_type.clone(), ds, data, subject)
    }
}

impl Deref for ArvoOrchestratorEventFactory {
    type Target = ArvoEventFactory;
    fn deref(&self) -> &ArvoEventFactory {
        &self.inner
    }
}
