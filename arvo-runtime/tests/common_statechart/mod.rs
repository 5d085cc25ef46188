//! Contracts of the statechart tests (`statechart_engine.rs`, `machine_props.rs`): services
//! `t.<name>` and the orchestrator `t.flow`, every payload any object, and the flow's init event.
#![allow(dead_code, missing_docs, clippy::unwrap_used, clippy::expect_used)]

use arvo_runtime::contract::{ArvoContract, OrchestratorContract, Schema};
use arvo_runtime::event::ArvoEvent;
use arvo_runtime::factory::{ArvoOrchestratorEventFactory, EventInput};
use serde_json::json;

pub fn any_object() -> Schema {
    Schema::new(json!({"type": "object"})).unwrap()
}

/// The simple service `com.t.<name>` (emits `evt.t.<name>.success`).
pub fn service(name: &str) -> ArvoContract {
    ArvoContract::simple(format!("#/t/{name}"), format!("t.{name}"))
        .version("1.0.0", any_object(), any_object())
        .build()
        .unwrap()
}

/// The orchestrator `arvo.orc.t.flow`.
pub fn flow() -> OrchestratorContract {
    ArvoContract::orchestrator("#/t/flow", "t.flow")
        .version("1.0.0", any_object(), any_object())
        .build()
        .unwrap()
}

/// An init event of the flow, without a parent.
pub fn init() -> ArvoEvent {
    ArvoOrchestratorEventFactory::new(flow().latest())
        .unwrap()
        .init(EventInput::new(
            "com.test.client",
            json!({"parentSubject$$": null}),
        ))
        .unwrap()
}
