//! `#[arvo_handler]` end to end: registration (`IntoHandler`, the program registry), the broker
//! observer, and the typed workflow edges (`Workflow::init` / `Workflow::result`).

use arvo_runtime::prelude::*;
use arvo_runtime::registry;
use arvo_runtime::workflow::WorkflowError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};

/// The service's input.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Greet {
    /// Who to greet.
    pub name: String,
}

/// The service's output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Greeting {
    /// The greeting.
    pub text: String,
}

/// The service contract.
#[arvo_contract(uri = "#/greet", type = "greet.user", simple,
    version("1.0.0", accepts = Greet, emits = Greeting))]
pub struct GreetService;

/// The orchestrator contract.
#[arvo_contract(uri = "#/welcome", orchestrator = "welcome",
    version("1.0.0", init = Greet, complete = Greeting))]
pub struct Welcome;

/// Greets, or fails for an empty name (a system error back to the workflow).
#[arvo_handler(contract = GreetService, version = "1.0.0")]
async fn greet(input: Greet) -> Result<GreetServiceV1_0_0Emits, HandlerError> {
    if input.name.is_empty() {
        return Err(HandlerError::msg("no name"));
    }
    Ok(GreetServiceV1_0_0Emits::Success(Greeting {
        text: format!("Hello, {}!", input.name),
    }))
}

struct WelcomeFlow;

#[arvo_resumable(contract = Welcome, context = (), services(greet = GreetServiceV1_0_0))]
impl WelcomeFlow {
    #[version("1.0.0")]
    async fn v1(
        &self,
        step: WelcomeFlowStep<'_, WelcomeV1_0_0>,
    ) -> WelcomeFlowResult<WelcomeV1_0_0> {
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

fn broker(observed: Option<Arc<Mutex<Vec<String>>>>) -> EventBroker {
    let mut builder = EventBroker::builder()
        .registered_handlers()
        .handler(WelcomeFlow.resumable(InMemoryMemory::new()));
    if let Some(log) = observed {
        builder = builder
            .observe(move |e| {
                let line = format!("{} -> {}", e.event_type(), e.to().unwrap_or("-"));
                log.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            })
            .observe(|_| panic!("a broken observer"));
    }
    builder.build().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_registry_holds_the_annotated_function() {
    let names: Vec<&str> = registry::registered().iter().map(|r| r.name()).collect();
    assert_eq!(names, ["handler_macro::greet"]);
    let handlers = registry::handlers().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(handlers.len(), 1);
    assert_eq!(handlers[0].source(), "com.greet.user");
}

#[tokio::test]
async fn typed_init_and_result_through_the_broker() {
    let broker = broker(None);
    let init = WelcomeV1_0_0::init("com.example.app", Greet { name: "Ada".into() })
        .unwrap_or_else(|e| panic!("{e}"));
    let outcome = broker.resolve(init).await.unwrap_or_else(|e| panic!("{e}"));
    let WelcomeV1_0_0Emits::Complete(greeting) =
        WelcomeV1_0_0::result(&outcome).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        greeting,
        Greeting {
            text: "Hello, Ada!".into()
        }
    );
}

#[tokio::test]
async fn a_failed_workflow_is_a_typed_error() {
    let broker = broker(None);
    let init = WelcomeV1_0_0::init(
        "com.example.app",
        Greet {
            name: String::new(),
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let outcome = broker.resolve(init).await.unwrap_or_else(|e| panic!("{e}"));
    match WelcomeV1_0_0::result(&outcome) {
        Err(WorkflowError::Failed {
            event_type,
            message,
            ..
        }) => {
            assert_eq!(event_type, "sys.arvo.orc.welcome.error");
            assert_eq!(message, "no name");
        }
        other => panic!("expected a failed workflow, got {other:?}"),
    }
    // No result at all.
    let empty = arvo_runtime::broker::Resolution::default();
    assert!(matches!(
        WelcomeV1_0_0::result(&empty),
        Err(WorkflowError::NoResult { errors: 0, .. })
    ));
}

#[test]
fn typed_init_refuses_a_bad_source() {
    let err = WelcomeV1_0_0::init("not a source", Greet { name: "Ada".into() });
    assert!(matches!(err, Err(WorkflowError::Factory(_))), "{err:?}");
}

#[tokio::test]
async fn the_observer_sees_every_event_once_in_order() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let broker = broker(Some(log.clone()));
    let init = WelcomeV1_0_0::init("com.example.app", Greet { name: "Ada".into() })
        .unwrap_or_else(|e| panic!("{e}"));
    let outcome = broker.resolve(init).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        outcome.is_ok(),
        "a panicking observer does not stop routing"
    );
    let seen = log.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert_eq!(
        seen,
        [
            "arvo.orc.welcome -> arvo.orc.welcome",
            "com.greet.user -> com.greet.user",
            "evt.greet.user.success -> arvo.orc.welcome",
            "arvo.orc.welcome.done -> com.example.app",
        ]
    );
}
