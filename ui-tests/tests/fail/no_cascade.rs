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

// One bad version: one error. The valid version, the contract value and the handler trait are
// still generated, so the code using them reports nothing more.
#[arvo_contract(
    uri = "#/x",
    type = "com.x.run",
    version("1.0.0", accepts = In, emits("evt.x.done" = Out)),
    version("2.0", accepts = In, emits("evt.x.done" = Out)),
)]
pub struct X;

struct H;

impl XHandler for H {
    async fn v1_0_0(&self, input: Input<'_, XV1_0_0>) -> HandlerOutput<XV1_0_0> {
        Ok(vec![XV1_0_0Emits::EvtXDone(Out { r: input.data.a }).into()])
    }
}

fn use_it() {
    let _ = X::contract();
    let _ = X::URI;
}

fn main() {}
