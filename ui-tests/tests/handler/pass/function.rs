//! `#[arvo_handler]` on free functions: both input forms, every return form, sync and async,
//! a violation returned as an error; run through the handler runtime and called directly.
use arvo_runtime::factory::{ArvoEventFactory, EventInput};
use arvo_runtime::handler::ParentContext;
use arvo_runtime::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Greet {
    pub name: String,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Greeting {
    pub text: String,
}

#[arvo_contract(uri = "#/greet", type = "greet.user", simple,
    version("1.0.0", accepts = Greet, emits = Greeting))]
pub struct GreetService;

#[arvo_contract(uri = "#/greet/full", type = "greet.full", simple,
    version("1.0.0", accepts = Greet, emits = Greeting))]
pub struct GreetFull;

#[arvo_contract(uri = "#/greet/sync", type = "greet.sync", simple,
    version("1.0.0", accepts = Greet, emits = Greeting))]
pub struct GreetSync;

#[arvo_contract(uri = "#/greet/many", type = "com.greet.many",
    version("1.0.0", accepts = Greet, emits("evt.greet.hello" = Greeting, "evt.greet.bye" = Greeting)))]
pub struct GreetMany;

/// The payload in, one event out: no `vec!`, no `.into()`.
#[arvo_handler(contract = GreetService, version = "1.0.0")]
pub async fn greet(input: Greet) -> Result<GreetServiceV1_0_0Emits, HandlerError> {
    if input.name.is_empty() {
        return Err(HandlerError::msg("no name"));
    }
    if input.name == "stop" {
        return Err(Violation::execution("stopped").into());
    }
    Ok(GreetServiceV1_0_0Emits::Success(Greeting { text: format!("Hello, {}!", input.name) }))
}

/// The full input (event and context), the generated trait's return type.
#[arvo_handler(contract = GreetFull, version = "1.0.0", register = false)]
async fn greet_full(input: Input<'_, GreetFullV1_0_0>) -> HandlerOutput<GreetFullV1_0_0> {
    let subject = input.event().map(|e| e.subject().to_owned()).unwrap_or_default();
    Ok(vec![GreetFullV1_0_0Emits::Success(Greeting { text: format!("{} @ {subject}", input.data.name) }).into()])
}

/// Synchronous, an `Emission` with options, any `std::error::Error`.
#[arvo_handler(contract = GreetSync, version = "1.0.0")]
fn greet_sync(input: Greet) -> Result<Emission<GreetSyncV1_0_0Emits>, std::num::ParseIntError> {
    let n: i64 = input.name.parse()?;
    Ok(Emission::new(GreetSyncV1_0_0Emits::Success(Greeting { text: format!("#{n}") })).executionunits(2.0))
}

/// Several events as a `Vec` of the emits enum.
#[arvo_handler(contract = GreetMany, version = "1.0.0")]
async fn greet_many(input: Greet) -> Result<Vec<GreetManyV1_0_0Emits>, HandlerError> {
    Ok(vec![
        GreetManyV1_0_0Emits::EvtGreetHello(Greeting { text: format!("hello {}", input.name) }),
        GreetManyV1_0_0Emits::EvtGreetBye(Greeting { text: format!("bye {}", input.name) }),
    ])
}

fn event<V: ContractVersion>(data: serde_json::Value) -> ArvoEvent {
    ArvoEventFactory::new(V::versioned())
        .accepts(EventInput::new("com.client", data).with_subject("s-1"))
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // Called directly, as written.
    let direct = greet::call(Greet { name: "Ada".into() }).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(direct, GreetServiceV1_0_0Emits::Success(Greeting { ref text }) if text == "Hello, Ada!"));

    // Through the handler runtime.
    let h = ArvoEventHandler::of(greet).build().unwrap_or_else(|e| panic!("{e}"));
    let out = h.execute(&event::<GreetServiceV1_0_0>(serde_json::json!({"name": "Ada"})), ParentContext::Event).await;
    let out = out.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].event_type(), "evt.greet.user.success");
    assert_eq!(out[0].data()["text"], "Hello, Ada!");
    let err = h.execute(&event::<GreetServiceV1_0_0>(serde_json::json!({"name": ""})), ParentContext::Event).await;
    let err = err.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(err[0].event_type(), "sys.com.greet.user.error");
    assert_eq!(err[0].data()["errorMessage"], "no name");
    let violation = h.execute(&event::<GreetServiceV1_0_0>(serde_json::json!({"name": "stop"})), ParentContext::Event).await;
    assert_eq!(violation.err(), Some(Violation::execution("stopped")));

    let h = ArvoEventHandler::of(greet_full).build().unwrap_or_else(|e| panic!("{e}"));
    let out = h.execute(&event::<GreetFullV1_0_0>(serde_json::json!({"name": "Bo"})), ParentContext::Event).await;
    assert_eq!(out.unwrap_or_else(|e| panic!("{e}"))[0].data()["text"], "Bo @ s-1");

    let h = ArvoEventHandler::of(greet_sync).build().unwrap_or_else(|e| panic!("{e}"));
    let out = h.execute(&event::<GreetSyncV1_0_0>(serde_json::json!({"name": "7"})), ParentContext::Event).await;
    let out = out.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((out[0].data()["text"].as_str(), out[0].executionunits()), (Some("#7"), Some(2.0)));
    let out = h.execute(&event::<GreetSyncV1_0_0>(serde_json::json!({"name": "x"})), ParentContext::Event).await;
    assert_eq!(out.unwrap_or_else(|e| panic!("{e}"))[0].event_type(), "sys.com.greet.sync.error");

    let h = ArvoEventHandler::of(greet_many).build().unwrap_or_else(|e| panic!("{e}"));
    let out = h.execute(&event::<GreetManyV1_0_0>(serde_json::json!({"name": "Cy"})), ParentContext::Event).await;
    let types: Vec<String> = out.unwrap_or_else(|e| panic!("{e}")).iter().map(|e| e.event_type().to_owned()).collect();
    assert_eq!(types, ["evt.greet.hello", "evt.greet.bye"]);
}
