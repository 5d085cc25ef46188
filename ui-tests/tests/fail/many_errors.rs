use arvo_runtime::arvo_contract;
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

// Every mistake is reported in one compile, each at its own token.
#[arvo_contract(
    uri = "#/x",
    type = "com.x",
    colour = "red",
    version("1.0", accepts = In, emits("evt.x.done" = Out)),
    version("0.0.0", accepts = In, emits("arvo.orc.y.done" = Out)),
    version("2.0.0", accepts = In, emits("evt.x.done" = Out, "evt.x.done" = Out)),
)]
pub struct X;

fn main() {}
