//! Orchestrator contracts (`createArvoOrchestratorContract`, `ArvoOrchestratorEventTypeGen`).

use super::{ArvoContract, ContractError, ContractKind, Schema, SchemaError};
use arvo_rules::ORCHESTRATOR_PREFIX;
use serde_json::{Map, Value};
use std::ops::Deref;

/// The field injected into every orchestrator init payload: the parent's subject, or `null`
/// for a root orchestration.
pub const PARENT_SUBJECT_FIELD: &str = "parentSubject$$";

/// The exact description the reference exports for [`PARENT_SUBJECT_FIELD`].
pub const PARENT_SUBJECT_DESCRIPTION: &str = "Identifies the subject of the parent process or event in the ArvoEvent system.\nPurpose:\n1. Enables the orchestrator to return its final output to the initiating process or orchestrator.\n2. Maintains the event chain and process hierarchy in a distributed system.\n3. Facilitates proper event routing and traceability.\nUsage:\n- For non-root processes: Set to the subject of the parent process/orchestrator.\n- For root processes/orchestrations: Must be set to null.\nThis field aligns with the ArvoEvent 'subject' field, which is a URI identifying the event's subject.\nIt plays a crucial role in distributed tracing, debugging, and maintaining system coherence.\nExample:\n- Parent process subject: \"process/parent-id-123\"\n- Child process parentSubject$$: \"process/parent-id-123\"\nNote: Ensure this value is a valid URI as per ArvoEvent specifications.";

/// `arvo.orc.<name>`.
pub fn orchestrator_init_type(name: &str) -> String {
    format!("{ORCHESTRATOR_PREFIX}.{name}")
}

/// `arvo.orc.<name>.done`.
pub fn orchestrator_complete_type(name: &str) -> String {
    format!("{ORCHESTRATOR_PREFIX}.{name}.done")
}

/// `sys.arvo.orc.<name>.error`.
pub fn orchestrator_system_error_type(name: &str) -> String {
    format!("sys.{ORCHESTRATOR_PREFIX}.{name}.error")
}

fn parent_subject_schema() -> Value {
    let mut m = Map::with_capacity(2);
    m.insert(
        "anyOf".to_owned(),
        serde_json::json!([{"type": "string", "minLength": 1}, {"type": "null"}]),
    );
    m.insert(
        "description".to_owned(),
        Value::String(PARENT_SUBJECT_DESCRIPTION.to_owned()),
    );
    Value::Object(m)
}

/// zod's `OrchestrationInitEventBaseSchema.merge(init)` as zod-to-json-schema exports it:
/// `parentSubject$$` first, then the init properties (init wins on a name clash, keeping the
/// first position); `required` in property order; the init's `additionalProperties`; the init's
/// `definitions`/`$defs` kept for its `$ref`s. `None` when `init` is not an object schema.
pub(crate) fn merge_init_schema(init: &Schema) -> Option<Result<Schema, SchemaError>> {
    let init = init.as_json().as_object()?;
    let is_object = init.get("type").and_then(Value::as_str) == Some("object")
        || init.contains_key("properties");
    if !is_object {
        return None;
    }
    let init_props = match init.get("properties") {
        Some(Value::Object(p)) => p.clone(),
        None => Map::new(),
        Some(_) => return None,
    };
    let init_required: Vec<&str> = init
        .get("required")
        .and_then(Value::as_array)
        .map_or_else(Vec::new, |r| r.iter().filter_map(Value::as_str).collect());
    let mut props = Map::with_capacity(init_props.len() + 1);
    props.insert(PARENT_SUBJECT_FIELD.to_owned(), parent_subject_schema());
    let mut required = Vec::new();
    let parent_overridden = init_props.contains_key(PARENT_SUBJECT_FIELD);
    for (k, v) in init_props {
        props.insert(k, v);
    }
    for k in props.keys() {
        let req = if k == PARENT_SUBJECT_FIELD && !parent_overridden {
            true
        } else {
            init_required.contains(&k.as_str())
        };
        if req {
            required.push(Value::String(k.clone()));
        }
    }
    let mut merged = Map::new();
    merged.insert("type".to_owned(), Value::String("object".to_owned()));
    merged.insert("properties".to_owned(), Value::Object(props));
    if !required.is_empty() {
        merged.insert("required".to_owned(), Value::Array(required));
    }
    if let Some(ap) = init.get("additionalProperties") {
        merged.insert("additionalProperties".to_owned(), ap.clone());
    }
    for key in ["definitions", "$defs"] {
        if let Some(d) = init.get(key) {
            merged.insert(key.to_owned(), d.clone());
        }
    }
    Some(Schema::new(Value::Object(merged)))
}

/// A contract built by [`ArvoContract::orchestrator`]: a distinct type, so the orchestrator
/// event factory and orchestrators cannot be handed an ordinary contract. Derefs to
/// [`ArvoContract`].
#[derive(Debug, Clone, PartialEq)]
pub struct OrchestratorContract(ArvoContract);

impl OrchestratorContract {
    pub(crate) fn new_unchecked(c: ArvoContract) -> Self {
        OrchestratorContract(c)
    }

    /// The orchestrator name (`bench.calc`).
    pub fn name(&self) -> &str {
        match self.0.kind() {
            ContractKind::Orchestrator { name, .. } => name,
            _ => "",
        }
    }

    /// `arvo.orc.<name>` (the contract type).
    pub fn init_type(&self) -> &str {
        self.0.event_type()
    }

    /// `arvo.orc.<name>.done`.
    pub fn complete_type(&self) -> &str {
        match self.0.kind() {
            ContractKind::Orchestrator { complete_type, .. } => complete_type,
            _ => "",
        }
    }

    /// The underlying contract.
    pub fn as_contract(&self) -> &ArvoContract {
        &self.0
    }

    /// The underlying contract, by value.
    pub fn into_contract(self) -> ArvoContract {
        self.0
    }
}

impl Deref for OrchestratorContract {
    type Target = ArvoContract;
    fn deref(&self) -> &ArvoContract {
        &self.0
    }
}

impl From<OrchestratorContract> for ArvoContract {
    fn from(c: OrchestratorContract) -> Self {
        c.0
    }
}

impl TryFrom<ArvoContract> for OrchestratorContract {
    type Error = ContractError;
    fn try_from(c: ArvoContract) -> Result<Self, ContractError> {
        if c.is_orchestrator() {
            Ok(OrchestratorContract(c))
        } else {
            Err(ContractError::NotAnOrchestrator {
                uri: c.uri().to_owned(),
            })
        }
    }
}
