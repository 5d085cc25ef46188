//! Bad input: each kind gives a clear violation (or error event), never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use arvo_runtime::contract::{ArvoContract, Schema};
use arvo_runtime::event::ArvoEvent;
use arvo_runtime::handler::{ArvoEventHandler, ParentContext, RawOutput, Violation};
use serde_json::{Value, json};

fn handler() -> ArvoEventHandler {
    let ab = Schema::new(json!({"type":"object","properties":{"a":{"type":"number"},"b":{"type":"number"}},"required":["a","b"]})).unwrap();
    let r = Schema::new(
        json!({"type":"object","properties":{"result":{"type":"number"}},"required":["result"]}),
    )
    .unwrap();
    let c = ArvoContract::simple("#/bench/calc/add", "calc.add")
        .version("1.0.0", ab, r)
        .build()
        .unwrap();
    ArvoEventHandler::builder(c)
        .max_event_bytes(4096)
        .version_sync("1.0.0", |i| {
            let d = i.event.data();
            let s = d["a"].as_f64().unwrap_or_default() + d["b"].as_f64().unwrap_or_default();
            Ok(vec![RawOutput::new(
                "evt.calc.add.success",
                json!({"result": s}),
            )])
        })
        .build()
        .unwrap()
}

fn event(event_type: &str, dataschema: Option<&str>, data: Value) -> Value {
    json!({"id": "in-1", "source": "com.client.app", "specversion": "1.0", "type": event_type,
        "subject": "s-1", "datacontenttype": "application/cloudevents+json;charset=UTF-8;profile=arvo",
        "dataschema": dataschema, "data": data, "time": "2024-01-01T00:00:00.000+00:00",
        "to": event_type, "accesscontrol": null, "redirectto": null, "executionunits": null,
        "traceparent": null, "tracestate": null, "parentid": null, "domain": null})
}

async fn run(v: &Value) -> Result<Vec<ArvoEvent>, Violation> {
    handler()
        .execute_json(v.to_string().as_bytes(), ParentContext::Event)
        .await
}

#[tokio::test]
async fn wrong_type_is_a_config_violation() {
    let err = run(&event(
        "com.calc.sub",
        Some("#/bench/calc/add/1.0.0"),
        json!({"a": 1, "b": 2}),
    ))
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "ViolationError<Config> Event type mismatch: Received 'com.calc.sub', expected 'com.calc.add'"
    );
}

#[tokio::test]
async fn unknown_version_is_a_config_violation() {
    let err = run(&event(
        "com.calc.add",
        Some("#/bench/calc/add/0.0.0"),
        json!({"a": 1, "b": 2}),
    ))
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "ViolationError<Config> Invalid contract version: 0.0.0. Available versions: 1.0.0"
    );
}

#[tokio::test]
async fn wrong_contract_uri_is_a_contract_violation() {
    let err = run(&event(
        "com.calc.add",
        Some("#/calc/other/1.0.0"),
        json!({"a": 1, "b": 2}),
    ))
    .await
    .unwrap_err();
    assert!(matches!(err, Violation::Contract { .. }));
    assert!(
        err.to_string()
            .starts_with("ViolationError<Contract> Contract URI mismatch: ")
    );
}

#[tokio::test]
async fn malformed_data_is_a_contract_violation() {
    let err = run(&event("com.calc.add", None, json!({"a": "one", "b": [2]})))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("ViolationError<Contract> Input event payload validation failed: [")
    );
    // `data` that is not an object is refused by the event layer, before the handler.
    let err = run(&event("com.calc.add", None, json!([1, 2])))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("ViolationError<Contract> Invalid ArvoEvent: ")
    );
}

#[tokio::test]
async fn malformed_json_is_a_contract_violation() {
    let h = handler();
    for bad in [&b"{"[..], b"not json", b"[]", b"{\"id\": 1}"] {
        let err = h.execute_json(bad, ParentContext::Event).await.unwrap_err();
        assert!(matches!(err, Violation::Contract { .. }), "{err}");
    }
    // Deep nesting stops at serde_json's recursion limit, without a stack overflow.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let text = event("com.calc.add", None, json!({"a": 1, "b": 2}))
        .to_string()
        .replace("\"data\":{", &format!("\"deep\":{deep},\"data\":{{"));
    let err = h
        .execute_json(text.as_bytes(), ParentContext::Event)
        .await
        .unwrap_err();
    assert!(matches!(err, Violation::Contract { .. }));
}

#[tokio::test]
async fn oversize_event_is_refused_before_parsing() {
    let big = "x".repeat(5000);
    let err = run(&event(
        "com.calc.add",
        None,
        json!({"a": 1, "b": 2, "pad": big}),
    ))
    .await
    .unwrap_err();
    assert!(matches!(err, Violation::Contract { .. }));
    assert!(
        err.to_string().contains("exceeds the limit of 4096 bytes"),
        "{err}"
    );
}
