//! Step 9 of an execution: the events a handler's outputs stand for, with every default.

use super::builder::ArvoEventHandler;
use super::{DomainResolver, RawOutput, Violation};
use crate::event::{
    ArvoEvent, EmitType, EncodedParts, EncodedUri, EventIdInput, EventTime, Extensions,
    create_shared_event_id,
};
use crate::otel::TraceHeaders;
use serde_json::{Map, Value};

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

impl ArvoEventHandler {
    /// Step 9: the outputs, with every default, one event per distinct resolved domain.
    pub(super) fn emit(
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
            // One spec (the default) resolves to one domain: no list to allocate.
            let (single, many);
            let domains: &[Option<&str>] = if let [spec] = specs {
                single = [resolver.resolve(spec)];
                &single
            } else {
                many = resolver.resolve_dedup(specs);
                &many
            };
            let Some((emit_type, schema)) = EmitType::lookup(versioned, &o.event_type) else {
                return Err(Violation::contract(format!(
                    "Emit Event data validation failed: No contract available for {}",
                    crate::issue::quote_prefix(&o.event_type)
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
            let shared = Shared {
                event_type: emit_type,
                subject: event.encoded_subject(),
                dataschema,
                data,
                to,
                accesscontrol: accesscontrol.map(str::to_owned),
                redirectto,
                parentid: EncodedUri::encode_shared(event.shared_id()),
                extensions: o.extensions,
            };
            // Every copy but the last clones the shared values; the last takes them.
            let Some((last, others)) = domains.split_last() else {
                continue;
            };
            let copy = Copy {
                id: o.id.as_ref(),
                time: o.time.as_ref(),
                executionunits,
                headers,
            };
            for domain in others {
                events.push(self.copy(shared.clone(), *domain, &copy)?);
            }
            events.push(self.copy(shared, *last, &copy)?);
        }
        Ok(events)
    }

    /// One event of an output: its shared values in `domain`.
    fn copy(
        &self,
        sh: Shared,
        domain: Option<&str>,
        copy: &Copy<'_>,
    ) -> Result<ArvoEvent, Violation> {
        let parts = EncodedParts {
            id: create_shared_event_id(copy.id),
            time: EventTime::given_or_now(copy.time),
            source: self.source_uri.clone(),
            event_type: sh.event_type,
            subject: sh.subject,
            dataschema: Some(sh.dataschema),
            data: sh.data,
            to: sh.to,
            accesscontrol: sh.accesscontrol,
            redirectto: sh.redirectto,
            executionunits: Some(copy.executionunits),
            parentid: Some(sh.parentid),
            domain: domain.map(str::to_owned),
            traceparent: copy.headers.traceparent.clone(),
            tracestate: copy.headers.tracestate.clone(),
            extensions: sh.extensions,
        };
        ArvoEvent::from_encoded_parts(parts).map_err(|e| Violation::contract(e.to_string()))
    }
}

/// What every copy of one output takes from the output and the execution.
struct Copy<'a> {
    id: Option<&'a EventIdInput>,
    time: Option<&'a String>,
    executionunits: f64,
    headers: &'a TraceHeaders,
}
