//! Typed workflow edges and the broker observer: `WelcomeV1_0_0::init(source, payload)`,
//! `WelcomeV1_0_0::result(&outcome)`, `EventBroker::builder().observe(..)`.
use arvo_runtime::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Clone, Serialize, Deserialize, JsonSchema)]
pub struct Greet {
    pub name: String,
}

#[derive(Clone, Serialize, Deserialize, JsonSchema)]
pub struct Greeting {
    pub text: String,
}

#[arvo_contract(uri = "#/greet", type = "greet.user", simple, version("1.0.0", accepts = Greet, emits = Greeting))]
pub struct GreetService;

#[arvo_contract(uri = "#/welcome", orchestrator = "welcome", version("1.0.0", init = Greet, complete = Greeting))]
pub struct Welcome;

#[arvo_handler(contract = GreetService, version = "1.0.0")]
async fn greet(input: Greet) -> Result<GreetServiceV1_0_0Emits, HandlerError> {
    Ok(GreetServiceV1_0_0Emits::Success(Greeting { text: format!("Hello, {}!", input.name) }))
}

struct WelcomeFlow;

#[arvo_resumable(contract = Welcome, context = (), services(greet = GreetServiceV1_0_0))]
impl WelcomeFlow {
    #[version("1.0.0")]
    async fn v1(&self, step: WelcomeFlowStep<'_, WelcomeV1_0_0>) -> WelcomeFlowResult<WelcomeV1_0_0> {
        use WelcomeFlowEvent::{Greet, GreetError, Init};
        match &step.event {
            Init(init) => Ok(Outcome::wait().call(step.call::<GreetServiceV1_0_0>(&init.data)?)),
            Greet(GreetServiceV1_0_0Emits::Success(g)) => {
                Ok(Outcome::wait().complete(WelcomeV1_0_0Emits::Complete(g.clone())))
            }
            GreetError(e) => Err(HandlerError::msg(&e.error_message)),
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    let broker = EventBroker::builder()
        .handler(greet)
        .handler(WelcomeFlow.resumable(InMemoryMemory::new()))
        .observe(move |_| {
            count.fetch_add(1, Ordering::Relaxed);
        })
        .build()?;
    let outcome = broker.resolve(WelcomeV1_0_0::init("com.example.app", Greet { name: "Ada".into() })?).await?;
    let WelcomeV1_0_0Emits::Complete(greeting) = WelcomeV1_0_0::result(&outcome)?;
    assert_eq!(greeting.text, "Hello, Ada!");
    assert_eq!(seen.load(Ordering::Relaxed), 4);
    Ok(())
}
