//! Machine M of scenario B2 (`scenarios.md`, `orchestrator_workflow.json`): `benchCalcMachineV100`
//! over the bench contracts C1 / C2 of `common_resumable`, and its orchestrator.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use arvo_runtime::handler::{HandlerError, RawOutput};
use arvo_runtime::machine::ArvoMachine;
use arvo_runtime::memory::MachineMemory;
use arvo_runtime::orchestrator::{ArvoOrchestrator, OrchestratorMemoryRecord};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::common_resumable::{CalcAdd, CalcFlow};

/// Machine M's context: `{a, b, result}` (`result` is `null` until the answer arrives).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalcMachineContext {
    /// a
    pub a: f64,
    /// b
    pub b: f64,
    /// The sum, once known.
    pub result: Option<f64>,
}

/// What the calc orchestrator stores.
pub type CalcMachineRecord = OrchestratorMemoryRecord<CalcMachineContext>;

fn operand(init: &arvo_runtime::event::ArvoEvent, key: &str) -> Result<f64, HandlerError> {
    init.data()
        .get(key)
        .and_then(serde_json::Value::as_f64)
        .ok_or_else(|| HandlerError::msg(format!("init data has no number '{key}'")))
}

/// Machine M: context `{a, b, result: null}`; `adding` emits `com.calc.add {a, b}` on entry and
/// on `evt.calc.add.success` assigns `result` and goes to the final state `done`; output
/// `{result}`. No transition for `sys.com.calc.add.error`.
pub fn calc_machine() -> ArvoMachine<CalcMachineContext> {
    ArvoMachine::builder("benchCalcMachineV100", CalcFlow::contract().latest())
        .service("calc", CalcAdd::contract().latest())
        .context(|init| {
            Ok(CalcMachineContext {
                a: operand(init, "a")?,
                b: operand(init, "b")?,
                result: None,
            })
        })
        .output(|c| Ok(json!({ "result": c.result })))
        .initial("adding")
        .state("adding", |s| {
            s.entry(|c, _, out| {
                out.emit(RawOutput::new("com.calc.add", json!({"a": c.a, "b": c.b})))
            })
            .on("evt.calc.add.success", |t| {
                t.target("done").action(|c, e, _| {
                    c.result = e.data().get("result").and_then(serde_json::Value::as_f64);
                    Ok(())
                })
            })
        })
        .state("done", |s| s.final_state())
        .build()
        .unwrap()
}

/// The orchestrator of scenario B2 (executionunits 0, locking as the machine decides: none).
pub fn calc_orchestrator<M>(memory: M) -> ArvoOrchestrator<M, CalcMachineContext>
where
    M: MachineMemory<CalcMachineRecord>,
{
    ArvoOrchestrator::builder(memory)
        .machine(calc_machine())
        .build()
        .unwrap()
}
