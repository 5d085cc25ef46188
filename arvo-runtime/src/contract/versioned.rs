//! One version of a contract (`VersionedArvoContract`).

use super::{
    ArvoContract, ArvoVersion, ContractKind, EventSchema, SystemErrorSchema, VersionEntry, opt,
    system_error_json,
};
use serde_json::{Map, Value};

/// A view of one version of a contract (owned; cloning costs one `Arc` increment).
///
/// ```
/// use arvo_runtime::contract::{ArvoContract, Schema, VersionSpec};
/// let s = Schema::new(serde_json::json!({}))?;
/// let c = ArvoContract::builder("#/c", "com.a.b").version("1.0.0", VersionSpec::new(s.clone()).emit("evt.a.b", s)).build()?;
/// let v = c.version("1.0.0")?;
/// assert_eq!(v.system_error().dataschema, "#/c/0.0.0");
/// assert!(v.emit("evt.a.b").is_some());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct VersionedContract {
    contract: ArvoContract,
    index: usize,
}

impl std::fmt::Debug for VersionedContract {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VersionedContract")
            .field("uri", &self.uri())
            .field("version", &self.version().as_str())
            .finish()
    }
}

impl PartialEq for VersionedContract {
    fn eq(&self, other: &Self) -> bool {
        self.contract == other.contract && self.index == other.index
    }
}

impl VersionedContract {
    pub(crate) fn new(contract: ArvoContract, index: usize) -> Self {
        debug_assert!(index < contract.0.versions.len());
        VersionedContract { contract, index }
    }

    fn entry(&self) -> &VersionEntry {
        // `index` is always in range: only `ArvoContract` creates views, from its own indices,
        // and a contract has at least one version.
        match self.contract.0.versions.get(self.index) {
            Some(e) => e,
            None => &self.contract.0.versions[0],
        }
    }

    /// The whole contract.
    pub fn contract(&self) -> &ArvoContract {
        &self.contract
    }

    /// The contract uri.
    pub fn uri(&self) -> &str {
        &self.contract.0.uri
    }

    /// This version.
    pub fn version(&self) -> &ArvoVersion {
        &self.entry().version
    }

    /// The contract description.
    pub fn description(&self) -> Option<&str> {
        self.contract.description()
    }

    /// The contract domain.
    pub fn domain(&self) -> Option<&str> {
        self.contract.domain()
    }

    /// The contract metadata.
    pub fn metadata(&self) -> &Map<String, Value> {
        self.contract.metadata()
    }

    /// How the contract was built.
    pub fn kind(&self) -> &ContractKind {
        self.contract.kind()
    }

    /// The accepted event: `{type: contract type, schema}`.
    pub fn accepts(&self) -> &EventSchema {
        &self.entry().accepts
    }

    /// The emitted events, in insertion order (`emitList`).
    pub fn emit_list(&self) -> &[EventSchema] {
        &self.entry().emits
    }

    /// The schema of one emitted type (`emits[type]`).
    pub fn emit(&self, event_type: &str) -> Option<&EventSchema> {
        self.entry()
            .emits
            .iter()
            .find(|e| e.event_type == event_type)
    }

    /// The system error: `sys.<type>.error`, `ArvoErrorSchema`, dataschema `<uri>/0.0.0`.
    pub fn system_error(&self) -> &SystemErrorSchema {
        &self.contract.0.system_error
    }

    /// `<uri>/<version>`.
    pub fn dataschema(&self) -> &str {
        &self.entry().dataschema
    }

    /// The reference's `VersionedArvoContract.toJsonSchema()`, key order included:
    /// `{uri, description, domain, version, metadata, accepts, systemError, emits}`.
    pub fn to_json_schema(&self) -> Value {
        let c = &self.contract.0;
        let e = self.entry();
        let mut m = Map::with_capacity(8);
        m.insert("uri".to_owned(), Value::String(c.uri.clone()));
        m.insert("description".to_owned(), opt(&c.description));
        m.insert("domain".to_owned(), opt(&c.domain));
        m.insert("version".to_owned(), Value::String(e.version.to_string()));
        m.insert("metadata".to_owned(), Value::Object(c.metadata.clone()));
        m.insert("accepts".to_owned(), e.accepts.to_json_schema());
        m.insert("systemError".to_owned(), system_error_json(&c.system_error));
        m.insert(
            "emits".to_owned(),
            Value::Array(e.emits.iter().map(EventSchema::to_json_schema).collect()),
        );
        Value::Object(m)
    }
}
