use arvo_runtime::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, JsonSchema)]
pub struct Greet {
    pub name: String,
}

#[derive(Serialize, Deserialize, JsonSchema)]
pub struct GreetV2 {
    pub names: Vec<String>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
pub struct Greeting {
    pub text: String,
}

#[arvo_contract(uri = "#/greet", type = "com.greet.user",
    version("1.0.0", accepts = Greet, emits("evt.greet.hello" = Greeting)),
    version("2.0.0", accepts = GreetV2, emits("evt.greet.hello" = Greeting, "evt.greet.bye" = Greeting)))]
pub struct GreetTwo;

#[arvo_contract(uri = "#/greet/one", type = "greet.one", simple,
    version("1.0.0", accepts = Greet, emits = Greeting))]
pub struct GreetOne;

struct Greeter;

#[arvo_handler(contract = GreetTwo)]
impl Greeter {
    #[version("1.0.0")]
    async fn v1(&self, input: Greet) -> Result<GreetTwoV1_0_0Emits, HandlerError> {
        Ok(GreetTwoV1_0_0Emits::EvtGreetHello(Greeting { text: input.name }))
    }

    #[version("2.0.0")]
    async fn v2(&self, input: GreetV2) -> Result<GreetTwoV2_0_0Emits, HandlerError> {
        Ok(GreetTwoV2_0_0Emits::EvtGreetBye(Greeting { text: input.names.join(",") }))
    }
    #[version("1.1.0")]
    async fn v1_1(&self, input: Greet) -> Result<GreetTwoV1_0_0Emits, HandlerError> {
        Ok(GreetTwoV1_0_0Emits::EvtGreetHello(Greeting { text: input.name }))
    }
}

fn main() {}
