// `#[arvo_contract]` twice on one struct: one error at the second attribute, not a duplicate
// definition of every generated item.
use arvo_runtime::arvo_contract;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, JsonSchema)]
pub struct In {
    pub a: f64,
}

#[arvo_contract(uri = "#/x", type = "x.run", simple, version("1.0.0", accepts = In, emits = In))]
#[arvo_runtime::arvo_contract(uri = "#/y", type = "y.run", simple, version("1.0.0", accepts = In, emits = In))]
pub struct X;

fn main() {}
