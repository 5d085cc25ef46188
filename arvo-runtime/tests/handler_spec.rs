//! Port of the reference's `tests/ArvoEventHandler/index.spec.ts` (spec §13.1, 32 tests,
//! numbered as there).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use arvo_runtime::contract::{ArvoContract, Schema, VersionSpec};
use arvo_runtime::event::{ArvoEvent, EventIdInput, OtelValue};
use arvo_runtime::factory::{ArvoEventFactory, EventInput};
use arvo_runtime::handler::{
    ArvoEventHandler, DomainSpec, EventHandler, HandlerError, HandlerInput, HandlerResult,
    ParentContext, RawOutput, Violation,
};
use arvo_runtime::violation::arvo_error_schema;
use opentelemetry::KeyValue;
use serde_json::{Value, json};

fn obj(props: Value, required: &[&str]) -> Schema {
    Schema::new(json!({"type": "object", "properties": props, "required": required, "additionalProperties": false}))
        .unwrap()
}

fn spec() -> VersionSpec {
    VersionSpec::new(obj(
        json!({"name": {"type": "string"}, "age": {"type": "number"}}),
        &["name", "age"],
    ))
    .emit(
        "evt.hello.world.success",
        obj(json!({"result": {"type": "string"}}), &["result"]),
    )
    .emit("evt.hello.world.error", arvo_error_schema())
}

fn mock_contract() -> ArvoContract {
    ArvoContract::builder("#/test/ArvoEventHandler", "com.hello.world")
        .version("0.0.1", spec())
        .build()
        .unwrap()
}

fn mock_contract_with_domain() -> ArvoContract {
    ArvoContract::builder("#/test/ArvoEventHandler", "com.hello.world")
        .domain("test.3333")
        .version("0.0.1", spec())
        .build()
        .unwrap()
}

fn mock_event_with(domain: Option<&str>, subject: Option<&str>) -> ArvoEvent {
    ArvoEventFactory::new(mock_contract().version("0.0.1").unwrap())
        .accepts(EventInput {
            to: Some("com.hello.world".into()),
            subject: subject.map(str::to_owned),
            domain: domain.map(str::to_owned),
            ..EventInput::new("com.test.env", json!({"name": "Saad Ahmad", "age": 26}))
        })
        .unwrap()
}

fn mock_event() -> ArvoEvent {
    mock_event_with(None, Some("test-subject"))
}

fn greeting(input: &HandlerInput<'_>) -> String {
    let d = input.event.data();
    format!(
        "My name is {}. I am {} years old",
        d["name"].as_str().unwrap_or_default(),
        d["age"]
    )
}

/// `mockHandlerFunction`.
fn mock_handler_fn(input: HandlerInput<'_>) -> HandlerResult {
    Ok(vec![RawOutput::new(
        "evt.hello.world.success",
        json!({"result": greeting(&input)}),
    )])
}

fn handler_with(
    contract: ArvoContract,
    f: impl for<'a> Fn(HandlerInput<'a>) -> HandlerResult + Send + Sync + 'static,
) -> ArvoEventHandler {
    ArvoEventHandler::builder(contract)
        .executionunits(100.0)
        .version_sync("0.0.1", f)
        .build()
        .unwrap()
}

fn mock_handler() -> ArvoEventHandler {
    handler_with(mock_contract(), mock_handler_fn)
}

fn with_domains(specs: Vec<DomainSpec>) -> impl Fn(HandlerInput<'_>) -> HandlerResult {
    move |input| {
        Ok(vec![
            RawOutput::new(
                "evt.hello.world.success",
                json!({"result": greeting(&input)}),
            )
            .domains(specs.clone()),
        ])
    }
}

fn lit(d: &str) -> DomainSpec {
    DomainSpec::literal(d).unwrap()
}

fn throws(msg: &'static str) -> impl Fn(HandlerInput<'_>) -> HandlerResult {
    move |_| Err(HandlerError::from(std::io::Error::other(msg)))
}

async fn run(h: &ArvoEventHandler, e: &ArvoEvent) -> Result<Vec<ArvoEvent>, Violation> {
    h.execute(e, ParentContext::Event).await
}

fn domains(events: &[ArvoEvent]) -> Vec<Option<&str>> {
    events.iter().map(ArvoEvent::domain).collect()
}

// 1
#[tokio::test]
async fn basic_default_source() {
    let h = mock_handler();
    assert_eq!(EventHandler::source(&h), "com.hello.world");
    assert!(!run(&h, &mock_event()).await.unwrap().is_empty());
}

// 2
#[tokio::test]
async fn basic_executes() {
    assert!(
        !run(&mock_handler(), &mock_event())
            .await
            .unwrap()
            .is_empty()
    );
}

// 3
#[tokio::test]
async fn basic_local_domain() {
    let out = run(
        &mock_handler(),
        &mock_event_with(Some("test.test"), Some("test-subject")),
    )
    .await
    .unwrap();
    assert_eq!(out[0].domain(), None);
}

// 4
#[tokio::test]
async fn domain_override() {
    let h = handler_with(
        mock_contract(),
        with_domains(vec![lit("test"), lit("notification")]),
    );
    let out = run(
        &h,
        &mock_event_with(Some("test.test"), Some("test-subject")),
    )
    .await
    .unwrap();
    assert_eq!(domains(&out), [Some("test"), Some("notification")]);
}

// 5
#[tokio::test]
async fn explicit_null_domains() {
    let h = handler_with(
        mock_contract(),
        with_domains(vec![
            DomainSpec::Local,
            DomainSpec::Local,
            DomainSpec::FromSelfContract,
        ]),
    );
    let out = run(&h, &mock_event()).await.unwrap();
    assert_eq!(domains(&out), [None]);
}

// 6
#[tokio::test]
async fn contract_domain_inheritance() {
    let h = handler_with(
        mock_contract_with_domain(),
        with_domains(vec![
            DomainSpec::FromSelfContract,
            DomainSpec::FromTriggeringEvent,
        ]),
    );
    let out = run(&h, &mock_event()).await.unwrap();
    assert_eq!(domains(&out), [Some("test.3333"), None]);
}

// 7
#[tokio::test]
async fn all_domains_share_a_developer_managed_id() {
    let h = handler_with(mock_contract_with_domain(), |input| {
        Ok(vec![
            RawOutput::new(
                "evt.hello.world.success",
                json!({"result": greeting(&input)}),
            )
            .id(EventIdInput::DeveloperManaged("custom-id".into()))
            .domains(vec![
                DomainSpec::Local,
                DomainSpec::FromSelfContract,
                DomainSpec::FromEventContract,
                DomainSpec::FromTriggeringEvent,
                lit("test.3"),
            ]),
        ])
    });
    let out = run(&h, &mock_event_with(Some("test.1"), Some("test-subject")))
        .await
        .unwrap();
    assert_eq!(out.len(), 4);
    assert!(out.iter().all(|e| e.id() == "custom-id"));
    assert_eq!(
        domains(&out),
        [None, Some("test.3333"), Some("test.1"), Some("test.3")]
    );
}

// 8
#[tokio::test]
async fn error_domain_contract_and_event() {
    let h = handler_with(mock_contract_with_domain(), throws("some error"));
    let out = run(&h, &mock_event_with(Some("test.1"), Some("test-subject")))
        .await
        .unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].event_type(), "sys.com.hello.world.error");
    assert_eq!(out[0].domain(), None);
    assert!(out[0].parentid().is_some());
}

// 9
#[tokio::test]
async fn error_domain_event_domain() {
    let h = handler_with(mock_contract(), throws("some error"));
    let out = run(&h, &mock_event_with(Some("test.1"), Some("test-subject")))
        .await
        .unwrap();
    assert_eq!(domains(&out), [None]);
}

// 10
#[tokio::test]
async fn error_domain_no_event_domain() {
    let h = handler_with(mock_contract(), throws("some error"));
    let out = run(&h, &mock_event()).await.unwrap();
    assert_eq!(domains(&out), [None]);
    assert!(out[0].parentid().is_some());
}

// 11
#[tokio::test]
async fn error_routed_by_current_subject() {
    let h = ArvoEventHandler::builder(mock_contract())
        .executionunits(100.0)
        .system_error_domains(vec![DomainSpec::FromCurrentSubject])
        .version_sync("0.0.1", throws("some error"))
        .build()
        .unwrap();
    // No subject given: the factory generates an orchestration subject with domain test.1.
    let out = run(&h, &mock_event_with(Some("test.1"), None))
        .await
        .unwrap();
    assert_eq!(domains(&out), [Some("test.1")]);
}

// 12
#[tokio::test]
async fn wrong_event_type() {
    let e = ArvoEvent::builder()
        .event_type("com.saad.invalid.test")
        .source("com.test.env")
        .subject("test-subject")
        .data_json(json!({"name": "Saad Ahmad", "age": 26}))
        .build()
        .unwrap();
    let err = run(&mock_handler(), &e).await.unwrap_err();
    assert!(matches!(err, Violation::Config { .. }));
    assert!(err.to_string().contains(
        "Event type mismatch: Received 'com.saad.invalid.test', expected 'com.hello.world'"
    ));
}

// 13
#[tokio::test]
async fn error_inside_outer_span() {
    use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider as _};
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let outer = provider.tracer("test").start("outer");
    let cx = opentelemetry::Context::new().with_span(outer);
    let h = handler_with(mock_contract(), throws("Test error"));
    let input = mock_event();
    let out = h
        .execute(&input, ParentContext::Context(cx.clone()))
        .await
        .unwrap();
    assert_eq!(out[0].subject(), input.subject());
    assert_eq!(out[0].event_type(), "sys.com.hello.world.error");
    assert_eq!(out[0].data()["errorMessage"], json!("Test error"));
    cx.span().end();
}

// 14
#[tokio::test]
async fn execution_violation_is_rethrown() {
    let h = handler_with(mock_contract(), |_| {
        Err(Violation::execution("Test error").into())
    });
    let err = run(&h, &mock_event()).await.unwrap_err();
    assert!(matches!(err, Violation::Execution { .. }));
    assert!(err.to_string().contains("Test error"));
}

// 15
#[tokio::test]
async fn input_missing_field() {
    let e = ArvoEvent::builder()
        .event_type("com.hello.world")
        .source("com.test.env")
        .subject("test-subject")
        .data_json(json!({"name": "Saad Ahmad"}))
        .build()
        .unwrap();
    let err = run(&mock_handler(), &e).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("ViolationError<Contract> Input event payload validation failed:")
    );
}

// 16
#[tokio::test]
async fn output_executionunits() {
    let h = handler_with(mock_contract(), |input| {
        Ok(vec![
            RawOutput::new(
                "evt.hello.world.success",
                json!({"result": greeting(&input)}),
            )
            .executionunits(200.0),
            RawOutput::new("evt.hello.world.success", json!({"result": "x"})).executionunits(500.0),
        ])
    });
    let out = run(&h, &mock_event()).await.unwrap();
    let units: Vec<_> = out.iter().map(ArvoEvent::executionunits).collect();
    assert_eq!(units, [Some(200.0), Some(500.0)]);
}

// 17
#[test]
fn system_error_schema_type() {
    assert_eq!(
        EventHandler::system_error_type(&mock_handler()),
        "sys.com.hello.world.error"
    );
}

// 18
#[tokio::test]
async fn returns_nothing() {
    let h = handler_with(mock_contract(), |_| Ok(vec![]));
    assert!(run(&h, &mock_event()).await.unwrap().is_empty());
}

fn multi_version_contract() -> ArvoContract {
    ArvoContract::builder("#/test/MultiVersion", "com.multi.version")
        .version(
            "0.0.1",
            VersionSpec::new(obj(json!({"name": {"type": "string"}}), &["name"])),
        )
        .version(
            "0.0.2",
            VersionSpec::new(obj(
                json!({"name": {"type": "string"}, "title": {"type": "string"}}),
                &["name", "title"],
            )),
        )
        .build()
        .unwrap()
}

// 19
#[test]
fn multi_version_constructs() {
    let h = ArvoEventHandler::builder(multi_version_contract())
        .version_sync("0.0.1", |_| Ok(vec![]))
        .version_sync("0.0.2", |_| Ok(vec![]))
        .build();
    assert!(h.is_ok());
}

// 20
#[test]
fn multi_version_missing_implementation() {
    let err = ArvoEventHandler::builder(multi_version_contract())
        .version_sync("0.0.1", |_| Ok(vec![]))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("requires handler implementation"));
    assert_eq!(
        err.to_string(),
        "Contract #/test/MultiVersion requires handler implementation for version 0.0.2"
    );
}

fn with_dataschema(dataschema: &str, data: Value) -> ArvoEvent {
    ArvoEvent::builder()
        .event_type("com.hello.world")
        .source("com.test.env")
        .subject("test-subject")
        .dataschema(dataschema)
        .data_json(data)
        .build()
        .unwrap()
}

fn mock_data() -> Value {
    json!({"name": "Saad Ahmad", "age": 26})
}

// 21
#[tokio::test]
async fn matching_dataschema() {
    let out = run(
        &mock_handler(),
        &with_dataschema("#/test/ArvoEventHandler/0.0.1", mock_data()),
    )
    .await
    .unwrap();
    assert_eq!(out[0].event_type(), "evt.hello.world.success");
}

// 22
#[tokio::test]
async fn wrong_contract_uri() {
    let err = run(
        &mock_handler(),
        &with_dataschema("#/wrong/contract/0.0.1", mock_data()),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        Violation::contract(
            "Contract URI mismatch: Handler expects '#/test/ArvoEventHandler' but event dataschema specifies '#/wrong/contract/0.0.1'. Events must reference the same contract URI as their handler."
        )
    );
}

// 23
#[tokio::test]
async fn custom_span_attribute_kept() {
    let h = ArvoEventHandler::builder(mock_contract())
        .executionunits(100.0)
        .span_attribute(KeyValue::new("custom.attribute", "test-value"))
        .version_sync("0.0.1", mock_handler_fn)
        .build()
        .unwrap();
    assert!(
        h.span_attributes()
            .contains(&KeyValue::new("custom.attribute", "test-value"))
    );
    assert!(!run(&h, &mock_event()).await.unwrap().is_empty());
}

// 24
#[tokio::test]
async fn single_output() {
    assert_eq!(run(&mock_handler(), &mock_event()).await.unwrap().len(), 1);
}

// 25
#[tokio::test]
async fn invalid_data_with_dataschema() {
    let err = run(
        &mock_handler(),
        &with_dataschema("#/test/ArvoEventHandler/0.0.1", json!({"input": 2})),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("ViolationError<Contract>"));
}

// 26
#[tokio::test]
async fn unknown_version() {
    let err = run(
        &mock_handler(),
        &with_dataschema("#/test/ArvoEventHandler/0.0.2", mock_data()),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("ViolationError<Config>"));
    assert_eq!(
        err.to_string(),
        "ViolationError<Config> Invalid contract version: 0.0.2. Available versions: 0.0.1"
    );
}

// 27
#[tokio::test]
async fn invalid_output() {
    let h = handler_with(mock_contract(), |_| {
        Ok(vec![RawOutput::new(
            "evt.hello.world.success",
            json!({"result": 2}),
        )])
    });
    let err = run(&h, &mock_event()).await.unwrap_err();
    assert!(err.to_string().contains("ViolationError<Contract>"));
}

// 28
#[tokio::test]
async fn parentid_on_outputs() {
    let input = mock_event();
    let out = run(&mock_handler(), &input).await.unwrap();
    assert!(out.iter().all(|e| e.parentid() == Some(input.id())));
}

// 29
#[tokio::test]
async fn parentid_on_system_errors() {
    let input = mock_event();
    let out = run(&handler_with(mock_contract(), throws("x")), &input)
        .await
        .unwrap();
    assert_eq!(out[0].event_type(), "sys.com.hello.world.error");
    assert_eq!(out[0].parentid(), Some(input.id()));
}

// 30
#[tokio::test]
async fn parentid_on_two_outputs() {
    let h = handler_with(mock_contract(), |_| {
        Ok(vec![
            RawOutput::new("evt.hello.world.success", json!({"result": "a"})),
            RawOutput::new("evt.hello.world.success", json!({"result": "b"})),
        ])
    });
    let input = mock_event();
    let out = run(&h, &input).await.unwrap();
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|e| e.parentid() == Some(input.id())));
}

// 31: the reference ignores a `parentid` returned by the handler. `RawOutput` has no such
// field, so the override cannot even be written; the output's parentid is the input id.
#[tokio::test]
async fn parentid_cannot_be_overridden() {
    let input = mock_event();
    let out = run(&mock_handler(), &input).await.unwrap();
    assert_ne!(out[0].parentid(), Some("custom-parent-override"));
    assert_eq!(out[0].parentid(), Some(input.id()));
}

// 32
#[tokio::test]
async fn parentid_in_otel_attributes() {
    let input = mock_event();
    let out = run(&mock_handler(), &input).await.unwrap();
    let attrs = out[0].otel_attributes();
    let v = attrs
        .iter()
        .find(|(k, _)| *k == "cloudevents.arvo.event_parentid")
        .map(|(_, v)| *v);
    assert_eq!(v, Some(OtelValue::Str(input.id())));
}
