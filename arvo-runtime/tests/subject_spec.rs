//! The reference's 13 subject tests (`tests/ArvoOrchestrationSubject/index.spec.ts`, spec §9.4),
//! one Rust test each.

#![allow(clippy::unwrap_used)] // Tests unwrap: a failure is the point.

use std::io::Write;

use arvo_runtime::subject::{
    self, FromParent, Meta, NewSubject, SubjectContent, SubjectError, SubjectFault,
};

/// The reference's fixture (spec §4.3, first vector).
fn fixture() -> SubjectContent {
    SubjectContent::new(
        "com.example.orchestrator",
        "1.0.0",
        "123e4567-e89b-12d3-a456-426614174000",
        "com.example.initiator",
    )
}

const FIXTURE_SUBJECT: &str = "eJxVjdsKwyAQRP9ln1U0sabN32x1oYKXYkwJiP9e2z6UPM7MYU6DXOyDtlqw5gJrg4SRYAWbo6AD4zOQOCEMXlQ2n9OAlJBCQmdAB9m9fssG3n2maSZ9MQun6+3O1eRmjiNzPRmjtFq0lHJ8+eSr/6lPyn/PwOWIfjynPYThilRxaHp/A7U/PNo=";

fn meta(pairs: &[(&str, &str)]) -> Meta {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, case-insensitive.
fn is_uuid_v4(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            14 => c == '4',
            19 => matches!(c.to_ascii_lowercase(), '8' | '9' | 'a' | 'b'),
            _ => c.is_ascii_hexdigit(),
        })
}

fn parent() -> String {
    subject::new(NewSubject {
        orchestrator: "com.parent.process",
        version: Some("1.0.0"),
        initiator: "com.system.init",
        meta: meta(&[("environment", "test"), ("parentKey", "parentValue")]),
        ..Default::default()
    })
    .unwrap()
    .into_string()
}

fn zlib_base64(s: &str) -> String {
    // The reference test builds this input with Node's zlib; any zlib stream will do.
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(s.as_bytes()).unwrap();
    let bytes = e.finish().unwrap();
    // Standard base64, written out to avoid another dependency.
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = c
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            out.push(if i <= c.len() {
                char::from(A[(n >> (18 - 6 * i) & 63) as usize])
            } else {
                '='
            });
        }
    }
    out
}

// 1
#[test]
fn new_creates_a_subject_that_parses_back() {
    let s = subject::new(NewSubject {
        orchestrator: "com.example.orchestrator",
        version: Some("1.0.0"),
        initiator: "com.example.initiator",
        meta: meta(&[("sessionId", "test-123-456")]),
        ..Default::default()
    })
    .unwrap();
    let p = subject::parse(s.as_str()).unwrap();
    assert_eq!(p.orchestrator.name, "com.example.orchestrator");
    assert_eq!(p.orchestrator.version, "1.0.0");
    assert_eq!(p.execution.initiator, "com.example.initiator");
    assert!(is_uuid_v4(&p.execution.id), "{}", p.execution.id);
    assert_eq!(
        p.meta.get("sessionId").map(String::as_str),
        Some("test-123-456")
    );
    assert_eq!(p.execution.domain, None);
}

// 2
#[test]
fn new_with_domain() {
    let s = subject::new(NewSubject {
        orchestrator: "com.example.orchestrator",
        version: Some("1.0.0"),
        initiator: "com.example.initiator",
        domain: Some("test.test"),
        meta: meta(&[("sessionId", "test-123-456")]),
    })
    .unwrap();
    assert_eq!(
        subject::parse(s.as_str())
            .unwrap()
            .execution
            .domain
            .as_deref(),
        Some("test.test")
    );
}

// 3
#[test]
fn new_rejects_an_invalid_orchestrator_name() {
    let e = subject::new(NewSubject {
        orchestrator: "invalid name",
        version: Some("1.0.0"),
        initiator: "com.example.initiator",
        ..Default::default()
    })
    .unwrap_err();
    assert!(matches!(
        e,
        SubjectError::Create {
            cause: SubjectFault::Invalid(_),
            ..
        }
    ));
    assert!(
        e.to_string()
            .starts_with("Error creating orchestration subject string from the provided context.")
    );
}

// 4
#[test]
fn create_gives_a_non_empty_string() {
    let s = subject::create(&fixture()).unwrap();
    assert!(!s.is_empty());
    assert_eq!(s, FIXTURE_SUBJECT);
}

// 5
#[test]
fn create_rejects_an_invalid_orchestrator_name() {
    let mut c = fixture();
    c.orchestrator.name = "invalid name".into();
    let e = subject::create(&c).unwrap_err();
    assert!(
        e.to_string()
            .contains("Orchestrator name should be prefixed with a reverse-DNS name")
    );
}

// 6
#[test]
fn parse_of_create_equals_the_content() {
    assert_eq!(
        subject::parse(&subject::create(&fixture()).unwrap()).unwrap(),
        fixture()
    );
}

// 7
#[test]
fn parse_rejects_invalid_base64() {
    let e = subject::parse("invalid_base64_string").unwrap_err();
    assert_eq!(e.cause(), &SubjectFault::Undecodable);
    assert_eq!(
        e.to_string(),
        "Error parsing orchestration subject string to the context.\nError -> undefined\nsubject -> invalid_base64_string"
    );
}

// 8
#[test]
fn parse_rejects_valid_zlib_of_invalid_content() {
    let e = subject::parse(&zlib_base64(r#"{"invalid":"content"}"#)).unwrap_err();
    let SubjectFault::Invalid(issues) = e.cause() else {
        panic!("{e}")
    };
    let paths: Vec<_> = issues
        .as_slice()
        .iter()
        .map(|i| (format!("{:?}", i.path), i.message.as_str()))
        .collect();
    assert_eq!(
        paths,
        [
            ("[Key(\"orchestrator\")]".to_owned(), "Required"),
            ("[Key(\"execution\")]".to_owned(), "Required"),
            ("[Key(\"meta\")]".to_owned(), "Required")
        ]
    );
}

// 9
#[test]
fn from_inherits_from_the_parent() {
    let child = subject::from_parent(FromParent {
        orchestrator: "com.child.process",
        version: Some("2.0.0"),
        subject: &parent(),
        ..Default::default()
    })
    .unwrap();
    let p = subject::parse(child.as_str()).unwrap();
    assert_eq!(p.orchestrator.name, "com.child.process");
    assert_eq!(p.orchestrator.version, "2.0.0");
    assert_eq!(p.execution.initiator, "com.parent.process");
    assert_eq!(
        p.meta,
        meta(&[("environment", "test"), ("parentKey", "parentValue")])
    );
    assert!(is_uuid_v4(&p.execution.id));
    assert_ne!(
        p.execution.id,
        subject::parse(&parent()).unwrap().execution.id
    );
}

// 10
#[test]
fn from_merges_meta_child_wins() {
    let child = subject::from_parent(FromParent {
        orchestrator: "com.child.process",
        version: Some("2.0.0"),
        subject: &parent(),
        meta: meta(&[("childKey", "childValue"), ("environment", "production")]),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        subject::parse(child.as_str()).unwrap().meta,
        meta(&[
            ("childKey", "childValue"),
            ("environment", "production"),
            ("parentKey", "parentValue")
        ])
    );
}

// 11
#[test]
fn from_without_version_uses_the_wildcard() {
    let child = subject::from_parent(FromParent {
        orchestrator: "com.child.process",
        version: None,
        subject: &parent(),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        subject::parse(child.as_str()).unwrap().orchestrator.version,
        "0.0.0"
    );
}

// 12
#[test]
fn from_rejects_an_invalid_parent() {
    let e = subject::from_parent(FromParent {
        orchestrator: "com.child.process",
        version: Some("1.0.0"),
        subject: "invalid_parent_subject",
        ..Default::default()
    })
    .unwrap_err();
    assert!(matches!(e, SubjectError::Parse { .. }));
    assert!(
        e.to_string()
            .starts_with("Error parsing orchestration subject string to the context.")
    );
}

// 13
#[test]
fn from_rejects_an_invalid_child_name() {
    let e = subject::from_parent(FromParent {
        orchestrator: "invalid name with spaces",
        version: Some("1.0.0"),
        subject: &parent(),
        ..Default::default()
    })
    .unwrap_err();
    assert!(matches!(e, SubjectError::Create { .. }));
}
