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

#[derive(Serialize, JsonSchema)]
pub struct NoDe {
    pub a: f64,
}

#[arvo_contract(uri = "#/x", orchestrator = "x.flow", version("1.0.0", init = NoDe, complete = Out))]
pub struct X;

fn main() {}
