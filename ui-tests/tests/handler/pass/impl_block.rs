//! `#[arvo_handler]` on an impl block: a handler with state, one method per version (named
//! freely), both input forms, a helper method left alone, options through `ArvoEventHandler::of`.
use arvo_runtime::factory::{ArvoEventFactory, EventInput};
use arvo_runtime::handler::ParentContext;
use arvo_runtime::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Greet {
    pub name: String,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct GreetMany {
    pub names: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Greeting {
    pub text: String,
}

#[arvo_contract(uri = "#/greet", type = "greet.user", simple,
    version("1.0.0", accepts = Greet, emits = Greeting),
    version("2.0.0", accepts = GreetMany, emits = Greeting))]
pub struct GreetService;

pub struct Greeter {
    salutation: String,
    calls: AtomicUsize,
}

#[arvo_handler(contract = GreetService)]
impl Greeter {
    /// Version 1: the full input.
    #[version("1.0.0")]
    pub async fn single(&self, input: Input<'_, GreetServiceV1_0_0>) -> HandlerOutput<GreetServiceV1_0_0> {
        Ok(vec![GreetServiceV1_0_0Emits::Success(self.greet(&input.data.name)).into()])
    }

    /// Version 2: the payload, one event.
    #[version("2.0.0")]
    async fn many(&self, input: GreetMany) -> Result<GreetServiceV2_0_0Emits, HandlerError> {
        Ok(GreetServiceV2_0_0Emits::Success(self.greet(&input.names.join(" and "))))
    }

    fn greet(&self, name: &str) -> Greeting {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Greeting { text: format!("{}, {name}!", self.salutation) }
    }
}

fn event<V: ContractVersion>(data: serde_json::Value) -> ArvoEvent {
    ArvoEventFactory::new(V::versioned())
        .accepts(EventInput::new("com.client", data).with_subject("s-1"))
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let greeter = Greeter { salutation: "Hi".into(), calls: AtomicUsize::new(0) };
    let h = ArvoEventHandler::of(greeter).executionunits(3.0).build().unwrap_or_else(|e| panic!("{e}"));
    let v1 = h.execute(&event::<GreetServiceV1_0_0>(serde_json::json!({"name": "Ada"})), ParentContext::Event).await;
    let v1 = v1.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v1[0].data()["text"], "Hi, Ada!");
    assert_eq!(v1[0].dataschema(), Some("#/greet/1.0.0"));
    assert_eq!(v1[0].executionunits(), Some(3.0));
    let v2 = h.execute(&event::<GreetServiceV2_0_0>(serde_json::json!({"names": ["Bo", "Cy"]})), ParentContext::Event).await;
    let v2 = v2.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v2[0].data()["text"], "Hi, Bo and Cy!");
    assert_eq!(v2[0].dataschema(), Some("#/greet/2.0.0"));

    // The broker takes the value itself.
    let broker = EventBroker::builder()
        .handler(Greeter { salutation: "Yo".into(), calls: AtomicUsize::new(0) })
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(broker.handlers(), ["com.greet.user"]);
}
