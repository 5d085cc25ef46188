//! The reference's `tests/ArvoEvent/index.spec.ts` (spec §9.1), one test each, plus the
//! reading rules this crate decides differently (tolerance and strictness).

use arvo_runtime::event::{
    ArvoEvent, ArvoEventBuilder, ArvoEventParts, EventError, EventIdInput, ExtensionValue,
    Extensions, OtelValue, parse_arvo_event_id,
};
use arvo_runtime::rules::ARVO_DATA_CONTENT_TYPE;
use serde_json::{Map, Value, json};

fn data() -> Map<String, Value> {
    let Value::Object(m) = json!({"message": "Hello, World!"}) else {
        unreachable!()
    };
    m
}

/// The spec's base input: source `test.producer`, type `cmd.saad.test`, subject `test.json`.
fn base() -> ArvoEventBuilder {
    ArvoEvent::builder()
        .source("test.producer")
        .event_type("cmd.saad.test")
        .subject("test.json")
        .data(data())
}

fn otel<'a>(e: &'a ArvoEvent, key: &str) -> OtelValue<'a> {
    e.otel_attributes()
        .into_iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
        .expect("attribute")
}

#[test]
fn should_create_an_event_with_to_defaulting_to_type() {
    let e = base().build().expect("valid");
    assert_eq!(e.to(), Some("cmd.saad.test"));
    assert_eq!(e.to(), Some(e.event_type()));
}

#[test]
fn should_create_an_event_with_a_non_arvo_datacontenttype() {
    let e = base()
        .to("worker")
        .datacontenttype("application/json")
        .build()
        .expect("valid");
    assert_eq!(e.datacontenttype(), "application/json");
}

#[test]
fn should_create_a_valid_arvo_event_with_minimal_required_fields() {
    let e = base().to("worker").build().expect("valid");
    assert_eq!(e.source(), "test.producer");
    assert_eq!(e.event_type(), "cmd.saad.test");
    assert_eq!(e.subject(), "test.json");
    assert_eq!(e.data(), &data());
    assert_eq!(e.datacontenttype(), ARVO_DATA_CONTENT_TYPE);
    assert_eq!(e.specversion(), "1.0");
    assert!(!e.id().is_empty());
    assert!(!e.time().is_empty());
}

#[test]
fn should_create_a_valid_arvo_event_with_custom_id_and_time() {
    let e = base()
        .to("worker")
        .id(EventIdInput::DeveloperManaged("custom-id".into()))
        .time("2023-05-01T12:00:00Z")
        .build()
        .expect("valid");
    assert_eq!(e.id(), "custom-id");
    assert_eq!(e.time(), "2023-05-01T12:00:00Z");
}

#[test]
fn should_create_a_valid_arvo_event_with_arvo_managed_id() {
    let e = base()
        .to("worker")
        .id(EventIdInput::ArvoManaged("custom-id".into()))
        .time("2023-05-01T12:00:00Z")
        .build()
        .expect("valid");
    let parsed = parse_arvo_event_id(e.id()).expect("no error");
    assert_eq!(parsed.value, "custom-id");
    assert_eq!(e.time(), "2023-05-01T12:00:00Z");
}

#[test]
fn should_create_a_valid_arvo_event_with_custom_extensions() {
    let e = base()
        .to("worker")
        .extension("customfield", "custom-value")
        .build()
        .expect("valid");
    assert_eq!(
        e.extensions().get("customfield"),
        Some(&ExtensionValue::from("custom-value"))
    );
}

#[test]
fn should_create_a_valid_arvo_event_with_arvo_extensions() {
    let e = base()
        .to("recipient")
        .accesscontrol("public")
        .redirectto("redirect-url")
        .executionunits(5.0)
        .build()
        .expect("valid");
    assert_eq!(e.to(), Some("recipient"));
    assert_eq!(e.accesscontrol(), Some("public"));
    assert_eq!(e.redirectto(), Some("redirect-url"));
    assert_eq!(e.executionunits(), Some(5.0));
}

#[test]
fn should_create_a_valid_arvo_event_with_opentelemetry_extensions() {
    let e = base()
        .to("worker")
        .traceparent("traceparent-value")
        .tracestate("tracestate-value")
        .build()
        .expect("valid");
    assert_eq!(e.traceparent(), Some("traceparent-value"));
    assert_eq!(e.tracestate(), Some("tracestate-value"));
}

#[test]
fn should_throw_an_error_for_invalid_data() {
    // JS passes `{invalidField: Symbol()}`; the Rust counterpart is a payload that does not
    // serialise to JSON.
    struct Symbol;
    impl serde::Serialize for Symbol {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("a Symbol cannot be serialised"))
        }
    }
    let mut payload = std::collections::BTreeMap::new();
    payload.insert("invalidField", Symbol);
    let err = base()
        .to("worker")
        .data_serialize(&payload)
        .build()
        .expect_err("refused");
    assert!(
        err.to_string()
            .contains("The Arvo data object must be a JSON serializable object"),
        "{err}"
    );
}

#[test]
fn should_create_valid_uris_and_handle_special_characters() {
    let e = base()
        .source("test source with spaces")
        .subject("test/subject")
        .to("recipient@example.com")
        .redirectto("https://example.com/redirect?param=value")
        .accesscontrol("userid=1234")
        .executionunits(100.0)
        .build()
        .expect("valid");
    assert_eq!(e.source(), "test%20source%20with%20spaces");
    assert_eq!(e.subject(), "test/subject");
    assert_eq!(e.to(), Some("recipient@example.com"));
    assert_eq!(
        e.redirectto(),
        Some("https://example.com/redirect?param=value")
    );
    assert_eq!(e.accesscontrol(), Some("userid=1234"));
    assert_eq!(e.executionunits(), Some(100.0));
    assert_eq!(
        e.cloudevent().to_json_value()["extensions"]["executionunits"],
        json!(100)
    );
}

#[test]
fn should_create_an_event_with_parentid() {
    let e = base()
        .to("worker")
        .parentid("parent-event-123")
        .build()
        .expect("valid");
    assert_eq!(e.parentid(), Some("parent-event-123"));
}

#[test]
fn should_encode_parentid_with_special_characters() {
    let e = base()
        .to("worker")
        .parentid("parent event with spaces")
        .build()
        .expect("valid");
    assert_eq!(e.parentid(), Some("parent%20event%20with%20spaces"));
}

#[test]
fn should_have_null_parentid_when_not_provided() {
    let e = base().to("worker").build().expect("valid");
    assert_eq!(e.parentid(), None);
    assert_eq!(e.to_json_value()["parentid"], Value::Null);
}

#[test]
fn should_include_parentid_in_cloudevent_extensions() {
    let e = base()
        .to("worker")
        .parentid("parent-event-456")
        .build()
        .expect("valid");
    assert_eq!(
        e.cloudevent().to_json_value()["extensions"]["parentid"],
        "parent-event-456"
    );
}

#[test]
fn should_include_parentid_and_domain_in_to_json() {
    let e = base()
        .to("worker")
        .parentid("parent-event-789")
        .domain("test")
        .build()
        .expect("valid");
    let j = e.to_json_value();
    assert_eq!(j["parentid"], "parent-event-789");
    assert_eq!(j["domain"], "test");
    assert_eq!(j["domain"].as_str(), e.domain());
}

#[test]
fn should_include_parentid_in_otel_attributes() {
    let e = base()
        .to("worker")
        .parentid("parent-event-otel")
        .build()
        .expect("valid");
    assert_eq!(
        otel(&e, "cloudevents.arvo.event_parentid"),
        OtelValue::Str("parent-event-otel")
    );
    assert_eq!(e.domain(), None);
    assert_eq!(
        otel(&e, "cloudevents.arvo.event_domain"),
        OtelValue::Str("N/A")
    );
}

#[test]
fn should_create_event_with_all_arvo_extensions_including_parentid_and_domain() {
    let e = base()
        .to("recipient")
        .accesscontrol("public")
        .redirectto("redirect-url")
        .executionunits(10.0)
        .parentid("parent-event-full")
        .domain("test.test")
        .build()
        .expect("valid");
    assert_eq!(e.to(), Some("recipient"));
    assert_eq!(e.accesscontrol(), Some("public"));
    assert_eq!(e.redirectto(), Some("redirect-url"));
    assert_eq!(e.executionunits(), Some(10.0));
    assert_eq!(e.parentid(), Some("parent-event-full"));
    assert_eq!(e.domain(), Some("test.test"));
    assert_eq!(
        otel(&e, "cloudevents.arvo.event_domain"),
        OtelValue::Str("test.test")
    );
}

#[test]
fn should_throw_on_invalid_domain() {
    let err = base()
        .to("worker")
        .domain("test.test.TEST")
        .build()
        .expect_err("refused");
    assert!(
        err.to_string()
            .contains("Domain must contain only lowercase letters, numbers, and dots"),
        "{err}"
    );
}

#[test]
fn should_throw_on_empty_domain() {
    let err = base().to("worker").domain("").build().expect_err("refused");
    let text = err.to_string();
    assert!(text.contains("Domain must be non-empty string"), "{text}");
    // zod reports both checks of the field.
    assert_eq!(err.issues().map(|i| i.as_slice().len()), Some(2));
}

// ---- Reading rules decided here (documented in `arvo_runtime::event`). ----

fn minimal_json() -> Value {
    json!({
        "id": "e1", "source": "s", "specversion": "1.0", "type": "a.b.c", "subject": "x",
        "data": {"k": 1}, "time": "2024-01-01T00:00:00Z", "to": "a.b.c"
    })
}

#[test]
fn v2_events_without_parentid_and_domain_are_read_as_null() {
    let e = ArvoEvent::from_json_str(&minimal_json().to_string()).expect("tolerated");
    assert_eq!(
        (e.parentid(), e.domain(), e.dataschema()),
        (None, None, None)
    );
    assert_eq!(e.datacontenttype(), ARVO_DATA_CONTENT_TYPE);
    // ... and always written.
    assert!(
        e.to_json_string()
            .ends_with(r#""parentid":null,"domain":null}"#)
    );
}

#[test]
fn unknown_extension_named_keys_become_custom_extensions() {
    let mut j = minimal_json();
    j["tenant"] = json!("acme");
    j["retrycount"] = json!(2);
    j["Bad-Key"] = json!("dropped");
    j["nested"] = json!({"dropped": true});
    let e = ArvoEvent::from_json_str(&j.to_string()).expect("valid");
    let keys: Vec<&str> = e.extensions().keys().collect();
    assert_eq!(keys, ["tenant", "retrycount"]);
    assert!(
        e.to_json_string()
            .contains(r#""time":"2024-01-01T00:00:00Z","tenant":"acme","retrycount":2,"to":"#)
    );
}

#[test]
fn reserved_extension_names_are_refused() {
    for key in ["id", "type", "data", "to", "domain", "traceparent"] {
        let err = ArvoEvent::builder()
            .event_type("a.b.c")
            .source("s")
            .subject("x")
            .data(Map::new())
            .extension(key, "hacked")
            .build()
            .expect_err(key);
        let issue = &err.issues().expect("issues").as_slice()[0];
        assert!(
            issue.message.contains("is reserved"),
            "{key}: {}",
            issue.message
        );
    }
    let mut ext = Extensions::new();
    ext.insert("id", "hacked");
    let parts = ArvoEventParts {
        id: "e".into(),
        time: "2024-01-01T00:00:00Z".into(),
        source: "s".into(),
        event_type: "a.b.c".into(),
        subject: "x".into(),
        to: Some("a.b.c".into()),
        extensions: ext,
        ..Default::default()
    };
    assert!(matches!(
        ArvoEvent::from_parts(parts),
        Err(EventError::Validation(_))
    ));
}

#[test]
fn non_finite_numbers_are_refused() {
    let b = || {
        ArvoEvent::builder()
            .event_type("a.b.c")
            .source("s")
            .subject("x")
            .data(Map::new())
    };
    let err = b()
        .executionunits(f64::INFINITY)
        .build()
        .expect_err("infinite");
    assert!(
        err.to_string()
            .contains("executionunits must be a finite number, received Infinity"),
        "{err}"
    );
    let err = b().executionunits(f64::NAN).build().expect_err("nan");
    assert!(
        err.to_string().contains("Expected number, received nan"),
        "{err}"
    );
    let err = b()
        .extension("n", f64::NEG_INFINITY)
        .build()
        .expect_err("infinite ext");
    assert!(err.to_string().contains("received -Infinity"), "{err}");
    // JSON has no way to write them: 1e400 is a JSON error.
    let mut j = minimal_json();
    j["executionunits"] = json!(1);
    let text = j
        .to_string()
        .replace(r#""executionunits":1"#, r#""executionunits":1e400"#);
    assert!(matches!(
        ArvoEvent::from_json_str(&text),
        Err(EventError::Json(_))
    ));
}

#[test]
fn wrong_json_types_are_reported_like_zod() {
    let mut j = minimal_json();
    j["id"] = json!(5);
    j["time"] = Value::Null;
    j.as_object_mut().expect("object").remove("subject");
    let err = ArvoEvent::from_json_str(&j.to_string()).expect_err("refused");
    let msgs: Vec<&str> = err
        .issues()
        .expect("issues")
        .as_slice()
        .iter()
        .map(|i| i.message.as_str())
        .collect();
    assert_eq!(
        msgs,
        [
            "Expected string, received number",
            "Expected string, received null",
            "Required"
        ]
    );
    let mut j = minimal_json();
    j["data"] = json!([1]);
    let err = ArvoEvent::from_json_str(&j.to_string()).expect_err("refused");
    assert!(err.to_string().contains("Expected object, received array"));
    assert!(matches!(
        ArvoEvent::from_json_str("[1]"),
        Err(EventError::Json(_))
    ));
    assert!(matches!(
        ArvoEvent::from_json_str("{"),
        Err(EventError::Json(_))
    ));
}

#[test]
fn missing_to_is_refused_only_with_the_arvo_content_type() {
    let mut j = minimal_json();
    j["to"] = Value::Null;
    assert!(matches!(
        ArvoEvent::from_json_str(&j.to_string()),
        Err(EventError::MissingTo)
    ));
    j["datacontenttype"] = json!("application/json");
    let e = ArvoEvent::from_json_str(&j.to_string()).expect("valid");
    assert_eq!(e.to(), None);
}

#[test]
fn duplicate_keys_keep_the_last_value_like_json_parse() {
    let text =
        minimal_json()
            .to_string()
            .replacen(r#""id":"e1""#, r#""id":"first","id":"second""#, 1);
    assert_eq!(
        ArvoEvent::from_json_str(&text).expect("valid").id(),
        "second"
    );
}

#[test]
fn into_parts_and_back_is_identity() {
    let e = base()
        .to("worker")
        .extension("tenant", "acme")
        .executionunits(1.5)
        .build()
        .expect("valid");
    let again = ArvoEvent::from_parts(e.clone().into_parts()).expect("valid");
    assert_eq!(again, e);
}
