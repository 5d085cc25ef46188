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

#[arvo_contract(uri = "#/x", type = "com.x.run", version("1.0.0", accepts = In, emits("evt.x.done" as Done = Out, "evt.x.finished" as Done = Out)))]
pub struct X;

fn main() {}
