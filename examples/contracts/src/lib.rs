//! Contracts of the benchmark scenarios (C1, C2 of `scenarios.md`), declared in a crate of
//! their own: services and orchestrators depend on this crate and implement or call the
//! contracts, without sharing any code but the types.
//!
//! ```
//! use arvo_example_contracts::{CalcAdd, CalcAddV1_0_0};
//! use arvo_runtime::typed::ContractVersion;
//! assert_eq!(CalcAdd::TYPE, "com.calc.add");
//! assert_eq!(CalcAddV1_0_0::DATASCHEMA, "#/bench/calc/add/1.0.0");
//! ```

pub mod order;

use arvo_runtime::arvo_contract;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The input of `com.calc.add`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AddInput {
    /// Left operand.
    pub a: f64,
    /// Right operand.
    pub b: f64,
}

/// The output of `evt.calc.add.success`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AddOutput {
    /// `a + b`.
    pub result: f64,
}

/// C1: the calculator service (`createSimpleArvoContract`, type `calc.add`).
#[arvo_contract(
    uri = "#/bench/calc/add",
    type = "calc.add",
    simple,
    version("1.0.0", accepts = AddInput, emits = AddOutput),
)]
pub struct CalcAdd;

/// C2: the calculator orchestrator (`createArvoOrchestratorContract`, name `bench.calc`).
#[arvo_contract(
    uri = "#/bench/orchestrator/calc",
    orchestrator = "bench.calc",
    version("1.0.0", init = AddInput, complete = AddOutput),
)]
pub struct CalcFlow;
