//! A contract declared in another module, named by its path: the version's marker is found
//! next to it (`contracts::GreetServiceV1_0_0`), for functions and impl blocks alike.
use arvo_runtime::prelude::*;

mod contracts {
    use arvo_runtime::arvo_contract;

    #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
    pub struct Greet {
        pub name: String,
    }

    #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
    pub struct Greeting {
        pub text: String,
    }

    #[arvo_contract(uri = "#/greet", type = "greet.user", simple,
        version("1.0.0", accepts = Greet, emits = Greeting))]
    pub struct GreetService;

    #[arvo_contract(uri = "#/greet/other", type = "greet.other", simple,
        version("1.0.0", accepts = Greet, emits = Greeting))]
    pub struct OtherService;
}

use contracts::{GreetServiceV1_0_0Emits, Greeting, OtherServiceV1_0_0Emits};

#[arvo_handler(contract = contracts::GreetService, version = "1.0.0")]
async fn greet(input: contracts::Greet) -> Result<GreetServiceV1_0_0Emits, HandlerError> {
    Ok(GreetServiceV1_0_0Emits::Success(Greeting { text: input.name }))
}

struct Other;

#[arvo_handler(contract = crate::contracts::OtherService)]
impl Other {
    #[version("1.0.0")]
    fn v1(input: contracts::Greet) -> Result<OtherServiceV1_0_0Emits, HandlerError> {
        Ok(OtherServiceV1_0_0Emits::Success(Greeting { text: input.name }))
    }
}

fn main() {
    let broker = EventBroker::builder().handler(greet).handler(Other).build();
    assert_eq!(broker.map(|b| b.handlers().len()).ok(), Some(2));
}
