//! The model every output is generated from: contracts, orchestrators and who calls whom,
//! checked once ([`CatalogueBuilder::build`]) so that rendering cannot fail half-way.

use crate::error::DocsError;
use crate::schema::{self, FieldRow};
use arvo_runtime::contract::{ArvoContract, ContractKind, Schema, SortOrder, VersionedContract};
use arvo_runtime::resumable::{ResumableHandler, ServiceEvents};
use arvo_runtime::typed::{ContractVersion, TypedContract};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// A diagram attached to an orchestrator version. Machines (statecharts) will put their
/// Mermaid `stateDiagram` here; the HTML catalogue shows the source (escaped) under the
/// orchestrator's version, next to the call diagram it draws itself.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Diagram {
    /// Mermaid source text.
    Mermaid(String),
}

/// What an event is to the contract that declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The event a service contract accepts.
    Accepts,
    /// An event a service contract emits.
    Emits,
    /// The init event of an orchestrator (`arvo.orc.<name>`).
    Init,
    /// The completion of an orchestrator (`arvo.orc.<name>.done`).
    Complete,
    /// `sys.<type>.error`.
    SystemError,
}

impl Role {
    /// A short word for the role (`accepts`, `emits`, `init`, `complete`, `system error`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Accepts => "accepts",
            Role::Emits => "emits",
            Role::Init => "init",
            Role::Complete => "complete",
            Role::SystemError => "system error",
        }
    }

    /// Whether the contract's handler receives this event (otherwise it sends it).
    pub fn is_received(self) -> bool {
        matches!(self, Role::Accepts | Role::Init)
    }
}

/// An orchestrator (a resumable today, a machine later): its contract, the service versions
/// each of its versions calls, and optional diagrams.
///
/// ```
/// use arvo_docs::Orchestrator;
/// use arvo_runtime::contract::{ArvoContract, Schema};
/// let s = Schema::new(serde_json::json!({"type": "object", "properties": {}}))?;
/// let flow = ArvoContract::orchestrator("#/flow", "my.flow").version("1.0.0", s.clone(), s.clone()).build()?;
/// let svc = ArvoContract::simple("#/svc", "my.svc").version("1.0.0", s.clone(), s).build()?;
/// let o = Orchestrator::new(flow).label("MyFlow").calls("1.0.0", [svc.version("1.0.0")?]);
/// # let _ = o;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Orchestrator {
    contract: ArvoContract,
    contract_label: Option<String>,
    label: Option<String>,
    calls: Vec<(String, Vec<VersionedContract>)>,
    diagrams: Vec<(String, Diagram)>,
}

impl Orchestrator {
    /// An orchestrator over `contract` (an orchestrator contract; checked by
    /// [`CatalogueBuilder::build`]).
    pub fn new(contract: impl Into<ArvoContract>) -> Self {
        Orchestrator {
            contract: contract.into(),
            contract_label: None,
            label: None,
            calls: Vec::new(),
            diagrams: Vec::new(),
        }
    }

    /// The orchestrator over the typed contract `C`, its contract labelled with its Rust name.
    ///
    /// # Errors
    /// When the contract cannot be built (a payload type's JSON Schema does not compile).
    pub fn typed<C: TypedContract>() -> Result<Self, DocsError> {
        let mut o = Orchestrator::new(typed_contract::<C>()?);
        o.contract_label = Some(short_type_name::<C>());
        Ok(o)
    }

    /// The name of the implementation shown in the catalogue (e.g. the Rust type of the
    /// resumable); defaults to the contract's name.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// The service versions that `version` of the orchestrator calls (added to what was
    /// declared before for that version).
    pub fn calls(
        mut self,
        version: impl Into<String>,
        services: impl IntoIterator<Item = VersionedContract>,
    ) -> Self {
        self.add_calls(version.into(), services.into_iter().collect());
        self
    }

    fn add_calls(&mut self, version: String, services: Vec<VersionedContract>) {
        match self.calls.iter_mut().find(|(v, _)| *v == version) {
            Some((_, list)) => list.extend(services),
            None => self.calls.push((version, services)),
        }
    }

    /// A diagram of `version` (a machine's statechart, when machines exist).
    pub fn diagram(mut self, version: impl Into<String>, diagram: Diagram) -> Self {
        self.diagrams.push((version.into(), diagram));
        self
    }

    /// Version `V` of a typed resumable `H` (`#[arvo_resumable]` or a hand-written
    /// [`ResumableHandler`]): its contract and the services its `Services` enum names.
    ///
    /// # Errors
    /// When a contract involved cannot be built (a payload type's JSON Schema does not compile).
    pub fn resumable<H, V>() -> Result<Self, DocsError>
    where
        V: ContractVersion,
        H: ResumableHandler<V>,
    {
        let contract = typed_contract::<V::Contract>()?;
        // `contracts()` builds each service's contract; a broken one panics there. Turn that into
        // an error naming the resumable rather than unwinding through the caller.
        let services = std::panic::catch_unwind(<H::Services as ServiceEvents>::contracts)
            .map_err(|panic| DocsError::InvalidContract {
                type_name: short_type_name::<H>(),
                message: panic_message(&panic),
            })?;
        let mut o = Orchestrator::new(contract);
        o.contract_label = Some(short_type_name::<V::Contract>());
        Ok(o.label(short_type_name::<H>())
            .calls(V::VERSION, services.into_iter().map(|(_, v)| v)))
    }

    fn merge(&mut self, other: Orchestrator) {
        if self.label.is_none() {
            self.label = other.label;
        }
        if self.contract_label.is_none() {
            self.contract_label = other.contract_label;
        }
        for (version, services) in other.calls {
            self.add_calls(version, services);
        }
        self.diagrams.extend(other.diagrams);
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "a panic while building its contracts".to_owned())
}

/// The last segment of a Rust type's path (`arvo_examples::order::OrderFlow` gives `OrderFlow`).
fn short_type_name<T: ?Sized>() -> String {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base).to_owned()
}

fn typed_contract<C: TypedContract>() -> Result<ArvoContract, DocsError> {
    C::try_contract()
        .cloned()
        .map_err(|e| DocsError::InvalidContract {
            type_name: short_type_name::<C>(),
            message: e.to_string(),
        })
}

/// Builds a [`Catalogue`] from explicit lists.
///
/// ```
/// use arvo_docs::Catalogue;
/// use arvo_runtime::contract::{ArvoContract, Schema};
/// let s = Schema::new(serde_json::json!({"type": "object", "properties": {"n": {"type": "integer"}}}))?;
/// let c = ArvoContract::simple("#/count", "count.up").version("1.0.0", s.clone(), s).build()?;
/// let catalogue = Catalogue::builder("Counter").contract(&c).build()?;
/// assert_eq!(catalogue.event_types(), ["com.count.up", "evt.count.up.success", "sys.com.count.up.error"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct CatalogueBuilder {
    title: String,
    version: String,
    description: Option<String>,
    contracts: Vec<(ArvoContract, Option<String>)>,
    orchestrators: Vec<Orchestrator>,
    errors: Vec<DocsError>,
}

impl CatalogueBuilder {
    /// The version of the documented application (AsyncAPI `info.version`; default `0.1.0`).
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// A description of the documented application.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Adds a contract (a service, or an orchestrator whose calls are unknown).
    pub fn contract(mut self, contract: &ArvoContract) -> Self {
        self.contracts.push((contract.clone(), None));
        self
    }

    /// Adds a typed contract (`#[arvo_contract]`), labelled with its Rust name.
    pub fn typed<C: TypedContract>(mut self) -> Self {
        match typed_contract::<C>() {
            Ok(c) => self.contracts.push((c, Some(short_type_name::<C>()))),
            Err(e) => self.errors.push(e),
        }
        self
    }

    /// Adds an orchestrator; the services it calls are added as contracts too. Two
    /// orchestrators with one contract are merged (their calls per version are combined).
    pub fn orchestrator(mut self, orchestrator: Orchestrator) -> Self {
        self.orchestrators.push(orchestrator);
        self
    }

    /// Adds version `V` of the typed resumable `H` (see [`Orchestrator::resumable`]); call it
    /// once per version.
    pub fn resumable<H, V>(mut self) -> Self
    where
        V: ContractVersion,
        H: ResumableHandler<V>,
    {
        match Orchestrator::resumable::<H, V>() {
            Ok(o) => self.orchestrators.push(o),
            Err(e) => self.errors.push(e),
        }
        self
    }

    /// Checks everything and builds the catalogue.
    ///
    /// # Errors
    /// The first problem found: a typed contract that cannot be built, two contracts with one
    /// uri, two contracts claiming one event type with different schemas, an orchestrator over a
    /// non-orchestrator contract or calling from a version its contract lacks, a schema that
    /// cannot be rendered (unresolvable `$ref`, no valid example).
    pub fn build(self) -> Result<Catalogue, DocsError> {
        if let Some(e) = self.errors.into_iter().next() {
            return Err(e);
        }
        let mut cat = Catalogue {
            title: self.title,
            version: self.version,
            description: self.description,
            contracts: Vec::new(),
            orchestrators: Vec::new(),
            names: Names::default(),
        };
        for (c, label) in self.contracts {
            cat.add_contract(&c, label)?;
        }
        // Merge orchestrators by contract uri.
        let mut merged: Vec<Orchestrator> = Vec::new();
        let mut by_uri: HashMap<String, usize> = HashMap::new();
        for o in self.orchestrators {
            match by_uri.get(o.contract.uri()) {
                Some(&m) => merged[m].merge(o),
                None => {
                    by_uri.insert(o.contract.uri().to_owned(), merged.len());
                    merged.push(o);
                }
            }
        }
        for o in merged {
            cat.add_orchestrator(o)?;
        }
        cat.check_claims()?;
        Ok(cat)
    }
}

/// One event of a contract version, ready to render.
#[derive(Debug, Clone)]
pub struct EventDoc {
    /// The event type.
    pub event_type: String,
    /// What it is to the contract.
    pub role: Role,
    /// The `dataschema` events of this type carry (`<uri>/<version>`, `<uri>/0.0.0` for the
    /// system error).
    pub dataschema: String,
    /// The payload schema.
    pub schema: Schema,
    /// The field table.
    pub rows: Vec<FieldRow>,
    /// An example payload, valid against the schema.
    pub example: Value,
}

/// One version of a documented contract.
#[derive(Debug, Clone)]
pub struct VersionDoc {
    /// The version view.
    pub versioned: VersionedContract,
    /// The accepted event (the init event for an orchestrator).
    pub accepts: EventDoc,
    /// The emitted events (the completion for an orchestrator), in declaration order.
    pub emits: Vec<EventDoc>,
}

/// A documented contract.
#[derive(Debug, Clone)]
pub struct ContractDoc {
    /// The contract.
    pub contract: ArvoContract,
    /// The name shown (the Rust type for typed contracts, otherwise the contract type).
    pub label: String,
    /// A file-name-safe identifier, unique in the catalogue (from the uri).
    pub slug: String,
    /// The versions, lowest first.
    pub versions: Vec<VersionDoc>,
    /// The system error event (same for every version).
    pub system_error: EventDoc,
}

impl ContractDoc {
    /// Whether it is an orchestrator contract.
    pub fn is_orchestrator(&self) -> bool {
        self.contract.is_orchestrator()
    }
}

/// A call from one orchestrator version to one service version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The orchestrator's index in [`Catalogue::orchestrators`].
    pub orchestrator: usize,
    /// The orchestrator's version.
    pub orchestrator_version: String,
    /// The called contract's index in [`Catalogue::contracts`].
    pub service: usize,
    /// The called version.
    pub service_version: String,
}

/// A documented orchestrator.
#[derive(Debug, Clone)]
pub struct OrchestratorDoc {
    /// Its contract's index in [`Catalogue::contracts`].
    pub contract: usize,
    /// The name of the implementation (the resumable's Rust type; the contract's name when not
    /// given).
    pub label: String,
    /// Its diagrams, per version.
    pub diagrams: Vec<(String, Diagram)>,
    /// What it calls.
    pub calls: Vec<Call>,
}

/// Contracts and orchestrators, checked and ready to render as an AsyncAPI document
/// ([`Catalogue::asyncapi`]) and an HTML catalogue ([`Catalogue::html`]), or both written to a
/// folder ([`Catalogue::write`]).
#[derive(Debug, Clone)]
pub struct Catalogue {
    pub(crate) title: String,
    pub(crate) version: String,
    pub(crate) description: Option<String>,
    pub(crate) contracts: Vec<ContractDoc>,
    pub(crate) orchestrators: Vec<OrchestratorDoc>,
    names: Names,
}

/// The longest slug made from a uri, in bytes (a uniqueness suffix `-N` may follow): a slug is
/// a folder name, and file systems refuse names over 255 bytes.
pub const MAX_SLUG: usize = 64;

/// The catalogue's lookups, so that pages and documents of many contracts are written in linear
/// time: each contract's index by uri, the slugs taken and the next suffix to try for each slug
/// base, each contract's orchestrator, and the calls into each service version.
#[derive(Debug, Clone, Default)]
struct Names {
    by_uri: HashMap<String, usize>,
    slugs: HashSet<String>,
    next_suffix: HashMap<String, usize>,
    /// Contract index -> the first orchestrator documenting it.
    orchestrator_of: HashMap<usize, usize>,
    /// (service contract index, service version) -> (orchestrator, call) of each call into it.
    callers: HashMap<(usize, String), Vec<(usize, usize)>>,
}

impl Names {
    /// A slug for `uri` not taken yet: its ASCII letters and digits, lowercased, runs of
    /// anything else as one `-`, at most [`MAX_SLUG`] bytes, then `-2`, `-3`, ... if taken.
    fn slug(&mut self, uri: &str) -> String {
        let mut base = String::new();
        for ch in uri.chars() {
            if base.len() >= MAX_SLUG {
                break;
            }
            let ch = ch.to_ascii_lowercase();
            if ch.is_ascii_alphanumeric() {
                base.push(ch);
            } else if !base.is_empty() && !base.ends_with('-') {
                base.push('-');
            }
        }
        let base = base.trim_end_matches('-');
        let base = if base.is_empty() { "contract" } else { base };
        let mut slug = base.to_owned();
        if self.slugs.contains(&slug) {
            let next = self.next_suffix.entry(base.to_owned()).or_insert(2);
            loop {
                slug = format!("{base}-{next}");
                *next += 1;
                if !self.slugs.contains(&slug) {
                    break;
                }
            }
        }
        self.slugs.insert(slug.clone());
        slug
    }
}

impl Catalogue {
    /// Starts a catalogue titled `title`.
    pub fn builder(title: impl Into<String>) -> CatalogueBuilder {
        CatalogueBuilder {
            title: title.into(),
            version: "0.1.0".to_owned(),
            description: None,
            contracts: Vec::new(),
            orchestrators: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// The title.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// The documented application's version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The contracts: those added, then the orchestrators' and the services they call, each
    /// once.
    pub fn contracts(&self) -> &[ContractDoc] {
        &self.contracts
    }

    /// The orchestrators.
    pub fn orchestrators(&self) -> &[OrchestratorDoc] {
        &self.orchestrators
    }

    /// Every event type, each once, in order of first appearance.
    pub fn event_types(&self) -> Vec<&str> {
        self.events_by_type().into_iter().map(|(t, _)| t).collect()
    }

    /// Every event type, each once, in order of first appearance, with its events (see
    /// [`events`](Self::events)) in order.
    pub(crate) fn events_by_type(&self) -> Vec<(&str, Vec<(usize, &EventDoc)>)> {
        let mut out: Vec<(&str, Vec<(usize, &EventDoc)>)> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (i, e) in self.events() {
            let k = *index.entry(&e.event_type).or_insert_with(|| {
                out.push((&e.event_type, Vec::new()));
                out.len() - 1
            });
            out[k].1.push((i, e));
        }
        out
    }

    /// Every event of every contract version (and each contract's system error, once), with
    /// its contract's index.
    pub fn events(&self) -> impl Iterator<Item = (usize, &EventDoc)> + '_ {
        self.contracts.iter().enumerate().flat_map(|(i, c)| {
            c.versions
                .iter()
                .flat_map(|v| std::iter::once(&v.accepts).chain(&v.emits))
                .chain(std::iter::once(&c.system_error))
                .map(move |e| (i, e))
        })
    }

    /// The calls into version `version` of contract `index`.
    pub fn callers(&self, index: usize, version: &str) -> impl Iterator<Item = &Call> + '_ {
        self.names
            .callers
            .get(&(index, version.to_owned()))
            .into_iter()
            .flatten()
            .map(|&(o, k)| &self.orchestrators[o].calls[k])
    }

    /// The orchestrator documenting contract `index`, if it is one.
    pub fn orchestrator_of(&self, index: usize) -> Option<&OrchestratorDoc> {
        self.names
            .orchestrator_of
            .get(&index)
            .map(|&o| &self.orchestrators[o])
    }

    fn add_contract(
        &mut self,
        c: &ArvoContract,
        label: Option<String>,
    ) -> Result<usize, DocsError> {
        if let Some(&i) = self.names.by_uri.get(c.uri()) {
            let existing = &self.contracts[i];
            if existing.contract != *c && existing.contract.to_json_schema() != c.to_json_schema() {
                return Err(DocsError::DuplicateUri {
                    uri: c.uri().to_owned(),
                    first_type: existing.contract.event_type().to_owned(),
                    second_type: c.event_type().to_owned(),
                });
            }
            if let Some(l) = label
                && existing.label == existing.contract.event_type()
            {
                self.contracts[i].label = l;
            }
            return Ok(i);
        }
        let slug = self.names.slug(c.uri());
        let orchestrator = c.is_orchestrator();
        let mut versions = Vec::with_capacity(c.versions().len());
        for v in c.sorted_versions(SortOrder::Asc) {
            let versioned = c
                .version(v.as_str())
                .map_err(|e| DocsError::InvalidContract {
                    type_name: c.event_type().to_owned(),
                    message: e.to_string(),
                })?;
            let accepts = event_doc(
                c,
                v.as_str(),
                &versioned.accepts().event_type,
                &versioned.accepts().schema,
                if orchestrator {
                    Role::Init
                } else {
                    Role::Accepts
                },
                versioned.dataschema(),
            )?;
            let emits = versioned
                .emit_list()
                .iter()
                .map(|e| {
                    event_doc(
                        c,
                        v.as_str(),
                        &e.event_type,
                        &e.schema,
                        if orchestrator {
                            Role::Complete
                        } else {
                            Role::Emits
                        },
                        versioned.dataschema(),
                    )
                })
                .collect::<Result<Vec<_>, _>>()?;
            versions.push(VersionDoc {
                versioned,
                accepts,
                emits,
            });
        }
        let se = c.system_error();
        let system_error = event_doc(
            c,
            "0.0.0",
            &se.event_type,
            &se.schema,
            Role::SystemError,
            &se.dataschema,
        )?;
        self.contracts.push(ContractDoc {
            contract: c.clone(),
            label: label.unwrap_or_else(|| c.event_type().to_owned()),
            slug,
            versions,
            system_error,
        });
        let index = self.contracts.len() - 1;
        self.names.by_uri.insert(c.uri().to_owned(), index);
        Ok(index)
    }

    fn add_orchestrator(&mut self, o: Orchestrator) -> Result<(), DocsError> {
        let name = o
            .label
            .clone()
            .unwrap_or_else(|| o.contract.uri().to_owned());
        if !o.contract.is_orchestrator() {
            return Err(DocsError::Orchestrator {
                orchestrator: name,
                message: format!(
                    "its contract (uri={}) is not an orchestrator contract",
                    o.contract.uri()
                ),
            });
        }
        let index = self.add_contract(&o.contract, o.contract_label.clone())?;
        let mut calls = Vec::new();
        for (version, services) in &o.calls {
            if o.contract
                .version(version)
                .ok()
                .map(|v| v.version().to_string())
                != Some(version.clone())
            {
                return Err(DocsError::Orchestrator {
                    orchestrator: name,
                    message: format!(
                        "calls are declared for version {version}, which its contract (uri={}) does not have",
                        o.contract.uri()
                    ),
                });
            }
            for s in services {
                let service = self.add_contract(s.contract(), None)?;
                let call = Call {
                    orchestrator: self.orchestrators.len(),
                    orchestrator_version: version.clone(),
                    service,
                    service_version: s.version().to_string(),
                };
                if !calls.contains(&call) {
                    calls.push(call);
                }
            }
        }
        for (version, _) in &o.diagrams {
            if o.contract.version(version).is_err() {
                return Err(DocsError::Orchestrator {
                    orchestrator: name,
                    message: format!(
                        "a diagram is given for version {version}, which its contract does not have"
                    ),
                });
            }
        }
        let label = o
            .label
            .unwrap_or_else(|| self.contracts[index].label.clone());
        let o_index = self.orchestrators.len();
        for (k, call) in calls.iter().enumerate() {
            self.names
                .callers
                .entry((call.service, call.service_version.clone()))
                .or_default()
                .push((o_index, k));
        }
        self.names.orchestrator_of.entry(index).or_insert(o_index);
        self.orchestrators.push(OrchestratorDoc {
            contract: index,
            label,
            diagrams: o.diagrams,
            calls,
        });
        Ok(())
    }

    /// Two contracts may share an event type only with the same schema.
    fn check_claims(&self) -> Result<(), DocsError> {
        for (event_type, events) in self.events_by_type() {
            // The type's distinct schemas, in order of first claim.
            let mut claims: Vec<SchemaClaims<'_>> = Vec::new();
            for (i, e) in events {
                let schema = e.schema.to_json();
                for other in claims.iter().filter(|c| c.schema != schema) {
                    if let Some((j, other)) = other.by_other_than(i) {
                        return Err(DocsError::ConflictingSchemas {
                            event_type: event_type.to_owned(),
                            first: claim(&self.contracts[j], other),
                            second: claim(&self.contracts[i], e),
                        });
                    }
                }
                match claims.iter_mut().find(|c| c.schema == schema) {
                    Some(same) => same.add(i, e),
                    None => claims.push(SchemaClaims {
                        schema,
                        first: (i, e),
                        second: None,
                    }),
                }
            }
        }
        Ok(())
    }
}

/// The claims of one schema for an event type: the first two contracts claiming it, enough to
/// find, for any contract, a claim by another one.
struct SchemaClaims<'a> {
    schema: &'a Value,
    first: (usize, &'a EventDoc),
    second: Option<(usize, &'a EventDoc)>,
}

impl<'a> SchemaClaims<'a> {
    fn add(&mut self, contract: usize, e: &'a EventDoc) {
        if self.second.is_none() && self.first.0 != contract {
            self.second = Some((contract, e));
        }
    }

    fn by_other_than(&self, contract: usize) -> Option<(usize, &'a EventDoc)> {
        if self.first.0 != contract {
            Some(self.first)
        } else {
            self.second
        }
    }
}

fn claim(c: &ContractDoc, e: &EventDoc) -> String {
    format!(
        "{} (uri={}, dataschema={}, {})",
        c.label,
        c.contract.uri(),
        e.dataschema,
        e.role.as_str()
    )
}

fn event_doc(
    c: &ArvoContract,
    version: &str,
    event_type: &str,
    schema: &Schema,
    role: Role,
    dataschema: &str,
) -> Result<EventDoc, DocsError> {
    let json = schema.to_json();
    let err = |e: schema::RenderError| DocsError::Schema {
        contract: c.uri().to_owned(),
        version: version.to_owned(),
        event_type: event_type.to_owned(),
        pointer: e.pointer,
        reason: e.reason,
    };
    let rows = schema::field_rows(json).map_err(err)?;
    let example = schema::example(json).map_err(err)?;
    if let Err(issues) = schema.validate(&example) {
        return Err(DocsError::Schema {
            contract: c.uri().to_owned(),
            version: version.to_owned(),
            event_type: event_type.to_owned(),
            pointer: "#".to_owned(),
            reason: format!(
                "the generated example {example} does not validate ({issues}); give the schema an `examples` value"
            ),
        });
    }
    Ok(EventDoc {
        event_type: event_type.to_owned(),
        role,
        dataschema: dataschema.to_owned(),
        schema: schema.clone(),
        rows,
        example,
    })
}

/// What kind of contract it is, in a word or two (`service`, `simple service`, `orchestrator`).
pub(crate) fn kind_word(c: &ArvoContract) -> &'static str {
    match c.kind() {
        ContractKind::Plain => "service",
        ContractKind::Simple { .. } => "simple service",
        ContractKind::Orchestrator { .. } => "orchestrator",
    }
}
