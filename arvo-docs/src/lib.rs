//! # arvo-docs: documentation from Arvo contracts
//!
//! From explicit lists of contracts and orchestrators, builds a [`Catalogue`] and renders it as
//! - an **AsyncAPI 3.0** document ([`Catalogue::asyncapi`], JSON or YAML): a channel per event
//!   type, a message per contract version with its JSON Schema and an example, the system error
//!   events, orchestrator init and completion events, `dataschema`s and domains, and the
//!   CloudEvents attributes as a message trait (see [`asyncapi`]);
//! - a static **HTML catalogue** ([`Catalogue::html`]): plain pages readable from `file://`
//!   (see [`html`]), with schemas as tables, example payloads, system errors, who calls whom,
//!   a diagram of each orchestrator's calls and the changes between versions;
//! - both, written to one folder all or nothing ([`Catalogue::write`]).
//!
//! ```
//! use arvo_docs::{Catalogue, Orchestrator};
//! use arvo_runtime::contract::{ArvoContract, Schema};
//! use serde_json::json;
//!
//! let payload = Schema::new(json!({
//!     "type": "object",
//!     "properties": {"name": {"type": "string", "description": "Who to greet"}},
//!     "required": ["name"]
//! }))?;
//! let greet = ArvoContract::simple("#/greet", "greet.user")
//!     .version("1.0.0", payload.clone(), payload.clone())
//!     .build()?;
//! let welcome = ArvoContract::orchestrator("#/welcome", "welcome")
//!     .version("1.0.0", payload.clone(), payload)
//!     .build()?;
//! let catalogue = Catalogue::builder("Greetings")
//!     .contract(&greet)
//!     .orchestrator(Orchestrator::new(welcome).calls("1.0.0", [greet.version("1.0.0")?]))
//!     .build()?;
//!
//! let doc = catalogue.asyncapi()?;
//! assert_eq!(doc["asyncapi"], "3.0.0");
//! assert!(doc["channels"]["sys.com.greet.user.error"].is_object());
//! assert!(doc["operations"]["welcome.send.com.greet.user"].is_object());
//! let pages = catalogue.html();
//! assert!(pages.iter().any(|(path, _)| path == "contracts/greet/1.0.0.html"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Typed contracts and resumables are added by type: [`CatalogueBuilder::typed`] and
//! [`CatalogueBuilder::resumable`] (the services an `#[arvo_resumable]` calls come from its
//! services enum). Machines (statecharts) are not built yet; an orchestrator version has a
//! [`Diagram`] slot for theirs.
//!
//! Bad input is refused with an error naming what is wrong ([`DocsError`]): two contracts
//! claiming one event type with different schemas, a schema that cannot be rendered (a `$ref`
//! that does not resolve, no valid example), and nothing is written then.

pub mod asyncapi;
mod catalogue;
pub mod cli;
pub mod diff;
mod error;
#[cfg(feature = "examples")]
pub mod examples;
pub mod html;
mod output;
pub mod schema;

pub use catalogue::{
    Call, Catalogue, CatalogueBuilder, ContractDoc, Diagram, EventDoc, MAX_SLUG, Orchestrator,
    OrchestratorDoc, Role, VersionDoc,
};
pub use error::DocsError;
pub use output::MARKER;

use serde_json::Value;
use std::path::Path;

impl Catalogue {
    /// The AsyncAPI 3.0 document.
    ///
    /// # Errors
    /// A schema whose definitions cannot be moved into the document (a `$ref` to its own root).
    pub fn asyncapi(&self) -> Result<Value, DocsError> {
        asyncapi::document(self)
    }

    /// The AsyncAPI document as pretty JSON.
    ///
    /// # Errors
    /// As [`asyncapi`](Catalogue::asyncapi).
    pub fn asyncapi_json(&self) -> Result<String, DocsError> {
        asyncapi::to_json(&self.asyncapi()?)
    }

    /// The AsyncAPI document as YAML.
    ///
    /// # Errors
    /// As [`asyncapi`](Catalogue::asyncapi), or when YAML cannot hold a value.
    pub fn asyncapi_yaml(&self) -> Result<String, DocsError> {
        asyncapi::to_yaml(&self.asyncapi()?)
    }

    /// The HTML catalogue: `(path relative to the output folder, content)` per file, the
    /// stylesheet included. The pages link to `asyncapi.json` and `asyncapi.yaml`, which
    /// [`write`](Catalogue::write) puts beside them.
    pub fn html(&self) -> Vec<(String, String)> {
        html::render(self)
    }

    /// Every file [`write`](Catalogue::write) writes (but the marker): the HTML catalogue,
    /// `asyncapi.json` and `asyncapi.yaml`.
    ///
    /// # Errors
    /// As [`asyncapi_yaml`](Catalogue::asyncapi_yaml).
    pub fn files(&self) -> Result<Vec<(String, Vec<u8>)>, DocsError> {
        let doc = self.asyncapi()?;
        let mut files: Vec<(String, Vec<u8>)> = vec![
            (
                "asyncapi.json".to_owned(),
                asyncapi::to_json(&doc)?.into_bytes(),
            ),
            (
                "asyncapi.yaml".to_owned(),
                asyncapi::to_yaml(&doc)?.into_bytes(),
            ),
        ];
        files.extend(self.html().into_iter().map(|(p, s)| (p, s.into_bytes())));
        Ok(files)
    }

    /// Writes the catalogue and the AsyncAPI document into the folder `out`, all or nothing:
    /// everything is rendered in memory, written to a temporary folder beside `out`, then
    /// renamed into place (the previous content is replaced whole). An existing, non-empty
    /// `out` that arvo-docs did not write (no [`MARKER`] file) is left alone.
    ///
    /// # Errors
    /// [`DocsError::ForeignOutput`], [`DocsError::Io`], or a rendering error; on error `out`
    /// is as it was and no temporary folder is left.
    pub fn write(&self, out: &Path) -> Result<usize, DocsError> {
        let files = self.files()?;
        output::write_all(out, &files)?;
        Ok(files.len())
    }
}
