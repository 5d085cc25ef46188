// `#[arvo_handler]` or `#[arvo_resumable]` twice on one item: one error at the second
// attribute, not the expansion's items defined twice.
use arvo_runtime::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize, JsonSchema)]
pub struct Greet {
    pub name: String,
}

#[derive(Serialize, Deserialize, JsonSchema)]
pub struct Greeting {
    pub text: String,
}

#[arvo_contract(uri = "#/greet", type = "greet.user", simple, version("1.0.0", accepts = Greet, emits = Greeting))]
pub struct GreetService;

#[arvo_contract(uri = "#/greet/impl", type = "greet.impl", simple, version("1.0.0", accepts = Greet, emits = Greeting))]
pub struct GreetImpl;

#[arvo_contract(uri = "#/welcome", orchestrator = "welcome", version("1.0.0", init = Greet, complete = Greeting))]
pub struct Welcome;

#[arvo_handler(contract = GreetService, version = "1.0.0")]
#[arvo_handler(contract = GreetService, version = "1.0.0")]
async fn greet(input: Greet) -> Result<GreetServiceV1_0_0Emits, HandlerError> {
    Ok(GreetServiceV1_0_0Emits::Success(Greeting { text: input.name }))
}

struct Greeter;

#[arvo_handler(contract = GreetImpl)]
#[arvo_handler(contract = GreetImpl)]
impl Greeter {
    #[version("1.0.0")]
    fn v1(&self, input: Greet) -> Result<GreetImplV1_0_0Emits, HandlerError> {
        Ok(GreetImplV1_0_0Emits::Success(Greeting { text: input.name }))
    }
}

struct WelcomeFlow;

#[arvo_resumable(contract = Welcome, context = (), services(greet = GreetServiceV1_0_0))]
#[arvo_resumable(contract = Welcome, context = (), services(greet = GreetServiceV1_0_0))]
impl WelcomeFlow {
    #[version("1.0.0")]
    async fn v1(&self, step: WelcomeFlowStep<'_, WelcomeV1_0_0>) -> WelcomeFlowResult<WelcomeV1_0_0> {
        let _ = step;
        Ok(Outcome::wait())
    }
}

fn main() {}
