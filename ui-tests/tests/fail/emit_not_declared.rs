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
    version("2.0.0", accepts = In, emits("evt.x.done" = Out, "evt.x.failed" = In)),
)]
pub struct X;

struct H;

// Version 1.0.0 does not declare `evt.x.failed`: its emits enum has no such variant; and a
// method cannot declare the output of another version.
impl XHandler for H {
    async fn v1_0_0(&self, input: Input<'_, XV1_0_0>) -> HandlerOutput<XV1_0_0> {
        Ok(vec![XV1_0_0Emits::EvtXFailed(input.data).into()])
    }
    async fn v2_0_0(&self, input: Input<'_, XV2_0_0>) -> HandlerOutput<XV1_0_0> {
        Ok(vec![XV1_0_0Emits::EvtXDone(Out { r: input.data.a }).into()])
    }
}

fn main() {}
