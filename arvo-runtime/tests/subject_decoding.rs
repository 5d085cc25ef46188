//! Spec §4.3: what decoding accepts and rejects, the byte-exact vectors, and zod's issue
//! order for content the vectors do not cover.

#![allow(clippy::unwrap_used)] // Tests unwrap: a failure is the point.

use std::io::Write;

use arvo_runtime::codec;
use arvo_runtime::subject::{self, Subject, SubjectContent, SubjectFault};
use serde_json::json;

const V1_JSON: &str = r#"{"orchestrator":{"name":"com.example.orchestrator","version":"1.0.0"},"execution":{"id":"123e4567-e89b-12d3-a456-426614174000","initiator":"com.example.initiator","domain":null},"meta":{}}"#;
const V1: &str = "eJxVjdsKwyAQRP9ln1U0sabN32x1oYKXYkwJiP9e2z6UPM7MYU6DXOyDtlqw5gJrg4SRYAWbo6AD4zOQOCEMXlQ2n9OAlJBCQmdAB9m9fssG3n2maSZ9MQun6+3O1eRmjiNzPRmjtFq0lHJ8+eSr/6lPyn/PwOWIfjynPYThilRxaHp/A7U/PNo=";
const V2_JSON: &str = r#"{"orchestrator":{"name":"arvo.orc.test.contract","version":"0.0.1"},"execution":{"id":"00000000-0000-4000-8000-000000000000","initiator":"com.test.test","domain":"external.review"},"meta":{"redirectto":"com.redirect.to"}}"#;
const V2: &str = "eJw1jUsKwzAMRO+idSpS6KLkNsYWVBBboKhuwPjulfPRYkAzw7wGovFDm2kwUVgalJAJFghaBT1D8xCjFG9Egwkq6cZSvDLjjE/oE9BO8WuH2YDTiK57HPIa8r7f+3yLCxufYIiST9YQz5LkwANDu5GWsKJSZfoNYCYLg6WUWCmayTVwG+hO739Nq0ax";

fn b64(bytes: &[u8]) -> String {
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

fn zlib(s: &str, level: u32) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(level));
    e.write_all(s.as_bytes()).unwrap();
    e.finish().unwrap()
}

#[test]
fn spec_vectors_both_ways() {
    for (json, s) in [(V1_JSON, V1), (V2_JSON, V2)] {
        let c: SubjectContent = serde_json::from_str(json).unwrap();
        assert_eq!(c.to_json(), json);
        assert_eq!(subject::create(&c).unwrap(), s);
        assert_eq!(subject::parse(s).unwrap(), c);
    }
}

#[test]
fn accepts_levels_gzip_base64url_and_missing_padding() {
    let expected: SubjectContent = serde_json::from_str(V2_JSON).unwrap();
    for level in [1, 9] {
        let s = b64(&zlib(V2_JSON, level));
        assert_ne!(s, V2, "level {level} gives other bytes");
        assert_eq!(subject::parse(&s).unwrap(), expected);
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(V2_JSON.as_bytes()).unwrap();
    assert_eq!(
        subject::parse(&b64(&gz.finish().unwrap())).unwrap(),
        expected
    );
    let url = V2.replace('+', "-").replace('/', "_");
    assert_ne!(url, V2);
    assert_eq!(subject::parse(&url).unwrap(), expected);
    let unpadded = V1.trim_end_matches('=');
    assert_ne!(unpadded, V1);
    assert_eq!(
        subject::parse(unpadded).unwrap(),
        subject::parse(V1).unwrap()
    );
}

#[test]
fn rejects_raw_deflate_garbage_and_wrong_content() {
    let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    raw.write_all(V2_JSON.as_bytes()).unwrap();
    let e = subject::parse(&b64(&raw.finish().unwrap())).unwrap_err();
    assert_eq!(e.cause(), &SubjectFault::Undecodable);
    assert_eq!(
        subject::parse("invalid_base64_string").unwrap_err().cause(),
        &SubjectFault::Undecodable
    );
    let e = subject::parse(&b64(&zlib(r#"{"invalid":"content"}"#, 6))).unwrap_err();
    let SubjectFault::Invalid(issues) = e.cause() else {
        panic!("{e}")
    };
    assert_eq!(issues.as_slice().len(), 3);
    assert!(issues.as_slice().iter().all(|i| i.message == "Required"));
}

#[test]
fn v2_subjects_without_domain_are_rejected() {
    let old = r#"{"orchestrator":{"name":"a.b.c","version":"1.0.0"},"execution":{"id":"x","initiator":"a.b.c"},"meta":{}}"#;
    let e = subject::parse(&codec::compress_str(old)).unwrap_err();
    assert!(
        e.to_string()
            .contains("\"path\": [\n\"execution\",\n\"domain\"\n],\n\"message\": \"Required\""),
        "{e}"
    );
}

/// zod's order and its several issues per field, compared as whole messages.
#[test]
fn issue_order_and_multiple_issues() {
    let v = json!({
        "orchestrator": {"name": "bad;name", "version": 1},
        "execution": {"id": "", "initiator": "x;y", "domain": ""},
        "meta": {"k": 1, "ok": "v", "n": null}
    });
    let issues = subject::validate_value(&v).unwrap_err();
    let got: Vec<(String, String)> = issues
        .as_slice()
        .iter()
        .map(|i| {
            (
                serde_json::to_string(&i.path.iter().map(|p| format!("{p:?}")).collect::<Vec<_>>())
                    .unwrap(),
                i.message.clone(),
            )
        })
        .collect();
    let want = [
        (
            "orchestrator.name",
            "Orchestrator name should be prefixed with a reverse-DNS name",
        ),
        (
            "orchestrator.name",
            "Orchestrator name must not contain semicolon",
        ),
        ("orchestrator.version", "Expected string, received number"),
        ("execution.id", "ID must be a non-empty string"),
        (
            "execution.initiator",
            "Orchestration initiator should be prefixed with a reverse-DNS name",
        ),
        (
            "execution.initiator",
            "Initiator must not contain semicolon",
        ),
        ("execution.domain", "The domain must be non-empty string"),
        (
            "execution.domain",
            "Domain must contain only lowercase letters, numbers, and dots",
        ),
        ("meta.k", "Expected string, received number"),
        ("meta.n", "Expected string, received null"),
    ];
    assert_eq!(got.len(), want.len(), "{issues}");
    for ((path, msg), (wp, wm)) in got.iter().zip(want) {
        let wp: Vec<String> = wp.split('.').map(|k| format!("Key({k:?})")).collect();
        assert_eq!(path, &serde_json::to_string(&wp).unwrap());
        assert_eq!(msg, wm);
    }
    // The parse path finds the same issues.
    let e = subject::parse(&codec::compress_str(&v.to_string())).unwrap_err();
    assert_eq!(e.cause(), &SubjectFault::Invalid(issues));
}

#[test]
fn wrong_top_level_types() {
    for (text, received) in [
        ("5", "number"),
        ("null", "null"),
        ("[]", "array"),
        (r#""s""#, "string"),
    ] {
        let e = subject::parse(&codec::compress_str(text)).unwrap_err();
        let SubjectFault::Invalid(issues) = e.cause() else {
            panic!("{e}")
        };
        assert_eq!(issues.as_slice().len(), 1);
        assert_eq!(
            issues.as_slice()[0].message,
            format!("Expected object, received {received}")
        );
        assert!(issues.as_slice()[0].path.is_empty());
    }
}

#[test]
fn repeated_keys_keep_the_last_value_like_json_parse() {
    let text = r#"{"orchestrator":5,"orchestrator":{"name":"a.b.c","version":"1.0.0","name":"d.e.f"},"execution":{"id":"x","initiator":"a.b.c","domain":null},"meta":{"k":"1","k":"2"}}"#;
    let c = subject::parse(&codec::compress_str(text)).unwrap();
    assert_eq!(c.orchestrator.name, "d.e.f");
    assert_eq!(c.meta.get("k").map(String::as_str), Some("2"));
}

#[test]
fn unknown_keys_are_kept_at_every_level() {
    let text = r#"{"orchestrator":{"name":"a.b.c","version":"1.0.0","o":1},"execution":{"id":"x","initiator":"a.b.c","domain":null,"e":[true]},"meta":{},"t":{"n":null}}"#;
    let c = subject::parse(&codec::compress_str(text)).unwrap();
    assert_eq!(c.orchestrator.extra["o"], json!(1));
    assert_eq!(c.execution.extra["e"], json!([true]));
    assert_eq!(c.extra["t"], json!({"n": null}));
    // Written back in the same order, so the same string.
    assert_eq!(c.to_json(), text);
    assert_eq!(subject::create(&c).unwrap(), codec::compress_str(text));
}

#[test]
fn bom_and_bad_utf8_are_decoded_like_text_decoder() {
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(
        br#"{"orchestrator":{"name":"a.b.c","version":"1.0.0"},"execution":{"id":""#,
    );
    bytes.push(0xFF);
    bytes.extend_from_slice(br#"","initiator":"a.b.c","domain":null},"meta":{}}"#);
    let c = subject::parse(&b64(&{
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&bytes).unwrap();
        e.finish().unwrap()
    }))
    .unwrap();
    assert_eq!(c.execution.id, "\u{FFFD}");
}

#[test]
fn decompression_bomb_is_refused() {
    // 1 MiB of meta value compresses to about 1 KiB.
    let json = format!(
        r#"{{"orchestrator":{{"name":"a.b.c","version":"1.0.0"}},"execution":{{"id":"x","initiator":"a.b.c","domain":null}},"meta":{{"k":"{}"}}}}"#,
        "a".repeat(1 << 20)
    );
    let s = codec::compress_str(&json);
    assert!(s.len() < 4096);
    let e = subject::parse(&s).unwrap_err();
    assert_eq!(e.cause(), &SubjectFault::TooLarge);
    assert!(
        e.to_string()
            .contains("Error -> decoded subject exceeds 65536 bytes")
    );
    assert!(!subject::is_valid(&s));
}

#[test]
fn subject_carries_its_content() {
    let s = Subject::parse(V2).unwrap();
    assert_eq!(s.as_str(), V2);
    assert_eq!(s.content(), &subject::parse(V2).unwrap());
    let copy = s.clone();
    assert!(std::sync::Arc::ptr_eq(
        &copy.shared_content(),
        &s.shared_content()
    ));
    let child = subject::child_of(
        s.content(),
        "arvo.orc.child.flow",
        None,
        None,
        Default::default(),
    )
    .unwrap();
    assert_eq!(
        child.content().execution.initiator,
        "arvo.orc.test.contract"
    );
    assert_eq!(
        child.content().execution.domain.as_deref(),
        Some("external.review")
    );
    assert_eq!(subject::parse(child.as_str()).unwrap(), *child.content());
}

#[test]
fn create_error_message_shape() {
    let mut c: SubjectContent = serde_json::from_str(V2_JSON).unwrap();
    c.orchestrator.version = "x".into();
    let msg = subject::create(&c).unwrap_err().to_string();
    assert!(msg.ends_with("Context -> {\n\"orchestrator\": {\n\"name\": \"arvo.orc.test.contract\",\n\"version\": \"x\"\n},\n\"execution\": {\n\"id\": \"00000000-0000-4000-8000-000000000000\",\n\"initiator\": \"com.test.test\",\n\"domain\": \"external.review\"\n},\n\"meta\": {\n\"redirectto\": \"com.redirect.to\"\n}\n}"), "{msg}");
}
