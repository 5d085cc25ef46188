//! Playing a service in a scenario: the answer a service version would send to a call, built
//! from a typed emission ([`service_answer`], [`Scenario::answer`](super::Scenario::answer)) or
//! a failure ([`service_error`], [`Scenario::answer_error`](super::Scenario::answer_error)).

use crate::contract::PARENT_SUBJECT_FIELD;
use crate::event::ArvoEvent;
use crate::factory::{ArvoEventFactory, EventInput, FactoryError};
use crate::typed::{ContractVersion, Emits, TypedContract};
use crate::violation::ArvoErrorPayload;

/// Why an answer could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    /// The previous step emitted no call of the service.
    #[error(
        "no call of '{service}' among the previous step's {} event(s) (types: [{}])",
        .found.len(),
        .found.join(", ")
    )]
    NoCall {
        /// The event type of the service's calls.
        service: &'static str,
        /// The types the previous step emitted.
        found: Vec<String>,
    },
    /// The emission could not be serialised.
    #[error("the answer of '{service}' could not be serialised: {source}")]
    Data {
        /// The event type of the service's calls.
        service: &'static str,
        /// serde_json's error.
        source: serde_json::Error,
    },
    /// The factory refused the answer (its data breaks the contract, or an attribute is
    /// invalid).
    #[error("the answer of '{service}' is invalid: {source}")]
    Factory {
        /// The event type of the service's calls.
        service: &'static str,
        /// The factory's error.
        source: FactoryError,
    },
}

/// The first call of service version `V` (an event of `V`'s accepted type) among `events`.
///
/// # Errors
/// [`AnswerError::NoCall`] naming the types found.
pub fn find_call<V: ContractVersion>(events: &[ArvoEvent]) -> Result<&ArvoEvent, AnswerError> {
    let service = <V::Contract as TypedContract>::TYPE;
    events
        .iter()
        .find(|e| e.event_type() == service)
        .ok_or_else(|| AnswerError::NoCall {
            service,
            found: events.iter().map(|e| e.event_type().to_owned()).collect(),
        })
}

/// The envelope of an answer to `call`, as the runtime fills it in for the service: from the
/// service (`source` = its type), to the caller (`redirectto`, else `source`), on the caller's
/// subject (for a child orchestration's call, the parent's subject it carries in
/// `parentSubject$$`), `parentid` = the call's id, same `accesscontrol`.
fn envelope(call: &ArvoEvent, service: &str, data: serde_json::Value) -> EventInput {
    let subject = call
        .data()
        .get(PARENT_SUBJECT_FIELD)
        .and_then(|s| s.as_str())
        .unwrap_or(call.subject());
    EventInput {
        subject: Some(subject.to_owned()),
        to: Some(call.redirectto().unwrap_or(call.source()).to_owned()),
        parentid: Some(call.id().to_owned()),
        accesscontrol: call.accesscontrol().map(str::to_owned),
        ..EventInput::new(service, data)
    }
}

/// The event service version `V` sends back for `call` when it emits `emission`: the type and
/// data of the emission, the envelope a handler of `V` gives it (see the module docs).
///
/// ```
/// use arvo_runtime::prelude::*;
/// use arvo_runtime::testing::service_answer;
/// # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)] pub struct In { pub a: f64 }
/// # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)] pub struct Out { pub r: f64 }
/// #[arvo_contract(uri = "#/calc/double", type = "calc.double", simple,
///     version("1.0.0", accepts = In, emits = Out))]
/// pub struct Double;
///
/// let call = ArvoEventFactory::new(DoubleV1_0_0::versioned())
///     .accepts(EventInput::new("com.test.flow", serde_json::json!({"a": 2})).with_subject("s-1"))?;
/// let answer = service_answer::<DoubleV1_0_0>(&call, &DoubleV1_0_0Emits::Success(Out { r: 4.0 }))?;
/// assert_eq!(answer.event_type(), "evt.calc.double.success");
/// assert_eq!((answer.source(), answer.to()), ("com.calc.double", Some("com.test.flow")));
/// assert_eq!(answer.parentid(), Some(call.id()));
/// assert_eq!(answer.data()["r"], serde_json::json!(4.0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`AnswerError::Data`], [`AnswerError::Factory`].
pub fn service_answer<V: ContractVersion>(
    call: &ArvoEvent,
    emission: &V::Emits,
) -> Result<ArvoEvent, AnswerError> {
    let service = <V::Contract as TypedContract>::TYPE;
    let data = emission
        .to_data()
        .map_err(|source| AnswerError::Data { service, source })?;
    let mut input = envelope(call, service, data);
    input.event_type = Some(emission.event_type().to_owned());
    ArvoEventFactory::new(V::versioned())
        .emits(input)
        .map_err(|source| AnswerError::Factory { service, source })
}

/// The system error service version `V` sends back for `call` when it fails with `message`
/// (`sys.<type>.error`, `errorName` `Error`), with the envelope of [`service_answer`].
///
/// # Errors
/// [`AnswerError::Factory`].
pub fn service_error<V: ContractVersion>(
    call: &ArvoEvent,
    message: &str,
) -> Result<ArvoEvent, AnswerError> {
    let service = <V::Contract as TypedContract>::TYPE;
    let payload = ArvoErrorPayload::new("Error", message, None);
    ArvoEventFactory::new(V::versioned())
        .system_error_payload(&payload, envelope(call, service, serde_json::Value::Null))
        .map_err(|source| AnswerError::Factory { service, source })
}
