//! Turning an orchestration's raw events into ArvoEvents (spec §6.5, `createEmitableEvent`).

use serde_json::Value;

use super::CoreError;
use crate::contract::{ContractKind, PARENT_SUBJECT_FIELD, VersionedContract};
use crate::event::{
    ArvoEvent, EmitType, EncodedParts, EncodedUri, EventTime, create_shared_event_id,
};
use crate::handler::{DomainResolver, DomainSpec, HandlerError, RawOutput, Violation};
use crate::otel::TraceHeaders;
use crate::subject::{self, Meta, NewSubject, Subject, SubjectContent};

/// The advice the reference appends to an invalid `parentSubject$$` error.
pub const ORCHESTRATOR_CONTRACT_HINT: &str = "It must be follow the ArvoOrchestrationSubject schema. The easiest way is to use the current orchestration subject by storing the subject via the context block in the machine definition.";

/// A service contract's attributes that every call to it carries, encoded once when the
/// orchestrator is built and then shared by the calls.
#[derive(Debug, Clone)]
pub(crate) struct ServiceUris {
    /// `encodeURI(dataschema)`.
    dataschema: EncodedUri,
    /// The accepted event type.
    event_type: EmitType,
    /// `encodeURI(type)`: a call's default `to`.
    to: EncodedUri,
}

impl ServiceUris {
    /// The attributes of calls to `contract`.
    pub(crate) fn of(contract: &VersionedContract) -> Self {
        ServiceUris {
            dataschema: EncodedUri::encode(contract.dataschema()),
            event_type: EmitType::accepted_by(contract),
            to: EncodedUri::encode(&contract.accepts().event_type),
        }
    }
}

/// Everything emittable creation reads besides the raw events.
pub(crate) struct EmitContext<'a> {
    /// The handler's source.
    pub(crate) source: &'a str,
    /// `encodeURI(source)`.
    pub(crate) source_uri: &'a EncodedUri,
    /// `encodeURI` of the self contract's dataschema at the subject's version.
    pub(crate) self_dataschema: &'a EncodedUri,
    /// The encoded attributes of each service contract's calls (same order as `services`).
    pub(crate) service_uris: &'a [ServiceUris],
    /// The default cost.
    pub(crate) executionunits: f64,
    /// The self contract at the subject's version.
    pub(crate) self_version: &'a VersionedContract,
    /// The service contracts.
    pub(crate) services: &'a [VersionedContract],
    /// The triggering event.
    pub(crate) event: &'a ArvoEvent,
    /// Its subject, decoded.
    pub(crate) subject: &'a Subject,
    /// The orchestration's parent subject.
    pub(crate) parent_subject: Option<&'a str>,
    /// Its decoded content, when known.
    pub(crate) parent_content: Option<&'a SubjectContent>,
    /// The orchestration's init event id.
    pub(crate) init_event_id: &'a std::sync::Arc<str>,
    /// The span's trace headers.
    pub(crate) headers: &'a TraceHeaders,
}

impl EmitContext<'_> {
    fn resolver<'r>(&'r self, event_contract_domain: Option<&'r str>) -> DomainResolver<'r> {
        let r = DomainResolver::new(
            self.parent_subject,
            self.event.subject(),
            self.self_version.domain(),
            event_contract_domain,
            self.event.domain(),
        )
        .with_current_domain(self.subject.content().execution.domain.as_deref());
        match self.parent_content {
            Some(p) => r.with_parent_domain(p.execution.domain.as_deref()),
            None => r,
        }
    }
}

/// What kind of target a raw event has.
enum Target<'a> {
    Completion,
    Service(&'a VersionedContract),
    Unknown,
}

/// `processRawEventsIntoEmittables`: every raw event, one copy per distinct raw domain spec
/// (first-occurrence order, de-duplicated *before* resolution as in the reference).
pub(crate) fn create_emittables(
    ctx: &EmitContext<'_>,
    raws: Vec<RawOutput>,
) -> Result<Vec<ArvoEvent>, CoreError> {
    let complete_type = match ctx.self_version.kind() {
        ContractKind::Orchestrator { complete_type, .. } => Some(complete_type.as_str()),
        _ => None,
    };
    let mut out = Vec::with_capacity(raws.len());
    for mut raw in raws {
        let target = if Some(&*raw.event_type) == complete_type {
            Target::Completion
        } else if let Some(c) = ctx
            .services
            .iter()
            .find(|c| c.accepts().event_type == raw.event_type)
        {
            Target::Service(c)
        } else {
            Target::Unknown
        };
        // Validate (and shape) the data once; every copy gets the same payload.
        let data = shape_data(ctx, &target, &mut raw.data, &raw.event_type)?;
        let parent = match target {
            Target::Service(c) if matches!(c.kind(), ContractKind::Orchestrator { .. }) => data
                .get(PARENT_SUBJECT_FIELD)
                .and_then(Value::as_str)
                .filter(|p| !p.is_empty())
                .map(str::to_owned),
            _ => None,
        };
        let local = [DomainSpec::Local];
        let specs: &[DomainSpec] = raw.domain.as_deref().unwrap_or(&local);
        let mut distinct: Vec<&DomainSpec> = Vec::with_capacity(specs.len());
        for s in specs {
            if !distinct.contains(&s) {
                distinct.push(s);
            }
        }
        let n = distinct.len();
        let mut data = Some(data);
        for (i, spec) in distinct.into_iter().enumerate() {
            let data = if i + 1 == n {
                data.take().unwrap_or_default()
            } else {
                data.clone().unwrap_or_default()
            };
            out.push(create_one(
                ctx,
                &target,
                &raw,
                parent.as_deref(),
                spec,
                data,
            )?);
        }
    }
    Ok(out)
}

/// Steps 4 (orchestrator subject checks run first) and 6: the validated, parsed data.
fn shape_data(
    ctx: &EmitContext<'_>,
    target: &Target<'_>,
    raw_data: &mut Value,
    event_type: &str,
) -> Result<serde_json::Map<String, Value>, CoreError> {
    let schema = match target {
        Target::Completion => ctx.self_version.emit(event_type).map(|e| &e.schema),
        Target::Service(c) => {
            if matches!(c.kind(), ContractKind::Orchestrator { .. }) {
                check_parent_subject(raw_data, event_type, c)?;
            }
            Some(&c.accepts().schema)
        }
        Target::Unknown => None,
    };
    let value = match schema {
        Some(schema) => schema.parse_owned(std::mem::take(raw_data)).map_err(|issues| {
            Violation::contract(format!(
                "[Emittable Event Creation] Invalid event data: Schema validation failed.\nEvent type: {}\nDetails: {issues}",
                crate::issue::quote_prefix(event_type)
            ))
        })?,
        None => std::mem::take(raw_data),
    };
    match value {
        Value::Object(m) => Ok(m),
        Value::Null => Ok(serde_json::Map::new()),
        other => Err(CoreError::Failure(HandlerError::msg(format!(
            "Event data of '{}' must be an object, got {}",
            crate::issue::quote_prefix(event_type),
            crate::issue::json_type_name(&other)
        )))),
    }
}

fn check_parent_subject(
    data: &Value,
    event_type: &str,
    c: &VersionedContract,
) -> Result<(), CoreError> {
    match data.get(PARENT_SUBJECT_FIELD) {
        Some(Value::String(p)) if !p.is_empty() && !subject::is_valid(p) => {
            Err(invalid_parent(event_type, c).into())
        }
        Some(v) if is_truthy(v) && !v.is_string() => Err(invalid_parent(event_type, c).into()),
        _ => Ok(()),
    }
}

fn invalid_parent(event_type: &str, c: &VersionedContract) -> Violation {
    Violation::execution(format!(
        "[Emittable Event Creation] Invalid parentSubject$$ for the event(type='{}', uri='{}'). {ORCHESTRATOR_CONTRACT_HINT}",
        crate::issue::quote_prefix(event_type),
        c.dataschema()
    ))
}

fn is_truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

fn create_one(
    ctx: &EmitContext<'_>,
    target: &Target<'_>,
    raw: &RawOutput,
    parent: Option<&str>,
    spec: &DomainSpec,
    data: serde_json::Map<String, Value>,
) -> Result<ArvoEvent, CoreError> {
    let event = ctx.event;
    // `createArvoEvent`'s defaults and encodings, as `ArvoEventBuilder::build` applies them,
    // computed without re-encoding what is already encoded: the input event's subject and id
    // (a built, hence validated, event), the source and the dataschemas (encoded once, when
    // the handler was built). The type is the self contract's completion type or a service
    // contract's accepted type, both checked when those contracts were built.
    let mut default_to = None;
    let (event_type, subject, parentid, domain, dataschema) = match target {
        Target::Completion => {
            let Some((event_type, _)) = EmitType::lookup(ctx.self_version, &raw.event_type) else {
                return create_unchecked(ctx, raw, spec, data);
            };
            let r = ctx.resolver(ctx.self_version.domain());
            let subject = match ctx.parent_subject {
                Some(p) => EncodedUri::encode(p),
                None => event.encoded_subject(),
            };
            (
                event_type,
                subject,
                ctx.init_event_id,
                r.resolve(spec).map(str::to_owned),
                ctx.self_dataschema.clone(),
            )
        }
        Target::Service(c) => {
            let r = ctx.resolver(c.domain());
            let domain = r.resolve(spec).map(str::to_owned);
            let subject = if matches!(c.kind(), ContractKind::Orchestrator { .. }) {
                let child = child_subject(ctx, c, raw, parent, domain.as_deref())?;
                EncodedUri::encode(child.as_str())
            } else {
                event.encoded_subject()
            };
            let uris = ctx
                .services
                .iter()
                .position(|s| std::ptr::eq(s, *c))
                .and_then(|i| ctx.service_uris.get(i))
                .cloned()
                .unwrap_or_else(|| ServiceUris::of(c));
            // The call's type is the service's accepted type, so its default `to` is too.
            default_to = Some(uris.to);
            (
                uris.event_type,
                subject,
                event.shared_id(),
                domain,
                uris.dataschema,
            )
        }
        Target::Unknown => return create_unchecked(ctx, raw, spec, data),
    };
    let to = match raw.to.as_deref() {
        Some(t) if !t.is_empty() => EncodedUri::encode(t),
        _ => default_to.unwrap_or_else(|| EncodedUri::encode(&raw.event_type)),
    };
    let redirectto = match raw.redirectto.as_deref() {
        Some("") => None,
        Some(r) => Some(EncodedUri::encode(r)),
        None => Some(ctx.source_uri.clone()),
    };
    let parentid = (!parentid.is_empty()).then(|| EncodedUri::encode_shared(parentid));
    let parts = EncodedParts {
        id: create_shared_event_id(raw.id.as_ref()),
        time: EventTime::given_or_now(raw.time.as_ref()),
        source: ctx.source_uri.clone(),
        event_type,
        subject,
        dataschema: Some(dataschema),
        data,
        to,
        accesscontrol: raw
            .accesscontrol
            .as_deref()
            .or(event.accesscontrol())
            .map(str::to_owned),
        redirectto,
        executionunits: Some(raw.executionunits.unwrap_or(ctx.executionunits)),
        parentid,
        domain,
        traceparent: ctx.headers.traceparent.clone(),
        tracestate: ctx.headers.tracestate.clone(),
        extensions: raw.extensions.clone(),
    };
    // An invalid field is a plain error in the reference: failure record + system error.
    ArvoEvent::from_encoded_parts(parts).map_err(|e| CoreError::Failure(HandlerError::from(e)))
}

/// An event of a type no contract declares: built with every check of the builder.
fn create_unchecked(
    ctx: &EmitContext<'_>,
    raw: &RawOutput,
    spec: &DomainSpec,
    data: serde_json::Map<String, Value>,
) -> Result<ArvoEvent, CoreError> {
    let domain = ctx.resolver(None).resolve(spec).map(str::to_owned);
    let event = ctx.event;
    // An invalid field is a plain error in the reference: failure record + system error.
    via_builder(ctx, raw, event.subject(), event.id(), None, domain, data)
        .map_err(|e| CoreError::Failure(HandlerError::from(e)))
}

/// An emitted event built field by field through [`ArvoEvent::builder`] (`createArvoEvent`'s
/// defaults, encodings and every check): the path for undeclared types, and the reference the
/// pre-encoded path is tested against.
fn via_builder(
    ctx: &EmitContext<'_>,
    raw: &RawOutput,
    subject: &str,
    parentid: &str,
    dataschema: Option<&str>,
    domain: Option<String>,
    data: serde_json::Map<String, Value>,
) -> Result<ArvoEvent, crate::event::EventError> {
    let to = raw.to.as_deref().unwrap_or(&*raw.event_type);
    let mut b = ArvoEvent::builder()
        .source(ctx.source)
        .event_type(&*raw.event_type)
        .subject(subject)
        .dataschema(dataschema)
        .data(data)
        .to(to)
        .accesscontrol(raw.accesscontrol.as_deref().or(ctx.event.accesscontrol()))
        .redirectto(raw.redirectto.as_deref().unwrap_or(ctx.source))
        .executionunits(raw.executionunits.unwrap_or(ctx.executionunits))
        .parentid(parentid)
        .domain(domain)
        .traceparent(ctx.headers.traceparent.as_deref())
        .tracestate(ctx.headers.tracestate.as_deref());
    if let Some(id) = &raw.id {
        b = b.id(id.clone());
    }
    if let Some(t) = &raw.time {
        b = b.time(t.as_str());
    }
    for (k, v) in raw.extensions.iter() {
        b = b.extension(k, v.clone());
    }
    b.build()
}

/// Step 4: the subject of a child orchestration started by this event.
fn child_subject(
    ctx: &EmitContext<'_>,
    c: &VersionedContract,
    raw: &RawOutput,
    parent: Option<&str>,
    domain: Option<&str>,
) -> Result<Subject, CoreError> {
    let mut meta = Meta::new();
    meta.insert(
        "redirectto".to_owned(),
        raw.redirectto.as_deref().unwrap_or(ctx.source).to_owned(),
    );
    let orchestrator = c.accepts().event_type.as_str();
    let version = Some(c.version().as_str());
    let fail = |e: subject::SubjectError| {
        CoreError::Violation(Violation::execution(format!(
            "[Emittable Event Creation] Orchestration subject creation failed due to invalid parameters - Event: {} - {e}",
            crate::issue::quote_prefix(&raw.event_type)
        )))
    };
    match parent {
        Some(parent) => {
            // The usual parent is this orchestration itself: its subject is already decoded.
            let parsed;
            let parent_content = if parent == ctx.event.subject() {
                ctx.subject.content()
            } else {
                parsed = subject::parse(parent).map_err(fail)?;
                &parsed
            };
            subject::child_of(parent_content, orchestrator, version, domain, meta).map_err(fail)
        }
        _ => subject::new(NewSubject {
            orchestrator,
            version,
            initiator: ctx.source,
            domain,
            meta,
        })
        .map_err(fail),
    }
}

#[cfg(test)]
mod tests {
    //! The pre-encoded path of [`create_one`] against the validating builder applied to the
    //! same inputs: equal events (ids and times aside when generated) and equal errors.
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::contract::{ArvoContract, Schema};
    use crate::event::EventIdInput;
    use crate::factory::{ArvoOrchestratorEventFactory, EventInput};
    use serde_json::json;

    fn obj(keys: &[&str]) -> Schema {
        let props: serde_json::Map<String, Value> = keys
            .iter()
            .map(|k| ((*k).to_owned(), json!({"type": "number"})))
            .collect();
        Schema::new(json!({"type": "object", "properties": props, "required": keys})).unwrap()
    }

    fn comparable(e: &ArvoEvent, keep_id_time: bool) -> Value {
        let mut v = serde_json::to_value(e).unwrap();
        if !keep_id_time && let Value::Object(m) = &mut v {
            m.remove("id");
            m.remove("time");
        }
        v
    }

    #[test]
    fn pre_encoded_events_equal_builder_events() {
        let add = ArvoContract::simple("#/calc/add", "calc.add")
            .version("1.0.0", obj(&["a", "b"]), obj(&["result"]))
            .build()
            .unwrap();
        let flow = ArvoContract::orchestrator("#/calc/flow", "calc.flow")
            .version("1.0.0", obj(&["a", "b"]), obj(&["result"]))
            .build()
            .unwrap();
        let mut input = EventInput::new(
            "com.example.client",
            json!({"parentSubject$$": null, "a": 1, "b": 2}),
        );
        input.accesscontrol = Some("role=a b".into());
        let init = ArvoOrchestratorEventFactory::new(flow.latest())
            .unwrap()
            .init(input)
            .unwrap();
        let subject = Subject::parse(init.subject()).unwrap();
        let self_version = flow.latest();
        let services = [add.latest()];
        let source = self_version.accepts().event_type.clone();
        let source_uri = EncodedUri::encode(&source);
        let init_id: std::sync::Arc<str> = std::sync::Arc::from("init-id");
        let self_dataschema = EncodedUri::encode(self_version.dataschema());
        let service_uris = [ServiceUris::of(&services[0])];
        let headers = TraceHeaders {
            traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
            tracestate: None,
        };
        let complete_type = match self_version.kind() {
            ContractKind::Orchestrator { complete_type, .. } => complete_type.clone(),
            _ => unreachable!(),
        };
        let call = || RawOutput::new("com.calc.add", json!({"a": 1, "b": 2}));
        let timed = |t: &str| {
            let mut r = call();
            r.time = Some(t.to_owned());
            r
        };
        let done = || RawOutput::new(complete_type.clone(), json!({"result": 3}));
        let raws = vec![
            call(),
            call().to(""),
            call().to("com.other target"),
            call().redirectto(""),
            call().redirectto("com.back here"),
            call().accesscontrol("role=b"),
            call().executionunits(2.5),
            call().extension("myext", "v").extension("num", 2.0),
            call().id(EventIdInput::DeveloperManaged(" my-id ".into())),
            call().id(EventIdInput::DeveloperManaged(String::new())),
            timed("not a time"),
            timed("2024-01-01T00:00:00.000+00:00"),
            call().extension("BAD-NAME", "v"),
            done(),
            done().to("com.client%20x"),
            done().to("com.bad\u{0}to"),
        ];
        let (mut oks, mut errs) = (0, 0);
        for parent_subject in [None, Some(init.subject())] {
            let ctx = EmitContext {
                source: &source,
                source_uri: &source_uri,
                self_dataschema: &self_dataschema,
                service_uris: &service_uris,
                executionunits: 0.5,
                self_version: &self_version,
                services: &services,
                event: &init,
                subject: &subject,
                parent_subject,
                parent_content: None,
                init_event_id: &init_id,
                headers: &headers,
            };
            for raw in &raws {
                let (target, parentid, dataschema) = if raw.event_type == complete_type {
                    (
                        Target::Completion,
                        "init-id",
                        self_version.dataschema().to_owned(),
                    )
                } else {
                    (
                        Target::Service(&services[0]),
                        init.id(),
                        services[0].dataschema().to_owned(),
                    )
                };
                let subject = match target {
                    Target::Completion => parent_subject.unwrap_or(init.subject()),
                    _ => init.subject(),
                };
                let data = match raw.data.clone() {
                    Value::Object(m) => m,
                    _ => unreachable!(),
                };
                let domain = ctx
                    .resolver(None)
                    .resolve(&DomainSpec::Local)
                    .map(str::to_owned);
                let fast = create_one(&ctx, &target, raw, None, &DomainSpec::Local, data.clone())
                    .map_err(|e| match e {
                        CoreError::Failure(f) => f.to_string(),
                        CoreError::Violation(v) => v.to_string(),
                    });
                let slow = via_builder(
                    &ctx,
                    raw,
                    subject,
                    parentid,
                    Some(&dataschema),
                    domain,
                    data,
                )
                .map_err(|e| e.to_string());
                let keep = raw.time.is_some()
                    && matches!(raw.id, Some(EventIdInput::DeveloperManaged(ref s)) if !crate::rules::js_trim(s).is_empty());
                match (&fast, &slow) {
                    (Ok(f), Ok(s)) => {
                        assert_eq!(comparable(f, keep), comparable(s, keep), "{raw:?}");
                        assert_eq!(f.id().len(), s.id().len(), "{raw:?}");
                        if raw.time.is_some() {
                            assert_eq!(f.time(), s.time());
                        }
                        oks += 1;
                    }
                    (Err(f), Err(s)) => {
                        assert_eq!(f, s, "{raw:?}");
                        errs += 1;
                    }
                    _ => panic!("{raw:?}: {fast:?} vs {slow:?}"),
                }
            }
        }
        // Both paths were compared on valid and on invalid fields.
        assert_eq!((oks, errs), (28, 4));
    }
}
