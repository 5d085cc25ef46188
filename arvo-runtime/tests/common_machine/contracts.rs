//! The contracts of the reference's machine and orchestrator tests (spec §13.2, §13.5, §13.6,
//! §13.8.2), written with `#[arvo_contract]`.

use arvo_runtime::arvo_contract;
use arvo_runtime::violation::ArvoErrorPayload;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------------------------
// §13.2 / §13.3: the "counter" machine's contracts
// ---------------------------------------------------------------------------------------------

/// `'increment' | 'decrement'`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    /// `increment`
    Increment,
    /// `decrement`
    Decrement,
}

/// `arvo.orc.test` init: `{delta, type}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CounterInit {
    /// The amount.
    pub delta: f64,
    /// Which service to call.
    #[serde(rename = "type")]
    pub kind: Operation,
}

/// `arvo.orc.test.done`: `{final}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CounterDone {
    /// The final value.
    #[serde(rename = "final")]
    pub final_value: f64,
}

/// `{delta}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Delta {
    /// The amount.
    pub delta: f64,
}

/// `{newValue}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewValue {
    /// The new value.
    pub new_value: f64,
}

/// `{delta, type}` of the notification.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Notification {
    /// The amount.
    pub delta: f64,
    /// The operation.
    #[serde(rename = "type")]
    pub kind: Operation,
}

/// The orchestrator contract `#/test/machine` (`arvo.orc.test`); 0.0.2 exists for the registry
/// tests (§13.5) and the version-mismatch case of §13.2 #9.
#[arvo_contract(uri = "#/test/machine", orchestrator = "test",
    version("0.0.1", init = CounterInit, complete = CounterDone),
    version("0.0.2", init = CounterInit, complete = CounterDone))]
pub struct TestMachine;

/// `com.number.increment` (`#/test/service/increment`, 0.0.1 and 0.0.2).
#[arvo_contract(uri = "#/test/service/increment", type = "com.number.increment",
    version("0.0.1", accepts = Delta, emits("evt.number.increment.success" = NewValue)),
    version("0.0.2", accepts = Delta, emits("evt.number.increment.success" = NewValue)))]
pub struct NumberIncrement;

/// `com.number.decrement` (`#/test/service/decrement`).
#[arvo_contract(uri = "#/test/service/decrement", type = "com.number.decrement",
    version("0.0.1", accepts = Delta, emits("evt.number.decrement.success" = NewValue)))]
pub struct NumberDecrement;

/// `notif.number.update` (`#/test/notification/decrement`): accepts `{delta, type}`, emits
/// nothing.
#[arvo_contract(uri = "#/test/notification/decrement", type = "notif.number.update",
    version("0.0.1", accepts = Notification, emits()))]
pub struct NumberNotification;

/// An empty payload `{}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Empty {}

/// `#/test/machine/2` (`arvo.orc.machine.2`, §13.5).
#[arvo_contract(uri = "#/test/machine/2", orchestrator = "machine.2",
    version("0.0.1", init = Empty, complete = Empty))]
pub struct Machine2;

// ---------------------------------------------------------------------------------------------
// §13.8.2: the orchestrator test contracts
// ---------------------------------------------------------------------------------------------

/// `{key}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct KeyIn {
    /// The key.
    pub key: String,
}
/// `{key, value}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KeyValue {
    /// The key.
    pub key: String,
    /// The value.
    pub value: f64,
}
/// `{key, success}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct WriteOut {
    /// The key.
    pub key: String,
    /// Whether the value was accepted.
    pub success: bool,
}
/// `{init, increment}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct IncIn {
    /// The start value.
    pub init: f64,
    /// What to add.
    pub increment: f64,
}
/// `{init, multiplier}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct MulIn {
    /// The start value.
    pub init: f64,
    /// What to multiply by.
    pub multiplier: f64,
}
/// `{init, decrement}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DecIn {
    /// The start value.
    pub init: f64,
    /// What to subtract.
    pub decrement: f64,
}
/// `{init, divider}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DivIn {
    /// The start value.
    pub init: f64,
    /// What to divide by.
    pub divider: f64,
}
/// `{result}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct NumResult {
    /// The result.
    pub result: f64,
}

/// `ArvoErrorSchema` with a JSON Schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArvoError {
    /// `errorName`
    pub error_name: String,
    /// `errorMessage`
    pub error_message: String,
    /// `errorStack`
    pub error_stack: Option<String>,
}

impl ArvoError {
    /// An error without a stack.
    pub fn new(name: &str, message: &str) -> Self {
        Self {
            error_name: name.to_owned(),
            error_message: message.to_owned(),
            error_stack: None,
        }
    }
}

impl From<ArvoErrorPayload> for ArvoError {
    fn from(p: ArvoErrorPayload) -> Self {
        Self {
            error_name: p.error_name,
            error_message: p.error_message,
            error_stack: p.error_stack,
        }
    }
}

/// The literal `'linear'`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Linear {
    /// `linear`
    #[serde(rename = "linear")]
    Linear,
}
/// The literal `'exponential'`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Exponential {
    /// `exponential`
    #[serde(rename = "exponential")]
    Exponential,
}

/// inc / dec orchestrator init: `{key, modifier, trend}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TrendInit<T> {
    /// Where the value is stored.
    pub key: String,
    /// The operand.
    pub modifier: f64,
    /// The version's literal.
    pub trend: T,
}

/// inc / dec / number.modifier completion: `{success, error, final}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct NumDone {
    /// No error happened.
    pub success: bool,
    /// What went wrong.
    pub error: Vec<ArvoError>,
    /// The final value.
    #[serde(rename = "final")]
    pub final_value: f64,
}

/// number.modifier init: `{init, modifier, operation, trend}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ModifierInit<T> {
    /// The start value.
    pub init: f64,
    /// The operand.
    pub modifier: f64,
    /// Which child orchestrator to run.
    pub operation: Operation,
    /// The version's literal.
    pub trend: T,
}

/// `com.value.read` (`#/test/handler/value/read`).
#[arvo_contract(uri = "#/test/handler/value/read", type = "value.read", simple,
    version("0.0.1", accepts = KeyIn, emits = KeyValue))]
pub struct ValueRead;

/// `com.value.write` (`#/test/handler/value/write`).
#[arvo_contract(uri = "#/test/handler/value/write", type = "value.write", simple,
    version("0.0.1", accepts = KeyValue, emits = WriteOut))]
pub struct ValueWrite;

/// `com.increment.number` (`#/test/handler/increment`): 0.0.2 emits two event types.
#[arvo_contract(uri = "#/test/handler/increment", type = "com.increment.number",
    version("0.0.1", accepts = IncIn, emits("evt.increment.number.success" = NumResult)),
    version("0.0.2", accepts = MulIn, emits("evt.increment.number.success" = NumResult,
                                           "evt.multiplier.number.success" = NumResult)))]
pub struct Increment;

/// `com.decrement.number` (`#/test/handler/decrement`).
#[arvo_contract(uri = "#/test/handler/decrement", type = "decrement.number", simple,
    version("0.0.1", accepts = DecIn, emits = NumResult),
    version("0.0.2", accepts = DivIn, emits = NumResult))]
pub struct Decrement;

/// `arvo.orc.inc` (`#/test/orchestrator/increment`).
#[arvo_contract(uri = "#/test/orchestrator/increment", orchestrator = "inc",
    version("0.0.1", init = TrendInit<Linear>, complete = NumDone),
    version("0.0.2", init = TrendInit<Exponential>, complete = NumDone))]
pub struct IncFlow;

/// `arvo.orc.dec` (`#/test/orchestrator/decrement`).
#[arvo_contract(uri = "#/test/orchestrator/decrement", orchestrator = "dec",
    version("0.0.1", init = TrendInit<Linear>, complete = NumDone),
    version("0.0.2", init = TrendInit<Exponential>, complete = NumDone))]
pub struct DecFlow;

/// `arvo.orc.number.modifier` (`#/test/orchestrator/number/modifier`).
#[arvo_contract(uri = "#/test/orchestrator/number/modifier", orchestrator = "number.modifier",
    version("0.0.1", init = ModifierInit<Linear>, complete = NumDone),
    version("0.0.2", init = ModifierInit<Exponential>, complete = NumDone))]
pub struct NumberModifier;

// ---------------------------------------------------------------------------------------------
// §13.6 #18: the "dumb" orchestrator
// ---------------------------------------------------------------------------------------------

/// `'violation' | 'normal'`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ErrorType {
    /// The machine throws a violation.
    Violation,
    /// The machine throws a plain error.
    Normal,
}

/// `arvo.orc.dumb` init.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DumbInit {
    /// How the machine fails.
    pub error_type: ErrorType,
}

/// `arvo.orc.dumb` (`#/test/dumb`).
#[arvo_contract(uri = "#/test/dumb", orchestrator = "dumb",
    version("1.0.0", init = DumbInit, complete = Empty))]
pub struct Dumb;

/// `com.dumb.service` (`dumb.service`), emits `evt.dumb.service.success {}`.
#[arvo_contract(uri = "#/test/dumb/service", type = "dumb.service", simple,
    version("1.0.0", accepts = Empty, emits = Empty))]
pub struct DumbService;
