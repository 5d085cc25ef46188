use arvo_runtime::resumable::Outcome;
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
    version("1.0.0", init = AddInput, complete = AddResult),
    version("2.0.0", init = AddInput, complete = AddResult))]
pub struct CalcFlow;

pub struct CalcWorkflow;

// Version 2.0.0 of the contract has no method.
#[arvo_resumable(contract = CalcFlow, context = (), services(calc = CalcAddV1_0_0))]
impl CalcWorkflow {
    #[version("1.0.0")]
    async fn v1(&self, step: CalcWorkflowStep<'_, CalcFlowV1_0_0>) -> CalcWorkflowResult<CalcFlowV1_0_0> {
        match step.event {
            CalcWorkflowEvent::Calc(CalcAddV1_0_0Emits::Success(r)) => {
                Ok(Outcome::wait().complete(CalcFlowV1_0_0Emits::Complete(r)))
            }
            _ => Ok(Outcome::wait()),
        }
    }
}

fn main() {}
