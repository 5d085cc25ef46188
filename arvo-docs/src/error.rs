//! Why documentation could not be generated.

use std::path::PathBuf;

/// Why a [`Catalogue`](crate::Catalogue) could not be built or written. Every variant names
/// what it is about (contracts by uri and version, event types, schema locations, paths), so the
/// message alone says where to look.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DocsError {
    /// Two contracts claim one event type with different payload schemas.
    #[error(
        "the event type '{event_type}' is claimed by two contracts with different schemas: {first} and {second}"
    )]
    ConflictingSchemas {
        /// The event type.
        event_type: String,
        /// The first claim: `<uri> <version> (<role>)`.
        first: String,
        /// The second claim, whose schema differs.
        second: String,
    },
    /// Two different contracts share one uri.
    #[error(
        "two different contracts have the uri '{uri}': one accepts '{first_type}', the other '{second_type}' (or their versions differ)"
    )]
    DuplicateUri {
        /// The uri.
        uri: String,
        /// The type of the first.
        first_type: String,
        /// The type of the second.
        second_type: String,
    },
    /// A typed contract's runtime contract could not be built.
    #[error("the contract {type_name} is invalid: {message}")]
    InvalidContract {
        /// The Rust type (or contract type) that failed.
        type_name: String,
        /// Why.
        message: String,
    },
    /// An orchestrator was described with a contract that is not an orchestrator contract, or
    /// with a version its contract lacks.
    #[error("orchestrator '{orchestrator}': {message}")]
    Orchestrator {
        /// The orchestrator's uri or label.
        orchestrator: String,
        /// What is wrong.
        message: String,
    },
    /// A schema cannot be rendered (a `$ref` that does not resolve, no valid example can be
    /// generated, ...).
    #[error(
        "cannot render the schema of '{event_type}' in {contract} {version} at '{pointer}': {reason}"
    )]
    Schema {
        /// The contract uri.
        contract: String,
        /// The contract version (`0.0.0` for the system error).
        version: String,
        /// The event type whose payload schema it is.
        event_type: String,
        /// A JSON pointer into the schema.
        pointer: String,
        /// What is wrong.
        reason: String,
    },
    /// The output directory exists, is not empty and was not written by `arvo-docs`: it is
    /// left alone rather than replaced.
    #[error(
        "refusing to replace '{}': it exists, is not empty and has no '.arvo-docs' marker (choose another --out or remove it)",
        path.display()
    )]
    ForeignOutput {
        /// The output directory.
        path: PathBuf,
    },
    /// Writing the output failed (nothing is left at the destination but what was there before).
    #[error("cannot write '{}': {source}", path.display())]
    Io {
        /// The path being written.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The AsyncAPI document could not be serialised.
    #[error("cannot serialise the AsyncAPI document as {format}: {message}")]
    Serialise {
        /// `JSON` or `YAML`.
        format: &'static str,
        /// The serialiser's message.
        message: String,
    },
}
