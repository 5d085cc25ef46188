//! Contracts: what a service accepts and emits, per version.
//!
//! An [`ArvoContract`] is built once with a builder ([`ArvoContract::builder`],
//! [`ArvoContract::simple`], [`ArvoContract::orchestrator`]), which applies the reference's
//! checks in its order with its messages ([`ContractError`]). A contract holds its versions in
//! insertion order; [`ArvoContract::version`] gives a [`VersionedContract`], the view that
//! handlers and event factories use. Payload schemas are [`Schema`]s: JSON Schema exported as
//! the reference does, validated with a validator compiled once.
//!
//! ```
//! use arvo_runtime::contract::{ArvoContract, Schema, VersionSpec};
//! use serde_json::json;
//! let add = Schema::new(json!({"type":"object","properties":{"a":{"type":"number"}},"required":["a"],"additionalProperties":false}))?;
//! let done = Schema::new(json!({"type":"object","properties":{},"additionalProperties":false}))?;
//! let contract = ArvoContract::builder("#/calc/add", "com.calc.add")
//!     .version("1.0.0", VersionSpec::new(add).emit("evt.calc.add.success", done))
//!     .build()?;
//! assert_eq!(contract.system_error_type(), "sys.com.calc.add.error");
//! let v = contract.version("latest")?;
//! assert_eq!(v.dataschema(), "#/calc/add/1.0.0");
//! assert!(v.accepts().schema.validate(&json!({"a": 1})).is_ok());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod builder;
pub mod dataschema;
mod orchestrator;
mod schema;
mod version;
mod versioned;

pub use builder::{
    ContractBuilder, OrchestratorContractBuilder, SimpleContractBuilder, VersionSpec,
};
pub use orchestrator::{
    OrchestratorContract, PARENT_SUBJECT_DESCRIPTION, PARENT_SUBJECT_FIELD,
    orchestrator_complete_type, orchestrator_init_type, orchestrator_system_error_type,
};
pub use schema::{DRAFT_07, MAX_ISSUES, Schema, SchemaError};
pub use version::{ArvoVersion, VersionError, compare_semantic_versions, parse_semantic_version};
pub use versioned::VersionedContract;

use crate::issue::Issues;
use serde_json::{Map, Value};
use std::sync::Arc;

/// `metadata.contractType` of simple contracts.
pub const SIMPLE_CONTRACT_TYPE: &str = "SimpleArvoContract";
/// `metadata.contractType` of orchestrator contracts.
pub const ORCHESTRATOR_CONTRACT_TYPE: &str = "ArvoOrchestratorContract";

/// Why a contract could not be built or a version looked up. Zod-checked fields carry their
/// [`Issues`] (displayed as the reference's `ZodError` message); the rest display the
/// reference's plain texts.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ContractError {
    /// The uri is empty (`URI must be a non-empty string`) or not a valid URI
    /// (`The URI must a valid URI string`, sic).
    #[error("{issues}")]
    Uri {
        /// The refused uri.
        uri: String,
        /// The zod issues.
        issues: Issues,
    },
    /// The contract type is empty or not a reverse-DNS event type.
    #[error("{issues}")]
    Type {
        /// The refused type.
        event_type: String,
        /// The zod issues.
        issues: Issues,
    },
    /// The domain is empty or has characters other than `[a-z0-9.]`.
    #[error("{issues}")]
    Domain {
        /// The refused domain.
        domain: String,
        /// The zod issues.
        issues: Issues,
    },
    /// A version key is not `^\d+\.\d+\.\d+$`.
    #[error("{issues}")]
    Version {
        /// The refused version key.
        version: String,
        /// The zod issues.
        issues: Issues,
    },
    /// A version key is the reserved wildcard `0.0.0`.
    #[error(
        "For contract (uri={uri}), the version cannot be '0.0.0'. It is a reserved version type."
    )]
    WildcardVersion {
        /// The contract uri.
        uri: String,
    },
    /// An emit type is empty or not a reverse-DNS event type.
    #[error("{issues}")]
    EmitType {
        /// The version declaring it.
        version: String,
        /// The refused emit type.
        event_type: String,
        /// The zod issues.
        issues: Issues,
    },
    /// The contract has no version.
    #[error("An ArvoContract (uri={uri}) must have at least one version")]
    NoVersions {
        /// The contract uri.
        uri: String,
    },
    /// A plain contract's type starts with the reserved `arvo.orc`.
    #[error(
        "In contract (uri={uri}), the 'accepts' event (type={event_type}) must not start\nwith 'arvo.orc' because this is a reserved pattern\nfor Arvo orchestrators."
    )]
    ReservedAcceptsType {
        /// The contract uri.
        uri: String,
        /// The refused type.
        event_type: String,
    },
    /// A plain contract's emit type starts with the reserved `arvo.orc`.
    #[error(
        "In contract (uri={uri}, version={version}), the 'emits' event (type={event_type}) must not start\nwith 'arvo.orc' because this is a reserved pattern\nfor Arvo orchestrators."
    )]
    ReservedEmitType {
        /// The contract uri.
        uri: String,
        /// The version declaring it.
        version: String,
        /// The refused type.
        event_type: String,
    },
    /// [`ArvoContract::version`] was asked for a version the contract lacks.
    #[error("The contract (uri={uri}) does not have version={version}")]
    UnknownVersion {
        /// The contract uri.
        uri: String,
        /// The requested version (or selector), a bounded prefix
        /// ([`quote_prefix`](crate::issue::quote_prefix)).
        version: String,
    },
    /// An orchestrator name has characters other than `[a-z0-9.]`.
    #[error(
        "Invalid 'name' = '{name}'. The 'name' must only contain alphanumeric characters. e.g. test.orchestrator"
    )]
    OrchestratorName {
        /// The refused name.
        name: String,
    },
    /// An orchestrator `init` schema is not an object schema, so `parentSubject$$` cannot be
    /// merged into it.
    #[error(
        "In orchestrator contract (uri={uri}, version={version}), the 'init' schema must be an object schema"
    )]
    InitSchemaNotObject {
        /// The contract uri.
        uri: String,
        /// The version declaring it.
        version: String,
    },
    /// A contract used as an orchestrator contract was not built as one.
    #[error("The contract (uri={uri}) is not an ArvoOrchestratorContract")]
    NotAnOrchestrator {
        /// The contract uri.
        uri: String,
    },
    /// The merged orchestrator init schema did not compile.
    #[error(transparent)]
    Schema(#[from] SchemaError),
}

/// How a contract was built: the typed form of the reference's `metadata.contractType`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContractKind {
    /// `createArvoContract`.
    Plain,
    /// `createSimpleArvoContract` (`com.<root>` / `evt.<root>.success`).
    Simple {
        /// The `type` given to the builder (`calc.add`).
        root_type: String,
    },
    /// `createArvoOrchestratorContract`.
    Orchestrator {
        /// The orchestrator name (`bench.calc`).
        name: String,
        /// `arvo.orc.<name>`.
        init_type: String,
        /// `arvo.orc.<name>.done`.
        complete_type: String,
    },
}

/// An event type with its payload schema (`{type, schema}` of the reference).
#[derive(Debug, Clone, PartialEq)]
pub struct EventSchema {
    /// The event type.
    pub event_type: String,
    /// Its payload schema.
    pub schema: Schema,
}

impl EventSchema {
    /// `{ "type": ..., "schema": <exported JSON Schema> }`.
    pub fn to_json_schema(&self) -> Value {
        let mut m = Map::with_capacity(2);
        m.insert("type".to_owned(), Value::String(self.event_type.clone()));
        m.insert("schema".to_owned(), self.schema.to_json().clone());
        Value::Object(m)
    }
}

/// A contract's system error: `sys.<type>.error`, the [`ArvoErrorPayload`](crate::violation::ArvoErrorPayload)
/// schema, and the wildcard dataschema `<uri>/0.0.0`.
#[derive(Debug, Clone, PartialEq)]
pub struct SystemErrorSchema {
    /// `sys.<contract type>.error`.
    pub event_type: String,
    /// The `ArvoErrorSchema`.
    pub schema: Schema,
    /// `<uri>/0.0.0`.
    pub dataschema: String,
}

/// Sort direction of [`ArvoContract::sorted_versions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    /// Lowest first.
    Asc,
    /// Highest first.
    Desc,
}

pub(crate) struct VersionEntry {
    pub(crate) version: ArvoVersion,
    pub(crate) accepts: EventSchema,
    pub(crate) emits: Vec<EventSchema>,
    pub(crate) dataschema: String,
}

pub(crate) struct Inner {
    pub(crate) uri: String,
    pub(crate) event_type: String,
    pub(crate) domain: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) metadata: Map<String, Value>,
    pub(crate) versions: Vec<VersionEntry>,
    pub(crate) kind: ContractKind,
    pub(crate) system_error: SystemErrorSchema,
    /// Indices of `versions`, sorted ascending (stable among numerically equal versions).
    pub(crate) asc: Vec<usize>,
}

/// A validated contract (cheap to clone: one `Arc`). Fields are read-only: there is no way to
/// change a built contract.
///
/// ```compile_fail
/// # use arvo_runtime::contract::{ArvoContract, Schema, VersionSpec};
/// let c = ArvoContract::builder("#/c", "com.a.b")
///     .version("1.0.0", VersionSpec::new(Schema::new(serde_json::json!({})).unwrap()))
///     .build()
///     .unwrap();
/// c.uri = String::from("#/other"); // private field: does not compile
/// ```
#[derive(Clone)]
pub struct ArvoContract(pub(crate) Arc<Inner>);

impl std::fmt::Debug for ArvoContract {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArvoContract")
            .field("uri", &self.0.uri)
            .field("type", &self.0.event_type)
            .field("kind", &self.0.kind)
            .field(
                "versions",
                &self
                    .0
                    .versions
                    .iter()
                    .map(|v| v.version.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl PartialEq for ArvoContract {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl ArvoContract {
    /// Starts a plain contract (`createArvoContract`).
    pub fn builder(uri: impl Into<String>, event_type: impl Into<String>) -> ContractBuilder {
        ContractBuilder::new(uri, event_type)
    }

    /// Starts a simple contract (`createSimpleArvoContract`): type `com.<root_type>`, one emit
    /// `evt.<root_type>.success` per version.
    pub fn simple(uri: impl Into<String>, root_type: impl Into<String>) -> SimpleContractBuilder {
        SimpleContractBuilder::new(uri, root_type)
    }

    /// Starts an orchestrator contract (`createArvoOrchestratorContract`).
    pub fn orchestrator(
        uri: impl Into<String>,
        name: impl Into<String>,
    ) -> OrchestratorContractBuilder {
        OrchestratorContractBuilder::new(uri, name)
    }

    /// The contract uri.
    pub fn uri(&self) -> &str {
        &self.0.uri
    }

    /// The type of the events the contract accepts.
    pub fn event_type(&self) -> &str {
        &self.0.event_type
    }

    /// The domain (informational; `None` = `null`).
    pub fn domain(&self) -> Option<&str> {
        self.0.domain.as_deref()
    }

    /// The description (`None` = `null`).
    pub fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// The metadata (ordered JSON object).
    pub fn metadata(&self) -> &Map<String, Value> {
        &self.0.metadata
    }

    /// How the contract was built.
    pub fn kind(&self) -> &ContractKind {
        &self.0.kind
    }

    /// Whether it was built as an orchestrator contract.
    pub fn is_orchestrator(&self) -> bool {
        matches!(self.0.kind, ContractKind::Orchestrator { .. })
    }

    /// `sys.<type>.error`.
    pub fn system_error_type(&self) -> &str {
        &self.0.system_error.event_type
    }

    /// The system error (same for every version).
    pub fn system_error(&self) -> &SystemErrorSchema {
        &self.0.system_error
    }

    /// The version keys in insertion order.
    pub fn versions(&self) -> impl ExactSizeIterator<Item = &ArvoVersion> + '_ {
        self.0.versions.iter().map(|v| &v.version)
    }

    /// Every version, as views, in insertion order.
    pub fn versioned(&self) -> impl ExactSizeIterator<Item = VersionedContract> + '_ {
        (0..self.0.versions.len()).map(|index| VersionedContract::new(self.clone(), index))
    }

    /// The version keys sorted numerically (`getSortedVersionNumbers`).
    pub fn sorted_versions(&self, order: SortOrder) -> Vec<&ArvoVersion> {
        let asc = self
            .0
            .asc
            .iter()
            .filter_map(|&i| self.0.versions.get(i))
            .map(|v| &v.version);
        match order {
            SortOrder::Asc => asc.collect(),
            SortOrder::Desc => {
                // Highest first; among numerically equal versions, first inserted first (as the
                // reference's stable sort does).
                let mut v: Vec<&ArvoVersion> = self.0.versions.iter().map(|v| &v.version).collect();
                v.sort_by(|a, b| b.cmp_numeric(a));
                v
            }
        }
    }

    /// `version(option)`: `latest` / `any` (highest), `oldest` (lowest), or an exact version key;
    /// otherwise [`ContractError::UnknownVersion`].
    pub fn version(&self, selector: &str) -> Result<VersionedContract, ContractError> {
        let index = match selector {
            "latest" | "any" => Some(self.latest_index()),
            "oldest" => self.0.asc.first().copied(),
            v => self.0.versions.iter().position(|e| e.version.as_str() == v),
        };
        index
            .map(|i| VersionedContract::new(self.clone(), i))
            .ok_or_else(|| ContractError::UnknownVersion {
                uri: self.0.uri.clone(),
                version: crate::issue::quote_prefix_owned(selector),
            })
    }

    /// The highest version.
    pub fn latest(&self) -> VersionedContract {
        VersionedContract::new(self.clone(), self.latest_index())
    }

    /// The lowest version.
    pub fn oldest(&self) -> VersionedContract {
        VersionedContract::new(self.clone(), self.0.asc.first().copied().unwrap_or(0))
    }

    fn latest_index(&self) -> usize {
        // The first inserted among the numerically highest.
        let mut best = 0usize;
        for (i, e) in self.0.versions.iter().enumerate() {
            if let Some(b) = self.0.versions.get(best)
                && e.version.cmp_numeric(&b.version).is_gt()
            {
                best = i;
            }
        }
        best
    }

    /// The reference's `ArvoContract.toJsonSchema()`, key order included:
    /// `{uri, domain, description, metadata, versions: [{domain, version, accepts, systemError,
    /// emits, metadata}]}` (no top-level `type`).
    pub fn to_json_schema(&self) -> Value {
        let c = &self.0;
        let mut m = Map::with_capacity(5);
        m.insert("uri".to_owned(), Value::String(c.uri.clone()));
        m.insert("domain".to_owned(), opt(&c.domain));
        m.insert("description".to_owned(), opt(&c.description));
        m.insert("metadata".to_owned(), Value::Object(c.metadata.clone()));
        let versions = c
            .versions
            .iter()
            .map(|v| {
                let mut e = Map::with_capacity(6);
                e.insert("domain".to_owned(), opt(&c.domain));
                e.insert("version".to_owned(), Value::String(v.version.to_string()));
                e.insert("accepts".to_owned(), v.accepts.to_json_schema());
                e.insert("systemError".to_owned(), system_error_json(&c.system_error));
                e.insert(
                    "emits".to_owned(),
                    Value::Array(v.emits.iter().map(EventSchema::to_json_schema).collect()),
                );
                e.insert("metadata".to_owned(), Value::Object(c.metadata.clone()));
                Value::Object(e)
            })
            .collect();
        m.insert("versions".to_owned(), Value::Array(versions));
        Value::Object(m)
    }
}

pub(crate) fn opt(s: &Option<String>) -> Value {
    s.as_ref().map_or(Value::Null, |s| Value::String(s.clone()))
}

pub(crate) fn system_error_json(s: &SystemErrorSchema) -> Value {
    let mut m = Map::with_capacity(2);
    m.insert("type".to_owned(), Value::String(s.event_type.clone()));
    m.insert("schema".to_owned(), s.schema.to_json().clone());
    Value::Object(m)
}
