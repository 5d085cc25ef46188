//! `struct r#match;` with `#[arvo_contract]` (issue: it panicked inside the macro): the raw
//! identifier keeps its `r#` where it names the struct and loses it in generated names
//! (`matchV1_0_0`, `matchV1_0_0Emits`, `matchHandler`); a handler for it works.
#![allow(non_camel_case_types)]
use arvo_runtime::prelude::*;

#[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct In {
    pub a: f64,
}

#[arvo_contract(uri = "#/match", type = "match.run", simple, version("1.0.0", accepts = In, emits = In))]
pub struct r#match;

#[arvo_handler(contract = r#match, version = "1.0.0")]
async fn run(input: In) -> Result<matchV1_0_0Emits, HandlerError> {
    Ok(matchV1_0_0Emits::Success(input))
}

fn main() {
    assert_eq!(r#match::TYPE, "com.match.run");
    assert_eq!(<matchV1_0_0 as ContractVersion>::VERSION, "1.0.0");
    assert!(EventBroker::builder().handler(run).build().is_ok());
}
