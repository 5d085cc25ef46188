//! The AsyncAPI 3.0 document of a [`Catalogue`].
//!
//! - **Channels**: one per event type (the address is the type; the broker routes by `to`, which
//!   is the type of the receiving contract). A channel holds one message per contract version
//!   that declares the type.
//! - **Messages**: the payload schema of that version (definitions moved to
//!   `components/schemas`), an example (CloudEvents attributes as headers, the generated
//!   payload), the `dataschema` and domain as `x-arvo-*` fields, and the `CloudEvent` trait
//!   (the CloudEvents and Arvo attributes as headers). The system error `sys.<type>.error` has one
//!   message per contract, dataschema `<uri>/0.0.0`.
//! - **Operations**: per contract, `receive` of its accepted event (or init event), `send` of
//!   each emitted event (or completion) and of its system error; per orchestrator, `send` of each
//!   service call and `receive` of the services' answers and system errors.

use crate::catalogue::{Catalogue, ContractDoc, EventDoc, Role};
use crate::error::DocsError;
use crate::schema;
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};

/// The AsyncAPI version written.
pub const ASYNCAPI_VERSION: &str = "3.0.0";

/// The `datacontenttype` Arvo events carry.
const DATACONTENTTYPE: &str = "application/cloudevents+json;charset=UTF-8;profile=arvo";

/// A message's key in its channel and in `components/messages`: `<type>-v<version>`, with the
/// contract's slug after the type when `shared` (another contract claims the type too).
fn message_key(cat: &Catalogue, shared: bool, contract: usize, e: &EventDoc) -> String {
    let version = e.dataschema.rsplit('/').next().unwrap_or("0.0.0");
    if shared {
        let slug = &cat.contracts[contract].slug;
        format!("{}-{slug}-v{version}", e.event_type)
    } else {
        format!("{}-v{version}", e.event_type)
    }
}

fn channel_ref(event_type: &str) -> Value {
    json!({"$ref": format!("#/channels/{}", pointer_escape(event_type))})
}

fn channel_message_ref(event_type: &str, key: &str) -> Value {
    json!({"$ref": format!("#/channels/{}/messages/{}", pointer_escape(event_type), pointer_escape(key))})
}

fn pointer_escape(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

fn example_headers(c: &ContractDoc, e: &EventDoc) -> Value {
    let contract_type = c.contract.event_type();
    let (source, to) = match e.role {
        Role::Accepts | Role::Init => ("com.example.caller", contract_type),
        _ => (contract_type, "com.example.caller"),
    };
    json!({
        "id": "00000000-0000-4000-8000-000000000000",
        "source": source,
        "specversion": "1.0",
        "type": e.event_type,
        "subject": "urn:example:subject",
        "time": "2024-01-01T00:00:00.000+00:00",
        "datacontenttype": DATACONTENTTYPE,
        "dataschema": e.dataschema,
        "to": to,
        "accesscontrol": null,
        "redirectto": null,
        "executionunits": null,
        "parentid": null,
        "domain": c.contract.domain(),
        "traceparent": null,
        "tracestate": null,
    })
}

fn role_sentence(c: &ContractDoc, e: &EventDoc) -> String {
    let who = format!("{} (`{}`)", c.label, c.contract.uri());
    let version = e.dataschema.rsplit('/').next().unwrap_or("");
    match e.role {
        Role::Accepts => format!("Accepted by {who}, version {version}."),
        Role::Emits => format!("Emitted by {who}, version {version}."),
        Role::Init => format!("Starts the orchestrator {who}, version {version}."),
        Role::Complete => format!("Completion of the orchestrator {who}, version {version}."),
        Role::SystemError => format!(
            "System error of {who}, any version: emitted back to the caller when the handler fails."
        ),
    }
}

fn message(
    c: &ContractDoc,
    e: &EventDoc,
    components: &mut Map<String, Value>,
) -> Result<Value, DocsError> {
    let version = e
        .dataschema
        .rsplit('/')
        .next()
        .unwrap_or("0.0.0")
        .to_owned();
    let payload =
        schema::hoist(e.schema.to_json(), components).map_err(|err| DocsError::Schema {
            contract: c.contract.uri().to_owned(),
            version: version.clone(),
            event_type: e.event_type.clone(),
            pointer: err.pointer,
            reason: err.reason,
        })?;
    let mut description = role_sentence(c, e);
    if let Some(d) = c.contract.description() {
        description.push_str("\n\n");
        description.push_str(d);
    }
    description.push_str(&format!("\n\n`dataschema`: `{}`", e.dataschema));
    if let Some(d) = c.contract.domain() {
        description.push_str(&format!("\n\n`domain`: `{d}`"));
    }
    let mut m = Map::new();
    m.insert("name".into(), Value::String(e.event_type.clone()));
    m.insert(
        "title".into(),
        Value::String(format!("{} {version}", e.event_type)),
    );
    m.insert(
        "summary".into(),
        Value::String(format!(
            "{} {} ({})",
            c.label,
            e.role.as_str(),
            e.dataschema
        )),
    );
    m.insert("description".into(), Value::String(description));
    m.insert(
        "contentType".into(),
        Value::String("application/json".into()),
    );
    m.insert(
        "correlationId".into(),
        json!({
            "description": "The subject: one workflow run (an orchestration subject) or one piece of work.",
            "location": "$message.header#/subject"
        }),
    );
    m.insert(
        "traits".into(),
        json!([{"$ref": "#/components/messageTraits/CloudEvent"}]),
    );
    m.insert("payload".into(), payload);
    m.insert(
        "examples".into(),
        json!([{
            "name": format!("{}-example", e.event_type),
            "summary": format!("A {} event with a payload generated from the schema", e.event_type),
            "headers": example_headers(c, e),
            "payload": e.example,
        }]),
    );
    m.insert(
        "x-arvo-contract".into(),
        Value::String(c.contract.uri().into()),
    );
    m.insert("x-arvo-version".into(), Value::String(version));
    m.insert(
        "x-arvo-dataschema".into(),
        Value::String(e.dataschema.clone()),
    );
    m.insert("x-arvo-role".into(), Value::String(e.role.as_str().into()));
    m.insert(
        "x-arvo-domain".into(),
        c.contract
            .domain()
            .map_or(Value::Null, |d| Value::String(d.into())),
    );
    Ok(Value::Object(m))
}

/// The CloudEvents attributes (with Arvo's extensions) every event carries.
fn cloudevent_trait() -> Value {
    let nullable = |desc: &str| json!({"type": ["string", "null"], "description": desc});
    json!({
        "summary": "An Arvo event: a CloudEvent with Arvo's extensions",
        "description": "The CloudEvents 1.0 attributes and Arvo's extensions. In structured mode they are top-level keys of the event's JSON next to `data` (the payload); in binary mode they travel as headers (`ce-` prefixed on HTTP and Kafka).",
        "headers": {
            "type": "object",
            "required": ["id", "source", "specversion", "type", "subject", "time", "datacontenttype"],
            "properties": {
                "id": {"type": "string", "minLength": 1, "description": "Unique id of the event."},
                "source": {"type": "string", "minLength": 1, "description": "Who sent it: the sender's contract type (or an application name)."},
                "specversion": {"type": "string", "const": "1.0", "description": "CloudEvents version."},
                "type": {"type": "string", "minLength": 1, "description": "The event type: the channel."},
                "subject": {"type": "string", "minLength": 1, "description": "What the event is about; for workflows, the orchestration subject (propagate it verbatim)."},
                "time": {"type": "string", "description": "When it was created (ISO 8601)."},
                "datacontenttype": {"type": "string", "description": "Content type of data; Arvo writes application/cloudevents+json;charset=UTF-8;profile=arvo."},
                "dataschema": nullable("The contract version the data follows: <contract uri>/<version> (<uri>/0.0.0 for system errors)."),
                "to": nullable("Who should get it: the broker routes by this (the receiving contract's type)."),
                "accesscontrol": nullable("Access control information, opaque to Arvo."),
                "redirectto": nullable("Where the answer should go instead of the source."),
                "executionunits": {"type": ["number", "null"], "description": "Cost accounting: execution units spent."},
                "parentid": nullable("The id of the event that caused this one."),
                "domain": nullable("A non-null domain takes the event out of the normal flow (a human, another cluster, an external queue)."),
                "traceparent": nullable("W3C trace context."),
                "tracestate": nullable("W3C trace state.")
            }
        }
    })
}

/// Builds the AsyncAPI 3.0 document.
///
/// # Errors
/// A schema whose definitions cannot be moved into the document (a `$ref` to the schema root).
pub(crate) fn document(cat: &Catalogue) -> Result<Value, DocsError> {
    let mut schemas = Map::new();
    let mut messages = Map::new();
    let mut channels: Map<String, Value> = Map::new();
    // Message keys per (contract index, event type, dataschema).
    let mut keys: HashMap<(usize, &str, &str), String> = HashMap::new();
    let by_type = cat.events_by_type();
    // The event types more than one contract claims.
    let shared: HashSet<&str> = by_type
        .iter()
        .filter(|(_, events)| events.iter().any(|&(j, _)| j != events[0].0))
        .map(|&(t, _)| t)
        .collect();
    for (i, e) in cat.events() {
        let c = &cat.contracts[i];
        let key = message_key(cat, shared.contains(e.event_type.as_str()), i, e);
        messages.insert(key.clone(), message(c, e, &mut schemas)?);
        let channel = channels.entry(e.event_type.clone()).or_insert_with(|| {
            json!({
                "address": e.event_type,
                "title": e.event_type,
                "messages": {}
            })
        });
        if let Some(Value::Object(ms)) = channel.get_mut("messages") {
            ms.insert(
                key.clone(),
                json!({"$ref": format!("#/components/messages/{}", pointer_escape(&key))}),
            );
        }
        keys.insert((i, &e.event_type, &e.dataschema), key);
    }
    // Each channel's description: who uses it ("<label> <role>"), each once, in order.
    for (t, events) in &by_type {
        let mut seen = HashSet::new();
        let who: Vec<String> = events
            .iter()
            .map(|&(i, e)| format!("{} {}", cat.contracts[i].label, e.role.as_str()))
            .filter(|line| seen.insert(line.clone()))
            .collect();
        if let Some(Value::Object(m)) = channels.get_mut(*t) {
            m.insert(
                "description".into(),
                Value::String(format!("Events of type `{t}`: {}.", who.join("; "))),
            );
        }
    }
    let key_of = |i: usize, t: &str, dataschema: &str| -> Option<String> {
        keys.get(&(i, t, dataschema)).cloned()
    };
    let mut operations = Map::new();
    for (i, c) in cat.contracts.iter().enumerate() {
        // (action, event type, messages)
        let mut ops: Vec<(&str, String, Vec<String>, String)> = Vec::new();
        let mut push = |action: &'static str, t: &str, key: String, what: String| match ops
            .iter_mut()
            .find(|(a, et, _, _)| *a == action && et == t)
        {
            Some((_, _, list, _)) => {
                if !list.contains(&key) {
                    list.push(key);
                }
            }
            None => ops.push((action, t.to_owned(), vec![key], what)),
        };
        for v in &c.versions {
            for e in std::iter::once(&v.accepts).chain(&v.emits) {
                if let Some(key) = key_of(i, &e.event_type, &e.dataschema) {
                    let action = if e.role.is_received() {
                        "receive"
                    } else {
                        "send"
                    };
                    let what = if e.role.is_received() {
                        format!(
                            "{} handles `{}` ({}).",
                            c.label,
                            e.event_type,
                            e.role.as_str()
                        )
                    } else {
                        format!(
                            "{} emits `{}` ({}).",
                            c.label,
                            e.event_type,
                            e.role.as_str()
                        )
                    };
                    push(action, &e.event_type, key, what);
                }
            }
        }
        let se = &c.system_error;
        if let Some(key) = key_of(i, &se.event_type, &se.dataschema) {
            push(
                "send",
                &se.event_type,
                key,
                format!(
                    "{} emits its system error `{}` back to the caller when its handler fails.",
                    c.label, se.event_type
                ),
            );
        }
        // An orchestrator's calls and the answers it listens for.
        if let Some(o) = cat.orchestrator_of(i) {
            for call in &o.calls {
                let s = &cat.contracts[call.service];
                let Some(sv) = s
                    .versions
                    .iter()
                    .find(|v| v.versioned.version().as_str() == call.service_version)
                else {
                    continue;
                };
                if let Some(key) =
                    key_of(call.service, &sv.accepts.event_type, &sv.accepts.dataschema)
                {
                    push(
                        "send",
                        &sv.accepts.event_type,
                        key,
                        format!(
                            "{} calls {} (`{}`).",
                            c.label, s.label, sv.accepts.event_type
                        ),
                    );
                }
                for e in sv.emits.iter().chain(std::iter::once(&s.system_error)) {
                    if let Some(key) = key_of(call.service, &e.event_type, &e.dataschema) {
                        push(
                            "receive",
                            &e.event_type,
                            key,
                            format!(
                                "{} receives the answer `{}` of {}.",
                                c.label, e.event_type, s.label
                            ),
                        );
                    }
                }
            }
        }
        for (action, t, keys, what) in ops {
            let id = format!("{}.{action}.{t}", c.slug);
            operations.insert(
                id,
                json!({
                    "action": action,
                    "channel": channel_ref(&t),
                    "title": format!("{} {action} {t}", c.label),
                    "summary": what,
                    "description": format!("{what} Contract `{}`.", c.contract.uri()),
                    "messages": keys.iter().map(|k| channel_message_ref(&t, k)).collect::<Vec<_>>(),
                }),
            );
        }
    }
    let mut description = cat.description.clone().unwrap_or_default();
    if !description.is_empty() {
        description.push_str("\n\n");
    }
    description.push_str(
        "Generated by arvo-docs from Arvo contracts. Every event is a CloudEvent (see the `CloudEvent` message trait); a channel is an event type; `dataschema` (`<contract uri>/<version>`) says which contract version a payload follows. Every contract also emits `sys.<type>.error` (the system error, dataschema `<uri>/0.0.0`) back to its caller when its handler fails. Orchestrators start with `arvo.orc.<name>` and complete with `arvo.orc.<name>.done`.",
    );
    let mut components = Map::new();
    if !schemas.is_empty() {
        components.insert("schemas".into(), Value::Object(schemas));
    }
    components.insert("messages".into(), Value::Object(messages));
    components.insert(
        "messageTraits".into(),
        json!({"CloudEvent": cloudevent_trait()}),
    );
    Ok(json!({
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": cat.title,
            "version": cat.version,
            "description": description,
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": components,
    }))
}

/// The document as pretty JSON.
pub(crate) fn to_json(doc: &Value) -> Result<String, DocsError> {
    serde_json::to_string_pretty(doc).map_err(|e| DocsError::Serialise {
        format: "JSON",
        message: e.to_string(),
    })
}

/// The document as YAML.
pub(crate) fn to_yaml(doc: &Value) -> Result<String, DocsError> {
    serde_norway::to_string(doc).map_err(|e| DocsError::Serialise {
        format: "YAML",
        message: e.to_string(),
    })
}
