use arvo_runtime::resumable::{Outcome, ServiceEvent};
use arvo_runtime::{arvo_contract, arvo_resumable};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize, JsonSchema)]
pub struct AddInput {
    pub a: f64,
    pub b: f64,
}

#[derive(Clone, Serialize, Deserialize, JsonSchema)]
pub struct AddResult {
    pub result: f64,
}

#[arvo_contract(uri = "#/calc/add", type = "calc.add", simple,
    version("1.0.0", accepts = AddInput, emits = AddResult))]
pub struct CalcAdd;

#[arvo_contract(uri = "#/calc/flow", orchestrator = "calc.flow",
    version("1.0.0", init = AddInput, complete = AddResult))]
pub struct CalcFlow;

pub struct CalcWorkflow;

// A typo in a service path (`CalcAd`): one error, at the path, though the macro uses it in several items.
#[arvo_resumable(contract = CalcFlow, context = (), services(calc = CalcAd))]
impl CalcWorkflow {
    #[version("1.0.0")]
    async fn v1(&self, _step: CalcWorkflowStep<'_, CalcFlowV1_0_0>) -> CalcWorkflowResult<CalcFlowV1_0_0> {
        Ok(Outcome::wait())
    }
}

fn main() {
    let _ = ServiceEvent::<CalcAddV1_0_0>::SystemError;
}
