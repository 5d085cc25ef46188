//! Registration without ceremony: functions, impl blocks (with and without `register`), a
//! resumable's builder and `Arc<dyn DynEventHandler>` on one broker; the program registry.
use arvo_runtime::handler::DynEventHandler;
use arvo_runtime::prelude::*;
use arvo_runtime::registry;
use arvo_runtime::resumable::Outcome;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Greet {
    pub name: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Greeting {
    pub text: String,
}

#[arvo_contract(uri = "#/greet", type = "greet.user", simple, version("1.0.0", accepts = Greet, emits = Greeting))]
pub struct GreetService;

#[arvo_contract(uri = "#/greet/loud", type = "greet.loud", simple, version("1.0.0", accepts = Greet, emits = Greeting))]
pub struct LoudService;

#[arvo_contract(uri = "#/greet/quiet", type = "greet.quiet", simple, version("1.0.0", accepts = Greet, emits = Greeting))]
pub struct QuietService;

#[arvo_contract(uri = "#/greet/hidden", type = "greet.hidden", simple, version("1.0.0", accepts = Greet, emits = Greeting))]
pub struct HiddenService;

#[arvo_contract(uri = "#/welcome", orchestrator = "welcome", version("1.0.0", init = Greet, complete = Greeting))]
pub struct Welcome;

#[arvo_handler(contract = GreetService, version = "1.0.0")]
async fn greet(input: Greet) -> Result<GreetServiceV1_0_0Emits, HandlerError> {
    Ok(GreetServiceV1_0_0Emits::Success(Greeting { text: format!("Hello, {}!", input.name) }))
}

/// Left out of the registry.
#[arvo_handler(contract = HiddenService, version = "1.0.0", register = false)]
async fn hidden(input: Greet) -> Result<HiddenServiceV1_0_0Emits, HandlerError> {
    Ok(HiddenServiceV1_0_0Emits::Success(Greeting { text: input.name }))
}

/// State, built with `Default`, registered on request.
#[derive(Default)]
pub struct Loud;

#[arvo_handler(contract = LoudService, register)]
impl Loud {
    #[version("1.0.0")]
    async fn v1(&self, input: Greet) -> Result<LoudServiceV1_0_0Emits, HandlerError> {
        Ok(LoudServiceV1_0_0Emits::Success(Greeting { text: input.name.to_uppercase() }))
    }
}

/// State, not registered (the default for impl blocks).
pub struct Quiet;

#[arvo_handler(contract = QuietService)]
impl Quiet {
    #[version("1.0.0")]
    async fn v1(&self, input: Greet) -> Result<QuietServiceV1_0_0Emits, HandlerError> {
        Ok(QuietServiceV1_0_0Emits::Success(Greeting { text: input.name.to_lowercase() }))
    }
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
async fn main() {
    // The registry: every function but `hidden`, and `Loud`.
    let names: Vec<&str> = registry::registered().iter().filter_map(|r| r.name().rsplit("::").next()).collect();
    assert_eq!(names, ["Loud", "greet"]);
    assert_eq!(registry::handlers().map(|h| h.len()).ok(), Some(2));

    let quiet: Arc<dyn DynEventHandler> = Arc::new(ArvoEventHandler::of(Quiet).build().unwrap_or_else(|e| panic!("{e}")));
    let broker = EventBroker::builder()
        .registered_handlers()
        .handler(hidden)
        .handler(quiet)
        .handler(WelcomeFlow.resumable(InMemoryMemory::new()))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        broker.handlers(),
        ["arvo.orc.welcome", "com.greet.hidden", "com.greet.loud", "com.greet.quiet", "com.greet.user"]
    );

    // A workflow through the registered function.
    let init = ArvoOrchestratorEventFactory::new(WelcomeV1_0_0::versioned())
        .unwrap_or_else(|e| panic!("{e}"))
        .init(EventInput::new(
            "com.example.app",
            serde_json::to_value(OrchestratorInit::root(Greet { name: "Ada".into() })).unwrap_or_default(),
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    let outcome = broker.resolve(init).await.unwrap_or_else(|e| panic!("{e}"));
    let done = outcome.result().unwrap_or_else(|| panic!("no completion"));
    assert_eq!(done.data()["text"], "Hello, Ada!");

    // Registering `greet` twice fails at build, naming the topic.
    let twice = EventBroker::builder().registered_handlers().handler(greet).build();
    assert_eq!(twice.err().map(|e| e.to_string()).as_deref(), Some("Only one subscriber allowed per topic: com.greet.user"));

    // A builder with invalid options is reported by the broker's build.
    let bad = EventBroker::builder().handler(ArvoEventHandler::of(greet).executionunits(f64::NAN)).build();
    assert_eq!(
        bad.err().map(|e| e.to_string()).as_deref(),
        Some("A registered handler could not be built: executionunits must be a finite number, got NaN")
    );
}
