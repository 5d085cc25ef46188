//! The simple form (`createSimpleArvoContract`).
use arvo_runtime::arvo_contract;
use arvo_runtime::typed::{ContractVersion, Emits, HandlerOutput, Input};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, JsonSchema)]
pub struct AddInput {
    pub a: f64,
    pub b: f64,
}

#[derive(Serialize, Deserialize, JsonSchema)]
pub struct AddOutput {
    pub result: f64,
}

#[arvo_contract(
    uri = "#/bench/calc/add",
    type = "calc.add",
    simple,
    version("1.0.0", accepts = AddInput, emits = AddOutput),
    version("1.0.1", accepts = AddInput, emits = AddOutput),
)]
pub struct CalcAdd;

pub struct H;

impl CalcAddHandler for H {
    async fn v1_0_0(&self, input: Input<'_, CalcAddV1_0_0>) -> HandlerOutput<CalcAddV1_0_0> {
        Ok(vec![CalcAddV1_0_0Emits::Success(AddOutput { result: input.data.a + input.data.b }).into()])
    }
    async fn v1_0_1(&self, input: Input<'_, CalcAddV1_0_1>) -> HandlerOutput<CalcAddV1_0_1> {
        Ok(vec![CalcAddV1_0_1Emits::Success(AddOutput { result: input.data.a + input.data.b }).into()])
    }
}

fn main() {
    assert_eq!(CalcAdd::TYPE, "com.calc.add");
    assert_eq!(CalcAdd::SUCCESS_TYPE, "evt.calc.add.success");
    assert_eq!(CalcAdd::SYSTEM_ERROR_TYPE, "sys.com.calc.add.error");
    assert_eq!(<CalcAddV1_0_1 as ContractVersion>::VERSION, "1.0.1");
    assert_eq!(CalcAddV1_0_0Emits::Success(AddOutput { result: 1.0 }).event_type(), "evt.calc.add.success");
}
