//! Shared fixtures of the machine and orchestrator tests: the contracts and service handlers of
//! the reference's `tests/ArvoMachine`, `tests/ExecuteMachine`, `tests/MachineRegistry` and
//! `tests/ArvoOrchestrator` (spec §13.2, §13.3, §13.5, §13.6, §13.8).
#![allow(dead_code, missing_docs, clippy::unwrap_used, clippy::expect_used)]

pub mod contracts;
pub mod counter;
pub mod orchestrators;
pub mod services;
