//! A typed handler (`#[arvo_contract]`'s handler trait) run end to end by
//! `ArvoEventHandler::typed`: events in, events out, no broker.

use arvo_runtime::ArvoEvent;
use arvo_runtime::arvo_contract;
use arvo_runtime::event::{EventIdInput, ExtensionValue};
use arvo_runtime::factory::{ArvoEventFactory, EventInput};
use arvo_runtime::handler::{ArvoEventHandler, DomainSpec, ParentContext, Violation};
use arvo_runtime::typed::{ContractVersion, Emission, HandlerOutput, Input, TypedContract};
use arvo_runtime::violation::CustomViolation;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// What version 1.0.0 of the test contract is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Mode {
    /// Emit the sum.
    Sum,
    /// Fail with a plain error.
    Fail,
    /// Fail with an execution violation.
    Violation,
    /// Fail with an error whose `source()` is a violation error.
    Wrapped,
    /// Emit the sum with per-output options.
    Options,
    /// Emit what the input's context holds.
    Context,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct AddInput {
    a: f64,
    b: f64,
    mode: Mode,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct SumInput {
    values: Vec<f64>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct Sum {
    result: f64,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct Seen {
    id: String,
    subject: String,
    source: String,
    accesscontrol: Option<String>,
    domain: Option<String>,
    version: String,
    dataschema: String,
    traceparent: Option<String>,
}

#[arvo_contract(
    uri = "#/test/calc",
    type = "com.test.calc",
    domain = "math",
    version("1.0.0", accepts = AddInput, emits("evt.test.calc.sum" = Sum, "evt.test.calc.seen" = Seen)),
    version("2.0.0", accepts = SumInput, emits("evt.test.calc.total" = Sum)),
)]
struct Calc;

/// An error that hides a violation in its `source()`.
#[derive(Debug, thiserror::Error)]
#[error("lock lost")]
struct LockLost(#[source] CustomViolation);

struct Calculator;

impl CalcHandler for Calculator {
    async fn v1_0_0(&self, input: Input<'_, CalcV1_0_0>) -> HandlerOutput<CalcV1_0_0> {
        let AddInput { a, b, mode } = input.data;
        let sum = CalcV1_0_0Emits::EvtTestCalcSum(Sum { result: a + b });
        match mode {
            Mode::Sum => Ok(vec![sum.into()]),
            Mode::Fail => Err(format!("cannot add {a} and {b}").into()),
            Mode::Violation => Err(Violation::execution("stop here").into()),
            Mode::Wrapped => {
                Err(LockLost(CustomViolation::new("Execution", "wrapped stop")).into())
            }
            Mode::Options => Ok(vec![
                Emission::new(sum)
                    .to("com.test.audit")
                    .accesscontrol("role=auditor")
                    .redirectto("com.test.back")
                    .executionunits(7.5)
                    .id(EventIdInput::DeveloperManaged("out-1".into()))
                    .domains(vec![
                        DomainSpec::Local,
                        DomainSpec::literal("audit.eu")?,
                        DomainSpec::FromSelfContract,
                        DomainSpec::Local,
                    ])
                    .extension("auditflag", true),
            ]),
            Mode::Context => {
                let (Some(event), Some(contract), Some(headers)) =
                    (input.event(), input.contract(), input.span_headers())
                else {
                    return Err("no context".into());
                };
                let seen = Seen {
                    id: event.id().to_owned(),
                    subject: event.subject().to_owned(),
                    source: event.source().to_owned(),
                    accesscontrol: event.accesscontrol().map(str::to_owned),
                    domain: event.domain().map(str::to_owned),
                    version: contract.version().to_string(),
                    dataschema: contract.dataschema().to_owned(),
                    traceparent: headers.traceparent.clone(),
                };
                Ok(vec![CalcV1_0_0Emits::EvtTestCalcSeen(seen).into()])
            }
        }
    }

    async fn v2_0_0(&self, input: Input<'_, CalcV2_0_0>) -> HandlerOutput<CalcV2_0_0> {
        let result = input.data.values.iter().sum();
        Ok(vec![
            CalcV2_0_0Emits::EvtTestCalcTotal(Sum { result }).into(),
        ])
    }
}

fn handler() -> ArvoEventHandler {
    match ArvoEventHandler::typed::<Calc, _>(Calculator)
        .executionunits(0.5)
        .build()
    {
        Ok(h) => h,
        Err(e) => panic!("the typed handler builds: {e}"),
    }
}

fn event_v1(data: serde_json::Value) -> ArvoEvent {
    ArvoEventFactory::new(Calc::contract().version("1.0.0").expect("version 1.0.0"))
        .accepts(EventInput::new("com.test.client", data).with_subject("calc-1"))
        .expect("a valid event")
}

async fn run(event: &ArvoEvent) -> Result<Vec<ArvoEvent>, Violation> {
    handler().execute(event, ParentContext::Event).await
}

#[tokio::test]
async fn success_emits_the_typed_output_with_every_default() {
    let event = event_v1(json!({"a": 2, "b": 3, "mode": "sum"}));
    let out = run(&event).await.expect("no violation");
    assert_eq!(out.len(), 1);
    let e = &out[0];
    assert_eq!(e.event_type(), "evt.test.calc.sum");
    assert_eq!(e.data()["result"], json!(5.0));
    assert_eq!(e.source(), "com.test.calc");
    assert_eq!(e.subject(), "calc-1");
    assert_eq!(e.dataschema(), Some("#/test/calc/1.0.0"));
    assert_eq!(e.to(), Some("com.test.client"));
    assert_eq!(e.parentid(), Some(event.id()));
    assert_eq!(e.executionunits(), Some(0.5));
    assert_eq!(e.domain(), None);
}

#[tokio::test]
async fn an_error_of_user_code_becomes_a_system_error_event() {
    let event = event_v1(json!({"a": 2, "b": 3, "mode": "fail"}));
    let out = run(&event)
        .await
        .expect("a system error is not a violation");
    assert_eq!(out.len(), 1);
    let e = &out[0];
    assert_eq!(e.event_type(), Calc::SYSTEM_ERROR_TYPE);
    assert_eq!(e.data()["errorMessage"], json!("cannot add 2 and 3"));
    assert_eq!(e.to(), Some("com.test.client"));
    assert_eq!(e.parentid(), Some(event.id()));
}

#[tokio::test]
async fn a_violation_of_user_code_is_returned_as_a_violation() {
    let event = event_v1(json!({"a": 2, "b": 3, "mode": "violation"}));
    assert_eq!(run(&event).await, Err(Violation::execution("stop here")));

    let event = event_v1(json!({"a": 2, "b": 3, "mode": "wrapped"}));
    assert_eq!(run(&event).await, Err(Violation::execution("wrapped stop")));
}

#[tokio::test]
async fn events_are_routed_to_the_method_of_their_version() {
    let v2 = ArvoEventFactory::new(Calc::contract().version("2.0.0").expect("version 2.0.0"))
        .accepts(
            EventInput::new("com.test.client", json!({"values": [1, 2, 3.5]}))
                .with_subject("calc-2"),
        )
        .expect("a valid event");
    let out = run(&v2).await.expect("no violation");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].event_type(), "evt.test.calc.total");
    assert_eq!(out[0].dataschema(), Some(CalcV2_0_0::DATASCHEMA));
    assert_eq!(out[0].data()["result"], json!(6.5));

    // Without dataschema: the latest version, whose schema refuses version 1's payload.
    let v1 = event_v1(json!({"a": 2, "b": 3, "mode": "sum"}));
    let mut json = v1.to_json_value();
    json["dataschema"] = serde_json::Value::Null;
    let bare = ArvoEvent::from_json_str(&json.to_string()).expect("a valid event");
    let err = run(&bare).await.expect_err("version 2.0.0 needs `values`");
    assert!(matches!(err, Violation::Contract { .. }), "{err}");

    // An unknown version is a config violation.
    let mut json = v1.to_json_value();
    json["dataschema"] = json!("#/test/calc/9.9.9");
    let unknown = ArvoEvent::from_json_str(&json.to_string()).expect("a valid event");
    let err = run(&unknown).await.expect_err("no version 9.9.9");
    assert!(matches!(err, Violation::Config { .. }), "{err}");
}

#[tokio::test]
async fn per_output_options_are_applied() {
    let event = event_v1(json!({"a": 1, "b": 1, "mode": "options"}));
    let out = run(&event).await.expect("no violation");
    // Local, audit.eu and the contract's own domain `math`; the repeated Local is dropped.
    let domains: Vec<_> = out.iter().map(ArvoEvent::domain).collect();
    assert_eq!(domains, [None, Some("audit.eu"), Some("math")]);
    for e in &out {
        assert_eq!(e.event_type(), "evt.test.calc.sum");
        assert_eq!(e.data()["result"], json!(2.0));
        assert_eq!(e.to(), Some("com.test.audit"));
        assert_eq!(e.accesscontrol(), Some("role=auditor"));
        assert_eq!(e.redirectto(), Some("com.test.back"));
        assert_eq!(e.executionunits(), Some(7.5));
        assert_eq!(e.id(), "out-1");
        assert_eq!(
            e.extensions().get("auditflag"),
            Some(&ExtensionValue::Bool(true))
        );
    }
}

#[tokio::test]
async fn the_method_sees_the_event_the_contract_and_the_span() {
    let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let mut input = EventInput::new(
        "com.test.client",
        json!({"a": 0, "b": 0, "mode": "context"}),
    )
    .with_subject("calc-ctx")
    .with_domain("math");
    input.accesscontrol = Some("role=admin".into());
    input.traceparent = Some(traceparent.into());
    let event = ArvoEventFactory::new(CalcV1_0_0::versioned())
        .accepts(input)
        .expect("a valid event");
    let out = run(&event).await.expect("no violation");
    assert_eq!(out.len(), 1);
    let seen = &out[0];
    assert_eq!(seen.event_type(), "evt.test.calc.seen");
    let data = seen.data();
    assert_eq!(data["id"], json!(event.id()));
    assert_eq!(data["subject"], json!("calc-ctx"));
    assert_eq!(data["source"], json!("com.test.client"));
    assert_eq!(data["accesscontrol"], json!("role=admin"));
    assert_eq!(data["domain"], json!("math"));
    assert_eq!(data["version"], json!("1.0.0"));
    assert_eq!(data["dataschema"], json!(CalcV1_0_0::DATASCHEMA));
    // The method sees the headers that the emitted events carry (the handler span's).
    assert_eq!(data["traceparent"].as_str(), seen.traceparent());
    assert!(
        seen.traceparent()
            .is_some_and(|t| t.contains("0af7651916cd43dd8448eb211c80319c"))
    );
}

#[tokio::test]
async fn a_typed_method_is_unit_testable_without_the_runtime() {
    let out = Calculator
        .v1_0_0(Input::new(AddInput {
            a: 1.0,
            b: 2.0,
            mode: Mode::Sum,
        }))
        .await
        .expect("no error");
    let raw = out
        .into_iter()
        .map(|e| e.into_raw().expect("serialisable"))
        .collect::<Vec<_>>();
    assert_eq!(raw.len(), 1);
    assert_eq!(raw[0].event_type, "evt.test.calc.sum");
    assert_eq!(raw[0].data, json!({"result": 3.0}));
    // Without an event there is no context.
    let err = Calculator
        .v1_0_0(Input::new(AddInput {
            a: 1.0,
            b: 2.0,
            mode: Mode::Context,
        }))
        .await
        .expect_err("no context");
    assert_eq!(err.to_string(), "no context");
    assert_eq!(<Calc as TypedContract>::VERSIONS, ["1.0.0", "2.0.0"]);
}
