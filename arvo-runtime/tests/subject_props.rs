//! Property tests: any valid content survives create -> parse; parse never panics.

#![allow(clippy::unwrap_used)] // Tests unwrap: a failure is the point.

use arvo_runtime::codec;
use arvo_runtime::subject::{self, Extra, Meta, SubjectContent};
use proptest::prelude::*;
use serde_json::Value;

fn event_type() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,6}(\\.[a-z0-9]{1,6}){2,4}"
}

fn version() -> impl Strategy<Value = String> {
    "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}"
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,8}".prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((".{0,6}", inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

prop_compose! {
    fn content()(
        name in event_type(),
        version in version(),
        id in "[^;]{1,24}",
        initiator in event_type(),
        domain in proptest::option::of("[a-z0-9.]{1,12}"),
        meta in prop::collection::vec((".{0,8}", ".{0,12}"), 0..5),
        extra in prop::collection::vec(("x[a-z0-9]{0,5}|[0-9]{1,3}", json_value()), 0..3),
    ) -> SubjectContent {
        let mut c = SubjectContent::new(name, version, id, initiator);
        c.execution.domain = domain;
        c.meta = meta.into_iter().collect::<Meta>();
        c.extra = extra.into_iter().collect::<Extra>();
        c
    }
}

/// What a JavaScript object holds after `JSON.parse`: numbers are f64.
fn as_javascript(mut c: SubjectContent) -> SubjectContent {
    let v = serde_json::to_value(&c.extra).unwrap();
    let text = serde_json::to_string(&v).unwrap();
    // Round-trip through the parser, which normalises numbers.
    let s = codec::compress_str(&format!(
        r#"{{"orchestrator":{{"name":"a.b.c","version":"1.0.0"}},"execution":{{"id":"x","initiator":"a.b.c","domain":null}},"meta":{{}},"e":{text}}}"#
    ));
    let parsed = subject::parse(&s).unwrap();
    if let Some(Value::Object(m)) = parsed.extra.get("e") {
        c.extra = m.clone();
    }
    c
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn create_then_parse_is_identity(c in content()) {
        let c = as_javascript(c);
        let s = subject::create(&c).unwrap();
        prop_assert!(arvo_runtime::rules::validate_uri(&s));
        let back = subject::parse(&s).unwrap();
        prop_assert_eq!(&back, &c);
        // The untyped path writes the same text.
        prop_assert_eq!(subject::create_value(&serde_json::to_value(&c).unwrap()).map(|s2| subject::parse(&s2).unwrap()).unwrap(), c);
    }

    #[test]
    fn parse_never_panics(s in ".{0,300}") {
        let _ = subject::parse(&s);
    }

    #[test]
    fn parse_never_panics_on_base64ish(s in "[A-Za-z0-9+/=_-]{0,300}") {
        let _ = subject::parse(&s);
    }

    #[test]
    fn parse_never_panics_on_compressed_junk(text in ".{0,200}") {
        let r = subject::parse(&codec::compress_str(&text));
        if let Ok(c) = r {
            prop_assert_eq!(subject::parse(&subject::create(&c).unwrap()).unwrap(), c);
        }
    }
}
