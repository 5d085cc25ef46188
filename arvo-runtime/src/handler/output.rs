//! What a handler function receives and returns.

use super::domain::DomainSpec;
use super::violation::Violation;
use crate::contract::VersionedContract;
use crate::event::{ArvoEvent, EventIdInput, ExtensionValue, Extensions};
use crate::otel::TraceHeaders;
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;

/// What a handler function receives (the reference's `ArvoEventHandlerFunctionInput`).
///
/// `event` is the incoming event, unmodified: its `data` is not the schema-parsed data (the
/// accepts schema's defaults are not applied), as in the reference.
#[derive(Debug, Clone, Copy)]
pub struct HandlerInput<'a> {
    /// The incoming event.
    pub event: &'a ArvoEvent,
    /// The contract version resolved for it.
    pub contract: &'a VersionedContract,
    /// The handler's source (the contract type).
    pub source: &'a str,
    /// The W3C headers of the handler's span (both `None` when nothing is traced).
    pub span_headers: &'a TraceHeaders,
    /// The OpenTelemetry context holding the handler's span, to start child spans in.
    pub otel_context: &'a opentelemetry::Context,
}

impl<'a> HandlerInput<'a> {
    /// Deserialises the event's data (already validated against the accepts schema) into `T`
    /// without copying it.
    ///
    /// # Errors
    /// A `Contract` violation when `T` does not fit the data.
    pub fn data_as<T: Deserialize<'a>>(&self) -> Result<T, Violation> {
        T::deserialize(self.event.data()).map_err(|e| {
            // serde's message may quote a value of the data whole (`invalid type: string
            // "..."`): a bounded prefix of it.
            Violation::contract(format!(
                "Input event payload deserialisation failed: {}",
                crate::issue::quote_prefix(&e.to_string())
            ))
        })
    }

    /// `{ self: contract.domain, event: event.domain }` of the reference.
    pub fn domains(&self) -> (Option<&'a str>, Option<&'a str>) {
        (self.contract.domain(), self.event.domain())
    }
}

/// One event a handler function asks to emit (the reference's
/// `ArvoEventHandlerFunctionOutput`). The runtime fills in `source`, `subject`, `parentid`,
/// `dataschema`, trace headers, and defaults `to`, `accesscontrol`, `executionunits` and the
/// domains (spec §1.3 step 9).
///
/// ```
/// use arvo_runtime::handler::{DomainSpec, RawOutput};
/// let out = RawOutput::new("evt.calc.add.success", serde_json::json!({"result": 3}))
///     .to("com.example.audit")
///     .executionunits(7.0)
///     .domains(vec![DomainSpec::Local, DomainSpec::FromTriggeringEvent])
///     .extension("auditflag", true);
/// assert_eq!(out.event_type, "evt.calc.add.success");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct RawOutput {
    /// The event type: one of the version's emitted types (borrowed when it is a contract's
    /// constant, as a typed emission's is, so emitting does not copy it).
    pub event_type: Cow<'static, str>,
    /// The payload, validated and parsed with the type's schema.
    pub data: Value,
    /// The id (default: fresh per copy; a `DeveloperManaged` id is shared by every domain copy).
    pub id: Option<EventIdInput>,
    /// The time (default: now).
    pub time: Option<String>,
    /// `to` (default: the incoming `redirectto`, else its `source`).
    pub to: Option<String>,
    /// `accesscontrol` (default: the incoming event's).
    pub accesscontrol: Option<String>,
    /// `redirectto` (default: null).
    pub redirectto: Option<String>,
    /// `executionunits` (default: the handler's).
    pub executionunits: Option<f64>,
    /// Domain specs, one event per distinct resolved domain (default: the handler's emit
    /// domains). An empty list emits nothing, as `[]` does in the reference.
    pub domain: Option<Vec<DomainSpec>>,
    /// Custom extensions (`__extensions`).
    pub extensions: Extensions,
}

impl RawOutput {
    /// An output of `event_type` with `data`, every other field defaulted.
    pub fn new(event_type: impl Into<String>, data: Value) -> Self {
        RawOutput {
            event_type: Cow::Owned(event_type.into()),
            data,
            id: None,
            time: None,
            to: None,
            accesscontrol: None,
            redirectto: None,
            executionunits: None,
            domain: None,
            extensions: Extensions::new(),
        }
    }

    /// Sets the id.
    pub fn id(mut self, id: EventIdInput) -> Self {
        self.id = Some(id);
        self
    }

    /// Sets `to`.
    pub fn to(mut self, to: impl Into<String>) -> Self {
        self.to = Some(to.into());
        self
    }

    /// Sets `accesscontrol`.
    pub fn accesscontrol(mut self, accesscontrol: impl Into<String>) -> Self {
        self.accesscontrol = Some(accesscontrol.into());
        self
    }

    /// Sets `redirectto`.
    pub fn redirectto(mut self, redirectto: impl Into<String>) -> Self {
        self.redirectto = Some(redirectto.into());
        self
    }

    /// Sets `executionunits`.
    pub fn executionunits(mut self, executionunits: f64) -> Self {
        self.executionunits = Some(executionunits);
        self
    }

    /// Sets the domain specs.
    pub fn domains(mut self, specs: Vec<DomainSpec>) -> Self {
        self.domain = Some(specs);
        self
    }

    /// Adds a custom extension.
    pub fn extension(mut self, key: impl Into<String>, value: impl Into<ExtensionValue>) -> Self {
        self.extensions.insert(key, value);
        self
    }
}

/// The most outputs whose `Vec` stays within glibc's per-thread cache (1,032 bytes requested):
/// 3 of the 336-byte `RawOutput`.
const OUTPUTS_IN_CACHE: usize = 1032 / std::mem::size_of::<RawOutput>();

/// Pushes `raw` onto a step's outputs, growing them by exactly one while they fit glibc's
/// per-thread cache. A `Vec`'s first growth reserves room for four (1,344 bytes), whose
/// allocation takes glibc's slow path (with a consolidation of its free lists): a step would pay
/// it for its usual one or two outputs. Past [`OUTPUTS_IN_CACHE`] they grow as usual.
pub(crate) fn push_output(outputs: &mut Vec<RawOutput>, raw: RawOutput) {
    if outputs.len() == outputs.capacity() && outputs.capacity() < OUTPUTS_IN_CACHE {
        outputs.reserve_exact(1);
    }
    outputs.push(raw);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_grow_by_one_while_they_fit_the_cache_then_as_usual() {
        let mut outputs = Vec::new();
        let mut capacities = Vec::new();
        for i in 0..8 {
            push_output(
                &mut outputs,
                RawOutput::new("evt.x", serde_json::json!({ "i": i })),
            );
            capacities.push(outputs.capacity());
        }
        let n = OUTPUTS_IN_CACHE;
        assert!((1..8).contains(&n), "{n}");
        let exact: Vec<usize> = (1..=n).collect();
        assert_eq!(capacities[..n], exact[..]);
        // Past the cache: amortized growth (at least doubling), not one reallocation per push.
        assert!(capacities[n] >= 2 * n, "{capacities:?}");
        assert_eq!(outputs.len(), 8);
        assert_eq!(outputs[7].data, serde_json::json!({ "i": 7 }));
    }
}
