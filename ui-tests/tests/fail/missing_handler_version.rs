use arvo_runtime::arvo_contract;
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

#[arvo_contract(
    uri = "#/x",
    type = "com.x.run",
    version("1.0.0", accepts = In, emits("evt.x.done" = Out)),
    version("2.0.0", accepts = In, emits("evt.x.done" = Out)),
)]
pub struct X;

struct OnlyV1;

// A handler must implement every version of its contract.
impl XHandler for OnlyV1 {
    async fn v1_0_0(&self, input: Input<'_, XV1_0_0>) -> HandlerOutput<XV1_0_0> {
        Ok(vec![XV1_0_0Emits::EvtXDone(Out { r: input.data.a }).into()])
    }
}

fn main() {}
