use arvo_runtime::arvo_contract;
use arvo_runtime::typed::{Emission, HandlerOutput, Input};
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

// Version 1.0.0 does not emit `evt.x.failed`; the emits value of version 2.0.0 does not fit
// the output of version 1.0.0, whether written with `Emission::new` or with `.into()`.
impl XHandler for H {
    async fn v1_0_0(&self, input: Input<'_, XV1_0_0>) -> HandlerOutput<XV1_0_0> {
        if input.data.a > 0.0 {
            return Ok(vec![Emission::new(XV2_0_0Emits::EvtXFailed(input.data))]);
        }
        Ok(vec![XV2_0_0Emits::EvtXDone(Out { r: input.data.a }).into()])
    }
    async fn v2_0_0(&self, input: Input<'_, XV2_0_0>) -> HandlerOutput<XV2_0_0> {
        Ok(vec![XV2_0_0Emits::EvtXFailed(input.data).into()])
    }
}

fn main() {}
