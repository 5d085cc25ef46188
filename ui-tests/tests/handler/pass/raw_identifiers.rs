//! Raw identifiers everywhere a user names something: a handler function `r#match`, a
//! resumable `r#Flow` with a version method `r#fn` and a service key `r#ref` (its variants are
//! `Ref` and `RefError`, its services enum `FlowServices`); the workflow runs to completion
//! through the broker.
use arvo_runtime::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Greet {
    pub name: String,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Greeting {
    pub text: String,
}

#[arvo_contract(uri = "#/greet", type = "greet.user", simple, version("1.0.0", accepts = Greet, emits = Greeting))]
pub struct GreetService;

#[arvo_contract(uri = "#/welcome", orchestrator = "welcome", version("1.0.0", init = Greet, complete = Greeting))]
pub struct Welcome;

#[arvo_handler(contract = GreetService, version = "1.0.0")]
async fn r#match(input: Greet) -> Result<GreetServiceV1_0_0Emits, HandlerError> {
    Ok(GreetServiceV1_0_0Emits::Success(Greeting { text: format!("Hello, {}!", input.name) }))
}

struct r#Flow;

#[arvo_resumable(contract = Welcome, context = (), services(r#ref = GreetServiceV1_0_0))]
impl r#Flow {
    #[version("1.0.0")]
    async fn r#fn(&self, step: FlowStep<'_, WelcomeV1_0_0>) -> FlowResult<WelcomeV1_0_0> {
        match &step.event {
            FlowEvent::Init(init) => {
                let call = step.call::<GreetServiceV1_0_0>(&init.data)?;
                Ok(Outcome::wait().call(call))
            }
            FlowEvent::Ref(GreetServiceV1_0_0Emits::Success(g)) => Ok(Outcome::wait()
                .complete(WelcomeV1_0_0Emits::Complete(Greeting { text: g.text.clone() }))),
            FlowEvent::RefError(e) => Err(HandlerError::msg(e.error_message.clone())),
        }
    }
}

#[allow(dead_code)]
fn services_enum_is_named_without_r(s: FlowServices) -> FlowServices {
    s
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let broker = EventBroker::builder()
        .handler(r#match)
        .handler(r#Flow.resumable(InMemoryMemory::new()))
        .build()?;
    let outcome = broker.resolve(WelcomeV1_0_0::init("com.example.app", Greet { name: "Ada".into() })?).await?;
    let WelcomeV1_0_0Emits::Complete(greeting) = WelcomeV1_0_0::result(&outcome)?;
    assert_eq!(greeting.text, "Hello, Ada!");
    Ok(())
}
