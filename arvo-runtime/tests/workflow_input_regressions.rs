//! Regressions found by the `workflow_input` fuzz target (hostile events driven through a
//! broker, a resumable and a service handler):
//! - an event's JSON write and parse gave an event that compared unequal to it, because the
//!   writer prints numbers as JavaScript does (`2.0` as `2`, integers beyond 2^53 rounded);
//! - broker, handler, orchestration and memory errors quoted event attributes (id, type, `to`,
//!   dataschema, subject, the orchestrator name in a subject, data values) whole, so a 1 MB
//!   attribute made a 1 MB message;
//! - an event could be built (and emitted by a handler) with `data` nested deeper than the JSON
//!   reader takes, so its own JSON did not parse back;
//! - an init event sent again to a running workflow (a new id, another `parentSubject$$`)
//!   replaced the parent the workflow had started with, so its completion could go elsewhere.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common_calc_machine;
mod common_resumable;

use arvo_runtime::broker::{BrokerError, EventBroker, FailureKind};
use arvo_runtime::contract::{ArvoContract, Schema};
use arvo_runtime::event::{ArvoEvent, ArvoEventParts, EventError, EventIdInput, MAX_DATA_DEPTH};
use arvo_runtime::factory::{ArvoOrchestratorEventFactory, EventInput};
use arvo_runtime::handler::{ArvoEventHandler, DynEventHandler, ParentContext, RawOutput};
use arvo_runtime::issue::MAX_QUOTED_BYTES;
use arvo_runtime::memory::{InMemoryMemory, MachineMemory, MemoryError, TransactionError, Version};
use arvo_runtime::orchestration::{NormalRecord, OrchestrationRecord};
use common_resumable::{CalcFlow, calc_resumable};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// 1 MB: far more than any message may quote.
const HUGE: usize = 1 << 20;

/// A message short enough for a log line, quoting none of `huge` whole.
fn assert_bounded(what: &str, message: &str, huge: &str) {
    assert!(
        message.len() < 4 * MAX_QUOTED_BYTES,
        "{what}: a {}-byte message",
        message.len()
    );
    assert!(!message.contains(huge), "{what}: quotes the whole value");
}

fn event_with(data: Value) -> ArvoEvent {
    ArvoEvent::builder()
        .source("com.test.client")
        .event_type("com.test.thing")
        .subject("s-1")
        .data_json(data)
        .build()
        .unwrap()
}

fn reparsed(e: &ArvoEvent) -> ArvoEvent {
    ArvoEvent::from_json_str(&e.to_json_string()).unwrap()
}

#[test]
fn a_json_round_trip_keeps_an_event_equal() {
    // Each of these numbers is written as JavaScript prints it and read back as another JSON
    // number: `2.0` -> `2` (an integer), `-0.0` -> `0`, 2^53 + 1 -> 2^53, u64::MAX ->
    // 18446744073709552000 (a float).
    for n in [
        json!(2.0),
        json!(-0.0),
        json!(9_007_199_254_740_993u64),
        json!(u64::MAX),
        json!(1e21),
    ] {
        let e = event_with(json!({"n": n, "deep": [{"n": n}], "42": n}));
        let back = reparsed(&e);
        assert_eq!(back, e, "{n} did not survive the round trip");
        assert_eq!(e, back, "{n}: equality is symmetric");
    }
}

#[test]
fn events_with_other_data_still_differ() {
    let two = event_with(json!({"n": 2}));
    let other = |n: Value| {
        let mut parts = two.clone().into_parts();
        parts.data.insert("n".into(), n);
        ArvoEvent::from_parts(parts).unwrap()
    };
    assert_eq!(other(json!(2.0)), two);
    assert_ne!(other(json!(2.5)), two);
    assert_ne!(other(json!("2")), two);
    assert_ne!(other(json!([2])), two);
    assert_ne!(other(json!(9_007_199_254_740_994u64)), other(json!(2)));
    // Integers beyond 2^53 are one JavaScript number when they round to the same double.
    assert_eq!(
        other(json!(9_007_199_254_740_993u64)),
        other(json!(9_007_199_254_740_992u64))
    );
    assert_ne!(
        other(json!(9_007_199_254_740_995u64)),
        other(json!(9_007_199_254_740_992u64))
    );
    // Key order is not compared (the writer lists array-index keys first).
    let a = event_with(json!({"a": 1, "1": 2}));
    let mut parts = a.clone().into_parts();
    parts.data =
        serde_json::Map::from_iter([("1".to_owned(), json!(2)), ("a".to_owned(), json!(1))]);
    assert_eq!(ArvoEvent::from_parts(parts).unwrap(), a);
}

/// `data` nesting `depth` levels: itself, then arrays.
fn nested_data(depth: usize) -> Value {
    json!({ "k": (2..depth).fold(json!([0]), |v, _| Value::Array(vec![v])) })
}

#[test]
fn data_too_deep_to_read_back_is_refused_by_every_way_in() {
    let deepest = event_with(nested_data(MAX_DATA_DEPTH));
    assert_eq!(reparsed(&deepest), deepest);
    let deepest_json = serde_json::to_string(&nested_data(MAX_DATA_DEPTH)).unwrap();
    assert!(deepest.to_json_string().contains(&deepest_json));
    // Just deeper than the limit, as deep as serde_json reads inside an event (126), beyond.
    for depth in [MAX_DATA_DEPTH + 1, 126, 127, 200] {
        let data = nested_data(depth);
        let refused = |r: Result<ArvoEvent, EventError>, way: &str| {
            let err = r.expect_err(way).to_string();
            assert!(
                err.contains("must not nest deeper than 100 arrays and objects"),
                "{way}, depth {depth}: {err}"
            );
        };
        let built = ArvoEvent::builder()
            .source("com.test.client")
            .event_type("com.test.thing")
            .subject("s-1")
            .data_json(data.clone())
            .build();
        refused(built, "builder");
        let mut parts = deepest.clone().into_parts();
        parts.data = data.as_object().unwrap().clone();
        refused(ArvoEvent::from_parts(parts), "from_parts");
        if depth <= 126 {
            // Text serde_json reads: the event reader refuses it the same way.
            let text = deepest
                .to_json_string()
                .replace(&deepest_json, &serde_json::to_string(&data).unwrap());
            refused(ArvoEvent::from_json_str(&text), "from_json_str");
        }
    }
}

#[tokio::test]
async fn a_handler_cannot_emit_data_too_deep_to_read_back() {
    let deep = nested_data(130)["k"].clone();
    let handler = ArvoEventHandler::builder(calc_contract())
        .version_sync("1.0.0", move |_| {
            Ok(vec![RawOutput::new(
                "evt.calc.add.success",
                json!({"result": 3, "extra": deep.clone()}),
            )])
        })
        .build()
        .unwrap();
    let e = calc_event("#/bench/calc/add/1.0.0", json!({"a": 1, "b": 2}));
    match handler.execute(&e, ParentContext::Event).await {
        Ok(events) => {
            assert!(!events.is_empty());
            for out in &events {
                assert!(out.event_type().starts_with("sys."), "{out:?}");
                assert_eq!(&reparsed(out), out);
            }
        }
        Err(v) => assert!(v.to_string().contains("must not nest deeper"), "{v}"),
    }
}

fn calc_contract() -> ArvoContract {
    let ab = Schema::new(json!({"type":"object","properties":{"a":{"type":"number"},"b":{"type":"number"}},"required":["a","b"]})).unwrap();
    let r = Schema::new(
        json!({"type":"object","properties":{"result":{"type":"number"}},"required":["result"]}),
    )
    .unwrap();
    ArvoContract::simple("#/bench/calc/add", "calc.add")
        .version("1.0.0", ab, r)
        .build()
        .unwrap()
}

/// The calc service; its implementation reads the data as `{a: f64, b: f64}`.
fn calc_handler() -> ArvoEventHandler {
    #[derive(Deserialize)]
    struct Ab {
        a: f64,
        b: f64,
    }
    ArvoEventHandler::builder(calc_contract())
        .version_sync("1.0.0", |i| {
            let ab: Ab = i.data_as()?;
            Ok(vec![RawOutput::new(
                "evt.calc.add.success",
                json!({"result": ab.a + ab.b}),
            )])
        })
        .build()
        .unwrap()
}

fn calc_event(dataschema: &str, data: Value) -> ArvoEvent {
    ArvoEvent::builder()
        .source("com.test.client")
        .event_type("com.calc.add")
        .subject("s-1")
        .dataschema(dataschema)
        .data_json(data)
        .build()
        .unwrap()
}

#[tokio::test]
async fn broker_errors_quote_a_bounded_prefix() {
    let broker = EventBroker::builder()
        .handler(Arc::new(calc_handler()))
        .build()
        .unwrap();
    let huge = "i".repeat(HUGE);

    // No `to`: the error names the event by its id.
    let no_to = ArvoEvent::from_parts(ArvoEventParts {
        id: huge.clone(),
        time: "2024-01-01T00:00:00.000+00:00".into(),
        source: "com.test".into(),
        event_type: "com.calc.add".into(),
        subject: "s".into(),
        datacontenttype: "application/json".into(),
        ..ArvoEventParts::default()
    })
    .unwrap();
    let err = broker.resolve(no_to).await.unwrap_err();
    assert!(matches!(&err, BrokerError::MissingTo { event_id } if *event_id == huge));
    assert_bounded("MissingTo", &err.to_string(), &huge);

    // A `to` no handler has.
    let to = format!("com.{huge}");
    let unknown = ArvoEvent::builder()
        .source("com.test")
        .event_type("com.calc.add")
        .to(to.as_str())
        .subject("s")
        .data_json(json!({}))
        .build()
        .unwrap();
    let err = broker.try_publish(unknown).unwrap_err();
    assert!(matches!(&err, BrokerError::NoHandler { to: t } if *t == to));
    assert_bounded("NoHandler", &err.to_string(), &to);

    // Event types in the budget and buffer errors.
    let err = BrokerError::EventBudgetExceeded {
        limit: 1,
        event_types: vec![(to.clone(), 2)],
    };
    assert_bounded("EventBudgetExceeded", &err.to_string(), &to);
    let err = BrokerError::BufferFull {
        limit: 1,
        event_types: vec![(to.clone(), 2)],
    };
    assert_bounded("BufferFull", &err.to_string(), &to);
}

#[tokio::test]
async fn a_recorded_failure_quotes_a_bounded_prefix() {
    let broker = EventBroker::builder()
        .handler(Arc::new(calc_handler()))
        .build()
        .unwrap();
    let huge = "i".repeat(HUGE);
    let bad = ArvoEvent::builder()
        .id(EventIdInput::DeveloperManaged(huge.clone()))
        .source("com.test.client")
        .event_type("com.calc.add")
        .subject("s-1")
        .dataschema("#/bench/calc/add/1.0.0")
        .data_json(json!({"a": "not a number"}))
        .build()
        .unwrap();
    let res = broker.resolve(bad).await.unwrap();
    let failure = res.errors.first().expect("a recorded failure");
    assert!(matches!(failure.kind, FailureKind::Violation(_)));
    assert_eq!(failure.event.id(), huge);
    assert_bounded("Failure", &failure.to_string(), &huge);
}

#[tokio::test]
async fn handler_violations_quote_a_bounded_prefix() {
    let handler = calc_handler();
    let digits = "9".repeat(HUGE);

    // A dataschema of another contract.
    let uri = format!("#/{}", "u".repeat(HUGE));
    let e = calc_event(&format!("{uri}/1.0.0"), json!({"a": 1, "b": 2}));
    let v = handler.execute(&e, ParentContext::Event).await.unwrap_err();
    assert!(v.to_string().contains("Contract URI mismatch"), "{v}");
    assert_bounded("URI mismatch", &v.to_string(), &uri);

    // A version the contract does not have.
    let version = format!("1.0.{digits}");
    let e = calc_event(
        &format!("#/bench/calc/add/{version}"),
        json!({"a": 1, "b": 2}),
    );
    let v = handler.execute(&e, ParentContext::Event).await.unwrap_err();
    assert!(v.to_string().contains("Invalid contract version"), "{v}");
    assert_bounded("version", &v.to_string(), &version);

    // The implementation's typed read of the data (`data_as`) fails on a long string that the
    // schema did not look at.
    let text = "t".repeat(HUGE);
    let wide = ArvoEventHandler::builder(
        ArvoContract::simple("#/bench/calc/add", "calc.add")
            .version(
                "1.0.0",
                Schema::new(json!({"type": "object"})).unwrap(),
                Schema::new(json!({"type": "object"})).unwrap(),
            )
            .build()
            .unwrap(),
    )
    .version_sync("1.0.0", |i| {
        #[derive(Deserialize)]
        struct Ab {
            #[allow(dead_code)]
            a: f64,
        }
        let _: Ab = i.data_as()?;
        Ok(vec![])
    })
    .build()
    .unwrap();
    let e = calc_event("#/bench/calc/add/1.0.0", json!({"a": text}));
    let out = wide.execute(&e, ParentContext::Event).await;
    let message = match out {
        Err(v) => v.to_string(),
        Ok(events) => {
            let sys = events.first().expect("a system error event");
            sys.data()["errorMessage"].as_str().unwrap().to_owned()
        }
    };
    assert!(message.contains("deserialisation failed"), "{message}");
    assert_bounded("data_as", &message, &text);
}

/// A valid init of the calc workflow (a fresh subject).
fn calc_init() -> ArvoEvent {
    ArvoOrchestratorEventFactory::new(CalcFlow::contract().latest())
        .unwrap()
        .init(EventInput::new(
            "com.test.client",
            json!({"a": 1, "b": 2, "parentSubject$$": null}),
        ))
        .unwrap()
}

#[tokio::test]
async fn orchestration_violations_quote_a_bounded_prefix() {
    let resumable = calc_resumable(InMemoryMemory::new());
    let init = calc_init();
    let huge = "x".repeat(HUGE);

    // An unparsable dataschema, quoted with the event's id and type.
    let mut parts = init.clone().into_parts();
    parts.dataschema = Some(huge.clone());
    parts.id = format!("id-{huge}");
    let e = ArvoEvent::from_parts(parts).unwrap();
    let v = resumable
        .execute(&e, ParentContext::Event)
        .await
        .unwrap_err();
    assert!(v.to_string().contains("Unable to parse dataschema"), "{v}");
    assert_bounded("dataschema", &v.to_string(), &huge);
    assert_bounded("id", &v.to_string(), &format!("id-{huge}"));

    // After the init, a service answer whose dataschema names a version of the service that
    // does not exist.
    let calls = resumable
        .execute(&init, ParentContext::Event)
        .await
        .unwrap();
    assert_eq!(calls.len(), 1);
    let version = format!("1.0.{}", "9".repeat(HUGE));
    let mut parts = init.into_parts();
    parts.id = "answer-1".into();
    parts.parentid = Some(calls[0].id().to_owned());
    parts.event_type = "evt.calc.add.success".into();
    parts.dataschema = Some(format!("#/bench/calc/add/{version}"));
    parts.data = serde_json::Map::from_iter([("result".to_owned(), json!(3))]);
    let e = ArvoEvent::from_parts(parts).unwrap();
    let v = resumable
        .execute(&e, ParentContext::Event)
        .await
        .unwrap_err();
    assert!(v.to_string().contains("Contract version mismatch"), "{v}");
    assert_bounded("service version", &v.to_string(), &version);
}

#[test]
fn memory_errors_quote_a_bounded_prefix() {
    let huge = "s".repeat(HUGE);
    let conflict = MemoryError::Conflict {
        id: huge.clone(),
        expected: Some(Version::from_raw(1)),
        found: None,
    };
    assert_bounded("Conflict", &conflict.to_string(), &huge);
    let lock = MemoryError::LockUnacquired {
        id: huge.clone(),
        attempts: 3,
    };
    assert_bounded("LockUnacquired", &lock.to_string(), &huge);
    for e in [
        TransactionError::lock_failure(&huge, conflict.clone()),
        TransactionError::read_failure(&huge, conflict.clone()),
        TransactionError::write_failure(&huge, conflict),
    ] {
        assert_bounded("TransactionError", &e.to_string(), &huge);
        assert_bounded("TransactionError message", &e.message, &huge);
    }
}

/// `init` sent again: a new id, new operands and another workflow's subject as its parent.
fn init_again(init: &ArvoEvent, parent: &str) -> ArvoEvent {
    ArvoEvent::builder()
        .source(init.source())
        .event_type(init.event_type())
        .subject(init.subject())
        .to(init.to())
        .dataschema(init.dataschema())
        .data_json(json!({"a": 5, "b": 6, "parentSubject$$": parent}))
        .build()
        .unwrap()
}

/// The parent subject of the normal record stored for `subject`.
async fn stored_parent<R, M>(memory: &M, subject: &str) -> Option<String>
where
    R: NormalRecord,
    M: MachineMemory<OrchestrationRecord<R>>,
    OrchestrationRecord<R>: arvo_runtime::memory::MemoryRecord,
{
    match memory.read(subject).await.unwrap().unwrap().value {
        OrchestrationRecord::Normal(n) => n.parent_subject().map(str::to_owned),
        OrchestrationRecord::Failure(f) => panic!("the workflow failed: {f:?}"),
    }
}

/// Starts a workflow on `handler` (it waits for its service), then sends its init again with
/// `parent` as the parent; returns the first init.
async fn init_twice(handler: &dyn DynEventHandler, parent: &str) -> ArvoEvent {
    let init = calc_init();
    let calls = handler
        .execute_dyn(&init, ParentContext::Event)
        .await
        .unwrap();
    assert_eq!(calls.len(), 1, "the workflow waits for its service");
    let _ = handler
        .execute_dyn(&init_again(&init, parent), ParentContext::Event)
        .await;
    init
}

#[tokio::test]
async fn an_init_sent_again_keeps_the_workflows_parent() {
    // Another workflow's subject, a valid parent.
    let other = calc_init();
    let memory = InMemoryMemory::new();
    let init = init_twice(&calc_resumable(memory.clone()), other.subject()).await;
    assert_eq!(stored_parent(&memory, init.subject()).await, None);
    let memory = InMemoryMemory::new();
    let orchestrator = common_calc_machine::calc_orchestrator(memory.clone());
    let init = init_twice(&orchestrator, other.subject()).await;
    assert_eq!(stored_parent(&memory, init.subject()).await, None);
}
