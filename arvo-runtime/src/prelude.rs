//! The names a first program needs, in one `use arvo_runtime::prelude::*;`: the three
//! attribute macros, the typed handler and resumable types, the one error type of user code
//! ([`HandlerError`]), the broker, the in-memory memory and the event factories.
//!
//! ```
//! use arvo_runtime::prelude::*;
//! # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)] pub struct In { pub a: f64 }
//! # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)] pub struct Out { pub r: f64 }
//! #[arvo_contract(uri = "#/calc/double", type = "calc.double", simple,
//!     version("1.0.0", accepts = In, emits = Out))]
//! pub struct Double;
//!
//! #[arvo_handler(contract = Double, version = "1.0.0")]
//! async fn double(input: In) -> Result<DoubleV1_0_0Emits, HandlerError> {
//!     Ok(DoubleV1_0_0Emits::Success(Out { r: 2.0 * input.a }))
//! }
//!
//! let broker = EventBroker::builder().handler(double).build()?;
//! assert_eq!(broker.handlers(), ["com.calc.double"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub use crate::broker::{EventBroker, Resolution};
pub use crate::event::ArvoEvent;
pub use crate::factory::{ArvoEventFactory, ArvoOrchestratorEventFactory, EventInput};
pub use crate::handler::{ArvoEventHandler, HandlerError, Violation};
pub use crate::memory::InMemoryMemory;
pub use crate::registry::IntoHandler;
pub use crate::resumable::{Outcome, ServiceEvent};
pub use crate::typed::{
    ContractVersion, Emission, Emits, HandlerOutput, Input, OrchestratorInit, TypedContract,
};
pub use crate::workflow::Workflow;
pub use crate::{ArvoMachine, ArvoOrchestrator};
pub use crate::{arvo_contract, arvo_handler, arvo_machine, arvo_resumable};
