//! Typed workflow edges: start an orchestrator's workflow and read its result with the types of
//! its contract version, without the event factory, `OrchestratorInit` or JSON indexing.
//!
//! ```
//! use arvo_runtime::prelude::*;
//! # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)] pub struct Start { pub n: u32 }
//! # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)] pub struct Done { pub total: u32 }
//! #[arvo_contract(uri = "#/count", orchestrator = "count",
//!     version("1.0.0", init = Start, complete = Done))]
//! pub struct Count;
//!
//! let init = CountV1_0_0::init("com.example.app", Start { n: 3 })?;
//! assert_eq!(init.event_type(), "arvo.orc.count");
//! assert_eq!(init.data()["n"], 3);
//! assert!(init.data()["parentSubject$$"].is_null());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::broker::Resolution;
use crate::event::ArvoEvent;
use crate::factory::{ArvoOrchestratorEventFactory, EventInput, FactoryError};
use crate::typed::{ContractVersion, Emits, OrchestratorInit};
use serde::Serialize;

/// Why a typed workflow edge failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    /// The init payload could not be serialised.
    #[error("the init payload of {contract} could not be serialised: {source}")]
    Serialize {
        /// The orchestrator's dataschema.
        contract: &'static str,
        /// The serde error.
        source: serde_json::Error,
    },
    /// The init event could not be built (invalid data, source or subject).
    #[error(transparent)]
    Factory(#[from] FactoryError),
    /// The workflow delivered nothing back to its caller (see the outcome's `errors`).
    #[error("the workflow of {contract} returned no event ({errors} failure(s) recorded)")]
    NoResult {
        /// The orchestrator's dataschema.
        contract: &'static str,
        /// How many failures the outcome holds.
        errors: usize,
    },
    /// The workflow ended with an event that is not its completion (e.g. its system error).
    #[error("the workflow of {contract} ended with {event_type}: {message}")]
    Failed {
        /// The orchestrator's dataschema.
        contract: &'static str,
        /// The last event's type.
        event_type: String,
        /// Its `errorMessage` (system errors), or its data.
        message: String,
    },
    /// The completion's data does not match the version's completion type.
    #[error("the completion of {contract} could not be read: {source}")]
    Data {
        /// The orchestrator's dataschema.
        contract: &'static str,
        /// The serde error.
        source: serde_json::Error,
    },
}

/// A version of an orchestrator contract, typed at both ends: implemented for every
/// `#[arvo_contract(orchestrator = ..)]` version marker (`WelcomeV1_0_0`).
pub trait Workflow: ContractVersion {
    /// The user's init payload (without `parentSubject$$`).
    type Init;

    /// The init event of a root workflow started by `source` (`parentSubject$$: null`, a new
    /// subject), ready for `EventBroker::resolve`.
    ///
    /// # Errors
    /// [`WorkflowError::Serialize`], [`WorkflowError::Factory`] (e.g. a `source` that is not
    /// a reverse-DNS name).
    fn init(source: impl Into<String>, data: Self::Init) -> Result<ArvoEvent, WorkflowError>;

    /// The completion of a resolved workflow, typed: the last event delivered back to the
    /// caller, read as this version's emits enum (`WelcomeV1_0_0Emits::Complete(..)`).
    ///
    /// # Errors
    /// [`WorkflowError::NoResult`], [`WorkflowError::Failed`] (a system error or another
    /// event), [`WorkflowError::Data`].
    fn result(outcome: &Resolution) -> Result<Self::Emits, WorkflowError>;
}

impl<V, T> Workflow for V
where
    V: ContractVersion<Accepts = OrchestratorInit<T>>,
    T: Serialize,
{
    type Init = T;

    fn init(source: impl Into<String>, data: T) -> Result<ArvoEvent, WorkflowError> {
        let data = serde_json::to_value(OrchestratorInit::root(data)).map_err(|source| {
            WorkflowError::Serialize {
                contract: V::DATASCHEMA,
                source,
            }
        })?;
        let factory = ArvoOrchestratorEventFactory::new(V::versioned())?;
        Ok(factory.init(EventInput::new(source, data))?)
    }

    fn result(outcome: &Resolution) -> Result<V::Emits, WorkflowError> {
        let contract = V::DATASCHEMA;
        let Some(event) = outcome.result() else {
            return Err(WorkflowError::NoResult {
                contract,
                errors: outcome.errors.len(),
            });
        };
        // Read from the event's data in place (no copy of it).
        match V::Emits::deserialize_data(event.event_type(), event.data_value()) {
            Ok(Some(done)) => Ok(done),
            Ok(None) => Err(WorkflowError::Failed {
                contract,
                event_type: event.event_type().to_owned(),
                message: event.data()["errorMessage"]
                    .as_str()
                    .map_or_else(|| event.data_value().to_string(), str::to_owned),
            }),
            Err(source) => Err(WorkflowError::Data { contract, source }),
        }
    }
}
