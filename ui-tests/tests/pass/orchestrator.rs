//! The orchestrator form (`createArvoOrchestratorContract`): `parentSubject$$` is the
//! framework's, the user's init type has only its own fields.
use arvo_runtime::arvo_contract;
use arvo_runtime::typed::{ContractVersion, Emits, OrchestratorInit};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CalcInit {
    pub a: f64,
    pub b: f64,
}

#[derive(Serialize, Deserialize, JsonSchema)]
pub struct CalcDone {
    pub result: f64,
}

#[arvo_contract(
    uri = "#/bench/orchestrator/calc",
    orchestrator = "bench.calc",
    description = "Adds through a service",
    metadata(owner = "team-b"),
    version("1.0.0", init = CalcInit, complete = CalcDone),
    version("1.1.0", init = CalcInit, complete = CalcDone),
)]
pub struct CalcFlow;

fn main() {
    assert_eq!(CalcFlow::TYPE, "arvo.orc.bench.calc");
    assert_eq!(CalcFlow::INIT_TYPE, "arvo.orc.bench.calc");
    assert_eq!(CalcFlow::COMPLETE_TYPE, "arvo.orc.bench.calc.done");
    assert_eq!(CalcFlow::SYSTEM_ERROR_TYPE, "sys.arvo.orc.bench.calc.error");

    let init: <CalcFlowV1_0_0 as ContractVersion>::Accepts =
        serde_json::from_value(serde_json::json!({"parentSubject$$": null, "a": 1, "b": 2})).unwrap();
    assert_eq!(init, OrchestratorInit { parent_subject: None, data: CalcInit { a: 1.0, b: 2.0 } });
    let done = CalcFlowV1_1_0Emits::Complete(CalcDone { result: 3.0 });
    assert_eq!(done.event_type(), "arvo.orc.bench.calc.done");
    assert_eq!(CalcFlowV1_0_0Emits::EVENT_TYPES, ["arvo.orc.bench.calc.done"]);
}
