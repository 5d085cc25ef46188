use arvo_runtime::arvo_contract;
use arvo_runtime::handler::ArvoEventHandler;
use arvo_runtime::typed::{HandlerOutput, Input};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, JsonSchema)]
pub struct In {
    pub a: f64,
}

#[derive(Serialize, Deserialize, JsonSchema)]
pub struct Out {
    pub r: f64,
}

#[arvo_contract(uri = "#/add", type = "calc.add", simple, version("1.0.0", accepts = In, emits = Out))]
pub struct CalcAdd;

#[arvo_contract(uri = "#/mul", type = "calc.mul", simple,
    version("1.0.0", accepts = In, emits = Out), version("2.0.0", accepts = In, emits = Out))]
pub struct CalcMul;

#[arvo_contract(uri = "#/flow", orchestrator = "calc", version("1.0.0", init = In, complete = Out))]
pub struct CalcFlow;

struct Adder;

impl CalcAddHandler for Adder {
    async fn v1_0_0(&self, input: Input<'_, CalcAddV1_0_0>) -> HandlerOutput<CalcAddV1_0_0> {
        Ok(vec![CalcAddV1_0_0Emits::Success(Out { r: input.data.a }).into()])
    }
}

fn main() {
    // An adder is not a multiplier.
    let _ = ArvoEventHandler::typed::<CalcMul, _>(Adder);
    // Orchestrator contracts have no handler trait (their runtime is the orchestrator's).
    let _ = ArvoEventHandler::typed::<CalcFlow, _>(Adder);
}
