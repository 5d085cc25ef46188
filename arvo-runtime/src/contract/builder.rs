//! Contract builders: plain, simple and orchestrator contracts, with the reference's checks.

use super::orchestrator::{self, OrchestratorContract};
use super::{
    ArvoContract, ArvoVersion, ContractError, ContractKind, EventSchema, Inner,
    ORCHESTRATOR_CONTRACT_TYPE, SIMPLE_CONTRACT_TYPE, Schema, SystemErrorSchema, VersionEntry,
};
use crate::issue::{Issue, Issues};
use crate::violation::arvo_error_schema;
use arvo_rules::{
    WILDCARD_VERSION, is_arvo_version, is_domain, is_event_type, is_orchestrator_event_type,
    validate_uri,
};
use indexmap::IndexMap;
use serde_json::{Map, Value};
use std::sync::Arc;

/// One version of a contract: the accepts schema and the emitted types with their schemas
/// (insertion order; declaring a type twice replaces its schema in place, as a JS object would).
#[derive(Debug, Clone)]
pub struct VersionSpec {
    accepts: Schema,
    emits: IndexMap<String, Schema>,
}

impl VersionSpec {
    /// A version accepting `accepts` and emitting nothing yet.
    pub fn new(accepts: Schema) -> Self {
        VersionSpec {
            accepts,
            emits: IndexMap::new(),
        }
    }

    /// Adds (or replaces) an emitted event type.
    pub fn emit(mut self, event_type: impl Into<String>, schema: Schema) -> Self {
        self.emits.insert(event_type.into(), schema);
        self
    }
}

/// What every contract builder collects: the uri, its name (the accepted type, the simple root
/// type or the orchestrator name), the optional fields and the versions in insertion order.
#[derive(Debug, Clone)]
struct Fields<V> {
    uri: String,
    name: String,
    domain: Option<String>,
    description: Option<String>,
    metadata: Map<String, Value>,
    /// By version; a version given again replaces its value in place, as a JS object key would
    /// (`IndexMap::insert`: hashed, so many versions build in linear time).
    versions: IndexMap<String, V>,
}

impl<V> Fields<V> {
    fn new(uri: String, name: String) -> Self {
        Fields {
            uri,
            name,
            domain: None,
            description: None,
            metadata: Map::new(),
            versions: IndexMap::new(),
        }
    }

    /// Adds a version, or replaces it in place.
    fn upsert(&mut self, key: String, value: V) {
        self.versions.insert(key, value);
    }
}

impl Fields<VersionSpec> {
    fn into_params(self, kind: ContractKind) -> Params {
        Params {
            uri: self.uri,
            event_type: self.name,
            domain: self.domain,
            description: self.description,
            metadata: self.metadata,
            versions: self.versions.into_iter().collect(),
            kind,
        }
    }
}

/// The setters every contract builder shares.
macro_rules! common_setters {
    ($metadata_doc:literal) => {
        /// Sets the (informational) domain.
        pub fn domain(mut self, domain: impl Into<String>) -> Self {
            self.fields.domain = Some(domain.into());
            self
        }

        /// Sets the description.
        pub fn description(mut self, description: impl Into<String>) -> Self {
            self.fields.description = Some(description.into());
            self
        }

        #[doc = $metadata_doc]
        pub fn metadata(mut self, metadata: Map<String, Value>) -> Self {
            self.fields.metadata = metadata;
            self
        }
    };
}

/// Builder of a plain contract (`createArvoContract`).
///
/// ```
/// use arvo_runtime::contract::{ArvoContract, ContractError, Schema, VersionSpec};
/// let any = Schema::new(serde_json::json!({}))?;
/// let err = ArvoContract::builder("#/x", "arvo.orc.sneaky")
///     .version("1.0.0", VersionSpec::new(any))
///     .build()
///     .unwrap_err();
/// assert!(matches!(err, ContractError::ReservedAcceptsType { .. }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ContractBuilder {
    fields: Fields<VersionSpec>,
}

impl ContractBuilder {
    /// A contract with this uri and accepted event type.
    pub fn new(uri: impl Into<String>, event_type: impl Into<String>) -> Self {
        ContractBuilder {
            fields: Fields::new(uri.into(), event_type.into()),
        }
    }

    common_setters!("Replaces the metadata.");

    /// Adds (or replaces) a version.
    pub fn version(mut self, version: impl Into<String>, spec: VersionSpec) -> Self {
        self.fields.upsert(version.into(), spec);
        self
    }

    /// Checks everything in the reference's order and builds the contract.
    pub fn build(self) -> Result<ArvoContract, ContractError> {
        let f = self.fields;
        if is_orchestrator_event_type(&f.name) {
            return Err(ContractError::ReservedAcceptsType {
                uri: f.uri,
                event_type: f.name,
            });
        }
        for (version, spec) in &f.versions {
            if let Some((t, _)) = spec
                .emits
                .iter()
                .find(|(t, _)| is_orchestrator_event_type(t))
            {
                return Err(ContractError::ReservedEmitType {
                    uri: f.uri.clone(),
                    version: version.clone(),
                    event_type: t.clone(),
                });
            }
        }
        construct(f.into_params(ContractKind::Plain))
    }
}

/// Builder of a simple contract (`createSimpleArvoContract`): type `com.<root>`, emit
/// `evt.<root>.success`, metadata `{...user, contractType: "SimpleArvoContract", rootType}`.
///
/// ```
/// use arvo_runtime::contract::{ArvoContract, Schema};
/// let any = Schema::new(serde_json::json!({}))?;
/// let c = ArvoContract::simple("#/simple/test", "simple.test").version("1.0.0", any.clone(), any).build()?;
/// assert_eq!(c.event_type(), "com.simple.test");
/// assert_eq!(c.latest().emit_list()[0].event_type, "evt.simple.test.success");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct SimpleContractBuilder {
    fields: Fields<(Schema, Schema)>,
}

impl SimpleContractBuilder {
    /// A simple contract for `root_type` (`calc.add` gives `com.calc.add`).
    pub fn new(uri: impl Into<String>, root_type: impl Into<String>) -> Self {
        SimpleContractBuilder {
            fields: Fields::new(uri.into(), root_type.into()),
        }
    }

    common_setters!(
        "Replaces the user metadata (`contractType` and `rootType` are then set over it)."
    );

    /// Adds (or replaces) a version with its accepts and success-emit schemas.
    pub fn version(mut self, version: impl Into<String>, accepts: Schema, emits: Schema) -> Self {
        self.fields.upsert(version.into(), (accepts, emits));
        self
    }

    /// Builds through the plain-contract rules (reserved prefix included).
    pub fn build(self) -> Result<ArvoContract, ContractError> {
        let f = self.fields;
        let root_type = f.name;
        let success = format!("evt.{root_type}.success");
        let mut metadata = f.metadata;
        metadata.insert(
            "contractType".to_owned(),
            Value::String(SIMPLE_CONTRACT_TYPE.to_owned()),
        );
        metadata.insert("rootType".to_owned(), Value::String(root_type.clone()));
        let mut plain = Fields::new(f.uri, format!("com.{root_type}"));
        plain.domain = f.domain;
        plain.description = f.description;
        plain.metadata = metadata;
        plain.versions = f
            .versions
            .into_iter()
            .map(|(v, (accepts, emits))| {
                (v, VersionSpec::new(accepts).emit(success.clone(), emits))
            })
            .collect();
        let mut contract = ContractBuilder { fields: plain }.build()?;
        if let Some(inner) = Arc::get_mut(&mut contract.0) {
            inner.kind = ContractKind::Simple { root_type };
        }
        Ok(contract)
    }
}

/// Builder of an orchestrator contract (`createArvoOrchestratorContract`): type
/// `arvo.orc.<name>`, accepts = `parentSubject$$` merged with each version's `init` schema,
/// emits `arvo.orc.<name>.done` with the `complete` schema.
///
/// ```
/// use arvo_runtime::contract::{ArvoContract, Schema};
/// use serde_json::json;
/// let init = Schema::new(json!({"type":"object","properties":{"a":{"type":"number"}},"required":["a"],"additionalProperties":false}))?;
/// let done = Schema::new(json!({"type":"object","properties":{},"additionalProperties":false}))?;
/// let c = ArvoContract::orchestrator("#/orc/calc", "bench.calc").version("1.0.0", init, done).build()?;
/// assert_eq!(c.complete_type(), "arvo.orc.bench.calc.done");
/// let latest = c.latest();
/// let accepts = &latest.accepts().schema;
/// assert!(accepts.validate(&json!({"parentSubject$$": null, "a": 1})).is_ok());
/// assert!(accepts.validate(&json!({"a": 1})).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct OrchestratorContractBuilder {
    fields: Fields<(Schema, Schema)>,
}

impl OrchestratorContractBuilder {
    /// An orchestrator contract named `name` (`^[a-z0-9.]+$`).
    pub fn new(uri: impl Into<String>, name: impl Into<String>) -> Self {
        OrchestratorContractBuilder {
            fields: Fields::new(uri.into(), name.into()),
        }
    }

    common_setters!(
        "Replaces the user metadata (the four orchestrator keys are then set over it)."
    );

    /// Adds (or replaces) a version with its `init` (object) and `complete` schemas.
    pub fn version(mut self, version: impl Into<String>, init: Schema, complete: Schema) -> Self {
        self.fields.upsert(version.into(), (init, complete));
        self
    }

    /// Checks the name, merges the init schemas and builds (without the reserved-prefix check).
    pub fn build(self) -> Result<OrchestratorContract, ContractError> {
        let f = self.fields;
        let name = f.name;
        if !is_domain(&name) {
            return Err(ContractError::OrchestratorName { name });
        }
        let init_type = orchestrator::orchestrator_init_type(&name);
        let complete_type = orchestrator::orchestrator_complete_type(&name);
        let mut metadata = f.metadata;
        for (k, v) in [
            ("contractType", ORCHESTRATOR_CONTRACT_TYPE),
            ("rootType", name.as_str()),
            ("completeEventType", complete_type.as_str()),
            ("initEventType", init_type.as_str()),
        ] {
            metadata.insert(k.to_owned(), Value::String(v.to_owned()));
        }
        let mut plain = Fields::new(f.uri, init_type.clone());
        plain.domain = f.domain;
        plain.description = f.description;
        plain.metadata = metadata;
        for (version, (init, complete)) in f.versions {
            let accepts = orchestrator::merge_init_schema(&init).ok_or_else(|| {
                ContractError::InitSchemaNotObject {
                    uri: plain.uri.clone(),
                    version: version.clone(),
                }
            })??;
            plain.versions.insert(
                version,
                VersionSpec::new(accepts).emit(complete_type.clone(), complete),
            );
        }
        let contract = construct(plain.into_params(ContractKind::Orchestrator {
            name,
            init_type,
            complete_type,
        }))?;
        Ok(OrchestratorContract::new_unchecked(contract))
    }
}

struct Params {
    uri: String,
    event_type: String,
    domain: Option<String>,
    description: Option<String>,
    metadata: Map<String, Value>,
    versions: Vec<(String, VersionSpec)>,
    kind: ContractKind,
}

fn type_issues(t: &str) -> Issues {
    let mut issues = Issues::default();
    if t.is_empty() {
        issues.push(Issue::too_small(&[], 1, "Type must be a non-empty string"));
    }
    if !is_event_type(t) {
        issues.push(Issue::regex(
            &[],
            "Type should be prefixed with a reverse-DNS name",
        ));
    }
    issues
}

/// The `new ArvoContract(params)` checks, in order; the first failure is returned.
fn construct(p: Params) -> Result<ArvoContract, ContractError> {
    let mut issues = Issues::default();
    if p.uri.is_empty() {
        issues.push(Issue::too_small(&[], 1, "URI must be a non-empty string"));
    }
    if !validate_uri(&p.uri) {
        issues.push(Issue::custom(&[], "The URI must a valid URI string"));
    }
    if !issues.is_empty() {
        return Err(ContractError::Uri { uri: p.uri, issues });
    }
    let issues = type_issues(&p.event_type);
    if !issues.is_empty() {
        return Err(ContractError::Type {
            event_type: p.event_type,
            issues,
        });
    }
    if let Some(d) = &p.domain {
        let mut issues = Issues::default();
        if d.is_empty() {
            issues.push(Issue::too_small(
                &[],
                1,
                "The domain must be non-empty string",
            ));
        }
        if !is_domain(d) {
            issues.push(Issue::regex(
                &[],
                "Domain must contain only lowercase letters, numbers, and dots",
            ));
        }
        if !issues.is_empty() {
            return Err(ContractError::Domain {
                domain: d.clone(),
                issues,
            });
        }
    }
    let mut versions = Vec::with_capacity(p.versions.len());
    for (version, spec) in p.versions {
        if !is_arvo_version(&version) {
            let issues = Issues(vec![Issue::regex(
                &[],
                "Invalid version format of the semantic version",
            )]);
            return Err(ContractError::Version { version, issues });
        }
        if version == WILDCARD_VERSION {
            return Err(ContractError::WildcardVersion { uri: p.uri });
        }
        for (t, _) in &spec.emits {
            let issues = type_issues(t);
            if !issues.is_empty() {
                return Err(ContractError::EmitType {
                    version,
                    event_type: t.clone(),
                    issues,
                });
            }
        }
        let parsed = ArvoVersion::parse(&version).map_err(|_| ContractError::Version {
            version: version.clone(),
            issues: Issues(vec![Issue::regex(
                &[],
                "Invalid version format of the semantic version",
            )]),
        })?;
        versions.push(VersionEntry {
            dataschema: super::dataschema::build(&p.uri, &version),
            version: parsed,
            accepts: EventSchema {
                event_type: p.event_type.clone(),
                schema: spec.accepts,
            },
            emits: spec
                .emits
                .into_iter()
                .map(|(event_type, schema)| EventSchema { event_type, schema })
                .collect(),
        });
    }
    if versions.is_empty() {
        return Err(ContractError::NoVersions { uri: p.uri });
    }
    let mut asc: Vec<usize> = (0..versions.len()).collect();
    asc.sort_by(|&a, &b| match (versions.get(a), versions.get(b)) {
        (Some(a), Some(b)) => a.version.cmp_numeric(&b.version),
        _ => std::cmp::Ordering::Equal,
    });
    let system_error = SystemErrorSchema {
        event_type: format!("sys.{}.error", p.event_type),
        schema: arvo_error_schema(),
        dataschema: super::dataschema::build(&p.uri, WILDCARD_VERSION),
    };
    Ok(ArvoContract(Arc::new(Inner {
        uri: p.uri,
        event_type: p.event_type,
        domain: p.domain,
        description: p.description,
        metadata: p.metadata,
        versions,
        kind: p.kind,
        system_error,
        asc,
    })))
}
