//! Input validation of orchestrations (`validateInputEvent`, spec §6.4), shared by
//! orchestrators and resumables.

use std::borrow::Cow;

use super::CoreError;
use crate::contract::{VersionedContract, dataschema};
use crate::event::ArvoEvent;
use crate::handler::Violation;
use crate::issue::quote_prefix;

/// Which contract an input event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InputKind {
    /// The self contract's init event.
    Init,
    /// A service's emitted event or system error.
    Service,
}

/// `validateInputEvent` (§6.4): the event's dataschema must parse, name the contract its type
/// belongs to (the self contract for `source`, else the first service emitting the type or
/// its system error) at that contract's version (or the wildcard), and its data must match the
/// schema. `self_contract` resolves the self contract from the dataschema's version (a
/// resumable holds the unversioned contract; a machine one version); `holder` ends the
/// unresolved-contract message (`machine`, `resumable`).
pub(crate) fn validate_input<'c>(
    event: &ArvoEvent,
    source: &str,
    self_contract: impl FnOnce(&str) -> Result<Cow<'c, VersionedContract>, CoreError>,
    services: &'c [VersionedContract],
    holder: &str,
) -> Result<InputKind, CoreError> {
    let invalid = |msg: String| {
        CoreError::Violation(Violation::contract(format!(
            "Input validation failed - Event data does not meet contract requirements: {msg}"
        )))
    };
    let ds = quote_prefix(event.dataschema().unwrap_or_default());
    let Some(parsed) = event.dataschema().and_then(|d| dataschema::parse(d).ok()) else {
        return Err(invalid(format!(
            "Event dataschema resolution failed: Unable to parse dataschema='{}' for event(id='{}', type='{}'). This makes the event opaque and does not allow contract resolution",
            quote_prefix(event.dataschema().unwrap_or("null")),
            quote_prefix(event.id()),
            quote_prefix(event.event_type())
        )));
    };
    let (kind, contract, label) = if event.event_type() == source {
        (InputKind::Init, self_contract(parsed.version)?, "self")
    } else {
        let found = services.iter().find(|c| {
            c.system_error().event_type == event.event_type()
                || c.emit_list()
                    .iter()
                    .any(|e| e.event_type == event.event_type())
        });
        match found {
            Some(c) => (InputKind::Service, Cow::Borrowed(c), "service"),
            None => {
                return Err(CoreError::Violation(Violation::config(format!(
                    "Contract validation failed - Event does not match any registered contract schemas in the {holder}"
                ))));
            }
        }
    };
    if parsed.uri != contract.uri() {
        return Err(invalid(format!(
            "Contract URI mismatch: {label} Contract(uri='{}', type='{}') does not match Event(dataschema='{ds}', type='{}')",
            contract.uri(),
            contract.accepts().event_type,
            quote_prefix(event.event_type())
        )));
    }
    if parsed.version != arvo_rules::WILDCARD_VERSION
        && parsed.version != contract.version().as_str()
    {
        return Err(invalid(format!(
            "Contract version mismatch: {label} Contract(version='{}', type='{}', uri={}) does not match Event(dataschema='{ds}', type='{}')",
            contract.version(),
            contract.accepts().event_type,
            contract.uri(),
            quote_prefix(event.event_type())
        )));
    }
    let schema = match kind {
        InputKind::Init => &contract.accepts().schema,
        InputKind::Service => match contract.emit(event.event_type()) {
            Some(e) => &e.schema,
            None => &contract.system_error().schema,
        },
    };
    // The event keeps its data as a `Value` (an object): validated in place, not copied.
    schema
        .validate(event.data_value())
        .map_err(|issues| invalid(issues.to_string()))?;
    Ok(kind)
}
