//! Contracts shared by the `#[arvo_machine]` compile tests (`tests/machine/`), so each case
//! shows only the machine it is about.

use arvo_runtime::arvo_contract;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A change of the counter.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Delta {
    /// By how much.
    pub delta: i64,
}

/// The counter's value.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Value {
    /// The value.
    pub value: i64,
}

/// Adds to the value: accepts `com.number.increment`, emits `evt.number.increment.success`
/// (variant `Success`).
#[arvo_contract(uri = "#/ui/increment", type = "number.increment", simple,
    version("1.0.0", accepts = Delta, emits = Value))]
pub struct Increment;

/// Audits a change: accepts `com.number.audit`, emits `evt.number.audit.ok` (variant
/// `EvtNumberAuditOk`) or `evt.number.audit.flagged` (variant `EvtNumberAuditFlagged`).
#[arvo_contract(uri = "#/ui/audit", type = "com.number.audit",
    version("1.0.0", accepts = Delta, emits("evt.number.audit.ok" = Value, "evt.number.audit.flagged" = Value)))]
pub struct Audit;

/// A service no machine here declares.
#[arvo_contract(uri = "#/ui/decrement", type = "number.decrement", simple,
    version("1.0.0", accepts = Delta, emits = Value))]
pub struct Decrement;

/// The counter workflow, `arvo.orc.counter`: one version, 1.0.0.
#[arvo_contract(uri = "#/ui/counter", orchestrator = "counter",
    version("1.0.0", init = Delta, complete = Value))]
pub struct Counter;
