//! The service handlers of the reference's machine and orchestrator tests (spec §13.8.1,
//! §13.8.2): plain `ArvoEventHandler`s over the contracts of [`super::contracts`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arvo_runtime::handler::{
    ArvoEventHandler, HandlerError, HandlerInput, HandlerResult, RawOutput,
};
use serde_json::{Map, Value, json};

use super::contracts::{
    Decrement, DumbService, Increment, NumberDecrement, NumberIncrement, ValueRead, ValueWrite,
};

/// The shared `valueStore` of the reference's tests.
pub type Store = Arc<Mutex<HashMap<String, f64>>>;

/// A new, empty store.
pub fn store() -> Store {
    Arc::default()
}

fn num(d: &Map<String, Value>, k: &str) -> f64 {
    d.get(k).and_then(Value::as_f64).unwrap_or_default()
}

/// `valueRead` (executionunits 0): a missing key throws `No value to find at key=${key}`.
pub fn value_read(store: Store) -> ArvoEventHandler {
    ArvoEventHandler::builder(ValueRead::contract().clone())
        .executionunits(0.0)
        .version_sync("0.0.1", move |input: HandlerInput<'_>| -> HandlerResult {
            let key = input.event.data()["key"].as_str().unwrap_or_default();
            let value = store.lock().unwrap().get(key).copied();
            match value {
                Some(value) => Ok(vec![RawOutput::new(
                    "evt.value.read.success",
                    json!({"key": key, "value": value}),
                )]),
                None => Err(HandlerError::msg(format!("No value to find at key={key}"))),
            }
        })
        .build()
        .unwrap()
}

/// `valueWrite` (executionunits 0): −200 throws `Invalid value is -200.`; −100 is stored and
/// answers `success: false`; anything else is stored, `success: true`.
pub fn value_write(store: Store) -> ArvoEventHandler {
    ArvoEventHandler::builder(ValueWrite::contract().clone())
        .executionunits(0.0)
        .version_sync("0.0.1", move |input: HandlerInput<'_>| -> HandlerResult {
            let d = input.event.data();
            let key = d["key"].as_str().unwrap_or_default().to_owned();
            let value = num(d, "value");
            if value == -200.0 {
                return Err(HandlerError::msg("Invalid value is -200."));
            }
            store.lock().unwrap().insert(key.clone(), value);
            Ok(vec![RawOutput::new(
                "evt.value.write.success",
                json!({"key": key, "success": value != -100.0}),
            )])
        })
        .build()
        .unwrap()
}

/// `increment` (executionunits 0.1): 0.0.1 `init + increment`; 0.0.2 two events
/// (`evt.increment.number.success`, `evt.multiplier.number.success`), both `init * multiplier`.
pub fn increment() -> ArvoEventHandler {
    ArvoEventHandler::builder(Increment::contract().clone())
        .executionunits(0.1)
        .version_sync("0.0.1", |input: HandlerInput<'_>| -> HandlerResult {
            let d = input.event.data();
            Ok(vec![RawOutput::new(
                "evt.increment.number.success",
                json!({"result": num(d, "init") + num(d, "increment")}),
            )])
        })
        .version_sync("0.0.2", |input: HandlerInput<'_>| -> HandlerResult {
            let d = input.event.data();
            let result = json!({"result": num(d, "init") * num(d, "multiplier")});
            Ok(vec![
                RawOutput::new("evt.increment.number.success", result.clone()),
                RawOutput::new("evt.multiplier.number.success", result),
            ])
        })
        .build()
        .unwrap()
}

/// `decrement` (executionunits 0.1): 0.0.1 `init - decrement`; 0.0.2 `init / divider`.
pub fn decrement() -> ArvoEventHandler {
    ArvoEventHandler::builder(Decrement::contract().clone())
        .executionunits(0.1)
        .version_sync("0.0.1", |input: HandlerInput<'_>| -> HandlerResult {
            let d = input.event.data();
            Ok(vec![RawOutput::new(
                "evt.decrement.number.success",
                json!({"result": num(d, "init") - num(d, "decrement")}),
            )])
        })
        .version_sync("0.0.2", |input: HandlerInput<'_>| -> HandlerResult {
            let d = input.event.data();
            Ok(vec![RawOutput::new(
                "evt.decrement.number.success",
                json!({"result": num(d, "init") / num(d, "divider")}),
            )])
        })
        .build()
        .unwrap()
}

/// The counter machine's increment service (§13.8.1): both versions, `newValue = delta + 9`.
pub fn number_increment() -> ArvoEventHandler {
    let f = |input: HandlerInput<'_>| -> HandlerResult {
        let d = input.event.data();
        Ok(vec![RawOutput::new(
            "evt.number.increment.success",
            json!({"newValue": num(d, "delta") + 9.0}),
        )])
    };
    ArvoEventHandler::builder(NumberIncrement::contract().clone())
        .version_sync("0.0.1", f)
        .version_sync("0.0.2", f)
        .build()
        .unwrap()
}

/// The counter machine's decrement service: `newValue = delta - 9`.
pub fn number_decrement() -> ArvoEventHandler {
    ArvoEventHandler::builder(NumberDecrement::contract().clone())
        .version_sync("0.0.1", |input: HandlerInput<'_>| -> HandlerResult {
            let d = input.event.data();
            Ok(vec![RawOutput::new(
                "evt.number.decrement.success",
                json!({"newValue": num(d, "delta") - 9.0}),
            )])
        })
        .build()
        .unwrap()
}

/// `com.dumb.service`: answers `{}`.
pub fn dumb_service() -> ArvoEventHandler {
    ArvoEventHandler::builder(DumbService::contract().clone())
        .version_sync("1.0.0", |_: HandlerInput<'_>| -> HandlerResult {
            Ok(vec![RawOutput::new("evt.dumb.service.success", json!({}))])
        })
        .build()
        .unwrap()
}
