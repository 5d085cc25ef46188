//! Turning an orchestration's raw events into ArvoEvents (spec §6.5, `createEmitableEvent`).

use serde_json::Value;

use super::CoreError;
use crate::contract::{ContractKind, PARENT_SUBJECT_FIELD, VersionedContract};
use crate::event::ArvoEvent;
use crate::handler::{DomainResolver, DomainSpec, HandlerError, RawOutput, Violation};
use crate::otel::TraceHeaders;
use crate::subject::{self, Meta, NewSubject, Subject, SubjectContent};

/// The advice the reference appends to an invalid `parentSubject$$` error.
pub const ORCHESTRATOR_CONTRACT_HINT: &str = "It must be follow the ArvoOrchestrationSubject schema. The easiest way is to use the current orchestration subject by storing the subject via the context block in the machine definition.";

/// Everything emittable creation reads besides the raw events.
pub(crate) struct EmitContext<'a> {
    /// The handler's source.
    pub(crate) source: &'a str,
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
    pub(crate) init_event_id: &'a str,
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
        let target = if Some(raw.event_type.as_str()) == complete_type {
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
                event_type
            ))
        })?,
        None => std::mem::take(raw_data),
    };
    match value {
        Value::Object(m) => Ok(m),
        Value::Null => Ok(serde_json::Map::new()),
        other => Err(CoreError::Failure(HandlerError::msg(format!(
            "Event data of '{}' must be an object, got {}",
            event_type,
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
        event_type,
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
    let mut child: Option<Subject> = None;
    let (subject, parentid, domain, dataschema): (&str, &str, Option<String>, Option<&str>) =
        match target {
            Target::Completion => {
                let r = ctx.resolver(ctx.self_version.domain());
                (
                    ctx.parent_subject.unwrap_or(event.subject()),
                    ctx.init_event_id,
                    r.resolve(spec).map(str::to_owned),
                    Some(ctx.self_version.dataschema()),
                )
            }
            Target::Service(c) => {
                let r = ctx.resolver(c.domain());
                let domain = r.resolve(spec).map(str::to_owned);
                if matches!(c.kind(), ContractKind::Orchestrator { .. }) {
                    child = Some(child_subject(ctx, c, raw, parent, domain.as_deref())?);
                }
                (
                    child.as_ref().map_or(event.subject(), Subject::as_str),
                    event.id(),
                    domain,
                    Some(c.dataschema()),
                )
            }
            Target::Unknown => {
                let r = ctx.resolver(None);
                (
                    event.subject(),
                    event.id(),
                    r.resolve(spec).map(str::to_owned),
                    None,
                )
            }
        };
    let to = raw.to.as_deref().unwrap_or(raw.event_type.as_str());
    let mut b = ArvoEvent::builder()
        .source(ctx.source)
        .event_type(raw.event_type.as_str())
        .subject(subject)
        .dataschema(dataschema)
        .data(data)
        .to(to)
        .accesscontrol(raw.accesscontrol.as_deref().or(event.accesscontrol()))
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
    // An invalid field is a plain error in the reference: failure record + system error.
    b.build()
        .map_err(|e| CoreError::Failure(HandlerError::from(e)))
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
            raw.event_type
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
