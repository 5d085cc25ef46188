//! A version whose number does not fit in 64 bits matches the pattern but cannot be parsed at
//! run time: refused at its token, once (no cascade from the marker types).
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

#[arvo_contract(uri = "#/x", type = "com.x.run", version("1.0.0", accepts = In, emits("evt.x.done" = Out)),
    version("1.18446744073709551616.0", accepts = In, emits("evt.x.done" = Out)))]
pub struct X;

fn main() {}
