//! The orchestrators of `tests/ArvoOrchestrator` (spec §13.8.2): increment (`arvo.orc.inc`),
//! decrement (`arvo.orc.dec`) and number.modifier (`arvo.orc.number.modifier`), two machines
//! each (0.0.1 and 0.0.2), plus the "dumb" orchestrator of §13.6 #18.

use arvo_runtime::contract::VersionedContract;
use arvo_runtime::event::ArvoEvent;
use arvo_runtime::handler::{HandlerError, RawOutput, Violation};
use arvo_runtime::machine::{ArvoMachine, Emitter};
use arvo_runtime::memory::MachineMemory;
use arvo_runtime::orchestrator::{ArvoOrchestrator, OrchestratorMemoryRecord};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::contracts::{
    ArvoError, DecFlow, Decrement, Dumb, DumbService, ErrorType, IncFlow, Increment,
    NumberModifier, Operation, ValueRead, ValueWrite,
};

fn num(e: &ArvoEvent, k: &str) -> f64 {
    e.data().get(k).and_then(Value::as_f64).unwrap_or_default()
}

fn event_error(e: &ArvoEvent) -> Result<ArvoError, HandlerError> {
    serde_json::from_value(Value::Object(e.data().clone()))
        .map_err(|x| HandlerError::msg(x.to_string()))
}

fn init_field<T: serde::de::DeserializeOwned>(
    init: &ArvoEvent,
    k: &str,
) -> Result<T, HandlerError> {
    serde_json::from_value(init.data().get(k).cloned().unwrap_or_default())
        .map_err(|e| HandlerError::msg(format!("init field '{k}': {e}")))
}

// ---------------------------------------------------------------------------------------------
// increment / decrement
// ---------------------------------------------------------------------------------------------

/// The increment / decrement orchestrators' context: `{key, value: 0, modifier, trend, error: []}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValueContext {
    /// Where the value is stored.
    pub key: String,
    /// The value read, then the result.
    pub value: f64,
    /// The operand.
    pub modifier: f64,
    /// The version's literal.
    pub trend: String,
    /// What went wrong.
    pub error: Vec<ArvoError>,
}

/// What the value orchestrators store.
pub type ValueRecord = OrchestratorMemoryRecord<ValueContext>;

/// One value machine: read the value, call `op` (`{init: value, <operand>: modifier}`), done.
struct ValueMachine {
    id: &'static str,
    contract: VersionedContract,
    op: VersionedContract,
    operand: &'static str,
    parallel: bool,
}

fn value_machine(m: ValueMachine) -> ArvoMachine<ValueContext> {
    let op_type = m.op.accepts().event_type.clone();
    let success = m.op.emit_list()[0].event_type.clone();
    let failure = m.op.system_error().event_type.clone();
    let operand = m.operand;
    ArvoMachine::builder(m.id, m.contract)
        .service("valueReader", ValueRead::contract().latest())
        .service("increment", m.op)
        .context(|init| {
            Ok(ValueContext {
                key: init_field(init, "key")?,
                value: 0.0,
                modifier: init_field(init, "modifier")?,
                trend: init_field(init, "trend")?,
                error: Vec::new(),
            })
        })
        .output(|c| Ok(json!({"success": c.error.is_empty(), "error": c.error, "final": c.value})))
        .initial("fetch_value")
        .state("fetch_value", |s| {
            s.entry(|c, _, out| out.emit(RawOutput::new("com.value.read", json!({"key": c.key}))))
                .on("evt.value.read.success", |t| {
                    t.target("increment").action(|c, e, _| {
                        c.value = num(e, "value");
                        Ok(())
                    })
                })
                .on("sys.com.value.read.error", |t| {
                    t.target("error").action(|c, e, _| {
                        c.error.push(event_error(e)?);
                        Ok(())
                    })
                })
        })
        .state("increment", move |s| {
            let s = if m.parallel { s.parallel() } else { s };
            s.entry(move |c, _, out| {
                out.emit(RawOutput::new(
                    op_type.clone(),
                    json!({"init": c.value, operand: c.modifier}),
                ))
            })
            .on(success, |t| {
                t.target("done").action(|c, e, _| {
                    c.value = num(e, "result");
                    Ok(())
                })
            })
            .on(failure, |t| {
                t.target("error").action(|c, e, _| {
                    c.error.push(event_error(e)?);
                    Ok(())
                })
            })
        })
        .state("error", |s| s.final_state())
        .state("done", |s| s.final_state())
        .build()
        .unwrap()
}

/// The increment machines: `machineV001` (increment@0.0.1, `increment` is a parallel state
/// without regions, so locking is required) and `machineV002` (increment@0.0.2, two emit
/// types, so locking is required).
pub fn increment_machines() -> Vec<ArvoMachine<ValueContext>> {
    vec![
        value_machine(ValueMachine {
            id: "machineV001",
            contract: IncFlow::contract().version("0.0.1").unwrap(),
            op: Increment::contract().version("0.0.1").unwrap(),
            operand: "increment",
            parallel: true,
        }),
        value_machine(ValueMachine {
            id: "machineV002",
            contract: IncFlow::contract().version("0.0.2").unwrap(),
            op: Increment::contract().version("0.0.2").unwrap(),
            operand: "multiplier",
            parallel: false,
        }),
    ]
}

/// The decrement machines (decrement@0.0.1 `{init, decrement}`, @0.0.2 `{init, divider}`): no
/// parallel state, single-emit services, so no locking.
pub fn decrement_machines() -> Vec<ArvoMachine<ValueContext>> {
    vec![
        value_machine(ValueMachine {
            id: "machineV001",
            contract: DecFlow::contract().version("0.0.1").unwrap(),
            op: Decrement::contract().version("0.0.1").unwrap(),
            operand: "decrement",
            parallel: false,
        }),
        value_machine(ValueMachine {
            id: "machineV002",
            contract: DecFlow::contract().version("0.0.2").unwrap(),
            op: Decrement::contract().version("0.0.2").unwrap(),
            operand: "divider",
            parallel: false,
        }),
    ]
}

/// `incrementAgent` (executionunits 0.1).
pub fn increment_agent<M: MachineMemory<ValueRecord>>(
    memory: M,
) -> ArvoOrchestrator<M, ValueContext> {
    ArvoOrchestrator::builder(memory)
        .executionunits(0.1)
        .machines(increment_machines())
        .build()
        .unwrap()
}

/// `decrementAgent` (executionunits 0.1).
pub fn decrement_agent<M: MachineMemory<ValueRecord>>(
    memory: M,
) -> ArvoOrchestrator<M, ValueContext> {
    ArvoOrchestrator::builder(memory)
        .executionunits(0.1)
        .machines(decrement_machines())
        .build()
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// number.modifier
// ---------------------------------------------------------------------------------------------

/// number.modifier's context: `{...input.data, currentSubject$$, key: input.subject, errors: [],
/// final_value: 0}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModifierContext {
    /// The start value.
    pub init: f64,
    /// The operand.
    pub modifier: f64,
    /// Which child to run.
    pub operation: Operation,
    /// The version's literal.
    pub trend: String,
    /// The init's parent subject.
    #[serde(rename = "parentSubject$$")]
    pub parent_subject: Option<String>,
    /// This workflow's subject.
    #[serde(rename = "currentSubject$$")]
    pub current_subject: String,
    /// Where the value is stored: the subject.
    pub key: String,
    /// What went wrong.
    pub errors: Vec<ArvoError>,
    /// The child's result.
    pub final_value: f64,
}

/// What number.modifier stores.
pub type ModifierRecord = OrchestratorMemoryRecord<ModifierContext>;

fn start_child(
    c: &ModifierContext,
    out: &mut Emitter<'_>,
    child: &str,
    parent: Value,
) -> Result<(), HandlerError> {
    out.emit(RawOutput::new(
        child,
        json!({"parentSubject$$": parent, "key": c.key, "modifier": c.modifier, "trend": c.trend}),
    ))
}

/// The child branch of number.modifier: `child` is `inc` or `dec`.
fn child_state(
    s: arvo_runtime::machine::StateBuilder<ModifierContext>,
    child: &'static str,
    v2: bool,
) -> arvo_runtime::machine::StateBuilder<ModifierContext> {
    let ty = format!("arvo.orc.{child}");
    let done = format!("arvo.orc.{child}.done");
    let sys = format!("sys.arvo.orc.{child}.error");
    s.entry(move |c, _, out| {
        start_child(c, out, &ty, json!(c.current_subject))?;
        if v2 {
            // dec: a second child with an invalid parent subject; inc: an independent root.
            let second = if child == "dec" {
                json!("test")
            } else {
                Value::Null
            };
            start_child(c, out, &ty, second)
        } else {
            out.enqueue(RawOutput::new("com.notif.test", json!({})));
            Ok(())
        }
    })
    .on(done.clone(), |t| {
        t.target("error")
            .guard(|_, e| e.data().get("success") != Some(&Value::Bool(true)))
            .action(|c, e, _| {
                let errs: Vec<ArvoError> =
                    serde_json::from_value(e.data().get("error").cloned().unwrap_or_default())
                        .map_err(|x| HandlerError::msg(x.to_string()))?;
                c.errors.extend(errs);
                Ok(())
            })
    })
    .on(done, |t| {
        t.target("done").action(|c, e, _| {
            c.final_value = num(e, "final");
            Ok(())
        })
    })
    .on(sys, |t| {
        t.target("error").action(|c, e, _| {
            c.errors.push(event_error(e)?);
            Ok(())
        })
    })
}

fn modifier_machine(version: &str) -> ArvoMachine<ModifierContext> {
    let v2 = version == "0.0.2";
    ArvoMachine::builder(
        format!("machine{}", version.replace('.', "")),
        NumberModifier::contract().version(version).unwrap(),
    )
    .service("valueWriter", ValueWrite::contract().latest())
    .service("valueReader", ValueRead::contract().latest())
    .service("increment", IncFlow::contract().version(version).unwrap())
    .service("decrement", DecFlow::contract().version(version).unwrap())
    .context(|init| {
        Ok(ModifierContext {
            init: init_field(init, "init")?,
            modifier: init_field(init, "modifier")?,
            operation: init_field(init, "operation")?,
            trend: init_field(init, "trend")?,
            parent_subject: init_field(init, "parentSubject$$")?,
            current_subject: init.subject().to_owned(),
            key: init.subject().to_owned(),
            errors: Vec::new(),
            final_value: 0.0,
        })
    })
    .output(|c| {
        Ok(json!({"success": c.errors.is_empty(), "error": c.errors, "final": c.final_value}))
    })
    .initial("init_value")
    .state("init_value", |s| {
        s.entry(|c, _, out| {
            out.emit(RawOutput::new(
                "com.value.write",
                json!({"key": c.key, "value": c.init}),
            ))
        })
        .on("evt.value.write.success", |t| {
            t.target("error")
                .guard(|_, e| e.data().get("success") != Some(&Value::Bool(true)))
                .action(|c, _, _| {
                    c.errors
                        .push(ArvoError::new("WriteFailure", "Failed to write the value"));
                    Ok(())
                })
        })
        .on("evt.value.write.success", |t| t.target("router"))
        .on("sys.com.value.write.error", |t| {
            t.target("error").action(|c, e, _| {
                c.errors.push(event_error(e)?);
                Ok(())
            })
        })
    })
    .state("router", |s| {
        s.always(|t| {
            t.target("increment")
                .guard(|c: &ModifierContext, _| c.operation == Operation::Increment)
        })
        .always(|t| {
            t.target("decrement")
                .guard(|c: &ModifierContext, _| c.operation == Operation::Decrement)
        })
        .always(|t| {
            t.target("error").action(|c, _, _| {
                c.errors
                    .push(ArvoError::new("OperationRouteFailure", "Invalid operation"));
                Ok(())
            })
        })
    })
    .state("decrement", move |s| child_state(s, "dec", v2))
    .state("increment", move |s| child_state(s, "inc", v2))
    .state("error", |s| s.final_state())
    .state("done", |s| s.final_state())
    .build()
    .unwrap()
}

/// The number.modifier machines (0.0.1, 0.0.2).
pub fn modifier_machines() -> Vec<ArvoMachine<ModifierContext>> {
    vec![modifier_machine("0.0.1"), modifier_machine("0.0.2")]
}

/// `numberModifierAgent` (executionunits 0.1; no locking required).
pub fn number_modifier_agent<M: MachineMemory<ModifierRecord>>(
    memory: M,
) -> ArvoOrchestrator<M, ModifierContext> {
    ArvoOrchestrator::builder(memory)
        .executionunits(0.1)
        .machines(modifier_machines())
        .build()
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// dumb
// ---------------------------------------------------------------------------------------------

/// The dumb machine's context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DumbContext {
    /// How to fail.
    pub error_type: ErrorType,
}

/// What the dumb orchestrator stores.
pub type DumbRecord = OrchestratorMemoryRecord<DumbContext>;

/// The "dumb" orchestrator (§13.6 #18): routes on `error_type`; `normal_error`'s entry throws
/// `Error('Normal error')`, `violation_error`'s an `ExecutionViolation('Violation error')`.
pub fn dumb_agent<M: MachineMemory<DumbRecord>>(memory: M) -> ArvoOrchestrator<M, DumbContext> {
    let machine = ArvoMachine::builder("dumb", Dumb::contract().latest())
        .service("dumb", DumbService::contract().latest())
        .context(|init| {
            Ok(DumbContext {
                error_type: init_field(init, "error_type")?,
            })
        })
        .output(|_| Ok(json!({})))
        .initial("route")
        .state("route", |s| {
            s.always(|t| {
                t.target("normal_error")
                    .guard(|c: &DumbContext, _| c.error_type == ErrorType::Normal)
            })
            .always(|t| t.target("violation_error"))
        })
        .state("normal_error", |s| {
            s.entry(|_, _, _| Err(HandlerError::msg("Normal error")))
                .on("evt.dumb.service.success", |t| t.target("done"))
        })
        .state("violation_error", |s| {
            s.entry(|_, _, _| Err(Violation::execution("Violation error").into()))
                .on("evt.dumb.service.success", |t| t.target("done"))
        })
        .state("done", |s| s.final_state())
        .build()
        .unwrap();
    ArvoOrchestrator::builder(memory)
        .machine(machine)
        .build()
        .unwrap()
}
