//! Port of the reference's `tests/ArvoEventFactory/index.spec.ts` (spec §9.3, 18 tests, numbered
//! as there) and of the factory half of `tests/ArvoOrchestratorContract/index.spec.ts` (§9.5
//! #1, #4-#9).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use arvo_runtime::contract::{ArvoContract, OrchestratorContract, Schema, VersionSpec, dataschema};
use arvo_runtime::event::{EventIdInput, OtelValue};
use arvo_runtime::factory::{
    ArvoEventFactory, ArvoOrchestratorEventFactory, EventInput, FactoryError,
};
use arvo_runtime::subject;
use serde_json::{Value, json};

fn obj(props: Value, required: &[&str]) -> Schema {
    Schema::new(json!({"type": "object", "properties": props, "required": required, "additionalProperties": false}))
        .unwrap()
}

fn mock_contract() -> ArvoContract {
    let spec = || {
        VersionSpec::new(obj(json!({"input": {"type": "string"}}), &["input"]))
            .emit(
                "test.output.0",
                obj(json!({"output": {"type": "number"}}), &["output"]),
            )
            .emit(
                "test.output.1",
                obj(json!({"message": {"type": "string"}}), &["message"]),
            )
    };
    ArvoContract::builder("#/mock/contract", "test.input.0")
        .version("0.0.1", spec())
        .version("0.0.8", spec())
        .build()
        .unwrap()
}

fn factory() -> ArvoEventFactory {
    ArvoEventFactory::new(mock_contract().version("0.0.1").unwrap())
}

fn input(source: &str, data: Value) -> EventInput {
    EventInput::new(source, data)
}

fn subject_domain(s: &str) -> Option<String> {
    subject::parse(s).unwrap().execution.domain
}

fn io_error(msg: &str) -> std::io::Error {
    std::io::Error::other(msg.to_owned())
}

/// The four-step domain scenario of §9.3 #2, #5, #9 for one factory method.
fn domain_scenario(make: impl Fn(EventInput) -> Result<arvo_runtime::ArvoEvent, FactoryError>) {
    let e1 = make(EventInput {
        domain: Some("external.review".into()),
        ..input("test.test.test", Value::Null)
    })
    .unwrap();
    assert_eq!(e1.domain(), Some("external.review"));
    assert_eq!(
        subject_domain(e1.subject()).as_deref(),
        Some("external.review")
    );
    let e2 = make(EventInput {
        domain: Some("external.review.1".into()),
        subject: Some(e1.subject().to_owned()),
        ..input("test.test.test", Value::Null)
    })
    .unwrap();
    assert_eq!(e2.domain(), Some("external.review.1"));
    assert_eq!(
        subject_domain(e2.subject()).as_deref(),
        Some("external.review")
    );
    let e3 = make(EventInput {
        subject: Some(e1.subject().to_owned()),
        ..input("test.test.test", Value::Null)
    })
    .unwrap();
    assert_eq!(e3.domain(), None);
    assert_eq!(
        subject_domain(e3.subject()).as_deref(),
        Some("external.review")
    );
    let e4 = make(input("test.test.test", Value::Null)).unwrap();
    assert_eq!(e4.domain(), None);
    assert_eq!(subject_domain(e4.subject()), None);
}

// §9.3 #1
#[test]
fn emits_with_developer_managed_id() {
    let f = factory();
    let e = f
        .emits(EventInput {
            id: Some(EventIdInput::DeveloperManaged("custom-id".into())),
            subject: Some("test-subject".into()),
            to: Some("cmd.saad.test".into()),
            ..input("test-source", json!({"output": 42})).with_type("test.output.0")
        })
        .unwrap();
    assert_eq!(e.id(), "custom-id");
    assert_eq!(e.event_type(), "test.output.0");
    assert_eq!(e.data().get("output"), Some(&json!(42)));
    assert_eq!(e.dataschema(), Some("#/mock/contract/0.0.1"));
    assert_eq!(e.subject(), "test-subject");
    assert_eq!(e.to(), Some("cmd.saad.test"));
    assert_eq!(e.domain(), None);
    let e2 = f
        .emits(
            input("test-source", json!({"message": "saad"}))
                .with_type("test.output.1")
                .with_subject("test-subject"),
        )
        .unwrap();
    assert_eq!(e2.data().get("message"), Some(&json!("saad")));
    let ds = dataschema::parse(e.dataschema().unwrap()).unwrap();
    assert_eq!((ds.uri, ds.version), ("#/mock/contract", "0.0.1"));
}

// §9.3 #2
#[test]
fn emits_domain_scenario() {
    let f = factory();
    domain_scenario(|mut e| {
        e.data = json!({"output": 1});
        f.emits(e.with_type("test.output.0"))
    });
}

// §9.3 #3
#[test]
fn emits_invalid_data_throws() {
    let err = factory()
        .emits(
            input("test-source", json!({"output": "not a number"}))
                .with_type("test.output.0")
                .with_subject("s"),
        )
        .unwrap_err();
    assert!(matches!(err, FactoryError::EmitData(_)));
    assert!(err.to_string().contains("Event data validation failed"));
}

// §9.3 #4
#[test]
fn emits_unknown_type_throws() {
    let err = factory()
        .emits(
            input("test-source", json!({}))
                .with_type("unknown.type.0")
                .with_subject("s"),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Emit Event data validation failed: No contract available for unknown.type.0"
    );
}

// §9.3 #5
#[test]
fn accepts_domain_scenario() {
    let f = factory();
    domain_scenario(|mut e| {
        e.data = json!({"input": "x"});
        f.accepts(e)
    });
}

// §9.3 #6
#[test]
fn accepts_creates_event() {
    let e = factory()
        .accepts(input("test-source", json!({"input": "test"})).with_subject("test-subject"))
        .unwrap();
    assert_eq!(e.event_type(), "test.input.0");
    assert_eq!(e.data().get("input"), Some(&json!("test")));
    assert_eq!(e.domain(), None);
}

// §9.3 #7
#[test]
fn accepts_invalid_data_throws() {
    let err = factory()
        .accepts(input("test-source", json!({"input": 42})).with_subject("s"))
        .unwrap_err();
    assert!(matches!(err, FactoryError::AcceptData(_)));
    assert!(err.to_string().contains("Event data validation failed"));
    assert!(
        err.to_string()
            .starts_with("Accept Event data validation failed: ")
    );
}

// §9.3 #8
#[test]
fn system_error_event() {
    let e = factory()
        .system_error(
            &io_error("Some error"),
            input("test", Value::Null).with_subject("test"),
        )
        .unwrap();
    assert_eq!(e.event_type(), "sys.test.input.0.error");
    assert_eq!(e.data().get("errorName"), Some(&json!("Error")));
    assert_eq!(e.data().get("errorMessage"), Some(&json!("Some error")));
    let stack = e.data().get("errorStack").and_then(Value::as_str).unwrap();
    assert!(!stack.is_empty());
    assert_eq!(
        dataschema::parse(e.dataschema().unwrap()).unwrap().version,
        "0.0.0"
    );
    assert_eq!(e.domain(), None);
}

// §9.3 #9
#[test]
fn system_error_domain_scenario() {
    let f = factory();
    domain_scenario(|e| f.system_error(&io_error("boom"), e));
}

// §9.3 #10
#[test]
fn accepts_keeps_parentid() {
    let e = factory()
        .accepts(EventInput {
            parentid: Some("parent-event-123".into()),
            ..input("test-source", json!({"input": "test-input"})).with_subject("s")
        })
        .unwrap();
    assert_eq!(e.parentid(), Some("parent-event-123"));
    assert_eq!(e.event_type(), "test.input.0");
    assert_eq!(e.data().get("input"), Some(&json!("test-input")));
}

// §9.3 #11
#[test]
fn emits_keeps_parentid() {
    let e = factory()
        .emits(EventInput {
            parentid: Some("parent-event-456".into()),
            ..input("test-source", json!({"output": 1}))
                .with_type("test.output.0")
                .with_subject("s")
        })
        .unwrap();
    assert_eq!(e.parentid(), Some("parent-event-456"));
}

// §9.3 #12
#[test]
fn system_error_keeps_parentid() {
    let e = factory()
        .system_error(
            &io_error("Test error"),
            EventInput {
                parentid: Some("parent-event-789".into()),
                ..input("test-source", Value::Null).with_subject("s")
            },
        )
        .unwrap();
    assert_eq!(e.parentid(), Some("parent-event-789"));
    assert_eq!(e.data().get("errorName"), Some(&json!("Error")));
    assert_eq!(e.data().get("errorMessage"), Some(&json!("Test error")));
}

// §9.3 #13
#[test]
fn parentid_is_uri_encoded() {
    let e = factory()
        .accepts(EventInput {
            parentid: Some("parent event with spaces".into()),
            ..input("test-source", json!({"input": "x"})).with_subject("s")
        })
        .unwrap();
    assert_eq!(e.parentid(), Some("parent%20event%20with%20spaces"));
}

// §9.3 #14
#[test]
fn accepts_without_parentid() {
    let e = factory()
        .accepts(
            input("test-source", json!({"input": "x"}))
                .with_subject("s")
                .with_domain("test.test"),
        )
        .unwrap();
    assert_eq!(e.parentid(), None);
    assert_eq!(e.domain(), Some("test.test"));
}

// §9.3 #15
#[test]
fn parentid_in_otel_attributes() {
    let e = factory()
        .emits(EventInput {
            parentid: Some("otel-parent-event".into()),
            ..input("test-source", json!({"output": 1}))
                .with_type("test.output.0")
                .with_subject("s")
        })
        .unwrap();
    let attrs = e.otel_attributes();
    let parent = attrs
        .iter()
        .find(|(k, _)| *k == "cloudevents.arvo.event_parentid")
        .map(|(_, v)| *v);
    assert_eq!(parent, Some(OtelValue::Str("otel-parent-event")));
}

// §9.3 #16
#[test]
fn accepts_generates_subject() {
    let e = factory()
        .accepts(input("com.test.test", json!({"input": "x"})))
        .unwrap();
    let s = subject::parse(e.subject()).unwrap();
    assert_eq!(s.orchestrator.name, "test.input.0");
    assert_eq!(s.execution.initiator, "com.test.test");
    assert_eq!(s.orchestrator.version, "0.0.1");
}

// §9.3 #17
#[test]
fn emits_generates_subject() {
    let e = factory()
        .emits(input("com.test.test", json!({"output": 1})).with_type("test.output.0"))
        .unwrap();
    let s = subject::parse(e.subject()).unwrap();
    assert_eq!(s.orchestrator.name, "test.output.0");
    assert_eq!(s.execution.initiator, "com.test.test");
    assert_eq!(s.orchestrator.version, "0.0.1");
}

// §9.3 #18
#[test]
fn system_error_generates_subject() {
    let e = factory()
        .system_error(&io_error("x"), input("com.test.test", Value::Null))
        .unwrap();
    let s = subject::parse(e.subject()).unwrap();
    assert_eq!(s.orchestrator.name, "sys.test.input.0.error");
    assert_eq!(s.execution.initiator, "com.test.test");
    assert_eq!(s.orchestrator.version, "0.0.1");
}

// ---- §9.5 (factory half) ----

fn orc_contract(versions: &[&str]) -> OrchestratorContract {
    let mut b = ArvoContract::orchestrator("test://example", "test.contract");
    for v in versions {
        b = b.version(
            *v,
            obj(json!({"foo": {"type": "string"}}), &["foo"]),
            obj(json!({"bar": {"type": "number"}}), &["bar"]),
        );
    }
    b.build().unwrap()
}

fn orc_factory(c: &OrchestratorContract, v: &str) -> ArvoOrchestratorEventFactory {
    ArvoOrchestratorEventFactory::new(c.version(v).unwrap()).unwrap()
}

fn init_input(parent: Option<&str>) -> EventInput {
    input(
        "com.test.test",
        json!({"parentSubject$$": parent, "foo": "hello"}),
    )
}

// §9.5 #1
#[test]
fn orchestrator_init_and_complete_domains() {
    let c = orc_contract(&["0.0.1", "0.0.2"]);
    let f = orc_factory(&c, "0.0.1");
    let e = f.init(init_input(None)).unwrap();
    assert_eq!(e.domain(), None);
    assert_eq!(subject_domain(e.subject()), None);
    let e = f
        .init(init_input(None).with_domain("external.review"))
        .unwrap();
    assert_eq!(e.domain(), Some("external.review"));
    assert_eq!(
        subject_domain(e.subject()).as_deref(),
        Some("external.review")
    );
    let done = f
        .complete(input("com.test.test", json!({"bar": 1})).with_domain("external.review"))
        .unwrap();
    assert_eq!(done.domain(), Some("external.review"));
    assert_eq!(
        subject_domain(done.subject()).as_deref(),
        Some("external.review")
    );
    let done2 = f
        .complete(
            input("com.test.test", json!({"bar": 1}))
                .with_domain("external.review.1")
                .with_subject(done.subject()),
        )
        .unwrap();
    assert_eq!(done2.domain(), Some("external.review.1"));
    assert_eq!(
        subject_domain(done2.subject()).as_deref(),
        Some("external.review")
    );
}

fn orc_v2() -> OrchestratorContract {
    ArvoContract::orchestrator("test://example", "test.contract")
        .version(
            "1.0.0",
            obj(json!({"foo": {"type": "string"}}), &["foo"]),
            obj(json!({"bar": {"type": "number"}}), &["bar"]),
        )
        .version(
            "2.0.0",
            obj(
                json!({"foo": {"type": "string"}, "additional": {"type": "number"}}),
                &["foo", "additional"],
            ),
            obj(
                json!({"bar": {"type": "number"}, "status": {"type": "string"}}),
                &["bar", "status"],
            ),
        )
        .build()
        .unwrap()
}

// §9.5 #4
#[test]
fn orchestrator_factory_versions_redirects_and_errors() {
    let c = orc_v2();
    assert_eq!(c.versions().len(), 2);
    assert!(
        c.version("2.0.0")
            .unwrap()
            .emit(c.complete_type())
            .is_some()
    );
    // The wrong kind of contract is refused.
    let simple = ArvoContract::simple("#/simple", "simple.test")
        .version("1.0.0", obj(json!({}), &[]), obj(json!({}), &[]))
        .build()
        .unwrap();
    let err = ArvoOrchestratorEventFactory::new(simple.latest()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "This factory can only be used for ArvoOrchestratorContract"
    );
    let f2 = orc_factory(&c, "2.0.0");
    let root = f2
        .init(EventInput {
            redirectto: Some("com.redirect.to".into()),
            ..input(
                "com.test.test",
                json!({"parentSubject$$": null, "foo": "x", "additional": 1}),
            )
        })
        .unwrap();
    assert_eq!(root.to(), Some("arvo.orc.test.contract"));
    assert_eq!(root.event_type(), "arvo.orc.test.contract");
    assert_eq!(root.redirectto(), Some("com.redirect.to"));
    let rs = subject::parse(root.subject()).unwrap();
    assert_eq!(
        rs.meta.get("redirectto").map(String::as_str),
        Some("com.redirect.to")
    );
    let child = f2
        .init(input(
            "com.test.test",
            json!({"parentSubject$$": root.subject(), "foo": "x", "additional": 1}),
        ))
        .unwrap();
    let cs = subject::parse(child.subject()).unwrap();
    assert_eq!(
        cs.meta.get("redirectto").map(String::as_str),
        Some("com.test.test")
    );
    assert_eq!(child.redirectto(), None);
    let plain_root = f2
        .init(input(
            "com.test.test",
            json!({"parentSubject$$": null, "foo": "x", "additional": 1}),
        ))
        .unwrap();
    assert!(
        subject::parse(plain_root.subject())
            .unwrap()
            .meta
            .get("redirectto")
            .is_none()
    );
    let bad = f2
        .init(input(
            "com.test.test",
            json!({"parentSubject$$": null, "foo": 1}),
        ))
        .unwrap_err();
    assert!(
        bad.to_string()
            .contains("Init Event data validation failed: ")
    );
    let f1 = orc_factory(&c, "1.0.0");
    let done = f1
        .complete(EventInput {
            to: Some("com.ret.test".into()),
            ..input("com.test.test", json!({"bar": 1})).with_subject("test")
        })
        .unwrap();
    assert_eq!(done.subject(), "test");
    assert_eq!(done.event_type(), c.complete_type());
    assert_eq!(done.to(), Some("com.ret.test"));
    let done = f1
        .complete(input("com.test.test", json!({"bar": 1})))
        .unwrap();
    let ds = subject::parse(done.subject()).unwrap();
    assert_eq!(ds.orchestrator.name, "arvo.orc.test.contract.done");
    assert_eq!(ds.orchestrator.version, "1.0.0");
    assert_eq!(ds.execution.initiator, "com.test.test");
    let bad = f1
        .complete(input("com.test.test", json!({"bar": "x"})))
        .unwrap_err();
    assert!(
        bad.to_string()
            .contains("Emit Event data validation failed: ")
    );
    // A parentSubject$$ that is not a subject makes init fail with the subject parse error.
    let bad = f1.init(init_input(Some("parent-123"))).unwrap_err();
    assert!(matches!(bad, FactoryError::Subject(_)));
}

// §9.5 #5
#[test]
fn orchestrator_child_domains() {
    let c = orc_contract(&["0.0.1"]);
    let f = orc_factory(&c, "0.0.1");
    let parent = f
        .init(EventInput {
            source: "com.test.parent".into(),
            ..init_input(None).with_domain("production.us")
        })
        .unwrap();
    assert_eq!(parent.domain(), Some("production.us"));
    assert_eq!(
        subject_domain(parent.subject()).as_deref(),
        Some("production.us")
    );
    let child = f.init(init_input(Some(parent.subject()))).unwrap();
    assert_eq!(child.domain(), None);
    let cs = subject::parse(child.subject()).unwrap();
    assert_eq!(cs.execution.initiator, "arvo.orc.test.contract");
    assert_eq!(cs.execution.domain.as_deref(), Some("production.us"));
    let child = f
        .init(init_input(Some(parent.subject())).with_domain("staging.eu"))
        .unwrap();
    assert_eq!(child.domain(), Some("staging.eu"));
    let cs = subject::parse(child.subject()).unwrap();
    assert_eq!(cs.execution.domain.as_deref(), Some("staging.eu"));
    assert_eq!(cs.execution.initiator, "arvo.orc.test.contract");
}

fn complete_keeps_subject_domain() {
    let c = orc_contract(&["0.0.1"]);
    let f = orc_factory(&c, "0.0.1");
    let init = f.init(init_input(None).with_domain("region.asia")).unwrap();
    let done = f
        .complete(input("com.test.test", json!({"bar": 1})).with_subject(init.subject()))
        .unwrap();
    assert_eq!(done.domain(), None);
    assert_eq!(
        subject_domain(done.subject()).as_deref(),
        Some("region.asia")
    );
    let done = f
        .complete(
            input("com.test.test", json!({"bar": 1}))
                .with_subject(init.subject())
                .with_domain("notification.email"),
        )
        .unwrap();
    assert_eq!(done.domain(), Some("notification.email"));
    assert_eq!(
        subject_domain(done.subject()).as_deref(),
        Some("region.asia")
    );
}

fn init_null_domain() {
    let c = orc_contract(&["0.0.1"]);
    let f = orc_factory(&c, "0.0.1");
    let a = f.init(init_input(None)).unwrap();
    let b = f
        .init(EventInput {
            domain: None,
            ..init_input(None)
        })
        .unwrap();
    for e in [&a, &b] {
        assert_eq!(e.domain(), None);
        assert_eq!(subject_domain(e.subject()), None);
    }
    let e = f
        .init(init_input(None).with_domain("custom.domain"))
        .unwrap();
    assert_eq!(e.domain(), Some("custom.domain"));
    assert_eq!(
        subject_domain(e.subject()).as_deref(),
        Some("custom.domain")
    );
}

// §9.5 #6
#[test]
fn orchestrator_complete_keeps_subject_domain() {
    complete_keeps_subject_domain();
}

// §9.5 #7
#[test]
fn orchestrator_init_null_domain() {
    init_null_domain();
}

// §9.5 #8 (an exact duplicate of #6 in the reference)
#[test]
fn orchestrator_complete_keeps_subject_domain_duplicate() {
    complete_keeps_subject_domain();
}

// §9.5 #9 (an exact duplicate of #7 in the reference)
#[test]
fn orchestrator_init_null_domain_duplicate() {
    init_null_domain();
}

/// The parsed data is stored: unknown keys stripped, defaults applied (spec §5.1 step 3).
#[test]
fn stores_parsed_data() {
    let c = ArvoContract::builder("#/p", "com.p.q")
        .version(
            "1.0.0",
            VersionSpec::new(
                Schema::new(json!({"type": "object", "properties": {"a": {"type": "string"}, "n": {"type": "number", "default": 5}}, "required": ["a"], "additionalProperties": false}))
                    .unwrap(),
            ),
        )
        .build()
        .unwrap();
    let e = ArvoEventFactory::new(c.latest())
        .accepts(input("com.a.b", json!({"extra": 1, "a": "x"})).with_subject("s"))
        .unwrap();
    assert_eq!(Value::Object(e.data().clone()), json!({"a": "x", "n": 5}));
}

/// A generated subject needs a `source` that is an event type (spec §5.1 step 4).
#[test]
fn generated_subject_needs_type_like_source() {
    let err = factory()
        .accepts(input("test-source", json!({"input": "x"})))
        .unwrap_err();
    assert!(matches!(err, FactoryError::Subject(_)));
    assert!(
        err.to_string()
            .starts_with("Error creating orchestration subject string from the provided context.")
    );
}
