//! The orchestrator's step (spec §6.3): machine resolution, input validation, the engine, the
//! completion event, emittable creation and the new record.

use std::future::Future;
use std::sync::Arc;

use serde_json::Value;

use super::{MachineEvents, MachineRecord, MachineRegistry};
use crate::contract::ContractKind;
use crate::event::{EncodedUri, EventIdInput};
use crate::handler::{DomainSpec, HandlerError, RawOutput, Violation, push_output};
use crate::machine::{Context, MachineStatus};
use crate::orchestration::{
    self, CoreError, CoreInput, CoreOutput, EmitContext, OrchestrationCore, OrchestrationSettings,
    ServiceUris, SubjectCache, create_emittables,
};
use crate::resumable::ProcessedEvent;
use crate::subject::Subject;

/// A machine output value as an error quotes it: a bounded prefix of its JSON
/// ([`quote_prefix`](crate::issue::quote_prefix)).
fn quoted(v: &Value) -> String {
    crate::issue::quote_prefix_owned(&v.to_string())
}

/// What is precomputed per machine (same order as the registry's machines).
pub(super) struct Entry {
    pub(super) self_dataschema: EncodedUri,
    pub(super) service_uris: Vec<ServiceUris>,
}

/// The orchestrator's settings, machines and caches.
pub(super) struct OrchestratorCore<C> {
    pub(super) settings: OrchestrationSettings,
    pub(super) system_error_type: String,
    pub(super) registry: MachineRegistry<C>,
    pub(super) entries: Vec<Entry>,
    pub(super) window: usize,
    pub(super) cache: SubjectCache,
}

/// The reference's `__id`, `__executionunits` and `__domain` keys of a machine output, removed
/// from the completion data.
struct CompletionFields {
    data: Value,
    id: Option<EventIdInput>,
    executionunits: Option<f64>,
    domain: Option<Vec<DomainSpec>>,
}

fn completion_fields(output: Value) -> Result<CompletionFields, HandlerError> {
    // Without a `__` key (the usual output) there is nothing to take out: no key lookups.
    let mut map = match output {
        Value::Object(map) if map.keys().any(|k| k.starts_with("__")) => map,
        output => {
            return Ok(CompletionFields {
                data: output,
                id: None,
                executionunits: None,
                domain: None,
            });
        }
    };
    let id = match map.shift_remove("__id") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let value = v
                .get("value")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            match v.get("deduplication").and_then(Value::as_str) {
                Some("ARVO_MANAGED") => Some(EventIdInput::ArvoManaged(value)),
                Some("DEVELOPER_MANAGED") => Some(EventIdInput::DeveloperManaged(value)),
                _ => {
                    return Err(HandlerError::msg(format!(
                        "Invalid machine output: __id must be {{\"deduplication\": \"ARVO_MANAGED\" | \"DEVELOPER_MANAGED\", \"value\": string}}, got {}",
                        quoted(&v)
                    )));
                }
            }
        }
    };
    let executionunits = match map.shift_remove("__executionunits") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_f64().ok_or_else(|| {
            HandlerError::msg(format!(
                "Invalid machine output: __executionunits must be a number, got {}",
                quoted(&v)
            ))
        })?),
    };
    let domain = match map.shift_remove("__domain") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            let mut specs = Vec::with_capacity(items.len());
            for item in &items {
                let spec = match item {
                    Value::Null => DomainSpec::from_reference(None),
                    Value::String(s) => DomainSpec::from_reference(Some(s)),
                    other => {
                        return Err(HandlerError::msg(format!(
                            "Invalid machine output: __domain items must be strings or null, got {}",
                            quoted(other)
                        )));
                    }
                };
                specs.push(spec.map_err(|e| {
                    HandlerError::msg(format!("Invalid machine output: __domain: {e}"))
                })?);
            }
            Some(specs)
        }
        Some(v) => {
            return Err(HandlerError::msg(format!(
                "Invalid machine output: __domain must be a list of domains, got {}",
                quoted(&v)
            )));
        }
    };
    Ok(CompletionFields {
        data: Value::Object(map),
        id,
        executionunits,
        domain,
    })
}

impl<C: Context> OrchestratorCore<C> {
    async fn run(
        &self,
        input: CoreInput<'_, MachineRecord<C>>,
    ) -> Result<CoreOutput<MachineRecord<C>>, CoreError> {
        let CoreInput {
            event,
            subject,
            state,
            parent_subject,
            init_event_id,
            headers,
            otel_context: _,
        } = input;
        // Idempotency: a remembered event is answered from the record, nothing runs again.
        if let Some(produced) = state.as_ref().and_then(|s| s.produced_for(event.id())) {
            return Ok(CoreOutput {
                events: produced.to_vec(),
                record: None,
            });
        }
        let content = subject.content();
        let Some(index) = self.registry.machines.iter().position(|m| {
            m.version().as_str() == content.orchestrator.version
                && m.source() == content.orchestrator.name
        }) else {
            return Err(Violation::config(format!(
                "Machine resolution failed: No machine found matching orchestrator name='{}' and version='{}'.",
                crate::issue::quote_prefix(&content.orchestrator.name),
                crate::issue::quote_prefix(&content.orchestrator.version)
            ))
            .into());
        };
        let machine = &self.registry.machines[index];
        let entry = &self.entries[index];
        orchestration::validate_input(
            event,
            machine.source(),
            |_| Ok(std::borrow::Cow::Borrowed(machine.contract())),
            &machine.service_list,
            "machine",
        )?;
        if let Some(s) = &state
            && s.status == MachineStatus::Done
        {
            tracing::info!(
                "The orchestration has already reached the terminal state. Ignoring event(id={})",
                event.id()
            );
            return Ok(CoreOutput {
                events: Vec::new(),
                record: None,
            });
        }
        let (snapshot, mut processed, previous) = match state {
            Some(prev) => {
                let MachineRecord {
                    state,
                    events,
                    processed,
                    ..
                } = *prev;
                (Some(state), processed, Some(events))
            }
            None => (None, Vec::new(), None),
        };
        let step = machine
            .execute(snapshot, event)
            .map_err(CoreError::Failure)?;
        let mut raws = step.events;
        // A raw event without domains gets the default service domains; `None` already means
        // the usual default (`[Local]`), so that list is not copied into every event.
        let services = &self.settings.domains().services;
        let default_services = matches!(services.as_slice(), [DomainSpec::Local]);
        for r in &mut raws {
            if r.domain.is_none() && !default_services {
                r.domain = Some(services.clone());
            }
        }
        let done = step.snapshot.status == MachineStatus::Done;
        if let Some(out) = step.output {
            let fields = completion_fields(out).map_err(CoreError::Failure)?;
            let meta = &content.meta;
            let to = meta
                .get("redirectto")
                .map_or(content.execution.initiator.as_str(), String::as_str);
            let complete_type = match machine.contract().kind() {
                ContractKind::Orchestrator { complete_type, .. } => complete_type.as_str(),
                _ => self.settings.contract().complete_type(),
            };
            let mut raw = RawOutput::new(complete_type, fields.data).to(to);
            raw.id = fields.id;
            raw.executionunits = fields.executionunits;
            raw.domain = Some(
                fields
                    .domain
                    .unwrap_or_else(|| self.settings.domains().complete.clone()),
            );
            push_output(&mut raws, raw);
        }
        let parent_content = match parent_subject {
            Some(p) => self.cache.get_or_parse(p).ok(),
            None => None,
        };
        let ctx = EmitContext {
            source: self.settings.source(),
            source_uri: &self.settings.source_uri,
            self_dataschema: &entry.self_dataschema,
            service_uris: &entry.service_uris,
            executionunits: self.settings.executionunits(),
            self_version: machine.contract(),
            services: &machine.service_list,
            event,
            subject,
            parent_subject,
            parent_content: parent_content.as_ref().map(Subject::content),
            init_event_id,
            headers,
        };
        let emitted = create_emittables(&ctx, raws)?;
        if let Some(prev) = previous
            && self.window > 1
        {
            // Exact growth: the list lives in the record as long as the workflow.
            processed.reserve_exact(1);
            processed.push(ProcessedEvent {
                id: prev.consumed.id().to_owned(),
                produced: prev.produced,
            });
        }
        let excess = processed
            .len()
            .saturating_sub(self.window.saturating_sub(1));
        processed.drain(..excess);
        if done {
            self.cache.remove(event.subject());
        }
        let snapshot = step.snapshot;
        let record = MachineRecord {
            init_event_id: Arc::clone(init_event_id),
            subject: Arc::clone(event.shared_subject()),
            parent_subject: parent_subject.map(str::to_owned),
            status: snapshot.status,
            value: snapshot.value.clone(),
            state: snapshot,
            events: MachineEvents {
                consumed: event.clone(),
                produced: emitted.clone(),
            },
            machine_definition: None,
            processed,
        };
        Ok(CoreOutput {
            events: emitted,
            record: Some(Box::new(record)),
        })
    }
}

impl<C: Context> OrchestrationCore for OrchestratorCore<C> {
    type Record = MachineRecord<C>;

    fn step<'a>(
        &'a self,
        input: CoreInput<'a, Self::Record>,
    ) -> impl Future<Output = Result<CoreOutput<Self::Record>, CoreError>> + Send + 'a {
        self.run(input)
    }
}
