//! Every case of `event_handler_execute.json` (the reference's `ArvoEventHandler.execute` for
//! contract `com.calc.add`), reproduced: fields the vector lists as random (ids, times, stacks)
//! are excluded, every other field is equal, key order of the JSON included.
//!
//! The vector's handler is not serialised; its behaviour is read from the cases (by input id):
//! `result = a + b`, an error for negative operands, nothing for `in-0007`, two outputs with
//! overrides for `in-0006`, a string result for `in-0014`, `+1000` when the input carries the
//! extra key (`in-0015`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use arvo_runtime::contract::{ArvoContract, Schema};
use arvo_runtime::event::ArvoEvent;
use arvo_runtime::handler::{
    ArvoEventHandler, HandlerError, HandlerInput, HandlerResult, ParentContext, RawOutput,
};
use serde_json::{Value, json};

const VECTORS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/event_handler_execute.json"
));

fn schema(v: &Value) -> Schema {
    Schema::new(v.clone()).unwrap()
}

/// C1 built from the vector's own exported schemas.
fn contract(config: &Value) -> ArvoContract {
    let c = &config["contract"];
    let v = &c["versions"][0];
    ArvoContract::simple(c["uri"].as_str().unwrap(), "calc.add")
        .version(
            v["version"].as_str().unwrap(),
            schema(&v["accepts"]["schema"]),
            schema(&v["emits"][0]["schema"]),
        )
        .build()
        .unwrap()
}

#[derive(Debug)]
struct Negative(String);
impl std::fmt::Display for Negative {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Negative {}

fn calc(input: HandlerInput<'_>) -> HandlerResult {
    let d = input.event.data();
    let a = d.get("a").and_then(Value::as_f64).unwrap_or_default();
    let b = d.get("b").and_then(Value::as_f64).unwrap_or_default();
    let ok = |r: f64| RawOutput::new("evt.calc.add.success", json!({"result": r}));
    match input.event.id() {
        "in-0006" => Ok(vec![
            ok(a + b),
            ok(-1.0)
                .to("com.example.audit")
                .accesscontrol("role:auditor")
                .executionunits(7.0)
                .extension("auditflag", true),
        ]),
        "in-0007" => Ok(vec![]),
        "in-0014" => Ok(vec![RawOutput::new(
            "evt.calc.add.success",
            json!({"result": "5"}),
        )]),
        _ if a < 0.0 || b < 0.0 => Err(HandlerError::from(Negative(format!(
            "Negative operands are not supported (a={a}, b={b})"
        )))),
        _ if d.contains_key("extra") => Ok(vec![RawOutput::new(
            "evt.calc.add.success",
            json!({"result": a + b + 1000.0, "echoedExtra": d["extra"]}),
        )]),
        _ => Ok(vec![ok(a + b)]),
    }
}

/// Sets every random path (`events[0].id`, `events[0].data.errorStack`) to a placeholder.
fn blank(outcome: &mut Value, random: &[Value]) {
    for path in random {
        let path = path.as_str().unwrap();
        let mut cur = &mut *outcome;
        for part in path.split('.') {
            cur = match part.split_once('[') {
                Some((k, idx)) => {
                    let i: usize = idx.trim_end_matches(']').parse().unwrap();
                    &mut cur[k][i]
                }
                None => &mut cur[part],
            };
        }
        *cur = json!("<random>");
    }
}

#[tokio::test]
async fn every_case_of_event_handler_execute() {
    let vectors: Value = serde_json::from_str(VECTORS).unwrap();
    let config = &vectors["handlerConfig"];
    let handler = ArvoEventHandler::builder(contract(config))
        .executionunits(config["executionunits"].as_f64().unwrap())
        .version_sync("1.0.0", calc)
        .build()
        .unwrap();
    let cases = vectors["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 15);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let input = ArvoEvent::from_json_str(&case["input"].to_string()).unwrap();
        let expected = &case["outcome"];
        let random = case["random"].as_array().unwrap();
        let actual = match handler.execute(&input, ParentContext::Event).await {
            Ok(events) => {
                let events: Vec<Value> = events
                    .iter()
                    .map(|e| serde_json::from_str(&e.to_json_string()).unwrap())
                    .collect();
                json!({"kind": "events", "events": events})
            }
            Err(v) => json!({"kind": "thrown", "error": {
                "name": v.name(), "message": v.to_string(), "violationType": v.violation_type()
            }}),
        };
        let (mut want, mut got) = (expected.clone(), actual);
        blank(&mut want, random);
        blank(&mut got, random);
        // Key order included: compare the serialisations.
        assert_eq!(
            serde_json::to_string_pretty(&got).unwrap(),
            serde_json::to_string_pretty(&want).unwrap(),
            "case {name}"
        );
    }
}
