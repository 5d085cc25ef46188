//! The reference's `tests/ArvoOrchestrator/index.spec.ts` (spec §13.6) over the fixtures of
//! §13.8.2 (the increment, decrement and number.modifier orchestrators with the value.read /
//! value.write, increment and decrement services), including the broker scenarios of §13.8.3.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common_machine;

use arvo_runtime::factory::{ArvoEventFactory, EventInput};
use arvo_runtime::handler::ParentContext;
use common_machine::contracts::{
    DecFlow, Decrement, Dumb, Increment, IncFlow, NumberModifier, ValueRead, ValueWrite,
};
use common_machine::services;
use serde_json::json;

/// The §13.8.2 contracts have the reference's types, URIs and versions.
#[test]
fn fixture_contracts() {
    assert_eq!(ValueRead::TYPE, "com.value.read");
    assert_eq!(ValueRead::SUCCESS_TYPE, "evt.value.read.success");
    assert_eq!(ValueWrite::TYPE, "com.value.write");
    assert_eq!(Decrement::TYPE, "com.decrement.number");
    assert_eq!(Decrement::SUCCESS_TYPE, "evt.decrement.number.success");
    assert_eq!(Increment::TYPE, "com.increment.number");
    let v2 = Increment::contract().version("0.0.2").unwrap();
    let emits: Vec<_> = v2.emit_list().iter().map(|e| e.event_type.clone()).collect();
    assert_eq!(
        emits,
        ["evt.increment.number.success", "evt.multiplier.number.success"]
    );
    assert_eq!(IncFlow::INIT_TYPE, "arvo.orc.inc");
    assert_eq!(DecFlow::SYSTEM_ERROR_TYPE, "sys.arvo.orc.dec.error");
    assert_eq!(NumberModifier::INIT_TYPE, "arvo.orc.number.modifier");
    assert_eq!(
        NumberModifier::contract().latest().dataschema(),
        "#/test/orchestrator/number/modifier/0.0.2"
    );
    assert_eq!(Dumb::COMPLETE_TYPE, "arvo.orc.dumb.done");
}

/// The services behave as the reference's handlers (§13.8.2).
#[tokio::test]
async fn fixture_services() {
    let store = services::store();
    store.lock().unwrap().insert("k".into(), 2.0);
    let read = services::value_read(store.clone());
    let ask = |key: &str| {
        ArvoEventFactory::new(ValueRead::contract().latest())
            .accepts(EventInput::new("com.test.test", json!({"key": key})))
            .unwrap()
    };
    let out = read.execute(&ask("k"), ParentContext::Event).await.unwrap();
    assert_eq!(out[0].data()["value"], 2.0);
    let out = read.execute(&ask("missing"), ParentContext::Event).await.unwrap();
    assert_eq!(out[0].event_type(), "sys.com.value.read.error");
    assert_eq!(out[0].data()["errorMessage"], "No value to find at key=missing");
    let write = services::value_write(store.clone());
    let put = |value: f64| {
        ArvoEventFactory::new(ValueWrite::contract().latest())
            .accepts(EventInput::new("com.test.test", json!({"key": "w", "value": value})))
            .unwrap()
    };
    let out = write.execute(&put(-100.0), ParentContext::Event).await.unwrap();
    assert_eq!(out[0].data()["success"], false);
    assert_eq!(store.lock().unwrap()["w"], -100.0);
    let out = write.execute(&put(-200.0), ParentContext::Event).await.unwrap();
    assert_eq!(out[0].data()["errorMessage"], "Invalid value is -200.");
    let inc = services::increment();
    let mul = ArvoEventFactory::new(Increment::contract().version("0.0.2").unwrap())
        .accepts(EventInput::new("com.test.test", json!({"init": 3, "multiplier": 4})))
        .unwrap();
    let out = inc.execute(&mul, ParentContext::Event).await.unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].event_type(), "evt.multiplier.number.success");
    assert_eq!(out[1].data()["result"], 12.0);
}
