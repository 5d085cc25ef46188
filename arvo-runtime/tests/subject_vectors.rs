//! Every case of the reference's `orchestration_subjects.json`, one test each.
//!
//! # Deliberate differences from the reference (the one list)
//!
//! None of the vector cases differs. Where this crate decides otherwise on inputs the
//! vectors do not cover, [`deliberate_differences`] shows it:
//!
//! 1. **Non-JSON decoded text.** The reference embeds V8's `JSON.parse` message
//!    (`Unexpected token 'h', "hello" is not valid JSON`); that text cannot be reproduced
//!    faithfully, so the `Error -> ` line carries serde_json's message. The prefix and the
//!    `subject -> ` line are the reference's. Input that ends early (empty, truncated stream or
//!    truncated JSON) does give V8's `Unexpected end of JSON input`.
//! 2. **Size limits.** Subject strings longer than `MAX_SUBJECT_LEN` (96 KiB) and decoded text
//!    longer than `MAX_DECODED_LEN` (64 KiB) are refused (a decompression bomb otherwise);
//!    the reference has no limit.
//! 3. **JSON that JavaScript accepts but Rust cannot hold**, only possible in unknown keys:
//!    nesting deeper than 128 levels, lone UTF-16 surrogate escapes (`"\ud800"`) and numbers
//!    beyond `f64` (`1e400`, which JavaScript reads as `Infinity`) are refused with serde_json's
//!    message.

#![allow(clippy::unwrap_used)] // Tests unwrap: a failure is the point.

use arvo_runtime::codec;
use arvo_runtime::subject::{self, FromParent, Meta, NewSubject, SubjectContent, SubjectFault};
use serde_json::Value;

const FIXTURE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/orchestration_subjects.json"
));

fn fixture() -> Value {
    serde_json::from_str(FIXTURE).expect("fixture is JSON")
}

fn case(name: &str) -> Value {
    let f = fixture();
    let all = f["cases"]
        .as_array()
        .into_iter()
        .chain(f["invalid"].as_array())
        .flatten();
    all.into_iter()
        .find(|c| c["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no case {name}"))
}

fn opt_str(v: &Value) -> Option<&str> {
    v.as_str()
}

fn meta(v: &Value) -> Meta {
    serde_json::from_value(if v.is_null() {
        Value::Object(Default::default())
    } else {
        v.clone()
    })
    .expect("meta")
}

fn is_uuid_v4(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            14 => c == '4',
            19 => matches!(c, '8' | '9' | 'a' | 'b'),
            _ => c.is_ascii_hexdigit() && !c.is_ascii_uppercase(),
        })
}

/// Parses the vector's subject and compares with `parsed`; checks the inflated text and the
/// validity flag.
fn check_parse(c: &Value) {
    let s = c["subject"].as_str().expect("subject");
    assert_eq!(
        codec::decompress_str(s).unwrap(),
        c["inflatedJson"].as_str().unwrap()
    );
    let parsed = subject::parse(s).unwrap();
    assert_eq!(serde_json::to_value(&parsed).unwrap(), c["parsed"]);
    assert!(subject::is_valid(s));
    if let Some(v) = c["isValid"].as_bool() {
        assert!(v);
    }
}

/// A `create` case: the same string from the object as given, from the typed content when its
/// key order is the canonical one, and parsing back.
fn check_create(c: &Value) {
    let expected = c["subject"].as_str().unwrap();
    assert_eq!(
        subject::create_value(&c["input"]).unwrap(),
        expected,
        "create_value"
    );
    let typed: SubjectContent = serde_json::from_value(c["input"].clone()).unwrap();
    if typed.to_json() == c["inflatedJson"].as_str().unwrap() {
        assert_eq!(subject::create(&typed).unwrap(), expected, "create");
    } else {
        // Other key order: another string, same content.
        assert_ne!(subject::create(&typed).unwrap(), expected);
        assert_eq!(subject::parse(expected).unwrap(), typed);
    }
    check_parse(c);
}

/// A `new`/`from` case: parse our subject back and compare every non-random field; then
/// recreate the reference's own string from its content (its random id included).
fn check_random(c: &Value, made: &subject::Subject) {
    assert_eq!(
        c["random"],
        serde_json::json!(["subject", "parsed.execution.id"])
    );
    let back = subject::parse(made.as_str()).unwrap();
    assert_eq!(&back, made.content());
    assert!(is_uuid_v4(&back.execution.id), "{}", back.execution.id);
    let mut expected = c["parsed"].clone();
    expected["execution"]["id"] = Value::String(back.execution.id.clone());
    assert_eq!(serde_json::to_value(&back).unwrap(), expected);
    // The reference's string, from its content (new()/from() write keys in a fixed order).
    let theirs: SubjectContent = serde_json::from_value(c["parsed"].clone()).unwrap();
    assert_eq!(
        subject::create(&theirs).unwrap(),
        c["subject"].as_str().unwrap()
    );
    check_parse(c);
}

fn run(name: &str) {
    let c = case(name);
    let input = &c["input"];
    match c["call"].as_str() {
        None => check_create(&c),
        Some("ArvoOrchestrationSubject.new") => {
            let made = subject::new(NewSubject {
                orchestrator: input["orchestator"].as_str().unwrap(),
                version: opt_str(&input["version"]),
                initiator: input["initiator"].as_str().unwrap(),
                domain: opt_str(&input["domain"]),
                meta: meta(&input["meta"]),
            })
            .unwrap();
            check_random(&c, &made);
        }
        Some("ArvoOrchestrationSubject.from") => {
            let result = subject::from_parent(FromParent {
                orchestrator: input["orchestator"].as_str().unwrap(),
                version: opt_str(&input["version"]),
                subject: input["subject"].as_str().unwrap(),
                domain: opt_str(&input["domain"]),
                meta: meta(&input["meta"]),
            });
            match c["error"]["message"].as_str() {
                Some(msg) => assert_eq!(result.unwrap_err().to_string(), msg),
                None => check_random(&c, &result.unwrap()),
            }
        }
        Some("ArvoOrchestrationSubject.parse") => {
            let s = input.as_str().unwrap();
            assert_eq!(c["isValid"], false);
            assert!(!subject::is_valid(s));
            let e = subject::parse(s).unwrap_err();
            assert_eq!(e.to_string(), c["error"]["message"].as_str().unwrap());
        }
        Some("ArvoOrchestrationSubject.create") => {
            let e = subject::create_value(input).unwrap_err();
            assert_eq!(e.to_string(), c["error"]["message"].as_str().unwrap());
            // The typed path gives the same message.
            let typed: SubjectContent = serde_json::from_value(input.clone()).unwrap();
            assert_eq!(subject::create(&typed).unwrap_err(), e);
        }
        Some(other) => panic!("unknown call {other}"),
    }
}

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        $( #[test] fn $name() { run(stringify!($name)); } )*
        const NAMES: &[&str] = &[$(stringify!($name)),*];
    };
}

cases!(
    create_minimal,
    create_with_domain_and_meta,
    create_wildcard_version,
    create_same_content_other_key_order,
    create_non_ascii_meta,
    create_extra_field_is_kept_in_string,
    new_minimal,
    new_null_version_domain_meta,
    from_parent,
    from_parent_domain_null_still_inherits,
    from_parent_domain_override,
    parse_plain_text,
    parse_empty,
    parse_base64_json_not_deflated,
    parse_deflated_wrong_schema,
    parse_deflated_bad_initiator,
    create_bad_orchestrator_name,
    create_execution_id_with_semicolon,
    create_bad_version,
    create_bad_domain,
    from_invalid_parent,
);

#[test]
fn every_fixture_case_has_a_test() {
    let f = fixture();
    let all: Vec<&str> = f["cases"]
        .as_array()
        .into_iter()
        .chain(f["invalid"].as_array())
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(all.len(), 21);
    for n in &all {
        assert!(NAMES.contains(n), "{n} has no test");
    }
    assert_eq!(all.len(), NAMES.len());
}

#[test]
fn the_extra_field_is_kept() {
    let c = case("create_extra_field_is_kept_in_string");
    let parsed = subject::parse(c["subject"].as_str().unwrap()).unwrap();
    assert_eq!(
        parsed.extra.get("extra"),
        Some(&Value::String("kept".into()))
    );
}

/// The one list of deliberate differences (see the module docs), each shown.
#[test]
fn deliberate_differences() {
    // 1. Non-JSON text: serde_json's message after the reference's prefix.
    let s = codec::compress_str("hello");
    let e = subject::parse(&s).unwrap_err();
    assert!(matches!(e.cause(), SubjectFault::Json(_)));
    let msg = e.to_string();
    assert!(
        msg.starts_with("Error parsing orchestration subject string to the context.\nError -> "),
        "{msg}"
    );
    assert!(msg.ends_with(&format!("\nsubject -> {s}")), "{msg}");
    // ... but ending early is V8's text.
    let e = subject::parse(&codec::compress_str(r#"{"orchestrator":"#)).unwrap_err();
    assert_eq!(e.cause(), &SubjectFault::EndOfInput);
    assert!(
        e.to_string()
            .contains("\nError -> Unexpected end of JSON input\n")
    );

    // 2. Limits.
    let bomb = codec::compress_str(&format!(
        r#"{{"pad":"{}"}}"#,
        " ".repeat(codec::MAX_DECODED_LEN)
    ));
    assert_eq!(
        subject::parse(&bomb).unwrap_err().cause(),
        &SubjectFault::TooLarge
    );
    let long = "A".repeat(subject::MAX_SUBJECT_LEN + 1);
    assert_eq!(
        subject::parse(&long).unwrap_err().cause(),
        &SubjectFault::TooLong {
            len: subject::MAX_SUBJECT_LEN + 1
        }
    );

    // 3. JSON Rust cannot hold, in an unknown key.
    let base = r#"{"orchestrator":{"name":"a.b.c","version":"1.0.0"},"execution":{"id":"x","initiator":"a.b.c","domain":null},"meta":{}"#;
    for extra in [
        r#""x":1e400"#,
        r#""x":"\ud800""#,
        &format!(r#""x":{}1{}"#, "[".repeat(200), "]".repeat(200)),
    ] {
        let e = subject::parse(&codec::compress_str(&format!("{base},{extra}}}"))).unwrap_err();
        assert!(matches!(e.cause(), SubjectFault::Json(_)), "{extra}: {e}");
    }
    // Well within the limits, they are fine.
    assert!(subject::parse(&codec::compress_str(&format!(r#"{base},"x":[[1e300]]}}"#))).is_ok());
}
