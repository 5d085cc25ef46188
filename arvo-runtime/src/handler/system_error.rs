//! §1.4: the `sys.<type>.error` events of a failed implementation, built alike for handlers and
//! orchestrations.

use super::builder::ArvoEventHandler;
use super::{DomainResolver, HandlerError, Violation};
use crate::event::ArvoEvent;
use crate::otel::TraceHeaders;
use crate::violation::ArvoErrorPayload;
use serde_json::{Map, Value};

impl ArvoEventHandler {
    /// §1.4: the system error events of a failed implementation.
    pub(super) fn system_errors(
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
