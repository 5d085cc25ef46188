//! Property tests: any valid event survives serialise -> parse unchanged, byte for byte.

use arvo_runtime::event::{ArvoEvent, EventIdInput, ExtensionValue, JsFormatter};
use proptest::prelude::*;
use serde_json::{Map, Number, Value};

/// A number as it reads back from JavaScript's text for it (JavaScript has one number type, so
/// `5.0` prints as `5` and reads back as an integer; `7926327851375491072.0` prints as
/// `7926327851375491000`).
fn js_number(f: f64) -> Value {
    let v = Number::from_f64(f).map_or(Value::Null, Value::Number);
    let mut text = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut text, JsFormatter);
    serde::Serialize::serialize(&v, &mut ser).expect("serialises");
    serde_json::from_slice(&text).expect("reads back")
}

fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("finite", |f| f.is_finite()),
        -1e6f64..1e6,
        Just(1e21),
        Just(1e-7),
        Just(0.1 + 0.2),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-(1i64 << 53)..(1i64 << 53)).prop_map(Value::from),
        finite().prop_map(js_number),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[a-zA-Z$_]{1,6}", inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn ext_value() -> impl Strategy<Value = ExtensionValue> {
    prop_oneof![
        "\\PC{0,8}".prop_map(ExtensionValue::String),
        (-1e9f64..1e9).prop_map(ExtensionValue::Number),
        any::<bool>().prop_map(ExtensionValue::Bool),
        Just(ExtensionValue::Null),
    ]
}

prop_compose! {
    fn event()(
        event_type in "[a-z0-9]{1,5}(\\.[a-z0-9]{1,5}){2,3}",
        source in "\\PC{1,20}",
        subject in "\\PC{1,20}",
        to in proptest::option::of("\\PC{0,10}"),
        redirectto in proptest::option::of("\\PC{0,10}"),
        dataschema in proptest::option::of("\\PC{0,10}"),
        parentid in proptest::option::of("\\PC{0,10}"),
        accesscontrol in proptest::option::of("\\PC{1,10}"),
        domain in proptest::option::of("[a-z0-9.]{1,8}"),
        executionunits in proptest::option::of(finite()),
        id in proptest::option::of("\\PC{0,10}"),
        data in prop::collection::vec(("\\PC{0,6}", json_value()), 0..6),
        extensions in prop::collection::vec(("[a-z0-9]{1,6}", ext_value()), 0..3),
    ) -> Option<ArvoEvent> {
        let mut b = ArvoEvent::builder()
            .event_type(event_type)
            .source(source)
            .subject(subject)
            .to(to)
            .redirectto(redirectto)
            .dataschema(dataschema)
            .parentid(parentid)
            .accesscontrol(accesscontrol)
            .domain(domain)
            .executionunits(executionunits)
            .data(data.into_iter().collect());
        if let Some(id) = id {
            b = b.id(EventIdInput::DeveloperManaged(id));
        }
        for (k, v) in extensions {
            b = b.extension(k, v);
        }
        // Random extension names can hit a reserved name (`to`, `id`, ...): those are refused.
        b.build().ok()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn serialise_parse_round_trip(e in event()) {
        let Some(e) = e else { return Ok(()) };
        let text = e.to_json_string();
        let back = ArvoEvent::from_json_str(&text).map_err(|err| TestCaseError::fail(format!("{err}\n{text}")))?;
        // executionunits and extension numbers are f64 in both; data numbers are canonical.
        prop_assert_eq!(&back, &e);
        prop_assert_eq!(back.to_json_string(), text);
    }

    #[test]
    fn parser_never_panics(s in "\\PC{0,200}") {
        let _ = ArvoEvent::from_json_str(&s);
    }
}

/// The event's JSON through serde (the `Serialize` impl with [`JsFormatter`]).
fn serde_json_of(e: &ArvoEvent) -> Vec<u8> {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, JsFormatter);
    serde::Serialize::serialize(e, &mut ser).expect("serialises");
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// `write_json`'s direct writer gives exactly the bytes of the serde path, escapes
    /// (control characters, quotes, backslashes, non-ASCII) and long strings included.
    #[test]
    fn write_json_equals_serde(
        e in event(),
        id in "[\\x00-\\x7F\"\\\\é😀]{1,80}",
        accesscontrol in "[\\x00-\\x7F\"\\\\é]{1,80}",
        tracestate in "[ -~]{1,70}",
        ext in "[\\x00-\\x7F\"\\\\é]{0,40}",
        units in finite(),
    ) {
        let Some(e) = e else { return Ok(()) };
        let mut p = e.into_parts();
        p.id = id;
        p.accesscontrol = Some(accesscontrol);
        p.tracestate = Some(tracestate);
        p.executionunits = Some(units);
        p.extensions.insert("zextra", ExtensionValue::String(ext));
        p.extensions.insert("znum", ExtensionValue::Number(units));
        let Ok(e) = ArvoEvent::from_parts(p) else { return Ok(()) };
        let mut fast = Vec::new();
        e.write_json(&mut fast);
        let slow = serde_json_of(&e);
        prop_assert_eq!(String::from_utf8_lossy(&fast), String::from_utf8_lossy(&slow));
    }
}
