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

#[arvo_handler(contract = GreetOne, version = "1.0.0")]
async fn two_inputs(input: Greet, extra: u32) -> Result<GreetOneV1_0_0Emits, HandlerError> {
    let _ = extra;
    Ok(GreetOneV1_0_0Emits::Success(Greeting { text: input.name }))
}

#[arvo_handler(contract = GreetOne, version = "1.0.0", register = false)]
async fn no_return(input: Greet) {
    let _ = input;
}

struct Greeter;

#[arvo_handler(contract = GreetOne)]
impl Greeter {
    #[version("1.0.0")]
    async fn v1(&mut self, input: Greet) -> Result<GreetOneV1_0_0Emits, HandlerError> {
        Ok(GreetOneV1_0_0Emits::Success(Greeting { text: input.name }))
    }
}

fn main() {}
