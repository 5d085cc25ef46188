//! # Arvo for Rust
//!
//! Contract-first, event-driven workflows, wire-compatible with the TypeScript Arvo
//! (`arvo-core` / `arvo-event-handler` v3).
//!
//! The crate is organised one module per concept:
//! - [`issue`]: structured validation issues that display like the reference's errors.
//! - [`codec`]: the compressed-JSON codec of subjects and `ARVO_MANAGED` ids.
//! - [`otel`]: W3C trace context carried in events, and the reference's span attribute names.
//! - [`memory`]: machine memory (versioned records, lease locks) for orchestrations.
//! - [`event`]: the [`ArvoEvent`], its builder, validation and wire form.
//! - [`subject`]: orchestration subjects (create, new, from a parent, parse).
//! - [`contract`]: contracts, versions, payload schemas and dataschemas.
//! - [`violation`]: violations and the system error payload.
//! - [`factory`]: event factories (accepts / emits / system errors, orchestrator init / complete).
//! - [`handler`]: the event handler runtime (version routing, validation, domains, telemetry).
//! - [`broker`]: the in-process event broker (routing by `to`, FIFO queues, prefetch, retries,
//!   middleware, domained/unroutable hooks, `resolve`).
//! - [`testing`]: multi-step scenario tests for handlers and brokers (`Scenario`).
//!
//! Naming rules (event types, domains, versions, URIs) live in [`rules`], shared with the
//! macros.

pub mod codec;
pub mod event;
pub mod issue;
pub mod memory;
pub mod otel;

pub use memory::{InMemoryMemory, MachineMemory, SyncEventResource};
pub mod subject;

pub use subject::{Subject, SubjectContent, SubjectError};
pub mod contract;
pub mod violation;

/// Arvo's naming and format rules (re-export of the `arvo-rules` crate).
pub use arvo_rules as rules;

pub use contract::{ArvoContract, ArvoVersion, OrchestratorContract, Schema, VersionedContract};
pub use event::{ArvoEvent, ArvoEventBuilder, EventError};
pub use violation::{ArvoErrorPayload, ViolationError};
pub mod broker;
pub mod factory;
pub mod handler;
pub mod testing;
