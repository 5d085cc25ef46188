//! Step 9 of an execution: the events a handler's outputs stand for, with every default.

use super::builder::ArvoEventHandler;
use super::{DomainResolver, RawOutput, Violation};
use crate::event::{
    ArvoEvent, EmitType, EncodedParts, EncodedUri, EventTime, Extensions, create_shared_event_id,
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
}
